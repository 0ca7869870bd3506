/*
 * apedge site console — body-worn cameras (loaded after app.js, whose helpers it uses:
 * h, $, sync, api, formMsg, val, report, can, S).
 *
 * The register comes in the stream's state as `bwc` (GET /api/v1/bwc): dock tiles
 * (online, slots occupied) and camera tiles keyed by serial (where it is, who has it
 * since when, battery, offload, faults, OVERDUE, and why it may not be issued), updated
 * in place. The Issue form (camera, member of staff from the roster) posts
 * /api/v1/bwc/issue; a refusal lists every reason as the API words it. A camera is
 * returned by docking it: there is no return here. The BWC alarms show in the alarm
 * list like any other.
 */
'use strict';

const BWC = { ov: null };

/** Takes the register from a state message or a fetch, and shows it. */
function setBWC(v) { BWC.ov = v; renderBWC(); }

/** Forgets what was shown (signed out). */
function clearBWC() {
  BWC.ov = null;
  for (const sel of ['#bwc-docks', '#bwc-cameras', '#bwc-refusal']) $(sel).replaceChildren();
  const f = $('#bwc-issue-form');
  f.reset(); formMsg(f, '');
  $('#bwc').hidden = true;
}

/** A camera's place in words. */
function bwcWhere(c, docks) {
  const dock = docks.find((d) => d.id === c.dock);
  const name = (dock && dock.name) || c.dock;
  if (c.location === 'docked') return `In ${name}, slot ${c.slot}`;
  if (c.location === 'out') return 'Out of its dock';
  return `State unknown: ${c.unknown || ''}`;
}

/** Who has a camera, in words. */
function bwcWho(c) {
  if (!c.issue) return c.eligible ? 'Ready to issue' : 'Not issued';
  const taken = c.issue.takenAt ? '' : ' (not yet taken from the dock)';
  return `Issued to ${c.staffName || c.issue.staff} since ${c.sinceLocal}${taken}`;
}

/** A camera's offload, in words. */
function bwcOffload(c) {
  if (c.location === 'out') return 'Recording: offload when docked';
  if (c.offload === 'running') return `Offloading ${c.offloadProgressPct != null ? c.offloadProgressPct + '%' : ''}`.trim();
  if (c.offload === 'failed') return `Offload FAILED${c.offloadDetail ? ': ' + c.offloadDetail : ''}`;
  if (c.needsOffload) return 'Footage to offload';
  if (c.offload === 'done') return 'Offload done';
  return 'Nothing to offload';
}

function renderBWC() {
  const ov = BWC.ov;
  $('#bwc').hidden = !ov;
  if (!ov) return;
  $('#bwc-issue-form').hidden = !can('bwc');
  const docks = ov.docks || [];
  sync($('#bwc-docks'), docks, 'dock', (d) => d.id,
    (d) => h('li', { class: 'bwc-dock', 'data-dock': d.id },
      h('span', { class: 'bwc-dock-name' }), ' ', h('span', { class: 'bwc-dock-online pill' }), ' ', h('span', { class: 'bwc-dock-slots muted' })),
    (el, d) => {
      el.querySelector('.bwc-dock-name').textContent = d.name || d.id;
      const online = el.querySelector('.bwc-dock-online');
      if (!d.reported) pill(online, 'warn', '? Not reported');
      else pill(online, d.online ? 'ok' : 'bad', d.online ? '✓ Online' : '✗ Offline');
      const slots = (d.status && d.status.slots) || [];
      el.querySelector('.bwc-dock-slots').textContent = d.online
        ? `${slots.filter((s) => s.occupied).length} of ${d.slots} slots occupied` : '';
    });
  const cams = ov.cameras || [];
  $('#bwc-cameras-empty').hidden = cams.length > 0;
  sync($('#bwc-cameras'), cams, 'camera', (c) => c.serial,
    (c) => h('li', { class: 'bwc-camera', 'data-camera': c.serial },
      h('strong', { class: 'bwc-serial' }, c.serial), ' ', h('span', { class: 'bwc-overdue pill', 'data-level': 'bad' }, 'OVERDUE'),
      h('div', { class: 'bwc-where' }), h('div', { class: 'bwc-who' }),
      h('div', { class: 'bwc-battery' }), h('div', { class: 'bwc-offload' }),
      h('div', { class: 'bwc-faults' }), h('div', { class: 'bwc-why muted' })),
    (el, c) => {
      el.dataset.location = c.location;
      el.dataset.overdue = c.overdue ? 'true' : 'false';
      el.querySelector('.bwc-overdue').hidden = !c.overdue;
      el.querySelector('.bwc-where').textContent = bwcWhere(c, docks);
      el.querySelector('.bwc-who').textContent = bwcWho(c);
      el.querySelector('.bwc-battery').textContent = c.location === 'out' ? '' : `Battery ${c.battery}%${c.charging ? ', charging' : ''}`;
      el.querySelector('.bwc-offload').textContent = bwcOffload(c);
      const faults = c.faults || [];
      el.querySelector('.bwc-faults').textContent = faults.length ? `Fault: ${faults.join(', ')}` : '';
      el.querySelector('.bwc-why').textContent = !c.issue && !c.eligible && (c.whyNot || []).length
        ? `Not ready: ${c.whyNot.join('; ')}` : '';
    });
  fillBWCForm(ov);
}

/** The Issue form's choices: every docked camera, every member of staff on the roster. */
function fillBWCForm(ov) {
  const f = $('#bwc-issue-form');
  const opts = (sel, items, text) => sync(sel, items, 'value', (x) => x.value,
    (x) => h('option', { value: x.value, 'data-value': x.value }), (el, x) => { el.textContent = text(x); });
  opts(f.elements.namedItem('camera'), (ov.cameras || []).filter((c) => c.location === 'docked')
    .map((c) => ({ value: c.serial, c })), (x) => `${x.c.serial} (slot ${x.c.slot}, ${x.c.battery}%)${x.c.eligible ? '' : ' — not ready'}`);
  opts(f.elements.namedItem('staff'), (ov.staff || []).map((p) => ({ value: p.id, p })), (x) => `${x.p.name} (${x.p.id})`);
}

async function onBWCIssue(e) {
  e.preventDefault();
  const f = e.currentTarget;
  const btn = f.querySelector('button[type=submit]');
  const body = { camera: val(f, 'camera'), staff: val(f, 'staff') };
  $('#bwc-refusal').replaceChildren();
  if (!body.camera || !body.staff) { formMsg(f, 'Choose a camera and a member of staff.', 'error'); return; }
  btn.disabled = true;
  formMsg(f, 'Issuing…');
  try {
    const c = await api('POST', '/bwc/issue', body);
    formMsg(f, `${c.serial} issued to ${c.staffName || c.issue.staff}: take it from ${c.issue.dock}, slot ${c.issue.slot}.`, 'ok');
  } catch (err) {
    const reasons = (err.status === 409 && err.data && Array.isArray(err.data.reasons)) ? err.data.reasons : [];
    formMsg(f, reasons.length ? `${body.camera} is not issued:` : err.message, 'error');
    $('#bwc-refusal').replaceChildren(...reasons.map((r) => h('li', {}, r)));
  } finally { btn.disabled = false; }
}

function bindBWC() {
  $('#bwc-issue-form').addEventListener('submit', onBWCIssue);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', bindBWC); else bindBWC();
