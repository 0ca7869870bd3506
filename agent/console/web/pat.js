/*
 * apedge site console — electrical items (PAT) (loaded after app.js, whose helpers it
 * uses: h, $, sync, api, watched, formMsg, report, can, S, ukTime).
 *
 * The register comes in the stream's state as `pat` (GET /api/v1/pat), for every user:
 * the items table (label, owner, description, class, status in words, retest due,
 * flagged and why), keyed by label and updated in place so that a withdrawal's reason
 * being typed survives a live update, filtered here by the search box (label, owner,
 * CRN or description) and the status; the items due within the configured window.
 * Staff with the pat permission get Authorise and Withdraw on each row and the import
 * form: the CSV file is posted as it is (text/csv) to /api/v1/pat/import, and a refused
 * file's bad lines are listed as the API words them. The label list (GET
 * /api/v1/pat/labels) opens as a printable page.
 */
'use strict';

const PAT = { ov: null };

/** Takes the register from a state message, and shows it. */
function setPAT(v) { PAT.ov = v; renderPAT(); }

/** Forgets what was shown (signed out). */
function clearPAT() {
  PAT.ov = null;
  for (const sel of ['#pat-items tbody', '#pat-due', '#pat-import-lines', '#pat-labels tbody']) $(sel).replaceChildren();
  const f = $('#pat-import-form');
  f.reset(); formMsg(f, '');
  closePATLabels();
  $('#pat').hidden = true;
  $('#pat-nav').hidden = true;
}

/** Whether item it matches the search form. */
function patMatches(it) {
  const f = $('#pat-search');
  const q = String(f.elements.namedItem('q').value || '').trim().toLowerCase();
  const st = f.elements.namedItem('status').value;
  if (st && it.status !== st) return false;
  if (!q) return true;
  return [it.assetId, it.owner, it.ownerCrn, it.description].some((s) => String(s || '').toLowerCase().includes(q));
}

/** Why an item is flagged, in words, or '—'. */
const patFlagged = (it) => (it.flagged ? `⚠ Flagged: ${(it.flags || []).map((f) => `${f.check}: ${f.detail}`).join('; ')}` : '—');

const PAT_LEVEL = { authorised: 'ok', 'awaiting-test': 'warn', 'awaiting-authorisation': 'warn', failed: 'bad', expired: 'bad',
  withdrawn: 'warn', prohibited: 'bad' };

function renderPAT() {
  const ov = PAT.ov;
  $('#pat').hidden = !ov;
  $('#pat-nav').hidden = !ov;
  if (!ov) return;
  const change = Boolean(ov.canChange);
  $('#pat-import-form').hidden = !change;
  const items = (ov.items || []).filter(patMatches);
  const body = $('#pat-items tbody');
  $('#pat-items-empty').hidden = items.length > 0;
  sync(body, items, 'asset', (it) => it.assetId, (it) => {
    const td = (cls) => h('td', { class: cls });
    const ui = { label: td('pat-label mono'), owner: td('pat-owner'), desc: td('pat-desc'), cls: td('pat-class'),
      status: td('pat-status'), due: td('pat-due'), flagged: td('pat-flagged'), actions: td('pat-actions') };
    const reason = h('input', { name: 'reason', 'aria-label': `Why withdraw ${it.assetId}`, placeholder: 'Reason', autocomplete: 'off' });
    ui.authorise = h('button', { type: 'button', class: 'pat-authorise', onclick: () => patAct(tr, 'authorise', {}) }, 'Authorise');
    ui.withdraw = h('form', { class: 'inline-form pat-withdraw', onsubmit: (e) => {
      e.preventDefault();
      patAct(tr, 'withdraw', { reason: reason.value.trim() });
    } }, reason, h('button', { type: 'submit', class: 'danger' }, 'Withdraw'));
    ui.msg = h('p', { class: 'row-message', role: 'status' });
    ui.actions.append(ui.authorise, ui.withdraw, ui.msg);
    const tr = h('tr', { 'data-asset': it.assetId }, ui.label, ui.owner, ui.desc, ui.cls, ui.status, ui.due, ui.flagged, ui.actions);
    tr.ui = ui;
    return tr;
  }, (tr, it) => {
    const { ui } = tr;
    tr.dataset.status = it.status;
    ui.label.textContent = it.assetId;
    ui.owner.textContent = it.owner;
    ui.desc.textContent = it.description || '—';
    ui.cls.textContent = `Class ${it.class}`;
    ui.status.dataset.level = PAT_LEVEL[it.status] || '';
    ui.status.textContent = it.statusText;
    ui.due.textContent = it.retestDue || '—';
    ui.flagged.dataset.level = it.flagged ? 'bad' : '';
    ui.flagged.textContent = patFlagged(it);
    ui.actions.hidden = !change;
    ui.authorise.hidden = it.status !== 'awaiting-authorisation' && it.status !== 'withdrawn';
    ui.withdraw.hidden = it.status === 'withdrawn' || it.status === 'prohibited';
  });
  const due = ov.due || [];
  $('#pat-due-h').textContent = `Due for a retest within ${ov.dueWithinDays} days, or out of date (${due.length})`;
  $('#pat-due').replaceChildren(...(due.length ? due.map((it) => h('li', { 'data-asset': it.assetId, 'data-level': it.status === 'expired' ? 'bad' : 'warn' },
    `${it.assetId} ${it.description || ''} (${it.owner}): ${it.status === 'expired' ? 'PAT out of date' : 'retest due ' + it.retestDue}`))
    : [h('li', { class: 'empty' }, 'Nothing due')]));
}

/** Authorises or withdraws the item of row tr, saying the answer in the row. */
async function patAct(tr, action, body) {
  const { ui } = tr;
  ui.msg.textContent = ''; ui.msg.dataset.kind = '';
  try {
    const it = await api('POST', `/pat/items/${encodeURIComponent(tr.dataset.asset)}/${action}`, body);
    ui.msg.textContent = `${it.assetId}: ${it.statusText}`; ui.msg.dataset.kind = 'ok';
    if (action === 'withdraw') ui.withdraw.reset();
  } catch (err) {
    if (err.status === 401) return;
    ui.msg.textContent = err.message; ui.msg.dataset.kind = 'error';
  }
}

/** Posts the chosen CSV file as it is; a refusal lists the bad lines in the API's words. */
async function onPATImport(e) {
  e.preventDefault();
  const f = e.target;
  const file = f.elements.namedItem('file').files[0];
  const lines = $('#pat-import-lines');
  lines.replaceChildren();
  if (!file) { formMsg(f, 'Choose the CSV file first.', 'error'); return; }
  formMsg(f, `Importing ${file.name}…`);
  const layout = f.elements.namedItem('layout').value;
  let res;
  try {
    res = await fetch(`${API}/pat/import${layout ? '?layout=' + encodeURIComponent(layout) : ''}`, { method: 'POST',
      credentials: 'same-origin', headers: { Accept: 'application/json', 'Content-Type': 'text/csv', 'X-CSRF-Token': S.csrf || '' }, body: file });
  } catch (err) { formMsg(f, `Cannot reach the site agent (${err.message})`, 'error'); return; }
  let data = null;
  try { data = JSON.parse(await res.text()); } catch (_) { data = null; }
  if (res.ok && data) data = watched(data, 'POST /pat/import'); // the contract recorder checks success answers
  if (res.status === 401) { signedOut('Your session has ended. Please sign in again.'); return; }
  if (res.ok && data) {
    formMsg(f, `${file.name} imported: ${data.records} records, ${data.tested} tests recorded, ${data.registered} items new, ` +
      `${data.skipped} recorded already.`, 'ok');
    f.reset();
    return;
  }
  if (res.status === 422 && data) {
    formMsg(f, `${file.name} refused: nothing was imported. Correct these lines and import it again:`, 'error');
    lines.replaceChildren(...(data.lines || []).map((l) => h('li', { 'data-line': l.line }, `Line ${l.line}: ${l.reason}`)),
      data.more ? h('li', {}, `and ${data.more} more bad lines`) : '');
    return;
  }
  formMsg(f, (data && data.error) || `${res.status} ${res.statusText}`, 'error');
}

/** Opens the label list as a printable page. */
async function openPATLabels() {
  try {
    const v = await api('GET', '/pat/labels');
    $('#pat-labels-when').textContent = `${v.site}: electrical items' PAT labels, ${ukTime(v.now)}`;
    $('#pat-labels tbody').replaceChildren(...(v.labels || []).map((l) => h('tr', { 'data-asset': l.assetId },
      h('td', { class: 'mono' }, l.assetId), h('td', {}, l.description || ''), h('td', {}, l.owner), h('td', {}, `Class ${l.class}`),
      h('td', {}, l.tested ? `${l.tested} by ${l.tester}` : 'not tested'), h('td', {}, l.retestDue || '—'), h('td', {}, l.statusText))));
    $('#pat-labels-page').hidden = false;
    document.body.classList.add('pat-labels-open');
    $('#pat-labels-page').scrollIntoView();
  } catch (err) { report(err); }
}

function closePATLabels() {
  $('#pat-labels-page').hidden = true;
  document.body.classList.remove('pat-labels-open');
}

function bindPAT() {
  $('#pat-nav').addEventListener('click', () => { $('#pat').scrollIntoView(); $('#pat-h').focus(); });
  $('#pat-search').addEventListener('input', () => renderPAT());
  $('#pat-search').addEventListener('submit', (e) => e.preventDefault());
  $('#pat-import-form').addEventListener('submit', onPATImport);
  $('#pat-labels-open').addEventListener('click', openPATLabels);
  $('#pat-labels-print').addEventListener('click', () => window.print());
  $('#pat-labels-close').addEventListener('click', closePATLabels);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', bindPAT); else bindPAT();
