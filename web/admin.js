// admin.js — the organizer's page (GET /admin): signing in with the admin key, the three sections (concerts and
// dates, sales with the live dashboard, products) as buttons that show one panel at a time (kept in the URL's
// #hash, so a reload comes back to the same place), and the language switch. The sections themselves live in
// admin-concerts.js, admin-sales.js and admin-products.js; shared helpers in admin-ui.js. Limits: the key is kept
// for this tab only (sessionStorage); a wrong key is told in words and not kept.
import { addStrings, t, lang, setLang, translatePage } from '/static/i18n.js';
import { $, focusOn } from '/static/dom.js';
import { call, session, say, sayError, clearMsg, busy, runLangHooks } from '/static/admin-ui.js';
import * as concerts from '/static/admin-concerts.js';
import * as sales from '/static/admin-sales.js';
import * as products from '/static/admin-products.js';

addStrings({
  en: {
    'a.skip': 'Skip to content',
    'a.title': 'Organizer',
    'a.loading': 'Loading…',
    'a.signOut': 'Sign out',
    'a.sections': 'Sections',
    'a.tab.concerts': 'Concerts and dates',
    'a.tab.sales': 'Sales',
    'a.tab.products': 'Products',
    'a.signin.h': 'Sign in',
    'a.signin.hint': 'Enter the admin key ticketd was started with (--admin-key).',
    'a.signin.key': 'Admin key',
    'a.signin.go': 'Sign in',
    'a.signin.empty': 'Enter the admin key.',
    'a.signin.wrong': 'That admin key is not the one this server was started with.',
    'a.no': 'Go back',
    'a.serverSaid': '(The server says: {msg})',
    'a.seconds': '{n} s',
    'a.langSwitch': '한국어',
    'a.langSwitchLabel': 'Switch the page to Korean',
    'a.zone': 'In your browser\'s time zone ({zone}); sent to the server as UTC.',
  },
  ko: {
    'a.skip': '본문으로 건너뛰기',
    'a.title': '주최자',
    'a.loading': '불러오는 중…',
    'a.signOut': '로그아웃',
    'a.sections': '메뉴',
    'a.tab.concerts': '공연과 공연일',
    'a.tab.sales': '판매',
    'a.tab.products': '상품',
    'a.signin.h': '로그인',
    'a.signin.hint': 'ticketd를 시작할 때 지정한 관리자 키(--admin-key)를 입력하세요.',
    'a.signin.key': '관리자 키',
    'a.signin.go': '로그인',
    'a.signin.empty': '관리자 키를 입력하세요.',
    'a.signin.wrong': '이 서버를 시작할 때 지정한 관리자 키가 아닙니다.',
    'a.no': '돌아가기',
    'a.serverSaid': '(서버 메시지: {msg})',
    'a.seconds': '{n}초',
    'a.langSwitch': 'English',
    'a.langSwitchLabel': '페이지를 영어로 바꾸기',
    'a.zone': '브라우저의 시간대({zone}) 기준이며, 서버에는 UTC로 보냅니다.',
  },
});

const SECTIONS = { concerts, sales, products };
let current = null;

function showSignedIn(on) {
  $('signin').classList.toggle('hidden', on);
  $('tabs').classList.toggle('hidden', !on);
  $('sign-out').classList.toggle('hidden', !on);
  for (const name of Object.keys(SECTIONS)) $('panel-' + name).classList.toggle('hidden', !on || name !== current);
}

// "#sales/12" → {tab: 'sales', arg: '12'}
function readHash() {
  const [tab, arg] = location.hash.replace(/^#/, '').split('/');
  return { tab: SECTIONS[tab] ? tab : 'concerts', arg: arg || '' };
}

function openTab(tab, arg, focus) {
  // the section left behind stops its timers (the sale dashboard's once-a-second read); showing it again resumes
  if (current && current !== tab && SECTIONS[current].hide) SECTIONS[current].hide();
  current = tab;
  document.querySelectorAll('#tabs .tab').forEach((b) => {
    if (b.dataset.tab === tab) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
  });
  for (const name of Object.keys(SECTIONS)) $('panel-' + name).classList.toggle('hidden', name !== tab);
  SECTIONS[tab].show(arg);
  if (focus) {
    // the first heading on screen (the sale dashboard's, when it is open; it is hidden otherwise)
    focusOn([...$('panel-' + tab).querySelectorAll('h2')].find((h2) => h2.offsetParent !== null));
  }
}

export function setHash(tab, arg) {
  const want = '#' + tab + (arg ? '/' + arg : '');
  if (location.hash !== want) history.replaceState(null, '', want);
}

// The key is checked by a read every organizer may make (GET /admin/sales): 401/403 → words, not kept.
async function signIn(key) {
  await call('GET', '/admin/sales', { key });
  session.set(key);
}

// focus: the section's heading takes it (after the sign-in form, which is gone now); a reload leaves it be.
function afterSignIn(focus) {
  showSignedIn(true);
  const { tab, arg } = readHash();
  openTab(tab, arg, focus);
}

function signOut() {
  session.clear();
  for (const s of Object.values(SECTIONS)) s.reset();
  current = null;
  history.replaceState(null, '', location.pathname);
  showSignedIn(false);
  $('admin-key').value = '';
  $('admin-key').focus();
}

function applyLang() {
  translatePage();
  const b = $('lang-switch');
  b.textContent = t('a.langSwitch');
  b.lang = lang() === 'ko' ? 'en' : 'ko';
  b.setAttribute('aria-label', t('a.langSwitchLabel'));
  document.title = 'ticketd — ' + t('a.title');
}

function boot() {
  for (const [name, mod] of Object.entries(SECTIONS)) mod.mount($('panel-' + name), { setHash });
  applyLang();
  $('lang-switch').addEventListener('click', () => {
    setLang(lang() === 'ko' ? 'en' : 'ko');
    applyLang();
    runLangHooks();
  });
  $('sign-out').addEventListener('click', signOut);
  document.querySelectorAll('#tabs .tab').forEach((b) => b.addEventListener('click', () => {
    setHash(b.dataset.tab, '');
    openTab(b.dataset.tab, '', true);
  }));
  const form = $('signin-form');
  const box = form.querySelector('.msg');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = $('admin-key').value.trim();
    clearMsg(box);
    if (!key) { say(box, 'error', t('a.signin.empty')); $('admin-key').focus(); return; }
    const ok = await busy(form.querySelector('button[type=submit]'), null, () => signIn(key).then(() => true))
      .catch((e) => {
        sayError(box, e);
        if (e.status === 401 || e.status === 403) box.firstChild.append(' ' + t('a.signin.wrong'));
        $('admin-key').setAttribute('aria-invalid', 'true');
        $('admin-key').focus();
        return false;
      });
    if (ok) {
      $('admin-key').removeAttribute('aria-invalid');
      $('admin-key').value = '';
      afterSignIn(true);
    }
  });
  $('loading').classList.add('hidden');
  if (session.key()) {
    // a reload of a signed-in tab: check the key is still good (the server may have been restarted with another)
    signIn(session.key()).then(() => afterSignIn(false), (e) => {
      session.clear();
      showSignedIn(false);
      sayError(box, e);
    });
  } else {
    showSignedIn(false);
    $('admin-key').focus();
  }
}

boot();
