// Moving a connector in time and replay jobs in the web console, in real
// headless Chromium (Debian's) driven by playwright-core; run by
// tests/console.rs, which owns the worker and a connector that has
// consumed offsets 0..2 (at CONSOLE_FROM) and 3..4 (at CONSOLE_MOVE) of
// one partition. From the connector's page: a replay job from
// CONSOLE_FROM is started and shown done with its progress and outcomes,
// then the connector is moved to CONSOLE_MOVE and the page says where
// each partition went. (browser.js runs it: "done" at the end, a non-zero
// exit with the reason on the first failed check.)
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const { run, step } = require("./browser");

const URL = process.env.CONSOLE_URL;
const NAME = process.env.CONSOLE_NAME;
const TOPIC = process.env.CONSOLE_TOPIC;
const FROM = Number(process.env.CONSOLE_FROM);
const MOVE = Number(process.env.CONSOLE_MOVE);
const SHOTS = process.env.CONSOLE_SCREENSHOTS; // a directory, or unset
const TIMEOUT = 60_000;

// Fills a datetime-local input with `ms` as the browser's local time.
async function setTime(page, testid, ms) {
  await page.locator(`[data-testid="${testid}"]`).evaluate((input, ms) => {
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, "0");
    input.value = d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate())
      + "T" + two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }, ms);
}

run(TIMEOUT, async (page) => {
  step("the connector's page has no replay job yet");
  await page.goto(URL + "/console#/connector/" + encodeURIComponent(NAME));
  await page.locator('[data-testid="replays-empty"]').waitFor();

  step("a replay job from the first records runs to its end, shown with its progress");
  await setTime(page, "replay-from", FROM);
  await page.locator('[data-testid="replay"]').click();
  await page.locator('[data-testid="move-result"]', { hasText: "5 record(s)" }).waitFor();
  const job = page.locator('[data-testid="replays"] tr[data-state="done"]');
  await job.waitFor();
  assert.equal(await job.locator('[data-testid="replay-read"]').textContent(), "5 of 5");
  assert.equal(await job.locator('[data-testid="replay-outcomes"]').textContent(), "success 5");
  assert.equal(await page.locator('[data-testid="cancel-replay"]').count(), 0, "nothing to cancel once done");

  step("the running connector moves to a time: the page says where it went");
  await setTime(page, "move-at", MOVE);
  await page.locator('[data-testid="move"]').click();
  const said = page.locator('[data-testid="move-result"]', { hasText: "Moved: " });
  await said.waitFor();
  assert.equal(await said.textContent(), "Moved: " + TOPIC + "-0 to 3");
  if (SHOTS) {
    await said.evaluate((n) => n.scrollIntoView({ block: "center" }));
    await page.screenshot({ path: path.join(SHOTS, "console-time-travel.png"), fullPage: false });
  }
});
