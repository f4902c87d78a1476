// `/ui/<Program>`: a form built from the program's inputs, its result, metrics and recent logs.
"use strict";

const programName = decodeURIComponent(location.pathname.replace(/^\/ui\//, ""));
const api = encodeURIComponent(programName);
const fields = new Map(); // input name -> {spec, read(), errorNode}
let route = null;

function fieldError(name, message) {
  const field = fields.get(name);
  if (!field) return false;
  field.errorNode.textContent = message;
  field.errorNode.hidden = false;
  field.wrapper.classList.add("invalid");
  return true;
}

function clearErrors() {
  for (const field of fields.values()) {
    field.errorNode.textContent = "";
    field.errorNode.hidden = true;
    field.wrapper.classList.remove("invalid");
  }
  const box = document.getElementById("error");
  box.hidden = true;
  box.textContent = "";
}

// Each reader returns {value} to send, {omit: true}, or {error} (a client-side message).
function numberReader(input, parse) {
  return () => {
    const raw = input.value.trim();
    if (raw === "") return {empty: true};
    const value = parse(raw);
    // Not a number: sent as typed, so the server's 422 names the problem next to the field.
    return {value: Number.isFinite(value) ? value : raw};
  };
}

function imageControl(name, id) {
  const url = el("input", {type: "url", id, name, placeholder: "https://… or data:image/…", "data-image-url": ""});
  const file = el("input", {type: "file", accept: "image/*", name: name + "-file", "data-image-file": ""});
  const preview = el("img", {class: "preview", alt: "", hidden: true});
  let dataUri = "";
  const urlPane = el("div", {class: "tab-pane"}, url);
  const dropZone = el("div", {class: "tab-pane drop", hidden: true}, el("p", {class: "muted", text: "Drop an image here or choose a file"}), file);
  const readFile = f => {
    const reader = new FileReader();
    reader.onload = () => { dataUri = reader.result; preview.src = dataUri; preview.hidden = false; };
    reader.readAsDataURL(f);
  };
  file.addEventListener("change", () => file.files[0] && readFile(file.files[0]));
  dropZone.addEventListener("dragover", e => e.preventDefault());
  dropZone.addEventListener("drop", e => { e.preventDefault(); if (e.dataTransfer.files[0]) readFile(e.dataTransfer.files[0]); });
  url.addEventListener("input", () => { dataUri = ""; preview.hidden = !url.value; if (url.value) preview.src = url.value; });
  const tab = (label, pane, other) => el("button", {type: "button", class: "tab", text: label, onclick: () => { pane.hidden = false; other.hidden = true; }});
  const node = el("div", {class: "image-input"},
    el("div", {class: "tabs"}, tab("URL", urlPane, dropZone), tab("Upload", dropZone, urlPane)), urlPane, dropZone, preview);
  const read = () => {
    const value = dataUri || url.value.trim();
    return value ? {value} : {empty: true};
  };
  return {node, read};
}

function control(spec) {
  const id = "field-" + spec.name;
  const common = {id, name: spec.name, "data-kind": spec.kind};
  switch (spec.kind) {
    case "boolean": {
      const input = el("input", Object.assign({type: "checkbox"}, common));
      return {node: input, read: () => ({value: input.checked})};
    }
    case "select": {
      const select = el("select", common, el("option", {value: "", text: ""}),
        spec.options.map((option, i) => el("option", {value: JSON.stringify(option), text: String(option), selected: i === 0})));
      return {node: select, read: () => (select.value === "" ? {empty: true} : {value: JSON.parse(select.value)})};
    }
    case "integer":
    case "number": {
      const input = el("input", Object.assign({type: "text", inputmode: "decimal"}, common));
      return {node: input, read: numberReader(input, spec.kind === "integer" ? raw => (/^[+-]?\d+$/.test(raw) ? parseInt(raw, 10) : NaN) : Number)};
    }
    case "json": {
      const area = el("textarea", Object.assign({rows: 3, placeholder: "JSON, e.g. [\"a\", \"b\"]"}, common));
      return {node: area, read: () => {
        const raw = area.value.trim();
        if (raw === "") return {empty: true};
        try { return {value: JSON.parse(raw)}; } catch (error) { return {error: "Invalid JSON: " + error.message}; }
      }};
    }
    case "image":
      return imageControl(spec.name, id);
    default: {
      const area = el("textarea", Object.assign({rows: 2}, common));
      return {node: area, read: () => (area.value === "" ? {empty: true} : {value: area.value})};
    }
  }
}

function buildForm(ui) {
  const form = el("form", {id: "program-form", novalidate: true});
  for (const spec of ui.inputs) {
    const {node, read} = control(spec);
    const errorNode = el("div", {class: "field-error", "data-error-for": spec.name, hidden: true});
    const label = el("label", {for: "field-" + spec.name}, spec.name, " ", el("span", {class: "type", text: spec.type}),
      spec.optional || spec.has_default ? el("span", {class: "muted", text: " (optional)"}) : null);
    const wrapper = el("div", {class: "field", "data-field": spec.name, "data-optional": spec.optional || spec.has_default}, label, node, errorNode);
    fields.set(spec.name, {spec, read, errorNode, wrapper});
    form.append(wrapper);
  }
  const submit = el("button", {type: "submit", id: "submit", text: "Run"});
  const copy = el("button", {type: "button", id: "copy-curl", text: "Copy API Call", onclick: showCurl});
  form.append(el("div", {class: "actions"}, submit, copy, el("span", {class: "muted", text: "Ctrl/Cmd+Enter"})));
  form.addEventListener("submit", event => { event.preventDefault(); run(); });
  form.addEventListener("keydown", event => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); run(); }
  });
  return form;
}

// The body to send, or null when a field has a client-side error (shown next to it).
function collectBody() {
  clearErrors();
  const body = {};
  let ok = true;
  for (const [name, field] of fields) {
    const result = field.read();
    if (result.error) { ok = fieldError(name, result.error) && false; continue; }
    if (result.empty) {
      if (!(field.spec.optional || field.spec.has_default)) { fieldError(name, "Field required"); ok = false; }
      continue;
    }
    body[name] = result.value;
  }
  return ok ? body : null;
}

async function run() {
  const body = collectBody();
  if (body === null) return;
  const button = document.getElementById("submit");
  button.disabled = true;
  button.textContent = "Running…";
  try {
    const {status, data} = await requestJSON(route.path, {
      method: route.method, headers: {"Content-Type": "application/json", "Accept": "application/json"}, body: JSON.stringify(body)});
    if (status >= 200 && status < 300) {
      document.getElementById("result").textContent = JSON.stringify(data, null, 2);
      document.getElementById("result-area").hidden = false;
    } else {
      showError(status, data);
    }
  } catch (error) {
    showError(0, "Request failed: " + error.message);
  } finally {
    button.disabled = false;
    button.textContent = "Run";
    setTimeout(() => { loadLogs(); loadMetrics(); }, 500);
  }
}

function showError(status, data) {
  if (status === 422 && data && Array.isArray(data.detail)) {
    for (const error of data.detail) {
      const loc = error.loc || [];
      if (loc[0] === "body" && typeof loc[1] === "string") fieldError(loc[1], error.msg);
    }
  }
  const box = document.getElementById("error");
  box.textContent = (status ? "HTTP " + status + ": " : "") + detailText(data);
  box.hidden = false;
}

function showCurl() {
  const body = collectBody();
  if (body === null) return;
  const pre = document.getElementById("curl");
  if (JSON.stringify(body).includes("\"data:")) {
    pre.textContent = "Use image URLs instead: a data URI is too long for a command line.";
  } else {
    const json = JSON.stringify(body).replace(/'/g, "'\\''");
    pre.textContent = `curl -X ${route.method} '${location.origin}${route.path}' -H 'Content-Type: application/json' -d '${json}'`;
    if (navigator.clipboard) navigator.clipboard.writeText(pre.textContent).catch(() => {});
  }
  pre.hidden = false;
}

async function loadMetrics() {
  const {status, data} = await requestJSON("/api/metrics/" + api);
  const box = document.getElementById("metrics");
  if (status !== 200) { showFatal(box, detailText(data)); return; }
  const m = data.metrics;
  const stat = (label, value, key) => el("div", {class: "stat", "data-stat": key}, el("div", {class: "value", text: value}), el("div", {class: "muted", text: label}));
  const stats = el("div", {class: "stats"},
    stat("Total Calls", m.call_count, "calls"), stat("Successful", m.success_count, "success"), stat("Errors", m.error_count, "errors"),
    stat("Avg Latency", formatMs(m.avg_latency_ms), "avg"), stat("P95 Latency", formatMs(m.p95_latency_ms), "p95"),
    stat("Total Tokens", m.total_tokens || 0, "tokens"), stat("Total Cost", formatCost(m.total_cost_usd), "cost"));
  const rows = Object.entries(m.lm_call_breakdown || {}).map(([model, b]) =>
    el("tr", {}, el("td", {text: model}), el("td", {text: b.call_count}), el("td", {text: b.total_prompt_tokens}),
      el("td", {text: b.total_completion_tokens}), el("td", {text: formatCost(b.total_cost_usd)})));
  const table = rows.length ? el("table", {class: "breakdown"},
    el("thead", {}, el("tr", {}, ["Model", "Calls", "Prompt", "Completion", "Cost"].map(h => el("th", {text: h})))), el("tbody", {}, rows)) : null;
  box.replaceChildren(stats, table || el("p", {class: "muted", text: "No LM calls yet."}));
}

async function loadLogs() {
  const {status, data} = await requestJSON("/api/logs/" + api + "?limit=20");
  const box = document.getElementById("logs");
  if (status !== 200) { showFatal(box, detailText(data)); return; }
  if (!data.logs.length) { box.replaceChildren(el("p", {class: "muted", text: "No inferences yet."})); return; }
  box.replaceChildren(...data.logs.map(entry => {
    const ok = entry.success !== false;
    const json = (label, value) => value === undefined || value === null ? null : el("div", {}, el("div", {class: "muted", text: label}), el("pre", {class: "result", text: JSON.stringify(value, null, 2)}));
    return el("div", {class: "log-entry " + (ok ? "ok" : "failed")},
      el("div", {class: "log-head"}, el("span", {class: "status", text: ok ? "SUCCESS" : "ERROR"}),
        el("span", {text: entry.timestamp ? new Date(entry.timestamp).toLocaleString() : ""}),
        el("span", {class: "muted", text: entry.duration_ms !== undefined ? formatMs(entry.duration_ms) : ""})),
      json("Inputs", entry.inputs), json("Outputs", entry.outputs), json("Error", entry.error));
  }));
}

function rememberSections() {
  for (const id of ["section-metrics", "section-logs"]) {
    const details = document.getElementById(id);
    const key = id + "-collapsed";
    if (localStorage.getItem(key) === "true") details.open = false;
    details.addEventListener("toggle", () => localStorage.setItem(key, String(!details.open)));
  }
}

async function main() {
  document.getElementById("name").textContent = programName;
  document.title = programName + " · DSPy";
  rememberSections();
  document.getElementById("refresh-logs").addEventListener("click", loadLogs);
  loadMetrics();
  loadLogs();
  const area = document.getElementById("form-area");
  let spec;
  try { spec = await loadSpec(); } catch (error) { showFatal(area, "Could not load the program: " + error.message); return; }
  const ui = (spec.info["x-dspy-ui"] || {})[programName];
  if (!ui) { showFatal(area, "Program '" + programName + "' not found"); return; }
  document.getElementById("model").textContent = (spec.info["x-dspy-program-models"] || {})[programName] || "default";
  document.getElementById("doc").textContent = ui.doc;
  document.getElementById("signature").textContent =
    (ui.inputs.length ? ui.inputs.map(f => f.name).join(", ") : "no inputs") + " → " + (ui.outputs.length ? ui.outputs.join(", ") : "no outputs");
  route = ui.routes[0] || null;
  if (!route) {
    showFatal(area, "This program has no HTTP route (it runs only from its cron gateway), so it cannot be run from here.");
    return;
  }
  document.getElementById("route").textContent = route.method + " " + route.path;
  if (!ui.typed) {
    area.replaceChildren(el("div", {class: "warning-box"}, el("h3", {text: "Module Not Properly Typed"}),
      el("p", {text: "Add type hints to forward() (inputs and return) to get a form here. The API still accepts any JSON object."})));
    return;
  }
  area.replaceChildren(buildForm(ui));
}

main();
