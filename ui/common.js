// Shared helpers for the UI pages. Every value from the server is inserted as text
// (textContent / attributes through the DOM API), never as HTML.
"use strict";

// el("div", {class: "x", text: "t"}, child, "text") builds an element; strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// GET/POST JSON; resolves to {status, data} (data is the parsed body, or its text if not JSON).
async function requestJSON(url, options) {
  const response = await fetch(url, Object.assign({headers: {"Accept": "application/json"}}, options || {}));
  const text = await response.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* keep the text */ }
  return {status: response.status, data};
}

function relativeTime(iso) {
  if (!iso) return "never";
  const then = new Date(iso);
  const seconds = (Date.now() - then.getTime()) / 1000;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m ago";
  if (seconds < 86400) return Math.floor(seconds / 3600) + "h ago";
  if (seconds < 7 * 86400) return Math.floor(seconds / 86400) + "d ago";
  return then.toLocaleDateString();
}

function formatMs(value) { return value === null || value === undefined ? "–" : Math.round(value) + "ms"; }
function formatCost(value) { return value === null || value === undefined ? "$0.0000" : "$" + Number(value).toFixed(4); }

function detailText(data) {
  if (data && typeof data === "object" && "detail" in data) {
    if (Array.isArray(data.detail)) {
      return "Validation Error:\n\n" + data.detail.map(e => "  • " + (e.loc || []).filter(p => p !== "body").join(".") + ": " + e.msg).join("\n");
    }
    return String(data.detail);
  }
  return typeof data === "string" ? data : JSON.stringify(data);
}

// Light/dark: follows prefers-color-scheme until the toggle picks one (kept in localStorage.theme).
function setupTheme() {
  const saved = localStorage.getItem("theme");
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  button.addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("theme", next);
  });
}

// The UI reads program descriptions from /openapi.json (info["x-dspy-ui"]).
async function loadSpec() {
  const {status, data} = await requestJSON("/openapi.json");
  if (status !== 200) throw new Error(detailText(data));
  return data;
}

function showFatal(container, message) {
  container.replaceChildren(el("div", {class: "error-box", role: "alert", text: message}));
}

setupTheme();
