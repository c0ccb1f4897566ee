// buyer.js — the buyers' page (GET /): signing up or in, the header (name, balance, language, forget me), the tabs,
// and start-up (a reload resumes the place in line or the hold). The steps live in their own modules:
// buyer-queue.js (concerts, waiting room), buyer-seats.js (dates, seat map, hold, pay, receipt), buyer-wallet.js
// (wallet, history, payments and refunds), buyer-shop.js (products, cart, orders). Every call goes through api().
import { api } from '/static/api.js';
import { t, lang, setLang, translatePage, formatWon } from '/static/i18n.js';
import './buyer-strings.js';
import * as state from './buyer-state.js';
import { $, show, focusOn } from '/static/dom.js';
import { act, say, clearNotices } from './buyer-ui.js';
import * as queue from './buyer-queue.js';
import * as wallet from './buyer-wallet.js';
import * as shop from './buyer-shop.js';

const TABS = { tickets: queue.enter, wallet: wallet.enter, payments: wallet.enterPayments, shop: shop.enter };
let currentTab = 'tickets';

function renderWho() {
  const u = state.currentUser();
  const b = state.currentBalance();
  const who = $('who');
  show(who, !!u);
  if (u) who.textContent = t('account.who', { name: u.name || t('account.noName'), balance: b === null ? '…' : formatWon(b) });
}

function renderLangSwitch() {
  const other = lang() === 'ko' ? 'en' : 'ko';
  const btn = $('lang-switch');
  btn.textContent = other === 'ko' ? '한국어' : 'English';
  btn.lang = other;
  btn.setAttribute('aria-label', t('lang.switch'));
}

function renderSignedIn() {
  const signedIn = !!state.currentUser();
  show($('signup'), !signedIn);
  show($('tabs'), signedIn);
  show($('sign-out'), signedIn);
  for (const name of Object.keys(TABS)) show($('view-' + name), signedIn && name === currentTab);
  for (const b of document.querySelectorAll('#tabs [data-tab]')) {
    if (b.dataset.tab === currentTab) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  renderWho();
}

export function showTab(name, { focus = true } = {}) {
  currentTab = name;
  renderSignedIn();
  if (focus) focusOn($('view-' + name).querySelector('h2'));
  TABS[name]();
}

async function signUp(e) {
  e.preventDefault();
  const name = $('signup-name').value.trim();
  await act(e.submitter, async () => {
    const u = await api('POST', '/users', { body: { name } });
    state.signIn(u);
    state.setBalance(u.balance);
    say(t('signup.done', { name: u.name }));
    startSignedIn();
  });
}

async function signInWithKey(e) {
  e.preventDefault();
  const apiKey = $('signin-key').value.trim();
  await act(e.submitter, async () => {
    const d = await api('GET', '/user/check', { key: apiKey });
    state.signIn({ apiKey, userId: d.userId, name: '' });
    state.setBalance(d.balance);
    say(t('signin.done'));
    startSignedIn();
  });
}

function startSignedIn() {
  $('signup-form').reset();
  $('signin-form').reset();
  showTab(state.flow() ? 'tickets' : currentTab);
  state.refreshBalance().catch(() => { /* shown as … until the next change */ });
}

function signOut() {
  queue.stop();
  state.signOut();
  clearNotices();
  currentTab = 'tickets';
  renderSignedIn();
  say(t('account.forgotten'));
  focusOn($('signup-name'));
}

function switchLang() {
  setLang(lang() === 'ko' ? 'en' : 'ko');
  translatePage();
  renderLangSwitch();
  renderWho();
  state.emit('lang');
}

function init() {
  translatePage();
  renderLangSwitch();
  $('signup-form').addEventListener('submit', signUp);
  $('signin-form').addEventListener('submit', signInWithKey);
  $('sign-out').addEventListener('click', signOut);
  $('lang-switch').addEventListener('click', switchLang);
  for (const b of document.querySelectorAll('#tabs [data-tab]')) b.addEventListener('click', () => showTab(b.dataset.tab));
  state.on('balance', renderWho);
  queue.init();
  wallet.init();
  shop.init();
  if (state.currentUser()) {
    renderSignedIn();
    TABS[currentTab]();
    state.refreshBalance().catch(() => { /* a stale key: the next action says so in words */ });
  } else {
    renderSignedIn();
  }
}

init();
