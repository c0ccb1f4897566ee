// admin.test.mjs — the organizer's page (GET /admin) in a real chromium against a real ticketd: the organizer signs
// in (a wrong key first: told in words), creates a concert, a date with two price categories (the page's own check
// of the ranges first), a sale opening now with small limits; buyers arranged through the API join its queue so the
// dashboard's numbers and charts move once a second; the organizer pauses (admissions stop while the line grows),
// changes maxActive live, reopens; refunds a buyer's payment, cancels the date (the refunded count shown), creates
// a product and changes its stock — every step through the page, checked through the API too. A second test: the
// page in Korean at phone width (390 px) with no page-level horizontal scroll, signed in with the keyboard.
// Waits are on visible state (data-* attributes the page keeps current), never fixed sleeps.
import assert from 'node:assert/strict';
import { test, run, startServer, apiCall, newWatchedContext, shot, sleep, ADMIN_KEY } from './lib.mjs';

// Polls fn (async, → truthy) every 100 ms until it holds; fails with `what` after ms.
async function until(fn, what, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last && last.message || last})`);
    await sleep(100);
  }
}

const stat = async (page, k) => Number(await page.getAttribute(`[data-stat="${k}"]`, 'data-value'));
const points = async (page, id) => Number(await page.getAttribute(`#chart-${id}`, 'data-points'));
const admin = (server, method, path, body) => apiCall(server, method, path, { key: ADMIN_KEY, body });

async function signIn(page, key) {
  await page.fill('#admin-key', key);
  await page.click('#signin-form button[type=submit]');
}

// A buyer with an API key, money and a queue token for the concert's sale.
async function newBuyer(server, concertId, n) {
  const u = await apiCall(server, 'POST', '/users', { body: { name: `buyer ${n}` } });
  const q = await apiCall(server, 'POST', '/queue/issue', { key: u.apiKey, body: { concertId } });
  return { ...u, token: q.token, status: q.status };
}

// An ACTIVE buyer holds one free seat of the date and pays for it → the payment.
async function buySeat(server, b, scheduleId) {
  await apiCall(server, 'POST', '/user/charge', { key: b.apiKey, body: { amount: 500000 } });
  const seats = await apiCall(server, 'GET', `/concert/available-seats?concertScheduleId=${scheduleId}`, { token: b.token });
  const r = await apiCall(server, 'POST', '/reservation', { token: b.token, body: { seatId: seats[0].seatId } });
  return apiCall(server, 'POST', '/payment', { token: b.token, body: { reservationId: r.reservationId } });
}

// The buyers' pages poll their status; so does this (a waiter that never polls loses its place after idle_seconds).
function keepPolling(server, buyers) {
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      for (const b of buyers) {
        if (stop) break;
        try { await apiCall(server, 'GET', '/queue/status', { token: b.token }); } catch { /* expired: fine */ }
      }
      for (let i = 0; i < 20 && !stop; i++) await sleep(100);
    }
  })();
  return async () => { stop = true; await loop; };
}

// The datetime-local value for `days` from now at 19:00, in the browser's time zone.
const localInput = (page, days) => page.evaluate((d) => {
  const x = new Date(Date.now() + d * 86400000);
  const p = (v) => String(v).padStart(2, '0');
  return `${x.getFullYear()}-${p(x.getMonth() + 1)}-${p(x.getDate())}T19:00`;
}, days);

test('the organizer runs a sale from the page: concert, date, sale, live dashboard, refund, cancel, products', async ({ browser }) => {
  const server = await startServer();
  let stopPolling = async () => {};
  try {
    const { context, guard } = await newWatchedContext(browser, server, { locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(server.url + '/admin');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');

    // a wrong key: words, not JSON, and the key is not kept
    await signIn(page, 'not-the-admin-key-at-all');
    const wrong = await page.locator('#signin-form [role=alert] .notice.error').textContent();
    assert.match(wrong, /not known here/);
    assert.match(wrong, /not the one this server was started with/);
    assert.doesNotMatch(wrong, /[{}]|UNAUTHORIZED/);
    assert.equal(await page.getAttribute('#admin-key', 'aria-invalid'), 'true');
    await signIn(page, ADMIN_KEY);
    await page.locator('#concerts').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('ticketd.adminKey')), ADMIN_KEY);

    // a concert
    await page.fill('#concert-name', 'Browser Test Orchestra');
    await page.click('#concert-form button[type=submit]');
    await page.locator('#dates-h', { hasText: 'Browser Test Orchestra' }).waitFor();
    const concert = (await apiCall(server, 'GET', '/concerts')).find((c) => c.name === 'Browser Test Orchestra');
    assert.ok(concert, 'the concert is in the catalogue');

    // a date of 40 seats in two price categories; first a gap the page itself refuses
    await page.fill('#date-starts', await localInput(page, 10));
    await page.fill('#date-seats', '40');
    const r1 = page.locator('#price-ranges .range').nth(0);
    await r1.locator('.from').fill('1');
    await r1.locator('.to').fill('20');
    await r1.locator('.price').fill('150000');
    await r1.locator('.category').fill('VIP');
    await page.click('#add-range');
    const r2 = page.locator('#price-ranges .range').nth(1);
    assert.equal(await r2.locator('.from').inputValue(), '21', 'a new range starts after the last one');
    await r2.locator('.to').fill('39');
    await r2.locator('.price').fill('90000');
    await r2.locator('.category').fill('R');
    await page.click('#date-form button[type=submit]');
    await page.locator('#date-form .notice.error', { hasText: 'Seat 40 has no price' }).waitFor();
    assert.equal((await admin(server, 'GET', `/admin/schedules?concertId=${concert.concertId}`)).length, 0,
      'nothing was sent');
    await r2.locator('.to').fill('40');
    await page.click('#date-form button[type=submit]');
    await page.locator('#date-form .notice.ok', { hasText: '40 seats' }).waitFor();
    await page.locator('#dates tbody tr').first().waitFor();
    await shot(page, 'concert-date-forms');
    const dates = await admin(server, 'GET', `/admin/schedules?concertId=${concert.concertId}`);
    assert.equal(dates.length, 1);
    assert.equal(dates[0].totalSeats, 40);
    const date = dates[0];

    // a sale opening now: at most 2 inside, 1 admitted a second, 60 s to shop once admitted
    await page.click('#tabs [data-tab=sales]');
    await page.selectOption('#sale-concert', concert.concertId);
    await page.fill('#sale-max', '2');
    await page.fill('#sale-rate', '1');
    await page.fill('#sale-token', '60');
    await page.click('#sale-form button[type=submit]');
    await page.locator('#dash-state[data-state=OPEN]').waitFor();
    const sale = (await admin(server, 'GET', '/admin/sales')).find((s) => s.concertId === concert.concertId);
    assert.ok(sale);
    assert.deepEqual([sale.maxActive, sale.admitPerSec, sale.tokenSeconds], [2, 1, 60]);

    // 8 buyers join: 2 inside at once, 6 wait
    const buyers = [];
    for (let i = 1; i <= 8; i++) buyers.push(await newBuyer(server, concert.concertId, i));
    assert.deepEqual(buyers.map((b) => b.status).slice(0, 3), ['ACTIVE', 'ACTIVE', 'WAITING']);
    stopPolling = keepPolling(server, buyers.slice(2));
    await until(async () => await stat(page, 'waiting') === 6 && await stat(page, 'active') === 2, 'waiting 6, active 2');
    // the first two buy a seat each: their tokens end, the next two are admitted (one a second)
    const pays = [await buySeat(server, buyers[0], date.scheduleId), await buySeat(server, buyers[1], date.scheduleId)];
    await until(async () => await stat(page, 'admittedTotal') === 4 && await stat(page, 'waiting') === 4, 'admittedTotal 4');
    await until(async () => await stat(page, 'seatsSold') === 2, 'two seats sold');
    // the charts gain a point every second
    const p0 = await points(page, 'waiting');
    await until(async () => await points(page, 'waiting') >= p0 + 1, 'a new point');
    await until(async () => await points(page, 'waiting') >= p0 + 2, 'another point');
    for (const id of ['admitted', 'wait']) assert.ok(await points(page, id) >= p0 + 1, id + ' chart grows too');
    assert.match(await page.textContent('#chart-waiting-text'), /Waiting: now 4/);

    // pause: the two inside buy and leave, yet nobody more is admitted while the line grows
    await page.click('#sale-pause');
    await page.locator('#dash-state[data-state=PAUSED]').waitFor();
    assert.equal((await admin(server, 'GET', `/admin/sales/${sale.saleId}`)).state, 'PAUSED');
    const admittedAtPause = (await admin(server, 'GET', `/admin/sales/${sale.saleId}`)).stats.admittedTotal;
    assert.equal(admittedAtPause, 4);
    const inside = [];
    for (const b of buyers.slice(2)) {
      const q = await apiCall(server, 'GET', '/queue/status', { token: b.token });
      if (q.status === 'ACTIVE') inside.push(b);
    }
    assert.equal(inside.length, 2, 'buyers 3 and 4 are inside');
    for (const b of inside) pays.push(await buySeat(server, b, date.scheduleId));
    const more = [];
    for (let i = 9; i <= 12; i++) more.push(await newBuyer(server, concert.concertId, i));
    assert.ok(more.every((b) => b.status === 'WAITING'));
    const stopMore = keepPolling(server, more);
    await until(async () => await stat(page, 'waiting') === 8 && await stat(page, 'active') === 0,
      'the line grows to 8 while paused, nobody inside');
    const pw = await points(page, 'waiting');
    await until(async () => await points(page, 'waiting') >= pw + 3, 'three more polls while paused');
    assert.equal(await stat(page, 'admittedTotal'), admittedAtPause, 'nobody admitted while paused (page)');
    assert.equal((await admin(server, 'GET', `/admin/sales/${sale.saleId}`)).stats.admittedTotal, admittedAtPause,
      'nobody admitted while paused (API)');
    await shot(page, 'dashboard-paused');

    // maxActive changed live
    await page.fill('#live-max', '3');
    await page.click('#limits-form button[type=submit]');
    await page.locator('#dashboard .notice.ok', { hasText: 'at most 3 inside' }).waitFor();
    assert.equal((await admin(server, 'GET', `/admin/sales/${sale.saleId}`)).maxActive, 3);
    await until(async () => await page.getAttribute('#live-max', 'data-current') === '3', 'the page shows maxActive 3');

    // reopen: admissions resume, up to the new limit of 3 inside
    await page.click('#sale-open');
    await page.locator('#dash-state[data-state=OPEN]').waitFor();
    await until(async () => await stat(page, 'admittedTotal') > admittedAtPause, 'admissions after reopening');
    await until(async () => await stat(page, 'active') === 3 && await stat(page, 'waiting') === 5, 'three inside', 30000);
    await shot(page, 'dashboard');
    await stopMore();
    await stopPolling();
    const [pay1] = pays;

    // refund the first buyer's payment from the date's payments
    await page.click('#tabs [data-tab=concerts]');
    await page.click(`#concerts tr[data-concert-id="${concert.concertId}"] button`);
    await page.click(`#dates tr[data-schedule-id="${date.scheduleId}"] [data-action=payments]`);
    const row1 = page.locator(`#payments tr[data-payment-id="${pay1.paymentId}"]`);
    await row1.waitFor();
    assert.equal(await page.locator('#payments tbody tr').count(), 4);
    await row1.locator('button').click();
    await page.locator('#confirm[open]').waitFor();
    await page.click('#confirm-yes');
    await page.locator(`#payments tr[data-payment-id="${pay1.paymentId}"][data-status=REFUNDED]`).waitFor();
    await page.locator('#payments .notice.ok', { hasText: 'refunded' }).waitFor();
    const mine = await apiCall(server, 'GET', '/user/payments', { key: buyers[0].apiKey });
    assert.equal(mine.find((p) => p.paymentId === pay1.paymentId).status, 'REFUNDED');

    // cancel the date: Escape first (the dialog's "go back": nothing happens), then for real; the three other
    // payments are refunded by it
    const cancelBtn = page.locator(`#dates tr[data-schedule-id="${date.scheduleId}"] [data-action=cancel]`);
    await cancelBtn.click();
    await page.locator('#confirm[open]').waitFor();
    assert.ok(await page.evaluate(() => document.activeElement.id === 'confirm-no'), 'the safe choice has the focus');
    await page.keyboard.press('Escape');
    await page.locator('#confirm:not([open])').waitFor({ state: 'attached' });
    await until(() => cancelBtn.evaluate((b) => b === document.activeElement), 'the focus back on the button');
    assert.equal((await admin(server, 'GET', `/admin/schedules?concertId=${concert.concertId}`)).length, 1);
    await page.keyboard.press('Enter');
    await page.locator('#confirm[open]').waitFor();
    assert.match(await page.textContent('#confirm-text'), /cannot be undone/);
    await page.click('#confirm-yes');
    const done = page.locator('#dates .notice.ok[data-refunded="3"]');
    await done.waitFor();
    assert.match(await done.textContent(), /3 payment\(s\) refunded/);
    await page.locator('#dates', { hasText: 'No dates yet' }).waitFor();
    assert.equal((await admin(server, 'GET', `/admin/schedules?concertId=${concert.concertId}`)).length, 0);
    const theirs = await apiCall(server, 'GET', '/user/payments', { key: buyers[1].apiKey });
    assert.equal(theirs.find((p) => p.paymentId === pays[1].paymentId).status, 'REFUNDED');

    // a product with two options, then one option's stock changed
    await page.click('#tabs [data-tab=products]');
    await page.locator('#product-list').waitFor();
    await page.fill('#product-name', 'Browser Test Tote Bag');
    const o1 = page.locator('#option-rows .opt-row').nth(0);
    await o1.locator('.name').fill('Size M');
    await o1.locator('.price').fill('30000');
    await o1.locator('.stock').fill('10');
    await page.click('#add-option');
    const o2 = page.locator('#option-rows .opt-row').nth(1);
    await o2.locator('.name').fill('Size L');
    await o2.locator('.price').fill('32000');
    await o2.locator('.stock').fill('5');
    await page.click('#product-form button[type=submit]');
    await page.locator('#product-form .notice.ok', { hasText: 'Browser Test Tote Bag' }).waitFor();
    const product = (await admin(server, 'GET', '/admin/products')).find((p) => p.name === 'Browser Test Tote Bag');
    assert.equal(product.options.length, 2);
    const m = product.options.find((o) => o.name === 'Size M');
    const mRow = page.locator(`#product-list tr[data-option-id="${m.optionId}"]`);
    await mRow.locator('input.stock').fill('25');
    await mRow.locator('button.save').click();
    await page.locator(`#product-list tr[data-option-id="${m.optionId}"][data-stock="25"]`).waitFor();
    await page.locator(`#product-list tr[data-option-id="${m.optionId}"] .notice.ok`).waitFor();
    const seen = await apiCall(server, 'GET', `/products/${product.productId}`, { key: buyers[0].apiKey });
    assert.equal(seen.options.find((o) => o.optionId === m.optionId).stock, 25);
    await shot(page, 'products');

    // sign out: the key is gone from the tab
    await page.click('#sign-out');
    await page.locator('#signin').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('ticketd.adminKey')), null);
    guard.check();
    await context.close();
  } finally {
    await stopPolling();
    await server.stop();
  }
});

test('the page in Korean at phone width: keyboard sign-in, the dashboard, no sideways scroll', async ({ browser }) => {
  const server = await startServer();
  let stopPolling = async () => {};
  try {
    // the scene, through the API: a concert with a date and an open sale with a line
    const concert = await admin(server, 'POST', '/admin/concerts', { name: '오로라 심포니' });
    await admin(server, 'POST', '/admin/schedules', { concertId: concert.concertId,
      startsAt: new Date(Date.now() + 9 * 86400000).toISOString(), seatCount: 30,
      prices: [{ fromSeat: 1, toSeat: 10, price: 120000, category: 'VIP' }, { fromSeat: 11, toSeat: 30, price: 80000 }] });
    const sale = await admin(server, 'POST', '/admin/sales', { concertId: concert.concertId, maxActive: 1, admitPerSec: 1 });
    const buyers = [];
    for (let i = 1; i <= 5; i++) buyers.push(await newBuyer(server, concert.concertId, i));
    stopPolling = keepPolling(server, buyers);

    const { context, guard } = await newWatchedContext(browser, server, { locale: 'ko-KR', viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(server.url + `/admin#sales/${sale.saleId}`);
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'ko');
    assert.equal((await page.textContent('#signin-h')).trim(), '로그인');
    // the keyboard only: the key field has the focus; Enter submits
    await page.locator('#admin-key:focus').waitFor();
    await page.keyboard.type(ADMIN_KEY);
    await page.keyboard.press('Enter');
    await page.locator('#dash-state[data-state=OPEN]').waitFor();
    assert.match(await page.textContent('#dash-state'), /진행 중/);
    await until(async () => await stat(page, 'waiting') === 4, 'waiting 4');
    await until(async () => await points(page, 'waiting') >= 8, 'eight points');
    assert.match(await page.textContent('#chart-waiting-text'), /대기 중: 현재/);
    const noSideways = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(await noSideways(), 'the dashboard fits 390 px');
    await shot(page, 'dashboard-ko-390');
    for (const tab of ['concerts', 'products']) {
      await page.click(`#tabs [data-tab=${tab}]`);
      await page.locator(`#panel-${tab} h2`).first().waitFor();
      if (tab === 'concerts') {
        await page.click(`#concerts tr[data-concert-id="${concert.concertId}"] button`);
        await page.locator('#dates tbody tr').first().waitFor();
      } else {
        await page.locator('#product-list article').first().waitFor();
      }
      assert.ok(await noSideways(), `${tab} fits 390 px`);
    }
    await shot(page, 'products-ko-390');
    // a wrong action still speaks Korean: a date in the past is refused by the page
    await page.click('#tabs [data-tab=concerts]');
    await page.fill('#date-starts', '2001-01-01T19:00');
    await page.click('#date-form button[type=submit]');
    assert.match(await page.textContent('#date-form .notice.error'), /미래/);
    // the switch: English at once, and kept
    await page.click('#lang-switch');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    assert.equal((await page.textContent('#tabs [data-tab=sales]')).trim(), 'Sales');
    await page.reload();
    await page.locator('#concerts').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    guard.check();
    await context.close();
  } finally {
    await stopPolling();
    await server.stop();
  }
});

run(import.meta.url);
