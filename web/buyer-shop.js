// buyer-shop.js — the merchandise shop: products with their options, prices and stock (GET /products), the popular
// ones (GET /products/popular), the cart (POST/GET/DELETE /cart), an order from the cart (POST /orders
// {"fromCart": true}) with the time left to pay, and paying it (POST /orders/{id}/pay). Stock shown is a snapshot:
// the server decides at ordering (OUT_OF_STOCK in words). A pending order is remembered for the tab, so a reload
// shows it again. Limits: one order on screen at a time.
import { api } from '/static/api.js';
import { t, formatWon } from '/static/i18n.js';
import * as state from './buyer-state.js';
import { $, h, show, focusOn, countdown, formatDuration, setEnabled, intIn } from '/static/dom.js';
import { fill, act, say, showError, announce, pairs, headRow } from './buyer-ui.js';

const QTY_MAX = 100; // what the page lets one line of the cart ask for; the server judges stock

let products = null, popular = null, cart = null;
let order = null;        // the order on screen
let stopOrderTimer = null;

export function init() {
  $('order-button').addEventListener('click', (e) => act(e.currentTarget, placeOrder));
  $('order-pay').addEventListener('click', (e) => act(e.currentTarget, payOrder));
  state.on('lang', () => { renderProducts(); renderPopular(); renderCart(); renderOrder(); });
  state.on('signout', () => {
    products = popular = cart = order = null;
    if (stopOrderTimer) stopOrderTimer();
    show($('order'), false);
  });
}

export function enter() {
  act(null, () => Promise.all([loadProducts(), loadPopular(), loadCart(), resumeOrder()]));
}

// The order on screen is remembered for the tab (sessionStorage) while it waits for payment, so a reload shows it
// again with its time left (GET /orders/{id}: the server's word on its state).
const ORDER_KEY = 'ticketd.buyer.order';
function keepOrder() {
  if (order && order.status === 'PENDING') sessionStorage.setItem(ORDER_KEY, order.orderId);
  else sessionStorage.removeItem(ORDER_KEY);
}

async function resumeOrder() {
  const id = sessionStorage.getItem(ORDER_KEY);
  if (order || !id) return;
  try {
    order = await api('GET', `/orders/${encodeURIComponent(id)}`, { key: state.key() });
  } catch (e) {
    sessionStorage.removeItem(ORDER_KEY);
    if (e.code === 'NOT_FOUND' || e.code === 'FORBIDDEN') return;
    throw e;
  }
  renderOrder();
}

async function loadProducts() {
  products = await api('GET', '/products', { key: state.key() });
  renderProducts();
}

async function loadPopular() {
  popular = await api('GET', '/products/popular', { key: state.key() });
  renderPopular();
}

async function loadCart() {
  cart = await api('GET', '/cart', { key: state.key() });
  renderCart();
}

function optionText(o) {
  return t('shop.option', { name: o.name, price: formatWon(o.price), stock: o.stock > 0 ? t('shop.stock', { n: o.stock }) : t('shop.soldOut') });
}

function productCard(p) {
  const sel = h('select', { id: 'opt-' + p.productId, name: 'option' },
    ...p.options.map((o) => h('option', { value: o.optionId, text: optionText(o) })));
  const qty = h('input', { id: 'qty-' + p.productId, name: 'quantity', type: 'number', min: 1, max: QTY_MAX, step: 1, value: '1', inputmode: 'numeric', required: true });
  const form = h('form', { class: 'row product-form' },
    h('div', { class: 'grow' }, h('label', { for: sel.id, text: t('shop.optionLabel') }), sel),
    h('div', { class: 'qty' }, h('label', { for: qty.id, text: t('shop.quantity') }), qty),
    h('button', { type: 'submit', text: t('shop.add'), 'aria-label': t('shop.addLabel', { name: p.name }) }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const quantity = intIn(qty.value, 1, QTY_MAX);
    if (quantity === null) {
      qty.setAttribute('aria-invalid', 'true');
      showError(t('shop.badQty', { max: QTY_MAX }));
      qty.focus();
      return;
    }
    qty.removeAttribute('aria-invalid');
    act(e.submitter || form.querySelector('button[type=submit]'), () => addToCart(p, sel.value, quantity));
  });
  return h('article', { class: 'product', 'data-product': p.productId }, h('h3', { text: p.name }), form);
}

function renderProducts() {
  if (!products) return;
  if (!products.length) { fill($('products'), h('p', { class: 'muted', text: t('shop.empty') })); return; }
  fill($('products'), ...products.map(productCard));
}

function renderPopular() {
  if (!popular) return;
  if (!popular.length) { fill($('popular'), h('li', { class: 'muted', text: t('shop.noPopular') })); return; }
  fill($('popular'), ...popular.map((p) => h('li', { text: t('shop.popularItem', { name: p.name, n: p.unitsSold }) })));
}

async function addToCart(p, optionId, quantity) {
  await api('POST', '/cart', { key: state.key(), body: { optionId, quantity } });
  const o = p.options.find((x) => x.optionId === optionId);
  say(t('cart.added', { name: `${p.name} (${o ? o.name : ''})`, n: quantity }));
  await loadCart();
}

function renderCart() {
  if (!cart) return;
  const table = $('cart');
  const total = cart.reduce((a, c) => a + c.price * c.quantity, 0);
  setEnabled($('order-button'), cart.length > 0);
  $('cart-total').textContent = cart.length ? t('cart.total', { amount: formatWon(total) }) : '';
  if (!cart.length) { fill(table, h('caption', { text: t('cart.empty') })); return; }
  const head = headRow(['cart.item', 'cart.price', 'cart.quantity', 'cart.subtotal', 'cart.action'], ['cart.price', 'cart.quantity', 'cart.subtotal']);
  const rows = cart.map((c) => h('tr', {},
    h('td', { text: `${c.productName} — ${c.optionName}` }), h('td', { class: 'num', text: formatWon(c.price) }),
    h('td', { class: 'num', text: String(c.quantity) }), h('td', { class: 'num', text: formatWon(c.price * c.quantity) }),
    h('td', {}, h('button', {
      type: 'button', class: 'secondary', text: t('cart.remove'),
      'aria-label': t('cart.removeLabel', { name: `${c.productName} — ${c.optionName}` }),
      onclick: (e) => act(e.currentTarget, () => removeItem(c)),
    }))));
  fill(table, h('thead', {}, head), h('tbody', {}, ...rows));
}

async function removeItem(c) {
  await api('DELETE', `/cart/${encodeURIComponent(c.cartItemId)}`, { key: state.key() });
  await loadCart();
  focusOn($('cart-title'));
}

async function placeOrder() {
  const body = { fromCart: true };
  try {
    order = await state.withIdem('order', body, (idem) => api('POST', '/orders', { key: state.key(), body, idem }));
  } finally {
    await Promise.all([loadCart(), loadProducts()]).catch(showError);
  }
  renderOrder();
  focusOn($('order-title'));
}

async function payOrder() {
  if (!order) return;
  const id = order.orderId;
  try {
    const d = await state.withIdem('orderpay:' + id, null,
      (idem) => api('POST', `/orders/${encodeURIComponent(id)}/pay`, { key: state.key(), idem }));
    order = { ...order, status: d.status, balance: d.balance };
    state.setBalance(d.balance);
    say(t('order.paid', { amount: formatWon(d.totalPrice) }));
  } catch (e) {
    if (e.code === 'ORDER_EXPIRED') order = { ...order, status: 'EXPIRED' };
    if (e.code !== 'ALREADY_PAID') throw e;
    // an earlier attempt, whose answer was lost, paid it
    order = { ...order, status: 'PAID' };
    state.refreshBalance().catch(() => { /* the header shows … until the next change */ });
    say(t('err.ALREADY_PAID'));
  } finally {
    renderOrder();
    loadPopular().catch(() => { /* the list is a nicety */ });
  }
  focusOn($('order-title'));
}

function renderOrder() {
  if (stopOrderTimer) { stopOrderTimer(); stopOrderTimer = null; }
  keepOrder();
  show($('order'), !!order);
  if (!order) return;
  const o = order;
  $('order-title').textContent = t('order.title.' + o.status, { id: o.orderId });
  $('order-title').dataset.status = o.status;
  show($('order-pay'), o.status === 'PENDING');
  const timer = $('order-timer');
  timer.textContent = '';
  if (o.status === 'PENDING' && o.expiresAt) {
    stopOrderTimer = countdown(timer, o.expiresAt, (left) => t('order.left', { time: formatDuration(left) }),
      () => { order = { ...order, status: 'EXPIRED' }; renderOrder(); showError(t('err.ORDER_EXPIRED')); }, announce);
  }
  const lines = (o.items || []).map((i) => h('li', { text: t('order.item', { name: `${i.productName} — ${i.optionName}`, n: i.quantity, price: formatWon(i.price) }) }));
  const facts = [[t('order.total'), formatWon(o.totalPrice)]];
  if (o.balance !== undefined) facts.push([t('receipt.balance'), formatWon(o.balance)]);
  fill($('order-detail'), h('ul', { class: 'seat-lines' }, ...lines), pairs(facts));
}
