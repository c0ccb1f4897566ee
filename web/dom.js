// dom.js — what both pages (buyers' and organizer's) share for building and running the DOM: elements built without
// HTML strings (no markup from data, ever), showing and hiding, moving focus to the start of a step, a button that
// runs one action at a time, whole-number checks of what was typed (before anything is sent), the page's confirm
// dialog, and countdowns that speak only at a few milestones. Limits: no framework; words come from the callers
// (already through t()); each page keeps its own notices (buyer-ui.js, admin-ui.js).
import { t } from '/static/i18n.js';
import { serverNow } from '/static/api.js';

export const $ = (id) => document.getElementById(id);

// h('button', {class: 'x', onclick: fn, 'aria-label': '…'}, 'text', childNode…) → an element.
// `text` sets textContent; `i18n` / `i18nLabel` a string key for the text / aria-label (translatePage redoes them on
// a language switch, so forms keep what was typed); `dataset` an object of data-*; `value` the property;
// false/null/undefined attributes and children are skipped; strings become text nodes (never markup).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'i18n') { el.dataset.i18n = v; el.textContent = t(v); }
    else if (k === 'i18nLabel') { el.dataset.i18nLabel = v; el.setAttribute('aria-label', t(v)); }
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function show(el, on = true) { el.classList.toggle('hidden', !on); }

// Focus moved to the start of a new step (a heading gets tabindex -1 so it can take it).
export function focusOn(el) {
  if (!el) return;
  if (!el.matches('button, input, select, a[href], textarea, [tabindex]')) el.setAttribute('tabindex', '-1');
  el.focus();
}

// A button's own state (enabled or not) apart from being busy in whileBusy(): kept across a press.
export function setEnabled(button, on) {
  button.dataset.off = on ? '' : '1';
  if (!button.dataset.busy) button.disabled = !on;
}

// Runs fn with the button disabled (no double submit: a press while busy does nothing and resolves undefined);
// the button comes back as it was (setEnabled) whether fn resolved or threw. Errors are the caller's to word.
export async function whileBusy(button, fn) {
  if (button && (button.disabled || button.dataset.busy)) return undefined;
  if (button) { button.dataset.busy = '1'; button.disabled = true; }
  try {
    return await fn();
  } finally {
    if (button) { delete button.dataset.busy; button.disabled = button.dataset.off === '1'; }
  }
}

// A whole number in [min, max] from what was typed, else null: digits only ("1e3", "12abc", "-1", "1.5", "" and
// anything past max are refused before the server sees them).
export function intIn(text, min, max) {
  const s = String(text ?? '').trim();
  if (!/^\d{1,16}$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null;
}

// The page's confirm: the modal <dialog id="confirm"> (its text, a "go back" and an OK button). Keyboard: Tab
// between the two buttons, Escape = go back; focus starts on "go back" and returns to `back` (if given) afterwards.
// → true when OK.
export function confirmAction(text, okLabel, noLabel, back) {
  const dlg = $('confirm') || confirmDialog();
  $('confirm-text').textContent = text;
  $('confirm-yes').textContent = okLabel;
  $('confirm-no').textContent = noLabel;
  dlg.returnValue = '';
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      const ok = dlg.returnValue === 'ok';
      if (!ok && back && back.isConnected) back.focus();
      resolve(ok);
    }, { once: true });
    dlg.showModal();
    $('confirm-no').focus();
  });
}

// The dialog, built once on first use (the same on both pages, so neither page's HTML carries it).
function confirmDialog() {
  const dlg = h('dialog', { id: 'confirm', 'aria-labelledby': 'confirm-text' },
    h('form', { method: 'dialog' }, h('p', { id: 'confirm-text' }),
      h('div', { class: 'row end' },
        h('button', { type: 'submit', value: 'cancel', class: 'secondary', id: 'confirm-no' }),
        h('button', { type: 'submit', value: 'ok', class: 'danger', id: 'confirm-yes' }))));
  document.body.append(dlg);
  return dlg;
}

// "4:05", "1:02:03"; negative counts as 0.
export function formatDuration(sec) {
  const s = Math.max(0, Math.ceil(sec));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  return hh > 0 ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

// Seconds left at which a countdown is read out (role="timer" itself is silent): not every second.
export const MILESTONES = [600, 300, 120, 60, 30, 10];

// Shows render(secondsLeft) in el (an element or a list of them) every second until untilIso; calls onEnd once at
// 0; calls speak(text) when a milestone is crossed (for a polite live region). Returns stop().
export function countdown(el, untilIso, render, onEnd, speak) {
  const until = Date.parse(untilIso);
  const els = el instanceof Element ? [el] : Array.from(el);
  let ended = false;
  let next = MILESTONES.findIndex((m) => m < (until - serverNow()) / 1000); // the first milestone still ahead
  if (next < 0) next = MILESTONES.length;
  const tick = () => {
    const left = (until - serverNow()) / 1000;
    const text = render(left);
    for (const e of els) e.textContent = text;
    let crossed = false;
    while (next < MILESTONES.length && left <= MILESTONES[next]) { next++; crossed = true; }
    if (crossed && speak && left > 0) speak(text);
    if (left <= 0 && !ended) { ended = true; clearInterval(timer); if (onEnd) onEnd(); }
  };
  const timer = setInterval(tick, 1000);
  tick();
  return () => clearInterval(timer);
}
