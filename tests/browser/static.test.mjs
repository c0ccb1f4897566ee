// static.test.mjs — the pages as files: both pages and every script and style they load come from the binary with
// the right content type, a strong ETag (304 on revalidation), "no-cache" and, on pages, a Content-Security-Policy
// that allows this server only; unknown names are the JSON 404; and in a real browser each page loads with no
// request outside the server and no script error, in English and in Korean.
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

run(import.meta.url);
