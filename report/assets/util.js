// Helpers of the report's script: elements, SVG, durations and time ticks.

const SVGNS = "http://www.w3.org/2000/svg";

// An HTML element with attributes (a `class`, `data-*`, `on*` functions) and children
// (strings become text nodes, never HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return e;
}

// An SVG element, with an optional tooltip.
function sv(tag, attrs, tip) {
  const e = document.createElementNS(SVGNS, tag);
  setAttrs(e, attrs);
  if (tip) {
    const t = document.createElementNS(SVGNS, "title");
    t.textContent = tip;
    e.append(t);
  }
  return e;
}

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
}

// Virtual milliseconds for people, as the terminal writes them: 850ms, 12.3s, 10m02s, 2h05m10s.
function dur(ms) {
  if (ms === null || ms === undefined) return "";
  const s = Math.floor(ms / 1000);
  const p2 = (n) => String(n).padStart(2, "0");
  if (ms < 1000) return Math.round(ms) + "ms";
  if (s < 60) return (ms / 1000).toFixed(1) + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + p2(s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + p2(Math.floor(s / 60) % 60) + "m" + p2(s % 60) + "s";
  return Math.floor(s / 86400) + "d" + p2(Math.floor(s / 3600) % 24) + "h" + p2(Math.floor(s / 60) % 60) + "m";
}

// Round steps for a time axis, from a millisecond to a week.
const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3,
  300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3,
  172800e3, 604800e3];

// Ticks for [a, b] with at most `most` of them.
function ticks(a, b, most) {
  const span = Math.max(b - a, 1);
  const step = STEPS.find((s) => span / s <= most) || span / most;
  const out = [];
  for (let t = Math.ceil(a / step) * step; t <= b; t += step) out.push(t);
  return out;
}

// The page's location: `#run=2&msg=m5` (run 0 when there is only one), and `&from=MS&to=MS`
// for a swimlane opened on that stretch of virtual time.
function route() {
  const p = new URLSearchParams(location.hash.slice(1));
  const run = p.has("run") ? Number(p.get("run")) : null;
  const ms = (k) => (p.has(k) && Number.isFinite(Number(p.get(k))) ? Number(p.get(k)) : null);
  return { run: Number.isInteger(run) ? run : null, msg: p.get("msg"), from: ms("from"), to: ms("to") };
}

function go(run, msg) {
  const p = new URLSearchParams();
  if (run !== null) p.set("run", String(run));
  if (msg) p.set("msg", msg);
  location.hash = p.toString();
}
