#!/usr/bin/env python3
"""Interop checks of the verdict cache shared by several live proxies through a real Redis
(`aptsim proxy smtp --cache redis://HOST:PORT/DB`). They continue the lettering of
smtp_interop.py and sender_interop.py with (r).

Usage: cache_interop.py PATH/TO/aptsim [--keep]

Needs redis-server and redis-cli (Debian packages redis-server, redis-tools), smtp-sink
(package postfix) and python3: scripts/interop/install-deps.sh installs them. It starts
redis-server on a free port of 127.0.0.1 with no persistence (--save "" --appendonly no),
smtp-sink, and two hold-mode proxies A and B with the built-in data center (analysis 3 s)
sharing Redis database 3, under a policy whose cache TTL is 1 h. Exit status and output as
in smtp_interop.py: one line per check, a last line `N passed, M failed`; 0 when all passed,
1 when a check failed, 2 when a required program is missing or the setup failed.

The checks (behaviour ids from ../shared/design/BEHAVIOUR.md):
  (r1) both proxies log at start that they share Redis, with the PING round trip;
  (r2) S6 across gateways: an EICAR file judged at A (554 after the 3 s analysis) is refused
       by B at once, with no upload at B (no `submit` line for it in B's log); a clean file
       judged at A is delivered by B at once, likewise; the verdict in Redis expires with
       the policy's cache TTL (PTTL within 1 h);
  (r3) X1 across gateways: the same new EICAR file sent to A and B at once is uploaded once
       (one `submit ... upload` in the two logs together, one `waits (X1)`); while it is
       analysed its claim is in Redis and expires within the analysis timeout (20 min); the
       waiting proxy learns the verdict from Redis (`basis=shared-cache`); both answer 554;
  (r4) redis-server killed (SIGKILL): both proxies still deliver new clean files (held for
       their own analysis, uploaded by each), each logs the outage once however many
       messages follow; the EICAR file of (r2), known to both before the outage, is still
       refused at once by A (which judged it) and by B (which read it), with no upload;
  (r5) redis-server started again on its port: both proxies log that it is back, and a file
       judged at A afterwards is decided by B from the cache again.
"""

import hashlib
import os
import shutil
import subprocess
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
    wait_listening,
    SetupError,
    Sink,
    Proxy,
    Checks,
    run_main,
)
from smtp_messages import smtplib_send, one_attachment, EICAR  # noqa: E402

ANALYSIS = 3.0
DB = 3
INSTALL = "install them with: bash scripts/interop/install-deps.sh " \
    "(apt-get install redis-server postfix python3)"


def one_file(sender, marker, data, name):
    """A message with one attachment (smtp_messages.one_attachment)."""
    return one_attachment(sender, marker, name, data, "interop cache")


class Redis:
    """redis-server on a free loopback port, no persistence; killed and restarted by the
    checks (this process only)."""

    def __init__(self, binary, cli, work):
        self.binary, self.cli, self.work = binary, cli, work
        self.port = free_port()
        self.starts = 0
        self.start()

    def start(self):
        self.starts += 1
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
                "--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.proc = start(args, os.path.join(self.work, f"redis-{self.starts}.log"))
        wait_listening(self.port, self.proc, "redis-server")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def url(self):
        return f"redis://127.0.0.1:{self.port}/{DB}"

    def command(self, *args):
        r = subprocess.run([self.cli, "-p", str(self.port), "-n", str(DB), *args],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, f"redis-cli {args}: {r.stderr}"
        return r.stdout.strip()


def submits(proxy, md5):
    """(uploads, X1 waits) logged for `md5`."""
    lines = [line for line in proxy.log().splitlines() if " submit " in line and md5 in line]
    uploads = [line for line in lines if line.endswith(" upload")]
    waits = [line for line in lines if line.endswith("(X1)")]
    return uploads, waits


def count(proxy, text):
    return sum(1 for line in proxy.log().splitlines() if text in line)


def wait_log(proxy, text, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in proxy.log():
            return True
        time.sleep(0.05)
    return False


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: cache_interop.py PATH/TO/aptsim [--keep]", file=sys.stderr)
        return 2
    aptsim = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv[2:]
    redis_bin = shutil.which("redis-server") or "/usr/bin/redis-server"
    redis_cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
    sink_bin = find_postfix_tool("smtp-sink")
    missing = [p for p in (redis_bin, redis_cli) if not os.access(p, os.X_OK)]
    if not sink_bin:
        missing.append("smtp-sink (package postfix)")
    if missing:
        print(f"missing: {', '.join(missing)}; {INSTALL}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    work = tempfile.mkdtemp(prefix="aptsim-cache-interop-")
    checks = Checks()
    a = b = None
    try:
        redis = Redis(redis_bin, redis_cli, work)
        sink = Sink(sink_bin, work)
        policy = os.path.join(work, "policy.toml")
        with open(policy, "w") as f:
            f.write('release_immediately = false\n[cache]\nttl = "1h"\n')
        flags = ["--policy", policy, "--analysis-time", f"{ANALYSIS:g}s",
                 "--cache", redis.url()]
        a = Proxy(aptsim, work, "A", sink.addr(), *flags)
        b = Proxy(aptsim, work, "B", sink.addr(), *flags)

        def check_r1():
            for p in (a, b):
                # The cache line follows the startup line, once the proxy has attached.
                end = time.monotonic() + 5
                while True:
                    lines = [line for line in p.log().splitlines()
                             if f"cache {redis.url()} connected" in line]
                    if lines or time.monotonic() > end:
                        break
                    time.sleep(0.05)
                assert len(lines) == 1, f"proxy {p.name}: {p.log()[-800:]}"
                print(f"  proxy {p.name}: {lines[0].split(' cache ', 1)[1]}")

        checks.run("(r1) both proxies share Redis from the start", check_r1, a)

        bad = EICAR + b" shared r2"
        bad_md5 = hashlib.md5(bad).hexdigest()

        def check_r2():
            elapsed, refused = smtplib_send(a.port, "r2-a@example.com",
                                            one_file("r2-a@example.com", "r2-a", bad, "x.com"))
            assert refused and refused[0] == 554, f"A: expected 554, got {refused}"
            assert elapsed >= ANALYSIS - 0.1, f"A answered after {elapsed:.2f}s, no analysis?"
            assert len(submits(a, bad_md5)[0]) == 1, a.log()[-800:]
            elapsed, refused = smtplib_send(b.port, "r2-b@example.com",
                                            one_file("r2-b@example.com", "r2-b", bad, "x.com"))
            assert refused and refused[0] == 554, f"B: expected 554, got {refused}"
            assert elapsed < ANALYSIS / 2, f"B held it {elapsed:.2f}s: not from the cache"
            assert submits(b, bad_md5) == ([], []), f"B submitted it: {submits(b, bad_md5)}"
            t = b.txn("r2-b@example.com")
            assert t and t["result"] == "denied" and f"{bad_md5}:high" in t["files"], t
            ttl = int(redis.command("PTTL", f"aptsim:v1:{{{bad_md5}}}:verdict"))
            assert 3_500_000 < ttl <= 3_600_000, f"verdict PTTL {ttl} ms, expected the 1 h TTL"
            value = redis.command("GET", f"aptsim:v1:{{{bad_md5}}}:verdict")
            assert '"level":"high"' in value, value

            ok = b"clean file r2 " * 40
            ok_md5 = hashlib.md5(ok).hexdigest()
            elapsed, refused = smtplib_send(a.port, "r2-ok-a@example.com",
                                            one_file("r2-ok-a@example.com", "r2-ok-a", ok, "a.bin"))
            assert refused is None and elapsed >= ANALYSIS - 0.1, (elapsed, refused)
            elapsed, refused = smtplib_send(b.port, "r2-ok-b@example.com",
                                            one_file("r2-ok-b@example.com", "r2-ok-b", ok, "a.bin"))
            assert refused is None and elapsed < ANALYSIS / 2, (elapsed, refused)
            assert submits(b, ok_md5) == ([], []), submits(b, ok_md5)
            assert sink.find("r2-ok-b@interop") is not None, "B's clean message never arrived"

        checks.run("(r2) judged at A, decided by B from the cache, no upload at B",
                   check_r2, b)

        def check_r3():
            same = EICAR + b" at once r3"
            md5 = hashlib.md5(same).hexdigest()
            results = {}

            def send(proxy):
                sender = f"r3-{proxy.name}@example.com"
                results[proxy.name] = smtplib_send(
                    proxy.port, sender, one_file(sender, f"r3-{proxy.name}", same, "y.com"))

            threads = [threading.Thread(target=send, args=(p,)) for p in (a, b)]
            for th in threads:
                th.start()
            # The claim, once the first proxy has taken it (within the 3 s analysis).
            end = time.monotonic() + ANALYSIS - 0.5
            claim = -2
            while claim <= 0 and time.monotonic() < end:
                time.sleep(0.05)
                claim = int(redis.command("PTTL", f"aptsim:v1:{{{md5}}}:claim"))
            for th in threads:
                th.join(timeout=30)
            assert 0 < claim <= 1_200_000, f"claim PTTL {claim} ms during the analysis"
            for name in ("A", "B"):
                assert name in results, f"{name} did not finish"
                assert results[name][1] and results[name][1][0] == 554, results[name]
            (ua, wa), (ub, wb) = submits(a, md5), submits(b, md5)
            assert len(ua) + len(ub) == 1 and len(wa) + len(wb) == 1, \
                f"expected one upload and one X1 wait, A: {ua + wa}, B: {ub + wb}"
            waiter = b if wb else a
            assert count(waiter, f"md5={md5} level=high") == 1 and \
                count(waiter, "basis=shared-cache") >= 1, waiter.log()[-800:]
            assert redis.command("EXISTS", f"aptsim:v1:{{{md5}}}:claim") == "0", \
                "the claim outlived the verdict"

        checks.run("(r3) same new file at A and B at once: one upload (X1 across gateways)",
                   check_r3, b)

        def check_r4():
            redis.kill()
            for n, p in enumerate((a, b, a)):
                data = f"clean during the outage {n}".encode() * 30
                sender = f"r4-{n}-{p.name}@example.com"
                elapsed, refused = smtplib_send(p.port, sender,
                                                one_file(sender, f"r4-{n}", data, "o.bin"))
                assert refused is None, f"{p.name}: refused {refused}"
                assert elapsed >= ANALYSIS - 0.1, f"{p.name} answered in {elapsed:.2f}s"
                md5 = hashlib.md5(data).hexdigest()
                assert len(submits(p, md5)[0]) == 1, f"{p.name} did not upload it itself"
                assert sink.find(f"r4-{n}@interop") is not None, f"r4-{n} never arrived"
            for p in (a, b):
                n = count(p, "unreachable (")
                assert n == 1, f"proxy {p.name} logged the outage {n} times"
                before = len(submits(p, bad_md5)[0])
                sender = f"r4-bad-{p.name}@example.com"
                elapsed, refused = smtplib_send(p.port, sender,
                                                one_file(sender, f"r4-bad-{p.name}", bad, "x.com"))
                assert refused and refused[0] == 554, f"{p.name} let a known-bad file pass"
                assert elapsed < ANALYSIS / 2, f"{p.name} held it {elapsed:.2f}s"
                assert len(submits(p, bad_md5)[0]) == before, f"{p.name} uploaded it again"

        checks.run("(r4) Redis killed: both deliver, log it once, known-bad still refused",
                   check_r4, a)

        def check_r5():
            redis.start()
            for p in (a, b):
                assert wait_log(p, "reachable again", 5.0), f"{p.name} never saw Redis back"
            later = EICAR + b" after r5"
            md5 = hashlib.md5(later).hexdigest()
            _, refused = smtplib_send(a.port, "r5-a@example.com",
                                      one_file("r5-a@example.com", "r5-a", later, "z.com"))
            assert refused and refused[0] == 554, refused
            elapsed, refused = smtplib_send(b.port, "r5-b@example.com",
                                            one_file("r5-b@example.com", "r5-b", later, "z.com"))
            assert refused and refused[0] == 554 and elapsed < ANALYSIS / 2, (elapsed, refused)
            assert submits(b, md5) == ([], []), submits(b, md5)

        checks.run("(r5) Redis back: logged, and verdicts shared again", check_r5, b)
        checks.proxies_survived([a, b])
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        checks.failed += 1
    finally:
        stop_all()
    return checks.finish(work, keep, "logs and smtp-sink dumps")


if __name__ == "__main__":
    run_main(main)
