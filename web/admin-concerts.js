// admin-concerts.js — the "Concerts and dates" section of the organizer's page: the concerts (GET /concerts, with
// their sale), a new concert (POST /admin/concerts); for one concert its dates (GET /admin/schedules?concertId=),
// a new date with its price ranges (POST /admin/schedules; the page checks that the ranges cover every seat exactly
// once, the server still judges), cancelling a date (POST /admin/schedules/{id}/cancel, after a confirm: every paid
// seat refunded, the count shown); and one date's payments (GET /admin/payments?scheduleId=) with a refund each
// (POST /admin/payments/{id}/refund). Limits: 1..5,000 seats and 1..100 price ranges a date (the contract's),
// the newest PAYMENTS_SHOWN payments of a date.
import { addStrings, t, formatWon, formatTime } from '/static/i18n.js';
import { api, newIdempotencyKey, serverNow } from '/static/api.js';
import { focusOn } from '/static/dom.js';
import {
  call, h, field, msgBox, say, sayError, clearMsg, busy, confirmAction, fmtNum, intIn, markInvalid, onLang,
  localToRfc3339, dateToLocal, stateText, stacked,
} from '/static/admin-ui.js';

export const SEATS_MAX = 5000;
const RANGES_MAX = 100;
const PRICE_MAX = 1000000000;
const PAYMENTS_SHOWN = 100;

addStrings({
  en: {
    'c.h': 'Concerts',
    'c.none': 'No concerts yet.',
    'c.name': 'Name',
    'c.id': 'Id',
    'c.sale': 'Sale',
    'c.noSale': 'no sale',
    'c.dates': 'Dates',
    'c.datesOf': 'Dates',
    'c.datesFor': 'Dates of {name}',
    'c.new.h': 'New concert',
    'c.new.name': 'Concert name (1–64 characters)',
    'c.new.go': 'Create concert',
    'c.new.bad': 'The name must be 1 to 64 characters.',
    'c.new.ok': 'Concert "{name}" created.',
    'c.refresh': 'Refresh',
    'd.none': 'No dates yet (cancelled dates are not listed).',
    'd.date': 'Date',
    'd.startsAt': 'Starts',
    'd.seats': 'Seats',
    'd.reserved': 'Taken',
    'd.available': 'Free',
    'd.actions': 'Actions',
    'd.payments': 'Payments',
    'd.paymentsFor': 'Payments for {date}',
    'd.cancel': 'Cancel date',
    'd.cancelConfirm': 'Cancel the date {date}? Every paid seat is refunded and the date is no longer sold. This cannot be undone.',
    'd.cancelYes': 'Cancel the date',
    'd.cancelled': 'The date {date} is cancelled: {n} payment(s) refunded.',
    'd.new.h': 'New date',
    'd.new.startsAt': 'Starts at (your local time)',
    'd.new.seatCount': 'Number of seats (1–5,000)',
    'd.new.ranges': 'Price categories',
    'd.new.rangesHint': 'Every seat from 1 to the number of seats must be in exactly one range.',
    'd.new.from': 'From seat',
    'd.new.to': 'To seat',
    'd.new.price': 'Price (won)',
    'd.new.category': 'Category (optional)',
    'd.new.add': 'Add a price range',
    'd.new.remove': 'Remove',
    'd.new.removeLabel': 'Remove price range {n}',
    'd.new.rangeN': 'Range {n}',
    'd.new.go': 'Create date',
    'd.new.ok': 'Date created: {date}, {n} seats.',
    'd.bad.startsAt': 'Choose when the date starts, in the future.',
    'd.bad.seatCount': 'The number of seats must be a whole number from 1 to 5,000.',
    'd.bad.range': 'Range {n}: seats must be whole numbers with "from" ≤ "to" ≤ {max}.',
    'd.bad.price': 'Range {n}: the price must be a whole number of won from 1 to 1,000,000,000.',
    'd.bad.category': 'Range {n}: the category can be at most 64 characters.',
    'd.bad.overlap': 'Seat {seat} is in more than one range.',
    'd.bad.gap': 'Seats {from}–{to} have no price.',
    'd.bad.gap1': 'Seat {from} has no price.',
    'd.bad.count': 'Use 1 to 100 price ranges.',
    'p.none': 'No payments for this date yet.',
    'p.id': 'Payment',
    'p.user': 'User',
    'p.seats': 'Seats',
    'p.amount': 'Amount',
    'p.status': 'Status',
    'p.time': 'Paid at',
    'p.status.PAID': 'Paid',
    'p.status.REFUNDED': 'Refunded',
    'p.refund': 'Refund',
    'p.refundLabel': 'Refund payment {id}',
    'p.refundConfirm': 'Refund payment {id} of {amount}? The money goes back to the buyer and the seats are free again.',
    'p.refundYes': 'Refund',
    'p.refunded': 'Payment {id} refunded ({amount}).',
    'p.shown': 'The newest {n} payments are shown.',
  },
  ko: {
    'c.h': '공연',
    'c.none': '아직 공연이 없습니다.',
    'c.name': '이름',
    'c.id': 'ID',
    'c.sale': '판매',
    'c.noSale': '판매 없음',
    'c.dates': '공연일',
    'c.datesOf': '공연일',
    'c.datesFor': '{name} 공연일',
    'c.new.h': '새 공연',
    'c.new.name': '공연 이름 (1–64자)',
    'c.new.go': '공연 만들기',
    'c.new.bad': '이름은 1자에서 64자 사이여야 합니다.',
    'c.new.ok': '공연 "{name}"을(를) 만들었습니다.',
    'c.refresh': '새로 고침',
    'd.none': '아직 공연일이 없습니다 (취소된 공연일은 표시되지 않습니다).',
    'd.date': '날짜',
    'd.startsAt': '시작',
    'd.seats': '좌석',
    'd.reserved': '판매·선점',
    'd.available': '남은 좌석',
    'd.actions': '작업',
    'd.payments': '결제 내역',
    'd.paymentsFor': '{date} 결제 내역',
    'd.cancel': '공연일 취소',
    'd.cancelConfirm': '{date} 공연일을 취소할까요? 결제된 모든 좌석이 환불되고 더 이상 판매되지 않습니다. 되돌릴 수 없습니다.',
    'd.cancelYes': '공연일 취소',
    'd.cancelled': '{date} 공연일을 취소했습니다: 결제 {n}건 환불.',
    'd.new.h': '새 공연일',
    'd.new.startsAt': '시작 시각 (현지 시간)',
    'd.new.seatCount': '좌석 수 (1–5,000)',
    'd.new.ranges': '가격 등급',
    'd.new.rangesHint': '1번부터 마지막 좌석까지 모든 좌석이 정확히 한 구간에 들어가야 합니다.',
    'd.new.from': '시작 좌석',
    'd.new.to': '끝 좌석',
    'd.new.price': '가격 (원)',
    'd.new.category': '등급 (선택)',
    'd.new.add': '가격 구간 추가',
    'd.new.remove': '삭제',
    'd.new.removeLabel': '가격 구간 {n} 삭제',
    'd.new.rangeN': '구간 {n}',
    'd.new.go': '공연일 만들기',
    'd.new.ok': '공연일을 만들었습니다: {date}, 좌석 {n}석.',
    'd.bad.startsAt': '공연 시작 시각을 미래로 선택하세요.',
    'd.bad.seatCount': '좌석 수는 1부터 5,000까지의 정수여야 합니다.',
    'd.bad.range': '구간 {n}: 좌석 번호는 정수이고 "시작" ≤ "끝" ≤ {max}이어야 합니다.',
    'd.bad.price': '구간 {n}: 가격은 1원부터 1,000,000,000원까지의 정수여야 합니다.',
    'd.bad.category': '구간 {n}: 등급 이름은 64자 이하여야 합니다.',
    'd.bad.overlap': '{seat}번 좌석이 두 개 이상의 구간에 들어 있습니다.',
    'd.bad.gap': '{from}–{to}번 좌석에 가격이 없습니다.',
    'd.bad.gap1': '{from}번 좌석에 가격이 없습니다.',
    'd.bad.count': '가격 구간은 1개에서 100개까지입니다.',
    'p.none': '이 공연일의 결제가 아직 없습니다.',
    'p.id': '결제',
    'p.user': '사용자',
    'p.seats': '좌석',
    'p.amount': '금액',
    'p.status': '상태',
    'p.time': '결제 시각',
    'p.status.PAID': '결제됨',
    'p.status.REFUNDED': '환불됨',
    'p.refund': '환불',
    'p.refundLabel': '결제 {id} 환불',
    'p.refundConfirm': '결제 {id} ({amount})를 환불할까요? 금액이 구매자에게 돌아가고 좌석이 다시 풀립니다.',
    'p.refundYes': '환불',
    'p.refunded': '결제 {id}를 환불했습니다 ({amount}).',
    'p.shown': '최근 결제 {n}건까지 표시합니다.',
  },
});

let ctx;
let root;
const state = { concerts: [], concertId: '', dates: [], payDate: null, payments: [] };
const el = {};

export function mount(panel, context) {
  root = panel;
  ctx = context;
  el.concertsMsg = msgBox();
  el.concertsBody = h('div', { class: 'table-wrap' });
  const nameF = field({ id: 'concert-name', label: 'c.new.name', maxlength: 64, required: true });
  el.concertName = nameF.input;
  el.newConcertMsg = msgBox();
  const newConcert = h('form', { id: 'concert-form', novalidate: true, onsubmit: createConcert },
    h('h3', { i18n: 'c.new.h' }), h('div', { class: 'row' }, nameF.wrap,
      h('button', { type: 'submit', i18n: 'c.new.go' })), el.newConcertMsg);
  const concertsCard = h('section', { class: 'card', id: 'concerts', 'aria-labelledby': 'concerts-h' },
    h('div', { class: 'card-head' }, h('h2', { id: 'concerts-h', i18n: 'c.h' }),
      h('button', { type: 'button', class: 'secondary', i18n: 'c.refresh', onclick: () => loadConcerts() })),
    el.concertsMsg, el.concertsBody, newConcert);

  // one concert's dates
  el.datesH = h('h2', { id: 'dates-h' });
  el.datesMsg = msgBox();
  el.datesBody = h('div', { class: 'table-wrap' });
  el.datesCard = h('section', { class: 'card hidden', id: 'dates', 'aria-labelledby': 'dates-h' },
    h('div', { class: 'card-head' }, el.datesH,
      h('button', { type: 'button', class: 'secondary', i18n: 'c.refresh', onclick: () => loadDates() })),
    el.datesMsg, el.datesBody, dateForm());

  // one date's payments
  el.payH = h('h2', { id: 'payments-h' });
  el.payMsg = msgBox();
  el.payBody = h('div', { class: 'table-wrap' });
  el.payCard = h('section', { class: 'card hidden', id: 'payments', 'aria-labelledby': 'payments-h' },
    h('div', { class: 'card-head' }, el.payH,
      h('button', { type: 'button', class: 'secondary', i18n: 'c.refresh', onclick: () => loadPayments() })),
    el.payMsg, el.payBody);

  root.append(concertsCard, el.datesCard, el.payCard);
  onLang(() => { renderConcerts(); renderDates(); renderPayments(); });
}

export function show(arg) {
  if (!arg && state.concertId) ctx.setHash('concerts', state.concertId);
  loadConcerts().then(() => {
    if (arg && arg !== state.concertId) openConcert(arg, false);
    else if (state.concertId) loadDates();
  });
}

export function reset() {
  Object.assign(state, { concerts: [], concertId: '', dates: [], payDate: null, payments: [] });
  el.datesCard.classList.add('hidden');
  el.payCard.classList.add('hidden');
  for (const k of ['concertsMsg', 'datesMsg', 'payMsg', 'newConcertMsg', 'newDateMsg']) clearMsg(el[k]);
}

// ---- concerts ----

async function loadConcerts() {
  try {
    state.concerts = await api('GET', '/concerts'); // the public catalogue: no key needed
    clearMsg(el.concertsMsg);
  } catch (e) {
    sayError(el.concertsMsg, e);
  }
  renderConcerts();
}

function renderConcerts() {
  if (!state.concerts.length) {
    el.concertsBody.replaceChildren(h('p', { class: 'muted', text: t('c.none') }));
    return;
  }
  const rows = state.concerts.map((c) => h('tr', { dataset: { concertId: c.concertId } },
    h('td', {}, h('strong', { text: c.name })),
    h('td', { class: 'num muted', text: c.concertId }),
    h('td', {}, c.sale ? h('span', { class: 'badge state-' + c.sale.state, text: stateText(c.sale.state) })
      : h('span', { class: 'muted', text: t('c.noSale') })),
    h('td', {}, h('button', {
      type: 'button', class: c.concertId === state.concertId ? '' : 'secondary', text: t('c.dates'),
      'aria-label': t('c.datesFor', { name: c.name }), 'aria-pressed': String(c.concertId === state.concertId),
      onclick: () => openConcert(c.concertId, true),
    }))));
  el.concertsBody.replaceChildren(stacked(h('table', { class: 'concerts' },
    h('thead', {}, h('tr', {}, h('th', { text: t('c.name') }), h('th', { text: t('c.id') }),
      h('th', { text: t('c.sale') }), h('th', { text: t('d.actions') }))),
    h('tbody', {}, rows))));
}

async function createConcert(ev) {
  ev.preventDefault();
  const name = el.concertName.value.trim();
  if (name.length < 1 || name.length > 64) {
    markInvalid([el.concertName]);
    say(el.newConcertMsg, 'error', t('c.new.bad'));
    return;
  }
  markInvalid([], [el.concertName]);
  const btn = ev.target.querySelector('button[type=submit]');
  const c = await busy(btn, el.newConcertMsg, () => call('POST', '/admin/concerts', { body: { name } }));
  if (!c) return;
  el.concertName.value = '';
  say(el.newConcertMsg, 'ok', t('c.new.ok', { name: c.name }));
  await loadConcerts();
  openConcert(c.concertId, false);
}

function concertName(id) {
  const c = state.concerts.find((x) => x.concertId === id);
  return c ? c.name : id;
}

function openConcert(id, focus) {
  state.concertId = id;
  state.dates = [];
  ctx.setHash('concerts', id);
  el.datesCard.classList.remove('hidden');
  el.payCard.classList.add('hidden');
  state.payDate = null;
  clearMsg(el.datesMsg);
  renderConcerts();
  renderDates();
  loadDates();
  if (focus) focusOn(el.datesH);
}

// ---- dates ----

async function loadDates() {
  if (!state.concertId) return;
  const id = state.concertId;
  try {
    const dates = await call('GET', '/admin/schedules', { query: { concertId: id } });
    if (id !== state.concertId) return;
    state.dates = dates;
  } catch (e) {
    sayError(el.datesMsg, e);
  }
  renderDates();
}

function dateLabel(d) { return formatTime(d.startsAt); }

function renderDates() {
  el.datesH.textContent = t('c.datesFor', { name: concertName(state.concertId) });
  if (!state.dates.length) {
    el.datesBody.replaceChildren(h('p', { class: 'muted', text: t('d.none') }));
    return;
  }
  const rows = state.dates.map((d) => h('tr', { dataset: { scheduleId: d.scheduleId } },
    h('td', {}, h('span', {}, h('strong', { text: dateLabel(d) }), ' ', h('span', { class: 'muted', text: '#' + d.scheduleId }))),
    h('td', { class: 'num', text: fmtNum(d.totalSeats) }),
    h('td', { class: 'num', text: fmtNum(d.reservedSeats) }),
    h('td', { class: 'num', text: fmtNum(d.availableSeats) }),
    h('td', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', text: t('d.payments'), 'data-action': 'payments',
        'aria-label': t('d.paymentsFor', { date: dateLabel(d) }), onclick: () => openPayments(d) }),
      h('button', { type: 'button', class: 'danger', text: t('d.cancel'), 'data-action': 'cancel',
        onclick: (ev) => cancelDate(d, ev.currentTarget) }))));
  el.datesBody.replaceChildren(stacked(h('table', { class: 'dates' },
    h('thead', {}, h('tr', {}, h('th', { text: t('d.startsAt') }), h('th', { class: 'num', text: t('d.seats') }),
      h('th', { class: 'num', text: t('d.reserved') }), h('th', { class: 'num', text: t('d.available') }),
      h('th', { text: t('d.actions') }))),
    h('tbody', {}, rows))));
}

async function cancelDate(d, btn) {
  const date = dateLabel(d);
  if (!await confirmAction(t('d.cancelConfirm', { date }), t('d.cancelYes'))) { btn.focus(); return; }
  const r = await busy(btn, el.datesMsg, () => call('POST', `/admin/schedules/${encodeURIComponent(d.scheduleId)}/cancel`));
  if (!r) return;
  say(el.datesMsg, 'ok', t('d.cancelled', { date, n: fmtNum(r.refunded) }));
  el.datesMsg.firstChild.dataset.refunded = String(r.refunded);
  await loadDates();
  if (state.payDate && state.payDate.scheduleId === d.scheduleId) loadPayments();
  focusOn(el.datesH);
}

// The new-date form: starts at, seat count, price ranges (editable rows).
function dateForm() {
  const soon = new Date(Date.now() + 7 * 86400000);
  soon.setHours(19, 0, 0, 0);
  const startsF = field({ id: 'date-starts', label: 'd.new.startsAt', type: 'datetime-local', value: dateToLocal(soon),
    required: true });
  const countF = field({ id: 'date-seats', label: 'd.new.seatCount', type: 'number', value: '50', min: 1,
    max: SEATS_MAX, inputmode: 'numeric', required: true });
  el.dateStarts = startsF.input;
  el.dateSeats = countF.input;
  el.ranges = h('div', { class: 'ranges', id: 'price-ranges' });
  el.newDateMsg = msgBox();
  let lastCount = 50;
  el.dateSeats.addEventListener('change', () => {
    // the last range follows the seat count when it ended at the old count (the usual single-category case)
    const n = intIn(el.dateSeats.value, 1, SEATS_MAX);
    const rows = el.ranges.querySelectorAll('.range');
    const last = rows[rows.length - 1];
    if (n && last && intIn(last.querySelector('.to').value, 1, SEATS_MAX) === lastCount)
      last.querySelector('.to').value = String(n);
    if (n) lastCount = n;
  });
  const form = h('form', { id: 'date-form', novalidate: true, onsubmit: createDate },
    h('h3', { i18n: 'd.new.h' }),
    h('div', { class: 'row' }, startsF.wrap, countF.wrap),
    h('fieldset', { class: 'ranges-set', 'aria-describedby': 'ranges-hint' },
      h('legend', { i18n: 'd.new.ranges' }),
      h('p', { id: 'ranges-hint', class: 'hint muted', i18n: 'd.new.rangesHint' }),
      el.ranges,
      h('button', { type: 'button', class: 'secondary', id: 'add-range', i18n: 'd.new.add', onclick: () => addRange(true) })),
    h('div', { class: 'row' }, h('button', { type: 'submit', i18n: 'd.new.go' })),
    el.newDateMsg);
  addRange(false, { from: 1, to: 50, price: 50000, category: '' });
  return form;
}

let rangeSeq = 0;
function addRange(focus, init) {
  const rows = el.ranges.querySelectorAll('.range');
  const seats = intIn(el.dateSeats.value, 1, SEATS_MAX) || SEATS_MAX;
  let from = 1, to = seats;
  if (rows.length) {
    // after the last range; when that one already reaches the last seat, it is split in two
    const prev = rows[rows.length - 1];
    const pf = intIn(prev.querySelector('.from').value, 1, SEATS_MAX);
    const pt = intIn(prev.querySelector('.to').value, 1, SEATS_MAX);
    if (pt && pt < seats) from = pt + 1;
    else if (pf && pt && pf < pt) {
      const mid = Math.floor((pf + pt) / 2);
      prev.querySelector('.to').value = String(mid);
      from = mid + 1;
      to = pt;
    } else { from = ''; to = ''; }
  }
  const v = init || { from, to, price: '', category: '' };
  const n = ++rangeSeq;
  const mk = (cls, label, value, extra = {}) => {
    const id = `range-${n}-${cls}`;
    return h('div', { class: 'field' }, h('label', { for: id, i18n: label }),
      h('input', { id, class: cls, value: String(value), autocomplete: 'off', ...extra }));
  };
  const row = h('div', { class: 'range', role: 'group' },
    mk('from', 'd.new.from', v.from, { type: 'number', min: 1, max: SEATS_MAX, inputmode: 'numeric' }),
    mk('to', 'd.new.to', v.to, { type: 'number', min: 1, max: SEATS_MAX, inputmode: 'numeric' }),
    mk('price', 'd.new.price', v.price, { type: 'number', min: 1, max: PRICE_MAX, inputmode: 'numeric' }),
    mk('category', 'd.new.category', v.category, { maxlength: 64 }),
    h('button', { type: 'button', class: 'secondary remove', i18n: 'd.new.remove', onclick: () => {
      if (el.ranges.querySelectorAll('.range').length > 1) { row.remove(); labelRanges(); el.ranges.querySelector('input').focus(); }
    } }));
  el.ranges.append(row);
  labelRanges();
  if (focus) row.querySelector('.price').focus();
}

// Each range's group name and remove button say which range they are ("Range 2").
function labelRanges() {
  const rows = el.ranges.querySelectorAll('.range');
  rows.forEach((r, i) => {
    r.setAttribute('aria-label', t('d.new.rangeN', { n: i + 1 }));
    const rm = r.querySelector('.remove');
    rm.setAttribute('aria-label', t('d.new.removeLabel', { n: i + 1 }));
    rm.disabled = rows.length === 1;
  });
}
onLang(() => { if (el.ranges) labelRanges(); });

// → {prices} or {error, bad: [inputs]}: the contract's rules for a date, checked before the server sees them.
export function checkRanges(rowsIn, seatCount) {
  if (rowsIn.length < 1 || rowsIn.length > RANGES_MAX) return { error: t('d.bad.count'), bad: [] };
  const prices = [];
  const owner = new Int32Array(seatCount + 1);
  for (let i = 0; i < rowsIn.length; i++) {
    const r = rowsIn[i];
    const from = intIn(r.from.value, 1, seatCount), to = intIn(r.to.value, 1, seatCount);
    if (from === null || to === null || from > to)
      return { error: t('d.bad.range', { n: i + 1, max: fmtNum(seatCount) }), bad: [from === null ? r.from : r.to] };
    const price = intIn(r.price.value, 1, PRICE_MAX);
    if (price === null) return { error: t('d.bad.price', { n: i + 1 }), bad: [r.price] };
    const category = r.category.value.trim();
    if (category.length > 64) return { error: t('d.bad.category', { n: i + 1 }), bad: [r.category] };
    for (let s = from; s <= to; s++) {
      if (owner[s]) return { error: t('d.bad.overlap', { seat: fmtNum(s) }), bad: [r.from, r.to] };
      owner[s] = i + 1;
    }
    const p = { fromSeat: from, toSeat: to, price };
    if (category) p.category = category;
    prices.push(p);
  }
  for (let s = 1; s <= seatCount; s++) {
    if (owner[s]) continue;
    let e = s;
    while (e < seatCount && !owner[e + 1]) e++;
    return { error: t(e === s ? 'd.bad.gap1' : 'd.bad.gap', { from: fmtNum(s), to: fmtNum(e) }), bad: [] };
  }
  return { prices };
}

async function createDate(ev) {
  ev.preventDefault();
  const rows = [...el.ranges.querySelectorAll('.range')].map((r) => ({
    from: r.querySelector('.from'), to: r.querySelector('.to'), price: r.querySelector('.price'),
    category: r.querySelector('.category'),
  }));
  const all = [el.dateStarts, el.dateSeats, ...rows.flatMap((r) => [r.from, r.to, r.price, r.category])];
  const startsAt = localToRfc3339(el.dateStarts.value);
  if (!startsAt || new Date(startsAt).getTime() <= serverNow()) {
    markInvalid([el.dateStarts], all);
    return say(el.newDateMsg, 'error', t('d.bad.startsAt'));
  }
  const seatCount = intIn(el.dateSeats.value, 1, SEATS_MAX);
  if (seatCount === null) {
    markInvalid([el.dateSeats], all);
    return say(el.newDateMsg, 'error', t('d.bad.seatCount'));
  }
  const chk = checkRanges(rows, seatCount);
  if (chk.error) {
    markInvalid(chk.bad, all);
    return say(el.newDateMsg, 'error', chk.error);
  }
  markInvalid([], all);
  const btn = ev.target.querySelector('button[type=submit]');
  const d = await busy(btn, el.newDateMsg, () => call('POST', '/admin/schedules', {
    body: { concertId: state.concertId, startsAt, seatCount, prices: chk.prices },
  }));
  if (!d) return;
  say(el.newDateMsg, 'ok', t('d.new.ok', { date: dateLabel(d), n: fmtNum(d.totalSeats) }));
  loadDates();
}

// ---- payments of one date ----

function openPayments(d) {
  state.payDate = d;
  state.payments = [];
  el.payCard.classList.remove('hidden');
  clearMsg(el.payMsg);
  renderPayments();
  loadPayments().then(() => focusOn(el.payH));
}

async function loadPayments() {
  const d = state.payDate;
  if (!d) return;
  try {
    const list = await call('GET', '/admin/payments', { query: { scheduleId: d.scheduleId, limit: PAYMENTS_SHOWN } });
    if (state.payDate !== d) return;
    state.payments = list;
  } catch (e) {
    sayError(el.payMsg, e);
  }
  renderPayments();
}

function seatsText(p) {
  return (p.seats || []).map((s) => s.seatNumber + (s.category ? ` (${s.category})` : '')).join(', ');
}

function renderPayments() {
  const d = state.payDate;
  if (!d) return;
  el.payH.textContent = t('d.paymentsFor', { date: dateLabel(d) });
  if (!state.payments.length) {
    el.payBody.replaceChildren(h('p', { class: 'muted', text: t('p.none') }));
    return;
  }
  const rows = state.payments.map((p) => h('tr', { dataset: { paymentId: p.paymentId, status: p.status } },
    h('td', { class: 'num', text: '#' + p.paymentId }),
    h('td', { class: 'num', text: p.userId ?? '' }),
    h('td', { text: seatsText(p) }),
    h('td', { class: 'num', text: formatWon(p.amount) }),
    h('td', {}, h('span', { class: 'badge pay-' + p.status, 'data-status': p.status, text: t('p.status.' + p.status) })),
    h('td', { text: formatTime(p.createdAt) }),
    h('td', {}, p.status === 'PAID' ? h('button', {
      type: 'button', class: 'danger', text: t('p.refund'), 'aria-label': t('p.refundLabel', { id: p.paymentId }),
      onclick: (ev) => refund(p, ev.currentTarget),
    }) : null)));
  const table = stacked(h('table', { class: 'payments' },
    h('thead', {}, h('tr', {}, h('th', { text: t('p.id') }), h('th', { text: t('p.user') }),
      h('th', { text: t('p.seats') }), h('th', { class: 'num', text: t('p.amount') }), h('th', { text: t('p.status') }),
      h('th', { text: t('p.time') }), h('th', { text: t('d.actions') }))),
    h('tbody', {}, rows)));
  el.payBody.replaceChildren(table);
  if (state.payments.length >= PAYMENTS_SHOWN) el.payBody.append(h('p', { class: 'muted', text: t('p.shown', { n: PAYMENTS_SHOWN }) }));
}

async function refund(p, btn) {
  const amount = formatWon(p.amount);
  if (!await confirmAction(t('p.refundConfirm', { id: p.paymentId, amount }), t('p.refundYes'))) { btn.focus(); return; }
  const r = await busy(btn, el.payMsg, () => call('POST', `/admin/payments/${encodeURIComponent(p.paymentId)}/refund`,
    { idem: newIdempotencyKey() }));
  if (!r) return;
  say(el.payMsg, 'ok', t('p.refunded', { id: p.paymentId, amount }));
  await loadPayments();
  loadDates();
  focusOn(el.payH);
}
