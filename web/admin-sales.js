// admin-sales.js — the "Sales" section of the organizer's page: a new sale for a concert (POST /admin/sales: the
// opening in local time sent as RFC 3339 UTC, the limits), every sale (GET /admin/sales), and one sale's live
// dashboard: its state with Open / Pause / Close, maxActive and admitPerSec changed live (PATCH /admin/sales/{id}),
// and GET /admin/sales/{id} once a second feeding three charts (chart.js) — waiting over time, admitted in the last
// minute against the target (admitPerSec × 60), time in queue (p50, p95) — and the numbers. Limits: one request in
// flight at a time (the next starts a second after the last began, or at once if it took longer); the charts keep the
// last WINDOW_POINTS samples (10 minutes at one a second).
import { addStrings, t, lang, formatTime } from '/static/i18n.js';
import { api } from '/static/api.js';
import { focusOn } from '/static/dom.js';
import {
  call, h, field, msgBox, say, sayError, clearMsg, busy, confirmAction, fmtNum, fmtSeconds, intIn, markInvalid,
  onLang, localToRfc3339, stateText, stacked,
} from '/static/admin-ui.js';
import { lineChart } from '/static/chart.js';

const POLL_MS = 1000;
const WINDOW_POINTS = 600;
const MAX_ACTIVE_MAX = 1000000, ADMIT_PER_SEC_MAX = 100000, TOKEN_S_MIN = 10, TOKEN_S_MAX = 86400;

addStrings({
  en: {
    'a.state.SCHEDULED': 'Scheduled', 'a.state.OPEN': 'Open', 'a.state.PAUSED': 'Paused', 'a.state.CLOSED': 'Closed',
    'a.state.SOLD_OUT': 'Sold out',
    's.new.h': 'New sale',
    's.new.concert': 'Concert',
    's.new.pick': 'Choose a concert',
    's.new.hasSale': '{name} (has a sale)',
    's.new.opensAt': 'Opens at (your local time)',
    's.new.opensHint': 'Leave empty to open now.',
    's.new.maxActive': 'Most buyers inside at once (maxActive)',
    's.new.admitPerSec': 'Admitted per second at most (admitPerSec)',
    's.new.tokenSeconds': 'Seconds a buyer may shop once admitted (tokenSeconds, 10–86,400)',
    's.new.go': 'Create sale',
    's.new.ok': 'Sale #{id} created for {name}.',
    's.bad.concert': 'Choose the concert the sale is for.',
    's.bad.opensAt': 'The opening time is not a valid date and time.',
    's.bad.maxActive': 'maxActive must be a whole number from 1 to 1,000,000.',
    's.bad.admitPerSec': 'admitPerSec must be a whole number from 1 to 100,000.',
    's.bad.tokenSeconds': 'tokenSeconds must be a whole number from 10 to 86,400.',
    's.list.h': 'Sales',
    's.list.none': 'No sales yet.',
    's.col.sale': 'Sale',
    's.col.concert': 'Concert',
    's.col.state': 'State',
    's.col.opensAt': 'Opens',
    's.col.limits': 'Limits',
    's.limits': '{max} inside · {rate}/s · {tok} s',
    's.watch': 'Dashboard',
    's.watchLabel': 'Open the dashboard of sale {id}',
    's.refresh': 'Refresh',
    'dash.h': 'Sale #{id} — {name}',
    'dash.close': 'Close dashboard',
    'dash.state': 'State',
    'dash.updated': 'Updated {time}',
    'dash.controls': 'Sale state',
    'dash.open': 'Open',
    'dash.pause': 'Pause',
    'dash.closeSale': 'Close',
    'dash.closeConfirm': 'Close sale #{id}? Nobody more is admitted and new buyers are turned away until you open it again.',
    'dash.closeYes': 'Close the sale',
    'dash.stateSet': 'The sale is now {state}.',
    'dash.limits': 'Limits, applied live',
    'dash.apply': 'Apply limits',
    'dash.applied': 'Applied: at most {max} inside, {rate} admitted a second.',
    'dash.nothing': 'Those are the limits already.',
    'stat.waiting': 'Waiting',
    'stat.active': 'Inside (active)',
    'stat.admittedTotal': 'Admitted in all',
    'stat.admittedLastMinute': 'Admitted in the last minute',
    'stat.target': 'Target a minute',
    'stat.abandoned': 'Gave up waiting',
    'stat.p50': 'Time in queue, median',
    'stat.p95': 'Time in queue, 95th percentile',
    'stat.seatsFree': 'Seats free',
    'stat.seatsHeld': 'Seats held',
    'stat.seatsSold': 'Seats sold',
    'chart.waiting.h': 'Waiting over time',
    'chart.waiting.s': 'Waiting',
    'chart.people': 'people',
    'chart.time': 'time',
    'chart.admitted.h': 'Admitted per minute against the target',
    'chart.admitted.s': 'Admitted in the last minute',
    'chart.admitted.target': 'Target (admitPerSec × 60)',
    'chart.perMin': 'per minute',
    'chart.wait.h': 'Time in queue',
    'chart.wait.p50': 'Median (p50)',
    'chart.wait.p95': '95th percentile (p95)',
    'chart.seconds': 'seconds',
  },
  ko: {
    'a.state.SCHEDULED': '오픈 예정', 'a.state.OPEN': '진행 중', 'a.state.PAUSED': '일시 중지', 'a.state.CLOSED': '종료',
    'a.state.SOLD_OUT': '매진',
    's.new.h': '새 판매',
    's.new.concert': '공연',
    's.new.pick': '공연을 선택하세요',
    's.new.hasSale': '{name} (판매 있음)',
    's.new.opensAt': '오픈 시각 (현지 시간)',
    's.new.opensHint': '비워 두면 지금 엽니다.',
    's.new.maxActive': '동시에 입장할 수 있는 최대 인원 (maxActive)',
    's.new.admitPerSec': '초당 최대 입장 인원 (admitPerSec)',
    's.new.tokenSeconds': '입장 후 구매할 수 있는 시간(초) (tokenSeconds, 10–86,400)',
    's.new.go': '판매 만들기',
    's.new.ok': '{name}의 판매 #{id}를 만들었습니다.',
    's.bad.concert': '판매할 공연을 선택하세요.',
    's.bad.opensAt': '오픈 시각이 올바른 날짜와 시간이 아닙니다.',
    's.bad.maxActive': 'maxActive는 1부터 1,000,000까지의 정수여야 합니다.',
    's.bad.admitPerSec': 'admitPerSec는 1부터 100,000까지의 정수여야 합니다.',
    's.bad.tokenSeconds': 'tokenSeconds는 10부터 86,400까지의 정수여야 합니다.',
    's.list.h': '판매 목록',
    's.list.none': '아직 판매가 없습니다.',
    's.col.sale': '판매',
    's.col.concert': '공연',
    's.col.state': '상태',
    's.col.opensAt': '오픈',
    's.col.limits': '제한',
    's.limits': '동시 {max}명 · 초당 {rate}명 · {tok}초',
    's.watch': '대시보드',
    's.watchLabel': '판매 {id} 대시보드 열기',
    's.refresh': '새로 고침',
    'dash.h': '판매 #{id} — {name}',
    'dash.close': '대시보드 닫기',
    'dash.state': '상태',
    'dash.updated': '{time} 갱신',
    'dash.controls': '판매 상태',
    'dash.open': '열기',
    'dash.pause': '일시 중지',
    'dash.closeSale': '종료',
    'dash.closeConfirm': '판매 #{id}를 종료할까요? 다시 열 때까지 더 입장할 수 없고 새 구매자는 대기열에 들어올 수 없습니다.',
    'dash.closeYes': '판매 종료',
    'dash.stateSet': '판매 상태: {state}.',
    'dash.limits': '제한 (즉시 적용)',
    'dash.apply': '제한 적용',
    'dash.applied': '적용됨: 동시 최대 {max}명, 초당 {rate}명 입장.',
    'dash.nothing': '이미 그 제한입니다.',
    'stat.waiting': '대기 중',
    'stat.active': '입장 중 (활성)',
    'stat.admittedTotal': '누적 입장',
    'stat.admittedLastMinute': '최근 1분 입장',
    'stat.target': '분당 목표',
    'stat.abandoned': '대기 포기',
    'stat.p50': '대기 시간 중앙값',
    'stat.p95': '대기 시간 95백분위',
    'stat.seatsFree': '남은 좌석',
    'stat.seatsHeld': '선점된 좌석',
    'stat.seatsSold': '판매된 좌석',
    'chart.waiting.h': '대기 인원 추이',
    'chart.waiting.s': '대기 중',
    'chart.people': '명',
    'chart.time': '시각',
    'chart.admitted.h': '분당 입장 대 목표',
    'chart.admitted.s': '최근 1분 입장',
    'chart.admitted.target': '목표 (admitPerSec × 60)',
    'chart.perMin': '분당',
    'chart.wait.h': '대기 시간',
    'chart.wait.p50': '중앙값 (p50)',
    'chart.wait.p95': '95백분위 (p95)',
    'chart.seconds': '초',
  },
});

const STATS = [
  ['waiting', 'stat.waiting'], ['active', 'stat.active'], ['admittedTotal', 'stat.admittedTotal'],
  ['admittedLastMinute', 'stat.admittedLastMinute'], ['target', 'stat.target'], ['abandoned', 'stat.abandoned'],
  ['queueWaitP50Seconds', 'stat.p50'], ['queueWaitP95Seconds', 'stat.p95'], ['seatsFree', 'stat.seatsFree'],
  ['seatsHeld', 'stat.seatsHeld'], ['seatsSold', 'stat.seatsSold'],
];

let ctx;
const state = { concerts: [], sales: [], saleId: '', sale: null, timer: 0, polling: false, gen: 0, changedAt: 0 };
const el = {};
let charts = null;

export function mount(panel, context) {
  ctx = context;
  panel.append(dashboardCard(), listCard(), newSaleCard());
  onLang(() => { renderConcertSelect(); renderSales(); if (state.sale) renderDash(state.sale); redrawCharts(); });
}

export function show(arg) {
  if (!arg && state.saleId) ctx.setHash('sales', state.saleId); // the dashboard stays open across sections
  if (state.saleId && (!arg || arg === state.saleId)) startPolling(); // …and reads again once it is shown again
  loadAll().then(() => { if (arg && arg !== state.saleId) openDash(arg, false); });
}

// Another section is shown: no reading once a second behind it (the charts show the gap honestly: points resume
// at the time they are read).
export function hide() { stopPolling(); }

export function reset() {
  stopPolling();
  Object.assign(state, { concerts: [], sales: [], saleId: '', sale: null });
  el.dash.classList.add('hidden');
  for (const k of ['newMsg', 'listMsg', 'pollMsg', 'actMsg']) clearMsg(el[k]);
}

async function loadAll() {
  try {
    const [concerts, sales] = await Promise.all([api('GET', '/concerts'), call('GET', '/admin/sales')]);
    state.concerts = concerts;
    state.sales = sales;
    clearMsg(el.listMsg);
  } catch (e) {
    sayError(el.listMsg, e);
  }
  renderConcertSelect();
  renderSales();
}

function concertName(id) {
  const c = state.concerts.find((x) => x.concertId === id);
  return c ? c.name : '#' + id;
}

// ---- new sale ----

function newSaleCard() {
  el.concertSel = h('select', { id: 'sale-concert', name: 'concertId', required: true });
  const opens = field({ id: 'sale-opens', label: 's.new.opensAt', type: 'datetime-local', hint: 's.new.opensHint' });
  const max = field({ id: 'sale-max', label: 's.new.maxActive', type: 'number', value: '100', min: 1,
    max: MAX_ACTIVE_MAX, inputmode: 'numeric' });
  const rate = field({ id: 'sale-rate', label: 's.new.admitPerSec', type: 'number', value: '10', min: 1,
    max: ADMIT_PER_SEC_MAX, inputmode: 'numeric' });
  const tok = field({ id: 'sale-token', label: 's.new.tokenSeconds', type: 'number', value: '600', min: TOKEN_S_MIN,
    max: TOKEN_S_MAX, inputmode: 'numeric' });
  Object.assign(el, { opens: opens.input, max: max.input, rate: rate.input, tok: tok.input, newMsg: msgBox() });
  return h('section', { class: 'card', id: 'new-sale', 'aria-labelledby': 'new-sale-h' },
    h('h2', { id: 'new-sale-h', i18n: 's.new.h' }),
    h('form', { id: 'sale-form', novalidate: true, onsubmit: createSale },
      h('div', { class: 'field' }, h('label', { for: 'sale-concert', i18n: 's.new.concert' }), el.concertSel),
      h('div', { class: 'row' }, opens.wrap),
      h('div', { class: 'row' }, max.wrap, rate.wrap, tok.wrap),
      h('div', { class: 'row' }, h('button', { type: 'submit', i18n: 's.new.go' })),
      el.newMsg));
}

function renderConcertSelect() {
  const keep = el.concertSel.value;
  const opts = [h('option', { value: '', text: t('s.new.pick') })];
  for (const c of state.concerts)
    opts.push(h('option', { value: c.concertId, text: c.sale ? t('s.new.hasSale', { name: c.name }) : c.name,
      disabled: !!c.sale }));
  el.concertSel.replaceChildren(...opts);
  if (keep && state.concerts.some((c) => c.concertId === keep && !c.sale)) el.concertSel.value = keep;
}

async function createSale(ev) {
  ev.preventDefault();
  const all = [el.concertSel, el.opens, el.max, el.rate, el.tok];
  const fail = (input, key) => { markInvalid([input], all); say(el.newMsg, 'error', t(key)); };
  const concertId = el.concertSel.value;
  if (!concertId) return fail(el.concertSel, 's.bad.concert');
  const opensAt = localToRfc3339(el.opens.value);
  if (opensAt === undefined) return fail(el.opens, 's.bad.opensAt');
  const maxActive = intIn(el.max.value, 1, MAX_ACTIVE_MAX);
  if (maxActive === null) return fail(el.max, 's.bad.maxActive');
  const admitPerSec = intIn(el.rate.value, 1, ADMIT_PER_SEC_MAX);
  if (admitPerSec === null) return fail(el.rate, 's.bad.admitPerSec');
  const tokenSeconds = intIn(el.tok.value, TOKEN_S_MIN, TOKEN_S_MAX);
  if (tokenSeconds === null) return fail(el.tok, 's.bad.tokenSeconds');
  markInvalid([], all);
  const body = { concertId, maxActive, admitPerSec, tokenSeconds };
  if (opensAt) body.opensAt = opensAt;
  const s = await busy(ev.target.querySelector('button[type=submit]'), el.newMsg,
    () => call('POST', '/admin/sales', { body }));
  if (!s) return;
  say(el.newMsg, 'ok', t('s.new.ok', { id: s.saleId, name: concertName(s.concertId) }));
  el.opens.value = '';
  await loadAll();
  openDash(s.saleId, true);
}

// ---- the list ----

function listCard() {
  el.listMsg = msgBox();
  el.listBody = h('div', { class: 'table-wrap' });
  return h('section', { class: 'card', id: 'sales', 'aria-labelledby': 'sales-h' },
    h('div', { class: 'card-head' }, h('h2', { id: 'sales-h', i18n: 's.list.h' }),
      h('button', { type: 'button', class: 'secondary', i18n: 's.refresh', onclick: () => loadAll() })),
    el.listMsg, el.listBody);
}

function renderSales() {
  if (!state.sales.length) {
    el.listBody.replaceChildren(h('p', { class: 'muted', text: t('s.list.none') }));
    return;
  }
  const rows = state.sales.map((s) => h('tr', { dataset: { saleId: s.saleId } },
    h('td', { class: 'num', text: '#' + s.saleId }),
    h('td', { text: concertName(s.concertId) }),
    h('td', {}, h('span', { class: 'badge state-' + s.state, text: stateText(s.state) })),
    h('td', { text: formatTime(s.opensAt) }),
    h('td', { text: t('s.limits', { max: fmtNum(s.maxActive), rate: fmtNum(s.admitPerSec), tok: fmtNum(s.tokenSeconds) }) }),
    h('td', {}, h('button', { type: 'button', class: s.saleId === state.saleId ? '' : 'secondary', text: t('s.watch'),
      'aria-label': t('s.watchLabel', { id: s.saleId }), 'aria-pressed': String(s.saleId === state.saleId),
      onclick: () => openDash(s.saleId, true) }))));
  el.listBody.replaceChildren(stacked(h('table', { class: 'sales' },
    h('thead', {}, h('tr', {}, ...['s.col.sale', 's.col.concert', 's.col.state', 's.col.opensAt', 's.col.limits', 'd.actions']
      .map((k) => h('th', { text: t(k) })))),
    h('tbody', {}, rows))));
}

// ---- the dashboard ----

function chartFigure(id, titleKey) {
  const canvas = h('canvas', { id: 'chart-' + id, class: 'chart', role: 'img', 'aria-describedby': `chart-${id}-text`,
    'data-points': '0' });
  const text = h('p', { id: `chart-${id}-text`, class: 'sr-only' });
  const fig = h('figure', { class: 'chart-fig', 'aria-labelledby': `chart-${id}-h` },
    h('figcaption', { id: `chart-${id}-h`, i18n: titleKey }), canvas, text);
  return { fig, canvas, text };
}

function dashboardCard() {
  el.dashH = h('h2', { id: 'dash-h' });
  el.stateBadge = h('span', { class: 'badge', id: 'dash-state' });
  el.updated = h('span', { class: 'muted', id: 'dash-updated' });
  el.pollMsg = msgBox();
  el.actMsg = msgBox();
  el.btnOpen = h('button', { type: 'button', id: 'sale-open', i18n: 'dash.open', onclick: (e) => setState('OPEN', e.currentTarget) });
  el.btnPause = h('button', { type: 'button', id: 'sale-pause', i18n: 'dash.pause', onclick: (e) => setState('PAUSED', e.currentTarget) });
  el.btnClose = h('button', { type: 'button', id: 'sale-close', class: 'danger', i18n: 'dash.closeSale',
    onclick: (e) => setState('CLOSED', e.currentTarget) });
  const maxF = field({ id: 'live-max', label: 's.new.maxActive', type: 'number', min: 1, max: MAX_ACTIVE_MAX, inputmode: 'numeric' });
  const rateF = field({ id: 'live-rate', label: 's.new.admitPerSec', type: 'number', min: 1, max: ADMIT_PER_SEC_MAX, inputmode: 'numeric' });
  el.liveMax = maxF.input;
  el.liveRate = rateF.input;
  for (const i of [el.liveMax, el.liveRate]) i.addEventListener('input', () => { i.dataset.dirty = '1'; });
  el.stats = h('dl', { class: 'stats', id: 'dash-stats' },
    STATS.map(([k, label]) => h('div', { class: 'stat' }, h('dt', { i18n: label }),
      h('dd', { 'data-stat': k, text: '—' }))));
  const w = chartFigure('waiting', 'chart.waiting.h');
  const a = chartFigure('admitted', 'chart.admitted.h');
  const q = chartFigure('wait', 'chart.wait.h');
  el.chartEls = { w, a, q };
  el.dash = h('section', { class: 'card hidden', id: 'dashboard', 'aria-labelledby': 'dash-h' },
    h('div', { class: 'card-head' }, el.dashH,
      h('button', { type: 'button', class: 'secondary', i18n: 'dash.close', onclick: closeDash })),
    h('p', { class: 'dash-line' }, h('span', { i18n: 'dash.state' }), ': ', el.stateBadge, ' ', el.updated),
    el.pollMsg,
    h('div', { class: 'row', role: 'group', 'aria-labelledby': 'dash-controls-l' },
      h('span', { id: 'dash-controls-l', class: 'sr-only', i18n: 'dash.controls' }),
      el.btnOpen, el.btnPause, el.btnClose),
    h('form', { id: 'limits-form', novalidate: true, onsubmit: applyLimits },
      h('fieldset', {}, h('legend', { i18n: 'dash.limits' }),
        h('div', { class: 'row' }, maxF.wrap, rateF.wrap, h('button', { type: 'submit', i18n: 'dash.apply' })))),
    el.actMsg,
    el.stats,
    h('div', { class: 'charts' }, w.fig, a.fig, q.fig));
  return el.dash;
}

function makeCharts() {
  const { w, a, q } = el.chartEls;
  charts = {
    waiting: lineChart(w.canvas, { maxPoints: WINDOW_POINTS, text: w.text, yLabel: () => t('chart.people'),
      xLabel: () => t('chart.time'), series: [{ label: () => t('chart.waiting.s'), color: '#1f5fbf' }] }),
    admitted: lineChart(a.canvas, { maxPoints: WINDOW_POINTS, text: a.text, yLabel: () => t('chart.perMin'),
      xLabel: () => t('chart.time'), series: [{ label: () => t('chart.admitted.s'), color: '#1d7a3a' },
        { label: () => t('chart.admitted.target'), color: '#9a5b00', dash: [6, 4] }] }),
    wait: lineChart(q.canvas, { maxPoints: WINDOW_POINTS, text: q.text, yLabel: () => t('chart.seconds'),
      xLabel: () => t('chart.time'), series: [{ label: () => t('chart.wait.p50'), color: '#1f5fbf' },
        { label: () => t('chart.wait.p95'), color: '#b3261e', dash: [2, 3] }] }),
  };
}

function redrawCharts() { if (charts) for (const c of Object.values(charts)) c.redraw(); }

function openDash(saleId, focus) {
  if (!charts) makeCharts();
  if (saleId !== state.saleId) {
    stopPolling();
    for (const c of Object.values(charts)) c.clear();
    state.saleId = saleId;
    state.sale = null;
    for (const i of [el.liveMax, el.liveRate]) { i.value = ''; delete i.dataset.dirty; }
    for (const dd of el.stats.querySelectorAll('dd')) dd.textContent = '—';
    el.stateBadge.textContent = '';
    el.updated.textContent = '';
    clearMsg(el.pollMsg);
    clearMsg(el.actMsg);
  }
  ctx.setHash('sales', saleId);
  el.dashH.textContent = t('dash.h', { id: saleId, name: '…' });
  el.dash.classList.remove('hidden');
  renderSales();
  startPolling();
  if (focus) focusOn(el.dashH);
}

function closeDash() {
  stopPolling();
  state.saleId = '';
  state.sale = null;
  el.dash.classList.add('hidden');
  ctx.setHash('sales', '');
  renderSales();
  document.getElementById('sales-h').focus();
}

function startPolling() {
  if (state.polling) return;
  state.polling = true;
  const gen = ++state.gen;
  const tick = async () => {
    if (gen !== state.gen) return;
    const began = Date.now();
    try {
      const s = await call('GET', `/admin/sales/${encodeURIComponent(state.saleId)}`);
      if (gen !== state.gen) return;
      if (began >= state.changedAt) { // a read begun before the organizer's last change would show the old state
        state.sale = s;
        record(s, Date.now());
        renderDash(s);
      }
      if (el.pollMsg.childNodes.length) clearMsg(el.pollMsg);
    } catch (e) {
      if (gen !== state.gen) return;
      const before = el.pollMsg.textContent;
      const probe = h('div');
      sayError(probe, e);
      if (probe.textContent !== before) sayError(el.pollMsg, e); // do not re-announce the same words every second
    }
    if (gen === state.gen) state.timer = setTimeout(tick, Math.max(0, POLL_MS - (Date.now() - began)));
  };
  tick();
}

function stopPolling() {
  state.gen++;
  state.polling = false;
  clearTimeout(state.timer);
}

function record(s, now) {
  const st = s.stats;
  charts.waiting.push(now, [st.waiting]);
  charts.admitted.push(now, [st.admittedLastMinute, s.admitPerSec * 60]);
  charts.wait.push(now, [st.queueWaitP50Seconds, st.queueWaitP95Seconds]);
  redrawCharts();
}

let clock = null;
function renderDash(s) {
  if (!clock || clock.lang !== lang()) {
    const f = new Intl.DateTimeFormat(lang() === 'ko' ? 'ko-KR' : 'en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    clock = { lang: lang(), format: (d) => f.format(d) };
  }
  const st = s.stats;
  el.dashH.textContent = t('dash.h', { id: s.saleId, name: concertName(s.concertId) });
  el.stateBadge.className = 'badge state-' + s.state;
  el.stateBadge.dataset.state = s.state;
  el.stateBadge.textContent = stateText(s.state);
  el.updated.textContent = t('dash.updated', { time: clock.format(new Date()) });
  el.btnOpen.setAttribute('aria-pressed', String(s.state === 'OPEN'));
  el.btnPause.setAttribute('aria-pressed', String(s.state === 'PAUSED'));
  el.btnClose.setAttribute('aria-pressed', String(s.state === 'CLOSED'));
  const vals = { ...st, target: s.admitPerSec * 60 };
  for (const dd of el.stats.querySelectorAll('dd')) {
    const k = dd.dataset.stat;
    const v = vals[k];
    dd.dataset.value = v === null || v === undefined ? '' : String(v);
    dd.textContent = k.startsWith('queueWait') ? fmtSeconds(v) : fmtNum(v);
  }
  // the limit inputs follow the sale unless the organizer is editing them
  for (const [i, v] of [[el.liveMax, s.maxActive], [el.liveRate, s.admitPerSec]])
    if (!i.dataset.dirty && document.activeElement !== i) i.value = String(v);
  el.liveMax.dataset.current = String(s.maxActive);
  el.liveRate.dataset.current = String(s.admitPerSec);
}

async function patchSale(body, btn) {
  const s = await busy(btn, el.actMsg, () => call('PATCH', `/admin/sales/${encodeURIComponent(state.saleId)}`, { body }));
  if (s) {
    state.changedAt = Date.now();
    // the next poll brings the stats; show the sale's own fields at once
    if (state.sale) { state.sale = { ...state.sale, ...s, stats: state.sale.stats }; renderDash(state.sale); }
    const i = state.sales.findIndex((x) => x.saleId === s.saleId);
    if (i >= 0) { state.sales[i] = s; renderSales(); }
  }
  return s;
}

async function setState(to, btn) {
  if (to === 'CLOSED' && !await confirmAction(t('dash.closeConfirm', { id: state.saleId }), t('dash.closeYes'))) {
    btn.focus();
    return;
  }
  const s = await patchSale({ state: to }, btn);
  if (s) say(el.actMsg, 'ok', t('dash.stateSet', { state: stateText(s.state) }));
}

async function applyLimits(ev) {
  ev.preventDefault();
  const all = [el.liveMax, el.liveRate];
  const maxActive = intIn(el.liveMax.value, 1, MAX_ACTIVE_MAX);
  if (maxActive === null) { markInvalid([el.liveMax], all); return say(el.actMsg, 'error', t('s.bad.maxActive')); }
  const admitPerSec = intIn(el.liveRate.value, 1, ADMIT_PER_SEC_MAX);
  if (admitPerSec === null) { markInvalid([el.liveRate], all); return say(el.actMsg, 'error', t('s.bad.admitPerSec')); }
  markInvalid([], all);
  const body = {};
  if (!state.sale || maxActive !== state.sale.maxActive) body.maxActive = maxActive;
  if (!state.sale || admitPerSec !== state.sale.admitPerSec) body.admitPerSec = admitPerSec;
  if (!Object.keys(body).length) return say(el.actMsg, 'info', t('dash.nothing'));
  const s = await patchSale(body, ev.target.querySelector('button[type=submit]'));
  if (!s) return;
  for (const i of all) delete i.dataset.dirty;
  el.liveMax.value = String(s.maxActive);
  el.liveRate.value = String(s.admitPerSec);
  say(el.actMsg, 'ok', t('dash.applied', { max: fmtNum(s.maxActive), rate: fmtNum(s.admitPerSec) }));
}
