// console.mjs: drives the Teamline agent console (/console/) in headless
// Chromium for the e2e tests, one step at a time: the Go test writes one JSON
// command per line on stdin and reads one JSON reply per line on stdout
// ({"id": N, "ok": true, "result": ...} or {"id": N, "ok": false, "error": "..."}).
//
// Commands ({"id": N, "cmd": NAME, ...}):
//   open {url}                    load the page
//   fill {selector, value}        type into a field
//   click {selector}              click an element
//   select {selector, value}      choose an option of a <select>
//   wait {expr, timeoutMs}        wait until the JS expression is true in the page
//   text {selector}               an element's innerText (what a person sees)
//   visible {selector}            whether an element is visible
//   state                         window.console_state
//   screenshot {path}             save a PNG of the whole page
//   close                         close the browser and exit
//
// usage: node console.mjs WAV
//   WAV  16-bit PCM WAV file played as the fake microphone
// CHROMIUM (environment) overrides the browser (chromium.mjs).
import { launchChromium, logPageErrors } from './chromium.mjs';
import { createInterface } from 'node:readline';

const [wav] = process.argv.slice(2);
if (!wav) {
  console.error('usage: node console.mjs WAV');
  process.exit(2);
}
const reply = (msg) => process.stdout.write(JSON.stringify(msg) + '\n');

const browser = await launchChromium(wav);
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 1000 } });
const page = await context.newPage();
logPageErrors(page);

const commands = {
  async open({ url }) {
    const res = await page.goto(url);
    if (!res || !res.ok()) throw new Error(`GET ${url}: ${res ? res.status() : 'no response'}`);
    return res.status();
  },
  async fill({ selector, value }) { await page.fill(selector, value); },
  async click({ selector }) { await page.click(selector); },
  async select({ selector, value }) { await page.selectOption(selector, value); },
  // Polled from here: the console's Content-Security-Policy forbids the
  // string evaluation page.waitForFunction would do inside the page.
  async wait({ expr, timeoutMs }) {
    const deadline = Date.now() + (timeoutMs || 10000);
    for (;;) {
      if (await page.evaluate(expr)) return;
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${expr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  },
  async text({ selector }) { return page.innerText(selector); },
  async visible({ selector }) { return page.isVisible(selector); },
  async state() { return page.evaluate(() => window.console_state); },
  async screenshot({ path }) { await page.screenshot({ path, fullPage: true }); return path; },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    reply({ id: 0, ok: false, error: `bad command line: ${line}` });
    continue;
  }
  if (msg.cmd === 'close') break;
  const run = commands[msg.cmd];
  if (!run) {
    reply({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` });
    continue;
  }
  try {
    reply({ id: msg.id, ok: true, result: (await run(msg)) ?? null });
  } catch (e) {
    const state = await page.evaluate(() => window.console_state).catch(() => null);
    reply({ id: msg.id, ok: false, error: String(e && e.message ? e.message : e).split('\n')[0], state });
  }
}
await browser.close();
process.exit(0);
