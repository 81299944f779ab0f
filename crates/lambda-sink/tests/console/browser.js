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

module.exports = { openPage };
