// test_page.mjs BASE_URL AUDIO_FILE — load the amanuensis web page in headless Chromium, upload a
// file, and wait for its transcript.  Prints "transcript ok: ..." and exits 0 on success.
import { openPage } from "./browser.mjs";

const [base, audio] = process.argv.slice(2);
if (!base || !audio) { console.error("usage: node test_page.mjs BASE_URL AUDIO_FILE"); process.exit(2); }
let browser;
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; };
try {
  browser = await openPage({ acceptDownloads: true });
  const { page, errors } = browser;
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) external.push(r.url()); });

  await page.goto(base + "/", { waitUntil: "load", timeout: 30000 });
  await page.waitForSelector("#model option[value='tiny.en']", { state: "attached", timeout: 10000 });
  await page.setInputFiles("#file", audio);
  await page.click("#go");
  await page.waitForSelector("#transcript .seg", { timeout: 120000 });
  const text = (await page.textContent("#transcript")).toLowerCase();
  const full = (await page.textContent("#fulltext")).toLowerCase();
  const status = await page.textContent("#status");
  if (!text.includes("ask not what your country")) fail("transcript text missing: " + text);
  if (!/\[00:00\.000 → \d\d:\d\d\.\d{3}\]/.test(await page.textContent("#transcript"))) fail("no timestamps shown");
  if (!full.includes("country")) fail("full text missing");
  if (!/^Done in/.test(status)) fail("status: " + status);
  // downloads
  for (const fmt of ["txt", "srt", "vtt", "json"]) {
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 10000 }), page.click(`#downloads button[data-fmt='${fmt}']`)]);
    if (dl.suggestedFilename() !== "jfk." + fmt) fail("download name " + dl.suggestedFilename());
  }
  if (external.length) fail("requests outside the server: " + external.join(", "));
  if (errors.length) fail("page errors: " + errors.join("; "));
  if (!process.exitCode) console.log("transcript ok: " + full.trim());
} catch (e) {
  fail(e.stack || String(e));
} finally {
  if (browser) await browser.close();
}
