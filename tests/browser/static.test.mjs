// static.test.mjs — the pages as files: both pages and every script and style they load come from the binary with
// the right content type, a strong ETag (304 on revalidation), "no-cache" and, on pages, a Content-Security-Policy
// that allows this server only; unknown names are the JSON 404; and in a real browser each page loads with no
// request outside the server and no script error, in English and in Korean; every string key has a Korean string
// and no page shows a bare key.
import assert from 'node:assert/strict';
import { test, run, startServer, newWatchedContext, shot } from './lib.mjs';

test('pages and their files are served from the binary with types, ETags and a CSP', async () => {
  const server = await startServer();
  try {
    for (const [path, type] of [['/', 'text/html'], ['/admin', 'text/html'], ['/static/app.css', 'text/css'],
      ['/static/api.js', 'text/javascript'], ['/static/i18n.js', 'text/javascript']]) {
      const r = await fetch(server.url + path);
      assert.equal(r.status, 200, path);
      assert.ok(r.headers.get('content-type').startsWith(type), `${path}: ${r.headers.get('content-type')}`);
      assert.equal(r.headers.get('cache-control'), 'no-cache', path);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
      const etag = r.headers.get('etag');
      assert.match(etag, /^"[0-9a-f]{16}"$/, path);
      if (type === 'text/html') {
        const csp = r.headers.get('content-security-policy');
        assert.match(csp, /default-src 'self'/, path);
        assert.match(csp, /connect-src 'self'/, path);
        assert.doesNotMatch(csp, /unsafe-inline|https?:/, path);
      }
      const body = await r.text();
      assert.ok(body.length > 0, path);
      const again = await fetch(server.url + path, { headers: { 'If-None-Match': etag } });
      assert.equal(again.status, 304, path + ' revalidated');
      assert.equal((await again.text()).length, 0);
      const head = await fetch(server.url + path, { method: 'HEAD' });
      assert.equal(head.status, 200, path + ' HEAD');
    }
    for (const path of ['/static/nope.js', '/static/..%2Fticketd', '/index.html', '/static/']) {
      const r = await fetch(server.url + path);
      assert.equal(r.status, 404, path);
      assert.equal((await r.json()).code, 'NOT_FOUND', path);
    }
    const post = await fetch(server.url + '/', { method: 'POST' });
    assert.equal(post.status, 405);
  } finally {
    await server.stop();
  }
});

test('each page loads with no outside request and no script error, in English and Korean', async ({ browser }) => {
  const server = await startServer();
  try {
    for (const locale of ['en-US', 'ko-KR']) {
      const { context, guard } = await newWatchedContext(browser, server, { locale });
      for (const path of ['/', '/admin']) {
        const page = await context.newPage();
        await page.goto(server.url + path, { waitUntil: 'networkidle' });
        assert.equal(await page.evaluate(() => document.documentElement.lang), locale.slice(0, 2), path + ' lang');
        await shot(page, `${path === '/' ? 'buyer' : 'admin'}-first-${locale.slice(0, 2)}`);
        await page.close();
      }
      guard.check();
      assert.ok(guard.requests >= 4, 'the pages loaded their files');
      await context.close();
    }
  } finally {
    await server.stop();
  }
});

// Every string key has both languages: the addStrings({en: {…}, ko: {…}}) tables of every script the pages load
// (read from the server, so exactly what the binary serves), compared key by key.
function stringTables(source) {
  const tables = [];
  for (const block of source.split('addStrings(').slice(1)) {
    const en = block.indexOf('en: {'), ko = block.indexOf('ko: {');
    if (en < 0 || ko < en) continue;
    const end = block.indexOf('});', ko);
    const keys = (text) => new Set([...text.matchAll(/'([A-Za-z][\w-]*(?:\.[\w-]+)+)'\s*:/g)].map((m) => m[1]));
    tables.push({ en: keys(block.slice(en, ko)), ko: keys(block.slice(ko, end < 0 ? undefined : end)) });
  }
  return tables;
}

// "tabs.wallet", "a.state.OPEN": what t() shows when a key has no string.
const KEY_LIKE = /^[a-z][\w-]*(\.[\w-]+)+$/;

test('Korean: every English string key has a Korean one, and no page shows a bare key', async ({ browser }) => {
  const server = await startServer();
  try {
    const { context, guard } = await newWatchedContext(browser, server, { locale: 'ko-KR' });
    const scripts = new Set();
    context.on('request', (r) => { if (r.url().endsWith('.js')) scripts.add(r.url()); });
    for (const path of ['/', '/admin']) {
      const page = await context.newPage();
      await page.goto(server.url + path, { waitUntil: 'networkidle' });
      assert.equal(await page.evaluate(() => document.documentElement.lang), 'ko', path);
      // every text node (shown or not yet shown) and every aria-label / placeholder the page has filled in
      const bare = await page.evaluate((re) => {
        const key = new RegExp(re);
        const out = [];
        const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) if (key.test(n.textContent.trim())) out.push(n.textContent.trim());
        for (const el of document.querySelectorAll('[aria-label], [placeholder]'))
          for (const v of [el.getAttribute('aria-label'), el.getAttribute('placeholder')]) if (v && key.test(v.trim())) out.push(v);
        return out;
      }, KEY_LIKE.source);
      assert.deepEqual(bare, [], `${path}: untranslated keys shown`);
      await page.close();
    }
    guard.check();
    await context.close();
    assert.ok(scripts.size >= 8, 'the pages loaded their scripts: ' + [...scripts].join(' '));
    const missing = [];
    let tables = 0;
    for (const url of scripts) {
      for (const tb of stringTables(await (await fetch(url)).text())) {
        tables++;
        for (const k of tb.en) if (!tb.ko.has(k)) missing.push(`${url.replace(server.url, '')}: ${k}`);
        for (const k of tb.ko) if (!tb.en.has(k)) missing.push(`${url.replace(server.url, '')}: ${k} (Korean only)`);
      }
    }
    assert.ok(tables >= 6, 'string tables found: ' + tables);
    assert.deepEqual(missing, [], 'keys without both languages');
  } finally {
    await server.stop();
  }
});

run(import.meta.url);
