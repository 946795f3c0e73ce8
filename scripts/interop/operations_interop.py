#!/usr/bin/env python3
"""The live SMTP proxy run as an administrator runs it: a configuration file, flags over it,
several listening addresses, an upstream list with failover, SIGHUP reloads and SIGTERM
drains. Senders are Python's smtplib; the upstream is Postfix's smtp-sink.

Usage: operations_interop.py APTSIM [--keep]

Checks:
  (o1) --config: listen on two addresses, upstream list whose first address refuses
       (failover to the second), [limits] from the file, a flag over the file
       (--max-recipients 1 beats the file's 5: the second RCPT gets 452);
  (o2) SIGTERM during a hold: a message that finishes within --grace gets its 250, one
       still held when the grace ends gets 421 4.3.2 (never a bare disconnect), the
       proxy stops accepting and exits 0, and its log says what was drained;
  (o3) SIGHUP: the file changed from release to hold mode is applied to the next message
       without a restart, the verdict cache is kept (a file judged before the reload is
       decided at once after it, no second upload), and a broken file is refused with
       the proxy still running on the old settings;
  (o4) SIGTERM when the upstream has dropped the held session's connection: the 421 at
       the end of the grace period is written before the proxy exits.
"""

import os
import signal
import smtplib
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    find_postfix_tool,
    free_port,
    start,
    stop_all,
    SetupError,
    Sink,
    Proxy,
    Checks,
    run_main,
    INSTALL_HINT,
)
from smtp_messages import one_attachment  # noqa: E402


def send(port, sender, payload, rcpts=("b@example.net",), timeout=60):
    """Sends one message; the reply to its dot as (code, text), or the error's."""
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as s:
        s.ehlo("ops.example")
        s.mail(sender)
        for r in rcpts:
            code, text = s.rcpt(r)
            if code >= 400:
                return code, text.decode(errors="replace")
        marker = sender.split("@")[0]
        code, text = s.data(one_attachment(sender, marker, "report.bin", payload, "ops check"))
        return code, text.decode(errors="replace")


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    aptsim = sys.argv[1]
    keep = "--keep" in sys.argv[2:]
    if find_postfix_tool("smtp-sink") is None:
        print(f"smtp-sink not found; {INSTALL_HINT}", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="aptsim-ops-")
    checks = Checks()
    try:
        sink = Sink(find_postfix_tool("smtp-sink"), work)
        # A port nothing listens on: the first upstream refuses, the second takes it.
        dead = free_port()

        def check_o1():
            second = free_port()
            conf = os.path.join(work, "o1.toml")
            write(conf, f"""
listen = ["127.0.0.1:0", "127.0.0.1:{second}"]
upstream = ["127.0.0.1:{dead}", "{sink.addr()}"]
upstream_connect_timeout = "2s"
[limits]
max_recipients = 5
idle_timeout = "2m"
[datacenter]
analysis_time = "0s"
""")
            # No --listen or --upstream flag: the file's lists apply.
            log = os.path.join(work, "proxy-o1.log")
            proc = start([aptsim, "proxy", "smtp", "--config", conf, "--max-recipients", "1"],
                         log)
            try:
                wait_for(lambda: "listening on" in open(log).read(), 15, "the o1 proxy")
                first = int(open(log).read().split("listening on 127.0.0.1:")[1].split(",")[0])
                for port in (first, second):
                    code, text = send(port, f"o1-{port}@example.com", b"x" * 100)
                    assert code == 250, f"port {port}: {code} {text}"
                code, text = send(first, "o1-two@example.com", b"y" * 100,
                                  rcpts=("b@example.net", "c@example.net"))
                assert code == 452, f"the flag's max-recipients 1 not applied: {code} {text}"
                assert sink.count("o1-") >= 2, "the failover upstream did not get the mail"
            finally:
                proc.terminate()
                proc.wait()

        checks.run("(o1) config file, two listening addresses, upstream failover, flag over "
                   "file", check_o1)

        def check_o2():
            p = Proxy(aptsim, work, "o2", sink.addr(), "--hold", "--analysis-time", "3s",
                      "--grace", "6s")
            quick = {}
            slow_payload = b"slow" * 100

            def run(name, payload, out):
                try:
                    out["reply"] = send(p.port, name, payload)
                except Exception as e:  # a bare disconnect would land here
                    out["reply"] = ("error", repr(e))

            t1 = threading.Thread(target=run, args=("o2-quick@example.com", b"q" * 100, quick))
            t1.start()
            # Held for its 3 s analysis when the signal comes; the grace (6 s) outlasts it.
            time.sleep(0.8)
            p.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: "no longer accepting" in p.log(), 5, "the shutdown line")
            late = {}
            try:
                with socket.create_connection(("127.0.0.1", p.port), timeout=2):
                    late["connected"] = True
            except OSError:
                late["connected"] = False
            t1.join(30)
            assert quick.get("reply", (0,))[0] == 250, f"held message within grace: {quick}"
            assert not late["connected"], "still accepting after SIGTERM"
            wait_for(lambda: p.proc.poll() is not None, 15, "the proxy to exit")
            assert p.proc.returncode == 0, f"exit status {p.proc.returncode}"
            assert "1 with a message in progress" in p.log(), p.log()
            # Now one that the grace cuts short.
            p = Proxy(aptsim, work, "o2b", sink.addr(), "--hold", "--analysis-time", "30s",
                      "--grace", "1s")
            cut = {}
            t2 = threading.Thread(target=run, args=("o2-cut@example.com", slow_payload, cut))
            t2.start()
            time.sleep(0.8)
            p.proc.send_signal(signal.SIGTERM)
            t2.join(30)
            assert cut.get("reply", (0,))[0] == 421, f"cut short: {cut}"
            assert "4.3.2" in cut["reply"][1], cut
            wait_for(lambda: p.proc.poll() is not None, 15, "the proxy to exit")
            assert "cut short with 421 4.3.2" in p.log(), p.log()
            assert sink.count("o2-cut@example.com") == 0, "delivered after the 421"

        checks.run("(o2) SIGTERM: a held message finishes within the grace period, one "
                   "held past it gets 421 4.3.2, the proxy exits 0", check_o2)

        def check_o3():
            conf = os.path.join(work, "o3.toml")
            write(conf, """
[policy]
release_immediately = true
[datacenter]
analysis_time = "1s"
""")
            p = Proxy(aptsim, work, "o3", sink.addr(), "--config", conf)
            payload = b"reload" * 100
            code, _ = send(p.port, "o3-first@example.com", payload)
            assert code == 250
            wait_for(lambda: "verdict" in p.log(), 10, "the first verdict")
            uploads_before = p.log().count(" upload")
            write(conf, """
[policy]
release_immediately = false
[datacenter]
analysis_time = "30s"
""")
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "configuration reloaded" in p.log(), 5, "the reload line")
            assert "hold (S2" in p.log().split("configuration reloaded")[1], p.log()
            t0 = time.monotonic()
            code, _ = send(p.port, "o3-second@example.com", payload)
            took = time.monotonic() - t0
            assert code == 250, code
            assert took < 10, f"the cached verdict was lost: held {took:.1f}s"
            assert p.log().count(" upload") == uploads_before, "uploaded again after reload"
            # A new file is now held (hold mode from the reloaded file).
            line = p.txn("o3-second@example.com")
            assert line is not None, p.log()
            write(conf, "[policy\nbroken")
            p.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reload failed" in p.log(), 5, "the reload failure line")
            assert p.proc.poll() is None, "the proxy died on a broken reload"
            code, _ = send(p.port, "o3-third@example.com", payload)
            assert code == 250, "not serving after a failed reload"

        checks.run("(o3) SIGHUP applies a changed file, keeps the cache, refuses a broken "
                   "one and keeps running", check_o3)

        def check_o4():
            # An upstream that drops idle connections after 1 s (smtp-sink -t 1): during
            # the hold the proxy has no upstream socket left, and the 421 at the end of the
            # grace period must still reach the sender before the proxy exits.
            port = free_port()
            args = [find_postfix_tool("smtp-sink"), "-t", "1"]
            if os.geteuid() == 0:
                args += ["-u", "nobody"]
            start(args + [f"127.0.0.1:{port}", "100"], os.path.join(work, "sink-o4.log"))
            time.sleep(0.3)
            p = Proxy(aptsim, work, "o4", f"127.0.0.1:{port}", "--hold", "--analysis-time",
                      "60s", "--grace", "2s")
            out = {}

            def run():
                try:
                    out["reply"] = send(p.port, "o4@example.com", b"o4" * 100)
                except Exception as e:  # a bare disconnect lands here
                    out["reply"] = ("error", repr(e))

            t = threading.Thread(target=run)
            t.start()
            time.sleep(2.5)
            p.proc.send_signal(signal.SIGTERM)
            t.join(30)
            assert out.get("reply", (0,))[0] == 421, f"the sender got {out}"
            wait_for(lambda: p.proc.poll() is not None, 15, "the proxy to exit")

        checks.run("(o4) SIGTERM with no upstream left: the 421 still reaches the sender",
                   check_o4)
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        checks.failed += 1
    finally:
        stop_all()
    return checks.finish(work, keep, "logs and smtp-sink dumps")


if __name__ == "__main__":
    run_main(main)
