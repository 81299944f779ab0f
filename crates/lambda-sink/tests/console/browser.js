// What the console's browser scripts share: Debian's headless Chromium,
// driven by playwright-core, with one 1280×800 page that records every page
// error and console error in `problems`.
"use strict";

const { chromium } = require("playwright-core");

async function openPage(timeoutMs) {
  const browser = await chromium.launch({
    executablePath: process.env.LAMBDA_SINK_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(timeoutMs);
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text()); });
  return { browser, page, problems };
}

function step(text) { console.log("step " + text); }

// Runs a script's checks (`checks(page)`) on a fresh page: afterwards no
// page or console error may have happened (but the 404 of /favicon.ico,
// which the console has not), then it prints "done"; on the first failed
// check it prints the reason and exits non-zero.
function run(timeoutMs, checks) {
  (async () => {
    const { browser, page, problems } = await openPage(timeoutMs);
    await checks(page);
    require("node:assert/strict").deepEqual(
      problems.filter((p) => !/status of 404/.test(p)), [], "no page or console errors");
    await browser.close();
    console.log("done");
  })().catch((e) => {
    console.error(e && e.stack ? e.stack : String(e));
    process.exit(1);
  });
}

module.exports = { openPage, run, step };
