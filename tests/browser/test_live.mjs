// test_live.mjs BASE_URL AUDIO_FILE — the web page's Live mode in headless Chromium with a fake
// microphone that plays AUDIO_FILE (Chromium's fake-audio-capture flags): the committed text that
// arrives over the realtime WebSocket must contain words of the recording.  Prints "live ok: ..."
// and exits 0 on success.
import { resolve } from "node:path";
import { openPage } from "./browser.mjs";

const [base, audio] = process.argv.slice(2);
if (!base || !audio) { console.error("usage: node test_live.mjs BASE_URL AUDIO_FILE"); process.exit(2); }
let browser;
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; };
try {
  browser = await openPage({
    args: ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
           "--use-file-for-fake-audio-capture=" + resolve(audio), "--autoplay-policy=no-user-gesture-required"],
    microphoneFor: base,
  });
  const { page, errors } = browser;
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));

  await page.goto(base + "/", { waitUntil: "load", timeout: 30000 });
  await page.waitForSelector("#model option[value='tiny.en']", { state: "attached", timeout: 10000 });
  await page.click("#live");
  // the fake microphone plays the recording (looped): committed words arrive as deltas
  // (polled from here: the page's CSP has no 'unsafe-eval' for waitForFunction)
  let sawPartial = false;
  for (const t0 = Date.now(); !/country/i.test(await page.textContent("#livefinal")); ) {
    if ((await page.textContent("#livepartial")).trim()) sawPartial = true;
    if (Date.now() - t0 > 90000) throw new Error("no committed text after 90 s: " + await page.textContent("#livestatus"));
    await page.waitForTimeout(100);
  }
  await page.click("#live");                     // stop: commit and close
  await page.waitForTimeout(500);
  const text = (await page.textContent("#livefinal")).toLowerCase();
  const status = await page.textContent("#livestatus");
  if (!/ask not what your country|what your country can do/.test(text.replace(/[^a-z' ]+/g, " ").replace(/ +/g, " ")))
    fail("live text lacks the recording's words: " + text);
  if (!sockets.some((u) => u.startsWith(base.replace(/^http/, "ws") + "/v1/realtime?intent=transcription")))
    fail("no realtime WebSocket: " + sockets.join(", "));
  if (!sawPartial) fail("no partial (grey) text was shown before the words were committed");
  if (/Error|failed|closed/.test(status)) fail("status: " + status);
  if (errors.length) fail("page errors: " + errors.join("; "));
  if (!process.exitCode) console.log("live ok: " + text.trim().replace(/\s+/g, " "));
} catch (e) {
  fail(e.stack || String(e));
} finally {
  if (browser) await browser.close();
}
