// `/`: one card per program, with metrics refreshed from /api/metrics every few seconds.
"use strict";

const REFRESH_MS = 5000;
const grid = document.getElementById("programs");
const sortBy = document.getElementById("sort-by");
const orderButton = document.getElementById("order");
const cards = new Map();

function titleCase(appId) {
  return appId.replace(/[-_]/g, " ").replace(/\b\w/g, c => c.toUpperCase());
}

function card(program, ui, alias, single) {
  const metric = name => el("span", {class: "metric", "data-metric": name, text: "–"});
  const node = el("a", {class: "card", href: "/ui/" + encodeURIComponent(program), "data-program": program},
    el("div", {class: "card-head"},
      el("h2", {text: program}),
      el("span", {class: "badge", "data-adapter": alias.includes(":") ? alias.split(":")[0] : "default", text: alias})),
    single && ui && ui.doc ? el("p", {class: "doc", text: ui.doc.length > 200 ? ui.doc.slice(0, 200).replace(/\s+\S*$/, "") + "…" : ui.doc}) : null,
    ui && !ui.typed ? el("p", {class: "warning-text", text: "This module's forward function isn't typed"}) : null,
    el("div", {class: "metrics"}, metric("calls"), metric("latency"), metric("cost"), metric("last_call")));
  return node;
}

async function refreshMetrics() {
  const query = "?sort_by=" + encodeURIComponent(sortBy.value) + "&order=" + encodeURIComponent(orderButton.dataset.order);
  const {status, data} = await requestJSON("/api/metrics" + query);
  if (status !== 200) return;
  for (const m of data.programs) {
    const node = cards.get(m.program);
    if (!node) continue;
    const set = (name, text) => { node.querySelector(`[data-metric="${name}"]`).textContent = text; };
    set("calls", m.call_count + " calls");
    set("latency", formatMs(m.avg_latency_ms) + " avg");
    set("cost", formatCost(m.total_cost_usd));
    set("last_call", relativeTime(m.last_call_ts));
    grid.append(node); // reorders the cards as the API sorted them
  }
}

async function main() {
  let spec;
  try {
    spec = await loadSpec();
  } catch (error) {
    showFatal(grid, "Could not load the programs: " + error.message);
    return;
  }
  const title = spec.info && spec.info.title && spec.info.title !== "DSPy API" ? titleCase(spec.info.title) : "DSPy Project";
  document.getElementById("title").textContent = title;
  document.title = title;
  document.getElementById("description").textContent = (spec.info && spec.info.description) || "";
  const ui = (spec.info && spec.info["x-dspy-ui"]) || {};
  const models = (spec.info && spec.info["x-dspy-program-models"]) || {};
  const names = Object.keys(models).sort();
  if (names.length === 0) {
    grid.replaceChildren(el("p", {class: "muted", text: "No programs were discovered."}));
    return;
  }
  for (const name of names) {
    const node = card(name, ui[name], models[name] || "default", names.length === 1);
    cards.set(name, node);
    grid.append(node);
  }
  await refreshMetrics();
  setInterval(refreshMetrics, REFRESH_MS);
}

sortBy.addEventListener("change", refreshMetrics);
orderButton.addEventListener("click", () => {
  orderButton.dataset.order = orderButton.dataset.order === "desc" ? "asc" : "desc";
  orderButton.textContent = orderButton.dataset.order;
  refreshMetrics();
});
main();
