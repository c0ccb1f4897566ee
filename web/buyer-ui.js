// buyer-ui.js — the buyers' page's DOM helpers: building elements, the error notice (role="alert") and the
// success notice, the polite live region, moving focus, countdowns, and buttons that run one action at a time.
// Limits: no framework; every text shown comes from the callers (already through t()); errors through errorText().
import { t, errorText } from '/static/i18n.js';

export const $ = (id) => document.getElementById(id);

// h('button', {class: 'x', type: 'button', onclick: f}, 'text', child…) → a new element.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export function show(el, on = true) { el.classList.toggle('hidden', !on); }

// Replaces an element's children.
export function fill(el, ...children) { el.replaceChildren(...children.filter((c) => c !== null && c !== undefined)); }

export function showError(e) {
  const n = $('notice');
  n.textContent = typeof e === 'string' ? e : errorText(e);
  show(n, true);
  show($('done'), false);
}

export function say(msg) {
  const n = $('done');
  n.textContent = msg;
  show(n, true);
  show($('notice'), false);
}

export function clearNotices() { show($('notice'), false); show($('done'), false); }

// A polite message for screen readers (queue position changes, holds ending, …).
export function announce(msg) {
  const live = $('live');
  live.textContent = '';
  setTimeout(() => { live.textContent = msg; }, 30);
}

// Focus moved to the start of a new step (headings get tabindex -1 so they can take it).
export function focusOn(el) {
  if (!el) return;
  if (!el.matches('button, input, select, a[href], textarea, [tabindex]')) el.setAttribute('tabindex', '-1');
  el.focus({ preventScroll: false });
}

// "4:05", "1:02:03"; negative counts as 0.
export function formatDuration(sec) {
  const s = Math.max(0, Math.ceil(sec));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  return hh > 0 ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

// Shows render(secondsLeft) in el (an element or a list of them) every second until untilIso; calls onEnd once
// at 0. Returns stop().
export function countdown(el, untilIso, render, onEnd) {
  const until = Date.parse(untilIso);
  const els = el instanceof Element ? [el] : Array.from(el);
  let ended = false;
  const tick = () => {
    const left = (until - Date.now()) / 1000;
    const text = render(left);
    for (const e of els) e.textContent = text;
    if (left <= 0 && !ended) { ended = true; clearInterval(timer); if (onEnd) onEnd(); }
  };
  const timer = setInterval(tick, 1000);
  tick();
  return () => clearInterval(timer);
}

// A button's own state (enabled or not) apart from being busy in act(): kept across a press.
export function setEnabled(button, on) {
  button.dataset.off = on ? '' : '1';
  if (!button.dataset.busy) button.disabled = !on;
}

// Runs fn for a button press: the button is disabled meanwhile (no double submit), notices are cleared first,
// and a thrown error is shown in words. Returns fn's result, or undefined when it threw.
export async function act(button, fn) {
  if (button && button.disabled) return undefined;
  if (button) { button.dataset.busy = '1'; button.disabled = true; }
  clearNotices();
  try {
    return await fn();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    if (button) { delete button.dataset.busy; button.disabled = button.dataset.off === '1'; }
  }
}

// A labelled line for receipts and summaries: <dt>label</dt><dd>value</dd>.
export function pairs(list) {
  const dl = h('dl', { class: 'pairs' });
  for (const [k, v] of list) dl.append(h('dt', { text: k }), h('dd', { text: v }));
  return dl;
}

// A table's header row from string keys; the keys in numeric are right-aligned like their cells.
export function headRow(keys, numeric = []) {
  return h('tr', {}, ...keys.map((k) => h('th', { scope: 'col', class: numeric.includes(k) ? 'num' : null, text: t(k) })));
}

export function kindText(kind) { return t('kind.' + kind); }
