#!/usr/bin/env python3
"""Interop checks of the live proxy's operator side: its JSON log, its Prometheus /metrics
and its quarantine store, with swaks and Python's smtplib as senders and Postfix's
smtp-sink as the receiving server (and the server a quarantined message is released to).

Usage: ops_interop.py PATH/TO/aptsim [--keep]

Proxy A runs in hold mode with `--log-format json --metrics 127.0.0.1:PORT --quarantine DIR`
and a policy where `high` is quarantined; a verdict file (`--dc-verdicts`) makes one
attachment high. Proxy B runs in release mode (the default policy) with the text log and
`--metrics`, to show the exposure metrics and that the text and JSON forms carry the same
fields.

The checks:
  (o1) a message with the high attachment, two recipients, smtplib: 250, nothing reaches
       smtp-sink, the transaction is `quarantined`; a clean message from swaks is delivered;
       the same attachment again is decided from the cache and quarantined too;
  (o2) every line of A's log is one JSON object with a time and a kind; the transaction,
       submit, verdict and quarantine records carry their fields typed (numbers as numbers);
  (o3) B's text transaction line has the same fields as A's JSON record; B logs the
       exposure (X5) of the high file it released unjudged;
  (o4) /metrics over HTTP on both: messages by result and action, uploads, verdicts, cache
       hits, holds and the hold-time histogram, quarantined messages stored, exposures and
       the exposure-window histogram, finished sessions;
  (o5) `aptsim quarantine list` (table and --json) shows both quarantined messages with
       their envelopes; `show` prints the reason and the message's header fields;
  (o6) `aptsim quarantine release ID --upstream smtp-sink`: the message reaches smtp-sink
       once, byte for byte, for both recipients; a second release is refused and nothing
       more arrives; the list shows it released.
"""

import hashlib
import json
import os
import re
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    find_postfix_tool,
    free_port,
    scrape,
    stop_all,
    SetupError,
    Sink,
    Proxy,
    Checks,
    run_main,
    first_difference,
    INSTALL_HINT,
)

RCPTS = ["bob@example.net", "carol@example.net"]
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def message(subject, payload):
    """A message with one attachment, CRLF line ends, as smtplib sends bytes."""
    import base64
    b64 = base64.encodebytes(payload).decode().replace("\n", "\r\n")
    return (
        "From: alice@example.com\r\n"
        f"To: {', '.join(RCPTS)}\r\n"
        f"Subject: {subject}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "See the attachment.\r\n"
        ".A line that starts with a dot.\r\n"
        "--b1\r\n"
        'Content-Type: application/octet-stream; name="sample.bin"\r\n'
        'Content-Disposition: attachment; filename="sample.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{b64}"
        "--b1--\r\n"
    ).encode()


def send(port, sender, data, rcpts=RCPTS):
    """smtplib: (elapsed seconds, refused recipients); raises on a refused message."""
    t0 = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("interop.test")
        refused = s.sendmail(sender, rcpts, data)
    return time.monotonic() - t0, refused


def aptsim_cmd(aptsim, *args):
    return subprocess.run([aptsim, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60, text=True)


def wait_for(fn, timeout=5.0):
    """fn() until it returns something true, or the last value after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() >= end:
            return value
        time.sleep(0.1)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    aptsim = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv[2:]
    sink_bin = find_postfix_tool("smtp-sink")
    missing = [n for n, p in (("smtp-sink", sink_bin),
                              ("swaks", subprocess.run(["which", "swaks"], capture_output=True)
                               .stdout.strip() or None)) if not p]
    if missing:
        print(f"missing: {', '.join(missing)}; {INSTALL_HINT}", file=sys.stderr)
        return 2

    work = tempfile.mkdtemp(prefix="aptsim-ops-interop-")
    checks = Checks()
    run_id = uuid.uuid4().hex[:8]
    payload = f"aptsim ops interop payload {run_id}\n".encode() * 40
    md5 = hashlib.md5(payload).hexdigest()
    verdicts = os.path.join(work, "verdicts.json")
    with open(verdicts, "w") as f:
        json.dump({md5: "high"}, f)
    policy = os.path.join(work, "quarantine.toml")
    with open(policy, "w") as f:
        f.write('release_immediately = false\n[levels.high]\naction = "quarantine"\n')
    qdir = os.path.join(work, "quarantine")
    subject_o1 = f"ops check o1 {run_id}"
    original = message(subject_o1, payload)
    a = b = None
    try:
        sink = Sink(sink_bin, work)
        a_metrics, b_metrics = free_port(), free_port()
        a = Proxy(aptsim, work, "a-json", sink.addr(), "--policy", policy,
                  "--dc-verdicts", verdicts, "--analysis-time", "1s",
                  "--log-format", "json", "--metrics", f"127.0.0.1:{a_metrics}",
                  "--quarantine", qdir)
        b = Proxy(aptsim, work, "b-text", sink.addr(), "--dc-verdicts", verdicts,
                  "--analysis-time", "1s", "--metrics", f"127.0.0.1:{b_metrics}")

        def check_o1():
            _, refused = send(a.port, "check-o1@example.com", original)
            assert refused == {}, refused
            t = a.json_txn("check-o1@example.com")
            assert t is not None, "no transaction record"
            assert (t["result"], t["action"], t["reply"]) == ("quarantined", "quarantine", 250), t
            assert t["to"] == RCPTS, t
            assert [(f["name"], f["md5"], f["level"], f["source"]) for f in t["files"]] == \
                [("sample.bin", md5, "high", "analysis")], t["files"]
            assert isinstance(t["held"], float) and t["held"] >= 0.9, t
            r = subprocess.run(["swaks", "--server", f"127.0.0.1:{a.port}", "--from",
                                "check-o1-clean@example.com", "--to", RCPTS[0],
                                "--header", f"Subject: clean {run_id}", "--timeout", "30"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            assert r.returncode == 0, r.stdout[-500:]
            clean = a.json_txn("check-o1-clean@example.com")
            assert clean and clean["result"] == "delivered" and clean["files"] == [], clean
            assert sink.find(f"clean {run_id}") is not None, "the clean message did not arrive"
            elapsed, refused = send(a.port, "check-o1b@example.com",
                                    message(f"ops check o1b {run_id}", payload))
            assert refused == {}, refused
            again = a.json_txn("check-o1b@example.com")
            assert again and again["result"] == "quarantined", again
            assert again["files"][0]["source"] == "cache", again["files"]
            assert sink.count(subject_o1) == 0 and sink.count(f"o1b {run_id}") == 0, \
                "a quarantined message reached the sink"

        checks.run("(o1) high attachment quarantined (250, not delivered), clean delivered, "
                   "cache hit quarantined too", check_o1, a)

        def check_o2():
            log = a.json_log()
            assert len(log) >= 8, log
            for obj in log:
                assert isinstance(obj.get("time"), str) and TIME.match(obj["time"]), obj
                assert isinstance(obj.get("kind"), str), obj
            kinds = {o["kind"] for o in log}
            for k in ("start", "conn", "submit", "verdict", "quarantine", "txn"):
                assert k in kinds, f"no {k} line in {sorted(kinds)}"
            submit = next(o for o in log if o["kind"] == "submit")
            assert (submit["md5"], submit["name"], submit["msg"]) == (md5, "sample.bin", "upload"), submit
            assert isinstance(submit["conn"], int) and isinstance(submit["txn"], int), submit
            verdict = next(o for o in log if o["kind"] == "verdict")
            assert verdict["md5"] == md5 and verdict["level"] == "high", verdict
            assert isinstance(verdict["score"], int), verdict
            stored = [o for o in log if o["kind"] == "quarantine"]
            assert len(stored) == 2 and all(isinstance(o["size"], int) for o in stored), stored
            for t in (o for o in log if o["kind"] == "txn"):
                assert isinstance(t["conn"], int) and isinstance(t["reply"], int), t

        checks.run("(o2) every log line is one JSON object, its fields typed", check_o2, a)

        def check_o3():
            sender = "check-o3@example.com"
            _, refused = send(b.port, sender, message(f"ops check o3 {run_id}", payload))
            assert refused == {}, refused
            text = b.txn(sender)
            assert text is not None, "no text transaction line"
            assert text["held"] == "-" and text["files"].endswith(":unjudged"), text
            as_json = a.json_txn("check-o1@example.com")
            keys = set(as_json) - {"time", "kind"}
            assert set(text) == keys, f"text {sorted(text)} vs JSON {sorted(keys)}"
            exposure = wait_for(lambda: [line for line in b.log().splitlines()
                                         if " exposure " in line and f"md5={md5}" in line])
            assert len(exposure) == 1 and "level=high window=" in exposure[0], exposure

        checks.run("(o3) the text form has the same fields; the exposure (X5) is logged",
                   check_o3, b)

        def check_o4():
            ctype, m = scrape(a_metrics)
            assert ctype.startswith("application/openmetrics-text"), ctype
            want = {
                'aptsim_messages_total{result="quarantined",action="quarantine"}': 2,
                'aptsim_messages_total{result="delivered",action="allow"}': 1,
                "aptsim_uploads_total": 1,
                'aptsim_verdicts_total{level="high"}': 1,
                "aptsim_cache_hits_total": 1,
                'aptsim_files_total{level="high",source="analysis"}': 1,
                'aptsim_files_total{level="high",source="cache"}': 1,
                'aptsim_quarantined_total{stored="true"}': 2,
                "aptsim_holds_total": 1,
                "aptsim_hold_seconds_count": 3,
                'aptsim_hold_seconds_bucket{le="0.5"}': 2,
                "aptsim_cache_entries": 1,
            }
            for series, value in want.items():
                assert m.get(series) == value, f"{series} = {m.get(series)}, want {value}"
            finished = wait_for(lambda: scrape(a_metrics)[1]
                                .get("aptsim_sessions_finished_total") == 3)
            assert finished, "aptsim_sessions_finished_total is not 3"
            _, mb = scrape(b_metrics)
            want_b = {
                'aptsim_exposures_total{level="high"}': 1,
                "aptsim_exposure_window_seconds_count": 1,
                'aptsim_exposure_window_seconds_bucket{le="5.0"}': 1,
                'aptsim_messages_total{result="delivered",action="allow"}': 1,
                'aptsim_files_total{level="unjudged",source="released"}': 1,
            }
            for series, value in want_b.items():
                assert mb.get(series) == value, f"B: {series} = {mb.get(series)}, want {value}"

        checks.run("(o4) /metrics over HTTP counts what happened", check_o4, a)

        ids = []

        def check_o5():
            r = aptsim_cmd(aptsim, "quarantine", "list", qdir)
            assert r.returncode == 0, r.stderr
            rows = r.stdout.splitlines()
            assert rows[0].split()[:3] == ["ID", "STATE", "TIME"], rows
            assert len(rows) == 3 and all(" new " in row for row in rows[1:]), rows
            r = aptsim_cmd(aptsim, "quarantine", "list", "--json", qdir)
            assert r.returncode == 0, r.stderr
            records = [json.loads(line) for line in r.stdout.splitlines()]
            assert [x["from"] for x in records] == ["check-o1@example.com",
                                                    "check-o1b@example.com"], records
            assert all(x["rcpts"] == RCPTS and x["action"] == "quarantine" for x in records)
            assert records[0]["files"][0]["md5"] == md5, records[0]
            ids.extend(x["id"] for x in records)
            # A unique start of the id: up to its delivery number (`SECONDS.M…P…Q1`).
            prefix = ".".join(ids[0].split(".")[:2])
            assert prefix != ids[0] and not ids[1].startswith(prefix + "."), ids
            r = aptsim_cmd(aptsim, "quarantine", "show", qdir, prefix)
            assert r.returncode == 0, r.stderr
            assert "reason:   sample.bin: high (score" in r.stdout, r.stdout
            assert f"Subject: {subject_o1}" in r.stdout, r.stdout
            assert "See the attachment" not in r.stdout, "show printed the body"

        checks.run("(o5) aptsim quarantine list and show", check_o5)

        def check_o6():
            assert ids, "no ids from (o5)"
            r = aptsim_cmd(aptsim, "quarantine", "release", qdir, ids[0],
                           "--upstream", sink.addr())
            assert r.returncode == 0, f"{r.stdout}{r.stderr}"
            assert r.stdout.startswith(f"released {ids[0]} to {sink.addr()}: 250"), r.stdout
            got = sink.find(subject_o1)
            assert got is not None, "the released message did not arrive"
            meta, body = got
            expected = original.replace(b"\r\n", b"\n")
            assert body == expected, first_difference(body, expected)
            assert meta.get("X-Mail-Args") == ["<check-o1@example.com>"], meta
            assert sorted(meta.get("X-Rcpt-Args", [])) == [f"<{x}>" for x in RCPTS], meta
            r = aptsim_cmd(aptsim, "quarantine", "release", qdir, ids[0],
                           "--upstream", sink.addr())
            assert r.returncode != 0 and "already released" in r.stderr, \
                f"a second release: {r.returncode} {r.stdout}{r.stderr}"
            time.sleep(1)
            assert sink.count(subject_o1) == 1, f"{sink.count(subject_o1)} copies arrived"
            r = aptsim_cmd(aptsim, "quarantine", "list", qdir)
            states = {row.split()[0]: row.split()[1] for row in r.stdout.splitlines()[1:]}
            assert states == {ids[0]: "released", ids[1]: "new"}, states

        checks.run("(o6) release delivers once, byte for byte; a second release is refused",
                   check_o6)

        checks.proxies_survived((a, b))
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        checks.failed += 1
    finally:
        stop_all()
    return checks.finish(work, keep, "logs, quarantine and smtp-sink dumps")


if __name__ == "__main__":
    run_main(main)
