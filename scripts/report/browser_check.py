#!/usr/bin/env python3
"""Opens aptsim's HTML report in a real browser (headless Chromium) and checks it.

Usage: browser_check.py APTSIM [--screenshots DIR] [--keep]

Makes the report of a few catalogue scenarios (`aptsim run ... --report DIR`), one of a
scenario that fails on purpose, and one page of two traces (`aptsim report`), then opens
each page in headless Chromium (`--dump-dom` for the DOM after the script ran, `--screenshot`
for a picture) from file:// with background networking off. Checks:

  (r1) no page logs anything to the console (an uncaught error, a console.error): Chromium
       prints console messages to stderr (`--enable-logging=stderr`), the pages log nothing
       on purpose, so any CONSOLE line fails;
  (r2) index.html lists every run;
  (r3) the S5 sender-timeout retry, opened at `#msg=m1`, draws m1's swimlane: two attempts,
       three uploads (one per file, all in the first attempt), three verdicts, one sender
       timeout, one retry, one hold and the retry decided from the cache; counted from the
       drawn SVG elements and from the data attributes the page sets; opened at
       `#msg=m1&from=540000&to=660000` it draws that stretch only (zoomed: the timeout and the
       retry at +10m, not the attempts at +0 and +20m);
  (r4) a link cut shows as a shaded fault span on the swimlane;
  (r5) the traffic scenario (a thousand messages) shows its table and charts, not a
       swimlane per message;
  (r6) a failing run's page puts the failure first, with its reproduce line, and opens at
       the swimlane of the message the failure names;
  (r7) a page of two traces lists both runs;
  (r8) real input, through the DevTools protocol (cdp.py): the mouse wheel zooms the S5
       swimlane in around the pointer, a drag pans it, "fit" shows it whole again; in the
       traffic scenario, typing into the filter narrows the table, and a click on a row
       draws that message's swimlane and puts it in the address; no console message or
       uncaught exception meanwhile.

Screenshots go to DIR (default: target/report-screenshots), which CI keeps as an artifact.
Prints one line per check and `N passed, M failed`; exits non-zero on a failure.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import cdp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = os.path.join(ROOT, "scenarios", "suite")
SCENARIOS = [
    "s3-s5-sender-timeout-retry.toml",
    "link-cut-sender-leaves-during-hold.toml",
    "s1-release-exposure.toml",
    "traffic-release-mix.toml",
]
WRONG = os.path.join(ROOT, "cli", "tests", "fixtures", "wrong-expectation.toml")
WINDOW = "1400,1800"


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("browser_check: chromium not found (install it with scripts/interop/install-deps.sh)")


class Browser:
    """Headless Chromium, one process per page, a private profile, no network."""

    def __init__(self, work):
        self.exe = chromium()
        self.profile = os.path.join(work, "profile")

    def _run(self, url, extra):
        args = [
            self.exe, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-extensions",
            "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--user-data-dir=" + self.profile, "--hide-scrollbars", "--window-size=" + WINDOW,
            "--virtual-time-budget=5000", "--enable-logging=stderr", "--v=0",
        ]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox.
        out = subprocess.run(args + extra + [url], capture_output=True, text=True, timeout=120)
        console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
        return out, console

    def dom(self, url):
        out, console = self._run(url, ["--dump-dom"])
        if out.returncode != 0:
            raise RuntimeError("chromium --dump-dom exited %d: %s" % (out.returncode, out.stderr[-2000:]))
        return out.stdout, console

    def screenshot(self, url, path):
        out, console = self._run(url, ["--screenshot=" + path])
        if out.returncode != 0 or not os.path.exists(path):
            raise RuntimeError("chromium --screenshot gave no %s: %s" % (path, out.stderr[-2000:]))
        return console


def attrs(dom, element_id):
    """The attributes of the element with this id, from the dumped DOM."""
    m = re.search(r'<[a-z]+ [^>]*id="%s"[^>]*>' % re.escape(element_id), dom)
    if not m:
        return None
    return dict(re.findall(r'([a-z-]+)="([^"]*)"', m.group(0)))


def count(dom, cls):
    """Elements drawn with this class (exactly: `ev ev-attempt arrow`, not `ev-attempt-tail`)."""
    return len(re.findall(r'class="%s"' % re.escape(cls), dom))


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("ok   %s" % name)
        else:
            self.failed += 1
            print("FAIL %s %s" % (name, detail))


def page_file(folder, scenario):
    stem = scenario[: -len(".toml")]
    for f in sorted(os.listdir(folder)):
        if f.endswith(".html") and stem in f:
            return os.path.join(folder, f)
    raise RuntimeError("no page for %s in %s" % (scenario, folder))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("aptsim")
    ap.add_argument("--screenshots", default=os.path.join(ROOT, "target", "report-screenshots"))
    ap.add_argument("--keep", action="store_true", help="keep the work folder and print it")
    a = ap.parse_args()
    os.makedirs(a.screenshots, exist_ok=True)
    work = tempfile.mkdtemp(prefix="aptsim-report-")
    c = Checks()
    try:
        run(a, work, c)
    finally:
        if a.keep:
            print("work folder: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


def aptsim(exe, *args, ok=True):
    out = subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=600)
    if ok and out.returncode != 0:
        raise RuntimeError("aptsim %s: exit %d\n%s\n%s" % (" ".join(args), out.returncode, out.stdout, out.stderr))
    return out


def run(a, work, c):
    b = Browser(work)
    report = os.path.join(work, "report")
    aptsim(a.aptsim, "run", *[os.path.join(SUITE, s) for s in SCENARIOS], "--report", report)
    failing = os.path.join(work, "failing")
    aptsim(a.aptsim, "run", WRONG, "--report", failing, ok=False)
    traces = [os.path.join(work, "s5.jsonl"), os.path.join(work, "s1.jsonl")]
    aptsim(a.aptsim, "run", os.path.join(SUITE, SCENARIOS[0]), "--trace", traces[0])
    aptsim(a.aptsim, "run", os.path.join(SUITE, SCENARIOS[2]), "--trace", traces[1])
    both = os.path.join(work, "both.html")
    aptsim(a.aptsim, "report", *traces, "-o", both)

    pages = {
        "index": "file://" + os.path.join(report, "index.html"),
        "s5-swimlane": "file://" + page_file(report, SCENARIOS[0]) + "#msg=m1",
        "s5-zoomed": "file://" + page_file(report, SCENARIOS[0]) + "#msg=m1&from=540000&to=660000",
        "link-cut-swimlane": "file://" + page_file(report, SCENARIOS[1]) + "#msg=m1",
        "exposure-swimlane": "file://" + page_file(report, SCENARIOS[2]) + "#msg=m1",
        "traffic": "file://" + page_file(report, SCENARIOS[3]),
        "failing": "file://" + page_file(failing, "wrong-expectation.toml"),
        "two-traces": "file://" + both,
    }
    doms = {}
    for name, url in pages.items():
        dom, console = b.dom(url)
        doms[name] = dom
        shot = os.path.join(a.screenshots, name + ".png")
        console += b.screenshot(url, shot)
        c.check("(r1) %s: no console messages" % name, not console, "\n  ".join([""] + console))
        if name != "index":
            body = re.search(r"<body[^>]*>", dom)
            tag = body.group(0) if body else ""
            c.check("(r1) %s: the script ran to the end, no uncaught error" % name,
                    'data-ready="1"' in tag and "data-errors" not in tag, tag)
        print("     screenshot %s" % shot)

    idx = attrs(doms["index"], "counts") or {}
    c.check("(r2) index lists the runs", idx.get("data-runs") == str(len(SCENARIOS)), str(idx))

    s5 = doms["s5-swimlane"]
    lane = attrs(s5, "swimlane") or {}
    want = {"data-msg": "m1", "data-attempts": "2", "data-uploads": "3", "data-verdicts": "3",
            "data-timeouts": "1", "data-retries": "1", "data-holds": "1", "data-cache-decisions": "1"}
    got = {k: lane.get(k) for k in want}
    c.check("(r3) S5 swimlane counts (data attributes)", got == want, "got %s" % got)
    drawn = {"attempt arrows": count(s5, "ev ev-attempt arrow"), "upload arrows": count(s5, "ev ev-upload arrow"),
             "verdict arrows": count(s5, "ev ev-verdict arrow"), "cache decision": count(s5, "mark ev ev-cache_decision"),
             "sender timeout": count(s5, "mark ev ev-timeout"), "hold bar": count(s5, "span span-hold")}
    c.check("(r3) S5 swimlane drawn: 2 attempts, 3 uploads, 3 verdicts, 1 decision from the cache, 1 timeout, 1 hold",
            list(drawn.values()) == [2, 3, 3, 1, 1, 1], str(drawn))

    zoomed = doms["s5-zoomed"]
    view = re.search(r'<svg class="lanes"[^>]*>', zoomed)
    view = view.group(0) if view else ""
    drawn = (count(zoomed, "ev ev-attempt arrow"), count(zoomed, "mark ev ev-timeout"), count(zoomed, "mark ev ev-retry"))
    c.check("(r3) S5 zoomed on +9m..+11m: the timeout and the retry, not the attempts at +0 and +20m",
            drawn == (0, 1, 1) and 'data-from="540000"' in view and 'data-to="660000"' in view
            and ">+10m00s<" in zoomed, "drawn %s, %s" % (drawn, view))

    cut = doms["link-cut-swimlane"]
    c.check("(r4) the link cut is a shaded fault span", count(cut, "fault") == 1 and 'data-faults="1"' in cut,
            "fault rects: %d" % count(cut, "fault"))
    exposure = doms["exposure-swimlane"]
    c.check("(r4) the S1 exposure window is a bar", count(exposure, "span span-exposure") == 1)

    traffic = doms["traffic"]
    msgs = attrs(traffic, "messages") or {}
    rows = len(re.findall(r'<tr data-msg="', traffic))
    n = int(msgs.get("data-count", "0"))
    c.check("(r5) traffic: a table of its messages, the first 500 drawn", n > 500 and rows == 500, "count %d rows %d" % (n, rows))
    c.check("(r5) traffic: no swimlane until one is asked for", count(traffic, "lanes") == 0)
    charts = re.findall(r'data-chart="([a-z]+)" data-samples="(\d+)"', traffic)
    c.check("(r5) traffic: distributions charted", dict(charts).get("delivery", "0") != "0" and len(charts) == 3, str(charts))

    fail = doms["failing"]
    first = fail.find('id="failure"'), fail.find('id="summary"')
    c.check("(r6) the failure comes first, with its reproduce line",
            0 <= first[0] < first[1] and "reproduce: <code>aptsim run " in fail and "--seed" in fail)
    c.check("(r6) the failing run opens at the message its failure names",
            (attrs(fail, "swimlane") or {}).get("data-msg") == "m1")

    two = attrs(doms["two-traces"], "counts") or {}
    c.check("(r7) a page of two traces lists both", two.get("data-runs") == "2", str(two))

    try:
        interact(c, work, pages["s5-swimlane"], pages["traffic"])
    except RuntimeError as e:
        c.check("(r8) real input through the DevTools protocol", False, str(e))


def interact(c, work, s5, traffic):
    d = cdp.DevTools(chromium(), os.path.join(work, "profile-cdp"), WINDOW)
    try:
        d.open(s5)
        view = "(() => { const s = document.querySelector('svg.lanes'); return [Number(s.dataset.from), Number(s.dataset.to)]; })()"
        a0, b0 = d.eval(view)
        left, top, width, height = d.eval(
            "(() => { const r = document.querySelector('svg.lanes').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()")
        x, y = left + width * 0.6, top + height / 2
        d.mouse("mouseWheel", x, y, deltaX=0, deltaY=-300)
        d.wait("(%s)[1] - (%s)[0] < %f" % (view, view, b0 - a0))
        a1, b1 = d.eval(view)
        c.check("(r8) the wheel zooms in around the pointer", b1 - a1 < b0 - a0 and a1 > a0 and b1 < b0,
                "%s -> %s" % ((a0, b0), (a1, b1)))
        d.mouse("mousePressed", x, y, button="left", clickCount=1)
        d.mouse("mouseMoved", x + 200, y, button="left", buttons=1)
        d.mouse("mouseReleased", x + 200, y, button="left", clickCount=1)
        a2, b2 = d.eval(view)
        c.check("(r8) a drag to the right pans to earlier times", a2 < a1 and abs((b2 - a2) - (b1 - a1)) <= 2,
                "%s -> %s" % ((a1, b1), (a2, b2)))
        d.eval("[...document.querySelectorAll('button')].find((b) => b.textContent === 'fit').click()")
        c.check("(r8) fit shows the whole message again", d.eval(view) == [a0, b0], str(d.eval(view)))

        d.open(traffic)
        d.eval("document.getElementById('filter').focus()")
        d.call("Input.insertText", text="gen-42")
        ids = d.eval("[...document.querySelectorAll('table.messages tbody tr')].map((r) => r.dataset.msg)")
        c.check("(r8) the filter narrows the table", ids and len(ids) < 500 and all("gen-42" in i for i in ids), str(ids)[:200])
        rx, ry = d.eval("(() => { const r = document.querySelector('tr[data-msg=\"gen-42\"]').getBoundingClientRect(); return [r.left + 10, r.top + r.height / 2]; })()")
        d.mouse("mousePressed", rx, ry, button="left", clickCount=1)
        d.mouse("mouseReleased", rx, ry, button="left", clickCount=1)
        d.wait("document.querySelector('#swimlane') && document.querySelector('#swimlane').dataset.msg === 'gen-42'")
        c.check("(r8) a click on a row draws its swimlane and puts it in the address",
                d.eval("location.hash") == "#run=0&msg=gen-42" and d.eval("document.querySelectorAll('svg.lanes').length") == 1,
                d.eval("location.hash"))
        console = d.console()
        c.check("(r8) no console message or uncaught exception", not console, str(console))
    finally:
        d.close()


if __name__ == "__main__":
    sys.exit(main())
