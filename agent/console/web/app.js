/*
 * apedge site console — dashboard logic. Plain ES2020, no build step, no dependencies,
 * nothing fetched from outside the agent.
 *
 * Flow: GET /api/v1/session decides between the sign-in form and the console. Once signed
 * in, the page loads status/devices/residents/alarms/roll once, then follows the
 * server-sent event stream (/api/v1/stream): `state` messages replace status, doors,
 * cameras (devices.cameras), alarms, residents and, for staff who test, the substance
 * testing overview (substance), and for staff who enrol fingerprints, the biometrics
 * overview (biometrics: an enrolment's live step among it); `journal` messages are
 * prepended to the recent-events list, and one that is an alarm shows in the alarm list
 * at once (then the list is re-read).
 * Every state-changing request carries the in-memory CSRF token as X-CSRF-Token; a 401
 * anywhere returns to the sign-in form.
 *
 * Safety: all data reaches the DOM through textContent / createElement (helper h()),
 * never innerHTML. Lists that hold open forms (alarms, doors) are updated in place, keyed
 * by seq / door id, so a live update never wipes a note or reason being typed; so are the
 * tables whose rows have buttons (substance tests, biometrics terminals and residents).
 */
'use strict';

const API = '/api/v1';
const MAX_EVENTS = 50;
const TZ = 'Europe/London';
// Journal event types that raise an alarm; shown provisionally until the alarm list is re-read.
const ALARM_TYPES = new Set(['door.forced', 'door.held-open', 'door.tailgate', 'door.tampered',
  'door.alarm', 'reader.offline', 'reader.secure-channel-failed', 'curfew.absent',
  'curfew.breached', 'presence.inconsistent', 'agent.clock-unsynced',
  'delivery.ack-refused', 'device.refused', 'command.unordered', 'agent.disk-low', 'bridge.messages-lost',
  'camera.offline', 'camera.auth-failed', 'camera.stalled', 'camera.frozen', 'camera.degraded',
  'substance.reading-unbound', 'biometric.deletion-overdue', 'biometric.orphan-slot', 'biometric.verification-failed',
  'bwc.overdue', 'bwc.offload-failed', 'bwc.removed-unissued']);
// Each alarm type's title, as staff say it.
const ALARM_TITLE = {
  'door.forced': 'Door forced', 'door.held-open': 'Door held open', 'door.tailgate': 'Tailgating',
  'door.tampered': 'Reader tampered with', 'door.alarm': 'Door alarm', 'reader.offline': 'Reader offline',
  'reader.secure-channel-failed': 'Reader secure channel failed', 'curfew.breached': 'Curfew breached',
  'curfew.absent': 'Absent at curfew', 'presence.inconsistent': 'Presence inconsistent',
  'agent.clock-unsynced': 'Clock not synchronised', 'delivery.ack-refused': 'Central acknowledgement refused',
  'device.refused': 'Device message refused', 'command.unordered': 'Door command nobody gave',
  'agent.disk-low': 'Disk nearly full', 'bridge.messages-lost': 'Device messages lost',
  'camera.offline': 'Camera offline', 'camera.auth-failed': 'Camera refused its login', 'camera.stalled': 'Camera stalled',
  'camera.frozen': 'Camera picture frozen', 'camera.degraded': 'Camera degraded',
  'substance.reading-unbound': 'Substance reading matched no test',
  'biometric.deletion-overdue': 'Fingerprint deletion overdue', 'biometric.orphan-slot': 'Fingerprint template nobody holds',
  'biometric.verification-failed': 'Fingerprint check failed at the door',
  'bwc.overdue': 'Body-worn camera overdue', 'bwc.offload-failed': 'Body-worn camera footage not offloaded',
  'bwc.removed-unissued': 'Body-worn camera taken without issue',
};
// Priorities as the API names them: an icon and a word each, never colour alone.
const PRIORITY = { urgent: '⚠ URGENT', high: '⚠ HIGH', normal: '• NORMAL', low: '· LOW' };
// What each alarm type means, for alarms whose data carries no summary of its own.
const ALARM_TEXT = {
  'door.forced': 'Door opened while locked, with no exit request', 'door.held-open': 'Door held open past its limit',
  'door.tailgate': 'Door opened again on one unlock: a passage without a credential',
  'door.tampered': 'Reader tamper switch', 'door.alarm': 'Door alarm', 'reader.offline': 'Reader stopped answering',
  'reader.secure-channel-failed': 'Reader secure channel could not be opened', 'curfew.breached': 'Curfew breached',
  'curfew.absent': 'Absent at curfew', 'presence.inconsistent': 'Presence records inconsistent: check the resident',
  'agent.clock-unsynced': 'Site clock not synchronised',
  'delivery.ack-refused': 'Central\'s acknowledgement refused: delivery may be under attack',
  'device.refused': 'Device message refused: not from a configured device, or at an impossible time',
  'command.unordered': 'A device carried out a command the agent never gave',
  'agent.disk-low': 'The journal\'s disk is nearly full',
  'bridge.messages-lost': 'The bridge could not keep some device messages (disk full or failing)',
  'camera.offline': 'The camera cannot be reached: no picture from it',
  'camera.auth-failed': 'The camera refused the configured user and password: no picture from it',
  'camera.stalled': 'The camera answers but sends no picture',
  'camera.frozen': 'The camera\'s picture is frozen, black or covered',
  'camera.degraded': 'The camera\'s picture is poorer than its minimum (frame rate, bitrate, size or packet loss)',
  'bwc.overdue': 'A body-worn camera has been out longer than a shift: find who has it',
  'bwc.offload-failed': 'A dock could not offload a body-worn camera\'s footage: the camera is not issued until it does',
  'bwc.removed-unissued': 'A body-worn camera was taken from its dock with no issue recorded',
};
// Plain symbols every font has: a control-room PC may have no emoji font.
const DOOR_ICON = { locked: '■', unlocked: '□', open: '▯', forced: '⚠', 'held-open': '⚠' };
// A camera's verdict as the tile shows it, large: its level (colour), an icon and words.
const CAMERA_VERDICT = {
  online: ['ok', '✓ ONLINE'], offline: ['bad', '✗ OFFLINE'], 'auth-failed': ['bad', '✗ LOGIN REFUSED'],
  stalled: ['bad', '✗ STALLED'], degraded: ['warn', '⚠ DEGRADED'], frozen: ['warn', '⚠ FROZEN'], unknown: ['unknown', '? UNKNOWN'],
};
const CODEC = { h264: 'H.264', h265: 'H.265' };

// All client state. `gen` counts live updates, so a fetch that started before one is ignored.
const S = {
  user: null, csrf: null, es: null, opens: 0, gen: 0, alarmsLoaded: false, alarmsShown: false,
  status: null, doors: [], readers: [], cameras: [], bridge: null, residents: [], alarms: [], roll: null, journal: [],
  filter: { kind: '', door: '', person: '', since: '' }, seenSeq: 0, sound: true, tonight: null, residentCRN: '',
  lockdown: null,
  // Substance testing: the overview (no results in it), the tests this page has seen
  // (id → the test as listed, without results), those the stream has shown started,
  // and the action being taken on one.
  substance: null, subSeen: new Map(), subSeenAt: new Map(), subAction: null,
  // Biometrics: the overview (no template or image in it), the enrolment this page
  // started and follows ({id, en}), and the resident whose consent is being asked or
  // whose templates are to be deleted.
  biometrics: null, bioAt: 0, bioEnrol: null, bioConsent: null, bioDelete: null,
};

// ---------------------------------------------------------------- DOM helpers

const $ = (sel, root = document) => root.querySelector(sel);

/** h('div', {class: 'x', 'data-id': 1, onclick: fn}, child...) — text children become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** Sets a status pill's level (ok/warn/bad/info: colour) and text (which starts with an icon). */
function pill(el, level, text) { el.dataset.level = level; el.textContent = text; }

/** Shows a message under a form; kind '' | 'ok' | 'error' | 'warn'. */
function formMsg(form, text, kind = '') {
  const p = form.querySelector('.form-message, .row-message');
  p.textContent = text;
  p.dataset.kind = kind;
}

/** A named control's trimmed value in a form. */
const val = (form, name) => String(form.elements.namedItem(name).value || '').trim();

/**
 * Keyed update of container's children: reuses the element whose data-<key> matches,
 * creates missing ones, removes the rest and fixes the order, moving nothing needlessly.
 */
function sync(container, items, key, keyOf, create, update) {
  const old = new Map();
  for (const el of container.children) old.set(el.dataset[key], el);
  let prev = null;
  for (const item of items) {
    const k = String(keyOf(item));
    let el = old.get(k);
    if (el) old.delete(k); else el = create(item);
    if (update) update(el, item);
    const want = prev ? prev.nextSibling : container.firstChild;
    if (want !== el) container.insertBefore(el, want);
    prev = el;
  }
  for (const el of old.values()) el.remove();
}

// ---------------------------------------------------------------- formatting

function fmt(opts) {
  try { return new Intl.DateTimeFormat('en-GB', { timeZone: TZ, ...opts }); }
  catch (_) { return new Intl.DateTimeFormat('en-GB', opts); }
}
const fmtClock = fmt({ weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const fmtStamp = fmt({ year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  hourCycle: 'h23', timeZoneName: 'short' });

/** A time as the UK writes it, in Europe/London with its zone: "2 Dec 2026, 02:04 GMT". */
function ukTime(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return '';
  const p = Object.fromEntries(fmtStamp.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.day} ${p.month} ${p.year}, ${p.hour}:${p.minute} ${p.timeZoneName || ''}`.trim();
}

/** The UK local time of an object with occurredAt (or, failing that, occurredAtLocal). */
function localTime(o) { return ukTime(o.occurredAt) || o.occurredAtLocal || ''; }

/** Just the hours and minutes of a local "YYYY-MM-DD HH:MM" stamp. */
const hhmm = (local) => String(local || '').slice(11, 16);
const shortType = (t) => String(t || '').replace(/^approved-premises\./, '');
const yesNo = (b) => (b ? 'yes' : 'no');
/** Whether the signed-in user's role has permission p (the session's permissions). */
const can = (p) => !!(S.user && Array.isArray(S.user.permissions) && S.user.permissions.includes(p));

/** An event's or alarm's one-line summary: its own, one from its data, or its type's meaning. */
function summaryOf(ev) {
  if (ev.summary) return ev.summary;
  const d = ev.data || {};
  for (const k of ['summary', 'description', 'desc', 'reason']) if (typeof d[k] === 'string' && d[k]) return d[k];
  return ALARM_TEXT[shortType(ev.type)] || '';
}

function fmtWait(seconds) {
  const s = Math.max(0, Math.ceil(Number(seconds) || 0));
  return s >= 90 ? `${Math.ceil(s / 60)} minutes` : `${s} seconds`;
}

// ---------------------------------------------------------------- API

// Contract recorder, for diagnostics and the browser tests: with localStorage
// "apedge.contract" set to "1", every field the page reads from an API response or a
// stream message is recorded in window.apedgeReads ("GET /residents" → {"[].window.endLocal":
// true, ...}, in internal/openapi's CheckFields syntax), so that a test can check each against the OpenAPI document: a field the
// page reads that the API does not declare fails a test, not a night shift.
const CONTRACT = (() => { try { return localStorage.getItem('apedge.contract') === '1'; } catch (_) { return false; } })();
window.apedgeReads = {};
function watched(data, op) {
  if (!CONTRACT) return data;
  const reads = (window.apedgeReads[op] = window.apedgeReads[op] || {});
  const wrap = (v, path) => {
    if (v === null || typeof v !== 'object') return v;
    return new Proxy(v, {
      get(target, key, recv) {
        const got = Reflect.get(target, key, recv);
        if (typeof key === 'symbol' || key === 'then' || key === 'toJSON' || key === 'constructor') return got;
        if (Array.isArray(target)) return /^\d+$/.test(key) ? wrap(got, path + '[]') : got;
        if (typeof got === 'function') return got;
        const field = path ? `${path}.${key}` : key;
        reads[field] = true;
        return wrap(got, field);
      },
    });
  };
  return wrap(data, '');
}

class ApiError extends Error {
  constructor(status, message, data) { super(message); this.status = status; this.data = data; }
}

/** fetch wrapper: JSON in/out, CSRF header on writes, {error} → ApiError, 401 → sign-in. */
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const opts = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET' && S.csrf) headers['X-CSRF-Token'] = S.csrf;
  if (body !== undefined) { headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(API + path, opts); } catch (err) {
    throw new ApiError(0, `Cannot reach the site agent (${err.message})`);
  }
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
  if (!res.ok) {
    const msg = (data && data.error) || `${res.status} ${res.statusText || 'error'}`;
    if (res.status === 401 && S.user) signedOut('Your session has ended. Please sign in again.');
    throw new ApiError(res.status, msg, data);
  }
  return watched(data, `${method} ${path.replace(/\?.*$/, '')}`);
}

/** Shows an error in the banner (not 401s: those already went back to sign-in). */
function report(err) {
  if (err && err.status === 401) return;
  $('#banner-text').textContent = (err && err.message) || String(err);
  $('#banner').hidden = false;
}

const timers = {};
/** Runs fn once after ms, however often asked in between. */
function soon(name, fn, ms = 250) { clearTimeout(timers[name]); timers[name] = setTimeout(fn, ms); }

// ---------------------------------------------------------------- session

async function checkSession() {
  try { signedIn(await api('GET', '/session')); } catch (err) {
    showSignIn(err.status === 401 ? '' : err.message);
  }
}

function showSignIn(message) {
  $('#app').hidden = true;
  $('#signin').hidden = false;
  const f = $('#signin-form');
  formMsg(f, message || '', message ? 'error' : '');
  f.elements.namedItem('name').focus();
}

function signedIn(data) {
  S.user = data.user; S.csrf = data.csrf;
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#user').textContent = `${S.user.name} (${S.user.role})`;
  $('#actions').hidden = !can('register');
  renderAll();
  openStream();
  loadAll();
}

/** Forgets the session and everything shown, and returns to the sign-in form. */
function signedOut(message) {
  closeStream();
  Object.assign(S, { user: null, csrf: null, status: null, doors: [], readers: [], cameras: [], bridge: null,
    residents: [], alarms: [], roll: null, journal: [], alarmsLoaded: false, alarmsShown: false, seenSeq: 0,
    substance: null, subAction: null, biometrics: null, bioEnrol: null });
  S.subSeen.clear(); S.subSeenAt.clear();
  closeSubResult();
  closeBioConsent(); closeBioDelete(); showBioPrompt();
  if (typeof clearBWC === 'function') clearBWC(); // bwc.js
  if (typeof clearPAT === 'function') clearPAT(); // pat.js
  const enrol = $('#bio-enrol-form');
  enrol.reset(); delete enrol.dataset.filled; delete enrol.dataset.want; formMsg(enrol, '');
  $('#substance-action').hidden = true;
  const start = $('#substance-start-form');
  start.reset(); delete start.dataset.prefilled; formMsg(start, '');
  document.body.classList.remove('has-urgent');
  for (const sel of ['#alarm-list', '#door-list', '#camera-list', '#device-list', '#event-list', '#roll-body', '#resident-table tbody',
    '#substance-testers tbody', '#substance-open tbody', '#substance-lab', '#substance-unbound',
    '#bio-terminals tbody', '#bio-residents tbody', '#bio-pending', '#bio-orphans']) {
    $(sel).replaceChildren();
  }
  document.title = 'apedge site console';
  showSignIn(message);
}

async function onSignIn(e) {
  e.preventDefault();
  const f = e.currentTarget;
  const btn = f.querySelector('button[type=submit]');
  btn.disabled = true;
  formMsg(f, 'Signing in…');
  try {
    const data = await api('POST', '/session', { name: val(f, 'name'), password: f.elements.namedItem('password').value });
    f.elements.namedItem('password').value = '';
    formMsg(f, '');
    signedIn(data);
  } catch (err) {
    let msg = err.message;
    if (err.status === 429 && err.data && err.data.retryAfter) msg += ` — try again in ${fmtWait(err.data.retryAfter)}.`;
    formMsg(f, msg, 'error');
  } finally { btn.disabled = false; }
}

async function onSignOut() {
  try { await api('DELETE', '/session'); } catch (err) { if (err.status !== 401) report(err); }
  if (S.user) signedOut('Signed out.');
}

// ---------------------------------------------------------------- loading

/** Loads everything once (at start, on reconnect, after each staff action). */
async function loadAll() {
  if (!S.user) return;
  const gen = S.gen;
  const [status, devices, residents, alarms, roll, tonight, lockdown, substance, biometrics] = await Promise.allSettled(
    ['/status', '/devices', '/residents', '/alarms', '/curfew/roll', '/curfew/tonight', '/site/lockdown'].map((p) => api('GET', p))
      .concat(can('substance-test') ? api('GET', '/substance') : Promise.resolve(null),
        can('biometrics') ? api('GET', '/biometrics') : Promise.resolve(null)));
  if (!S.user) return;
  const fresh = gen === S.gen; // no live state arrived meanwhile: fetched state is current
  let failure = null;
  const ok = (r) => (r.status === 'fulfilled' ? true : ((failure = failure || r.reason), false));
  if (ok(status) && fresh) S.status = status.value;
  if (ok(devices)) {
    const d = devices.value || {};
    S.readers = d.readers || []; S.bridge = d.bridge || null;
    if (fresh && d.doors) S.doors = d.doors;
    if (fresh && d.cameras) S.cameras = d.cameras;
  }
  if (ok(residents) && fresh) S.residents = residents.value || [];
  if (ok(alarms) && fresh) { S.alarms = alarms.value || []; S.alarmsLoaded = true; }
  if (roll.status === 'fulfilled') S.roll = roll.value;
  else if (roll.reason.status === 404) S.roll = null;
  else ok(roll);
  if (ok(tonight)) S.tonight = tonight.value;
  if (ok(lockdown)) S.lockdown = lockdown.value;
  if (ok(substance) && fresh && substance.value) S.substance = substance.value;
  if (ok(biometrics) && fresh && biometrics.value) setBiometrics(biometrics.value);
  renderAll();
  if (failure) report(failure);
}

async function refreshAlarms() {
  const gen = S.gen;
  try {
    const a = await api('GET', '/alarms');
    if (S.user && gen === S.gen) { S.alarms = a || []; renderAlarms(); renderHeader(); }
  } catch (err) { report(err); }
}

async function refreshDevices() {
  try {
    const d = (await api('GET', '/devices')) || {};
    S.readers = d.readers || []; S.bridge = d.bridge || null;
    if (d.cameras) S.cameras = d.cameras;
    renderDoors(); renderCameras(); renderDevices(); renderHeader();
  } catch (err) { report(err); }
}

async function refreshRoll() {
  try { S.roll = await api('GET', '/curfew/roll'); } catch (err) {
    if (err.status !== 404) return report(err);
    S.roll = null;
  }
  try { S.tonight = await api('GET', '/curfew/tonight'); } catch (err) { report(err); }
  renderRoll();
}

// ---------------------------------------------------------------- live stream

function setLive(on) {
  pill($('#live'), on ? 'ok' : 'bad', on ? '● Live' : '◌ Reconnecting…');
  document.body.classList.toggle('stale', !on);
}

function openStream() {
  closeStream();
  pill($('#live'), 'warn', '◌ Connecting…');
  const es = new EventSource(API + '/stream');
  S.es = es;
  es.onopen = () => {
    setLive(true);
    if (S.opens++ > 0) loadAll(); // reconnected: catch up on what the stream does not carry
  };
  es.onerror = () => {
    setLive(false);
    if (es.readyState === EventSource.CLOSED && S.es === es) { S.es = null; soon('reconnect', reconnect, 3000); }
  };
  es.addEventListener('state', (e) => { const d = parse(e.data); if (d) applyState(watched(d, 'SSE state')); });
  es.addEventListener('journal', (e) => { const d = parse(e.data); if (d) applyJournal(watched(d, 'SSE journal')); });
}

function closeStream() {
  if (S.es) S.es.close();
  S.es = null; S.opens = 0;
  document.body.classList.remove('stale');
  clearTimeout(timers.reconnect);
}

/** The browser gave up on the stream (e.g. an HTTP error): check the session, then reopen. */
async function reconnect() {
  if (!S.user || S.es) return;
  try {
    const s = await api('GET', '/session');
    if (s && s.csrf) S.csrf = s.csrf;
    openStream();
    loadAll();
  } catch (err) {
    if (err.status !== 401) soon('reconnect', reconnect, 5000);
  }
}

function parse(text) {
  try { return JSON.parse(text); } catch (_) { return null; }
}

function applyState(d) {
  S.gen++;
  if (d.status) S.status = d.status;
  if (Array.isArray(d.doors)) S.doors = d.doors;
  if (d.devices && Array.isArray(d.devices.cameras)) S.cameras = d.devices.cameras;
  if (Array.isArray(d.alarms)) { S.alarms = d.alarms; S.alarmsLoaded = true; }
  if (Array.isArray(d.residents)) S.residents = d.residents;
  if (d.substance) S.substance = d.substance;
  if (d.biometrics) setBiometrics(d.biometrics);
  if (d.pat && typeof setPAT === 'function') setPAT(d.pat); // pat.js
  if (d.bwc && typeof setBWC === 'function') setBWC(d.bwc); // bwc.js
  renderAll();
}

function applyJournal(ev) {
  if (ev.seq == null || S.journal.some((j) => j.seq === ev.seq)) return;
  S.journal.unshift(ev);
  if (S.journal.length > MAX_EVENTS) S.journal.length = MAX_EVENTS;
  renderEvents();
  const t = shortType(ev.type);
  if (ALARM_TYPES.has(t) && !S.alarms.some((a) => a.seq === ev.seq)) {
    S.gen++; // a fetch already under way predates this alarm
    S.alarms = [{ seq: ev.seq, type: ev.type, occurredAt: ev.occurredAt, occurredAtLocal: ev.occurredAtLocal,
      subject: ev.subject, crn: ev.crn, data: ev.data, acknowledged: null }, ...S.alarms];
    renderAlarms(); renderHeader();
    refreshAlarms(); // the server's list is authoritative
  }
  if (t.startsWith('reader.') || t === 'door.tampered') soon('devices', refreshDevices);
  if (t === 'curfew.roll' || t.startsWith('curfew.') || t.startsWith('movement.')) soon('roll', refreshRoll, 500);
  if (t === 'alarm.acknowledged') soon('alarms', refreshAlarms); // by someone else, maybe
  if (t.startsWith('substance.')) S.gen++; // a fetch of the overview already under way predates this event
  if (t.startsWith('biometric.')) S.gen++; // the same for the biometrics overview
}

// ---------------------------------------------------------------- rendering

function renderAll() {
  renderHeader(); renderAlarms(); renderDoors(); renderCameras(); renderDevices(); renderResidents(); renderRoll(); renderEvents();
  renderSubstance(); renderBiometrics();
}

function renderHeader() {
  const st = S.status || {};
  if (st.now && st.now !== siteNow && !isNaN(new Date(st.now))) { // a fresh status
    siteNow = st.now;
    siteOffset = new Date(st.now).getTime() - Date.now();
    tick();
  }
  $('#site').textContent = st.site || '—';
  const b = (st.bridge && st.bridge.status) || (S.bridge && S.bridge.status) || 'unknown';
  pill($('#bridge'), b === 'online' ? 'ok' : b === 'offline' ? 'bad' : 'warn',
    `${b === 'online' ? '✓' : b === 'offline' ? '✗' : '?'} Bridge ${b}`);
  const c = st.central;
  if (c) {
    const backlog = Number(c.backlog) || 0;
    pill($('#central'), !c.connected ? 'bad' : backlog > 0 ? 'warn' : 'ok',
      `${c.connected ? '✓' : '✗'} Central ${c.connected ? 'connected' : 'offline'} · backlog ${backlog}`);
  }
  $('#clock-warning').hidden = !(st.clock && st.clock.synced === false);
  const n = openAlarms().length;
  $('#alarm-count').textContent = String(n);
  $('#alarms').classList.toggle('has-alarms', n > 0);
  document.title = `${n ? `(${n}) ⚠ ` : ''}${st.site ? st.site + ' — ' : ''}apedge site console`;
}

const openAlarms = () => S.alarms.filter((a) => !a.acknowledged);

/** A resident named for staff: "Resident One (room 5, X100001)". */
function personName(p) {
  if (!p) return '';
  const extra = [p.room ? `room ${p.room}` : '', p.crn].filter(Boolean).join(', ');
  return p.name ? `${p.name} (${extra})` : extra;
}

/** Where and who an alarm is about, in words. */
function alarmWhere(a) {
  const t = shortType(a.type);
  const who = a.person ? personName(a.person) : '';
  const cam = t.startsWith('camera.') && S.cameras.find((c) => c.id === a.subject);
  const where = a.subject ? (t.startsWith('door.') ? `${a.subject} door` : t.startsWith('reader.') ? `reader ${a.subject}`
    : t.startsWith('camera.') ? `camera ${cam && cam.name ? `${cam.name} (${a.subject})` : a.subject}` : a.subject) : '';
  return [who, where].filter(Boolean).join(' · ');
}

/** The open alarms that pass the filters, grouped by cause and place, most urgent first. */
function alarmGroups() {
  const f = S.filter;
  const sinceOk = (a) => {
    if (!f.since) return true;
    return hhmmOf(a) >= f.since; // today's alarms after that time, by the site's clock
  };
  const groups = new Map();
  for (const a of openAlarms()) {
    if (f.kind && shortType(a.type) !== f.kind) continue;
    if (f.door && a.subject !== f.door) continue;
    if (f.person && a.crn !== f.person) continue;
    if (!sinceOk(a)) continue;
    const key = a.group || `${a.type}|${a.seq}`;
    let g = groups.get(key);
    if (!g) { g = { key, alarms: [], priority: 9, priorityName: 'normal' }; groups.set(key, g); }
    g.alarms.push(a);
    const p = Number(a.priority) || 3;
    if (p < g.priority) { g.priority = p; g.priorityName = a.priorityName || 'normal'; }
  }
  const list = [...groups.values()];
  for (const g of list) { g.alarms.sort((x, y) => y.seq - x.seq); g.latest = g.alarms[0]; }
  list.sort((x, y) => x.priority - y.priority || y.latest.seq - x.latest.seq);
  return list;
}

/** An alarm's local time of day, "HH:MM", for the since filter. */
function hhmmOf(a) {
  const d = new Date(a.occurredAt);
  if (isNaN(d)) return '';
  const p = Object.fromEntries(fmtStamp.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.hour}:${p.minute}`;
}

function renderAlarms() {
  const list = $('#alarm-list');
  const groups = alarmGroups();
  const isNew = S.alarmsShown; // groups added after the first real list are highlighted as new
  sync(list, groups, 'group', (g) => g.key, (g) => alarmRow(g, isNew), updateAlarm);
  S.alarmsShown = S.alarmsLoaded;
  $('#alarms-empty').hidden = groups.length > 0;
  $('#alarms-empty').textContent = openAlarms().length ? 'No open alarm matches the filters' : '✓ No open alarms';
  renderFilters();
  alertUrgent();
}

/** Fills the filter lists from the open alarms, keeping what is chosen. */
function renderFilters() {
  const form = $('#alarm-filters');
  const open = openAlarms();
  const fill = (name, pairs) => {
    const sel = form.elements.namedItem(name);
    const keep = sel.value;
    const first = sel.options[0];
    const seen = new Map(pairs.filter(([k]) => k));
    sel.replaceChildren(first, ...[...seen].sort((a, b) => a[1].localeCompare(b[1])).map(([k, v]) => h('option', { value: k }, v)));
    sel.value = seen.has(keep) ? keep : '';
  };
  fill('kind', open.map((a) => [shortType(a.type), ALARM_TITLE[shortType(a.type)] || shortType(a.type)]));
  fill('door', open.filter((a) => shortType(a.type).startsWith('door.')).map((a) => [a.subject, `${a.subject} door`]));
  fill('person', open.filter((a) => a.crn).map((a) => [a.crn, personName(a.person || { crn: a.crn })]));
}

/** Sounds and shows an alert for urgent alarms new since the page last looked. */
function alertUrgent() {
  if (!S.alarmsLoaded) return;
  // Only alarms from the server's list count: one shown from the stream a moment before
  // has no priority yet.
  const open = openAlarms().filter((a) => a.priorityName);
  const max = open.reduce((m, a) => Math.max(m, a.seq), 0);
  const fresh = open.filter((a) => a.seq > S.seenSeq && a.priorityName === 'urgent');
  const first = S.seenSeq === 0;
  S.seenSeq = Math.max(S.seenSeq, max);
  document.body.classList.toggle('has-urgent', open.some((a) => a.priorityName === 'urgent'));
  if (first || !fresh.length || !S.sound) return;
  beep();
}

let audio = null;
/** Three short tones: the urgent alarm sound. */
function beep() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    for (let i = 0; i < 3; i++) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = 880;
      g.gain.value = 0.2;
      o.connect(g).connect(audio.destination);
      const t = audio.currentTime + i * 0.35;
      o.start(t); o.stop(t + 0.2);
    }
    window.apedgeBeeps = (window.apedgeBeeps || 0) + 1; // counted, for the browser test
  } catch (_) { /* no audio on this machine: the visible alert stands */ }
}

function setSound(on) {
  S.sound = on;
  try { sessionStorage.setItem('apedge.sound', on ? 'on' : 'off'); } catch (_) { /* private mode */ }
  const b = $('#sound-toggle');
  b.textContent = on ? 'Sound: on' : 'Sound: off';
  b.setAttribute('aria-pressed', String(on));
}

function alarmRow(g, isNew) {
  const note = h('input', { name: 'note', type: 'text', required: true, maxlength: 500, autocomplete: 'off',
    placeholder: 'Note (required)', 'aria-label': 'Acknowledgement note' });
  const confirm = h('button', { type: 'submit', class: 'ack-confirm' }, 'Confirm');
  const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => toggle(false) }, 'Cancel');
  const form = h('form', { class: 'ack-form inline-form', hidden: true }, note, confirm, cancel);
  const ack = can('alarms') ? h('button', { type: 'button', class: 'ack', onclick: () => toggle(true) }, 'Acknowledge') : null;
  const ui = { prio: h('span', { class: 'alarm-prio' }), type: h('span', { class: 'alarm-type' }),
    subject: h('span', { class: 'alarm-subject' }), count: h('span', { class: 'alarm-count' }),
    time: h('time', { class: 'alarm-time' }), summary: h('p', { class: 'alarm-summary' }),
    instructions: h('p', { class: 'alarm-instructions' }) };
  const li = h('li', { class: isNew ? 'alarm new' : 'alarm', 'data-group': g.key },
    h('div', { class: 'alarm-head' }, ui.prio, ui.type, ui.subject, ui.count, ui.time, ack),
    ui.summary, ui.instructions, form, h('p', { class: 'row-message', role: 'status' }));
  li.ui = ui;
  function toggle(show) {
    form.hidden = !show;
    if (ack) ack.hidden = show;
    formMsg(li, '');
    if (show) note.focus();
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = note.value.trim();
    if (!text) { formMsg(li, 'A note is required to acknowledge.', 'error'); note.focus(); return; }
    const seqs = li.group.alarms.map((a) => a.seq);
    confirm.disabled = true;
    try {
      await api('POST', '/alarms/ack', { seqs, note: text });
      S.alarms = S.alarms.filter((x) => !seqs.includes(x.seq));
      renderAlarms(); renderHeader();
      loadAll();
    } catch (err) {
      formMsg(li, err.message, 'error');
      if (err.status === 404 || err.status === 409) soon('alarms', refreshAlarms, 3000);
    } finally { confirm.disabled = false; }
  });
  return li;
}

function updateAlarm(li, g) {
  const ui = li.ui;
  const a = g.latest;
  const t = shortType(a.type);
  li.group = g;
  li.dataset.seq = String(a.seq);
  li.dataset.count = String(g.alarms.length);
  li.dataset.priority = g.priorityName;
  ui.prio.textContent = PRIORITY[g.priorityName] || PRIORITY.normal;
  ui.type.textContent = ALARM_TITLE[t] || t;
  ui.subject.textContent = alarmWhere(a);
  ui.count.textContent = g.alarms.length > 1 ? `× ${g.alarms.length}` : '';
  ui.time.textContent = g.alarms.length > 1 ? `latest ${localTime(a)}, first ${localTime(g.alarms[g.alarms.length - 1])}` : localTime(a);
  ui.time.setAttribute('datetime', a.occurredAt || '');
  ui.summary.textContent = a.sentence || summaryOf(a);
  ui.instructions.textContent = a.instructions ? `What to do: ${a.instructions}` : '';
  ui.instructions.hidden = !a.instructions;
}

function readersFor(d) {
  const ids = [d.entryReader, d.exitReader].filter(Boolean);
  return S.readers.filter((r) => ids.includes(r.id) || r.door === d.id);
}

function renderLockdown() {
  const l = S.lockdown;
  const st = $('#lockdown-state');
  const active = Boolean(l && l.active);
  st.hidden = !active;
  st.textContent = active ? `■ SITE IN LOCKDOWN${l.by ? ' by ' + l.by : ''}${l.reason ? ': “' + l.reason + '”' : ''}${l.until ? ', until ' + ukTime(l.until) : ''}. Entry refused at every door; exit still works.` +
    ((l.notLocked || []).length ? ` Not locked down: ${l.notLocked.join(', ')}.` : '') : '';
  document.body.classList.toggle('lockdown', active);
  const f = $('#lockdown-form');
  f.hidden = !can('lockdown');
  $('#lockdown-button').textContent = active ? 'Release the lockdown' : 'Lock the site down';
}

function renderDoors() {
  renderLockdown();
  const doors = [...S.doors].sort((a, b) => String(a.id).localeCompare(String(b.id), 'en', { numeric: true }));
  sync($('#door-list'), doors, 'door', (d) => d.id, doorTile, updateDoor);
}

function doorTile(d) {
  const reason = h('input', { name: 'reason', type: 'text', required: true, autocomplete: 'off',
    placeholder: 'Reason (required)', 'aria-label': `Reason to unlock ${d.id}` });
  const confirm = h('button', { type: 'submit', class: 'unlock-confirm' }, 'Confirm unlock');
  const form = h('form', { class: 'unlock-form inline-form', hidden: true }, reason, confirm,
    h('button', { type: 'button', class: 'secondary', onclick: () => toggle(false) }, 'Cancel'));
  const unlock = can('doors') ? h('button', { type: 'button', class: 'unlock', onclick: () => toggle(true) }, 'Unlock') : null;
  const holdForm = h('form', { class: 'hold-form inline-form', hidden: true },
    h('label', {}, 'Hold ', h('select', { name: 'mode', 'aria-label': `Hold ${d.id}` },
      h('option', { value: 'unlocked' }, 'unlocked'), h('option', { value: 'locked' }, 'locked (exit still works)'),
      h('option', { value: 'none' }, 'end the hold'))),
    h('label', {}, 'for ', h('input', { name: 'minutes', type: 'number', min: 1, max: 720, value: 60, 'aria-label': 'minutes' }), ' min'),
    h('input', { name: 'reason', type: 'text', autocomplete: 'off', placeholder: 'Reason (required)', 'aria-label': `Reason to hold ${d.id}` }),
    h('button', { type: 'submit', class: 'hold-confirm' }, 'Confirm hold'),
    h('button', { type: 'button', class: 'secondary', onclick: () => { holdForm.hidden = true; if (holdBtn) holdBtn.hidden = false; } }, 'Cancel'));
  const holdBtn = can('doors') ? h('button', { type: 'button', class: 'hold secondary',
    onclick: () => { holdForm.hidden = false; holdBtn.hidden = true; holdForm.elements.namedItem('reason').focus(); } }, 'Hold…') : null;
  holdForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const why = val(holdForm, 'reason');
    if (!why) { formMsg(tile, 'A reason is required.', 'error'); return; }
    const mode = val(holdForm, 'mode');
    const body = mode === 'none' ? { mode, reason: why } : { mode, minutes: Number(val(holdForm, 'minutes')) || 60, reason: why };
    try {
      const res = (await api('POST', `/doors/${encodeURIComponent(d.id)}/hold`, body)) || {};
      const okay = res.result === 'done';
      formMsg(tile, mode === 'none' ? `Hold ended${okay ? '' : ': ' + (res.result || '')}` :
        `Held ${mode}${res.until ? ' until ' + ukTime(res.until) : ''}${okay ? '' : ': ' + (res.result || '') + (res.detail ? ' ' + res.detail : '')}`, okay ? 'ok' : 'warn');
      holdForm.hidden = true; if (holdBtn) holdBtn.hidden = false;
      holdForm.elements.namedItem('reason').value = '';
      loadAll();
    } catch (err) { formMsg(tile, err.message, 'error'); }
  });
  const ui = {
    icon: h('span', { class: 'door-icon', 'aria-hidden': 'true' }),
    state: h('span', { class: 'door-state' }),
    alarm: h('div', { class: 'door-alarm' }),
    lock: h('div', { class: 'muted' }),
    readers: h('ul', { class: 'door-readers' }),
    hold: h('div', { class: 'door-hold' }),
  };
  const tile = h('div', { class: 'door tile', 'data-door': d.id },
    h('div', { class: 'tile-title' }, String(d.id)),
    h('div', { class: 'door-status' }, ui.icon, ui.state),
    ui.alarm, ui.hold, ui.lock, ui.readers, unlock, form, holdBtn, holdForm, h('p', { class: 'row-message', role: 'status' }));
  tile.ui = ui;
  function toggle(show) {
    form.hidden = !show;
    if (unlock) unlock.hidden = show;
    if (show) { formMsg(tile, ''); reason.focus(); }
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const why = reason.value.trim();
    if (!why) { formMsg(tile, 'A reason is required.', 'error'); return; }
    confirm.disabled = true;
    try {
      const res = (await api('POST', `/doors/${encodeURIComponent(d.id)}/unlock`, { reason: why })) || {};
      const okay = res.result === 'ok';
      formMsg(tile, `Unlock ${okay ? 'done' : res.result || 'sent'}${res.detail ? ': ' + res.detail : ''}`, okay ? 'ok' : 'warn');
      reason.value = '';
      toggle(false);
      loadAll();
    } catch (err) { formMsg(tile, err.message, 'error'); } finally { confirm.disabled = false; }
  });
  return tile;
}

function updateDoor(tile, d) {
  const ui = tile.ui;
  const state = d.state || 'unknown';
  const alarm = d.alarm || '';
  tile.dataset.state = state;
  tile.classList.toggle('is-alarm', Boolean(alarm) || state === 'forced' || state === 'held-open');
  ui.icon.textContent = DOOR_ICON[state] || '?';
  ui.state.textContent = state;
  ui.alarm.hidden = !alarm;
  ui.alarm.textContent = alarm ? `⚠ Alarm: ${alarm}` : '';
  ui.lock.textContent = d.lock ? `Lock ${d.lock}` : '';
  const held = { unlocked: '□ HELD UNLOCKED', locked: '■ HELD LOCKED (exit works)', lockdown: '■ LOCKDOWN (exit works)' }[d.hold];
  ui.hold.hidden = !held;
  ui.hold.textContent = held ? `${held}${d.holdUntil ? ' until ' + ukTime(d.holdUntil) : ''}${d.holdBy ? ' · ' + d.holdBy : ''}${d.holdReason ? ' · “' + d.holdReason + '”' : ''}` : '';
  tile.dataset.hold = d.hold || '';
  ui.readers.replaceChildren(...readersFor(d).map((r) => h('li', { 'data-level': r.online && r.secure ? 'ok' : r.online ? 'warn' : 'bad' },
    `${r.online ? '✓' : '✗'} ${r.id}${r.direction ? ' (' + r.direction + ')' : ''}: ${r.online ? 'online' : 'offline'}, ${r.secure ? 'secure' : 'not secure'}`)));
}

function renderDevices() {
  const st = S.status || {};
  const b = (st.bridge && st.bridge.status) || (S.bridge && S.bridge.status) || 'unknown';
  const since = (st.bridge && st.bridge.since) || (S.bridge && S.bridge.since) || '';
  const line = (level, text) => h('div', { 'data-level': level }, text);
  const tiles = [
    h('div', { class: 'tile', 'data-device': 'bridge' }, h('div', { class: 'tile-title' }, 'Firmware bridge'),
      line(b === 'online' ? 'ok' : 'bad', `${b === 'online' ? '✓' : '✗'} ${b}`),
      since ? h('div', { class: 'muted' }, `since ${localTime({ occurredAt: since })}`) : null),
  ];
  if (st.bus) {
    tiles.push(h('div', { class: 'tile', 'data-device': 'bus' }, h('div', { class: 'tile-title' }, 'Site bus'),
      line(st.bus.connected ? 'ok' : 'bad', st.bus.connected ? '✓ connected' : '✗ disconnected')));
  }
  for (const r of S.readers) {
    const chan = typeof r.secureChannel === 'string' ? r.secureChannel : yesNo(r.secureChannel);
    tiles.push(h('div', { class: 'tile', 'data-reader': r.id },
      h('div', { class: 'tile-title' }, `Reader ${r.id}`),
      h('div', { class: 'muted' }, [r.door, r.direction, r.interface].filter(Boolean).join(' · ')),
      line(r.online ? 'ok' : 'bad', r.online ? '✓ online' : '✗ offline'),
      line(r.secure ? 'ok' : 'warn', `${r.secure ? '✓' : '⚠'} secure channel: ${chan}`),
      line(r.tamper ? 'bad' : 'ok', r.tamper ? '⚠ TAMPER' : '✓ no tamper'),
      line(r.powerFault ? 'bad' : 'ok', r.powerFault ? '⚠ POWER FAULT' : '✓ power ok'),
      r.lastError ? line('warn', `Last error: ${r.lastError}`) : null));
  }
  $('#device-list').replaceChildren(...tiles);
}

// ---------------------------------------------------------------- cameras

/** A number as the tile shows it: at most one decimal. */
const num1 = (x) => String(Math.round(Number(x) * 10) / 10);

/** A camera's figures: "H.264 · 1280x720 · 25 fps · 2100 kbps · 0.2% loss"; '' before any. */
function cameraFigures(c) {
  const parts = [];
  if (c.codec) parts.push(CODEC[c.codec] || String(c.codec).toUpperCase());
  if (c.width && c.height) parts.push(`${c.width}x${c.height}`);
  if (c.fps) parts.push(`${num1(c.fps)} fps`);
  if (c.bitrateKbps) parts.push(`${Math.round(c.bitrateKbps)} kbps`);
  if (parts.length) parts.push(`${num1(c.lossPct || 0)}% loss`);
  return parts.join(' · ');
}

function renderCameras() {
  const cams = [...S.cameras].sort((a, b) => String(a.id).localeCompare(String(b.id), 'en', { numeric: true }));
  $('#cameras').hidden = cams.length === 0;
  const online = cams.filter((c) => c.verdict === 'online').length;
  $('#camera-count').textContent = `${online} of ${cams.length} online`;
  $('#cameras').classList.toggle('has-alarms', cams.some((c) => (CAMERA_VERDICT[c.verdict] || [])[0] === 'bad'));
  sync($('#camera-list'), cams, 'camera', (c) => c.id, cameraTile, updateCamera);
}

function cameraTile(c) {
  const ui = {
    title: h('div', { class: 'tile-title' }),
    verdict: h('div', { class: 'camera-verdict' }),
    since: h('div', { class: 'camera-since' }),
    reason: h('div', { class: 'camera-reason' }),
    seen: h('div', { class: 'camera-seen', 'data-level': 'warn' }),
    figures: h('div', { class: 'camera-figures' }),
    flapping: h('div', { class: 'camera-flapping', 'data-level': 'warn' }),
    img: h('img', { class: 'camera-thumb', alt: '', decoding: 'async' }),
    none: h('p', { class: 'camera-nopicture' }),
    taken: h('div', { class: 'camera-taken muted' }),
    judged: h('div', { class: 'camera-judged', 'data-level': 'warn' }),
  };
  ui.picture = h('div', { class: 'camera-picture' }, ui.img, ui.taken, ui.none, ui.judged);
  const tile = h('div', { class: 'camera tile', 'data-camera': c.id },
    ui.title, ui.verdict, ui.since, ui.reason, ui.seen, ui.figures, ui.flapping, ui.picture);
  tile.ui = ui;
  return tile;
}

function updateCamera(tile, c) {
  const ui = tile.ui;
  const v = c.verdict || 'unknown';
  const [level, words] = CAMERA_VERDICT[v] || CAMERA_VERDICT.unknown;
  tile.dataset.verdict = v;
  tile.dataset.tone = level;
  ui.title.replaceChildren(c.name || c.id, c.name ? h('span', { class: 'muted mono camera-id' }, ` ${c.id}`) : '');
  ui.verdict.dataset.level = level;
  ui.verdict.textContent = words;
  ui.since.textContent = v === 'unknown' ? 'not reported on yet' : c.since ? `since ${ukTime(c.since)}` : '';
  ui.reason.textContent = v !== 'online' && c.reason ? c.reason : '';
  ui.reason.hidden = !ui.reason.textContent;
  const seen = c.seen && c.seen !== v ? (CAMERA_VERDICT[c.seen] || [])[1] : '';
  ui.seen.textContent = seen ? `latest check: ${seen.replace(/^\S+ /, '').toLowerCase()} (not yet confirmed)` : '';
  ui.seen.hidden = !seen;
  ui.figures.textContent = cameraFigures(c);
  ui.figures.hidden = !ui.figures.textContent;
  const repeats = Number(c.repeats) || 0;
  ui.flapping.textContent = repeats > 0 ? `⚠ flapping: ${repeats} repeats` : '';
  ui.flapping.hidden = repeats === 0;
  const pic = c.picture || {};
  const has = Boolean(c.hasThumbnail);
  ui.img.hidden = !has;
  ui.none.hidden = has;
  ui.taken.hidden = !has;
  if (has) {
    const at = String(c.thumbnailAt || '');
    if (ui.img.dataset.at !== at || !ui.img.getAttribute('src')) { // a new picture: ask for it
      ui.img.dataset.at = at;
      ui.img.src = `${API}/cameras/${encodeURIComponent(c.id)}/thumbnail?at=${encodeURIComponent(at)}`;
    }
    ui.img.alt = `Latest picture from ${c.name || c.id}${at ? ', taken ' + ukTime(at) : ''}`;
    // A picture is never live: say when it was taken, and that it is old news when the
    // camera is not online.
    ui.taken.textContent = `${v === 'online' ? 'picture' : 'last picture'}${at ? ' taken ' + ukTime(at) : ''}`;
  } else {
    ui.img.removeAttribute('src');
    ui.img.dataset.at = '';
    ui.taken.textContent = '';
    ui.none.textContent = `no picture: ${pic.why || 'none yet'}`;
  }
  const odd = ['black', 'covered', 'frozen'].includes(pic.state);
  ui.judged.textContent = odd ? `⚠ picture ${pic.state}` : '';
  ui.judged.hidden = !odd;
  ui.picture.dataset.state = pic.state || 'none';
}

const PRESENCE = { in: ['ok', '● in'], out: ['info', '○ out'], unknown: ['warn', '? unknown'] };
// Where a curfew window comes from, in words.
const SOURCE = { 'ap-rule': 'AP rule', licence: 'licence' };

function renderResidents() {
  const rs = [...S.residents].sort((a, b) => String(a.room).localeCompare(String(b.room), 'en', { numeric: true })
    || String(a.name).localeCompare(String(b.name)));
  const counts = { in: 0, out: 0, unknown: 0 };
  for (const r of rs) counts[PRESENCE[r.presence] ? r.presence : 'unknown']++;
  const sc = (!rs.length && S.status && S.status.residents) || counts;
  for (const k of Object.keys(counts)) $(`#count-${k}`).textContent = String(sc[k] || 0);
  const cell = (level, text) => h('td', { 'data-level': level }, text);
  const tonightOf = new Map(((S.tonight && S.tonight.residents) || []).map((x) => [x.crn, x]));
  $('#resident-table tbody').replaceChildren(...(rs.length ? rs.map((r) => {
    const [level, text] = PRESENCE[r.presence] || PRESENCE.unknown;
    const w = r.window;
    const tn = tonightOf.get(r.crn); // tonight's windows, before they start
    const later = !w && tn && (tn.next || (tn.windows || [])[0]);
    return h('tr', { 'data-crn': r.crn, class: 'clickable', tabindex: 0, title: 'Open this resident\'s page',
      onclick: () => openResident(r.crn), onkeydown: (e) => { if (e.key === 'Enter') openResident(r.crn); } },
      h('td', {}, r.name || ''), h('td', { class: 'mono' }, r.crn), h('td', {}, r.room || ''),
      cell(level, r.presenceSince ? `${text} since ${ukTime(r.presenceSince)}` : text),
      cell(w ? 'info' : '', w ? `yes, ${hhmm(w.startLocal)}–${hhmm(w.endLocal)} (${SOURCE[w.source] || w.source})`
        : later ? `not yet: tonight ${later.times} (${later.sourceText || SOURCE[later.source] || later.source})` : 'no'),
      cell(r.absent ? 'bad' : '', r.absent ? '⚠ ABSENT' : '—'),
      cell(r.inconsistent ? 'warn' : '', r.inconsistent ? '⚠ presence inconsistent' : '—'));
  }) : [h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No residents on the roster'))]));
}

/** Curfew tonight: the next roll and curfew, who is in, out and unknown, absences. */
function renderTonight() {
  const body = $('#tonight-body');
  const t = S.tonight;
  if (!t) { body.replaceChildren(); return; }
  const c = t.counts || {};
  const lines = [
    h('p', { class: 'tonight-counts' },
      h('span', { 'data-level': 'ok' }, `● In ${c.in || 0}`), ' ',
      h('span', { 'data-level': 'info' }, `○ Out ${c.out || 0}`), ' ',
      h('span', { 'data-level': 'warn' }, `? Unknown ${c.unknown || 0}`)),
  ];
  if (t.nextRoll && t.nextRoll.at) lines.push(h('p', {}, `Next roll: ${ukTime(t.nextRoll.at)}`));
  const nc = t.nextCurfew;
  if (nc && nc.at) {
    const who = (nc.residents || []).map((p) => p.label || personName(p)).join(', ');
    lines.push(h('p', { class: 'next-curfew' }, `Next curfew starts ${ukTime(nc.at)}${who ? ': ' + who : ''}`));
  }
  const abs = t.absences || [];
  if (abs.length) {
    lines.push(h('h3', { 'data-level': 'bad' }, `⚠ Absent (${abs.length})`),
      h('ul', { class: 'absences' }, abs.map((a) => h('li', { 'data-crn': a.crn || '' }, a.sentence || a.label || a.crn))));
  }
  body.replaceChildren(...lines);
}

function renderRoll() {
  renderTonight();
  const body = $('#roll-body');
  const r = S.roll;
  if (!r) { body.replaceChildren(h('p', { class: 'empty' }, 'No roll taken yet.')); return; }
  const names = new Map(S.residents.map((x) => [x.crn, x.name]));
  const d = r.data || {}; // the curfew.roll event's information: who was in, out, unknown
  const col = (key, title, level) => {
    const crns = d[key] || [];
    return h('div', { class: 'roll-col' },
      h('h3', { 'data-level': level }, `${title} (${crns.length})`),
      h('ul', {}, crns.map((c) => h('li', { 'data-crn': c }, names.get(c) ? `${names.get(c)} (${c})` : c))));
  };
  body.replaceChildren(h('p', {}, `Last roll: ${localTime(r)}`),
    h('div', { class: 'roll-cols' }, col('in', '● In', 'ok'), col('out', '○ Out', 'bad'), col('unknown', '? Unknown', 'warn')));
}

function renderEvents() {
  $('#events-empty').hidden = S.journal.length > 0;
  const people = new Map(S.residents.map((r) => [r.crn, r]));
  $('#event-list').replaceChildren(...S.journal.map((ev) => {
    const t = shortType(ev.type);
    const alarm = ALARM_TYPES.has(t);
    const who = ev.crn ? personName(people.get(ev.crn) || { crn: ev.crn }) : '';
    return h('li', { class: alarm ? 'event is-alarm' : 'event', 'data-seq': ev.seq },
      h('time', { datetime: ev.occurredAt }, localTime(ev)),
      h('span', { class: 'event-type' }, `${alarm ? '⚠ ' : ''}${ev.sentence || ALARM_TITLE[t] || summaryOf(ev) || t}`),
      ev.sentence ? null : h('span', { class: 'muted' }, [who, ev.subject].filter(Boolean).join(' · ')));
  }));
}

// ---------------------------------------------------------------- fire roll

/** Takes a fire roll (journaled as taken) and shows it, printable on one A4 page. */
async function takeFireRoll() {
  const btn = $('#fire-roll-button');
  btn.disabled = true;
  try {
    const r = await api('POST', '/roll/fire', {});
    renderFireRoll(r);
  } catch (err) { report(err); } finally { btn.disabled = false; }
}

function renderFireRoll(r) {
  const sec = $('#fire-roll');
  const people = r.people || [];
  $('#fire-roll-when').textContent = `Taken ${ukTime(r.takenAt)} by ${r.takenBy || 'staff'}: ${people.length} believed in the building`;
  $('#fire-roll-table tbody').replaceChildren(...(people.length ? people.map((p) =>
    h('tr', { 'data-kind': p.kind || '', 'data-id': p.id || '' },
      h('td', {}, p.name || p.label || p.id || ''), h('td', {}, p.room || ''),
      h('td', {}, p.seen || (p.lastMovement ? `${p.lastMovement.age || ''} at ${p.lastMovement.doorName || p.lastMovement.door || ''}` : '—')),
      h('td', { 'data-level': p.certainty === 'high' ? 'ok' : p.certainty === 'low' ? 'warn' : '' }, p.certainty || ''),
      h('td', { class: 'tick' }, '☐'))) : [h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'Nobody is believed to be in the building'))]));
  const unknown = r.unknown || [];
  $('#fire-roll-unknown').replaceChildren(...(unknown.length ? [h('h3', { 'data-level': 'warn' }, `? Not known where (${unknown.length})`),
    h('ul', {}, unknown.map((p) => h('li', {}, p.label || p.name || p.id)))] : []));
  $('#fire-roll-basis').textContent = r.staffBasis || '';
  sec.hidden = false;
  document.body.classList.add('fire-roll-open');
  sec.scrollIntoView();
}

function closeFireRoll() {
  $('#fire-roll').hidden = true;
  document.body.classList.remove('fire-roll-open');
}

// ---------------------------------------------------------------- a resident's page

/** Shows one resident's history over a period (the site's last 7 days unless chosen). */
async function openResident(crn) {
  if (crn !== S.residentCRN) $('#resident-period').reset(); // a new resident: the API's default period
  S.residentCRN = crn;
  await loadResident();
}

const isoDate = (d) => {
  const p = Object.fromEntries(fmt({ year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
};

async function loadResident() {
  const crn = S.residentCRN;
  if (!crn) return;
  const f = $('#resident-period');
  const q = new URLSearchParams();
  if (val(f, 'from')) q.set('from', val(f, 'from') + ' 00:00');
  if (val(f, 'to')) q.set('to', val(f, 'to') + ' 23:59');
  const sec = $('#resident-page');
  try {
    const r = await api('GET', `/residents/${encodeURIComponent(crn)}/history?${q}`);
    const who = personName({ crn, name: r.name, room: r.room });
    $('#resident-h').textContent = who;
    const c = r.counts || {};
    $('#resident-counts').textContent = `${ukTime(r.from)} to ${ukTime(r.to)}: ` +
      Object.entries(c).map(([k, n]) => `${n} ${k}`).join(', ') + (r.truncated ? ' (more than shown: narrow the period)' : '');
    $('#resident-history').replaceChildren(...(r.events || []).map((e) =>
      h('li', { class: e.alarm ? 'event is-alarm' : 'event', 'data-seq': e.seq },
        h('time', { datetime: e.occurredAt || '' }, localTime(e)),
        h('span', {}, e.sentence || summaryOf(e)),
        e.acknowledged ? h('span', { class: 'muted' }, `acknowledged by ${e.acknowledged.by}: ${e.acknowledged.note}`) : null)));
    if (!val(f, 'from')) f.elements.namedItem('from').value = isoDate(new Date(r.from));
    if (!val(f, 'to')) f.elements.namedItem('to').value = isoDate(new Date(r.to));
    $('#resident-bundle').setAttribute('href', `${API}/residents/${encodeURIComponent(crn)}/bundle?${q}`);
    sec.hidden = false;
    sec.scrollIntoView();
  } catch (err) { report(err); }
}

// ---------------------------------------------------------------- substance testing

// Sample types in words, and the kind of tester each is taken on (none for a urine
// cup, which staff read).
const SAMPLE = { breath: 'breath (alcohol)', 'oral-fluid': 'oral fluid (drugs)', urine: 'urine cup (drugs)' };
const TESTER_KIND = { breath: 'breath-alcohol', 'oral-fluid': 'oral-fluid' };
const KIND_WORDS = { 'breath-alcohol': 'breath-alcohol meter', 'oral-fluid': 'oral-fluid analyser' };
// A test's state: its level, an icon and words.
const TEST_STATE = { 'awaiting-sample': ['warn', '◌ awaiting sample'], 'awaiting-confirmation': ['info', '… awaiting confirmation'],
  closed: ['', '■ closed'] };
// A result's outcome: its level, an icon and words.
const OUTCOME = {
  negative: ['ok', '✓ negative'], 'non-negative': ['bad', '⚠ non-negative'], invalid: ['bad', '⚠ invalid'],
  refused: ['bad', '✗ refused'], unable: ['warn', '✗ unable to give a sample'], confirmed: ['bad', '⚠ confirmed by the laboratory'],
  'not-confirmed': ['ok', '✓ not confirmed by the laboratory'], cancelled: ['', '■ cancelled'],
};
const PANEL_RESULT = { negative: ['ok', '✓ negative'], 'non-negative': ['bad', '⚠ non-negative'], invalid: ['bad', '⚠ invalid'] };
// The drug panels a urine cup may have (the API's UrineRequest).
const DRUG_PANELS = ['amphetamine', 'methamphetamine', 'mdma', 'cocaine', 'opiates', 'morphine', 'methadone', 'buprenorphine',
  'benzodiazepines', 'thc', 'synthetic-cannabinoids', 'pregabalin', 'gabapentin', 'ketamine', 'fentanyl'];
// A sample's chain of custody, in order, and each stage in words.
const CUSTODY = ['collected', 'sealed', 'dispatched', 'received'];
const STAGE_WORDS = { collected: 'collected for confirmation', sealed: 'sealed', dispatched: 'sent to the laboratory',
  received: 'received by the laboratory' };
const SUB_ACTION = { refusal: 'Refusal, or no sample given', urine: 'The urine cup\'s result', custody: 'Chain of custody', close: 'Close the test' };
const BOUND_BY = { 'test-id': 'by the test id keyed into the device', window: 'as the device\'s one test awaiting its sample', entered: 'entered by staff' };
// How many closed tests the table keeps showing.
const MAX_CLOSED_ROWS = 20;

const fmtWall = fmt({ year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const wallParts = (d) => Object.fromEntries(fmtWall.formatToParts(d).map((x) => [x.type, x.value]));

/** An instant as a datetime-local value in UK local time: "2026-06-10T12:00:00"; '' for none. */
function toLocalInput(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return '';
  const p = wallParts(d);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
}

/** A datetime-local value in UK local time as an instant ("2026-06-10T11:00:00Z"); '' if it is none. */
function fromLocalInput(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(v || '');
  if (!m) return '';
  const wall = Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  let t = wall;
  for (let i = 0; i < 2; i++) { // twice: the second settles a guess that crossed a change of the clocks
    const p = wallParts(new Date(t));
    t += wall - Date.UTC(+p.year, p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  }
  return new Date(t).toISOString().replace('.000Z', 'Z');
}

/** Replaces a select's options, keeping what is chosen, only when they changed (an open list stays open). */
function setOptions(sel, options) {
  const sig = options.map((o) => `${o.value}\u0001${o.textContent}`).join('\u0002');
  if (sel.dataset.sig === sig) return;
  const keep = sel.value;
  sel.replaceChildren(...options);
  sel.dataset.sig = sig;
  if (options.some((o) => o.value === keep)) sel.value = keep;
}

const testWho = (t) => (t.person && t.person.label) || t.crn || '';
const num = (x) => (x == null || x === '' ? '' : String(Math.round(Number(x) * 100) / 100));

/** The substance testing view, for staff who test (substance-test) only. */
function renderSubstance() {
  const show = can('substance-test');
  $('#substance').hidden = !show;
  $('#substance-nav').hidden = !show;
  const ov = S.substance;
  $('#substance-loading').hidden = Boolean(ov);
  if (!show || !ov) return;
  renderTesters(ov);
  fillStartForm(ov);
  renderSubTests(ov);
  renderSubAction();
  const lab = ov.awaitingLab || [];
  $('#substance-lab-empty').hidden = lab.length > 0;
  $('#substance-lab').replaceChildren(...lab.map((t) => h('li', { 'data-test': t.id, 'data-level': 'warn' },
    `⚠ ${t.id}, ${testWho(t)}: ${SAMPLE[t.sampleType] || t.sampleType}${t.seal ? ', seal ' + t.seal : ''}, sent ${ukTime(t.dispatchedAt)}, no result yet`)));
  const unbound = ov.unbound || [];
  $('#substance-unbound-empty').hidden = unbound.length > 0;
  $('#substance-unbound').replaceChildren(...unbound.map((u) => h('li', { 'data-device': u.device, 'data-level': 'warn' },
    `⚠ ${u.device} (serial ${u.serial}), its test no. ${u.testNumber} measured ${ukTime(u.measuredAt)}: ${u.why}; held, attached to no one, since ${ukTime(u.at)}`)));
}

function renderTesters(ov) {
  const today = isoDate(new Date(Date.now() + siteOffset)); // the site's day
  const testers = ov.testers || [];
  $('#substance-testers tbody').replaceChildren(...(testers.length ? testers.map((tr) => {
    const st = tr.status;
    const cal = st ? st.calibrationDue : '';
    const overdue = Boolean(cal) && cal < today;
    const check = st ? st.selfCheck : '';
    const err = st ? st.lastError : '';
    return h('tr', { 'data-tester': tr.id },
      h('td', { class: 'mono' }, tr.id), h('td', {}, KIND_WORDS[tr.kind] || tr.kind),
      h('td', { class: 'tester-online', 'data-level': !st ? 'warn' : st.online ? 'ok' : 'bad' },
        (!st ? '? not reported yet' : st.online ? '✓ online' : '✗ offline') + (err ? `: ${err}` : '')),
      h('td', { class: 'mono tester-serial' }, (st && st.serial) || '—'),
      h('td', { class: 'tester-calibration', 'data-level': overdue ? 'bad' : '' }, cal ? (overdue ? `⚠ ${cal}: OVERDUE` : cal) : '—'),
      h('td', { class: 'tester-selfcheck', 'data-level': check === 'pass' ? 'ok' : check ? 'bad' : '' },
        check === 'pass' ? '✓ pass' : check ? `⚠ ${check.toUpperCase()}` : '—'),
      h('td', { class: 'tester-busy' }, tr.busy ? `test ${tr.busy}` : '—'));
  }) : [h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No substance tester is configured'))]));
}

/** Fills the start form's lists, and its authorisation from the newest in force (once each). */
function fillStartForm(ov) {
  const f = $('#substance-start-form');
  const rs = [...S.residents].sort((a, b) => String(a.name || a.crn).localeCompare(String(b.name || b.crn)));
  setOptions(f.elements.namedItem('crn'), [h('option', { value: '' }, 'Choose a resident…'),
    ...rs.map((r) => h('option', { value: r.crn }, personName(r)))]);
  fillDevices(ov);
  const a = (ov.authorisations || [])[0];
  const fields = ['authRef', 'authManager', 'authFrom', 'authTo'];
  if (a && f.dataset.prefilled !== a.ref) {
    f.dataset.prefilled = a.ref;
    if (fields.every((k) => !val(f, k))) {
      const v = { authRef: a.ref, authManager: a.manager, authFrom: toLocalInput(a.from), authTo: toLocalInput(a.to) };
      for (const k of fields) f.elements.namedItem(k).value = v[k];
    }
  }
}

/** The start form's devices: the testers of the chosen sample's kind; none for a urine cup. */
function fillDevices(ov) {
  const f = $('#substance-start-form');
  const type = val(f, 'sampleType');
  const kind = TESTER_KIND[type];
  const sel = f.elements.namedItem('device');
  const testers = kind ? ((ov && ov.testers) || []).filter((t) => t.kind === kind) : [];
  const label = (t) => `${t.id}${!t.status ? ' (not reported yet)' : t.status.online ? '' : ' (offline)'}${t.busy ? ` (busy: test ${t.busy})` : ''}`;
  setOptions(sel, !kind ? [h('option', { value: '' }, 'none: staff read the cup')]
    : testers.length ? testers.map((t) => h('option', { value: t.id }, label(t)))
      : [h('option', { value: '' }, `no ${KIND_WORDS[kind]} configured`)]);
  sel.disabled = !kind;
  const drug = type !== 'breath';
  $('.auth-need', f).textContent = drug ? '— required for a drug test' : '— not needed for a breath test; if named, it must be in force';
  for (const k of ['authRef', 'authManager', 'authFrom', 'authTo']) f.elements.namedItem(k).setAttribute('aria-required', String(drug));
}

async function startSubTest(e) {
  e.preventDefault();
  const f = e.currentTarget;
  const type = val(f, 'sampleType');
  const body = { crn: val(f, 'crn'), reason: val(f, 'reason'), sampleType: type, device: TESTER_KIND[type] ? val(f, 'device') : '',
    witness: val(f, 'witness') };
  if (val(f, 'testId')) body.testId = val(f, 'testId');
  const a = { ref: val(f, 'authRef'), manager: val(f, 'authManager'), from: fromLocalInput(val(f, 'authFrom')), to: fromLocalInput(val(f, 'authTo')) };
  if (a.ref || a.manager || a.from || a.to) { // what is missing the agent names
    body.authorisation = Object.fromEntries(Object.entries(a).filter(([, v]) => v));
  }
  if (!body.crn) { formMsg(f, 'Choose the resident to test.', 'error'); return; }
  const btn = f.querySelector('button[type=submit]');
  btn.disabled = true;
  formMsg(f, 'Starting…');
  try {
    const t = await api('POST', '/substance/tests', body);
    rememberTest(t);
    formMsg(f, `Test ${t.id} started for ${testWho(t)}: awaiting its sample${t.device ? ' on ' + t.device : ''}`, 'ok');
    for (const k of ['witness', 'testId']) f.elements.namedItem(k).value = '';
    renderSubstance();
    refreshSubstance();
  } catch (err) {
    if (err.status !== 401) formMsg(f, err.message, 'error');
  } finally { btn.disabled = false; }
}

async function refreshSubstance() {
  if (!can('substance-test')) return;
  const gen = S.gen;
  try {
    const v = await api('GET', '/substance');
    if (S.user && gen === S.gen) { S.substance = v; renderSubstance(); }
  } catch (err) { report(err); }
}

// How far a test has gone: it only ever goes forward (its state, its custody, its sample).
const subProgress = (t) => ({ 'awaiting-sample': 0, 'awaiting-confirmation': 1, closed: 2 }[t.state] || 0) * 100
  + (t.custody || []).length * 10 + (t.sampled ? 1 : 0);

/**
 * Remembers test t as listed or as an action answered it, unless what is remembered has
 * gone further: a stream message sent before an action's answer may arrive after it.
 */
function rememberTest(t) {
  const old = S.subSeen.get(t.id);
  if (!old || subProgress(t) >= subProgress(old)) S.subSeen.set(t.id, t);
  S.subSeenAt.set(t.id, Date.now());
}

/**
 * The tests to list: the open ones (oldest first), then those closed in the last 12
 * hours (newest first), as the overview lists them: a reading that was invalid closes
 * its test, and its row stays, closed, with why. A test this page has just started or
 * changed that an older overview does not list yet stays for a moment, and a stale
 * overview never takes a test back to an earlier state.
 */
function subTestItems(ov) {
  const open = ov.open || [], recent = ov.recent || [];
  const listed = new Set();
  for (const t of [...open, ...recent]) { listed.add(t.id); rememberTest(t); }
  const now = Date.now();
  for (const id of [...S.subSeen.keys()]) {
    if (!listed.has(id) && now - (S.subSeenAt.get(id) || 0) > 60000) {
      S.subSeen.delete(id); S.subSeenAt.delete(id);
    }
  }
  const ms = (t) => new Date(t.startedAt).getTime() || 0;
  const items = [...S.subSeen.values()].map((t) => ({ t, results: Boolean(ov.canSeeResults), state: t.state }));
  const live = items.filter((x) => x.state !== 'closed').sort((a, b) => ms(a.t) - ms(b.t));
  const closed = items.filter((x) => x.state === 'closed').sort((a, b) => ms(b.t) - ms(a.t)).slice(0, MAX_CLOSED_ROWS);
  return [...live, ...closed];
}

function renderSubTests(ov) {
  const items = subTestItems(ov);
  $('#substance-open-empty').hidden = items.length > 0;
  $('#substance-open-count').textContent = `${items.filter((x) => x.state !== 'closed').length} open`;
  sync($('#substance-open tbody'), items, 'test', (x) => x.t.id, subTestRow, updateSubTest);
}

function subTestRow(x) {
  const id = x.t.id;
  const td = (cls) => h('td', { class: cls });
  const ui = { person: td('test-person'), sample: td('test-sample'), device: td('test-device mono'), state: td('test-state'),
    started: td('test-started'), witness: td('test-witness'), reading: td('test-reading') };
  const act = (kind, text, onclick) => h('button', { type: 'button', class: `secondary act-${kind}`, onclick }, text);
  ui.refusal = act('refusal', 'Refusal…', () => openSubAction('refusal', id));
  ui.urine = act('urine', 'Enter cup result…', () => openSubAction('urine', id));
  ui.custody = act('custody', 'Custody…', () => openSubAction('custody', id));
  ui.close = act('close', 'Close…', () => openSubAction('close', id));
  ui.result = h('button', { type: 'button', class: 'act-result', onclick: () => openSubResult(id) }, 'Open result');
  const tr = h('tr', { 'data-test': id }, h('td', { class: 'test-id mono' }, id), ui.person, ui.sample, ui.device, ui.state,
    ui.started, ui.witness, ui.reading, h('td', { class: 'test-actions' }, h('div', { class: 'row-actions' }, ui.urine, ui.refusal, ui.custody, ui.close, ui.result)));
  tr.ui = ui;
  return tr;
}

function updateSubTest(tr, x) {
  const { ui } = tr;
  const t = x.t;
  tr.dataset.state = x.state;
  ui.person.textContent = testWho(t);
  ui.sample.textContent = `${SAMPLE[t.sampleType] || t.sampleType}, ${t.reason}`;
  ui.device.textContent = t.device || '—';
  const [level, words] = TEST_STATE[x.state] || ['', x.state];
  ui.state.dataset.level = level;
  ui.state.textContent = words;
  ui.started.textContent = `${ukTime(t.startedAt)} by ${t.staff}`;
  ui.witness.textContent = t.witness || '—';
  // Whether the reading could be used, at once: an invalid one is tested again.
  const invalid = t.valid === false;
  tr.classList.toggle('is-invalid', invalid);
  ui.reading.dataset.level = invalid ? 'bad' : t.valid === true ? 'ok' : '';
  ui.reading.textContent = invalid ? `⚠ INVALID: ${(t.invalidReasons || []).join('; ') || 'no reason given'}`
    : t.valid === true ? '✓ valid'
      : x.state === 'awaiting-sample' ? (t.sampleType === 'urine' ? 'waiting for the cup\'s result' : 'waiting for the reading')
        : x.results ? 'see the result' : '—';
  ui.refusal.hidden = x.state !== 'awaiting-sample';
  ui.urine.hidden = !(x.state === 'awaiting-sample' && t.sampleType === 'urine');
  ui.custody.hidden = x.state !== 'awaiting-confirmation';
  ui.close.hidden = x.state === 'closed';
  ui.result.hidden = !x.results;
}

/** Opens the action panel for kind (refusal, urine, custody, close) on test id. */
function openSubAction(kind, id) {
  S.subAction = { kind, id };
  const box = $('#substance-action');
  for (const f of box.querySelectorAll('form')) { f.hidden = f.dataset.action !== kind; f.reset(); }
  formMsg(box, '');
  box.hidden = false;
  renderSubAction();
  box.scrollIntoView({ block: 'nearest' });
  const first = box.querySelector(`form[data-action="${kind}"] input:not([hidden]), form[data-action="${kind}"] select`);
  if (first) first.focus();
}

function closeSubAction() {
  S.subAction = null;
  $('#substance-action').hidden = true;
}

function renderSubAction() {
  const a = S.subAction;
  const box = $('#substance-action');
  if (!a) { box.hidden = true; return; }
  const t = S.subSeen.get(a.id);
  box.dataset.test = a.id;
  box.dataset.action = a.kind;
  $('#substance-action-h').textContent = `${SUB_ACTION[a.kind]}: test ${a.id}${t ? ', ' + testWho(t) : ''}`;
  if (a.kind !== 'custody' || !t) return;
  const f = $('#substance-custody-form');
  const custody = t.custody || [];
  f.querySelector('.custody-list').replaceChildren(...custody.map((c) => h('li', { 'data-stage': c.stage },
    `${STAGE_WORDS[c.stage] || c.stage}${c.seal ? ' (seal ' + c.seal + ')' : ''} by ${c.by}, ${ukTime(c.at)}`)));
  const done = new Set(custody.map((c) => c.stage));
  const next = CUSTODY.find((s) => !done.has(s));
  for (const el of f.querySelectorAll('[data-stage]')) if (el.tagName !== 'LI') el.hidden = el.dataset.stage !== next;
  f.querySelector('.custody-done').textContent = next ? `Next: ${STAGE_WORDS[next]}.`
    : 'Received by the laboratory: its result is entered under “Open result”.';
}

/** Sends an action on the open action panel's test; done(test) says what was recorded. */
async function subAction(kind, path, body, done) {
  const a = S.subAction;
  if (!a || a.kind !== kind) return;
  const box = $('#substance-action');
  formMsg(box, 'Sending…');
  try {
    const t = await api('POST', `/substance/tests/${encodeURIComponent(a.id)}/${path}`, body);
    rememberTest(t);
    if (kind !== 'custody') box.querySelector(`form[data-action="${kind}"]`).hidden = true;
    formMsg(box, done(t), 'ok');
    renderSubstance();
    refreshSubstance();
  } catch (err) { if (err.status !== 401) formMsg(box, err.message, 'error'); }
}

function bindSubstance() {
  $('#substance-nav').addEventListener('click', () => { $('#substance').scrollIntoView(); $('#substance-h').focus(); });
  const start = $('#substance-start-form');
  start.addEventListener('submit', startSubTest);
  start.elements.namedItem('sampleType').addEventListener('change', () => fillDevices(S.substance));
  $('#substance-urine-panels').replaceChildren(...DRUG_PANELS.map((p) => h('label', {}, p, ' ',
    h('select', { name: `panel-${p}`, 'data-panel': p }, h('option', { value: '' }, '— not on this cup'),
      h('option', { value: 'negative' }, 'negative'), h('option', { value: 'non-negative' }, 'non-negative'),
      h('option', { value: 'invalid' }, 'invalid')))));
  $('#substance-action-cancel').addEventListener('click', closeSubAction);
  $('#substance-refusal-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = e.currentTarget;
    subAction('refusal', 'refusal', { refusal: val(f, 'refusal'), witness: val(f, 'witness') },
      (t) => `${val(f, 'refusal') === 'unable' ? 'Unable to give a sample' : 'Refusal'} recorded for test ${t.id}: it is closed`);
  });
  $('#substance-urine-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = e.currentTarget;
    const panels = {};
    for (const sel of f.querySelectorAll('select[data-panel]')) if (sel.value) panels[sel.dataset.panel] = sel.value;
    subAction('urine', 'urine', { lot: val(f, 'lot'), expiry: val(f, 'expiry'), panels },
      (t) => `The cup's result recorded for test ${t.id}${t.valid === false ? ': INVALID: ' + (t.invalidReasons || []).join('; ') : ''}`);
  });
  const custody = $('#substance-custody-form');
  custody.addEventListener('submit', (e) => e.preventDefault());
  for (const b of custody.querySelectorAll('button[data-stage]')) {
    b.addEventListener('click', () => {
      const stage = b.dataset.stage;
      if (stage === 'sealed') {
        subAction('custody', 'seal', { seal: val(custody, 'seal') }, (t) => `Test ${t.id}'s sample sealed: seal ${t.seal}`);
      } else {
        subAction('custody', 'custody', { stage }, (t) => `Test ${t.id}'s sample ${STAGE_WORDS[stage]}`);
      }
    });
  }
  $('#substance-close-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const note = val(e.currentTarget, 'note');
    if (!note) { formMsg($('#substance-action'), 'A note is required: say why the test is closed.', 'error'); return; }
    subAction('close', 'close', { note }, (t) => `Test ${t.id} closed`);
  });
  $('#substance-result-close').addEventListener('click', closeSubResult);
  $('#substance-lab-form').addEventListener('submit', enterLabResult);
}

// A result is special category health data: it is fetched when staff open it (each view
// audited by the agent), shown in the result panel only, and kept nowhere else.

/** Opens test id's result (GET /substance/tests/{id}) in the result panel. */
async function openSubResult(id) {
  const box = $('#substance-result');
  clearSubResult();
  box.dataset.test = id;
  $('#substance-result-h').textContent = `Result of test ${id}`;
  box.hidden = false;
  formMsg(box, 'Opening…');
  box.scrollIntoView({ block: 'nearest' });
  try {
    const r = await api('GET', `/substance/tests/${encodeURIComponent(id)}`);
    if (box.dataset.test !== id || box.hidden) return; // closed, or another opened, meanwhile
    showSubResult(r);
    formMsg(box, '');
  } catch (err) { if (err.status !== 401 && box.dataset.test === id) formMsg(box, err.message, 'error'); }
}

function clearSubResult() {
  $('#substance-result-body').replaceChildren();
  $('#substance-result-panels tbody').replaceChildren();
  $('#substance-result-panels').hidden = true;
  const lab = $('#substance-lab-form');
  lab.hidden = true;
  lab.querySelector('.lab-rows').replaceChildren();
  formMsg($('#substance-result'), '');
}

function closeSubResult() {
  const box = $('#substance-result');
  box.hidden = true;
  delete box.dataset.test;
  clearSubResult();
}

function showSubResult(r) {
  const sc = r.screen;
  $('#substance-result-h').textContent = `Result of test ${r.id}: ${testWho(r)}, ${SAMPLE[r.sampleType] || r.sampleType}`;
  const rows = [];
  const row = (field, term, text, level = '') => rows.push(h('dt', {}, term), h('dd', { 'data-field': field, 'data-level': level }, text));
  const [level, words] = OUTCOME[r.outcome] || ['', r.outcome || 'none yet: awaiting its sample'];
  row('outcome', 'Outcome', words + (r.state === 'awaiting-confirmation' ? ' (preliminary: awaiting confirmation by a laboratory)' : ''), level);
  row('state', 'State', (TEST_STATE[r.state] || ['', r.state])[1]);
  if (sc) {
    if (sc.alcoholUgPer100ml != null) {
      row('alcohol', 'Alcohol', `${num(sc.alcoholUgPer100ml)} µg/100 ml of breath (limit ${num(sc.limitUgPer100ml)} µg/100 ml)`);
    }
    row('validity', 'Validity', sc.valid ? '✓ valid' : `⚠ INVALID: ${(sc.invalidReasons || []).join('; ')}`, sc.valid ? 'ok' : 'bad');
    if (sc.serial || sc.device) {
      row('device', 'Device', [sc.device || r.device, sc.serial ? `serial ${sc.serial}` : '', sc.firmware ? `firmware ${sc.firmware}` : '',
        sc.testNumber ? `its test no. ${sc.testNumber}` : ''].filter(Boolean).join(', '));
    }
    if (sc.calibration || sc.calibrationDue) {
      row('calibration', 'Calibration', `${sc.calibration || 'unknown'}${sc.calibrationDue ? ', due ' + sc.calibrationDue : ''}`,
        sc.calibration === 'overdue' ? 'bad' : '');
    }
    if (sc.selfCheck) row('selfCheck', 'Self-check', sc.selfCheck, sc.selfCheck === 'pass' ? 'ok' : 'bad');
    if (sc.temperatureC != null) row('temperature', 'Temperature', `${num(sc.temperatureC)} °C`);
    if (sc.deviceError) row('deviceError', 'Device error', sc.deviceError, 'bad');
    if (sc.lot || sc.expiry) row('lot', r.sampleType === 'urine' ? 'Cup' : 'Cassette', `lot ${sc.lot || '—'}, expires ${sc.expiry || '—'}`);
    row('measured', 'Recorded', `${ukTime(sc.measuredAt || sc.at)}, bound ${BOUND_BY[sc.boundBy] || sc.boundBy}${sc.enteredBy ? ' (' + sc.enteredBy + ')' : ''}`);
    const panels = sc.panels || [];
    $('#substance-result-panels tbody').replaceChildren(...panels.map((p) => {
      const [pl, pw] = PANEL_RESULT[p.result] || ['', p.result];
      const cut = p.panel === 'alcohol' && sc.limitUgPer100ml != null ? `${num(sc.limitUgPer100ml)} µg/100 ml`
        : p.cutoffNgMl != null ? `${num(p.cutoffNgMl)} ng/ml` : '—';
      return h('tr', { 'data-panel': p.panel }, h('td', {}, p.panel), h('td', { 'data-level': pl }, pw), h('td', {}, cut));
    }));
    $('#substance-result-panels').hidden = panels.length === 0;
  }
  const rf = r.refusal;
  if (rf) row('refusal', 'Refusal', `${rf.refusal === 'unable' ? 'unable to give a sample' : 'refused'}, witnessed by ${rf.witness}, recorded by ${rf.staff}, ${ukTime(rf.at)}`, 'bad');
  const custody = r.custody || [];
  if (custody.length) {
    row('custody', 'Custody', custody.map((c) => `${STAGE_WORDS[c.stage] || c.stage}${c.seal ? ' (seal ' + c.seal + ')' : ''} by ${c.by}, ${ukTime(c.at)}`).join('; '));
  }
  const cf = r.confirmation;
  if (cf) {
    const res = cf.results || {};
    row('confirmation', 'Laboratory', `${(OUTCOME[cf.outcome] || ['', cf.outcome])[1]}: ` + Object.keys(res).sort()
      .map((k) => `${k} ${res[k].confirmed ? 'confirmed' : 'not confirmed'} (${res[k].method})`).join('; ') + `; entered by ${cf.by}, ${ukTime(cf.at)}`);
  }
  const cl = r.closure;
  if (cl) row('closure', 'Closed', `by ${cl.by}: ${cl.note}, ${ukTime(cl.at)}`);
  $('#substance-result-body').replaceChildren(...rows);
  // The laboratory's result, for a sample sealed and awaiting confirmation: per analyte
  // the screen found non-negative.
  const lab = $('#substance-lab-form');
  const analytes = sc ? (sc.panels || []).filter((p) => p.result === 'non-negative').map((p) => p.panel) : [];
  lab.hidden = !(r.state === 'awaiting-confirmation' && r.seal && analytes.length);
  lab.dataset.test = r.id;
  lab.querySelector('.lab-rows').replaceChildren(...(lab.hidden ? [] : analytes.map((a) => h('div', { class: 'inline-form', 'data-analyte': a },
    h('span', { class: 'lab-analyte' }, a),
    h('select', { name: 'confirmed', 'aria-label': `${a}: confirmed?` }, h('option', { value: 'yes' }, 'confirmed'),
      h('option', { value: 'no' }, 'not confirmed')),
    h('input', { name: 'method', autocomplete: 'off', placeholder: 'Method, e.g. LC-MS/MS', 'aria-label': `${a}: method` })))));
}

async function enterLabResult(e) {
  e.preventDefault();
  const f = e.currentTarget;
  const id = f.dataset.test;
  const box = $('#substance-result');
  const results = {};
  for (const r of f.querySelectorAll('[data-analyte]')) {
    results[r.dataset.analyte] = { confirmed: r.querySelector('select').value === 'yes', method: r.querySelector('input').value.trim() };
  }
  formMsg(box, 'Sending…');
  try {
    const t = await api('POST', `/substance/tests/${encodeURIComponent(id)}/lab`, { results });
    rememberTest(t);
    f.hidden = true;
    formMsg(box, `The laboratory's result recorded for test ${t.id}: it is closed. Open the result again to see it.`, 'ok');
    renderSubstance();
    refreshSubstance();
  } catch (err) { if (err.status !== 401) formMsg(box, err.message, 'error'); }
}

// ---------------------------------------------------------------- biometrics

// Fingerprint enrolment, for staff with the biometrics permission. The overview (GET
// /biometrics, and live in the stream's state as `biometrics`) holds no template or
// image: terminals, residents' consent, slots, steps and reasons only. The enrolment
// this page started is followed live: its terminal's step is the prompt, in large
// words, for the person at the terminal. The consent question and the deletion's
// confirmation are panels outside the tables, so a live update never wipes them.

// What the person at the terminal is to do at each step, in the order they come.
const BIO_STEP = { 'place-finger': 'Place the finger on the sensor', 'lift-finger': 'Lift the finger',
  'place-again': 'Place the same finger again', storing: 'Storing…' };
const BIO_STEP_ORDER = { 'place-finger': 1, 'lift-finger': 2, 'place-again': 3, storing: 4 };
// Why an enrolment failed, in words: the terminal's reasons (devices/fingerprint), then
// the agent's (agent/biometric).
const BIO_REASON = {
  'fingers-do-not-match': 'the two captures did not match', 'image-too-messy': 'the picture of the finger was too messy to read',
  'too-few-features': 'too little of the finger could be read', 'image-failed': 'the terminal could not take a picture of the finger',
  'image-too-dry': 'the finger was too dry or pressed too lightly', 'image-too-wet': 'the finger was too wet or smudged',
  'no-image': 'the terminal had no picture of the finger to read', 'no-finger': 'no finger was on the sensor',
  timeout: 'no finger on the sensor in time, or it was not lifted', 'slot-in-use': 'the slot on the terminal was in use already',
  'library-full': 'the terminal is full', 'flash-error': 'the terminal could not write to its memory',
  'slot-beyond-library': 'the slot is beyond the terminal\'s library', 'packet-receive-error': 'the terminal could not read the command',
  'no-reply': 'the terminal stopped answering', failed: 'the terminal reported an error',
  'no-answer': 'the terminal did not answer', 'not-taken': 'the terminal did not take the enrolment',
  'deletion-requested': 'the resident\'s templates are being deleted',
};
// Failures not counted as an attempt (agent/biometric).
const BIO_NOT_COUNTED = new Set(['cancelled', 'no-answer', 'not-taken', 'deletion-requested']);
const BIO_ALTERNATIVE = 'Alternative offered: card and staff confirmation at the door';

/** A finger in words: "right-index" → "Right index", or "right index" within a sentence. */
function fingerWords(f, lower = false) {
  const w = String(f || '').replace(/-/g, ' ');
  return lower ? w : w.charAt(0).toUpperCase() + w.slice(1);
}

const bioTerminal = (id) => ((S.biometrics && S.biometrics.terminals) || []).find((t) => t.id === id);
/** A terminal by its name ("office enrolment desk"), or its id if it has none. */
const terminalName = (id) => { const t = bioTerminal(id); return (t && t.name) || id; };
/** Where a terminal is: "front door", or "enrolment desk" for one at no door. */
const terminalWhere = (t) => (t.door ? `${t.door} door` : 'enrolment desk');
const bioResident = (crn) => ((S.biometrics && S.biometrics.residents) || []).find((r) => r.crn === crn);
/** A resident as the lists name them, "Brian Baker (room 5)"; the CRN of one not in residence. */
const bioLabel = (crn) => { const r = bioResident(crn); return (r && r.person && r.person.label) || crn; };
/** A resident's name, for a question put to them: "Brian Baker". */
const bioName = (crn) => { const r = bioResident(crn); return (r && r.person && (r.person.name || r.person.label)) || crn; };
const slotsWords = (slots) => `${slots.length === 1 ? 'slot' : 'slots'} ${slots.join(', ')}`;

/** Takes a new biometrics overview, noting when it came (a pending deletion's wait goes on from it). */
function setBiometrics(v) { S.biometrics = v; S.bioAt = Date.now(); }

/** The biometrics view, for staff with the biometrics permission only. */
function renderBiometrics() {
  const show = can('biometrics');
  $('#biometrics').hidden = !show;
  $('#biometrics-nav').hidden = !show;
  const ov = S.biometrics;
  $('#bio-loading').hidden = Boolean(ov);
  if (!show || !ov) return;
  const es = $('#bio-enhanced');
  es.dataset.level = ov.enhancedSecurity ? 'info' : '';
  es.textContent = ov.enhancedSecurity
    ? '■ Enhanced Security on: at a door with a terminal, a card needs the holder\'s finger on that terminal too.'
    : '□ Enhanced Security off: a card alone opens the doors.';
  renderBioTerminals(ov);
  renderBioResidents(ov);
  fillEnrolForm(ov);
  trackEnrolment(ov);
  showBioPrompt();
  renderBioPending(ov);
  renderBioOrphans(ov);
}

function renderBioTerminals(ov) {
  const terms = ov.terminals || [];
  const body = $('#bio-terminals tbody');
  if (!terms.length) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No fingerprint terminal is configured')));
    return;
  }
  sync(body, terms, 'terminal', (t) => t.id, (t) => {
    const td = (cls) => h('td', { class: cls });
    const ui = { name: td('term-name'), id: td('term-id mono'), door: td('term-door'), online: td('term-online'),
      templates: td('term-templates'), pending: td('term-pending'), busy: td('term-busy') };
    const tr = h('tr', { 'data-terminal': t.id }, ui.name, ui.id, ui.door, ui.online, ui.templates, ui.pending, ui.busy);
    tr.ui = ui;
    return tr;
  }, (tr, t) => {
    const { ui } = tr;
    const st = t.status;
    ui.name.textContent = t.name || t.id;
    ui.id.textContent = t.id;
    ui.door.textContent = terminalWhere(t);
    const [level, words] = !st ? ['warn', '? not reported yet'] : st.online ? ['ok', '✓ online'] : ['bad', '✗ offline'];
    ui.online.dataset.level = level;
    // The terminal's last error is for an installer: after the word, in small print.
    ui.online.replaceChildren(words, st && st.lastError ? h('span', { class: 'term-error muted' }, `: ${st.lastError}`) : '');
    tr.dataset.online = String(Boolean(st && st.online));
    ui.templates.textContent = !st ? '—' : st.capacity ? `${st.templates} of ${st.capacity}` : String(st.templates);
    const n = Number(t.pendingDeletions) || 0;
    ui.pending.dataset.level = n ? 'warn' : '';
    ui.pending.textContent = n ? `⚠ ${n} waiting` : 'none';
    const en = t.enrolling;
    ui.busy.textContent = en ? `enrolling ${bioLabel(en.crn)}'s ${fingerWords(en.finger, true)}` : '—';
  });
}

/** A resident's consent in words: its level and text. */
function consentWords(r) {
  const alt = r.alternative;
  if (r.consent === 'given') {
    return ['ok', `✓ Given by ${r.consentBy} at ${ukTime(r.consentAt)}` +
      (alt ? ` — alternative offered after ${alt.attempts} failed attempts` : '')];
  }
  if (r.consent === 'declined') {
    return ['warn', `✗ Declined — ${alt ? 'alternative offered' : 'no alternative recorded'} (recorded by ${r.consentBy} at ${ukTime(r.consentAt)})`];
  }
  return ['warn', '? Not asked'];
}

function renderBioResidents(ov) {
  const rs = ov.residents || [];
  const body = $('#bio-residents tbody');
  if (!rs.length) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No resident in residence')));
    return;
  }
  sync(body, rs, 'crn', (r) => r.crn, (r) => {
    const crn = r.crn;
    const td = (cls) => h('td', { class: cls });
    const ui = { person: td('bio-person'), consent: td('bio-consent'), fingers: h('ul', { class: 'bio-fingers plain-list' }),
      attempts: td('bio-attempts') };
    const act = (kind, text, onclick) => h('button', { type: 'button', class: `secondary act-${kind}`, onclick }, text);
    ui.ask = act('consent', 'Ask consent…', () => openBioConsent(crn));
    ui.enrol = act('enrol', 'Enrol a finger…', () => chooseForEnrolment(crn));
    ui.del = act('delete', 'Delete templates…', () => openBioDelete(crn));
    const tr = h('tr', { 'data-crn': crn }, ui.person, ui.consent, h('td', { class: 'bio-fingers-cell' }, ui.fingers), ui.attempts,
      h('td', { class: 'bio-actions' }, h('div', { class: 'row-actions' }, ui.ask, ui.enrol, ui.del)));
    tr.ui = ui;
    return tr;
  }, (tr, r) => {
    const { ui } = tr;
    tr.dataset.consent = r.consent;
    ui.person.textContent = (r.person && r.person.label) || r.crn;
    const [level, words] = consentWords(r);
    ui.consent.dataset.level = level;
    ui.consent.textContent = words;
    const fingers = r.fingers || [];
    const items = fingers.map((f) => h('li', { 'data-enrolment': f.enrolment, 'data-state': f.state },
      `${fingerWords(f.finger)} on ${terminalName(f.terminal)}, slot ${f.slot}${f.state === 'deleting' ? ' — deleting: waiting for the terminal\'s proof' : ''}`));
    if (r.enrolling) items.push(h('li', { class: 'muted', 'data-enrolment': r.enrolling, 'data-state': 'enrolling' }, 'enrolling now…'));
    if (!items.length) items.push(h('li', { class: 'muted' }, 'none'));
    ui.fingers.replaceChildren(...items);
    ui.attempts.textContent = `${r.attempts} of ${ov.maxAttempts}`;
    ui.ask.hidden = r.consent === 'given';
    ui.ask.textContent = r.consent === 'declined' ? 'Ask consent again…' : 'Ask consent…';
    ui.enrol.hidden = r.consent !== 'given';
    ui.del.hidden = !fingers.some((f) => f.state === 'enrolled');
  });
}

/** Fills the enrolment form's lists: residents who have given consent, the fingers, the terminals. */
function fillEnrolForm(ov) {
  const f = $('#bio-enrol-form');
  const rs = (ov.residents || []).filter((r) => r.consent === 'given');
  const crn = f.elements.namedItem('crn');
  setOptions(crn, [h('option', { value: '' }, rs.length ? 'Choose a resident…' : 'No resident has given consent yet'),
    ...rs.map((r) => h('option', { value: r.crn }, (r.person && r.person.label) || r.crn))]);
  if (f.dataset.want && rs.some((r) => r.crn === f.dataset.want)) { crn.value = f.dataset.want; delete f.dataset.want; }
  const finger = f.elements.namedItem('finger');
  setOptions(finger, (ov.fingers || []).map((x) => h('option', { value: x }, fingerWords(x))));
  if (!f.dataset.filled && (ov.fingers || []).includes('right-index')) finger.value = 'right-index';
  const terms = ov.terminals || [];
  const term = f.elements.namedItem('terminal');
  setOptions(term, terms.length ? terms.map((t) => h('option', { value: t.id }, `${t.name || t.id} (${t.id}, ${terminalWhere(t)})` +
    (!t.status ? ': not reported yet' : !t.status.online ? ': offline' : t.enrolling ? ': busy enrolling' : '')))
    : [h('option', { value: '' }, 'no fingerprint terminal configured')]);
  if (!f.dataset.filled) { // an enrolment desk first
    const desk = terms.find((t) => !t.door);
    if (desk) term.value = desk.id;
  }
  f.dataset.filled = '1';
}

/** Chooses resident crn in the enrolment form and takes the user there. */
function chooseForEnrolment(crn) {
  const f = $('#bio-enrol-form');
  f.dataset.want = crn;
  if (S.biometrics) fillEnrolForm(S.biometrics);
  formMsg(f, '');
  f.scrollIntoView({ block: 'nearest' });
  f.elements.namedItem('finger').focus();
}

async function startEnrolment(e) {
  e.preventDefault();
  const f = e.currentTarget;
  const body = { crn: val(f, 'crn'), finger: val(f, 'finger'), terminal: val(f, 'terminal') };
  if (!body.crn) { formMsg(f, 'Choose the resident to enrol: one who has given consent.', 'error'); return; }
  if (!body.terminal) { formMsg(f, 'Choose the terminal to enrol the finger on.', 'error'); return; }
  const btn = f.querySelector('button[type=submit]');
  btn.disabled = true;
  formMsg(f, 'Starting…');
  try {
    const en = await api('POST', '/biometrics/enrolments', body);
    S.bioEnrol = { id: en.id, en };
    if (S.biometrics) trackEnrolment(S.biometrics); // a live update may have shown its first step already
    formMsg($('#bio-prompt'), '');
    formMsg(f, `Enrolment ${en.id} started: ${bioLabel(en.crn)}'s ${fingerWords(en.finger, true)} on ${terminalName(en.terminal)}, slot ${en.slot}. Follow the prompt.`, 'ok');
    showBioPrompt();
    $('#bio-prompt').scrollIntoView({ block: 'nearest' });
    refreshBiometrics();
  } catch (err) {
    if (err.status !== 401) formMsg(f, err.message, 'error');
  } finally { btn.disabled = false; }
}

// How far an enrolment has gone: it only ever goes forward (its step, then its end).
const bioProgress = (en) => (en.state !== 'enrolling' ? 10 : (en.step && BIO_STEP_ORDER[en.step.step]) || 0);

/** Takes en as the followed enrolment's latest, unless what is known has gone further. */
function rememberEnrolment(en) {
  const b = S.bioEnrol;
  if (b && en && en.id === b.id && bioProgress(en) >= bioProgress(b.en)) b.en = en;
}

/**
 * Finds the followed enrolment in the overview: under way on its terminal (with its
 * step), or ended among the recent. An overview that has it in neither predates it:
 * the enrolment is asked for itself.
 */
function trackEnrolment(ov) {
  const b = S.bioEnrol;
  if (!b) { // a page opened again while one of this user's is under way follows it
    const mine = (ov.terminals || []).map((t) => t.enrolling).find((en) => en && S.user && en.by === S.user.name);
    if (mine) S.bioEnrol = { id: mine.id, en: mine };
    return;
  }
  let seen = null;
  for (const t of ov.terminals || []) if (t.enrolling && t.enrolling.id === b.id) seen = t.enrolling;
  seen = seen || (ov.recent || []).find((x) => x.id === b.id);
  if (seen) rememberEnrolment(seen);
  else if (b.en.state === 'enrolling') soon('bio-enrolment', fetchEnrolment, 500);
}

async function fetchEnrolment() {
  const b = S.bioEnrol;
  if (!b || b.en.state !== 'enrolling') return;
  try {
    rememberEnrolment(await api('GET', `/biometrics/enrolments/${encodeURIComponent(b.id)}`));
    showBioPrompt();
  } catch (err) { if (err.status !== 401 && err.status !== 404) report(err); }
}

/** An ended enrolment's failure in words, with its attempt. */
function failedWords(en, max) {
  const reason = en.reason || '';
  if (reason === 'cancelled') return 'Enrolment cancelled: not counted as an attempt';
  let why = BIO_REASON[reason] || reason.replace(/-/g, ' ') || 'no reason given';
  if (reason === 'failed' && en.detail) why += `: ${en.detail}`;
  return `Enrolment failed: ${why} ${BIO_NOT_COUNTED.has(reason) ? '(not counted as an attempt)' : `(attempt ${en.attempt} of ${max})`}`;
}

/** The live prompt panel: the followed enrolment's step in large words, then its outcome. */
function showBioPrompt() {
  const box = $('#bio-prompt');
  const b = S.bioEnrol;
  box.hidden = !b;
  if (!b) { delete box.dataset.enrolment; return; }
  const en = b.en;
  const ov = S.biometrics || {};
  const live = en.state === 'enrolling';
  const step = live && en.step ? en.step.step : '';
  box.dataset.enrolment = en.id;
  box.dataset.state = en.state;
  box.dataset.step = step;
  $('#bio-prompt-h').textContent = `Enrolment ${en.id}: ${bioLabel(en.crn)}'s ${fingerWords(en.finger, true)} on ${terminalName(en.terminal)}`;
  const where = `${fingerWords(en.finger, true)} on ${terminalName(en.terminal)}, slot ${en.slot}`;
  const [level, words] = live ? ['info', step ? BIO_STEP[step] || step : 'Waiting for the terminal…']
    : en.state === 'failed' ? ['bad', failedWords(en, ov.maxAttempts)]
      : en.state === 'enrolled' ? ['ok', `Enrolled: ${where}`]
        : en.state === 'deleting' ? ['', `Enrolled: ${where} (its deletion is waiting for the terminal's proof)`]
          : ['', `Enrolled: ${where} (since deleted)`];
  const text = $('#bio-prompt-text');
  text.dataset.level = level;
  if (text.textContent !== words) text.textContent = words;
  const r = bioResident(en.crn);
  const alt = $('#bio-prompt-alt');
  alt.hidden = !(en.state === 'failed' && r && r.alternative);
  alt.textContent = alt.hidden ? '' : BIO_ALTERNATIVE;
  $('#bio-cancel').hidden = !live;
  $('#bio-prompt-close').hidden = live;
}

async function cancelEnrolment() {
  const b = S.bioEnrol;
  if (!b) return;
  const box = $('#bio-prompt');
  const btn = $('#bio-cancel');
  btn.disabled = true;
  formMsg(box, 'Cancelling…');
  try {
    rememberEnrolment(await api('POST', `/biometrics/enrolments/${encodeURIComponent(b.id)}/cancel`, {}));
    formMsg(box, '');
    showBioPrompt();
    refreshBiometrics();
  } catch (err) { if (err.status !== 401) formMsg(box, err.message, 'error'); } finally { btn.disabled = false; }
}

function closeBioPrompt() {
  S.bioEnrol = null;
  formMsg($('#bio-prompt'), '');
  formMsg($('#bio-enrol-form'), '');
  showBioPrompt();
}

/** Opens the consent question for resident crn. */
function openBioConsent(crn) {
  closeBioDelete();
  S.bioConsent = crn;
  const box = $('#bio-consent');
  box.dataset.crn = crn;
  $('#bio-consent-h').textContent = `Consent: ${bioLabel(crn)}`;
  $('#bio-consent-q').textContent = `Has ${bioName(crn)} given explicit consent to their fingerprints being enrolled? ` +
    'They may decline: a card and a member of staff\'s confirmation at the door will be used instead.';
  box.querySelector('.bio-consent-answers').hidden = false;
  $('#bio-consent-close').textContent = 'Not now';
  formMsg(box, '');
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
  $('#bio-consent-given').focus();
}

function closeBioConsent() {
  S.bioConsent = null;
  const box = $('#bio-consent');
  box.hidden = true;
  delete box.dataset.crn;
}

async function recordBioConsent(given) {
  const crn = S.bioConsent;
  if (!crn) return;
  const box = $('#bio-consent');
  const answers = box.querySelector('.bio-consent-answers');
  for (const b of answers.querySelectorAll('button')) b.disabled = true;
  formMsg(box, 'Recording…');
  try {
    const rb = await api('POST', `/biometrics/residents/${encodeURIComponent(crn)}/consent`, { given });
    if (S.bioConsent !== crn) return;
    const c = rb.consent || {};
    answers.hidden = true;
    $('#bio-consent-close').textContent = 'Close';
    formMsg(box, given ? `Consent given by ${bioName(crn)}, recorded by ${c.by} at ${ukTime(c.at)}: their fingers can be enrolled now.`
      : `${bioName(crn)} declined, recorded by ${c.by} at ${ukTime(c.at)}. ${BIO_ALTERNATIVE}.`, 'ok');
    if (given) $('#bio-enrol-form').dataset.want = crn;
    refreshBiometrics();
  } catch (err) {
    if (err.status !== 401) formMsg(box, err.message, 'error');
  } finally { for (const b of answers.querySelectorAll('button')) b.disabled = false; }
}

/** Opens the confirmation of the deletion of resident crn's templates. */
function openBioDelete(crn) {
  closeBioConsent();
  S.bioDelete = crn;
  const box = $('#bio-delete');
  box.dataset.crn = crn;
  const r = bioResident(crn);
  const held = ((r && r.fingers) || []).filter((f) => f.state === 'enrolled')
    .map((f) => `${fingerWords(f.finger, true)} on ${terminalName(f.terminal)}, slot ${f.slot}`);
  $('#bio-delete-q').textContent = `Delete every fingerprint template of ${bioName(crn)}'s${held.length ? ' (' + held.join('; ') + ')' : ''}? ` +
    'From then on their fingers open no door. Each deletion counts only once its terminal reads its slots back as free.';
  $('#bio-delete-confirm').hidden = false;
  $('#bio-delete-cancel').textContent = 'Cancel';
  formMsg(box, '');
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
  $('#bio-delete-cancel').focus();
}

function closeBioDelete() {
  S.bioDelete = null;
  const box = $('#bio-delete');
  box.hidden = true;
  delete box.dataset.crn;
}

async function deleteBioTemplates() {
  const crn = S.bioDelete;
  if (!crn) return;
  const box = $('#bio-delete');
  const btn = $('#bio-delete-confirm');
  btn.disabled = true;
  formMsg(box, 'Sending…');
  try {
    const r = await api('POST', `/biometrics/residents/${encodeURIComponent(crn)}/deletion`, {});
    if (S.bioDelete !== crn) return;
    const ds = (r && r.deletions) || [];
    btn.hidden = true;
    $('#bio-delete-cancel').textContent = 'Close';
    formMsg(box, `Deletion of ${bioName(crn)}'s templates asked of ${ds.map((d) => `${terminalName(d.terminal)} (${slotsWords(d.slots || [])})`).join(' and ')}: ` +
      'each is listed below as waiting until its terminal proves it.', 'ok');
    refreshBiometrics();
  } catch (err) {
    if (err.status !== 401) formMsg(box, err.message, 'error');
  } finally { btn.disabled = false; }
}

/** How long something has waited, roughly: "40 s", "12 min", "3 h", "2 days". */
function waitedWords(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} days`;
}

/** The deletions waiting for their terminal, each with how long it has waited until now. */
function renderBioPending(ov) {
  const since = S.bioAt ? Math.max(0, (Date.now() - S.bioAt) / 1000) : 0;
  const pending = ov.pending || [];
  $('#bio-pending-empty').hidden = pending.length > 0;
  $('#bio-pending').replaceChildren(...pending.map((d) => h('li', { 'data-deletion': d.id, 'data-terminal': d.terminal,
    'data-overdue': String(Boolean(d.overdue)), 'data-level': d.overdue ? 'bad' : 'warn' },
  `${d.overdue ? `⚠ OVERDUE (waiting more than ${num(ov.deletionOverdueHours)} h): ` : '◌ '}${bioLabel(d.crn)}: ${slotsWords(d.slots || [])} on ` +
    `${terminalName(d.terminal)}, ${d.why === 'departed' ? 'on departure' : `asked by ${d.by}`}, waiting ${waitedWords(Number(d.waitedSeconds) + since)}; ` +
    (d.terminalOnline ? 'terminal ✓ online: it is being deleted' : 'terminal ✗ offline: it is sent when the terminal comes back'))));
}

function renderBioOrphans(ov) {
  const orphans = ov.orphans || [];
  $('#bio-orphans-empty').hidden = orphans.length > 0;
  $('#bio-orphans').replaceChildren(...orphans.map((o) => h('li', { 'data-terminal': o.terminal, 'data-slot': o.slot, 'data-level': 'warn' },
    `⚠ ${terminalName(o.terminal)} (${o.terminal}), slot ${o.slot}, since ${ukTime(o.seenAt)}: a template nobody holds: ` +
    `delete it at the terminal with apedge fingerprint delete ${o.slot}${o.stillUsed ? '' : ' (the terminal no longer shows it used)'}`)));
}

async function refreshBiometrics() {
  if (!can('biometrics')) return;
  const gen = S.gen;
  try {
    const v = await api('GET', '/biometrics');
    if (S.user && gen === S.gen) { setBiometrics(v); renderBiometrics(); }
  } catch (err) { report(err); }
}

function bindBiometrics() {
  $('#biometrics-nav').addEventListener('click', () => { $('#biometrics').scrollIntoView(); $('#biometrics-h').focus(); });
  $('#bio-enrol-form').addEventListener('submit', startEnrolment);
  $('#bio-cancel').addEventListener('click', cancelEnrolment);
  $('#bio-prompt-close').addEventListener('click', closeBioPrompt);
  $('#bio-consent-given').addEventListener('click', () => recordBioConsent(true));
  $('#bio-consent-declined').addEventListener('click', () => recordBioConsent(false));
  $('#bio-consent-close').addEventListener('click', closeBioConsent);
  $('#bio-delete-confirm').addEventListener('click', deleteBioTemplates);
  $('#bio-delete-cancel').addEventListener('click', closeBioDelete);
}

// ---------------------------------------------------------------- staff actions

/** Binds a staff-action form: build(form) → {path, body, done(response)} or throws a message. */
function bindAction(form, build) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let req;
    try { req = build(form); } catch (err) { formMsg(form, err.message, 'error'); return; }
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    formMsg(form, 'Sending…');
    try {
      const res = (await api('POST', req.path, req.body)) || {};
      formMsg(form, req.done(res), 'ok');
      form.reset();
      loadAll();
    } catch (err) {
      if (err.status !== 401) formMsg(form, registerError(form, err), 'error');
    } finally { btn.disabled = false; }
  });
}

function needCrn(form) {
  const crn = val(form, 'crn');
  if (!crn) throw new Error('CRN is required.');
  return crn;
}

/** datetime-local "YYYY-MM-DDTHH:MM[:SS]" → "YYYY-MM-DD HH:MM" (UK local, as the API takes it). */
const localStamp = (v) => (v ? v.replace('T', ' ').slice(0, 16) : '');

async function onLockdown(e) {
  e.preventDefault();
  const f = e.currentTarget;
  const reason = val(f, 'reason');
  if (!reason) { report(new Error('A reason is required to lock the site down or release it.')); return; }
  const release = Boolean(S.lockdown && S.lockdown.active);
  if (!release && !window.confirm('Lock the site down? Entry will be refused at every door; exit still works.')) return;
  try {
    await api('POST', release ? '/site/release' : '/site/lockdown', { reason });
    f.reset();
  } catch (err) { report(err); }
  loadAll();
}

/** The register's refusal in the staff's words, with the field to fix highlighted. */
function registerError(form, err) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const field = err.data && err.data.field;
  const input = field && form.elements.namedItem(field);
  if (input && input.setAttribute) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  return err.message;
}

function bindForms() {
  $('#lockdown-form').addEventListener('submit', onLockdown);
  const up = $('#update-form');
  up.addEventListener('submit', async (e) => {
    e.preventDefault();
    const crn = val(up, 'crn');
    if (!crn) { formMsg(up, 'CRN is required.', 'error'); return; }
    const body = {};
    for (const k of ['noms', 'name', 'room', 'expectedDeparture']) if (val(up, k)) body[k] = val(up, k);
    if (val(up, 'cards')) body.cards = val(up, 'cards').split(',').map((c) => c.trim()).filter(Boolean);
    if (!Object.keys(body).length) { formMsg(up, 'Fill in what is to change.', 'error'); return; }
    try {
      const r = (await api('PATCH', `/residents/${encodeURIComponent(crn)}`, body)) || {};
      const ch = (r.changes || []).map((c) => `${c.field}: ${c.old || 'none'} → ${c.new || 'none'}`).join('; ');
      formMsg(up, `${crn} changed: ${ch}`, 'ok');
      up.reset();
      loadAll();
    } catch (err) { if (err.status !== 401) formMsg(up, registerError(up, err), 'error'); }
  });
  bindAction($('#arrival-form'), (f) => {
    const body = { crn: val(f, 'crn'), noms: val(f, 'noms'), name: val(f, 'name'), room: val(f, 'room'),
      cards: val(f, 'cards').split(',').map((c) => c.trim()).filter(Boolean), expectedDeparture: val(f, 'expectedDeparture') };
    return { path: '/residents', body, done: (r) => `Arrival of ${body.name ? body.name + ' (' + body.crn + ')' : body.crn} recorded (change ${r.change})` };
  });
  bindAction($('#departure-form'), (f) => {
    const crn = needCrn(f);
    return { path: `/residents/${encodeURIComponent(crn)}/departure`, body: {},
      done: (r) => `Departure of ${crn} recorded (change ${r.change})` };
  });
  bindAction($('#absence-form'), (f) => {
    const crn = needCrn(f);
    const body = { id: val(f, 'id'), from: localStamp(val(f, 'from')), to: localStamp(val(f, 'to')),
      approvedBy: val(f, 'approvedBy'), reason: val(f, 'reason') };
    return { path: `/residents/${encodeURIComponent(crn)}/absences`, body,
      done: (r) => `Absence ${body.id} for ${crn} recorded (change ${r.change})` };
  });
}

// ---------------------------------------------------------------- start

// The site's time: the header shows the agent's clock (status.now), not this screen's,
// carried forward between updates by this screen's clock.
let siteOffset = 0, siteNow = '';
function tick() { $('#clock').textContent = fmtClock.format(new Date(Date.now() + siteOffset)); }

// A script calling form.submit() (as some test drivers do) would skip the submit handlers
// and navigate away, posting the form to the page: route it through the submit event.
HTMLFormElement.prototype.submit = function submit() { this.requestSubmit(); };

function init() {
  $('#signin-form').addEventListener('submit', onSignIn);
  $('#signout').addEventListener('click', onSignOut);
  $('#banner-dismiss').addEventListener('click', () => { $('#banner').hidden = true; });
  bindForms();
  const filters = $('#alarm-filters');
  filters.addEventListener('input', () => {
    for (const k of Object.keys(S.filter)) S.filter[k] = String(filters.elements.namedItem(k).value || '');
    renderAlarms();
  });
  filters.addEventListener('submit', (e) => e.preventDefault());
  let sound = 'on';
  try { sound = sessionStorage.getItem('apedge.sound') || 'on'; } catch (_) { /* private mode */ }
  setSound(sound !== 'off');
  $('#sound-toggle').addEventListener('click', () => setSound(!S.sound));
  $('#fire-roll-button').addEventListener('click', takeFireRoll);
  $('#fire-roll-print').addEventListener('click', () => window.print());
  $('#fire-roll-close').addEventListener('click', closeFireRoll);
  $('#resident-period').addEventListener('submit', (e) => { e.preventDefault(); loadResident(); });
  $('#resident-close').addEventListener('click', () => { $('#resident-page').hidden = true; S.residentCRN = ''; });
  bindSubstance();
  bindBiometrics();
  tick();
  setInterval(tick, 1000);
  // A pending deletion's wait goes on between updates of the overview.
  setInterval(() => { if (S.biometrics && can('biometrics')) renderBioPending(S.biometrics); }, 30000);
  checkSession();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
