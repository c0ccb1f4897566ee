// purchase.test.mjs — a full purchase on the buyers' page against a real ticketd: the organizer (API) schedules a sale
// ~8 s ahead; the buyer (page only) signs up, charges, joins the queue and sees WAITING with a countdown, is let in
// by the real opening (no clock tricks), picks the date and four seats in two price categories, holds them (a
// countdown), pays (a receipt with the seats and the amount; the balance went down by it), then refunds from the
// payments list (REFUNDED, balance restored, REFUND in the ledger). Then a pass at phone width in Korean.
import assert from 'node:assert/strict';
import { test, run, startServer, apiCall, newWatchedContext, shot } from './lib.mjs';
import { arrangeConcert, signUp, charge, joinQueue, toSeatMap, pickSeats, seat, until, waitText, textOf,
  apiKeyOf, assertNoRawError } from './buyer-steps.mjs';

const PRICES = [{ fromSeat: 1, toSeat: 20, price: 80000, category: 'VIP' },
  { fromSeat: 21, toSeat: 50, price: 50000, category: 'R' }];

test('sign up, charge, queue through a real opening, hold four seats, pay, receipt, refund', async ({ browser }) => {
  const server = await startServer();
  try {
    const name = 'Opening Night';
    const { sale } = await arrangeConcert(server, { name, prices: PRICES, opensInMs: 8000 });
    assert.equal(sale.state, 'SCHEDULED');
    const { context, guard } = await newWatchedContext(browser, server, { locale: 'en-US' });
    const page = await context.newPage();

    await signUp(page, server, 'Mina');
    await charge(page, 500000);
    await waitText(page, '#wallet-balance', /500,000/);

    await joinQueue(page, name);
    await page.locator('#queue').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#queue-state').getAttribute('data-status'), 'WAITING');
    await waitText(page, '#queue-state', /The sale opens at/);
    await waitText(page, '#queue-timer', /^Opens in 0:0\d$/);
    await shot(page, 'waiting');
    const before = await textOf(page, '#queue-timer');
    await until('the countdown to tick', async () => (await textOf(page, '#queue-timer')) !== before, 5000);

    // A reload keeps the place in line: the same token, still waiting for the opening.
    const tokenOf = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('ticketd.buyer.flow')).token);
    const token = await tokenOf();
    await page.reload({ waitUntil: 'load' });
    await page.locator('#queue').waitFor({ state: 'visible' });
    await waitText(page, '#queue-timer', /^Opens in 0:0\d$/);
    assert.equal(await tokenOf(), token, 'the same token after a reload');

    // The real opening, then ACTIVE: the dates step.
    await toSeatMap(page, 50, 30000);
    assert.match(await textOf(page, '#legend'), /VIP — 80,000 KRW/);
    assert.match(await textOf(page, '#legend'), /R — 50,000 KRW/);
    assert.match(await seat(page, 1).getAttribute('aria-label'), /^Seat 1, VIP, 80,000 KRW, free$/);

    await pickSeats(page, [1, 2, 21, 22]);
    await waitText(page, '#selection', /4 of 4 picked: seats 1, 2, 21, 22 — 260,000 KRW/);
    await shot(page, 'seats');
    await seat(page, 23).click(); // a fifth: refused in words
    await waitText(page, '#notice', /at most 4 seats/);
    assert.equal(await seat(page, 23).getAttribute('aria-pressed'), 'false');

    await page.locator('#hold-button').click();
    await page.locator('#hold').waitFor({ state: 'visible' });
    await waitText(page, '#hold-timer', /^Held for [45]:\d\d more$/);
    assert.equal(await page.locator('#hold-detail .seat-lines li').count(), 4);
    await shot(page, 'hold');

    await page.locator('#pay-button').click();
    await page.locator('#receipt').waitFor({ state: 'visible' });
    const receipt = await textOf(page, '#receipt-detail');
    assert.equal(await page.locator('#receipt-detail .seat-lines li').count(), 4);
    for (const line of ['Seat 1 · VIP · 80,000 KRW', 'Seat 2 · VIP', 'Seat 21 · R · 50,000 KRW', 'Seat 22 · R'])
      assert.ok(receipt.includes(line), `receipt lists ${line}: ${receipt}`);
    assert.match(receipt, /Opening Night/);
    assert.match(receipt, /Amount paid260,000 KRW/);
    assert.match(receipt, /New balance240,000 KRW/);
    await waitText(page, '#who', /240,000 KRW/);
    await shot(page, 'receipt');
    const key = await apiKeyOf(page);
    assert.equal((await apiCall(server, 'GET', '/user/check', { key })).balance, 240000);

    await page.locator('#tabs [data-tab=payments]').click();
    const row = page.locator('#payments tbody tr').first();
    await waitText(page, '#payments tbody tr', /Paid/);
    await row.locator('button').click();
    // a refund asks first (the safe choice has the focus), then goes through on OK
    await page.locator('#confirm[open]').waitFor();
    assert.ok(await page.evaluate(() => document.activeElement.id === 'confirm-no'), 'Go back has the focus');
    await page.locator('#confirm-yes').click();
    await waitText(page, '#payments tbody tr', /Refunded/);
    assert.equal(await row.locator('button').count(), 0, 'no refund button on a refunded payment');
    await waitText(page, '#who', /500,000 KRW/);
    assert.equal((await apiCall(server, 'GET', '/user/check', { key })).balance, 500000);
    await shot(page, 'refunded');

    await page.locator('#tabs [data-tab=wallet]').click();
    await waitText(page, '#history tbody', /Refund/);
    const kinds = await page.locator('#history tbody tr').evaluateAll((rows) => rows.map((r) => r.className));
    assert.deepEqual(kinds.slice(0, 3), ['kind-REFUND', 'kind-PAYMENT', 'kind-CHARGE']);
    const ledger = await apiCall(server, 'GET', '/user/history', { key });
    assert.equal(ledger[0].kind, 'REFUND');
    assert.equal(ledger[0].amount, 260000);
    await assertNoRawError(page, assert);
    guard.check();
    await context.close();
  } finally {
    await server.stop();
  }
});

test('at phone width in Korean, with a failing event stream: polling lets the buyer in; the page fits 390 px', async ({ browser }) => {
  const server = await startServer();
  try {
    const name = '봄 콘서트';
    await arrangeConcert(server, { name, prices: PRICES, opensInMs: 5000 });
    const { context, guard } = await newWatchedContext(browser, server, { locale: 'ko-KR', viewport: { width: 390, height: 844 } });
    await context.addInitScript(() => { // every stream fails at once: the page must fall back to GET /queue/status
      window.EventSource = class { constructor() { setTimeout(() => this.onerror && this.onerror(new Event('error')), 50); }
        addEventListener() {} close() {} };
    });
    const page = await context.newPage();
    await signUp(page, server, '민지');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'ko');
    assert.equal(await textOf(page, '#tabs [data-tab=wallet]'), '지갑');
    await charge(page, 100000);
    await waitText(page, '#done', /충전했습니다/);
    await joinQueue(page, name);
    await waitText(page, '#queue-timer', /^시작까지 0:0\d$/);
    await shot(page, 'phone-ko-waiting');
    await toSeatMap(page, 50, 30000);
    assert.match(await seat(page, 30).getAttribute('aria-label'), /^30번 좌석, R, 50,000원, 선택 가능$/);
    await pickSeats(page, [30]);
    await shot(page, 'phone-ko-seats');
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(fits, 'no horizontal scrolling of the page at 390 px');
    await page.locator('#hold-button').click();
    await page.locator('#hold').waitFor({ state: 'visible' });
    await waitText(page, '#hold-timer', /선점 시간 \d:\d\d 남음/);
    await shot(page, 'phone-ko-hold');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    // The switch turns the page to English at once.
    await page.locator('#lang-switch').click();
    await waitText(page, '#hold-title', /Your seats are held/);
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    await assertNoRawError(page, assert);
    guard.check();
    await context.close();
  } finally {
    await server.stop();
  }
});

test('a 5,000-seat date: built once, kept current by reading again, moved through with the keyboard', async ({ browser }) => {
  const server = await startServer();
  try {
    const name = 'Stadium';
    const prices = [{ fromSeat: 1, toSeat: 1000, price: 150000, category: 'VIP' },
      { fromSeat: 1001, toSeat: 3000, price: 99000, category: 'R' }, { fromSeat: 3001, toSeat: 5000, price: 66000, category: 'S' }];
    await arrangeConcert(server, { name, seatCount: 5000, prices });
    const { context, guard } = await newWatchedContext(browser, server, { locale: 'en-US' });
    const page = await context.newPage();
    await signUp(page, server, 'Dae');
    await joinQueue(page, name);
    const started = Date.now();
    await toSeatMap(page, 5000);
    const builtMs = Date.now() - started;
    assert.ok(builtMs < 10000, `the map took ${builtMs} ms`);
    await page.evaluate(() => { document.querySelector('#seat-grid .seat[data-number="4321"]').dataset.probe = 'same'; });

    // Someone else holds seat 4321 through the API; the page shows it within a few refreshes, on the same node.
    const other = await apiCall(server, 'POST', '/users', { body: { name: 'other' } });
    const concert = (await apiCall(server, 'GET', '/concerts')).find((c) => c.name === name);
    const tk = await apiCall(server, 'POST', '/queue/issue', { key: other.apiKey, body: { concertId: concert.concertId } });
    assert.equal(tk.status, 'ACTIVE');
    const [date] = await apiCall(server, 'GET', `/concert/available-dates?concertId=${concert.concertId}`, { token: tk.token });
    const map = await apiCall(server, 'GET', `/concert/seat-map?concertScheduleId=${date.scheduleId}`, { token: tk.token });
    const target = map.find((x) => x.seatNumber === 4321);
    await apiCall(server, 'POST', '/reservation', { token: tk.token, body: { seatIds: [target.seatId] }, idem: 'other-hold-1' });
    await until('seat 4321 shown held', async () => /, held$/.test(await seat(page, 4321).getAttribute('aria-label')), 10000);
    assert.equal(await seat(page, 4321).getAttribute('data-probe'), 'same', 'the refresh reused the seat buttons');
    assert.match(await textOf(page, '#legend'), /S — 66,000 KRW/);

    // One tab stop; arrows move within the grid (50 a row).
    await seat(page, 1).focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.number), '52');
    await page.keyboard.press('Enter');
    assert.equal(await seat(page, 52).getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator('#seat-grid .seat[tabindex="0"]').count(), 1);
    await shot(page, 'stadium');
    guard.check();
    await context.close();
  } finally {
    await server.stop();
  }
});

run(import.meta.url);
