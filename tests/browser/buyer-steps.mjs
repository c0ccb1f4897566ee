// buyer-steps.mjs — what the buyers' page tests (purchase, race, shop) share: arranging a concert, a date and a sale
// through the organizer API, and the buyer's steps done through the page only (sign up, charge, queue until ACTIVE,
// pick a date and seats). Waiting is on visible state (polling with a deadline), never a fixed sleep.
// Not a test file itself (no .test.mjs): lib.mjs's runner is used by the tests that import this.
import { apiCall, sleep } from './lib.mjs';

export const rfc3339 = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// Polls fn() until it returns a truthy value; throws "timed out waiting for <what>" after timeoutMs.
export async function until(what, fn, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { last = e; }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}` + (last instanceof Error ? `: ${last.message}` : ''));
    await sleep(100);
  }
}

export const textOf = (page, sel) => page.locator(sel).first().textContent();
export const visible = (page, sel) => page.locator(sel).first().isVisible();
export async function waitText(page, sel, re, timeoutMs) {
  return until(`${sel} to match ${re}`, async () => { const s = await textOf(page, sel); return re.test(s || '') && s; }, timeoutMs);
}

// A concert with one date 30 days out (prices: [{fromSeat, toSeat, price, category}]) and, unless sale is false,
// a sale opening opensInMs from now (0: open now). Returns {concert, schedule, sale}.
export async function arrangeConcert(server, { name, seatCount = 50, prices, opensInMs = 0, sale = true } = {}) {
  const key = server.adminKey;
  const concert = await apiCall(server, 'POST', '/admin/concerts', { key, body: { name } });
  const schedule = await apiCall(server, 'POST', '/admin/schedules', {
    key, body: { concertId: concert.concertId, startsAt: rfc3339(Date.now() + 30 * 86400e3), seatCount, prices },
  });
  let s = null;
  if (sale) {
    const body = { concertId: concert.concertId };
    if (opensInMs > 0) body.opensAt = rfc3339(Date.now() + opensInMs);
    s = await apiCall(server, 'POST', '/admin/sales', { key, body });
  }
  return { concert, schedule, sale: s };
}

// The page's stored API key (to check results through the API).
export const apiKeyOf = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('ticketd.buyer.user')).apiKey);

export async function signUp(page, server, name) {
  await page.goto(server.url + '/', { waitUntil: 'load' });
  await page.locator('#signup-name').fill(name);
  await page.locator('#signup-form button[type=submit]').click();
  await page.locator('#tabs').waitFor({ state: 'visible' });
  await waitText(page, '#who', new RegExp(name));
}

export async function charge(page, amount) {
  await page.locator('#tabs [data-tab=wallet]').click();
  await page.locator('#charge-amount').fill(String(amount));
  await page.locator('#charge-form button[type=submit]').click();
  await page.locator('#done').waitFor({ state: 'visible' });
}

// Tickets tab → the concert's "Join the queue" button (by its concertId's row name).
export async function joinQueue(page, concertName) {
  await page.locator('#tabs [data-tab=tickets]').click();
  const row = page.locator('#concert-list li.concert', { hasText: concertName });
  await row.waitFor({ state: 'visible' });
  await row.locator('button').click();
}

// Waits for ACTIVE (the dates step), picks the only date, waits for the whole seat map.
export async function toSeatMap(page, seatCount, timeoutMs = 30000) {
  await page.locator('#dates').waitFor({ state: 'visible', timeout: timeoutMs });
  await page.locator('#date-list button.date').first().click();
  await until('the seat map', async () => (await page.locator('#seat-grid .seat').count()) === seatCount);
}

export const seat = (page, n) => page.locator(`#seat-grid .seat[data-number="${n}"]`);

export async function pickSeats(page, numbers) {
  for (const n of numbers) {
    await seat(page, n).click();
    await until(`seat ${n} picked`, async () => (await seat(page, n).getAttribute('aria-pressed')) === 'true');
  }
}

// Visible text of the page; a sanity check that no raw JSON or error code leaked into it.
export async function assertNoRawError(page, assert) {
  const body = await page.locator('body').innerText();
  assert.ok(!body.includes('{') && !body.includes('}'), 'no raw JSON or template on the page');
  assert.ok(!/\b[A-Z]+_[A-Z_]+\b/.test(body), 'no error code on the page: ' + (body.match(/\b[A-Z]+_[A-Z_]+\b/) || [''])[0]);
}
