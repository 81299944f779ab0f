// The web console in real headless Chromium (Debian's), driven by
// playwright-core; run by tests/console.rs, which owns the worker, the
// topic and the function, and produces records when this script asks:
//   this script prints   "need <what>"   and waits for a line on stdin.
// Exits non-zero (with the reason) on the first failed check.
"use strict";

const assert = require("node:assert/strict");
const readline = require("node:readline");
const path = require("node:path");
const { openPage } = require("./browser");

const URL = process.env.CONSOLE_URL;
const TOPIC = process.env.CONSOLE_TOPIC;
const FUNCTION = process.env.CONSOLE_FUNCTION;
const NAME = process.env.CONSOLE_NAME;
const TOKEN = process.env.CONSOLE_TOKEN;
const OUTCOME_TOPIC = process.env.CONSOLE_OUTCOME_TOPIC; // another connector's, by its name
const SLEEP_MS = Number(process.env.CONSOLE_SLEEP_MS); // the function's fixed latency
const SHOTS = process.env.CONSOLE_SCREENSHOTS; // a directory, or unset
const TIMEOUT = 60_000;

const lines = readline.createInterface({ input: process.stdin });
const waiting = [];
lines.on("line", (l) => { const w = waiting.shift(); if (w) w(l); });
function need(what) {
  console.log("need " + what);
  return new Promise((resolve) => waiting.push(resolve));
}
function step(text) { console.log("step " + text); }

async function shot(page, name, centred) {
  if (!SHOTS) return;
  if (centred) await centred.evaluate((n) => n.scrollIntoView({ block: "center" }));
  await page.screenshot({ path: path.join(SHOTS, name + ".png"), fullPage: false });
}

(async () => {
  const { browser, page, problems } = await openPage(TIMEOUT);

  step("sign in: the worker wants its bearer token");
  await page.goto(URL + "/console#/");
  await page.getByTestId("auth").waitFor();
  assert.equal(await page.locator("tr[data-connector]").count(), 0, "nothing shown without credentials");
  await page.locator("#auth-secret").fill("wrong-" + TOKEN);
  await page.getByTestId("auth-save").click();
  await page.getByTestId("auth").waitFor(); // asked again
  await page.locator("#auth-secret").fill(TOKEN);
  await page.getByTestId("auth-save").click();
  await page.getByTestId("connectors").waitFor();
  assert.equal(await page.getByTestId("auth").isVisible(), false);

  step("the create form, from the property table");
  await page.goto(URL + "/console#/new");
  const form = page.getByTestId("connector-form");
  await form.waitFor();
  const field = (name) => page.locator(`[name="${name}"]`);
  assert.equal(await page.locator('[data-field-row="name"] .required').count(), 1, "name is marked required");
  assert.equal(await field("aws.secret.access.key").getAttribute("type"), "password", "secrets are password fields");
  assert.ok((await field("aws.lambda.invocation.type").locator("option").allTextContents()).includes("async"), "enums are choices");
  assert.match(await field("aws.lambda.batch.size").getAttribute("placeholder"), /default: 20/, "defaults are shown");
  // What the worker's file supplies is shown and not required; its secrets stay hidden.
  assert.equal(await page.locator('[data-field-row="kafka.bootstrap.servers"] .required').count(), 0);
  assert.match(await field("kafka.bootstrap.servers").getAttribute("placeholder"), /^worker default: 127\.0\.0\.1:/);
  assert.equal(await field("aws.secret.access.key").getAttribute("placeholder"), "worker default: [hidden]");
  step("the essentials first and alone, the rest in collapsed groups");
  const height = (await form.boundingBox()).height;
  assert.ok(height < 2000, `the new form is ${height} px tall with only the essentials open`);
  assert.equal(await page.locator('[data-testid="essentials"] [data-field-row]:visible').count(), 9, "nine essentials");
  assert.equal(await field("aws.lambda.batch.size").isVisible(), false, "tuning is collapsed");
  assert.equal(await page.locator('[data-field-row="aws.lambda.function.name"] .required').count(), 1, "the function is marked required");
  assert.match(await page.locator('[data-field-row="aws.lambda.function.name"] .when').textContent(), /required in single mode/);
  const doc = page.locator('[data-field-row="aws.lambda.invocation.type"] .doc');
  assert.ok(await doc.locator("code").count() >= 2, "code spans are rendered");
  assert.ok(!(await doc.textContent()).includes("`"), "no raw backticks");
  await page.getByTestId("property-search").fill("linger");
  await field("aws.lambda.batch.linger.ms").waitFor();
  assert.equal(await field("aws.lambda.batch.size").isVisible(), false, "only matching properties");
  await page.getByTestId("property-search").fill("");
  await page.waitForFunction(() => !document.querySelector('[name="aws.lambda.batch.linger.ms"]').checkVisibility());
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "console-new");

  step("a name that is not an id says what its id will be");
  await field("name").fill("x<img src=x onerror=alert(1)>");
  await page.waitForFunction(() => !document.querySelector('[data-testid="id-hint"]').hidden);
  assert.match(await page.getByTestId("id-hint").textContent(), /x_img_src_x_onerror_alert_1__/);
  assert.equal(await page.locator('[data-field-row="name"] img').count(), 0, "the name is text");
  await field("name").fill(NAME);
  await page.waitForFunction(() => document.querySelector('[data-testid="id-hint"]').hidden);

  step("the topic picker hides other connectors' outcome topics");
  await page.getByTestId("topic-filter").fill(OUTCOME_TOPIC);
  await page.locator('[data-testid="topic-picker"]').getByText("no topic matches").waitFor();
  await page.getByTestId("topic-show-all").check();
  await page.locator(`[data-topic="${OUTCOME_TOPIC}"].outcome`).waitFor();
  await page.getByTestId("topic-show-all").uncheck();
  await page.getByTestId("topic-filter").fill(TOPIC);
  await page.locator(`[data-topic="${TOPIC}"]`).click();
  assert.equal(await field("topics").inputValue(), TOPIC);
  await field("aws.lambda.function.name").fill(FUNCTION);
  await field("input.data.format").selectOption("JSON");
  // Beyond the essentials, a user finds a property with the search box.
  const reveal = async (name) => {
    await page.getByTestId("property-search").fill(name);
    await field(name).waitFor();
  };
  await reveal("errors.tolerance");
  await field("errors.tolerance").selectOption("all");
  await reveal("aws.lambda.on.failure");
  await field("aws.lambda.on.failure").selectOption("dlq");
  step("a validation error shown inline, before submit");
  await reveal("aws.lambda.batch.size");
  await field("aws.lambda.batch.size").fill("0");
  const batchErrors = page.locator('[data-field="aws.lambda.batch.size"] li');
  await batchErrors.first().waitFor();
  assert.match(await batchErrors.first().textContent(), /0/);
  await shot(page, "console-invalid", field("aws.lambda.batch.size"));
  await page.getByTestId("submit").click();
  assert.match(await page.getByTestId("summary").textContent(), /problem/, "not submitted while invalid");
  assert.equal(await page.evaluate(() => location.hash), "#/new");
  await field("aws.lambda.batch.size").fill("5");
  await page.waitForFunction(() => document.querySelectorAll('[data-field="aws.lambda.batch.size"] li').length === 0);
  await page.getByTestId("submit").click();

  step("RUNNING on its detail page");
  await page.waitForFunction((n) => location.hash === "#/connector/" + encodeURIComponent(n), NAME);
  await page.waitForFunction(() => document.querySelector('[data-testid="state"]')?.textContent === "RUNNING");

  step("the throughput plot moves while records flow");
  await need("records");
  await page.waitForFunction(() => {
    const line = document.querySelector('[data-testid="plot-throughput"] polyline[data-series="consumed"]');
    if (!line) return false;
    const ys = line.getAttribute("points").trim().split(" ").map((p) => Number(p.split(",")[1]));
    return new Set(ys).size > 1; // not a flat line
  });

  step("the latency plot reads the function's fixed latency within 10 %");
  // The function sleeps SLEEP_MS; the emulator adds tens of ms, so the
  // latency to read is what lambda-sink measured (its mean, from
  // /metrics). Each 2 s interval has its own p50; the first may hold a
  // cold start.
  const actual = Number(await need("latency"));
  assert.ok(actual >= SLEEP_MS && actual < 1.5 * SLEEP_MS, "mean latency " + actual + " ms");
  const p50 = await page.waitForFunction((expected) => {
    const legend = document.querySelector('[data-testid="plot-latency"]')?.closest("figure")?.querySelector('[data-legend="p50"]');
    const m = /p50 ([0-9.]+) ms/.exec(legend?.textContent || "");
    return m && Math.abs(Number(m[1]) - expected) <= 0.1 * expected ? Number(m[1]) : null;
  }, actual);
  console.log("step latency p50 " + (await p50.jsonValue()) + " ms for a function measured at " + actual.toFixed(1) + " ms (sleeping " + SLEEP_MS + " ms)");
  step("the plots have a time axis and a readout under the pointer");
  const ticks = page.locator('[data-testid="plot-latency"] [data-tick="time"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="plot-latency"] [data-tick="time"]').length === 3);
  assert.match(await ticks.first().textContent(), /^\d\d:\d\d:\d\d$/);
  const plotBox = await page.getByTestId("plot-latency").boundingBox();
  await page.mouse.move(plotBox.x + plotBox.width - 20, plotBox.y + plotBox.height / 2);
  assert.match(await page.getByTestId("plot-latency-readout").textContent(), /^\d\d:\d\d:\d\d — p50 (\d+|–)/);

  step("the connectors page: lag reaches 0");
  await page.goto(URL + "/console#/");
  const row = page.locator(`tr[data-connector="${NAME}"]`);
  await row.waitFor();
  await page.waitForFunction((n) => document.querySelector(`tr[data-connector="${n}"] [data-testid="lag"]`)?.textContent === "0", NAME);
  // The bad records come after the slow good ones: they count as errors.
  await page.waitForFunction((n) => !["", "0"].includes(document.querySelector(`tr[data-connector="${n}"] [data-testid="errors"]`)?.textContent ?? ""), NAME);
  await shot(page, "console-connectors");

  step("pause and resume");
  await row.getByTestId("pause").click();
  await page.waitForFunction((n) => document.querySelector(`tr[data-connector="${n}"] [data-testid="state"]`)?.textContent === "PAUSED", NAME);
  await row.getByTestId("resume").click();
  await page.waitForFunction((n) => document.querySelector(`tr[data-connector="${n}"] [data-testid="state"]`)?.textContent === "RUNNING", NAME);

  step("the DLQ view shows a planted record as text");
  await page.goto(URL + "/console#/connector/" + encodeURIComponent(NAME) + "/dlq");
  const dead = page.getByTestId("dead-letter");
  await dead.first().waitFor();
  const planted = dead.filter({ hasText: "<script>" });
  await planted.first().waitFor();
  assert.match(await planted.first().getByTestId("value").textContent(), /<script>window\.__xss = 1<\/script><b>bold<\/b>/);
  assert.match(await planted.first().getByTestId("headers").textContent(), /<img src=x onerror=/);
  assert.equal(await page.locator('[data-testid="dlq"] script, [data-testid="dlq"] b, [data-testid="dlq"] img').count(), 0, "no markup from records");
  assert.equal(await page.evaluate(() => window.__xss), undefined, "no planted script ran");
  assert.match(await planted.first().getByTestId("reason").textContent(), /\S/, "the reason is decoded");
  assert.match(await planted.first().getByTestId("position").textContent(), /^partition 0 · offset \d+$/);
  assert.match(await planted.first().getByTestId("original").textContent(), new RegExp("^" + TOPIC + "partition 0 · offset 43$"));
  const failing = dead.filter({ hasText: '"fail": true' }).first();
  await failing.waitFor();
  assert.match(await failing.getByTestId("failure").textContent(),
    /^RetryAttemptsExhausted: (failed alone after 1 invocation; the function failed this record|one of \d+ records \(offsets \d+–45\) that failed together after 1 invocation; the function failed the batch as a whole.*)\.$/);
  const long = dead.filter({ hasText: "word word" }).first();
  await long.waitFor();
  const fold = long.getByTestId("value").locator("details.fold");
  assert.equal(await fold.count(), 1, "a long value is folded");
  assert.equal(await fold.evaluate((d) => d.open), false);
  const box = await long.getByTestId("value").boundingBox();
  assert.ok(box.height < 400 && box.width > 200, `the folded value wraps by words, not a character a line (${box.width}×${box.height} px)`);
  await shot(page, "console-dlq");

  step("fix the cause (the values are text), then redrive the selection");
  await page.goto(URL + "/console#/edit/" + encodeURIComponent(NAME));
  await form.waitFor();
  assert.equal(await field("name").getAttribute("readonly"), "", "the name cannot change");
  assert.equal(await field("name").inputValue(), NAME);
  await field("input.data.format").selectOption("STRING");
  await page.waitForFunction(() => /valid/.test(document.querySelector('[data-testid="summary"]').textContent));
  await shot(page, "console-edit", field("input.data.format"));
  await page.getByTestId("submit").click();
  await page.waitForFunction((n) => location.hash === "#/connector/" + encodeURIComponent(n), NAME);
  await page.waitForFunction(() => document.querySelector('[data-testid="state"]')?.textContent === "RUNNING");
  await page.goto(URL + "/console#/connector/" + encodeURIComponent(NAME) + "/dlq");
  await dead.first().waitFor();
  const offset = await planted.first().getAttribute("data-offset");
  await planted.first().getByTestId("select").check();
  await page.getByTestId("redrive-selected").click();
  await page.waitForFunction(() => /redrove 1 of 1: \{"success":1\}/.test(document.querySelector('[data-testid="redrive-report"]')?.textContent || ""));
  console.log("redriven dlq-offset " + offset);

  step("the event log: what happened, newest first, filtered by level");
  await page.goto(URL + "/console#/connector/" + encodeURIComponent(NAME));
  const events = page.getByTestId("events");
  await events.waitFor();
  const told = ["tasks_started", "partitions_assigned", "dead_letter", "paused", "resumed", "config_changed"];
  await page.waitForFunction((kinds) => kinds.every((k) => document.querySelector(`[data-testid="events"] li[data-event="${k}"]`)), told);
  const order = await events.locator("li").evaluateAll((items) => items.map((li) => li.dataset.event));
  const newest = (k) => order.indexOf(k);
  assert.ok(newest("config_changed") < newest("resumed") && newest("resumed") < newest("paused") && newest("paused") < order.lastIndexOf("tasks_started"),
    "newest first: " + order.join(", "));
  assert.match(await events.locator('li[data-event="dead_letter"]').first().textContent(), /^\d\d:\d\d:\d\dWARNdead_letter record sent to the dead letter queue .* — task 0 · .*-0 · offsets \d+ · on 127\.0\.0\.1:\d+$/);
  await shot(page, "console-events", events);
  await page.getByTestId("events-level").selectOption("warn");
  await page.waitForFunction(() => {
    const items = [...document.querySelectorAll('[data-testid="events"] li')];
    return items.length > 0 && items.every((li) => li.dataset.level !== "info");
  });
  assert.ok(await events.locator('li[data-event="dead_letter"]').count() > 0, "the dead letters stay");

  if (SHOTS) { // the detail page once it has some history
    await page.goto(URL + "/console#/connector/" + encodeURIComponent(NAME));
    await page.waitForFunction(() => (document.querySelector('[data-testid="plot-throughput"] polyline')?.getAttribute("points") || "").trim().split(" ").length >= 8);
    await shot(page, "console-connector");
  }

  assert.deepEqual(problems.filter((p) => !/status of 40[0-9]/.test(p)), [], "the page ran without errors");
  await browser.close();
  console.log("done");
  process.exit(0);
})().catch((e) => {
  console.error("console test failed: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
