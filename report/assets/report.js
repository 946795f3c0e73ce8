// The page: the runs (when there are several), then a run's failure first, its summary, its
// distributions, the table of its messages (filterable, sortable), and on a click, or with
// `#msg=ID` in the address, that message's swimlane. Drawn from the embedded JSON.

const DATA = JSON.parse(document.getElementById("data").textContent);
const main = document.getElementById("main");
const PAGE_ROWS = 500;

window.addEventListener("error", () => {
  document.body.dataset.errors = String(Number(document.body.dataset.errors || 0) + 1);
});

function show() {
  const r = route();
  const runs = DATA.runs;
  main.replaceChildren();
  document.getElementById("title").textContent = DATA.title;
  const nav = document.getElementById("nav");
  nav.replaceChildren();
  if (DATA.index) nav.append(el("a", { href: DATA.index }, "← all runs"));
  let k = r.run;
  if (k === null && (runs.length === 1 || r.msg)) k = 0;
  if (k === null || !runs[k]) {
    overview(runs);
  } else {
    if (runs.length > 1) nav.append(el("a", { href: "#" }, "← all runs in this report"));
    runView(runs[k], k, r.msg, r.from, r.to);
  }
  document.body.dataset.ready = "1";
}

function result(run) {
  if (!run.checked) return el("span", { class: "badge none" }, "not checked");
  return run.passed ? el("span", { class: "badge ok" }, "passed") : el("span", { class: "badge fail" }, "FAILED");
}

// Several runs: a table, failed runs first, with each run's time to delivery as a strip.
function overview(runs) {
  const order = runs.map((_, k) => k).sort((a, b) => Number(runs[a].passed !== false) - Number(runs[b].passed !== false) || a - b);
  const failed = runs.filter((r) => r.passed === false).length;
  const all = runs.flatMap((r) => r.dist.delivery);
  const lo = all.length ? Math.min(...all) : 1, hi = all.length ? Math.max(...all) : 2;
  main.append(el("p", { id: "counts", "data-runs": runs.length, "data-failed": failed },
    `${runs.length} runs, ${failed} failed`));
  const rows = order.map((k) => {
    const run = runs[k], s = run.summary;
    return el("tr", { onclick: () => go(k, null), "data-run": k },
      el("td", {}, el("a", { href: "#run=" + k }, run.name)), el("td", {}, run.seed ?? ""),
      el("td", {}, result(run)), el("td", { class: "num" }, s.messages),
      el("td", { class: "num" }, s.states.delivered || 0), el("td", { class: "num" }, s.uploads),
      el("td", { class: "num" }, s.retries), el("td", { class: "num" }, dur(s.hold_p50)),
      el("td", {}, strip(run.dist.delivery, lo, hi)), el("td", { class: "num" }, dur(s.delivery_p50)));
  });
  main.append(el("table", { class: "runs" },
    el("thead", {}, el("tr", {}, ["run", "seed", "result", "messages", "delivered", "uploads", "retries", "hold p50", "time to delivery (log scale, ● median)", "p50"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows)));
}

function runView(run, k, msg, from, to) {
  main.append(el("h2", { id: "run", "data-run": k }, run.name, run.seed !== null ? ` (seed ${run.seed})` : "", result(run)));
  if (run.passed === false) {
    main.append(el("section", { class: "failure", id: "failure" },
      el("h2", {}, "What failed"),
      el("ul", {}, run.problems.map((p) => el("li", {}, p))),
      el("p", {}, "reproduce: ", el("code", {}, run.reproduce)),
      run.focus ? el("p", {}, "the message it is about: ", el("a", { href: `#run=${k}&msg=${encodeURIComponent(run.focus)}` }, run.focus)) : null));
  }
  const s = run.summary;
  const checks = !run.checked ? "Trace only: expectations and invariants were not checked here (run it with aptsim run)."
    : run.passed ? "Every expectation and the invariants N1–N9 held." : `${run.problems.length} problem(s), listed above.`;
  const metric = (v, label) => el("div", { class: "metric" }, el("b", {}, String(v)), el("span", {}, label));
  const states = Object.entries(s.states).map(([st, n]) => `${n} ${st}`).join(", ");
  main.append(el("section", { id: "summary" },
    el("p", {}, checks, " ", el("span", { class: "muted" }, run.source)),
    el("div", { class: "metrics" },
      metric(s.messages, "messages: " + (states || "none")),
      metric(s.attempts, "delivery attempts"), metric(s.retries, "retries"),
      metric(s.sender_timeouts, "timeouts"), metric(s.uploads, "uploads"),
      metric(s.lookups, "look-ups"), metric(s.cache_decisions, "decided from the cache"),
      metric(s.refusals, "4xx/5xx replies"), metric(s.faults, "faults"),
      metric(dur(s.hold_p50) || "–", `hold p50 (p95 ${dur(s.hold_p95) || "–"}, ${s.holds} held)`),
      metric(dur(s.exposure_max) || "–", `longest exposure (${s.exposures} exposed)`),
      metric(dur(s.delivery_p50) || "–", `time to delivery p50 (p95 ${dur(s.delivery_p95) || "–"})`))));
  main.append(el("section", { id: "charts" }, el("h2", {}, "Distributions"),
    el("div", { class: "charts" },
      histogram("Hold time", run.dist.hold, "hold"),
      histogram("Exposure window", run.dist.exposure, "exposure"),
      histogram("Time to delivery", run.dist.delivery, "delivery"))));
  const lane = el("section", { id: "swimlane" });
  // A failed run opens at the message its failure is about; a run of one message at it.
  const shown = msg || (run.passed === false ? run.focus : null) || (run.msgs.length === 1 ? run.msgs[0][M.id] : null);
  const row = shown ? run.msgs.find((m) => m[M.id] === shown) : null;
  main.append(messages(run, k, shown), lane);
  if (row) {
    swimlane(lane, run, row, from, to);
    if (msg) lane.scrollIntoView({ block: "nearest" });
  } else if (msg) {
    lane.append(el("p", { class: "fail", id: "no-such-message" }, `No message ${msg} in this run.`));
  }
}

// The table of messages: a filter on id and state, sortable columns, the first rows at once
// and the rest on demand.
function messages(run, k, selected) {
  const cols = [["message", M.id, (v) => v], ["state", M.state, (v) => v], ["attempts", M.attempts, String],
    ["uploads", M.uploads, String], ["hold", M.hold, dur], ["exposure", M.exposure, dur],
    ["to delivery", M.delivery, dur], ["timeouts", M.timeouts, String], ["from cache", M.cache, String]];
  const states = [...new Set(run.msgs.map((m) => m[M.state]))].sort();
  const filter = el("input", { type: "search", placeholder: "filter by id or state", id: "filter" });
  const pick = el("select", { id: "state" }, el("option", { value: "" }, "every state"), states.map((s) => el("option", { value: s }, s)));
  const body = el("tbody", {});
  const count = el("span", { class: "muted", id: "shown" });
  let sort = null, limit = PAGE_ROWS;
  const more = el("button", { onclick: () => { limit += PAGE_ROWS * 4; fill(); } }, "show more");
  function fill() {
    const q = filter.value.trim().toLowerCase(), st = pick.value;
    let rows = run.msgs.filter((m) => (!st || m[M.state] === st) && (!q || m[M.id].toLowerCase().includes(q) || m[M.state].includes(q)));
    if (sort) {
      const [col, dir] = sort;
      rows = rows.slice().sort((a, b) => dir * ((a[col] ?? -1) > (b[col] ?? -1) ? 1 : (a[col] ?? -1) < (b[col] ?? -1) ? -1 : 0));
    }
    body.replaceChildren(...rows.slice(0, limit).map((m) =>
      el("tr", { "data-msg": m[M.id], class: m[M.id] === selected ? "selected" : null, onclick: () => go(k, m[M.id]) },
        cols.map(([, c, f], i) => el("td", { class: (i >= 2 ? "num" : "") + (i === 1 ? " state-" + m[c] : "") }, f(m[c]))))));
    count.textContent = `${Math.min(rows.length, limit)} of ${rows.length} shown (${run.msgs.length} messages)`;
    more.hidden = rows.length <= limit;
  }
  filter.addEventListener("input", () => { limit = PAGE_ROWS; fill(); });
  pick.addEventListener("change", () => { limit = PAGE_ROWS; fill(); });
  const head = el("tr", {}, cols.map(([name, c], i) => el("th", {
    class: "sortable" + (i >= 2 ? " num" : ""),
    onclick: () => { sort = sort && sort[0] === c ? [c, -sort[1]] : [c, 1]; fill(); },
  }, name)));
  fill();
  return el("section", { id: "messages", "data-count": run.msgs.length },
    el("h2", {}, "Messages"),
    el("div", { class: "controls" }, filter, pick, count),
    el("table", { class: "messages" }, el("thead", {}, head), body), more);
}

window.addEventListener("hashchange", show);
show();
