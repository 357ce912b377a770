// test_speakers.mjs BASE_URL AUDIO_FILE — load the amanuensis web page in headless Chromium, tick
// "Speakers", upload a recording of several voices and read the coloured transcript back.  Checks
// what the page shows (not what the server said): every segment has a speaker label; each speaker
// one colour, a different colour per speaker; the label text readable on it (contrast >= 4.5:1);
// a legend with each speaker once; the .txt download prefixed "[SPEAKER_0k] ".  Prints
// "speakers ok: " and a JSON list of the segments as shown ({start, end, speaker, colour, text}),
// exits 0 on success (tests/integration/test_speakers_page.py compares them with the voices).
import { readFileSync } from "node:fs";
import { openPage } from "./browser.mjs";

const [base, audio] = process.argv.slice(2);
if (!base || !audio) { console.error("usage: node test_speakers.mjs BASE_URL AUDIO_FILE"); process.exit(2); }
let browser;
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; };

// WCAG 2 contrast ratio of two "rgb(r, g, b)" colours
function luminance(rgb) {
  const [r, g, b] = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
const seconds = (t) => t.split(":").reduce((acc, v) => acc * 60 + Number(v), 0);

try {
  browser = await openPage({ acceptDownloads: true });
  const { page, errors } = browser;

  await page.goto(base + "/", { waitUntil: "load", timeout: 30000 });
  await page.waitForSelector("#model option[value='tiny.en']", { state: "attached", timeout: 10000 });
  await page.check("#speakers");
  await page.setInputFiles("#file", audio);
  await page.click("#go");
  await page.waitForSelector("#transcript .seg", { timeout: 240000 });
  const status = await page.textContent("#status");
  if (!/^Done in/.test(status)) fail("status: " + status);

  const segs = await page.$$eval("#transcript .seg", (rows) => rows.map((row) => {
    const who = row.querySelector(".who");
    const cs = who ? getComputedStyle(who) : null;
    return {
      ts: row.querySelector(".ts").textContent, speaker: row.dataset.speaker || null,
      label: who ? who.textContent : null, colour: cs ? cs.backgroundColor : null, ink: cs ? cs.color : null,
      edge: getComputedStyle(row).borderLeftColor, text: row.querySelector(".text").textContent,
    };
  }));
  const colourOf = new Map();
  for (const s of segs) {
    if (!s.speaker || s.label !== s.speaker || !/^SPEAKER_\d\d$/.test(s.speaker)) { fail("segment without its speaker label: " + JSON.stringify(s)); continue; }
    if (s.edge !== s.colour) fail("the segment's edge is not its speaker's colour: " + JSON.stringify(s));
    if (colourOf.has(s.speaker) && colourOf.get(s.speaker) !== s.colour) fail("two colours for " + s.speaker);
    colourOf.set(s.speaker, s.colour);
    const c = contrast(s.ink, s.colour);
    if (c < 4.5) fail(`label contrast ${c.toFixed(2)} < 4.5 for ${s.speaker} (${s.ink} on ${s.colour})`);
  }
  const colours = [...colourOf.values()];
  if (colourOf.size < 2) fail("fewer than two speakers shown: " + [...colourOf.keys()].join(", "));
  if (new Set(colours).size !== colours.length) fail("speakers share a colour: " + JSON.stringify([...colourOf]));

  const legend = await page.$$eval("#legend .who", (chips) => chips.map((c) => [c.textContent, getComputedStyle(c).backgroundColor]));
  if (await page.isHidden("#legend")) fail("the legend is hidden");
  if (JSON.stringify(legend) !== JSON.stringify([...colourOf])) fail("legend " + JSON.stringify(legend) + " != " + JSON.stringify([...colourOf]));

  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 10000 }), page.click("#downloads button[data-fmt='txt']")]);
  const txt = readFileSync(await dl.path(), "utf8").trimEnd().split("\n");
  if (txt.length !== segs.length || !txt.every((l, i) => l.startsWith("[" + segs[i].speaker + "] "))) fail("txt download: " + txt.join(" | "));

  if (errors.length) fail("page errors: " + errors.join("; "));
  if (!process.exitCode) {
    const shown = segs.map((s) => {
      const m = s.ts.match(/^\[(.+) → (.+)\]$/);
      return { start: seconds(m[1]), end: seconds(m[2]), speaker: s.speaker, colour: s.colour, text: s.text };
    });
    console.log("speakers ok: " + JSON.stringify(shown));
  }
} catch (e) {
  fail(e.stack || String(e));
} finally {
  if (browser) await browser.close();
}
