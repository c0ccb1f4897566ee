// buyer-queue.js — the concerts (GET /concerts, public) and the waiting room: join a concert's queue
// (POST /queue/issue; issuing again returns the same token, so a reload keeps the place), then follow the token
// through GET /queue/events (EventSource), falling back to polling GET /queue/status every POLL_MS if the stream
// fails. Before the opening: a countdown to opensAt; after: the live position and estimated wait; ACTIVE hands over
// to buyer-seats.js; EXPIRED, CLOSED and SOLD_OUT are said in words. Limits: one concert followed at a time.
import { api, serverNow, syncClock } from '/static/api.js';
import { t, formatTime } from '/static/i18n.js';
import * as state from './buyer-state.js';
import { $, h, show, focusOn, countdown, formatDuration } from '/static/dom.js';
import { fill, act, showError, announce, clearNotices } from './buyer-ui.js';
import * as seats from './buyer-seats.js';

const POLL_MS = 2000;
const STEPS = ['concerts', 'queue', 'dates', 'seats', 'hold', 'receipt'];

let concerts = null;   // last GET /concerts
let lastStatus = null; // last token status shown
let source = null;     // the EventSource, while the stream is used
let pollTimer = null;
let stopCountdown = null;
let following = 0;     // bumped whenever following stops: late events of an old stream ignore themselves
let resumed = false;   // the purchase in progress is on screen
let spokenAt = 0;      // when a position was last read out (ANNOUNCE_MS apart at most; a new state at once)
let pollFailing = false; // the polling's error is on screen (said once, not every POLL_MS)
const ANNOUNCE_MS = 30000;

export function showStep(name) { for (const s of STEPS) show($(s), s === name); }

export function init() {
  $('concerts-refresh').addEventListener('click', (e) => act(e.currentTarget, loadConcerts));
  $('queue-back').addEventListener('click', backToConcerts);
  $('dates-back').addEventListener('click', backToConcerts);
  $('queue-again').addEventListener('click', (e) => act(e.currentTarget, requeue));
  state.on('lang', () => { renderConcerts(); if (lastStatus && !$('queue').classList.contains('hidden')) renderStatus(lastStatus); });
  state.on('signout', () => { stop(); concerts = null; });
  seats.init({ onBack: backToConcerts, onTurnOver: turnOver, showStep });
}

// The tickets tab is shown: resume the purchase in progress (once), or list the concerts.
export async function enter() {
  const f = state.flow();
  if (f && resumed) return;
  if (!f) { if (!resumed) showConcerts(); return; }
  resumed = true;
  await syncClock(); // "has the hold lapsed?" is the server's clock's question
  if (f.hold && Date.parse(f.hold.expiresAt) > serverNow()) { seats.resumeHold(f); return; }
  if (f.hold) state.patchFlow({ hold: null }); // it lapsed while the page was away: the seats are free again
  act(null, () => join({ concertId: f.concertId, name: f.concertName }, { focus: false })).then((ok) => {
    if (ok) return;
    // the place could not be taken up again (no answer, the sale gone…): the error stays on screen with the
    // concerts under it; "Join" rejoins (the same token comes back)
    resumed = false;
    showStep('concerts');
    loadConcerts().catch(() => { /* the first error is the one shown */ });
  });
}

// Stops following the token (the stream, the polling, the countdown) and every step's timers.
export function stop() {
  stopFollowing();
  seats.stop();
  resumed = false;
}

function stopFollowing() {
  following++;
  pollFailing = false;
  if (source) { source.close(); source = null; }
  clearTimeout(pollTimer);
  if (stopCountdown) { stopCountdown(); stopCountdown = null; }
}

function showConcerts() {
  showStep('concerts');
  loadConcerts().catch(showError);
}

function backToConcerts() {
  stop();
  state.saveFlow(null);
  lastStatus = null;
  showConcerts();
  focusOn($('concerts-title'));
}

async function loadConcerts() {
  concerts = await api('GET', '/concerts');
  renderConcerts();
}

function saleText(sale) {
  if (!sale) return t('sale.none');
  if (sale.state === 'SCHEDULED') return t('sale.SCHEDULED', { time: formatTime(sale.opensAt) });
  return t('sale.' + sale.state);
}

function renderConcerts() {
  const list = $('concert-list');
  if (!concerts) return;
  if (!concerts.length) { fill(list, h('li', { class: 'muted', text: t('concerts.empty') })); return; }
  fill(list, ...concerts.map((c) => {
    const over = c.sale && (c.sale.state === 'CLOSED' || c.sale.state === 'SOLD_OUT');
    return h('li', { class: 'concert' },
      h('div', { class: 'grow' }, h('strong', { text: c.name }), h('br'), h('span', { class: 'muted', text: saleText(c.sale) })),
      h('button', {
        type: 'button', text: t('concerts.join'), disabled: over,
        'aria-label': t('concerts.joinLabel', { name: c.name }),
        onclick: (e) => act(e.currentTarget, () => join(c)),
      }));
  }));
}

// Joins (or rejoins: the same token comes back) the queue of concert c and follows the token.
async function join(c, { focus = true } = {}) {
  stop();
  const mine = following;
  const st = await api('POST', '/queue/issue', { key: state.key(), body: { concertId: c.concertId } });
  if (mine !== following) return true; // the buyer went elsewhere (back, sign out) while the token was issued
  state.saveFlow({ concertId: c.concertId, concertName: c.name, token: st.token });
  resumed = true;
  $('queue-title').textContent = t('queue.title', { name: c.name });
  showStep('queue');
  if (focus) focusOn($('queue-title'));
  follow(st);
  return true;
}

async function requeue() {
  const f = state.flow();
  if (f) await join({ concertId: f.concertId, name: f.concertName });
  else backToConcerts();
}

// The token's turn ended while choosing seats (it lapsed, or the sale closed): say so and offer to queue again.
function turnOver(e) {
  seats.stop();
  showStep('queue');
  renderStatus({ status: 'EXPIRED' });
  if (e) showError(e);
  focusOn($('queue-title'));
}

const isFinal = (st) => st.status === 'ACTIVE' || st.status === 'EXPIRED' || st.saleState === 'CLOSED' || st.saleState === 'SOLD_OUT';

function follow(st) {
  const mine = following;
  onStatus(st, mine);
  if (mine === following && !isFinal(st)) openStream(st.token, mine);
}

function onStatus(st, mine) {
  if (mine !== following) return;
  const before = lastStatus;
  renderStatus(st);
  // a new state is read out at once; a moving position at most every ANNOUNCE_MS (not at every event)
  const newState = !before || before.status !== st.status || before.saleState !== st.saleState;
  if (newState || (before.position !== st.position && Date.now() - spokenAt >= ANNOUNCE_MS)) {
    spokenAt = Date.now();
    announce($('queue-state').textContent);
  }
  if (!isFinal(st)) return;
  stopFollowing();
  if (st.status === 'ACTIVE') {
    state.patchFlow({ token: st.token, expiresAt: st.expiresAt });
    seats.start(state.flow());
  }
}

function openStream(token, mine) {
  if (!window.EventSource) { poll(token, mine); return; }
  const es = new EventSource('/queue/events?token=' + encodeURIComponent(token));
  source = es;
  es.addEventListener('status', (ev) => {
    let d;
    try { d = JSON.parse(ev.data); } catch { return; }
    onStatus(d && d.success === true ? d.data : d, mine);
  });
  es.onerror = () => {
    if (mine !== following) return;
    es.close();
    source = null;
    poll(token, mine);
  };
}

async function poll(token, mine) {
  if (mine !== following) return;
  try {
    const st = await api('GET', '/queue/status', { token });
    if (pollFailing && mine === following) { pollFailing = false; clearNotices(); }
    onStatus(st, mine);
  } catch (e) {
    if (mine !== following) return;
    if (!pollFailing) showError(e); // said once; the polling goes on quietly until it works again
    pollFailing = true;
    if (e.status === 401 || e.status === 403) { stopFollowing(); renderStatus({ status: 'EXPIRED' }); return; }
  }
  if (mine === following) pollTimer = setTimeout(() => poll(token, mine), POLL_MS);
}

// The queue step's words for a token status (the server's /queue/status shape).
function renderStatus(st) {
  lastStatus = st;
  if (stopCountdown) { stopCountdown(); stopCountdown = null; }
  const timer = $('queue-timer');
  let words, detail = '';
  timer.textContent = '';
  const waitingForOpening = st.status === 'WAITING' && (st.saleState === 'SCHEDULED' || st.position === null);
  if (st.saleState === 'SOLD_OUT') words = t('queue.soldOut');
  else if (st.saleState === 'CLOSED') words = t('queue.closed');
  else if (st.status === 'EXPIRED') words = t('queue.expired');
  else if (st.status === 'ACTIVE') words = t('queue.active');
  else if (waitingForOpening && st.opensAt) {
    words = t('queue.beforeOpening', { time: formatTime(st.opensAt) });
    detail = t('queue.randomOrder');
    stopCountdown = countdown(timer, st.opensAt,
      (left) => (left > 0 ? t('queue.opensIn', { time: formatDuration(left) }) : t('queue.opening')), null, announce);
  } else if (st.saleState === 'PAUSED') {
    words = t('queue.paused', { n: st.position });
  } else {
    words = t('queue.position', { n: st.position });
    timer.textContent = st.estimatedWaitSeconds === null || st.estimatedWaitSeconds === undefined
      ? t('queue.estimating') : t('queue.wait', { time: formatDuration(st.estimatedWaitSeconds) });
    detail = t('queue.keepOpen');
  }
  $('queue-state').textContent = words;
  $('queue-state').dataset.status = st.saleState === 'SOLD_OUT' || st.saleState === 'CLOSED' ? st.saleState : st.status;
  $('queue-detail').textContent = detail;
  show($('queue-again'), st.status === 'EXPIRED' && st.saleState !== 'CLOSED' && st.saleState !== 'SOLD_OUT');
}
