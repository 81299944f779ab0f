// Parked keys in the web console, in real headless Chromium (Debian's)
// driven by playwright-core; run by tests/console.rs, which owns the
// worker, a connector parking failed keys (aws.lambda.on.key.failure=park)
// with one key whose records always fail, and a connector that does not
// park keys. The first's page lists the key with its records, partition,
// offsets, age and reason, orders it retried (an event says so) and then
// skipped (it leaves the list); the second's shows no parked-keys section.
// (browser.js runs it: "done" at the end, a non-zero exit with the reason
// on the first failed check.)
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const { run, step } = require("./browser");

const URL = process.env.CONSOLE_URL;
const NAME = process.env.CONSOLE_NAME;
const PLAIN = process.env.CONSOLE_PLAIN;
const TOPIC = process.env.CONSOLE_TOPIC;
const SHOTS = process.env.CONSOLE_SCREENSHOTS; // a directory, or unset
const TIMEOUT = 60_000;

run(TIMEOUT, async (page) => {
  step("the parking connector's page lists its parked key");
  await page.goto(URL + "/console#/connector/" + encodeURIComponent(NAME));
  const row = page.locator('[data-testid="parked"] tr[data-key="poisoned"]');
  await row.waitFor();
  const cells = await row.locator("td").allTextContents();
  assert.equal(cells[0], "poisoned");
  assert.equal(cells[1], TOPIC + "-0");
  assert.equal(cells[2], "3", "all three of its records");
  assert.equal(cells[3], "0–2");
  assert.match(cells[4], /^\d+(\.\d)? s$/, "how long it has been parked: " + cells[4]);
  assert.equal(cells[5], "0", "no retry yet (ten minutes' backoff)");
  assert.match(cells[6], /function error/, "why: " + cells[6]);
  assert.equal(await page.locator('[data-testid="parked"] tbody tr').count(), 1, "only the failing key");
  if (SHOTS) {
    await row.evaluate((n) => n.scrollIntoView({ block: "center" }));
    await page.screenshot({ path: path.join(SHOTS, "console-parked.png"), fullPage: false });
  }

  step("Retry now is ordered (the key fails again, stays parked, and counts one retry)");
  await row.locator('[data-testid="retry-key"]').click();
  await page.locator('[data-testid="parked-ordered"]', { hasText: "key poisoned ordered: it is retried now" }).waitFor();
  await page.locator('[data-event="key_retry_ordered"]').waitFor();
  await page.waitForFunction(() => {
    const cell = document.querySelector('[data-testid="parked"] tr[data-key="poisoned"] td:nth-child(6)');
    return cell && cell.textContent === "1";
  }, null, { timeout: TIMEOUT });

  step("Skip resolves its records without invoking them: the key is no longer listed");
  await page.locator('[data-testid="parked"] tr[data-key="poisoned"] [data-testid="skip-key"]').click();
  await page.locator('[data-testid="parked-ordered"]', { hasText: "key poisoned ordered: its parked records are resolved as failed" }).waitFor();
  await page.locator('[data-testid="parked-empty"]').waitFor();

  step("a connector that does not park keys shows no such section");
  await page.goto(URL + "/console#/connector/" + encodeURIComponent(PLAIN));
  await page.locator("section.parked[data-loaded]").waitFor({ state: "attached" });
  assert.equal(await page.locator("section.parked").isHidden(), true, "no parked-keys section");
});
