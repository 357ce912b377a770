// test_page.mjs BASE_URL AUDIO_FILE — load the amanuensis web page in headless Chromium, upload a
// file, and wait for its transcript.  Prints "transcript ok: ..." and exits 0 on success.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, audio] = process.argv.slice(2);
if (!base || !audio) { console.error("usage: node test_page.mjs BASE_URL AUDIO_FILE"); process.exit(2); }
const profile = mkdtempSync(join(tmpdir(), "am-chromium-"));
let context;
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; };
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.AM_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    acceptDownloads: true,
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
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
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
