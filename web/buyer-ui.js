// buyer-ui.js — the buyers' page's own DOM helpers: the one error notice (role="alert") and success notice, the
// polite live region, a button press that clears and fills those notices, receipts' label/value lines and table
// heads. Elements, focus, busy buttons, number checks and countdowns are shared with the organizer's page (dom.js).
// Limits: every text shown comes from the callers (already through t()); errors through errorText().
import { t, errorText } from '/static/i18n.js';
import { $, h, show, whileBusy } from '/static/dom.js';

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

// Runs fn for a button press (dom.js whileBusy: disabled meanwhile, no double submit), notices cleared first, a
// thrown error shown in words. Returns fn's result, or undefined when it threw or the button was busy.
export async function act(button, fn) {
  if (button && (button.disabled || button.dataset.busy)) return undefined;
  clearNotices();
  try {
    return await whileBusy(button, fn);
  } catch (e) {
    showError(e);
    return undefined;
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
