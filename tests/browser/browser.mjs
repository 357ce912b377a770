// browser.mjs — the headless Chromium the page tests share: a throwaway profile, flags that keep
// it quiet and offline (no sync, no updates, no QUIC), and the page's errors collected.
//
//   const b = await openPage({ args: [...more flags], acceptDownloads: true });
//   ... b.page ..., b.errors (page errors and console errors, as strings)
//   await b.close();   // in a finally: closes Chromium and removes the profile
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export async function openPage({ args = [], acceptDownloads = false, microphoneFor = null } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "am-chromium-"));
  let context = null;
  const close = async () => {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.AM_CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: [...FLAGS, ...args],
      acceptDownloads,
    });
    if (microphoneFor) await context.grantPermissions(["microphone"], { origin: microphoneFor });
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    return { context, page, errors, close };
  } catch (e) {
    await close();
    throw e;
  }
}
