// api.js — the pages' one way to call ticketd's JSON API (same origin only).
// Every call has a deadline; every failure becomes an ApiError with the contract's `code`, so a page shows it in
// words (i18n.js errorText) and never as raw JSON. Every answer's Date header also tells the page how far its
// clock is from the server's (serverNow). Limits: REQUEST_TIMEOUT_MS per call; bodies are small JSON.

export const REQUEST_TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message, data) {
    super(message || code);
    this.status = status; // HTTP status; 0 when the server could not be reached
    this.code = code;     // the contract's code (SEAT_UNAVAILABLE, …), or NETWORK / TIMEOUT / BAD_RESPONSE
    this.data = data || {}; // the rest of the error body (unavailableSeatIds, optionIds, …)
  }
}

// The server's clock, as far as the Date headers of its answers pin it down. An answer sent at local time `sent` and
// received at `received` says the server's clock read [D, D + 1 s) somewhere in between, so the offset
// (server - local) lies in [D - received, D + 1000 - sent]; the intersection over answers narrows it. serverNow()
// is the local clock moved by that offset — not moved at all while the local clock agrees within the interval,
// so a right clock is never nudged by the header's one-second grain. Countdowns (dom.js) and every "is it over
// yet?" read serverNow(), so a phone whose clock is minutes or hours off still counts to the opening and to a
// hold's end as the server will. Two disjoint intervals (either clock was set meanwhile) start it over.
let offLo = -Infinity;
let offHi = Infinity;

export function noteServerDate(dateHeader, sent, received) {
  const d = Date.parse(dateHeader || '');
  if (!Number.isFinite(d) || received < sent) return;
  const lo = d - received, hi = d + 1000 - sent;
  if (lo > offHi || hi < offLo) { offLo = lo; offHi = hi; return; }
  offLo = Math.max(offLo, lo);
  offHi = Math.min(offHi, hi);
}

export function clockOffsetMs() {
  if (!Number.isFinite(offLo) || (offLo <= 0 && offHi >= 0)) return 0;
  return Math.round((offLo + offHi) / 2);
}

export function serverNow() { return Date.now() + clockOffsetMs(); }

// Before a decision by the clock with no answer seen yet (a reload resuming a hold): one GET /health pins it.
export async function syncClock() {
  if (Number.isFinite(offLo)) return;
  try { await api('GET', '/health'); } catch (e) { /* unreachable: the local clock is all there is */ }
}

// A fresh Idempotency-Key for one user action (a retry of that action reuses it).
export function newIdempotencyKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// api('POST', '/user/charge', {key, body: {amount: 1000}}) → the envelope's `data`.
// Options: key (Bearer API key or admin key), token (queue-token), body (JSON), idem (Idempotency-Key), query.
export async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.key) headers.Authorization = 'Bearer ' + opts.key;
  if (opts.token) headers['queue-token'] = opts.token;
  if (opts.idem) headers['Idempotency-Key'] = opts.idem;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let url = path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    const s = q.toString();
    if (s) url += '?' + s;
  }
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
  let res;
  const sent = Date.now();
  try {
    res = await fetch(url, { method, headers, body, signal: ctl.signal, credentials: 'omit', cache: 'no-store' });
    noteServerDate(res.headers.get('Date'), sent, Date.now());
  } catch (e) {
    throw new ApiError(0, ctl.signal.aborted ? 'TIMEOUT' : 'NETWORK', String(e && e.message || e));
  } finally {
    clearTimeout(timer);
  }
  let json = null;
  try {
    json = await res.json();
  } catch (e) {
    throw new ApiError(res.status, 'BAD_RESPONSE', 'HTTP ' + res.status);
  }
  if (!json || json.success !== true) {
    const { code, message, ...rest } = json || {};
    throw new ApiError(res.status, code || 'BAD_RESPONSE', message, rest);
  }
  return json.data;
}
