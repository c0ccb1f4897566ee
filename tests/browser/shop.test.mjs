// shop.test.mjs — the merchandise shop on the buyers' page: the organizer (API) adds a product with two options, one
// with a stock of 1; the buyer (page only) adds both to the cart, orders from the cart (PENDING with the time left),
// pays (PAID, the balance went down by the total); a second order of the stock-1 option is refused with
// OUT_OF_STOCK in words.
import assert from 'node:assert/strict';
import { test, run, startServer, apiCall, newWatchedContext, shot } from './lib.mjs';
import { signUp, charge, until, waitText, textOf, apiKeyOf, assertNoRawError } from './buyer-steps.mjs';

const NO_STOCK = 'Sorry — not enough of that is left in stock.';

async function addToCart(page, product, optionName, quantity) {
  const card = page.locator(`article.product[data-product="${product.productId}"]`);
  const option = product.options.find((o) => o.name === optionName);
  await card.locator('select').selectOption(option.optionId);
  await card.locator('input[type=number]').fill(String(quantity));
  await card.locator('button[type=submit]').click();
  await waitText(page, '#done', new RegExp(`Added ${quantity} × Tour shirt \\(${optionName}\\)`));
}

test('cart, order from the cart, pay; the last one in stock cannot be ordered twice', async ({ browser }) => {
  const server = await startServer();
  try {
    const product = await apiCall(server, 'POST', '/admin/products', {
      key: server.adminKey,
      body: { name: 'Tour shirt', options: [{ name: 'Size M', price: 30000, stock: 10 }, { name: 'Signed', price: 90000, stock: 1 }] },
    });
    const { context, guard } = await newWatchedContext(browser, server, { locale: 'en-US' });
    const page = await context.newPage();
    await signUp(page, server, 'Jun');
    await charge(page, 200000);

    await page.locator('#tabs [data-tab=shop]').click();
    const card = page.locator(`article.product[data-product="${product.productId}"]`);
    await card.waitFor({ state: 'visible' });
    assert.match(await card.locator('select').innerText(), /Signed — 90,000 KRW — 1 left/);

    await addToCart(page, product, 'Size M', 2);
    await addToCart(page, product, 'Signed', 1);
    await until('two cart rows', async () => (await page.locator('#cart tbody tr').count()) === 2);
    await waitText(page, '#cart-total', /Total: 150,000 KRW/);

    await page.locator('#order-button').click();
    await page.locator('#order').waitFor({ state: 'visible' });
    await waitText(page, '#order-title', /waiting for payment/);
    await waitText(page, '#order-timer', /Pay within (10:00|9:\d\d)/);
    assert.match(await textOf(page, '#order-detail'), /2 × Tour shirt — Size M at 30,000 KRW/);
    await waitText(page, '#cart', /Your cart is empty/);
    assert.ok(await page.locator('#order-button').isDisabled(), 'nothing left to order');
    await shot(page, 'order-pending');

    // a reload keeps the pending order: the shop tab shows it again with its time left
    await page.reload({ waitUntil: 'load' });
    await page.locator('#tabs [data-tab=shop]').click();
    await waitText(page, '#order-title', /waiting for payment/);
    await waitText(page, '#order-timer', /Pay within \d/);
    assert.match(await textOf(page, '#order-detail'), /2 × Tour shirt — Size M at 30,000 KRW/);
    // a quantity typed loosely ("1e1" is a number to the browser) is refused by the page, in words
    await card.locator('input[type=number]').fill('1e1');
    await card.locator('button[type=submit]').click();
    await waitText(page, '#notice', /whole number from 1 to 100/);
    assert.equal(await card.locator('input[type=number]').getAttribute('aria-invalid'), 'true');
    await waitText(page, '#cart', /Your cart is empty/);

    await page.locator('#order-pay').click();
    await waitText(page, '#order-title', /: paid$/);
    assert.equal(await page.locator('#order-title').getAttribute('data-status'), 'PAID');
    assert.ok(!(await page.locator('#order-pay').isVisible()), 'no pay button on a paid order');
    assert.match(await textOf(page, '#order-detail'), /New balance50,000 KRW/);
    await waitText(page, '#who', /50,000 KRW/);
    assert.equal((await apiCall(server, 'GET', '/user/check', { key: await apiKeyOf(page) })).balance, 50000);
    await waitText(page, `article.product[data-product="${product.productId}"] select`, /Signed — 90,000 KRW — sold out/);
    await shot(page, 'order-paid');

    // The stock-1 option again: the server refuses the second order, in words.
    await addToCart(page, product, 'Signed', 1);
    await page.locator('#order-button').click();
    await waitText(page, '#notice', /not enough/);
    assert.equal((await textOf(page, '#notice')).trim(), NO_STOCK);
    assert.equal(await page.locator('#cart tbody tr').count(), 1, 'a refused order leaves the cart as it was');
    await assertNoRawError(page, assert);
    await shot(page, 'out-of-stock');

    // "Forget me": the key leaves the browser and the sign-up form is back.
    await page.locator('#sign-out').click();
    await page.locator('#signup').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => localStorage.getItem('ticketd.buyer.user')), null);
    assert.ok(!(await page.locator('#tabs').isVisible()));
    guard.check();
    await context.close();
  } finally {
    await server.stop();
  }
});

run(import.meta.url);
