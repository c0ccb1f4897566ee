// buyer-seatmap.js — the seat map of one date: one <button> per seat in a grid (50 up to 5,000), coloured by price
// category with a legend, free / held / sold / picked told apart by marks and patterns as well as colour and in each
// aria-label, picking up to MAX_PICK seats. A refresh only touches the seats whose state changed (the buttons are
// built once per date), and the grid is one tab stop: the arrow keys, Home/End and PageUp/PageDown move within it.
import { t, formatWon } from '/static/i18n.js';
import { $, h } from '/static/dom.js';
import { fill } from './buyer-ui.js';

export const MAX_PICK = 4; // the server's default max_holds_per_user; the server's HOLD_LIMIT is the authority
const PALETTE = 8;         // category colour classes cat-0 … cat-7 in buyer.css

let scheduleId = null;
let cells = new Map();     // seatId → {btn, seat, sig}
let order = [];            // the buttons in seat-number order
let categories = new Map(); // category name ('' for none) → {index, min, max}
let cols = 10;
const picked = new Set();  // seatIds
let onChange = () => {};

// onPick(event): {kind: 'changed' (by the buyer) | 'taken' | 'lost' (by others) | 'limit', seats?} after each
// change of the selection.
export function init({ onPick }) {
  onChange = onPick;
  const grid = $('seat-grid');
  grid.addEventListener('click', (e) => { const b = e.target.closest('.seat'); if (b) toggle(b.dataset.id); });
  grid.addEventListener('keydown', move);
}

export function reset() {
  scheduleId = null;
  cells = new Map();
  order = [];
  picked.clear();
  fill($('seat-grid'));
  fill($('legend'));
}

export const pickedSeats = () => [...picked].map((id) => cells.get(id).seat);
export function clearPicks() { picked.clear(); for (const c of cells.values()) paint(c); }

// Shows the seats of date sid: builds the buttons the first time, afterwards updates the changed ones only.
export function render(sid, seats) {
  if (sid !== scheduleId || seats.length !== cells.size || seats.some((s) => !cells.has(s.seatId))) build(sid, seats);
  const lost = [];
  for (const s of seats) {
    const c = cells.get(s.seatId);
    c.seat = s;
    if (s.status !== 'FREE' && picked.delete(s.seatId)) lost.push(s);
    paint(c);
  }
  if (lost.length) onChange({ kind: 'lost', seats: lost });
}

// Seats the server just said are taken: shown held at once (the next read confirms), and no longer picked.
export function markTaken(ids) {
  for (const id of ids) {
    const c = cells.get(String(id));
    if (!c) continue;
    picked.delete(c.seat.seatId);
    if (c.seat.status === 'FREE') c.seat = { ...c.seat, status: 'HELD' };
    paint(c);
  }
  onChange({ kind: 'taken' });
}

// Words again in the current language (every label and the legend).
export function relabel() {
  wonText.clear();
  for (const c of cells.values()) { c.sig = ''; paint(c); }
  renderLegend();
}

function build(sid, seats) {
  scheduleId = sid;
  cells = new Map();
  picked.clear();
  categories = new Map();
  const sorted = [...seats].sort((a, b) => a.seatNumber - b.seatNumber);
  cols = sorted.length <= 60 ? 10 : sorted.length <= 400 ? 20 : 50;
  const grid = $('seat-grid');
  grid.classList.toggle('dense', sorted.length > 400);
  grid.style.gridTemplateColumns = `repeat(${cols}, var(--seat-size))`;
  const frag = document.createDocumentFragment();
  order = sorted.map((s, i) => {
    const cat = s.category || '';
    let k = categories.get(cat);
    if (!k) { k = { index: categories.size % PALETTE, min: s.price, max: s.price }; categories.set(cat, k); }
    k.min = Math.min(k.min, s.price);
    k.max = Math.max(k.max, s.price);
    const btn = h('button', { type: 'button', class: 'seat', 'data-id': s.seatId, 'data-number': s.seatNumber, tabindex: i === 0 ? '0' : '-1' });
    btn.textContent = String(s.seatNumber);
    cells.set(s.seatId, { btn, seat: s, sig: '' });
    frag.append(btn);
    return btn;
  });
  grid.replaceChildren(frag);
  renderLegend();
}

const wonText = new Map(); // price → formatted, so 5,000 labels do not build 5,000 number formats
function won(n) {
  let w = wonText.get(n);
  if (w === undefined) { w = formatWon(n); wonText.set(n, w); }
  return w;
}
const statusWord = (c) => t(picked.has(c.seat.seatId) ? 'seat.PICKED' : 'seat.' + c.seat.status);
const catName = (cat) => cat || t('seat.noCategory');

function paint(c) {
  const s = c.seat;
  const mine = picked.has(s.seatId);
  const sig = s.status + (mine ? '+' : '') + s.price;
  if (sig === c.sig) return;
  c.sig = sig;
  const k = categories.get(s.category || '');
  c.btn.className = `seat cat-${k ? k.index : 0} is-${s.status.toLowerCase()}${mine ? ' is-picked' : ''}`;
  c.btn.setAttribute('aria-pressed', mine ? 'true' : 'false');
  c.btn.setAttribute('aria-disabled', s.status === 'FREE' ? 'false' : 'true');
  c.btn.setAttribute('aria-label', t('seat.label', { n: s.seatNumber, cat: catName(s.category), price: won(s.price), status: statusWord(c) }));
}

function toggle(id) {
  const c = cells.get(id);
  if (!c) return;
  focusCell(c.btn);
  if (picked.has(id)) picked.delete(id);
  else if (c.seat.status !== 'FREE') return;
  else if (picked.size >= MAX_PICK) { onChange({ kind: 'limit' }); return; }
  else picked.add(id);
  paint(c);
  onChange({ kind: 'changed', byBuyer: true });
}

function focusCell(btn) {
  for (const b of $('seat-grid').querySelectorAll('.seat[tabindex="0"]')) if (b !== btn) b.tabIndex = -1;
  btn.tabIndex = 0;
}

const KEYS = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: 'up', ArrowDown: 'down', Home: 'home', End: 'end', PageUp: 'pgup', PageDown: 'pgdn' };

function move(e) {
  const step = KEYS[e.key];
  const b = e.target.closest('.seat');
  if (step === undefined || !b) return;
  const i = order.indexOf(b);
  const row = Math.floor(i / cols) * cols;
  const to = { up: i - cols, down: i + cols, home: row, end: row + cols - 1, pgup: i - cols * 5, pgdn: i + cols * 5 }[step] ?? i + step;
  const j = Math.max(0, Math.min(order.length - 1, to));
  e.preventDefault();
  focusCell(order[j]);
  order[j].focus();
}

function renderLegend() {
  const cats = [...categories.entries()].map(([name, k]) => h('li', {},
    h('span', { class: `swatch seat cat-${k.index} is-free`, 'aria-hidden': 'true' }),
    `${catName(name)} — ${k.min === k.max ? formatWon(k.min) : formatWon(k.min) + ' – ' + formatWon(k.max)}`));
  // the states' swatches are neutral (no category's colour): "free" must not look like the first category
  const states = ['free', 'picked', 'held', 'sold'].map((st) => h('li', {},
    h('span', { class: `swatch seat state-swatch is-${st === 'picked' ? 'free is-picked' : st}`, 'aria-hidden': 'true' }),
    t('legend.' + st)));
  fill($('legend'), h('ul', { class: 'legend-list', 'aria-label': t('legend.categories') }, ...cats),
    h('ul', { class: 'legend-list', 'aria-label': t('legend.states') }, ...states));
}
