// A stalled partition in the web console, in real headless Chromium
// (Debian's) driven by playwright-core; run by tests/console.rs, which owns
// the worker, the connector (partition.stall.timeout.ms=1000) and a record
// its function hangs on. The connectors page marks the connector STALLED
// and shows how far behind in time it is; its page names the partition;
// both clear once the function answers. (browser.js runs it: "done" at
// the end, a non-zero exit with the reason on the first failed check.)
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const { run, step } = require("./browser");

const URL = process.env.CONSOLE_URL;
const NAME = process.env.CONSOLE_NAME;
const TOPIC = process.env.CONSOLE_TOPIC;
const SHOTS = process.env.CONSOLE_SCREENSHOTS; // a directory, or unset
const TIMEOUT = 60_000;

run(TIMEOUT, async (page) => {
  step("the connectors page marks the connector stalled");
  await page.goto(URL + "/console#/");
  const row = page.locator(`tr[data-connector="${NAME}"]`);
  await row.getByTestId("stalled").waitFor();
  assert.equal(await row.getByTestId("stalled").textContent(), "STALLED");
  const behind = await row.getByTestId("behind").textContent();
  assert.match(behind, /^\d+(\.\d)? s$/, "behind in seconds: " + behind);
  assert.ok(parseFloat(behind) >= 1, "at least the stall threshold behind: " + behind);

  step("its page names the stalled partition");
  await row.locator("a").first().click();
  const stalled = page.getByTestId("stalled-partitions");
  await stalled.waitFor();
  assert.match(await stalled.textContent(), new RegExp(`${TOPIC}-0`));
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, "console-stalled.png"), fullPage: false });

  step("it clears once the function answers");
  await stalled.waitFor({ state: "detached" });
  await page.goto(URL + "/console#/");
  await page.locator(`tr[data-connector="${NAME}"] [data-testid="behind"]`).waitFor();
  assert.equal(await page.locator(`tr[data-connector="${NAME}"] [data-testid="stalled"]`).count(), 0);
});
