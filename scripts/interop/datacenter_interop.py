#!/usr/bin/env python3
"""Interop checks of the data center as a process of its own: `aptsim datacenter serve`
behind `aptsim proxy smtp --hold --datacenter http://…`, Python's smtplib as the sender and
Postfix's smtp-sink as the receiving server. The outage checks kill the data-center process
with SIGKILL while a message is held for its analysis, and start it again.

Usage: datacenter_interop.py PATH/TO/aptsim [--keep]

Needs smtp-sink (Debian package postfix) and python3: scripts/interop/install-deps.sh
installs them. The process and smtp-sink handling is in harness.py. It starts smtp-sink,
four data centers and four proxies on free ports of 127.0.0.1, stops every process it started
(and only those), and prints one line per check and a last line `N passed, M failed`. Exit
status: 0 when all passed, 1 when a check failed, 2 when a program is missing or the setup
failed. With --keep (or on failure) the work folder with the logs is kept.

The checks (behaviour ids from ../shared/design/BEHAVIOUR.md):
  (p1) a clean attachment, hold mode (S2): the proxy uploads it over HTTP, the data center
       judges it after its analysis time (2 s), the sender gets 250 only then, and the
       message reaches the sink;
  (p2) a harmless file that the data center's --dc-verdicts file lists as high: 554 after
       the analysis (A1, high = deny), nothing delivered, the data center's basis
       verdict-file;
  (p3) the data center is killed (SIGKILL) while a message is held for its 60 s analysis:
       the sender gets a reply within seconds, never a hang. Default outage policy allow
       (S7): 250 and delivered, the file logged `clean(unreachable)`;
  (p4) the same with the policy's outage = tempfail: 451, nothing delivered;
  (p5) the killed data center is started again on its address: a new message through the
       same proxy is analysed again (EICAR: 554 after the analysis, the new process's log
       has the upload and the verdict);
  (p6) a data center started with --dc-outage answers 503: the proxy lets mail through
       (outage allow, S7).
"""

import hashlib
import os
import re
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    find_postfix_tool,
    stop_all,
    start,
    SetupError,
    Sink,
    Proxy,
    Checks,
    run_main,
    INSTALL_HINT,
)
from smtp_messages import EICAR, one_attachment, smtplib_send  # noqa: E402

# The longest a sender may wait for its reply after the data center dies: the client gives
# up after three failed polls half a second apart; the rest is slack for a loaded machine.
REPLY_AFTER_KILL = 10.0


class DataCenter:
    """A running `aptsim datacenter serve`, on a port of its choosing or a given one."""

    def __init__(self, aptsim, work, name, *flags, port=0):
        self.aptsim, self.work, self.name, self.flags = aptsim, work, name, list(flags)
        self.runs = 0
        self.port = port
        self.launch()

    def launch(self):
        """Starts the process; a port given (a restart) may still be held for a moment."""
        end = time.monotonic() + 10
        while True:
            self.runs += 1
            self.log_path = os.path.join(self.work, f"dc-{self.name}-{self.runs}.log")
            args = [self.aptsim, "datacenter", "serve", "--listen",
                    f"127.0.0.1:{self.port}"] + self.flags
            self.proc = start(args, self.log_path)
            while True:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log())
                if m:
                    self.port = int(m.group(1))
                    return
                if self.proc.poll() is not None:
                    break
                if time.monotonic() > end:
                    raise SetupError(f"data center {self.name} did not start:\n{self.log()}")
                time.sleep(0.05)
            if time.monotonic() > end:
                raise SetupError(f"data center {self.name} exited:\n{self.log()}")
            time.sleep(0.1)

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()

    def kill(self):
        """SIGKILL: no chance to answer anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait_for(self, text, timeout=10.0):
        end = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > end:
                raise AssertionError(f"no {text!r} in {self.log_path}:\n{self.log()[-1500:]}")
            time.sleep(0.02)


def send_in_background(port, sender, message):
    """Sends on a thread; returns a function that waits for (elapsed, refusal)."""
    result = {}

    def run():
        try:
            result["r"] = smtplib_send(port, sender, message, timeout=120)
        except Exception as e:  # a hang or a broken connection is the check's failure
            result["r"] = (None, ("exception", f"{type(e).__name__}: {e}"))

    th = threading.Thread(target=run, daemon=True)
    th.start()

    def wait(timeout):
        th.join(timeout)
        assert "r" in result, f"no reply to the sender after {timeout}s"
        return result["r"]

    return wait


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: datacenter_interop.py PATH/TO/aptsim [--keep]", file=sys.stderr)
        return 2
    aptsim = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv[2:]
    sink_bin = find_postfix_tool("smtp-sink")
    if not sink_bin:
        print(f"missing: smtp-sink (package postfix); {INSTALL_HINT}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    work = tempfile.mkdtemp(prefix="aptsim-dc-interop-")
    checks = Checks()
    proxies = []
    try:
        sink = Sink(sink_bin, work)
        up = sink.addr()
        listed = b"%PDF-1.4 a harmless file the verdict file lists as high\n" * 40
        listed_md5 = hashlib.md5(listed).hexdigest()
        verdicts = os.path.join(work, "verdicts.json")
        with open(verdicts, "w") as f:
            f.write(f'{{"{listed_md5}": "high"}}\n')
        tempfail = os.path.join(work, "tempfail.toml")
        with open(tempfail, "w") as f:
            f.write('release_immediately = false\noutage = "tempfail"\n')

        judging = DataCenter(aptsim, work, "judging", "--analysis-time", "2s",
                             "--dc-verdicts", verdicts)
        doomed = DataCenter(aptsim, work, "doomed", "--analysis-time", "60s")
        doomed_tf = DataCenter(aptsim, work, "doomed-tempfail", "--analysis-time", "60s")
        refusing = DataCenter(aptsim, work, "outage", "--dc-outage")
        p_judging = Proxy(aptsim, work, "judging", up, "--hold",
                          "--datacenter", judging.url())
        p_doomed = Proxy(aptsim, work, "doomed", up, "--hold", "--datacenter", doomed.url())
        p_tempfail = Proxy(aptsim, work, "doomed-tempfail", up, "--policy", tempfail,
                           "--datacenter", doomed_tf.url())
        p_refusing = Proxy(aptsim, work, "outage", up, "--hold",
                           "--datacenter", refusing.url())
        proxies = [p_judging, p_doomed, p_tempfail, p_refusing]

        # (p1) a clean file, judged over HTTP -------------------------------------------
        def check_p1():
            sender = "dc-p1@example.com"
            data = b"a clean attachment for the remote data center\n" * 30
            md5 = hashlib.md5(data).hexdigest()
            msg = one_attachment(sender, "dc-p1", "report.txt", data, "interop datacenter")
            elapsed, refused = smtplib_send(p_judging.port, sender, msg)
            assert refused is None, f"refused: {refused}"
            assert elapsed >= 1.9, f"answered after {elapsed:.2f}s, before the 2s analysis"
            assert sink.find("dc-p1@interop") is not None, "the message never reached the sink"
            log = judging.log()
            assert f'upload md5={md5} name="report.txt"' in log, log[-1500:]
            assert re.search(rf"verdict md5={md5} level=clean .* basis=scan", log), log[-1500:]
            t = p_judging.txn(sender)
            assert t and t["result"] == "delivered" and t["reply"] == "250", t
            assert f"report.txt:{md5}:clean" in t["files"], t

        checks.run("(p1) hold, clean file judged by `datacenter serve` over HTTP: 250 after "
                   "the analysis, delivered", check_p1, p_judging)

        # (p2) a file the verdict file lists as high -------------------------------------
        def check_p2():
            sender = "dc-p2@example.com"
            msg = one_attachment(sender, "dc-p2", "listed.pdf", listed, "interop datacenter")
            elapsed, refused = smtplib_send(p_judging.port, sender, msg)
            assert refused is not None and refused[0] == 554, f"expected 554, got {refused}"
            assert elapsed >= 1.9, f"answered after {elapsed:.2f}s, before the 2s analysis"
            assert sink.find("dc-p2@interop", timeout=1.0) is None, "a denied message arrived"
            log = judging.log()
            assert re.search(rf"verdict md5={listed_md5} level=high .* basis=verdict-file",
                             log), log[-1500:]
            t = p_judging.txn(sender)
            assert t and t["action"] == "deny" and t["result"] == "denied", t

        checks.run("(p2) a file --dc-verdicts lists as high: 554, nothing delivered",
                   check_p2, p_judging)

        # (p3, p4) the data center killed mid-analysis ------------------------------------
        def killed_mid_analysis(proxy, dc, sender, marker):
            data = f"held while {marker}'s data center dies\n".encode() * 30
            md5 = hashlib.md5(data).hexdigest()
            wait = send_in_background(proxy.port, sender,
                                      one_attachment(sender, marker, "held.txt", data,
                                                     "interop datacenter"))
            # Uploaded: the analysis (60 s) runs, the message is held.
            dc.wait_for(f"upload md5={md5}")
            time.sleep(0.3)
            killed_at = time.monotonic()
            dc.kill()
            elapsed, refused = wait(REPLY_AFTER_KILL + 5)
            assert elapsed is not None, f"the sender's connection failed: {refused}"
            replied_after = time.monotonic() - killed_at
            assert replied_after <= REPLY_AFTER_KILL, \
                f"the sender waited {replied_after:.1f}s after the kill"
            log = proxy.log()
            assert f"md5={md5}" in log and "the file is unreachable (S7)" in log, log[-2000:]
            return md5, refused

        def check_p3():
            sender = "dc-p3@example.com"
            md5, refused = killed_mid_analysis(p_doomed, doomed, sender, "dc-p3")
            assert refused is None, f"outage allow: expected 250, got {refused}"
            assert sink.find("dc-p3@interop") is not None, "the message never reached the sink"
            t = p_doomed.txn(sender)
            assert t and t["result"] == "delivered" and t["action"] == "allow", t
            assert f"held.txt:{md5}:clean(unreachable)" in t["files"], t

        checks.run("(p3) data center killed (SIGKILL) mid-analysis, outage allow: 250 within "
                   "seconds, delivered", check_p3, p_doomed)

        def check_p4():
            sender = "dc-p4@example.com"
            _, refused = killed_mid_analysis(p_tempfail, doomed_tf, sender, "dc-p4")
            assert refused is not None and refused[0] == 451, f"expected 451, got {refused}"
            assert sink.find("dc-p4@interop", timeout=1.0) is None, "a tempfailed message arrived"
            t = p_tempfail.txn(sender)
            assert t and t["result"] == "tempfailed" and t["reply"] == "451", t

        checks.run("(p4) data center killed mid-analysis, outage = tempfail: 451, not delivered",
                   check_p4, p_tempfail)

        # (p5) restarted: analysed again ---------------------------------------------------
        def check_p5():
            doomed.flags = ["--analysis-time", "1s"]
            doomed.launch()
            sender = "dc-p5@example.com"
            eicar_md5 = hashlib.md5(EICAR).hexdigest()
            msg = one_attachment(sender, "dc-p5", "eicar.com", EICAR, "interop datacenter")
            elapsed, refused = smtplib_send(p_doomed.port, sender, msg)
            assert refused is not None and refused[0] == 554, f"expected 554, got {refused}"
            assert elapsed >= 0.9, f"answered after {elapsed:.2f}s, before the 1s analysis"
            log = doomed.log()
            assert f"upload md5={eicar_md5}" in log, log[-1500:]
            assert re.search(rf"verdict md5={eicar_md5} level=high .* basis=eicar", log), log
            t = p_doomed.txn(sender)
            assert t and t["action"] == "deny" and f"eicar.com:{eicar_md5}:high" in t["files"], t

        checks.run("(p5) the data center restarted on its address: the next message is "
                   "analysed again (EICAR: 554)", check_p5, p_doomed)

        # (p6) a data center in an outage --------------------------------------------------
        def check_p6():
            sender = "dc-p6@example.com"
            data = b"sent to a data center in an outage\n" * 30
            msg = one_attachment(sender, "dc-p6", "outage.txt", data, "interop datacenter")
            _, refused = smtplib_send(p_refusing.port, sender, msg)
            assert refused is None, f"outage allow: expected 250, got {refused}"
            assert sink.find("dc-p6@interop") is not None, "the message never reached the sink"
            t = p_refusing.txn(sender)
            assert t and "(unreachable)" in t["files"], t
            assert "503 data center in an outage" in p_refusing.log(), p_refusing.log()[-1500:]

        checks.run("(p6) `datacenter serve --dc-outage` answers 503: mail goes through (S7)",
                   check_p6, p_refusing)

        checks.proxies_survived(proxies)
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        checks.failed += 1
    finally:
        stop_all()
    return checks.finish(work, keep, "logs and smtp-sink dumps")


if __name__ == "__main__":
    run_main(main)
