// lambda-sink console: one page, routed by the URL's hash, drawing with
// the DOM (text only: nothing from records, headers or configs is ever
// parsed as HTML) and SVG. It calls the worker's REST API like any script.
"use strict";

const PLUGIN = "LambdaSink";
const REFRESH_MS = 2000;
let timer = null;

// ── DOM helpers: every text goes in as textContent ──────────────────────
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, f] of Object.entries(v)) node.addEventListener(ev, f);
    else if (k === "text") node.textContent = String(v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
const $main = () => document.getElementById("main");
function show(...nodes) { $main().replaceChildren(...nodes); }
function path(name) { return encodeURIComponent(name); }

// ── The API ─────────────────────────────────────────────────────────────
async function api(method, url, body) {
  const headers = { "Accept": "application/json" };
  const credentials = sessionStorage.getItem("lambda-sink-authorization");
  if (credentials) headers["Authorization"] = credentials;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) askForCredentials(r.headers.get("WWW-Authenticate") || "");
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (!r.ok) {
    const message = data && data.message ? data.message : "HTTP " + r.status;
    throw Object.assign(new Error(message), { status: r.status, data });
  }
  return data;
}

function notice(text, kind) {
  const n = el("p", { class: "notice " + (kind || ""), role: "status", "data-testid": "notice", text });
  $main().prepend(n);
  setTimeout(() => n.remove(), 8000);
}

// ── Routing ─────────────────────────────────────────────────────────────
function route() {
  if (timer) { clearInterval(timer); timer = null; }
  const hash = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  const parts = hash.split("/").filter(Boolean);
  if (parts.length === 0) return connectorsPage();
  if (parts[0] === "new") return formPage(null);
  if (parts[0] === "edit" && parts[1]) return formPage(parts.slice(1).join("/"));
  if (parts[0] === "connector" && parts.length >= 3 && parts[parts.length - 1] === "dlq")
    return dlqPage(parts.slice(1, -1).join("/"));
  if (parts[0] === "connector" && parts[1]) return detailPage(parts.slice(1).join("/"));
  show(el("p", { text: "No such page." }));
}
function every(f) { f(); timer = setInterval(f, REFRESH_MS); }

// ── Connectors page ─────────────────────────────────────────────────────
function badge(state) {
  return el("span", { class: "state " + String(state || "").toLowerCase(), "data-testid": "state", text: state || "?" });
}
function errorsOf(totals) {
  const r = (totals && totals.resolved) || {};
  return (r.function_error || 0) + (r.invocation_error || 0) + (r.dlq || 0);
}
// Seconds shown with one decimal below a minute, whole above.
function seconds(s) { return (s < 60 ? s.toFixed(1) : String(Math.round(s))) + " s"; }
function stalledBadge(totals) {
  return totals && totals.stalled && totals.stalled.length
    ? el("span", { class: "state stalled", "data-testid": "stalled", title: totals.stalled.map((p) => p.partition).join(", "), text: "STALLED" })
    : "";
}
function lastRate(plot) {
  const p = plot.points[plot.points.length - 1];
  return p ? p.consumed_per_s : 0;
}
async function action(name, what) {
  const base = "/connectors/" + path(name);
  const calls = {
    pause: ["PUT", base + "/pause"], resume: ["PUT", base + "/resume"], stop: ["PUT", base + "/stop"],
    restart: ["POST", base + "/restart?includeTasks=true"], delete: ["DELETE", base],
  };
  const [method, url] = calls[what];
  try { await api(method, url); notice(what + ": " + name, "ok"); }
  catch (e) { notice(e.message, "error"); }
}
function actions(name, state, after) {
  const box = el("div", { class: "actions" });
  const button = (what, label) => el("button", {
    type: "button", "data-testid": what,
    on: { click: async () => { await action(name, what); if (after) after(); } },
  }, label);
  if (state === "PAUSED" || state === "STOPPED") box.append(button("resume", "Resume"));
  else box.append(button("pause", "Pause"));
  box.append(button("stop", "Stop"), button("restart", "Restart"));
  const del = el("button", { type: "button", class: "danger", "data-testid": "delete" }, "Delete");
  del.addEventListener("click", () => {
    const confirmBox = el("span", { class: "confirm" },
      "Delete " + name + "? ",
      el("button", { type: "button", class: "danger", "data-testid": "confirm-delete",
        on: { click: async () => { await action(name, "delete"); location.hash = "#/"; route(); } } }, "Delete for good"),
      el("button", { type: "button", on: { click: () => confirmBox.remove() } }, "Cancel"));
    box.append(confirmBox);
  });
  box.append(del);
  return box;
}
function connectorsPage() {
  const body = el("tbody");
  show(
    el("div", { class: "bar" }, el("h1", { text: "Connectors" }), el("a", { class: "button", href: "#/new" }, "New connector")),
    el("table", { "data-testid": "connectors" },
      el("thead", {}, el("tr", {}, ["Name", "State", "Tasks", "Worker", "Records/s", "Lag", "Behind", "Errors", ""].map((h) => el("th", { text: h })))),
      body));
  every(async () => {
    let all;
    try { all = await api("GET", "/connectors?expand=status&expand=info"); }
    catch (e) { body.replaceChildren(el("tr", {}, el("td", { colspan: 9, text: e.message }))); return; }
    const names = Object.keys(all).sort();
    const rows = await Promise.all(names.map(async (name) => {
      const s = all[name].status;
      let plot = { points: [], totals: null };
      try { plot = await api("GET", "/console/api/connectors/" + path(name) + "/series"); } catch (_) { /* shown as 0 */ }
      const tasks = s.tasks.map((t) => t.state);
      const running = tasks.filter((t) => t === "RUNNING").length;
      return el("tr", { "data-connector": name },
        el("td", {}, el("a", { href: "#/connector/" + path(name), text: name })),
        el("td", {}, badge(s.connector.state), " ", stalledBadge(plot.totals)),
        el("td", { text: tasks.length ? running + "/" + tasks.length + " running" : "none" }),
        el("td", { text: s.connector.worker_id }),
        el("td", { "data-testid": "rate", text: lastRate(plot).toFixed(1) }),
        el("td", { "data-testid": "lag", text: plot.totals ? String(plot.totals.lag) : "–" }),
        el("td", { "data-testid": "behind", text: plot.totals ? seconds(plot.totals.lag_seconds) : "–" }),
        el("td", { "data-testid": "errors", text: String(errorsOf(plot.totals)) }),
        el("td", {}, actions(name, s.connector.state)));
    }));
    body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 9, text: "No connectors yet." }))]));
  });
}

// ── Create / edit form, generated from the property table ──────────────
// A description's `code` spans become <code> (as text, never HTML).
function docNodes(text) {
  return String(text || "").split("`").map((part, i) => (i % 2 ? el("code", { text: part }) : part));
}
// `inherited`: the worker's connector default for this property, if any;
// `condition`: when a conditionally required property is required.
function fieldFor(def, value, inherited, condition, derived, onChange) {
  const id = "f-" + def.name.replace(/[^A-Za-z0-9]/g, "-");
  let input;
  const recommended = value.recommended_values || [];
  const fallback = inherited !== undefined ? "worker default: " + inherited
    : def.default_value !== null && def.default_value !== "" ? "default: " + def.default_value
    : derived ? "default: " + derived.replaceAll("`", "") : "";
  if (recommended.length) {
    input = el("select", { id, name: def.name },
      el("option", { value: "", text: fallback ? "(" + fallback + ")" : "(unset)" }),
      recommended.map((v) => el("option", { value: v, text: v })));
  } else {
    input = el("input", {
      id, name: def.name, type: def.type === "PASSWORD" ? "password" : "text", autocomplete: "off", placeholder: fallback,
    });
  }
  const unsupplied = inherited === undefined;
  const required = def.required && unsupplied;
  const when = !def.required && condition && unsupplied ? condition : null;
  if (value.value !== null && value.value !== undefined) input.value = value.value;
  input.addEventListener("input", onChange);
  input.addEventListener("change", onChange);
  const label = el("label", { for: id }, def.name,
    required ? el("span", { class: "required", title: "required", text: " *" }) : null,
    when ? el("span", { class: "required", title: "required " + when, text: " *" }) : null,
    when ? el("span", { class: "when" }, " required ", docNodes(when)) : null);
  const errors = el("ul", { class: "errors", "data-field": def.name });
  return { input, row: el("div", { class: "field", "data-field-row": def.name }, label, input,
    el("p", { class: "doc" }, docNodes(def.documentation)), errors), errors, text: (def.name + " " + def.documentation).toLowerCase() };
}
async function formPage(editing) {
  show(el("p", { class: "muted", text: "Loading the property table…" }));
  let current = { "connector.class": PLUGIN };
  if (editing) {
    try { current = await api("GET", "/connectors/" + path(editing) + "/config"); }
    catch (e) { show(el("p", { class: "error", text: e.message })); return; }
  }
  const [first, inherited, layout] = await Promise.all([
    api("PUT", "/connector-plugins/" + PLUGIN + "/config/validate", current),
    api("GET", "/console/api/defaults"),
    api("GET", "/console/api/form"),
  ]);
  const fields = new Map();
  const extra = {}; // imported keys the table does not define (pass-through)
  const touched = new Set();
  const form = el("form", { "data-testid": "connector-form", novalidate: true });
  const summary = el("div", { class: "summary", "data-testid": "summary" });
  const values = () => {
    const out = { ...extra };
    for (const [name, f] of fields) if (f.input.value !== "") out[name] = f.input.value;
    if (!out["connector.class"]) out["connector.class"] = PLUGIN;
    return out;
  };
  let pending = null;
  const validate = async (all) => {
    const answer = await api("PUT", "/connector-plugins/" + PLUGIN + "/config/validate", values());
    let count = 0;
    for (const c of answer.configs) {
      const f = fields.get(c.value.name);
      const errs = c.value.errors || [];
      count += errs.length;
      if (f) f.errors.replaceChildren(...((all || touched.has(c.value.name)) ? errs.map((m) => el("li", { text: m })) : []));
      // A problem in a collapsed group is opened, so it can be seen.
      if (f && errs.length && (all || touched.has(c.value.name)) && f.group) f.group.open = true;
    }
    summary.textContent = count ? count + " problem(s) to fix" : "The configuration is valid.";
    summary.className = "summary " + (count ? "bad" : "good");
    return count;
  };
  const changed = (name) => () => {
    touched.add(name);
    clearTimeout(pending);
    pending = setTimeout(() => validate(false), 250);
    if (name === "name" || name === "connector.id") showId();
  };
  // The essentials first and alone; every other property in its group,
  // collapsed, findable with the search box.
  const essential = new Set(layout.essential);
  const byGroup = new Map(first.groups.map((g) => [g, []]));
  for (const c of first.configs) {
    if (!c.definition) { if (c.value.value !== null) extra[c.value.name] = c.value.value; continue; }
    const name = c.definition.name;
    const f = fieldFor(c.definition, c.value, inherited[name], layout.required_when[name], layout.derived_default[name], changed(name));
    fields.set(name, f);
    if (name === "connector.class") { f.row.hidden = true; continue; }
    if (essential.has(name)) continue;
    (byGroup.get(c.definition.group) || byGroup.set(c.definition.group, []).get(c.definition.group)).push(f);
  }
  const essentials = el("fieldset", { "data-testid": "essentials" }, el("legend", { text: "Essentials" }),
    layout.essential.map((n) => fields.get(n)).filter(Boolean).map((f) => f.row));
  const groups = [];
  for (const [group, list] of byGroup) {
    if (!list.length) continue;
    const set = list.filter((f) => f.input.value !== "").length;
    const details = el("details", { class: "group", "data-group": group },
      el("summary", {}, group, el("span", { class: "muted", text: " — " + list.length + " properties" + (set ? ", " + set + " set" : "") })),
      list.map((f) => f.row));
    for (const f of list) f.group = details;
    groups.push({ details, list });
  }
  const search = el("input", { type: "search", class: "filter", placeholder: "search every property (name or description)", "data-testid": "property-search" });
  search.addEventListener("input", () => {
    const needle = search.value.trim().toLowerCase();
    for (const { details, list } of groups) {
      let hits = 0;
      for (const f of list) { const hit = !needle || f.text.includes(needle); f.row.hidden = !hit; hits += hit; }
      details.hidden = needle !== "" && hits === 0;
      details.open = needle !== "" && hits > 0;
    }
  });
  // The id a name becomes, when it is not the name itself.
  const nameField = fields.get("name");
  const idHint = el("p", { class: "hint", "data-testid": "id-hint", hidden: true });
  if (nameField) nameField.row.append(idHint);
  if (editing && nameField) {
    nameField.input.readOnly = true;
    nameField.row.append(el("p", { class: "hint", text: "A connector's name cannot change: create a new connector to rename it." }));
  }
  let idAsked = 0;
  const showId = async () => {
    const explicit = fields.get("connector.id")?.input.value;
    const name = nameField ? nameField.input.value : "";
    const asked = ++idAsked;
    if (explicit || !name) { idHint.hidden = true; return; }
    const answer = await api("GET", "/console/api/id?name=" + encodeURIComponent(name));
    if (asked !== idAsked) return;
    idHint.hidden = !answer.differs;
    idHint.replaceChildren("Its id will be ", el("code", { text: answer.id || "" }),
      ": the characters a topic name cannot hold become _, and the id names its consumer group (connect-" + (answer.id || "") +
      ") and its success-, error- and dlq- topics. Set connector.id to choose it.");
  };
  // The topic picker: the cluster's topics, toggled into `topics`.
  const topicsField = fields.get("topics");
  if (topicsField) {
    const picker = el("div", { class: "picker", "data-testid": "topic-picker" }, el("span", { class: "muted", text: "Loading topics…" }));
    topicsField.row.append(picker);
    api("GET", "/console/api/topics").then((topics) => {
      // A cluster may hold thousands of topics: show the first matches of a
      // filter; other connectors' outcome topics and internal ones only on request.
      const SHOWN = 60;
      const hidden = topics.filter((t) => t.kind !== "data").length;
      const filter = el("input", { type: "search", class: "filter", placeholder: "filter " + (topics.length - hidden) + " topics", "data-testid": "topic-filter" });
      const all = el("input", { type: "checkbox", "data-testid": "topic-show-all" });
      const chips = el("span", {});
      const toggle = (t) => {
        const list = topicsField.input.value.split(",").map((s) => s.trim()).filter(Boolean);
        const at = list.indexOf(t);
        if (at >= 0) list.splice(at, 1); else list.push(t);
        topicsField.input.value = list.join(",");
        topicsField.input.dispatchEvent(new Event("input"));
      };
      const render = () => {
        const needle = filter.value.trim().toLowerCase();
        const matching = topics.filter((t) => (all.checked || t.kind === "data") && t.name.toLowerCase().includes(needle));
        const more = matching.length > SHOWN ? " and " + (matching.length - SHOWN) + " more: filter to find them"
          : matching.length === 0 ? "no topic matches" : "";
        chips.replaceChildren(...matching.slice(0, SHOWN).map((t) =>
          el("button", { type: "button", class: "chip" + (t.kind === "data" ? "" : " " + t.kind), "data-topic": t.name, title: t.kind === "data" ? null : t.kind + " topic", on: { click: () => toggle(t.name) } }, t.name)),
          el("span", { class: "muted", text: more }));
      };
      filter.addEventListener("input", render);
      all.addEventListener("change", render);
      render();
      picker.replaceChildren(el("span", { class: "muted", text: "Cluster topics: " }), filter,
        el("label", { class: "muted" }, all, " show " + hidden + " outcome and internal topics"), chips);
    }).catch((e) => picker.replaceChildren(el("span", { class: "error", text: e.message })));
  }
  // Import the file `confluent connect create --config` takes.
  const importBox = el("textarea", { rows: 5, "data-testid": "import-json", placeholder: '{"name": "...", "config": {...}} or a flat JSON object' });
  const importButton = el("button", { type: "button", "data-testid": "import", on: { click: () => {
    let parsed;
    try { parsed = JSON.parse(importBox.value); } catch (e) { notice("Not JSON: " + e.message, "error"); return; }
    const flat = parsed && typeof parsed.config === "object" ? { ...parsed.config, name: parsed.name ?? parsed.config.name } : parsed;
    for (const [k, v] of Object.entries(flat || {})) {
      if (v === undefined || v === null) continue;
      const f = fields.get(k);
      if (f) { f.input.value = String(v); touched.add(k); if (f.group) f.group.open = true; } else extra[k] = String(v);
    }
    showId();
    validate(false);
  } } }, "Import JSON");
  const submit = el("button", { type: "submit", class: "primary", "data-testid": "submit" }, editing ? "Save" : "Create");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (await validate(true)) { summary.scrollIntoView(); return; }
    const config = values();
    try {
      if (editing) await api("PUT", "/connectors/" + path(editing) + "/config", config);
      else await api("POST", "/connectors", { name: config.name, config });
      location.hash = "#/connector/" + path(config.name || editing);
    } catch (e) { summary.textContent = e.message; summary.className = "summary bad"; }
  });
  form.append(essentials, el("div", { class: "more" }, el("h2", { text: "Every other property" }), search),
    ...groups.map((g) => g.details), el("div", { class: "bar" }, summary, submit));
  show(el("h1", { text: editing ? "Edit " + editing : "New connector" }),
    el("details", { class: "import" }, el("summary", { text: "Import JSON" }), importBox, importButton),
    form);
  showId();
}

// ── Charts (SVG, drawn from numbers only) ───────────────────────────────
const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
function svg(tag, attrs) {
  const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  return n;
}
// A line chart of `series` ({name, points: [[ms since epoch, value]]}):
// value and time axes with labels, the latest values in the legend, and a
// readout of every series at the time under the pointer.
function chart(title, series, unit, testid) {
  const W = 560, H = 170, L = 52, B = 34, R = 8;
  const all = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => Number.isFinite(v));
  const peak = Math.max(0, ...all);
  const max = peak > 0 ? peak : 1;
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const t0 = times.length ? times[0] : 0, t1 = times.length ? times[times.length - 1] : 0;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => 6 + (1 - v / max) * (H - B - 6);
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "data-testid": testid });
  const label = svg("title", {}); label.textContent = title; box.append(label);
  const text = (attrs, content) => { const n = svg("text", attrs); n.textContent = content; box.append(n); };
  box.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
  box.append(svg("line", { x1: L, y1: 6, x2: L, y2: H - B, class: "axis" }));
  text({ x: L - 4, y: 14, class: "tick", "text-anchor": "end" }, formatNumber(max) + unit);
  text({ x: L - 4, y: y(max / 2) + 3, class: "tick", "text-anchor": "end" }, formatNumber(max / 2) + unit);
  text({ x: L - 4, y: H - B + 3, class: "tick", "text-anchor": "end" }, "0");
  if (times.length > 1) {
    for (const t of [t0, t0 + (t1 - t0) / 2, t1]) {
      text({ x: x(t), y: H - B + 14, class: "tick", "text-anchor": t === t0 ? "start" : t === t1 ? "end" : "middle", "data-tick": "time" }, clock(t));
    }
  }
  text({ x: (L + W - R) / 2, y: H - 3, class: "tick axis-title", "text-anchor": "middle" }, "time (local)");
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length === 0) return;
    const color = COLORS[i % COLORS.length];
    box.append(svg("polyline", { points: pts.map((p) => x(p[0]) + "," + y(p[1])).join(" "), fill: "none", stroke: color, "stroke-width": 2, "data-series": s.name }));
    const [lt, lv] = pts[pts.length - 1]; // the latest value, visible even alone
    box.append(svg("circle", { cx: x(lt), cy: y(lv), r: 2.5, fill: color }));
  });
  const valueOf = (s, t) => { const p = s.points.find((q) => q[0] === t); return p && Number.isFinite(p[1]) ? formatNumber(p[1]) + unit : "–"; };
  const readout = el("div", { class: "readout muted", "data-testid": testid + "-readout" }, "point at the chart for values");
  const cursor = svg("line", { x1: 0, y1: 6, x2: 0, y2: H - B, class: "cursor", visibility: "hidden" });
  box.append(cursor);
  box.addEventListener("mousemove", (ev) => {
    if (!times.length) return;
    const r = box.getBoundingClientRect();
    const at = t0 + ((ev.clientX - r.left) * (W / r.width) - L) / (W - L - R) * (t1 - t0);
    const t = times.reduce((best, c) => (Math.abs(c - at) < Math.abs(best - at) ? c : best), times[0]);
    cursor.setAttribute("x1", x(t)); cursor.setAttribute("x2", x(t)); cursor.setAttribute("visibility", "visible");
    readout.textContent = clock(t) + " — " + series.map((s) => s.name + " " + valueOf(s, t)).join(", ");
  });
  box.addEventListener("mouseleave", () => cursor.setAttribute("visibility", "hidden"));
  const legend = el("div", { class: "legend" }, series.map((s, i) => {
    const last = s.points.length ? s.points[s.points.length - 1][1] : null;
    return el("span", { "data-legend": s.name }, el("i", { class: "c" + (i % COLORS.length) }), s.name + (last === null || !Number.isFinite(last) ? "" : " " + formatNumber(last) + unit));
  }));
  return el("figure", { class: "plot" }, el("figcaption", { text: title }), box, legend, readout);
}
// A time of day, HH:MM:SS in the browser's zone.
function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}
function formatNumber(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 1) return v.toFixed(1);
  return v.toPrecision(2);
}
function plots(plot) {
  const pts = plot.points;
  const pick = (f) => pts.map((p) => [p.at, f(p)]);
  const outcomes = [...new Set(pts.flatMap((p) => Object.keys(p.resolved_per_s)))].sort();
  const partitions = [...new Set(pts.flatMap((p) => Object.keys(p.lag)))].sort();
  const latency = (q) => pick((p) => (p.latency_s[q] === null ? NaN : p.latency_s[q] * 1000));
  return [
    chart("Records per second: consumed and resolved by outcome", [
      { name: "consumed", points: pick((p) => p.consumed_per_s) },
      ...outcomes.map((o) => ({ name: o, points: pick((p) => p.resolved_per_s[o] || 0) })),
    ], "/s", "plot-throughput"),
    chart("Consumer lag per partition", partitions.map((k) => ({ name: k, points: pick((p) => p.lag[k] ?? NaN) })), "", "plot-lag"),
    chart("Invocation latency (p50, p95, p99 of each interval)", [
      { name: "p50", points: latency("p50") }, { name: "p95", points: latency("p95") }, { name: "p99", points: latency("p99") },
    ], " ms", "plot-latency"),
    chart("In-flight invocations and the adaptive limit", [
      { name: "in flight", points: pick((p) => p.in_flight) }, { name: "limit", points: pick((p) => p.limit) },
    ], "", "plot-in-flight"),
    chart("Throttles and retries per second", [
      { name: "throttles", points: pick((p) => p.throttles_per_s) }, { name: "retries", points: pick((p) => p.retries_per_s) },
    ], "/s", "plot-retries"),
  ];
}

// ── The connector's event log, as a timeline (newest on top) ────────────
function timeline(answer) {
  const events = (answer && answer.events) || [];
  if (!events.length) return el("p", { class: "muted", "data-testid": "events-empty", text: "No events at this level." });
  return el("ol", { class: "timeline", "data-testid": "events" }, events.slice().reverse().map((e) => {
    const where = [e.task === undefined ? null : "task " + e.task,
      e.topic === undefined ? null : e.topic + "-" + e.partition,
      e.offsets === undefined ? null : "offsets " + e.offsets,
      e.worker === undefined ? null : "on " + e.worker].filter(Boolean).join(" · ");
    return el("li", { class: "level-" + e.level, "data-event": e.event, "data-level": e.level },
      el("time", { datetime: new Date(e.at).toISOString(), title: new Date(e.at).toString(), text: clock(e.at) }),
      el("span", { class: "level " + e.level, text: e.level.toUpperCase() }),
      el("b", { text: e.event }), " ", el("span", { "data-testid": "event-message", text: e.message }),
      where ? el("span", { class: "muted", text: " — " + where }) : null);
  }));
}

// ── Parked keys (aws.lambda.on.key.failure=park) ────────────────────────
// `order` sends "retry" or "skip" for a row's key.
function parkedTable(answer, order) {
  const keys = (answer && answer.parked) || [];
  if (!keys.length) return el("p", { class: "muted", "data-testid": "parked-empty", text: "No key is parked." });
  const button = (k, what, label, title) => el("button", { type: "button", "data-testid": what + "-key", title,
    on: { click: () => order(what, { key_base64: k.key_base64, topic: k.topic, partition: k.partition }) } }, label);
  return el("table", { "data-testid": "parked" },
    el("thead", {}, el("tr", {}, ["Key", "Partition", "Records", "Offsets", "Parked for", "Retries", "Why (last failure)", ""].map((h) => el("th", { text: h })))),
    el("tbody", {}, keys.map((k) => el("tr", { "data-key": k.key === null ? k.key_base64 : k.key },
      el("td", {}, k.key === null ? el("code", { title: "base64", text: k.key_base64 }) : el("code", { text: k.key })),
      el("td", { text: k.topic + "-" + k.partition }),
      el("td", { text: String(k.records) }),
      el("td", { text: k.first_offset === k.last_offset ? String(k.first_offset) : k.first_offset + "–" + k.last_offset }),
      el("td", { text: seconds(k.age_ms / 1000) }),
      el("td", { text: String(k.attempts) }),
      el("td", { class: "reason", text: k.reason }),
      el("td", {}, button(k, "retry", "Retry now", "Invoke its parked records now, in order"), " ",
        button(k, "skip", "Skip", "Resolve its parked records as failed (DLQ, or as behavior.on.error says), without invoking them"))))));
}

// ── Moving in time and replay jobs (serve's own endpoints) ──────────────
// A datetime-local input's value as epoch milliseconds (the browser's zone).
function epochOf(input) { return input.value ? new Date(input.value).getTime() : NaN; }
function replaysTable(name, answer, after, tell) {
  const jobs = ((answer && answer.replays) || []).slice().reverse();
  if (!jobs.length) return el("p", { class: "muted", "data-testid": "replays-empty", text: "No replay job yet." });
  const outcomes = (o) => Object.entries(o || {}).map(([k, v]) => k + " " + v).join(", ");
  return el("table", { "data-testid": "replays" },
    el("thead", {}, el("tr", {}, ["Job", "State", "Window", "Keys", "Read", "Skipped", "Outcomes", ""].map((h) => el("th", { text: h })))),
    el("tbody", {}, jobs.map((j) => el("tr", { "data-job": j.id, "data-state": j.state },
      el("td", {}, el("code", { text: j.id })),
      el("td", {}, badge(j.state.toUpperCase())),
      el("td", { text: j.topic + " " + new Date(j.from).toLocaleString() + " – " + new Date(j.to).toLocaleString() }),
      el("td", {}, j.key_pattern === null ? el("span", { class: "muted", text: "all" }) : el("code", { text: j.key_pattern })),
      el("td", { "data-testid": "replay-read", text: j.read + " of " + j.total }),
      el("td", { text: String(j.skipped) }),
      el("td", { "data-testid": "replay-outcomes", text: outcomes(j.outcomes) }),
      el("td", {}, j.state === "running" ? el("button", { type: "button", "data-testid": "cancel-replay", on: { click: async () => {
        try { await api("DELETE", "/connectors/" + path(name) + "/replays/" + path(j.id)); } catch (e) { tell(e.message); }
        after();
      } } }, "Cancel") : "")))));
}
function timeTravel(name) {
  const said = el("p", { class: "muted", "data-testid": "move-result" });
  const at = el("input", { type: "datetime-local", step: "1", "data-testid": "move-at", "aria-label": "Move to this time" });
  const from = el("input", { type: "datetime-local", step: "1", "data-testid": "replay-from", "aria-label": "Replay from" });
  const to = el("input", { type: "datetime-local", step: "1", "data-testid": "replay-to", "aria-label": "Replay to (empty: now)" });
  const keys = el("input", { type: "text", placeholder: "key pattern (regular expression, optional)", "data-testid": "replay-keys" });
  const jobs = el("div");
  const load = async () => {
    const tell = (m) => { said.textContent = m; };
    try { jobs.replaceChildren(replaysTable(name, await api("GET", "/connectors/" + path(name) + "/replays"), load, tell)); }
    catch (e) { jobs.replaceChildren(el("p", { class: "error", text: e.message })); }
  };
  const move = async () => {
    const t = epochOf(at);
    if (!Number.isFinite(t)) { said.textContent = "Choose a time first."; return; }
    said.textContent = "Moving: the tasks drain and commit…";
    try {
      const m = await api("POST", "/connectors/" + path(name) + "/offsets/move", { timestamp: t });
      said.textContent = (m.state === "done" ? "Moved: " : "Moving (the tasks are still draining): ")
        + m.offsets.map((o) => o.partition.kafka_topic + "-" + o.partition.kafka_partition + " to " + o.offset.kafka_offset).join(", ");
    } catch (e) { said.textContent = e.message; }
  };
  const replay = async () => {
    const body = { from: epochOf(from) };
    if (!Number.isFinite(body.from)) { said.textContent = "Choose where the replay starts."; return; }
    if (to.value) body.to = epochOf(to);
    if (keys.value) body.key_pattern = keys.value;
    try { const j = await api("POST", "/connectors/" + path(name) + "/replays", body); said.textContent = "Replay job " + j.id + " started: " + j.total + " record(s)."; }
    catch (e) { said.textContent = e.message; }
    load();
  };
  const section = el("section", { class: "time-travel" }, el("h2", { text: "Move in time, replay" }),
    el("p", {}, "Move the running connector to ", at, " ",
      el("button", { type: "button", "data-testid": "move", on: { click: move } }, "Move here"),
      el("span", { class: "muted", text: " (no stop needed: its tasks drain, commit and continue from the first record at or after that time)" })),
    el("p", {}, "Replay from ", from, " to ", to, " ", keys, " ",
      el("button", { type: "button", "data-testid": "replay", on: { click: replay } }, "Start replay"),
      el("span", { class: "muted", text: " (beside the running connector; outcome records tagged lambda-sink.replay)" })),
    said, jobs);
  return { section, load };
}

// ── Connector detail page ───────────────────────────────────────────────
function detailPage(name) {
  const head = el("div", { class: "bar" });
  const tasks = el("tbody");
  const charts = el("div", { class: "plots" });
  const totals = el("p", { class: "muted", "data-testid": "totals" });
  const stalls = el("div");
  const parked = el("div");
  // Shown once the connector is known to park keys; read every fifth
  // refresh (the parked topic is read whole each time).
  const parking = el("section", { class: "parked", hidden: true }, el("h2", { text: "Parked keys" }), parked);
  let refreshes = 0;
  const ordered = el("p", { class: "muted", "data-testid": "parked-ordered" });
  parking.append(ordered);
  const order = async (what, body) => {
    try { ordered.textContent = (await api("POST", "/connectors/" + path(name) + "/parked/" + what, body)).message; }
    catch (e) { ordered.textContent = e.message; }
    refreshes = 0; // read the parked topic again at the next refresh
  };
  const loadParked = async () => {
    try {
      const keys = await api("GET", "/connectors/" + path(name) + "/parked");
      parking.hidden = !keys.parking;
      parking.dataset.loaded = "true";
      parked.replaceChildren(parkedTable(keys, order));
    } catch (e) { parked.replaceChildren(el("p", { class: "error", text: e.message })); }
  };
  const travel = timeTravel(name);
  const events = el("div");
  const level = el("select", { "data-testid": "events-level", "aria-label": "Lowest level shown" },
    ["info", "warn", "error"].map((l) => el("option", { value: l, text: l + " and above" })));
  show(
    el("p", {}, el("a", { href: "#/", text: "← Connectors" })),
    head, totals, stalls,
    el("p", {}, el("a", { href: "#/edit/" + path(name), "data-testid": "edit" }, "Edit configuration"), " · ",
      el("a", { href: "#/connector/" + path(name) + "/dlq", "data-testid": "dlq-link" }, "Dead letter queue")),
    el("table", {}, el("thead", {}, el("tr", {}, ["Task", "State", "Worker", "Trace"].map((h) => el("th", { text: h })))), tasks),
    charts, parking, travel.section,
    el("section", { class: "events" }, el("h2", {}, "Events ", level), events),
    el("details", { class: "prometheus" }, el("summary", { text: "Long-term monitoring: scrape /metrics into Prometheus" }),
      el("pre", { text: "scrape_configs:\n  - job_name: lambda-sink\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['" + location.host + "']\n# every sample carries connector=\"" + name + "\"; e.g. in Grafana:\n# sum by (outcome) (rate(lambda_sink_records_resolved_total{connector=\"" + name + "\"}[1m]))" })));
  every(async () => {
    let status, plot, log;
    try {
      status = await api("GET", "/connectors/" + path(name) + "/status");
      plot = await api("GET", "/console/api/connectors/" + path(name) + "/series");
      log = await api("GET", "/connectors/" + path(name) + "/events?limit=200&level=" + level.value);
    } catch (e) { head.replaceChildren(el("h1", { text: name }), el("span", { class: "error", text: e.message })); return; }
    events.replaceChildren(timeline(log));
    travel.load();
    if (refreshes++ % 5 === 0) await loadParked();
    head.replaceChildren(el("h1", { text: name }), badge(status.connector.state), actions(name, status.connector.state));
    if (status.connector.trace) head.append(el("pre", { class: "trace", "data-testid": "trace", text: status.connector.trace }));
    tasks.replaceChildren(...status.tasks.map((t) => el("tr", {},
      el("td", { text: String(t.id) }), el("td", {}, badge(t.state)), el("td", { text: t.worker_id }),
      el("td", {}, t.trace ? el("pre", { class: "trace", text: t.trace }) : ""))));
    const t = plot.totals;
    totals.textContent = t ? "Consumed " + t.consumed + " · lag " + t.lag + " · behind " + seconds(t.lag_seconds) + " · errors " + errorsOf(t) + " · throttles " + t.throttles + " · retries " + t.retries : "No samples yet.";
    stalls.replaceChildren(...(t && t.stalled.length ? [el("p", { class: "error", "data-testid": "stalled-partitions" },
      stalledBadge(t), " " + t.stalled.map((p) => p.partition + ": offset stuck " + seconds(p.stuck_seconds) + ", " + seconds(p.lag_seconds) + " behind").join(" · "))] : []));
    charts.replaceChildren(...plots(plot));
  });
}

// ── DLQ view ────────────────────────────────────────────────────────────
// What a batch failure's context says of this record: which record the
// function failed, or that it failed the whole batch this one was in.
function failureNote(r) {
  const f = r.failure;
  if (!f || !f.condition || !f.batch_size) return null;
  const invokes = " after " + f.invokes + " invocation" + (f.invokes === "1" ? "" : "s");
  const batch = Number(f.batch_size) > 1
    ? "one of " + f.batch_size + " records (offsets " + f.first_offset + "–" + f.last_offset + ") that failed together" + invokes
    : "failed alone" + invokes;
  const which = f.failed_offset === null
    ? (Number(f.batch_size) > 1 ? "; the function failed the batch as a whole, so the record at fault is not known (aws.lambda.bisect.on.function.error isolates it)" : "")
    : String(f.failed_offset) === String(r.error.offset) ? "; the function failed this record"
    : "; the function failed offset " + f.failed_offset + ", and the records after it in the batch failed with it";
  return el("div", { class: "muted", "data-testid": "failure" }, f.condition + ": " + batch + which + ".");
}
// "partition 0 · offset 5", labelled.
function position(partition, offset) {
  return el("span", { class: "position" }, el("span", { class: "muted", text: "partition " }), String(partition),
    el("span", { class: "muted", text: " · offset " }), String(offset));
}
// Shown bytes: long texts folded behind an expander.
const FOLD = 240;
function bytes(shown) {
  if (!shown) return el("span", { class: "muted", text: "null" });
  const text = shown.text.length > FOLD
    ? el("details", { class: "fold" }, el("summary", {}, el("code", { class: "bytes", text: shown.text.slice(0, FOLD) + "…" })),
      el("code", { class: "bytes", text: shown.text }))
    : el("code", { class: "bytes", text: shown.text });
  return el("span", {},
    text,
    shown.encoding === "base64" ? el("span", { class: "tag", text: "base64" }) : null,
    shown.truncated ? el("span", { class: "tag", text: "truncated (" + shown.bytes + " bytes)" }) : null);
}
async function dlqPage(name) {
  const list = el("tbody");
  const report = el("pre", { class: "report", "data-testid": "redrive-report", hidden: true });
  const selected = new Set();
  const load = async () => {
    let dlq;
    try { dlq = await api("GET", "/console/api/connectors/" + path(name) + "/dlq?limit=50"); }
    catch (e) { list.replaceChildren(el("tr", {}, el("td", { colspan: 7, text: e.message }))); return; }
    if (!dlq.dlq_topic) { list.replaceChildren(el("tr", {}, el("td", { colspan: 7, text: "This connector has no dead letter queue." }))); return; }
    list.replaceChildren(...(dlq.records.length ? dlq.records.map((r) => {
      const id = r.partition + ":" + r.offset;
      const box = el("input", { type: "checkbox", "data-testid": "select", on: { change: (e) => { if (e.target.checked) selected.add(id); else selected.delete(id); } } });
      return el("tr", { "data-testid": "dead-letter", "data-offset": r.offset },
        el("td", {}, box),
        el("td", { "data-testid": "position" }, position(r.partition, r.offset)),
        el("td", { text: r.timestamp ? new Date(r.timestamp).toISOString() : "" }),
        el("td", {}, el("div", { class: "stage", text: r.error.stage || "" }), el("div", { "data-testid": "reason", text: r.error.message || "" }),
          failureNote(r)),
        el("td", { "data-testid": "original" }, el("div", { text: r.error.topic || "?" }), position(r.error.partition ?? "?", r.error.offset ?? "?")),
        el("td", {}, el("div", {}, "key: ", bytes(r.key)), el("div", { "data-testid": "value" }, "value: ", bytes(r.value))),
        el("td", { "data-testid": "headers" }, r.headers.map((h) => el("div", {}, el("span", { class: "hkey", text: h.key + ": " }), bytes(h.value)))));
    }) : [el("tr", {}, el("td", { colspan: 7, text: "The dead letter queue " + dlq.dlq_topic + " is empty." }))]));
  };
  const redrive = async (bodies) => {
    const results = [];
    for (const body of bodies) {
      try { results.push(await api("POST", "/connectors/" + path(name) + "/dlq/redrive", body)); }
      catch (e) { results.push({ error: e.message }); }
    }
    report.hidden = false;
    report.textContent = results.map((r) => r.error ? "error: " + r.error : "redrove " + r.redriven + " of " + r.read + ": " + JSON.stringify(r.outcomes)).join("\n");
    selected.clear();
    await load();
  };
  show(
    el("p", {}, el("a", { href: "#/connector/" + path(name), text: "← " + name })),
    el("div", { class: "bar" }, el("h1", { text: "Dead letters of " + name }),
      el("div", { class: "actions" },
        el("button", { type: "button", "data-testid": "redrive-selected", on: { click: () => redrive([...selected].map((id) => {
          const [p, o] = id.split(":").map(Number);
          return { partitions: [p], from_offset: o, to_offset: o + 1 };
        })) } }, "Redrive selected"),
        el("button", { type: "button", "data-testid": "redrive-new", on: { click: () => redrive([{}]) } }, "Redrive all not redriven yet"))),
    report,
    el("table", { "data-testid": "dlq" }, el("thead", {}, el("tr", {}, ["", "DLQ position", "Time", "Reason", "Original record", "Bytes", "Headers"].map((h) => el("th", { text: h })))), list));
  await load();
}

// ── Credentials ─────────────────────────────────────────────────────────
// The worker answers 401 with its scheme; the box asks for a token or a
// user and password, kept for this tab only (sessionStorage).
function askForCredentials(challenge) {
  const basic = /^Basic/i.test(challenge);
  document.getElementById("auth-user-row").hidden = !basic;
  document.getElementById("auth-secret-label").textContent = basic ? "Password" : "Bearer token";
  document.getElementById("auth").dataset.scheme = basic ? "basic" : "bearer";
  document.getElementById("auth").hidden = false;
}
function saveCredentials(event) {
  event.preventDefault();
  const box = document.getElementById("auth");
  const secret = document.getElementById("auth-secret").value;
  const value = box.dataset.scheme === "basic"
    ? "Basic " + btoa(unescape(encodeURIComponent(document.getElementById("auth-user").value + ":" + secret)))
    : "Bearer " + secret;
  sessionStorage.setItem("lambda-sink-authorization", value);
  box.hidden = true;
  loadWorker();
  route();
}
function loadWorker() {
  api("GET", "/").then((info) => {
    document.getElementById("worker").textContent = "Connect API " + info.version + " · lambda-sink " + info.lambda_sink_version;
  }).catch(() => {});
}

// ── Start ───────────────────────────────────────────────────────────────
window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("auth").addEventListener("submit", saveCredentials);
  loadWorker();
  route();
});
