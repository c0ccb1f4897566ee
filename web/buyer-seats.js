// buyer-seats.js — the steps after the queue admitted the buyer (an ACTIVE token): the dates
// (GET /concert/available-dates), the seat map (GET /concert/seat-map, read again every REFRESH_MS while shown and
// right after a failed hold), holding the picked seats (POST /reservation), the hold with its countdown, cancelling
// it (DELETE /reservation/{id}) or paying (POST /payment), and the receipt. A token that lapsed or was refused hands
// back to the queue (onTurnOver). Limits: one date and one hold at a time; paying ends the token's turn.
import { api, serverNow } from '/static/api.js';
import { t, formatWon, formatTime, errorText } from '/static/i18n.js';
import * as state from './buyer-state.js';
import { $, h, focusOn, countdown, formatDuration, setEnabled } from '/static/dom.js';
import { fill, act, say, showError, announce, pairs, clearNotices } from './buyer-ui.js';
import * as seatmap from './buyer-seatmap.js';

const REFRESH_MS = 2000;

let ctx = null;          // {onBack, onTurnOver, showStep} from buyer-queue.js
let dates = null;        // last available-dates
let refreshTimer = null;
let refreshGen = 0;      // bumped by stopRefresh: a seat map read begun before it does not start the timer again
let reading = false;     // a seat-map read is in flight
let stopTurn = null, stopHold = null;
let receipt = null;      // the last payment, for the receipt

const flow = () => state.flow() || {};
const token = () => flow().token;

export function init(c) {
  ctx = c;
  seatmap.init({ onPick: picked });
  $('hold-button').addEventListener('click', (e) => act(e.currentTarget, holdSeats));
  $('seats-back').addEventListener('click', () => { stopRefresh(); showDates(); });
  // paying and cancelling exclude each other: while one is in flight the other button is off
  $('pay-button').addEventListener('click', (e) => act(e.currentTarget, () => excluding($('cancel-hold'), pay)));
  $('cancel-hold').addEventListener('click', (e) => act(e.currentTarget, () => excluding($('pay-button'), cancelHold)));
  $('receipt-again').addEventListener('click', () => ctx.onBack());
  state.on('lang', relabel);
  state.on('signout', () => { stop(); dates = null; receipt = null; seatmap.reset(); });
}

async function excluding(other, fn) {
  setEnabled(other, false);
  try { return await fn(); } finally { setEnabled(other, true); }
}

// The queue admitted the buyer (f = the flow with its ACTIVE token).
export function start(f) {
  startTurn(f);
  showDates();
}

// A reload while seats were held: show the hold again.
export function resumeHold(f) {
  startTurn(f);
  showHold(f.hold);
}

export function stop() {
  stopRefresh();
  if (stopTurn) { stopTurn(); stopTurn = null; }
  if (stopHold) { stopHold(); stopHold = null; }
}

function startTurn(f) {
  if (stopTurn) stopTurn();
  stopTurn = null;
  if (!f.expiresAt) { for (const el of document.querySelectorAll('.turn-timer')) el.textContent = ''; return; }
  stopTurn = countdown(document.querySelectorAll('.turn-timer'), f.expiresAt,
    (left) => t('turn.left', { time: formatDuration(left) }), () => ctx.onTurnOver(), announce);
}

// A call with the token; a refused token (lapsed, not admitted, another room) ends the turn.
async function gated(fn) {
  try {
    return await fn();
  } catch (e) {
    if (e.status === 401 || e.code === 'NOT_ADMITTED' || e.code === 'FORBIDDEN' || e.code === 'SALE_CLOSED') {
      ctx.onTurnOver(e);
      return undefined;
    }
    throw e;
  }
}

async function showDates() {
  ctx.showStep('dates');
  focusOn($('dates-title'));
  fill($('date-list'), h('li', { class: 'muted', text: t('common.loading') }));
  await act(null, () => gated(async () => {
    dates = await api('GET', '/concert/available-dates', { token: token(), query: { concertId: flow().concertId } });
    renderDates();
  }));
}

function dateText(d) { return formatTime(d.startsAt) || d.date; }

function renderDates() {
  if (!dates) return;
  if (!dates.length) { fill($('date-list'), h('li', { class: 'muted', text: t('dates.none') })); return; }
  fill($('date-list'), ...dates.map((d) => h('li', {}, h('button', {
    type: 'button', class: 'date',
    onclick: () => pickDate(d),
  }, h('strong', { text: dateText(d) }), ' ', h('span', { text: t('dates.free', { n: d.availableSeats, total: d.totalSeats }) })))));
}

function pickDate(d) {
  if (flow().schedule?.scheduleId !== d.scheduleId) seatmap.reset();
  state.patchFlow({ schedule: d });
  showSeats();
}

async function showSeats() {
  const d = flow().schedule;
  ctx.showStep('seats');
  $('seats-title').textContent = t('seats.title', { date: dateText(d) });
  picked({ kind: 'changed' });
  focusOn($('seats-title'));
  stopRefresh();
  const gen = refreshGen;
  await readSeats();
  if (gen !== refreshGen) return; // the buyer moved on (or this step was shown again) meanwhile
  refreshTimer = setInterval(() => { readSeats(); }, REFRESH_MS);
}

function stopRefresh() { clearInterval(refreshTimer); refreshTimer = null; refreshGen++; }

async function readSeats() {
  // no read while another is in flight, nor while the buyer is on another tab (the next tick catches up)
  if (reading || $('view-tickets').classList.contains('hidden')) return;
  reading = true;
  const d = flow().schedule;
  try {
    const seats = await gated(() => api('GET', '/concert/seat-map', { token: token(), query: { concertScheduleId: d.scheduleId } }));
    if (seats && !$('seats').classList.contains('hidden')) seatmap.render(d.scheduleId, seats);
  } catch (e) {
    showError(e);
  } finally {
    reading = false;
  }
}

// The selection changed (or could not): the summary line and the hold button.
function picked(ev) {
  const seats = seatmap.pickedSeats();
  const sum = seats.reduce((a, s) => a + s.price, 0);
  $('selection').textContent = seats.length
    ? t('seats.picked', { n: seats.length, max: seatmap.MAX_PICK, seats: seats.map((s) => s.seatNumber).join(', '), amount: formatWon(sum) })
    : t('seats.none', { max: seatmap.MAX_PICK });
  setEnabled($('hold-button'), seats.length > 0);
  if (ev.kind === 'changed' && ev.byBuyer) clearNotices();
  if (ev.kind === 'limit') showError(t('seats.limit', { max: seatmap.MAX_PICK }));
  if (ev.kind === 'lost') showError(t('seats.lost', { seats: ev.seats.map((s) => s.seatNumber).join(', ') }));
}

async function holdSeats() {
  const seatIds = seatmap.pickedSeats().map((s) => s.seatId);
  const body = { seatIds };
  try {
    const r = await gated(() => state.withIdem('hold', body,
      (idem) => api('POST', '/reservation', { token: token(), body, idem })));
    if (!r) return;
    stopRefresh();
    seatmap.clearPicks();
    state.patchFlow({ hold: r });
    showHold(r);
  } catch (e) {
    if (e.code === 'SEAT_UNAVAILABLE') seatmap.markTaken(e.data.unavailableSeatIds || seatIds);
    showError(e);
    announce(errorText(e));
    readSeats();
  }
}

function seatLine(s) {
  return t('seat.line', { n: s.seatNumber, cat: s.category || t('seat.noCategory'), price: formatWon(s.price) });
}

function seatsOf(r) { return r.seats && r.seats.length ? r.seats : [{ seatNumber: r.seatNumber, price: r.price, category: null }]; }

function showHold(r) {
  ctx.showStep('hold');
  renderHold(r);
  if (stopHold) stopHold();
  stopHold = countdown($('hold-timer'), r.expiresAt,
    (left) => t('hold.left', { time: formatDuration(left) }), holdRanOut, announce);
  focusOn($('hold-title'));
  announce(t('hold.announce', { time: formatDuration((Date.parse(r.expiresAt) - serverNow()) / 1000) }));
}

function renderHold(r) {
  const d = flow().schedule || {};
  fill($('hold-detail'), pairs([
    [t('receipt.concert'), flow().concertName || ''],
    [t('receipt.date'), d.startsAt ? dateText(d) : ''],
  ]), h('ul', { class: 'seat-lines' }, ...seatsOf(r).map((s) => h('li', { text: seatLine(s) }))),
  h('p', { class: 'total' }, t('hold.total') + ': ', h('strong', { text: formatWon(r.amount ?? r.price) })));
}

function holdRanOut() {
  stopHold = null;
  state.patchFlow({ hold: null });
  showError(t('err.HOLD_EXPIRED'));
  showSeats();
}

async function pay() {
  const r = flow().hold;
  if (!r) return;
  const body = { reservationId: r.reservationId };
  try {
    const p = await gated(() => state.withIdem('pay:' + r.reservationId, body,
      (idem) => api('POST', '/payment', { token: token(), body, idem })));
    if (!p) return;
    if (stopHold) { stopHold(); stopHold = null; }
    stop();
    receipt = { ...p, concertName: p.concertName || flow().concertName, startsAt: flow().schedule?.startsAt };
    state.saveFlow(null); // paying ends the token's turn: buying more means queueing again
    state.setBalance(p.balance);
    showReceipt();
  } catch (e) {
    if (e.code === 'ALREADY_PAID') { alreadyPaid(); return; }
    if (e.code !== 'HOLD_EXPIRED') throw e;
    if (stopHold) { stopHold(); stopHold = null; }
    holdRanOut();
  }
}

// The hold was paid by an earlier attempt whose answer never came (a reload, a lost connection): the tickets are
// the buyer's; the receipt is under "My tickets".
function alreadyPaid() {
  stop();
  state.saveFlow(null);
  state.refreshBalance().catch(() => { /* the header shows … until the next change */ });
  ctx.onBack();
  say(t('hold.alreadyPaid'));
}

async function cancelHold() {
  const r = flow().hold;
  if (!r) return;
  await gated(() => api('DELETE', `/reservation/${encodeURIComponent(r.reservationId)}`, { token: token() }))
    .catch((e) => { if (e.code !== 'HOLD_EXPIRED') throw e; });
  if (stopHold) { stopHold(); stopHold = null; }
  state.patchFlow({ hold: null });
  say(t('hold.cancelled'));
  showSeats();
}

function showReceipt() {
  ctx.showStep('receipt');
  renderReceipt();
  focusOn($('receipt-title'));
  announce(t('receipt.announce', { amount: formatWon(receipt.amount) }));
}

function renderReceipt() {
  const p = receipt;
  fill($('receipt-detail'), pairs([
    [t('receipt.concert'), p.concertName],
    [t('receipt.date'), p.startsAt ? formatTime(p.startsAt) : p.date],
    [t('receipt.payment'), p.paymentId],
  ]), h('ul', { class: 'seat-lines', 'aria-label': t('receipt.seats') }, ...seatsOf(p).map((s) => h('li', { text: seatLine(s) }))),
  pairs([[t('receipt.amount'), formatWon(p.amount)], [t('receipt.balance'), formatWon(p.balance)]]),
  h('p', { class: 'muted', text: t('receipt.note') }));
}

function relabel() {
  renderDates();
  seatmap.relabel();
  if (!$('seats').classList.contains('hidden')) {
    const d = flow().schedule;
    if (d) $('seats-title').textContent = t('seats.title', { date: dateText(d) });
    picked({ kind: 'changed' });
  }
  if (flow().hold) renderHold(flow().hold);
  if (receipt) renderReceipt();
}
