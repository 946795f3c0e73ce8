// Distributions as charts: a histogram of virtual durations on a logarithmic time axis
// (holds of seconds and retries of days on one chart), and a strip of one run's samples for
// the table of runs.

const CHART_W = 330, CHART_H = 130, PAD_L = 30, PAD_B = 22;

// A histogram of `samples` (ms), titled; "none" when empty.
function histogram(title, samples, what) {
  const box = el("div", { class: "chart", "data-chart": what, "data-samples": samples.length },
    el("h3", {}, title + " ", el("span", { class: "muted" }, "(" + samples.length + " messages)")));
  if (!samples.length) {
    box.append(el("div", { class: "muted" }, "none in this run"));
    return box;
  }
  const lo = Math.max(1, Math.min(...samples)), hi = Math.max(lo + 1, Math.max(...samples));
  const l0 = Math.log10(lo), l1 = Math.log10(hi);
  const bins = Math.min(16, Math.max(1, Math.ceil(Math.sqrt(samples.length)) + 2));
  const counts = new Array(bins).fill(0);
  const bin = (v) => Math.min(bins - 1, Math.floor(((Math.log10(Math.max(v, 1)) - l0) / (l1 - l0 || 1)) * bins));
  for (const v of samples) counts[bin(v)] += 1;
  const edge = (k) => Math.pow(10, l0 + ((l1 - l0) * k) / bins);
  const top = Math.max(...counts);
  const w = (CHART_W - PAD_L) / bins, h = CHART_H - PAD_B;
  const s = sv("svg", { width: CHART_W, height: CHART_H, viewBox: `0 0 ${CHART_W} ${CHART_H}` });
  counts.forEach((c, k) => {
    const bh = (c / top) * (h - 12);
    s.append(sv("rect", { class: "bar", x: PAD_L + k * w + 1, y: h - bh, width: Math.max(w - 2, 1), height: bh },
      `${c} message(s) from ${dur(edge(k))} to ${dur(edge(k + 1))}`));
  });
  s.append(sv("line", { x1: PAD_L, x2: CHART_W, y1: h, y2: h, class: "tick" }));
  const label = (x, text, anchor) => {
    const t = sv("text", { x, y: CHART_H - 6, "text-anchor": anchor });
    t.textContent = text;
    s.append(t);
  };
  label(PAD_L, dur(lo), "start");
  label(CHART_W, dur(hi), "end");
  const yl = sv("text", { x: 2, y: 12 });
  yl.textContent = String(top);
  s.append(yl);
  box.append(s);
  return box;
}

// One run's samples as ticks on a strip over a shared log range [lo, hi].
function strip(samples, lo, hi) {
  const W = 160, H = 14;
  const s = sv("svg", { width: W, height: H, class: "strip" });
  if (!samples.length) return s;
  const l0 = Math.log10(Math.max(lo, 1)), l1 = Math.log10(Math.max(hi, lo + 1));
  const x = (v) => 2 + ((Math.log10(Math.max(v, 1)) - l0) / (l1 - l0 || 1)) * (W - 4);
  s.append(sv("line", { x1: 0, x2: W, y1: H / 2, y2: H / 2, class: "tick" }));
  const step = Math.max(1, Math.floor(samples.length / 200));
  for (let k = 0; k < samples.length; k += step) {
    s.append(sv("line", { x1: x(samples[k]), x2: x(samples[k]), y1: 2, y2: H - 2, stroke: "#0969da", "stroke-opacity": 0.5 }));
  }
  const mid = samples[Math.floor((samples.length - 1) / 2)];
  s.append(sv("circle", { cx: x(mid), cy: H / 2, r: 3, fill: "#cf222e" }, "median " + dur(mid)));
  return s;
}
