// chromium.mjs: what the e2e Playwright drivers (answer.mjs, console.mjs)
// share: headless Chromium with a fake microphone playing a WAV file and
// media allowed without a prompt, and a page's errors copied to stderr.
// CHROMIUM (environment) overrides the browser, default /usr/bin/chromium.
import { chromium } from 'playwright-core';

// launchChromium starts the browser; wav is the fake microphone's file.
export function launchChromium(wav) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    ignoreDefaultArgs: ['--mute-audio'],
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--autoplay-policy=no-user-gesture-required', '--ignore-certificate-errors',
      `--use-file-for-fake-audio-capture=${wav}`,
    ],
  });
}

// logPageErrors copies the page's console errors and warnings, and its
// uncaught exceptions, to stderr (the Go test's log).
export function logPageErrors(page) {
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`page ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
}
