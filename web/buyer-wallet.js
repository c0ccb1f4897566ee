// buyer-wallet.js — the wallet (balance, charging with an Idempotency-Key), the ledger history, and the buyer's
// payments with a refund button. Each list is read again whenever its tab is shown or the balance changes.
// Limits: the newest 20 ledger entries and 20 payments (the API's defaults).
import { api } from '/static/api.js';
import { t, formatWon, formatTime } from '/static/i18n.js';
import * as state from './buyer-state.js';
import { $, h, focusOn, intIn, confirmAction } from '/static/dom.js';
import { fill, act, say, showError, pairs, kindText, headRow } from './buyer-ui.js';

const CHARGE_MAX = 1000000000; // the contract's largest charge (and the input's max)

let history = null;  // last GET /user/history
let payments = null; // last GET /user/payments
let walletShown = false, paymentsShown = false;

export function init() {
  $('charge-form').addEventListener('submit', charge);
  $('payments-refresh').addEventListener('click', (e) => act(e.currentTarget, loadPayments));
  state.on('balance', (b) => {
    $('wallet-balance').textContent = b === null ? '…' : formatWon(b);
    if (walletShown) loadHistory().catch(showError);
  });
  state.on('lang', () => { renderHistory(); renderPayments(); renderAccount(); });
  state.on('signout', () => { history = payments = null; walletShown = paymentsShown = false; });
}

export function enter() {
  walletShown = true;
  paymentsShown = false;
  renderAccount();
  loadHistory().catch(showError);
}

export function enterPayments() {
  paymentsShown = true;
  walletShown = false;
  loadPayments().catch(showError);
}

function renderAccount() {
  const u = state.currentUser();
  if (!u) return;
  fill($('account-detail'), pairs([[t('account.name'), u.name || t('account.noName')], [t('account.userId'), u.userId]]));
  $('account-key').textContent = u.apiKey;
}

async function charge(e) {
  e.preventDefault();
  const input = $('charge-amount');
  const amount = intIn(input.value, 1, CHARGE_MAX);
  if (amount === null) {
    input.setAttribute('aria-invalid', 'true');
    showError(t('wallet.bad'));
    input.focus();
    return;
  }
  input.removeAttribute('aria-invalid');
  await act(e.submitter || $('charge-form').querySelector('button[type=submit]'), async () => {
    const d = await state.withIdem('charge', { amount },
      (idem) => api('POST', '/user/charge', { key: state.key(), body: { amount }, idem }));
    $('charge-form').reset();
    say(t('wallet.charged', { amount: formatWon(amount), balance: formatWon(d.balance) }));
    state.setBalance(d.balance);
  });
}

async function loadHistory() {
  history = await api('GET', '/user/history', { key: state.key(), query: { limit: 20 } });
  renderHistory();
}

function signed(n) { return (n > 0 ? '+' : n < 0 ? '−' : '') + formatWon(Math.abs(n)); }

function renderHistory() {
  const table = $('history');
  if (!history) return;
  if (!history.length) { fill(table, h('caption', { text: t('history.empty') })); return; }
  const head = headRow(['history.when', 'history.kind', 'history.amount', 'history.after'], ['history.amount', 'history.after']);
  const rows = history.map((x) => h('tr', { class: 'kind-' + x.kind },
    h('td', { text: formatTime(x.createdAt) }), h('td', { text: kindText(x.kind) }),
    h('td', { class: x.amount < 0 ? 'num debit' : 'num credit', text: signed(x.amount) }),
    h('td', { class: 'num', text: formatWon(x.balanceAfter) })));
  fill(table, h('thead', {}, head), h('tbody', {}, ...rows));
}

async function loadPayments() {
  payments = await api('GET', '/user/payments', { key: state.key() });
  renderPayments();
}

const seatList = (seats) => (seats || []).map((s) => t('seat.short', { n: s.seatNumber, cat: s.category || t('seat.noCategory') })).join(', ');

function renderPayments() {
  const table = $('payments');
  if (!payments) return;
  if (!payments.length) { fill(table, h('caption', { text: t('payments.empty') })); return; }
  const head = headRow(['payments.when', 'payments.seats', 'payments.amount', 'payments.status', 'payments.action'], ['payments.amount']);
  const rows = payments.map((p) => h('tr', { 'data-payment': p.paymentId },
    h('td', { text: formatTime(p.createdAt) }), h('td', { text: seatList(p.seats) }),
    h('td', { class: 'num', text: formatWon(p.amount) }),
    h('td', {}, h('span', { class: 'badge status-' + p.status, text: t('status.' + p.status) })),
    h('td', {}, p.status === 'PAID' ? h('button', {
      type: 'button', class: 'secondary', text: t('payments.refund'),
      'aria-label': t('payments.refundLabel', { seats: seatList(p.seats), amount: formatWon(p.amount) }),
      onclick: (e) => refund(e.currentTarget, p),
    }) : null)));
  fill(table, h('thead', {}, head), h('tbody', {}, ...rows));
}

async function refund(button, p) {
  const what = { seats: seatList(p.seats), amount: formatWon(p.amount) };
  if (button.disabled || !await confirmAction(t('payments.refundConfirm', what), t('payments.refundYes'), t('common.back'), button)) return;
  await act(button, async () => {
    const d = await state.withIdem('refund:' + p.paymentId, null,
      (idem) => api('POST', `/payments/${encodeURIComponent(p.paymentId)}/refund`, { key: state.key(), idem }));
    say(t('payments.refunded', { amount: formatWon(d.amount) }));
    if (typeof d.balance === 'number') state.setBalance(d.balance);
    else await state.refreshBalance();
    await loadPayments();
    focusOn($('payments').querySelector(`tr[data-payment="${CSS.escape(p.paymentId)}"] .badge`));
  });
}
