// clock.test.mjs — the buyers' page on a device whose clock is wrong: two hours ahead, then half an hour behind.
// The countdowns follow the server's clock (learnt from its answers' Date headers, web/api.js serverNow), not the
// device's: the countdown to a sale opening in ~8 s reads 0:0x, the real opening lets the buyer in, a fresh hold
// counts its ~5 minutes, and a reload resumes the hold (it is not taken for lapsed). Without the page's clock
// correction the first case shows the opening as past and the hold as lapsed at once, the second "Opens in 30:0x".
import assert from 'node:assert/strict';
import { test, run, startServer, newWatchedContext, shot } from './lib.mjs';
import { arrangeConcert, signUp, charge, joinQueue, toSeatMap, pickSeats, waitText, textOf,
  assertNoRawError } from './buyer-steps.mjs';

const PRICES = [{ fromSeat: 1, toSeat: 50, price: 30000, category: 'R' }];

// Every Date in the page (now, new Date(), Date.parse stays exact) moved by skewMs, timers untouched.
function skewClock(skewMs) {
  const Real = Date;
  const realNow = Real.now.bind(Real);
  class Skewed extends Real {
    constructor(...a) { if (a.length === 0) super(realNow() + skewMs); else super(...a); }
    static now() { return realNow() + skewMs; }
  }
  globalThis.Date = Skewed;
}

for (const [label, skewMs] of [['two hours ahead', 2 * 3600e3], ['half an hour behind', -30 * 60e3]]) {
  test(`a device clock ${label}: countdowns, the opening and a hold follow the server's clock`, async ({ browser }) => {
    const server = await startServer();
    try {
      const name = `Clock ${skewMs > 0 ? 'ahead' : 'behind'}`;
      await arrangeConcert(server, { name, prices: PRICES, opensInMs: 8000 });
      const { context, guard } = await newWatchedContext(browser, server, { locale: 'en-US' });
      await context.addInitScript(skewClock, skewMs);
      const page = await context.newPage();
      await signUp(page, server, 'Skewed');
      assert.ok(Math.abs(await page.evaluate(() => Date.now()) - Date.now() - skewMs) < 60000, 'the page clock is off');
      await charge(page, 100000);

      await joinQueue(page, name);
      await page.locator('#queue').waitFor({ state: 'visible' });
      await waitText(page, '#queue-timer', /^Opens in 0:0\d$/);
      await shot(page, `clock-${skewMs > 0 ? 'ahead' : 'behind'}-waiting`);

      await toSeatMap(page, 50, 30000);
      await pickSeats(page, [7]);
      await page.locator('#hold-button').click();
      await page.locator('#hold').waitFor({ state: 'visible' });
      await waitText(page, '#hold-timer', /^Held for [45]:\d\d more$/);
      const before = await textOf(page, '#hold-timer');

      // A reload asks the server's clock before it decides whether the hold has lapsed: it is resumed.
      await page.reload({ waitUntil: 'load' });
      await page.locator('#hold').waitFor({ state: 'visible' });
      await waitText(page, '#hold-timer', /^Held for [45]:\d\d more$/);
      const secs = (text) => { const m = /(\d+):(\d\d)/.exec(text); return Number(m[1]) * 60 + Number(m[2]); };
      const after = await textOf(page, '#hold-timer');
      // (the clock is known to about a second either side of a reload, so allow one)
      assert.ok(secs(after) <= secs(before) + 1, `the hold counts down across the reload: ${before} then ${after}`);
      await shot(page, `clock-${skewMs > 0 ? 'ahead' : 'behind'}-hold`);

      await page.locator('#pay-button').click();
      await page.locator('#receipt').waitFor({ state: 'visible' });
      await waitText(page, '#receipt-detail', /Seat 7/);
      await assertNoRawError(page, assert);
      guard.check();
      await context.close();
    } finally {
      await server.stop();
    }
  });
}

run(import.meta.url);
