// answer.mjs: drives one Teamline browser phone page (web/phones/*.html) in
// headless Chromium for the e2e tests. It opens the page, waits until the
// phone registered, until it answered a call, until the call's audio flows in
// (getStats inbound-rtp packets growing and a non-zero audio level) and until
// the call ended. Each step is one JSON line on stdout ({"event": ...}); a
// failure is an {"event":"error"} line and exit code 1.
//
// usage: node answer.mjs URL WAV [timeoutMs]
//   URL  the phone page with its ?ws=&user=&pass=&domain= parameters
//   WAV  16-bit PCM WAV file played as the fake microphone
// CHROMIUM (environment) overrides the browser (chromium.mjs).
import { launchChromium, logPageErrors } from './chromium.mjs';

const [url, wav, timeoutArg] = process.argv.slice(2);
if (!url || !wav) {
  console.error('usage: node answer.mjs URL WAV [timeoutMs]');
  process.exit(2);
}
const total = Number(timeoutArg || 30000);
const started = Date.now();
const left = () => Math.max(1, total - (Date.now() - started));
const emit = (event, data = {}) => process.stdout.write(JSON.stringify({ event, ...data }) + '\n');

const browser = await launchChromium(wav);
let page;
const state = async () => (page ? page.evaluate(() => window.phone).catch((e) => String(e)) : null);
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  page = await context.newPage();
  logPageErrors(page);
  const res = await page.goto(url, { timeout: left() });
  if (!res || !res.ok()) throw new Error(`GET page: ${res ? res.status() : 'no response'}`);

  await page.waitForFunction(() => window.phone && (window.phone.registered || window.phone.errors.length), null, { timeout: left() });
  let p = await state();
  if (!p.registered) throw new Error(`not registered: ${p.errors.join('; ')}`);
  emit('registered', { ms: Date.now() - started });

  await page.waitForFunction(() => ['answered', 'ended', 'failed'].includes(window.phone.callState), null, { timeout: left(), polling: 20 });
  p = await state();
  if (p.callState !== 'answered') throw new Error(`call ${p.callState}: ${p.errors.join('; ')}`);
  emit('answered', { inviteToAnswerMs: Math.round(p.answeredAt - p.inviteAt) });

  // Two-way audio, the page's half: inbound packets that keep coming, and
  // played out loud enough to measure.
  await page.waitForFunction(() => window.phone.packetsReceived >= 25 && window.phone.audioLevel > 0, null, { timeout: left(), polling: 50 });
  const first = await state();
  await page.waitForFunction((n) => window.phone.packetsReceived >= n + 25, first.packetsReceived, { timeout: left(), polling: 50 });
  p = await state();
  emit('audio', {
    packetsBefore: first.packetsReceived, packetsAfter: p.packetsReceived, packetsSent: p.packetsSent,
    audioLevel: Math.max(first.audioLevel, p.audioLevel), totalAudioEnergy: p.totalAudioEnergy,
    inviteToFirstPacketMs: Math.round(first.firstPacketAt - first.inviteAt),
  });

  await page.waitForFunction(() => ['ended', 'failed'].includes(window.phone.callState), null, { timeout: left(), polling: 50 });
  p = await state();
  emit('ended', { callState: p.callState, errors: p.errors });
  await browser.close();
  process.exit(0);
} catch (e) {
  emit('error', { message: String(e && e.message ? e.message : e).split('\n')[0], phone: await state() });
  await browser.close().catch(() => {});
  process.exit(1);
}
