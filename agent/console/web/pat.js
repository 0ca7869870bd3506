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
 * Those staff also register an item (POST /api/v1/pat/items: its owner a resident
 * the page has, or the AP; a refusal, a prohibited category's among them, said in
 * the API's words) and key in a test from an item's row (POST
 * /api/v1/pat/items/{id}/tests): the row then says the register's answer, "flagged:
 * <reasons>" for a pass whose figures fail. Everyone may list a resident's items to
 * hand back on their departure (GET /api/v1/pat/handback/{crn}): those due to depart
 * come first in the list, and a departed resident is asked for by CRN.
 */
'use strict';

// ov: the register; testing: the label of the item whose test is being keyed in;
// handback: the CRN whose items to hand back are shown.
const PAT = { ov: null, testing: '', handback: '' };

/** Takes the register from a state message, and shows it. */
function setPAT(v) { PAT.ov = v; renderPAT(); }

/** Forgets what was shown (signed out). */
function clearPAT() {
  PAT.ov = null; PAT.testing = ''; PAT.handback = '';
  for (const sel of ['#pat-items tbody', '#pat-due', '#pat-import-lines', '#pat-labels tbody', '#pat-handback']) $(sel).replaceChildren();
  for (const sel of ['#pat-import-form', '#pat-register-form', '#pat-test-form', '#pat-handback-form']) {
    const f = $(sel);
    f.reset(); formMsg(f, '');
  }
  $('#pat-test-form').hidden = true;
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
  $('#pat-register-form').hidden = !change;
  if (!change || !(ov.items || []).some((it) => it.assetId === PAT.testing)) closePATTest();
  fillPATResidents();
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
    ui.test = h('button', { type: 'button', class: 'pat-test secondary', onclick: () => openPATTest(tr.dataset.asset) }, 'Record a test');
    ui.msg = h('p', { class: 'row-message', role: 'status' });
    ui.actions.append(ui.test, ui.authorise, ui.withdraw, ui.msg);
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
    ui.test.hidden = it.status === 'prohibited';
  });
  const due = ov.due || [];
  $('#pat-due-h').textContent = `Due for a retest within ${ov.dueWithinDays} days, or out of date (${due.length})`;
  $('#pat-due').replaceChildren(...(due.length ? due.map((it) => h('li', { 'data-asset': it.assetId, 'data-level': it.status === 'expired' ? 'bad' : 'warn' },
    `${it.assetId} ${it.description || ''} (${it.owner}): ${it.status === 'expired' ? 'PAT out of date' : 'retest due ' + it.retestDue}`))
    : [h('li', { class: 'empty' }, 'Nothing due')]));
}

/** The residents, by name, as the register form's owners and the hand-back list's choices (those due to depart first). */
function fillPATResidents() {
  const rs = [...S.residents].sort((a, b) => String(a.name || a.crn).localeCompare(String(b.name || b.crn)));
  setOptions($('#pat-register-form').elements.namedItem('ownerCrn'), [h('option', { value: '' }, 'the AP'),
    ...rs.map((r) => h('option', { value: r.crn }, personName(r)))]);
  const leaving = rs.filter((r) => r.expectedDeparture).sort((a, b) => String(a.expectedDeparture).localeCompare(String(b.expectedDeparture)));
  setOptions($('#pat-handback-form').elements.namedItem('crn'), [h('option', { value: '' }, 'Choose a resident…'),
    ...leaving.map((r) => h('option', { value: r.crn }, `${personName(r)}: due to depart ${r.expectedDeparture}`)),
    ...rs.filter((r) => !r.expectedDeparture).map((r) => h('option', { value: r.crn }, personName(r)))]);
  if (PAT.handback) soon('pat-handback', loadPATHandBack); // an item of theirs may have changed
}

/** Registers the item the form describes. */
async function onPATRegister(e) {
  e.preventDefault();
  const f = e.target;
  const body = { assetId: val(f, 'assetId'), ownerCrn: val(f, 'ownerCrn'), description: val(f, 'description'), category: val(f, 'category'),
    class: val(f, 'class') };
  formMsg(f, `Registering ${body.assetId}…`);
  try {
    const it = await api('POST', '/pat/items', body);
    formMsg(f, `${it.assetId} registered (${it.owner}): ${it.statusText}.`, it.status === 'prohibited' ? 'warn' : 'ok');
    f.reset();
  } catch (err) {
    if (err.status !== 401) formMsg(f, err.message, 'error');
  }
}

/** Opens the test form for item id, dated the site's time now. */
function openPATTest(id) {
  const f = $('#pat-test-form');
  if (PAT.testing !== id) {
    f.reset();
    f.elements.namedItem('testedAt').value = toLocalInput(new Date(Date.now() + siteOffset).toISOString());
  }
  PAT.testing = id;
  formMsg(f, '');
  $('#pat-test-h').textContent = `Record a test of ${id}`;
  f.hidden = false;
  f.scrollIntoView({ block: 'nearest' });
}

function closePATTest() {
  PAT.testing = '';
  $('#pat-test-form').hidden = true;
}

/** Why a test is flagged, or what failed, in words. */
const patFlagWords = (flags) => (flags || []).map((f) => `${f.check}: ${f.detail}`).join('; ');

/** Records the keyed-in test; the item's row then says the register's answer. */
async function onPATTest(e) {
  e.preventDefault();
  const f = e.target;
  const id = PAT.testing;
  const it = ((PAT.ov && PAT.ov.items) || []).find((x) => x.assetId === id);
  if (!it) { closePATTest(); return; }
  const body = { class: it.class, testedAt: fromLocalInput(val(f, 'testedAt')), visual: val(f, 'visual'), polarity: val(f, 'polarity'),
    result: val(f, 'result'), tester: val(f, 'tester') };
  for (const k of ['earthOhm', 'insulationMOhm', 'leakageMA']) if (val(f, k) !== '') body[k] = Number(val(f, k));
  for (const k of ['insulationV', 'retestMonths']) if (val(f, k) !== '') body[k] = parseInt(val(f, k), 10);
  for (const k of ['instrument', 'instrumentSerial']) if (val(f, k)) body[k] = val(f, k);
  formMsg(f, `Recording the test of ${id}…`);
  try {
    const v = await api('POST', `/pat/items/${encodeURIComponent(id)}/tests`, body);
    const said = v.flagged ? `flagged: ${patFlagWords(v.flags)}` : v.outcome === 'pass' ? 'pass' : `fail${v.flags.length ? ': ' + patFlagWords(v.flags) : ''}`;
    closePATTest();
    const tr = $(`#pat-items tr[data-asset="${CSS.escape(id)}"]`);
    if (tr) { tr.ui.msg.textContent = `Test recorded: ${said}. ${v.item.statusText}.`; tr.ui.msg.dataset.kind = v.outcome === 'pass' ? 'ok' : 'error'; }
  } catch (err) {
    if (err.status !== 401) formMsg(f, err.message, 'error');
  }
}

/** Shows the items to hand back of the resident chosen (or the CRN typed). */
function onPATHandBack(e) {
  e.preventDefault();
  const f = e.target;
  PAT.handback = (val(f, 'other') || val(f, 'crn')).toUpperCase();
  if (!PAT.handback) { formMsg(f, 'Choose a resident, or type a departed resident\'s CRN.', 'error'); $('#pat-handback').replaceChildren(); return; }
  loadPATHandBack();
}

async function loadPATHandBack() {
  const crn = PAT.handback;
  const f = $('#pat-handback-form');
  if (!crn) return;
  try {
    const v = await api('GET', `/pat/handback/${encodeURIComponent(crn)}`);
    if (PAT.handback !== crn) return; // another was asked for meanwhile
    const items = v.items || [];
    const who = (v.person && v.person.label) || v.crn;
    formMsg(f, items.length ? `${who}: ${items.length === 1 ? '1 item' : items.length + ' items'} to hand back on departure` :
      `${who}: no electrical item to hand back`, items.length ? 'warn' : 'ok');
    sync($('#pat-handback'), items, 'asset', (it) => it.assetId, (it) => h('li', { 'data-asset': it.assetId }), (li, it) => {
      li.dataset.level = PAT_LEVEL[it.status] || '';
      li.textContent = `${it.assetId} ${it.description || ''} (Class ${it.class}): ${it.statusText}`;
    });
  } catch (err) {
    if (PAT.handback === crn && err.status !== 401) { formMsg(f, err.message, 'error'); $('#pat-handback').replaceChildren(); }
  }
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
  $('#pat-register-form').addEventListener('submit', onPATRegister);
  $('#pat-test-form').addEventListener('submit', onPATTest);
  $('#pat-test-cancel').addEventListener('click', closePATTest);
  $('#pat-handback-form').addEventListener('submit', onPATHandBack);
  $('#pat-labels-open').addEventListener('click', openPATLabels);
  $('#pat-labels-print').addEventListener('click', () => window.print());
  $('#pat-labels-close').addEventListener('click', closePATLabels);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', bindPAT); else bindPAT();
