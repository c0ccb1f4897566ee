// admin-products.js — the "Products" section of the organizer's page: every product with its options and their
// stock (GET /admin/products), an option's stock or price changed (PATCH /admin/options/{id}: only what changed is
// sent), and a new product with its options (POST /admin/products). Limits (the contract's): names 1–64
// characters, 1–20 options a product, prices 1–1,000,000,000 won, stock 0–1,000,000,000.
import { addStrings, t, formatWon } from '/static/i18n.js';
import {
  call, h, field, msgBox, say, sayError, clearMsg, busy, fmtNum, intIn, markInvalid, onLang, stacked,
} from '/static/admin-ui.js';

const OPTIONS_MAX = 20;
const PRICE_MAX = 1000000000;
const STOCK_MAX = 1000000000;

addStrings({
  en: {
    'pr.h': 'Products and stock',
    'pr.none': 'No products yet.',
    'pr.option': 'Option',
    'pr.price': 'Price (won)',
    'pr.stock': 'Stock',
    'pr.save': 'Save',
    'pr.saveLabel': 'Save {product}, {option}',
    'pr.priceLabel': 'Price of {product}, {option}',
    'pr.stockLabel': 'Stock of {product}, {option}',
    'pr.saved': '{product}, {option}: {price}, {stock} in stock.',
    'pr.unchanged': 'Nothing changed for {option}.',
    'pr.refresh': 'Refresh',
    'pr.new.h': 'New product',
    'pr.new.name': 'Product name (1–64 characters)',
    'pr.new.options': 'Options',
    'pr.new.optName': 'Option name',
    'pr.new.optPrice': 'Price (won)',
    'pr.new.optStock': 'Stock',
    'pr.new.optN': 'Option {n}',
    'pr.new.add': 'Add an option',
    'pr.new.remove': 'Remove',
    'pr.new.removeLabel': 'Remove option {n}',
    'pr.new.go': 'Create product',
    'pr.new.ok': 'Product "{name}" created with {n} option(s).',
    'pr.bad.name': 'The product name must be 1 to 64 characters.',
    'pr.bad.optName': 'Option {n}: the name must be 1 to 64 characters.',
    'pr.bad.price': 'The price must be a whole number of won from 1 to 1,000,000,000.',
    'pr.bad.stock': 'The stock must be a whole number from 0 to 1,000,000,000.',
    'pr.bad.optPrice': 'Option {n}: the price must be a whole number of won from 1 to 1,000,000,000.',
    'pr.bad.optStock': 'Option {n}: the stock must be a whole number from 0 to 1,000,000,000.',
  },
  ko: {
    'pr.h': '상품과 재고',
    'pr.none': '아직 상품이 없습니다.',
    'pr.option': '옵션',
    'pr.price': '가격 (원)',
    'pr.stock': '재고',
    'pr.save': '저장',
    'pr.saveLabel': '{product} {option} 저장',
    'pr.priceLabel': '{product} {option} 가격',
    'pr.stockLabel': '{product} {option} 재고',
    'pr.saved': '{product} {option}: {price}, 재고 {stock}개.',
    'pr.unchanged': '{option}에 바뀐 것이 없습니다.',
    'pr.refresh': '새로 고침',
    'pr.new.h': '새 상품',
    'pr.new.name': '상품 이름 (1–64자)',
    'pr.new.options': '옵션',
    'pr.new.optName': '옵션 이름',
    'pr.new.optPrice': '가격 (원)',
    'pr.new.optStock': '재고',
    'pr.new.optN': '옵션 {n}',
    'pr.new.add': '옵션 추가',
    'pr.new.remove': '삭제',
    'pr.new.removeLabel': '옵션 {n} 삭제',
    'pr.new.go': '상품 만들기',
    'pr.new.ok': '상품 "{name}"을(를) 옵션 {n}개로 만들었습니다.',
    'pr.bad.name': '상품 이름은 1자에서 64자 사이여야 합니다.',
    'pr.bad.optName': '옵션 {n}: 이름은 1자에서 64자 사이여야 합니다.',
    'pr.bad.price': '가격은 1원부터 1,000,000,000원까지의 정수여야 합니다.',
    'pr.bad.stock': '재고는 0부터 1,000,000,000까지의 정수여야 합니다.',
    'pr.bad.optPrice': '옵션 {n}: 가격은 1원부터 1,000,000,000원까지의 정수여야 합니다.',
    'pr.bad.optStock': '옵션 {n}: 재고는 0부터 1,000,000,000까지의 정수여야 합니다.',
  },
});

const state = { products: [] };
const el = {};

export function mount(panel) {
  el.listMsg = msgBox();
  el.list = h('div', { class: 'products', id: 'product-list' });
  const listCard = h('section', { class: 'card', id: 'products', 'aria-labelledby': 'products-h' },
    h('div', { class: 'card-head' }, h('h2', { id: 'products-h', i18n: 'pr.h' }),
      h('button', { type: 'button', class: 'secondary', i18n: 'pr.refresh', onclick: () => load() })),
    el.listMsg, el.list);
  panel.append(listCard, newProductCard());
  onLang(() => { render(); labelOptRows(); });
}

export function show() { load(); }

export function reset() {
  state.products = [];
  el.list.replaceChildren();
  clearMsg(el.listMsg);
  clearMsg(el.newMsg);
}

async function load() {
  try {
    state.products = await call('GET', '/admin/products');
  } catch (e) {
    sayError(el.listMsg, e);
    return;
  }
  clearMsg(el.listMsg);
  render();
}

function render() {
  if (!state.products.length) {
    el.list.replaceChildren(h('p', { class: 'muted', text: t('pr.none') }));
    return;
  }
  el.list.replaceChildren(...state.products.map(productBlock));
}

function productBlock(p) {
  const rows = p.options.map((o) => optionRow(p, o));
  return h('article', { class: 'product', dataset: { productId: p.productId } },
    h('h3', {}, p.name, ' ', h('span', { class: 'muted', text: '#' + p.productId })),
    h('div', { class: 'table-wrap' }, stacked(h('table', { class: 'options' },
      h('thead', {}, h('tr', {}, h('th', { text: t('pr.option') }), h('th', { text: t('pr.price') }),
        h('th', { text: t('pr.stock') }), h('th', { text: '' }))),
      h('tbody', {}, rows)))));
}

function optionRow(p, o) {
  const names = { product: p.name, option: o.name };
  const price = h('input', { type: 'number', class: 'price', min: 1, max: PRICE_MAX, inputmode: 'numeric',
    value: String(o.price), 'aria-label': t('pr.priceLabel', names) });
  const stock = h('input', { type: 'number', class: 'stock', min: 0, max: STOCK_MAX, inputmode: 'numeric',
    value: String(o.stock), 'aria-label': t('pr.stockLabel', names) });
  const msg = msgBox();
  const row = h('tr', { dataset: { optionId: o.optionId, stock: String(o.stock), price: String(o.price) } },
    h('td', {}, h('span', {}, h('strong', { text: o.name }), ' ', h('span', { class: 'muted now-price', text: formatWon(o.price) }))),
    h('td', {}, price),
    h('td', {}, stock),
    h('td', {}, h('button', { type: 'button', class: 'save', text: t('pr.save'), 'aria-label': t('pr.saveLabel', names),
      onclick: (ev) => saveOption(p, o, price, stock, msg, ev.currentTarget) }), msg));
  const enter = (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); row.querySelector('.save').click(); } };
  price.addEventListener('keydown', enter);
  stock.addEventListener('keydown', enter);
  return row;
}

async function saveOption(p, o, priceIn, stockIn, msg, btn) {
  const price = intIn(priceIn.value, 1, PRICE_MAX);
  if (price === null) { markInvalid([priceIn], [priceIn, stockIn]); return say(msg, 'error', t('pr.bad.price')); }
  const stock = intIn(stockIn.value, 0, STOCK_MAX);
  if (stock === null) { markInvalid([stockIn], [priceIn, stockIn]); return say(msg, 'error', t('pr.bad.stock')); }
  markInvalid([], [priceIn, stockIn]);
  const body = {};
  if (price !== o.price) body.price = price;
  if (stock !== o.stock) body.stock = stock;
  if (!Object.keys(body).length) return say(msg, 'info', t('pr.unchanged', { option: o.name }));
  const r = await busy(btn, msg, () => call('PATCH', `/admin/options/${encodeURIComponent(o.optionId)}`, { body }));
  if (!r) return;
  Object.assign(o, { price: r.price, stock: r.stock });
  const row = btn.closest('tr');
  row.dataset.stock = String(r.stock);
  row.dataset.price = String(r.price);
  row.querySelector('.now-price').textContent = formatWon(r.price);
  say(msg, 'ok', t('pr.saved', { product: p.name, option: o.name, price: formatWon(r.price), stock: fmtNum(r.stock) }));
}

// ---- new product ----

function newProductCard() {
  const nameF = field({ id: 'product-name', label: 'pr.new.name', maxlength: 64, required: true });
  el.pName = nameF.input;
  el.optRows = h('div', { class: 'opt-rows', id: 'option-rows' });
  el.newMsg = msgBox();
  el.addOpt = h('button', { type: 'button', class: 'secondary', id: 'add-option', i18n: 'pr.new.add',
    onclick: () => addOptRow(true) });
  const form = h('form', { id: 'product-form', novalidate: true, onsubmit: createProduct },
    h('div', { class: 'row' }, nameF.wrap),
    h('fieldset', {}, h('legend', { i18n: 'pr.new.options' }), el.optRows, el.addOpt),
    h('div', { class: 'row' }, h('button', { type: 'submit', i18n: 'pr.new.go' })),
    el.newMsg);
  addOptRow(false);
  return h('section', { class: 'card', id: 'new-product', 'aria-labelledby': 'new-product-h' },
    h('h2', { id: 'new-product-h', i18n: 'pr.new.h' }), form);
}

let optSeq = 0;
function addOptRow(focus) {
  if (el.optRows.children.length >= OPTIONS_MAX) return;
  const n = ++optSeq;
  const mk = (cls, label, extra) => {
    const id = `opt-${n}-${cls}`;
    return h('div', { class: 'field' }, h('label', { for: id, i18n: label }),
      h('input', { id, class: cls, autocomplete: 'off', ...extra }));
  };
  const row = h('div', { class: 'opt-row', role: 'group' },
    mk('name', 'pr.new.optName', { maxlength: 64 }),
    mk('price', 'pr.new.optPrice', { type: 'number', min: 1, max: PRICE_MAX, inputmode: 'numeric' }),
    mk('stock', 'pr.new.optStock', { type: 'number', min: 0, max: STOCK_MAX, inputmode: 'numeric', value: '0' }),
    h('button', { type: 'button', class: 'secondary remove', i18n: 'pr.new.remove', onclick: () => {
      if (el.optRows.children.length > 1) { row.remove(); labelOptRows(); el.pName.focus(); }
    } }));
  el.optRows.append(row);
  labelOptRows();
  if (focus) row.querySelector('.name').focus();
}

function labelOptRows() {
  const rows = [...el.optRows.children];
  rows.forEach((r, i) => {
    r.setAttribute('aria-label', t('pr.new.optN', { n: i + 1 }));
    const rm = r.querySelector('.remove');
    rm.setAttribute('aria-label', t('pr.new.removeLabel', { n: i + 1 }));
    rm.disabled = rows.length === 1;
  });
  el.addOpt.disabled = rows.length >= OPTIONS_MAX;
}

async function createProduct(ev) {
  ev.preventDefault();
  const rows = [...el.optRows.children].map((r) => ({
    name: r.querySelector('.name'), price: r.querySelector('.price'), stock: r.querySelector('.stock'),
  }));
  const all = [el.pName, ...rows.flatMap((r) => [r.name, r.price, r.stock])];
  const fail = (input, text) => { markInvalid([input], all); say(el.newMsg, 'error', text); };
  const name = el.pName.value.trim();
  if (name.length < 1 || name.length > 64) return fail(el.pName, t('pr.bad.name'));
  const options = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const on = r.name.value.trim();
    if (on.length < 1 || on.length > 64) return fail(r.name, t('pr.bad.optName', { n: i + 1 }));
    const price = intIn(r.price.value, 1, PRICE_MAX);
    if (price === null) return fail(r.price, t('pr.bad.optPrice', { n: i + 1 }));
    const stock = intIn(r.stock.value, 0, STOCK_MAX);
    if (stock === null) return fail(r.stock, t('pr.bad.optStock', { n: i + 1 }));
    options.push({ name: on, price, stock });
  }
  markInvalid([], all);
  const p = await busy(ev.target.querySelector('button[type=submit]'), el.newMsg,
    () => call('POST', '/admin/products', { body: { name, options } }));
  if (!p) return;
  say(el.newMsg, 'ok', t('pr.new.ok', { name: p.name, n: p.options.length }));
  el.pName.value = '';
  el.optRows.replaceChildren();
  addOptRow(false);
  await load();
}
