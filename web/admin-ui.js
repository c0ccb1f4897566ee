// admin-ui.js — what every part of the organizer's page shares: the admin key of this tab (sessionStorage), the one
// way to call the Organizer API with it, a notice box per form (errorText: never raw JSON), the confirm dialog's
// words, local-time inputs ↔ RFC 3339 UTC, and a hook
// to redraw in the other language. Limits: the key lives only as long as the tab (sessionStorage).
import { api } from '/static/api.js';
import { t, lang, errorText } from '/static/i18n.js';
import { h, whileBusy, confirmAction as confirmDialog } from '/static/dom.js';

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

// Elements, busy buttons, number checks and the confirm dialog are dom.js's (shared with the buyers' page).
export { h, intIn } from '/static/dom.js';

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
  if (opts.type === 'datetime-local') {
    // a local time is only clear with its zone: say which one the browser uses (the value is sent as UTC)
    const note = zoneNote(opts.id + '-zone');
    wrap.append(note);
    input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), note.id].filter(Boolean).join(' '));
  }
  return { wrap, input };
}

// "Asia/Seoul, UTC+09:00" for the browser's zone and its offset at moment d.
export function zoneName(d = new Date()) {
  const off = -d.getTimezoneOffset();
  const p = (x) => String(Math.floor(Math.abs(x))).padStart(2, '0');
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  const utc = 'UTC' + (off < 0 ? '−' : '+') + p(off / 60) + ':' + p(off % 60);
  return zone ? zone + ', ' + utc : utc;
}

function zoneNote(id) {
  const note = h('span', { id, class: 'hint muted zone' });
  const render = () => { note.textContent = t('a.zone', { zone: zoneName() }); };
  render();
  onLang(render);
  return note;
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

// Runs fn with the button disabled (dom.js whileBusy: no double submit); errors go to box in words, or are thrown
// when there is no box. Returns fn's value or undefined.
export async function busy(button, box, fn) {
  try {
    return await whileBusy(button, fn);
  } catch (e) {
    if (!box) throw e;
    sayError(box, e);
    return undefined;
  }
}

// The page's confirm (dom.js): → true when OK; on "go back" focus returns to `back`.
export function confirmAction(text, okLabel, back) { return confirmDialog(text, okLabel, t('a.no'), back); }

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
