// race.test.mjs — two buyers in two browsers, both admitted to the same date, pick the same seat and press "hold" at
// the same moment: exactly one holds it (checked through the organizer's stats too), the other is told in words
// (the i18n sentence, no code, no JSON) and then sees that seat as held on its seat map.
import assert from 'node:assert/strict';
import { test, run, startServer, apiCall, newWatchedContext, shot } from './lib.mjs';
import { arrangeConcert, signUp, charge, joinQueue, toSeatMap, pickSeats, seat, until, textOf, assertNoRawError } from './buyer-steps.mjs';

const TAKEN = 'Sorry — that seat was just taken by someone else.';

test('two browsers hold the same seat at once: one wins, the other is told in words', async ({ browser }) => {
  const server = await startServer();
  try {
    const name = 'Race Night';
    const { sale } = await arrangeConcert(server, { name, prices: [{ fromSeat: 1, toSeat: 50, price: 70000, category: 'S' }] });
    const buyers = [];
    for (const who of ['Ari', 'Bora']) {
      const { context, guard } = await newWatchedContext(browser, server, { locale: 'en-US' });
      const page = await context.newPage();
      await signUp(page, server, who);
      await charge(page, 200000);
      await joinQueue(page, name);
      await toSeatMap(page, 50);
      await pickSeats(page, [7, 8]);
      buyers.push({ context, guard, page });
    }

    await Promise.all(buyers.map((b) => b.page.locator('#hold-button').click()));

    const outcome = async (b) => {
      if (await b.page.locator('#hold').isVisible()) return 'held';
      if (await b.page.locator('#notice').isVisible()) return 'refused';
      return null;
    };
    const results = await until('both buyers to see an outcome', async () => {
      const r = await Promise.all(buyers.map(outcome));
      return r.every(Boolean) && r;
    });
    assert.deepEqual([...results].sort(), ['held', 'refused'], 'exactly one buyer holds the seats');
    const stats = (await apiCall(server, 'GET', `/admin/sales/${sale.saleId}`, { key: server.adminKey })).stats;
    assert.equal(stats.seatsHeld, 2, 'the server holds the two seats once');

    const winner = buyers[results.indexOf('held')];
    const loser = buyers[results.indexOf('refused')];
    assert.equal((await textOf(loser.page, '#notice')).trim(), TAKEN);
    await assertNoRawError(loser.page, assert);
    for (const n of [7, 8]) {
      await until(`seat ${n} shown held to the loser`, async () =>
        /\bis-held\b/.test(await seat(loser.page, n).getAttribute('class')) &&
        /, held$/.test(await seat(loser.page, n).getAttribute('aria-label')));
      assert.equal(await seat(loser.page, n).getAttribute('aria-pressed'), 'false');
    }
    assert.match(await textOf(loser.page, '#selection'), /No seat picked/);
    assert.ok(await loser.page.locator('#hold-button').isDisabled());
    await shot(loser.page, 'loser');
    await shot(winner.page, 'winner');

    // The winner pays; the loser's map (re-read every ~2 s) then shows the seats sold.
    await winner.page.locator('#pay-button').click();
    await winner.page.locator('#receipt').waitFor({ state: 'visible' }).catch(async () => {
      assert.fail('the winner could not pay: ' + await textOf(winner.page, '#notice'));
    });
    await until('the loser to see the seats sold', async () =>
      /\bis-sold\b/.test(await seat(loser.page, 7).getAttribute('class')), 10000);
    await pickSeats(loser.page, [9, 10]);
    await shot(loser.page, 'loser-map');

    for (const b of buyers) { b.guard.check(); await b.context.close(); }
  } finally {
    await server.stop();
  }
});

run(import.meta.url);
