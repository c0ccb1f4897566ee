// admin-ui.js — what every part of the organizer's page shares: the admin key of this tab (sessionStorage), the one
// way to call the Organizer API with it, building elements without HTML strings (no markup injection from data),
// the words of a notice (errorText: never raw JSON), a confirm dialog, local-time inputs ↔ RFC 3339 UTC, and a hook
// to redraw in the other language. Limits: the key lives only as long as the tab (sessionStorage).
import { api } from '/static/api.js';
import { t, lang, errorText } from '/static/i18n.js';

const KEY_NAME = 'ticketd.adminKey';

export const session = {
  key() { return sessionStorage.getItem(KEY_NAME) || ''; },
  set(k) { sessionStorage.setItem(KEY_NAME, k); },
  clear() { sessionStorage.removeItem(KEY_NAME); },
};

// An Organizer API call with this tab's admin key (or opts.key). Resolves to `data`; rejects with an ApiError.
export function call(method, path, opts = {}) {
  return api(method, path, { key: session.key(), ...opts });
}

// h('button', {class: 'x', onclick: fn, 'aria-label': '…'}, 'text', childNode…) → an element.
// `text` sets textContent; `i18n` / `i18nLabel` a string key for the text / aria-label (translatePage redoes them on
// a language switch, so forms keep what was typed); `dataset` an object of data-*; false/null attributes are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'i18n') { el.dataset.i18n = v; el.textContent = t(v); } // kept current by translatePage
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

// A labelled input: returns {wrap, input}. opts: id, label (key), type, value, min, max, required, hint (key).
export function field(opts) {
  const input = h('input', {
    id: opts.id, name: opts.name || opts.id, type: opts.type || 'text', value: opts.value ?? '', min: opts.min,
    max: opts.max, step: opts.step, required: !!opts.required, inputmode: opts.inputmode, maxlength: opts.maxlength,
    autocomplete: opts.autocomplete || 'off', 'aria-describedby': opts.hint ? opts.id + '-hint' : null,
    class: opts.inputClass,
  });
  const wrap = h('div', { class: 'field ' + (opts.class || '') },
    h('label', { for: opts.id, i18n: opts.label }), input,
    opts.hint ? h('span', { id: opts.id + '-hint', class: 'hint muted', i18n: opts.hint }) : null);
  return { wrap, input };
}

// An empty live region for one form's or view's outcome (filled by say / sayError).
export function msgBox() { return h('div', { class: 'msg', role: 'alert' }); }

export function say(box, kind, text) {
  box.replaceChildren(h('p', { class: 'notice ' + kind, text }));
}

// An error in words: the contract's code through errorText, plus the server's own sentence for a 400 (it names the
// field; it is text, never the JSON body).
export function sayError(box, e) {
  const p = h('p', { class: 'notice error', text: errorText(e) });
  if (e && e.code === 'INVALID_ARGUMENT' && e.message && e.message !== e.code)
    p.append(h('span', { class: 'detail', text: ' ' + t('a.serverSaid', { msg: e.message }) }));
  box.replaceChildren(p);
}

// Gives each cell its column's heading as data-label, so that at phone width (admin.css) a row shows as a small
// card of "heading: value" lines instead of a table wider than the screen. Returns the table.
export function stacked(table) {
  table.classList.add('stack');
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
  for (const tr of table.querySelectorAll('tbody tr'))
    [...tr.children].forEach((td, i) => { td.dataset.label = heads[i] || ''; });
  return table;
}

export function clearMsg(box) { box.replaceChildren(); }

// Runs fn with the button disabled (no double submit); errors go to box in words. Returns fn's value or undefined.
export async function busy(button, box, fn) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (e) {
    if (box) sayError(box, e);
    else throw e;
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// The page's confirm: a modal <dialog> (keyboard: Tab between the two buttons, Escape = go back). → true when OK.
export function confirmAction(text, okLabel) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-yes').textContent = okLabel;
  document.getElementById('confirm-no').textContent = t('a.no');
  dlg.returnValue = '';
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
    document.getElementById('confirm-no').focus();
  });
}

export function fmtNum(n) {
  if (n === null || n === undefined) return '—';
  return new Intl.NumberFormat(lang() === 'ko' ? 'ko-KR' : 'en-US').format(n);
}

export function fmtSeconds(s) {
  if (s === null || s === undefined) return '—';
  return t('a.seconds', { n: fmtNum(s) });
}

// <input type=datetime-local> value (the browser's local time) → RFC 3339 UTC without fractions; '' → null.
export function localToRfc3339(v) {
  if (!v) return null;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return undefined;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// A Date → the datetime-local value of that moment in local time (minutes).
export function dateToLocal(d) {
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// Integer in [min, max] from an input's text, else null (the page checks before the server judges).
export function intIn(text, min, max) {
  const s = String(text).trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null;
}

// Marks inputs invalid (aria-invalid) and focuses the first; clears the others given.
export function markInvalid(bad, all = []) {
  for (const el of all) el.removeAttribute('aria-invalid');
  for (const el of bad) el.setAttribute('aria-invalid', 'true');
  if (bad[0]) bad[0].focus();
}

const langHooks = [];
export function onLang(fn) { langHooks.push(fn); }
export function runLangHooks() { for (const fn of langHooks) fn(); }

// The sale's state in words (the code stays visible to tests in data-state).
export function stateText(state) { return t('a.state.' + state); }
