// End-to-end test of the web console in Debian's chromium, driven by playwright-core.
// Started by tests/it/console.rs (browser_end_to_end), which runs the real server and a
// loopback sink and checks what the sink received. Environment:
//   BASE_URL  the server, e.g. http://127.0.0.1:PORT
//   SPACE     the space to work in (alice has `all` there, bob `read`)
//   SINK_URL  where the webhook connector sends
//   PASSWORD  alice's and bob's password
//   SCREENSHOTS  a folder for one PNG per page
import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const { BASE_URL, SPACE, SINK_URL, PASSWORD } = process.env;
const SCREENSHOTS = process.env.SCREENSHOTS || 'screenshots';
mkdirSync(SCREENSHOTS, { recursive: true });
const PAGE_URL = `${BASE_URL}/s/${SPACE}/app/connectors`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Without these chromium keeps calling Google's hosts, which this machine refuses.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
const page = await context.newPage();
const problems = [];
page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
page.on('console', (message) => {
  // 4xx answers the test provokes on purpose are logged by chromium as resource errors.
  if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) problems.push(`console: ${message.text()}`);
});
page.setDefaultTimeout(10_000);

// The screenshot is decoded in the browser and its pixels must differ: a blank or
// single-colour page fails.
async function screenshot(name) {
  const png = await page.screenshot({ fullPage: true });
  writeFileSync(`${SCREENSHOTS}/${name}.png`, png);
  const blank = await context.newPage();
  const variance = await blank.evaluate(async (url) => {
    const image = new Image();
    image.src = url;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = image.width;
    canvas.height = image.height;
    const g = canvas.getContext('2d');
    g.drawImage(image, 0, 0);
    const data = g.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0, squares = 0, count = 0;
    for (let i = 0; i < data.length; i += 4) {
      const y = (data[i] + data[i + 1] + data[i + 2]) / 3;
      sum += y; squares += y * y; count += 1;
    }
    const mean = sum / count;
    return squares / count - mean * mean;
  }, `data:image/png;base64,${png.toString('base64')}`);
  await blank.close();
  assert.ok(png.length > 4000 && variance > 20, `${name}.png looks blank (${png.length} bytes, variance ${variance})`);
  console.log(`screenshot ${name}.png: ${png.length} bytes, variance ${variance.toFixed(0)}`);
}

async function signIn(username) {
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#list-view').waitFor();
  await page.locator('#user').filter({ hasText: username }).waitFor();
}

async function signOut() {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#login-view').waitFor();
}

// Sign-in: a wrong password is said so, the right one shows the list.
await page.goto(PAGE_URL);
await page.locator('#login-view').waitFor();
await screenshot('sign-in');
await page.getByLabel('Username', { exact: true }).fill('alice');
await page.getByLabel('Password', { exact: true }).fill('wrong-password');
await page.getByRole('button', { name: 'Sign in' }).click();
await page.locator('#login-error').filter({ hasText: 'Wrong username or password.' }).waitFor();
await signIn('alice');
await page.getByRole('button', { name: 'Create connector' }).waitFor();
await screenshot('list-empty');

// Create a webhook connector through the form built from the type's schema; first
// without its required URL: the server's message shows by the url field.
await page.getByRole('button', { name: 'Create connector' }).click();
await page.getByLabel('Connector type', { exact: true }).selectOption('.webhook');
await page.getByLabel('Name', { exact: true }).fill('Sink');
const url = page.getByLabel('url', { exact: true });
await url.waitFor();
assert.equal(await url.getAttribute('required'), '', 'the url field is required');
assert.equal(await page.locator('#config-fields .field').filter({ has: url }).locator('.req').isVisible(), true, 'the url field is marked required');
const method = page.getByLabel('method', { exact: true });
assert.equal(await method.evaluate((it) => it.tagName), 'SELECT');
assert.equal(await method.evaluate((it) => it.selectedOptions[0].textContent), 'post', 'the default is pre-filled');
assert.equal(await page.getByLabel('password', { exact: true }).getAttribute('type'), 'password');
await page.getByRole('button', { name: 'Save' }).click();
const urlError = page.locator('#config-field-url-error');
await urlError.filter({ hasText: '[url]' }).waitFor();
const urlErrorText = await urlError.textContent();
assert.match(urlErrorText, /error validating action type config: \[url\]/);
assert.equal(await url.getAttribute('aria-invalid'), 'true');
console.log(`validation message by the url field: ${urlErrorText}`);
await screenshot('validation-error');
// A URL the server refuses: its message shows by the configuration.
await url.fill('not a url');
await method.selectOption({ label: 'put' });
await page.getByRole('button', { name: 'Save' }).click();
await page.locator('#config-fields, #config-section').filter({ hasText: 'error validating action type config' }).first().waitFor();
// The JSON toggle carries the form over; a JSON mistake is caught before sending.
await page.getByRole('button', { name: 'Edit config as JSON' }).click();
const configJson = page.getByLabel('Configuration (JSON)', { exact: true });
assert.deepEqual({ ...JSON.parse(await configJson.inputValue()) }, { url: 'not a url', method: 'put', headers: {}, hasAuth: false });
await configJson.fill('{ not json');
await page.getByRole('button', { name: 'Save' }).click();
await page.locator('#config-error').filter({ hasText: 'Enter a JSON object' }).waitFor();
await configJson.fill(JSON.stringify({ url: SINK_URL, method: 'put', hasAuth: false }));
await page.getByRole('button', { name: 'Edit config as JSON' }).click();
assert.equal(await url.inputValue(), SINK_URL);
await method.selectOption({ label: 'post' });
await page.getByRole('button', { name: 'Save' }).click();
await page.locator('#test-panel').waitFor();
assert.match(page.url(), /#\/connector\//);
// On edit the config shows what was saved; secrets stay empty.
assert.equal(await url.inputValue(), SINK_URL);
assert.equal(await page.getByLabel('password', { exact: true }).inputValue(), '');
await screenshot('connector');

// Test it from the params form: the result shows ok (the sink's reception is checked
// by the Rust side).
await page.getByLabel('body', { exact: true }).fill('{"from":"the console test"}');
await page.getByRole('button', { name: 'Run' }).click();
await page.locator('#result-status').filter({ hasText: 'ok' }).waitFor();
await page.locator('#log tbody tr').filter({ hasText: 'success' }).first().waitFor();
await screenshot('test-result');

// Edit its name.
await page.getByLabel('Name', { exact: true }).fill('Sink renamed');
await page.getByRole('button', { name: 'Save' }).click();
await page.locator('#editor-title').filter({ hasText: 'Sink renamed' }).waitFor();

// The list: type display name, search, keyboard to open a connector.
await page.getByRole('button', { name: '← All connectors' }).click();
const row = page.locator('#connectors tbody tr').filter({ hasText: 'Sink renamed' });
await row.waitFor();
assert.match(await row.textContent(), /Webhook/);
await page.getByLabel('Search by name or type', { exact: true }).fill('no such thing');
await page.locator('#empty').waitFor();
await page.getByLabel('Search by name or type', { exact: true }).fill('webhook');
await row.waitFor();
await screenshot('list');
await page.setViewportSize({ width: 360, height: 740 });
await screenshot('list-narrow');
await page.setViewportSize({ width: 1100, height: 800 });
await signOut();

// A read user sees the connector but no create or delete, and a forged write is refused.
await signIn('bob');
await row.waitFor();
assert.equal(await page.getByRole('button', { name: 'Create connector' }).isVisible(), false);
assert.equal(await page.locator('#connectors tbody button.danger').count(), 0);
const forged = await page.evaluate(async (space) => {
  const response = await fetch(`/s/${space}/api/actions/connector`, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'kbn-xsrf': 'forged', 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'forged', connector_type_id: '.server-log' }),
  });
  return { status: response.status, body: await response.json() };
}, SPACE);
assert.deepEqual(forged, { status: 403, body: { statusCode: 403, error: 'Forbidden', message: 'Unauthorized to create a ".server-log" action' } });
await screenshot('read-only');
await signOut();

// Delete, with confirmation.
await signIn('alice');
await row.waitFor();
page.once('dialog', (dialog) => dialog.accept());
await row.getByRole('button', { name: 'Delete Sink renamed' }).click();
await page.locator('#empty').waitFor();
await screenshot('after-delete');

// The server unreachable: a clear message.
await page.route('**/api/**', (route) => route.abort('connectionrefused'));
await page.getByLabel('Search by name or type', { exact: true }).fill('');
await page.evaluate(() => window.dispatchEvent(new HashChangeEvent('hashchange')));
await page.locator('#banner').filter({ hasText: 'The server cannot be reached' }).waitFor();
await screenshot('unreachable');

await browser.close();
const unexpected = problems.filter((it) => !/Failed to load resource: net::ERR_CONNECTION_REFUSED|ERR_FAILED/.test(it));
assert.deepEqual(unexpected, [], 'the page logged errors');
console.log('console end-to-end: all steps passed');
