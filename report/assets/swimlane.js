// One message's swimlane: a lane per party, its steps as markers and arrows in virtual time,
// its holds and exposure windows as bars, the run's faults as shaded spans. Zoom with the
// wheel or the buttons, pan by dragging: a message retried for days fits, then opens up.

const LANES = [["sender", "sender"], ["proxy", "SMTP proxy"], ["dc", "data center"],
  ["server", "mail server"], ["imap_proxy", "IMAP proxy"], ["imap_server", "IMAP server"],
  ["client", "mail client"]];
const LANE_H = 46, TOP = 26, LEFT = 110, RIGHT = 16;

// Row fields (see report/src/data.rs).
const M = { id: 0, state: 1, attempts: 2, uploads: 3, hold: 4, exposure: 5, delivery: 6,
  timeouts: 7, cache: 8, steps: 9, spans: 10 };

// Draws `row` of `run` into `box` (emptied first), showing [from, to] when given.
function swimlane(box, run, row, from, to) {
  box.replaceChildren();
  const steps = row[M.steps], spans = row[M.spans];
  // The SMTP lanes for a message that went through SMTP; the data center always.
  const smtp = steps.some((s) => ["sender", "proxy", "server"].includes(s[2]));
  const used = new Set(smtp ? ["sender", "proxy", "dc", "server"] : ["dc"]);
  for (const s of steps) { used.add(s[2]); if (s[3]) used.add(s[3]); }
  for (const s of spans) used.add(s[2]);
  const lanes = LANES.filter(([k]) => used.has(k));
  const laneY = {};
  lanes.forEach(([k], i) => { laneY[k] = TOP + i * LANE_H + LANE_H / 2; });
  const times = steps.map((s) => s[0]).concat(spans.flatMap((s) => [s[0], s[1]]));
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (!isFinite(t0)) { t0 = 0; t1 = 1000; }
  const pad = Math.max((t1 - t0) * 0.04, 500);
  const full = [Math.max(0, t0 - pad), t1 + pad];
  const view = { a: from ?? full[0], b: to !== null && to !== undefined && to > (from ?? full[0]) ? to : full[1] };
  const faults = run.faults.filter((f) => f[1] >= full[0] && f[0] <= full[1]);

  const height = TOP + lanes.length * LANE_H + 8;
  const svg = sv("svg", { class: "lanes", height, "data-msg": row[M.id] });
  const width = () => Math.max(box.clientWidth || 1000, 400);
  const x = (t) => LEFT + ((t - view.a) / (view.b - view.a)) * (width() - LEFT - RIGHT);

  function draw() {
    svg.replaceChildren();
    Object.assign(svg.dataset, { from: String(Math.round(view.a)), to: String(Math.round(view.b)) });
    svg.setAttribute("viewBox", `0 0 ${width()} ${height}`);
    const defs = sv("defs", {});
    for (const [id, color] of [["ah", "#57606a"], ["ah-dc", "#8250df"], ["ah-warn", "#bf8700"], ["ah-fail", "#cf222e"], ["ah-ok", "#1a7f37"]]) {
      const m = sv("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
      m.append(sv("path", { d: "M0,0 L10,5 L0,10 z", fill: color }));
      defs.append(m);
    }
    svg.append(defs);
    lanes.forEach(([k, name], i) => {
      svg.append(sv("rect", { class: "lane-bg" + (i % 2 ? " alt" : ""), x: 0, y: TOP + i * LANE_H, width: width(), height: LANE_H, "data-lane": k }));
      const t = sv("text", { class: "lane-label", x: 8, y: laneY[k] + 4 });
      t.textContent = name;
      svg.append(t);
    });
    for (const t of ticks(view.a, view.b, Math.floor((width() - LEFT) / 90))) {
      svg.append(sv("line", { class: "tick", x1: x(t), x2: x(t), y1: TOP - 4, y2: height - 8 }));
      const label = sv("text", { x: x(t), y: TOP - 8, "text-anchor": "middle" });
      label.textContent = "+" + dur(t);
      svg.append(label);
    }
    const clip = (t) => Math.min(Math.max(x(t), LEFT), width() - RIGHT);
    for (const [start, end, id, kind] of faults) {
      const xa = clip(start), xb = Math.max(clip(end), xa + 2);
      svg.append(sv("rect", { class: "fault", x: xa, y: TOP, width: xb - xa, height: lanes.length * LANE_H, "data-fault": id },
        `fault ${id} (${kind}) from +${dur(start)} to +${dur(end)}`));
      const l = sv("text", { class: "fault-label", x: xa + 3, y: height - 12 });
      l.textContent = `fault ${id}`;
      svg.append(l);
    }
    for (const [start, end, lane, kind, text] of spans) {
      if (end < view.a || start > view.b) continue;
      const xa = clip(start), xb = Math.max(clip(end), xa + 3);
      svg.append(sv("rect", { class: "span span-" + kind, x: xa, y: laneY[lane] - 9, width: xb - xa, height: 18, rx: 3 },
        `${text} (+${dur(start)} → +${dur(end)})`));
    }
    const placed = {};
    for (const [t, kind, from, to, text] of steps) {
      if (t < view.a || t > view.b) continue;
      const tip = `+${dur(t)}  ${text}`;
      const cls = "ev ev-" + kind;
      if (to) {
        const y1 = laneY[from], y2 = laneY[to];
        const head = kind === "upload" || kind === "verdict" || kind === "lookup" ? "ah-dc"
          : kind === "reply4" ? "ah-warn" : kind === "reply5" || kind === "unreachable" ? "ah-fail"
          : kind === "body" || kind === "fetched" || kind === "keepalive" ? "ah-ok" : "ah";
        const dir = y2 > y1 ? 1 : -1;
        svg.append(sv("line", { class: cls + " arrow", x1: x(t), x2: x(t), y1: y1 + dir * 6, y2: y2 - dir * 8, "marker-end": `url(#${head})` }, tip));
        svg.append(sv("circle", { class: "mark " + cls + "-tail", cx: x(t), cy: y1, r: 2.5, fill: "#57606a" }, tip));
      } else {
        // Markers at the same place (a timeout, the attempt's end and its retry, all at
        // once) side by side, in the order they happened.
        const key = from + "|" + Math.round(x(t) / 4);
        const cx = x(t) + 13 * (placed[key] || 0);
        placed[key] = (placed[key] || 0) + 1;
        svg.append(marker(kind, cx, laneY[from], cls, tip));
        if (kind === "cache_decision") {
          const c = sv("text", { class: "cache-label", x: cx, y: laneY[from] + 3, "text-anchor": "middle" });
          c.textContent = "C";
          svg.append(c);
        }
      }
    }
  }

  // Wheel: zoom around the pointer. Drag: pan.
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    const px = ((e.clientX - r.left) / r.width) * width();
    const at = view.a + ((px - LEFT) / (width() - LEFT - RIGHT)) * (view.b - view.a);
    zoom(e.deltaY < 0 ? 0.8 : 1.25, at);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", (e) => { drag = { x: e.clientX, a: view.a, b: view.b }; svg.classList.add("dragging"); });
  const stop = () => { drag = null; svg.classList.remove("dragging"); };
  svg.addEventListener("mouseup", stop);
  svg.addEventListener("mouseleave", stop);
  svg.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    const dt = ((e.clientX - drag.x) / r.width) * width() / (width() - LEFT - RIGHT) * (drag.b - drag.a);
    view.a = drag.a - dt; view.b = drag.b - dt;
    draw();
  });
  function zoom(f, at) {
    const c = at === undefined ? (view.a + view.b) / 2 : at;
    const span = Math.max((view.b - view.a) * f, 10);
    view.a = c - (c - view.a) * (span / (view.b - view.a));
    view.b = view.a + span;
    draw();
  }

  const counts = {
    attempts: steps.filter((s) => s[1] === "attempt").length,
    uploads: steps.filter((s) => s[1] === "upload").length,
    verdicts: steps.filter((s) => s[1] === "verdict").length,
    cacheDecisions: steps.filter((s) => s[1] === "cache_decision").length,
    timeouts: steps.filter((s) => s[1] === "timeout").length,
    retries: steps.filter((s) => s[1] === "retry").length,
    holds: spans.filter((s) => s[3] === "hold").length,
    faults: faults.length,
  };
  Object.assign(box.dataset, { msg: row[M.id], state: row[M.state] });
  for (const [k, v] of Object.entries(counts)) box.dataset[k] = String(v);

  box.append(
    el("h2", {}, `Message ${row[M.id]} `, el("span", { class: "muted" }, row[M.state])),
    el("div", { class: "controls" },
      el("button", { onclick: () => zoom(0.5) }, "zoom in"),
      el("button", { onclick: () => zoom(2) }, "zoom out"),
      el("button", { onclick: () => { view.a = full[0]; view.b = full[1]; draw(); } }, "fit"),
      el("span", { class: "muted" }, "wheel to zoom, drag to pan; hover for details")),
    el("div", { class: "lanes-wrap" }, svg),
    el("div", { class: "legend" },
      "arrows: attempts, uploads and verdicts, body relayed, 4xx/5xx replies · bars: holds (amber), exposure windows (red) · ",
      "shaded: faults · ● markers: decisions (C = decided from the cache), timeouts and gone senders (red), retries (amber), deliveries (green)"),
    el("h3", {}, "Steps"),
    el("table", { class: "steps" }, el("tbody", {}, stepRows(steps, faults))));
  draw();
}

// A marker's shape: a cross for timeouts, a diamond for retries, a square for decisions, a
// circle for the rest.
function marker(kind, cx, cy, cls, tip) {
  const r = 6;
  if (kind === "timeout" || kind === "gone" || kind === "bounced") {
    return sv("path", { class: "mark " + cls, d: `M${cx - r},${cy - r}L${cx + r},${cy + r}M${cx + r},${cy - r}L${cx - r},${cy + r}`, stroke: "#cf222e", "stroke-width": 3 }, tip);
  }
  if (kind === "retry" || kind === "ambiguous") {
    return sv("path", { class: "mark " + cls, d: `M${cx},${cy - r}L${cx + r},${cy}L${cx},${cy + r}L${cx - r},${cy}z` }, tip);
  }
  if (kind === "decision" || kind === "cache_decision" || kind === "quarantined") {
    return sv("rect", { class: "mark " + cls, x: cx - r, y: cy - r, width: 2 * r, height: 2 * r, rx: 2 }, tip);
  }
  return sv("circle", { class: "mark " + cls, cx, cy, r: r - 1 }, tip);
}

function stepRows(steps, faults) {
  const rows = steps.map((s) => [s[0], LANES.find(([k]) => k === s[2])[1], s[4]]);
  for (const f of faults) rows.push([f[0], "faults", `fault ${f[2]} (${f[3]}) until +${dur(f[1])}`]);
  rows.sort((a, b) => a[0] - b[0]);
  return rows.map(([t, who, text]) => el("tr", {}, el("td", { class: "t" }, "+" + dur(t)), el("td", {}, who), el("td", {}, text)));
}
