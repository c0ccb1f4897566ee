// buyer-state.js — what the buyers' page remembers: the signed-in user (API key in localStorage, so a visit later
// is still signed in, until "forget me"), the current balance (shown in the header), the purchase in progress
// (sessionStorage, so a reload keeps the place in line and the hold), and Idempotency-Keys reused when the same
// action is retried after an unanswered attempt (sessionStorage too, so a reload mid-payment cannot pay twice). Listeners hear about balance and language changes.
import { api, newIdempotencyKey } from '/static/api.js';

const USER_KEY = 'ticketd.buyer.user';
const FLOW_KEY = 'ticketd.buyer.flow';

const listeners = { balance: [], lang: [], signout: [] };
export function on(what, fn) { listeners[what].push(fn); }
export function emit(what, arg) { for (const fn of listeners[what]) fn(arg); }

let user = readJson(localStorage, USER_KEY); // {apiKey, userId, name}
let balance = null;

function readJson(store, key) {
  try { return JSON.parse(store.getItem(key) || 'null'); } catch { return null; }
}

export const currentUser = () => user;
export const key = () => (user ? user.apiKey : null);
export const currentBalance = () => balance;

export function signIn(u) {
  user = { apiKey: u.apiKey, userId: u.userId, name: u.name || '' };
  localStorage.setItem(USER_KEY, JSON.stringify(user));
}

export function signOut() {
  user = null;
  balance = null;
  localStorage.removeItem(USER_KEY);
  sessionStorage.clear();
  emit('signout');
}

export function setBalance(b) {
  balance = b;
  emit('balance', b);
}

// Reads the balance again (GET /user/check).
export async function refreshBalance() {
  const d = await api('GET', '/user/check', { key: key() });
  setBalance(d.balance);
  return d;
}

// The purchase in progress: {concertId, concertName, token, schedule?, hold?} or null.
export const flow = () => readJson(sessionStorage, FLOW_KEY);
export function saveFlow(f) {
  if (f) sessionStorage.setItem(FLOW_KEY, JSON.stringify(f));
  else sessionStorage.removeItem(FLOW_KEY);
}
export function patchFlow(changes) {
  const f = flow();
  if (f) saveFlow({ ...f, ...changes });
}

// An error the server did not decide (no answer, a timeout, a 5xx): the same action may be retried with its key.
const unanswered = (e) => e && (e.status === 0 || e.status >= 500);
const PENDING_KEY = 'ticketd.buyer.pending'; // action name → {body, key}, in sessionStorage: a reload mid-call keeps it
const pendingKeys = () => readJson(sessionStorage, PENDING_KEY) || {};
function savePending(all) {
  if (Object.keys(all).length) sessionStorage.setItem(PENDING_KEY, JSON.stringify(all));
  else sessionStorage.removeItem(PENDING_KEY);
}

// Calls fn(idempotencyKey) for one user action: a retry of the same action with the same body after an unanswered
// attempt reuses the key — also after a reload in the middle of the call (a payment whose answer was lost replays
// its first answer instead of failing or paying twice); any answer from the server retires it.
export async function withIdem(action, body, fn) {
  const json = JSON.stringify(body ?? null);
  let p = pendingKeys()[action];
  if (!p || p.body !== json) {
    p = { body: json, key: newIdempotencyKey() };
    savePending({ ...pendingKeys(), [action]: p });
  }
  const retire = () => { const all = pendingKeys(); delete all[action]; savePending(all); };
  try {
    const r = await fn(p.key);
    retire();
    return r;
  } catch (e) {
    if (!unanswered(e)) retire();
    throw e;
  }
}
