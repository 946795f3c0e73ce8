#!/usr/bin/env python3
"""Interop checks of what the next hop learns through the live SMTP proxy (`aptsim proxy
smtp`), with a REAL Postfix as the upstream: XFORWARD (Postfix's XFORWARD_README) and the
proxy's own Received: header (RFC 5321 section 4.4).

Usage: xforward_interop.py PATH/TO/aptsim [--keep]

Needs Postfix (Debian package postfix, installed by scripts/interop/install-deps.sh), swaks
and python3, and root: a private Postfix instance (postfix.py: its own configuration, queue
and log in the work folder, 127.0.0.1 only, every message held, nothing delivered) is
started and stopped here. Output and exit status as in smtp_interop.py.

The senders connect from 127.0.0.2 and the proxy connects to Postfix from 127.0.0.1, so
whatever Postfix records as 127.0.0.2 it can only have learnt from XFORWARD. Postfix uses
XFORWARD for its logging attributes (its own Received: header names the real connection,
smtpd.c), so the checks read its log (`QUEUEID: client=localhost[127.0.0.1],
orig_client=unknown[127.0.0.2]`, `xforward=N` in the session summary) and the held
message's envelope with postcat (`log_client_address`, `log_helo_name`, `rewrite_context`).

The checks (lettered q: smtp_interop.py has a-k, sender_interop.py l-n, and the other
interop scripts o, p and r):
  (q1) swaks -> proxy -> Postfix, which offers XFORWARD to 127.0.0.0/8: Postfix logs the
       original client (orig_client=unknown[127.0.0.2]) and one XFORWARD, its envelope holds
       ADDR, HELO and PROTO as forwarded and rewrite_context=remote (SOURCE=REMOTE); the
       message carries Postfix's Received: and, under it, the proxy's, naming the client;
       swaks never sees XFORWARD offered;
  (q2) smtplib, two messages on one connection and a HELO that needs xtext ("+", "="):
       XFORWARD before each (Postfix counts xforward=2), Postfix decodes the HELO back to
       what the client sent, and the proxy's Received: leaves the HELO out (not a domain);
  (q3) a Postfix service that does not trust the proxy (smtpd_authorized_xforward_hosts
       empty) offers no XFORWARD and gets none: it logs only the proxy's address;
  (q4) hold mode, Postfix's smtpd_timeout (2 s) shorter than the analysis (4 s): Postfix
       drops the idle connection, the proxy reconnects and replays EHLO, XFORWARD, MAIL and
       RCPT, and the message Postfix queues still names the original client;
  (q5) loops are counted: a Postfix service with hopcount_limit = 2 refuses a message
       through the proxy (its Received: plus Postfix's own: 554 5.4.0 too many hops) and
       accepts the same message through a proxy run with --no-received-header.
"""

import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    stop_all,
    SetupError,
    Proxy,
    Checks,
    run_main,
    strip_proxy_received,
)
from postfix import Postfix, postfix_missing, queue_id, envelope, content  # noqa: E402

INSTALL_HINT = "install them with: sudo bash scripts/interop/install-deps.sh"

# Where the senders connect from: any 127/8 address is the loopback on Linux, and one other
# than the proxy's own 127.0.0.1 tells the forwarded client from the proxy.
CLIENT_IP = "127.0.0.2"

XFORWARD_LOG = r"client=[^,\s]*\[127\.0\.0\.1\], orig_client=unknown\[127\.0\.0\.2\]"


def message(marker, attachment=False):
    m = EmailMessage()
    m["From"] = f"{marker}@example.com"
    m["To"] = "rcpt@example.net"
    m["Subject"] = f"interop {marker}"
    m["Message-ID"] = f"<{marker}@interop.test>"
    m.set_content(f"Sent through the proxy to Postfix ({marker}).\n")
    if attachment:
        m.add_attachment(b"%PDF-1.4 harmless\n" * 20, maintype="application",
                         subtype="pdf", filename="notes.pdf")
    return m


def crlf(m):
    """The message's bytes with CRLF line ends (smtplib sends bytes as they are)."""
    return m.as_bytes(policy=m.policy.clone(linesep="\r\n"))


def smtplib_session(port, helo, messages):
    """Sends `messages` on one connection from CLIENT_IP; returns (the EHLO features the
    proxy offered, [the final reply to each message as text])."""
    replies = []
    with smtplib.SMTP("127.0.0.1", port, local_hostname=helo,
                      source_address=(CLIENT_IP, 0), timeout=60) as s:
        s.ehlo()
        features = dict(s.esmtp_features)
        for m in messages:
            s.mail(m["From"])
            code, text = s.rcpt(m["To"])
            assert code == 250, f"RCPT: {code} {text!r}"
            code, text = s.data(crlf(m))
            replies.append(f"{code} {text.decode('utf-8', 'replace')}")
    return features, replies


def headers_of(listing):
    """A held message's two Received: headers and what follows them: (Postfix's own, the
    proxy's, the message), from a `postcat` listing."""
    text = content(listing).encode()
    theirs, sep, rest = text.partition(b"\nReceived: ")
    assert sep, f"one Received: header only, none from the proxy:\n{text[:600]!r}"
    received, body = strip_proxy_received(b"Received: " + rest)
    assert received is not None, f"no Received: header from the proxy:\n{text[:600]!r}"
    return theirs, received, body


def session_of(postfix, qid):
    """The pid of the smtpd that queued `qid` (from its `client=` log line)."""
    line = postfix.wait_log(rf"\[(\d+)\]: {qid}: client=")
    assert line is not None, f"no 'client=' line for {qid}\n{postfix.tail()}"
    return re.search(r"\[(\d+)\]: ", line).group(1)


def disconnect_line(postfix, qid):
    """The summary line (`disconnect from … ehlo=1 xforward=1 …`) of the session that
    queued `qid`: the first disconnect of its smtpd process after its `client=` line (one
    process serves one session after another)."""
    pid = session_of(postfix, qid)
    end = time.monotonic() + 10
    while True:
        lines = postfix.log().splitlines()
        start = next(i for i, l in enumerate(lines) if f"]: {qid}: client=" in l)
        for line in lines[start:]:
            if f"smtpd[{pid}]: disconnect from " in line:
                return line
        assert time.monotonic() < end, f"smtpd[{pid}] never disconnected\n{postfix.tail()}"
        time.sleep(0.05)


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: xforward_interop.py PATH/TO/aptsim [--keep]", file=sys.stderr)
        return 2
    aptsim = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv[2:]
    missing = postfix_missing()
    if not shutil.which("swaks"):
        missing.append("swaks")
    if missing:
        print(f"missing: {', '.join(missing)}; {INSTALL_HINT}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    work = tempfile.mkdtemp(prefix="aptsim-xforward-interop-")
    checks = Checks()
    proxies = []
    try:
        postfix = Postfix(work, {
            "xfwd": [],
            "untrusted": ["smtpd_authorized_xforward_hosts="],
            "timeout": ["smtpd_timeout=2s"],
            "hops": ["cleanup_service_name=cleanup_hops"],
        }, cleanups={"cleanup_hops": ["hopcount_limit=2"]})
        print(f"  Postfix {postfix.version}, private instance in {postfix.dir}", flush=True)

        def proxy(name, service, *flags):
            p = Proxy(aptsim, work, name, postfix.addr(service), "-v", *flags)
            proxies.append(p)
            return p

        xfwd = proxy("xfwd", "xfwd")
        untrusted = proxy("untrusted", "untrusted")
        timeout = proxy("timeout", "timeout", "--hold", "--analysis-time", "4s")
        hops = proxy("hops", "hops")
        hops_off = proxy("hops-no-received", "hops", "--no-received-header")

        def check_p1():
            marker = "check-p1"
            path = os.path.join(work, "p1.eml")
            # swaks ends the data with CRLF "." CRLF after the file's last byte.
            with open(path, "wb") as f:
                f.write(crlf(message(marker)).rstrip(b"\r\n"))
            r = subprocess.run(
                ["swaks", "--server", f"127.0.0.1:{xfwd.port}", "--local-interface",
                 CLIENT_IP, "--helo", "p1-client.test", "--from", f"{marker}@example.com",
                 "--to", "rcpt@example.net", "--data", f"@{path}", "--timeout", "30"],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, f"swaks failed: {r.stdout[-800:]}"
            assert "XFORWARD" not in r.stdout, "the proxy offered XFORWARD to its client"
            qid = queue_id(next(l for l in r.stdout.splitlines() if "queued as" in l))
            line = postfix.wait_log(rf"{qid}: client=")
            assert line and re.search(XFORWARD_LOG, line), f"{line}\n{postfix.tail()}"
            stats = disconnect_line(postfix, qid)
            assert " xforward=1 " in stats, stats
            listing = postfix.queued(qid)
            env = envelope(listing)
            want = {"log_client_address": "127.0.0.2", "log_client_name": "unknown",
                    "log_helo_name": "p1-client.test", "log_protocol_name": "ESMTP",
                    "rewrite_context": "remote", "client_address": "127.0.0.1"}
            wrong = {k: env.get(k) for k, v in want.items() if env.get(k) != v}
            assert not wrong, f"envelope {wrong}, expected {want}\n{listing[:1500]}"
            # Postfix's own Received: first (naming the real connection), then the proxy's.
            theirs, received, body = headers_of(listing)
            assert theirs.startswith(b"Received: from p1-client.test (") and \
                f"by mx.aptsim.test (Postfix) with ESMTP id {qid}".encode() in theirs, theirs
            assert received.startswith(b"Received: from p1-client.test ([127.0.0.2])\n"), \
                received
            assert body.startswith(b"From: check-p1@example.com\n"), body[:200]
            assert "upstream> XFORWARD NAME=[UNAVAILABLE] ADDR=127.0.0.2 PROTO=ESMTP " \
                "HELO=p1-client.test SOURCE=REMOTE" in xfwd.log(), xfwd.log()[-2000:]
            print(f"  Postfix: {line.split(': ', 1)[1]}; {qid}: log_client_address="
                  f"{env['log_client_address']} log_helo_name={env['log_helo_name']}", flush=True)

        checks.run("(q1) swaks -> proxy -> Postfix: XFORWARD names the client, Received: "
                   "on top", check_p1, xfwd)

        def check_p2():
            # Sent as xtext "p2+2B2B+3Dx.example"; unencoded it would decode as "p2+=x…".
            helo = "p2+2B=x.example"
            features, replies = smtplib_session(
                xfwd.port, helo, [message("check-p2-a"), message("check-p2-b")])
            assert "xforward" not in features, f"offered to the client: {features}"
            assert all(r.startswith("250 ") for r in replies), replies
            qids = [queue_id(r) for r in replies]
            for n, qid in enumerate(qids, 1):
                line = postfix.wait_log(rf"{qid}: client=")
                assert line and re.search(XFORWARD_LOG, line), f"{line}\n{postfix.tail()}"
                listing = postfix.queued(qid)
                env = envelope(listing)
                assert env.get("log_helo_name") == helo, \
                    f"log_helo_name {env.get('log_helo_name')!r}, sent {helo!r}"
                _, received, _ = headers_of(listing)
                assert received.startswith(b"Received: from [127.0.0.2] ([127.0.0.2])\n"), \
                    received
                assert f" id {n};".encode() in received, received
            stats = [disconnect_line(postfix, q) for q in qids]
            assert stats[0] == stats[1], f"two messages, two Postfix sessions: {stats}"
            assert " mail=2 " in stats[0] and " xforward=2 " in stats[0], stats[0]
            assert "upstream> XFORWARD NAME=[UNAVAILABLE] ADDR=127.0.0.2 PROTO=ESMTP " \
                "HELO=p2+2B2B+3Dx.example SOURCE=REMOTE" in xfwd.log(), xfwd.log()[-2000:]

        checks.run("(q2) smtplib, two messages, xtext HELO: XFORWARD for each transaction",
                   check_p2, xfwd)

        def check_p3():
            features, replies = smtplib_session(untrusted.port, "p3-client.test",
                                                [message("check-p3")])
            assert replies[0].startswith("250 "), replies
            qid = queue_id(replies[0])
            line = postfix.wait_log(rf"{qid}: client=")
            assert line and "orig_client" not in line and "[127.0.0.1]" in line, line
            stats = disconnect_line(postfix, qid)
            assert "xforward=" not in stats, stats
            listing = postfix.queued(qid)
            assert "127.0.0.2" not in listing.split("*** MESSAGE CONTENTS")[0], listing[:1500]
            assert "upstream> XFORWARD" not in untrusted.log(), untrusted.log()[-2000:]

        checks.run("(q3) Postfix that does not trust the proxy: no XFORWARD offered, none sent",
                   check_p3, untrusted)

        def check_p4():
            _, replies = smtplib_session(timeout.port, "p4-client.test",
                                         [message("check-p4", attachment=True)])
            assert replies[0].startswith("250 "), replies
            qid = queue_id(replies[0])
            line = postfix.wait_log(rf"{qid}: client=")
            assert line and re.search(XFORWARD_LOG, line), f"{line}\n{postfix.tail()}"
            assert postfix.wait_log(r"postfix-timeout/smtpd\[\d+\]: timeout after RCPT") \
                is not None, f"Postfix did not time out the held session\n{postfix.tail()}"
            log = timeout.log()
            assert log.count("upstream> XFORWARD ") == 2, \
                f"expected XFORWARD on both connections:\n{log[-3000:]}"
            # smtplib writes its verbs in lower case; the proxy relays them as they came.
            mails = re.findall(r"upstream> MAIL FROM:<check-p4@example\.com>", log, re.I)
            assert len(mails) == 2, f"MAIL sent {len(mails)} times:\n{log[-3000:]}"
            env = envelope(postfix.queued(qid))
            assert env.get("log_client_address") == "127.0.0.2", env

        checks.run("(q4) Postfix drops a held session: XFORWARD replayed after the reconnect",
                   check_p4, timeout)

        def check_p5():
            refused = data_refusal(hops.port, message("check-p5-on"))
            assert refused is not None and refused[0] == 554 and \
                "too many hops" in refused[1], f"through the proxy: {refused}"
            t = hops.txn("check-p5-on@example.com")
            assert t and t["result"] == "refused_upstream" and t["reply"] == "554", t
            refused = data_refusal(hops_off.port, message("check-p5-off"))
            assert refused is None, f"without the proxy's Received: header: {refused}"

        checks.run("(q5) Postfix hopcount_limit = 2 counts the proxy's hop; "
                   "--no-received-header removes it", check_p5, hops)

        checks.proxies_survived(proxies)
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        checks.failed += 1
    finally:
        stop_all()
    return checks.finish(work, keep, "logs, Postfix's configuration, queue and log")


def data_refusal(port, m):
    """Sends one message from CLIENT_IP; None if it is accepted, else (code, text) of the
    refusal of its data."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="p5-client.test",
                      source_address=(CLIENT_IP, 0), timeout=60) as s:
        try:
            s.sendmail(m["From"], [m["To"]], crlf(m))
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error.decode("utf-8", "replace")
    return None


if __name__ == "__main__":
    run_main(main)
