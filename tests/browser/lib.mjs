// lib.mjs — what every browser test uses: a real `ticketd serve` of its own (a fresh SQLite database, an admin
// key, abuse limits off), Debian's chromium through playwright-core, a guard that fails the test on any request
// that leaves the server (or any script error on a page), screenshots saved as artifacts, the API for arranging
// (tests act through the page; they may set the scene through the API), and a small sequential runner.
// Limits: each test has TEST_TIMEOUT_MS; each server start waits at most 15 s for /health.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, basename, resolve, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const TICKETD_BIN = process.env.TICKETD_BIN || resolve(HERE, '../../build/ticketd');
export const ARTIFACTS = process.env.TICKETD_ARTIFACTS || resolve(HERE, '../../build/artifacts/browser');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const TEST_TIMEOUT_MS = Number(process.env.BROWSER_TEST_TIMEOUT_MS || 180000);
export const ADMIN_KEY = 'browser-test-admin-key-0123456789';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

// A ticketd of the test's own. args: extra flags (e.g. ['--hold-seconds', '60']).
export async function startServer(args = []) {
  const dir = mkdtempSync(join(tmpdir(), 'ticketd-browser-'));
  const port = await freePort();
  const logPath = join(dir, 'ticketd.log');
  const log = openSync(logPath, 'w');
  const argv = ['serve', '--port', String(port), '--db', 'sqlite:' + join(dir, 't.db'), '--admin-key', ADMIN_KEY,
    '--signup-rate', '0', '--issue-rate', '0', '--max-connections-per-ip', '100000', ...args];
  const proc = spawn(TICKETD_BIN, argv, { stdio: ['ignore', log, log] });
  const url = `http://127.0.0.1:${port}`;
  const server = {
    url, port, proc, dir, adminKey: ADMIN_KEY,
    log: () => { try { return readFileSync(logPath, 'utf8'); } catch { return ''; } },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        for (let i = 0; i < 50 && proc.exitCode === null; i++) await sleep(100);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < 150; i++) {
    if (proc.exitCode !== null) throw new Error('ticketd exited at start:\n' + server.log());
    try {
      const r = await fetch(url + '/health');
      if (r.ok) return server;
    } catch { /* not up yet */ }
    await sleep(100);
  }
  await server.stop();
  throw new Error('ticketd did not answer /health in 15 s');
}

// Calls the API from the test (arranging only): returns `data`, throws with the code on failure.
export async function apiCall(server, method, path, { key, token, body, idem } = {}) {
  const headers = {};
  if (key) headers.Authorization = 'Bearer ' + key;
  if (token) headers['queue-token'] = token;
  if (idem) headers['Idempotency-Key'] = idem;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const j = await r.json();
  if (!j.success) { const e = new Error(`${method} ${path}: ${r.status} ${j.code} ${j.message}`); e.code = j.code; throw e; }
  return j.data;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
  });
}

// A browser context watched for requests that leave the server and for script errors; `guard.check()` throws
// if there were any. opts: locale ('en-US', 'ko-KR'), viewport ({width, height}).
export async function newWatchedContext(browser, server, opts = {}) {
  const context = await browser.newContext({
    locale: opts.locale || 'en-US',
    viewport: opts.viewport || { width: 1200, height: 900 },
  });
  const guard = { outside: [], errors: [], requests: 0 };
  context.on('request', (req) => {
    guard.requests++;
    const u = req.url();
    if (!(u.startsWith(server.url + '/') || u === server.url || u.startsWith('data:') || u.startsWith('blob:')))
      guard.outside.push(u);
  });
  context.on('page', (page) => watchPage(page, guard));
  guard.check = () => {
    if (guard.outside.length) throw new Error('requests outside the server: ' + guard.outside.join(', '));
    if (guard.errors.length) throw new Error('errors on the page: ' + guard.errors.join(' | '));
  };
  return { context, guard };
}

function watchPage(page, guard) {
  page.on('pageerror', (e) => guard.errors.push(String(e && e.message || e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of (4\d\d|503)/.test(m.text())) guard.errors.push('console: ' + m.text()); });
}

let currentFile = 'test';
export async function shot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${currentFile}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const tests = [];
export function test(name, fn) { tests.push({ name, fn }); }

// Runs every test of the file in order; exit status 1 when one failed. Each test gets ctx {server?, browser}.
export async function run(fileUrl) {
  currentFile = basename(fileURLToPath(fileUrl)).replace(/\.test\.mjs$/, '');
  let failed = 0;
  const browser = await launchBrowser();
  try {
    for (const t of tests) {
      const started = Date.now();
      let timer;
      try {
        await Promise.race([
          t.fn({ browser }),
          new Promise((_, fail) => { timer = setTimeout(() => fail(new Error(`timed out after ${TEST_TIMEOUT_MS} ms`)), TEST_TIMEOUT_MS); }),
        ]);
        console.log(`PASS ${t.name} (${Date.now() - started} ms)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${t.name}: ${e && e.stack || e}`);
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    await browser.close();
  }
  console.log(`${tests.length - failed}/${tests.length} passed`);
  if (tests.length === 0) { console.log('no test ran'); process.exit(1); }
  process.exit(failed ? 1 : 0);
}
