// i18n.js — Korean and English for the pages, following the browser's language (navigator.languages), with a
// switch kept in localStorage. Each page adds its own strings with addStrings(); the error codes of the contract
// are here once, so every page words an ApiError the same way (errorText).

const STRINGS = { en: {}, ko: {} };
const LANG_KEY = 'ticketd.lang';

export function addStrings(table) {
  for (const lang of Object.keys(STRINGS)) Object.assign(STRINGS[lang], table[lang] || {});
}

export function lang() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === 'en' || saved === 'ko') return saved;
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  for (const p of prefs) {
    const l = String(p).toLowerCase();
    if (l.startsWith('ko')) return 'ko';
    if (l.startsWith('en')) return 'en';
  }
  return 'en';
}

export function setLang(l) {
  localStorage.setItem(LANG_KEY, l);
  document.documentElement.lang = l;
}

// t('key', {n: 3}) → the string in the current language with {n} filled in (English, then the key, as fallbacks).
export function t(key, vars) {
  const l = lang();
  let s = STRINGS[l][key] ?? STRINGS.en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m));
  return s;
}

// Fills every element with data-i18n="key" (its text) and data-i18n-placeholder / data-i18n-label (attributes).
export function translatePage(root = document) {
  document.documentElement.lang = lang();
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll('[data-i18n-placeholder]').forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  root.querySelectorAll('[data-i18n-label]').forEach((el) => { el.setAttribute('aria-label', t(el.dataset.i18nLabel)); });
}

export function formatWon(n) {
  return new Intl.NumberFormat(lang() === 'ko' ? 'ko-KR' : 'en-US').format(n) + (lang() === 'ko' ? '원' : ' KRW');
}

export function formatTime(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang() === 'ko' ? 'ko-KR' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' })
    .format(new Date(iso));
}

addStrings({
  en: {
    'err.INVALID_ARGUMENT': 'Some of what you entered is not valid.',
    'err.UNAUTHORIZED': 'You are not signed in, or your key is not known here.',
    'err.NOT_ADMITTED': 'Your place in line has not been admitted yet.',
    'err.FORBIDDEN': 'That belongs to someone else, or is not open to you.',
    'err.NOT_FOUND': 'That could not be found.',
    'err.SEAT_UNAVAILABLE': 'Sorry — that seat was just taken by someone else.',
    'err.HOLD_EXPIRED': 'Your hold ran out of time; the seats are free again.',
    'err.INSUFFICIENT_BALANCE': 'Your wallet does not have enough money. Charge it and try again.',
    'err.ALREADY_PAID': 'This is already paid.',
    'err.HOLD_LIMIT': 'You are holding as many seats as you may at once.',
    'err.IDEMPOTENCY_KEY_REUSED': 'That request clashed with an earlier one. Please try again.',
    'err.PAYLOAD_TOO_LARGE': 'That is too much to send at once.',
    'err.RATE_LIMITED': 'Too many requests just now. Wait a moment and try again.',
    'err.UNAVAILABLE': 'The service is busy or a part of it is down. Nothing was changed; try again.',
    'err.METHOD_NOT_ALLOWED': 'That action is not allowed here.',
    'err.INTERNAL': 'Something went wrong on the server. Nothing was changed.',
    'err.SALE_CLOSED': 'This sale is closed.',
    'err.OUT_OF_STOCK': 'Sorry — not enough of that is left in stock.',
    'err.ORDER_EXPIRED': 'This order ran out of time; its items are back in stock.',
    'err.ALREADY_REFUNDED': 'This payment has already been refunded.',
    'err.REFUND_CLOSED': 'Refunds for this date have closed.',
    'err.NETWORK': 'The server could not be reached. Check your connection and try again.',
    'err.TIMEOUT': 'The server took too long to answer. Try again.',
    'err.BAD_RESPONSE': 'The server gave an answer this page does not understand.',
    'err.unknown': 'Something went wrong ({code}).',
  },
  ko: {
    'err.INVALID_ARGUMENT': '입력한 내용 중 올바르지 않은 것이 있습니다.',
    'err.UNAUTHORIZED': '로그인되어 있지 않거나 알 수 없는 키입니다.',
    'err.NOT_ADMITTED': '아직 입장 차례가 되지 않았습니다.',
    'err.FORBIDDEN': '다른 사람의 것이거나 이용할 수 없는 항목입니다.',
    'err.NOT_FOUND': '찾을 수 없습니다.',
    'err.SEAT_UNAVAILABLE': '죄송합니다. 방금 다른 분이 그 좌석을 선택했습니다.',
    'err.HOLD_EXPIRED': '좌석 선점 시간이 지났습니다. 좌석이 다시 풀렸습니다.',
    'err.INSUFFICIENT_BALANCE': '지갑 잔액이 부족합니다. 충전 후 다시 시도하세요.',
    'err.ALREADY_PAID': '이미 결제되었습니다.',
    'err.HOLD_LIMIT': '한 번에 선점할 수 있는 좌석 수를 넘었습니다.',
    'err.IDEMPOTENCY_KEY_REUSED': '이전 요청과 충돌했습니다. 다시 시도하세요.',
    'err.PAYLOAD_TOO_LARGE': '한 번에 보내기에는 너무 큽니다.',
    'err.RATE_LIMITED': '요청이 너무 많습니다. 잠시 후 다시 시도하세요.',
    'err.UNAVAILABLE': '서비스가 혼잡하거나 일부가 중단되었습니다. 변경된 것은 없습니다. 다시 시도하세요.',
    'err.METHOD_NOT_ALLOWED': '여기서는 할 수 없는 동작입니다.',
    'err.INTERNAL': '서버에 문제가 생겼습니다. 변경된 것은 없습니다.',
    'err.SALE_CLOSED': '이 판매는 종료되었습니다.',
    'err.OUT_OF_STOCK': '죄송합니다. 재고가 부족합니다.',
    'err.ORDER_EXPIRED': '주문 시간이 지났습니다. 상품이 재고로 돌아갔습니다.',
    'err.ALREADY_REFUNDED': '이미 환불된 결제입니다.',
    'err.REFUND_CLOSED': '이 공연일의 환불 기간이 끝났습니다.',
    'err.NETWORK': '서버에 연결할 수 없습니다. 연결을 확인하고 다시 시도하세요.',
    'err.TIMEOUT': '서버 응답이 너무 늦습니다. 다시 시도하세요.',
    'err.BAD_RESPONSE': '서버의 응답을 이해할 수 없습니다.',
    'err.unknown': '문제가 발생했습니다 ({code}).',
  },
});

// An ApiError (or anything thrown) in words of the current language.
export function errorText(e) {
  const code = e && e.code;
  const key = 'err.' + code;
  if (code && (STRINGS.en[key] !== undefined)) return t(key);
  return t('err.unknown', { code: code || String(e && e.message || e) });
}
