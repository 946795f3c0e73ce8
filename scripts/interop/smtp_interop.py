#!/usr/bin/env python3
"""Interop checks of the live SMTP proxy (`aptsim proxy smtp`) against mail software that
nobody here wrote: swaks and Python's smtplib as senders, Postfix's smtp-sink as the
receiving server.

Usage: smtp_interop.py PATH/TO/aptsim [--keep]

Needs swaks, smtp-sink and smtp-source (Debian package postfix) and python3:
scripts/interop/install-deps.sh installs them.

It builds nothing: give it the `aptsim` binary. The process and smtp-sink handling is in
harness.py, the messages and senders in smtp_messages.py. It starts smtp-sink and several proxies on
free ports of 127.0.0.1, runs the checks, stops every process it started (and only those),
and prints one line per check and a last line `N passed, M failed`. Exit status: 0 when all
passed, 1 when a check failed, 2 when a required program is missing or the setup failed.
With --keep (or on failure) the work folder with the logs and smtp-sink's dumps is kept.

The checks (behaviour ids from ../shared/design/BEHAVIOUR.md):
  (a) a clean message sent by swaks through the proxy reaches smtp-sink byte for byte: the
      same bytes as when swaks talks to smtp-sink directly, and the original message, under
      the proxy's own Received: header;
  (b) hold mode (S2, A1), smtplib, an EICAR attachment and a clean one: the default policy
      (high = deny) answers 554 after the analysis time and nothing reaches the sink; with
      high = drop the message arrives with the EICAR attachment replaced by the deny text
      and the clean attachment intact;
  (c) release mode (S1, the default) delivers before the data center answers (analysis
      time 30 s, delivered in under 5 s);
  (d) --dc-outage in hold mode lets the message through (S7);
  (e) swaks with --pipeline, hold mode, two messages on one connection: both delivered;
  (f) two smtplib clients at once with the same EICAR file, hold mode: one upload (X1),
      the verdict reaches both sessions, both get 554;
  (g) Postfix's smtp-source: 8 sessions in parallel, 100 messages of 3 recipients, several
      messages per connection, hold mode: every message arrives.
  (h) fail closed: EICAR one level past the MIME depth limit, and as part 2,001 of 2,100,
      in release and hold mode: what arrives carries the deny notice and no EICAR, read raw,
      base64 at any alignment, and decoded part by part by Python's email package;
  (i) no message stalls the others: while a message that takes seconds to extract (an
      archive inflating to 240 MiB) is being parsed, a clean sender on another connection
      is answered at once (before the heavy one), and both arrive;
  (j) --work-budget: that heavy message with a 0.3 s budget is cancelled, logged, and
      delivered as the deny notice in place of the whole message;
  (k) hostile commands: control bytes in RCPT, EHLO and MAIL parameters get 501 and never
      reach the sink or the log raw; SIZE= over the limit gets 552 at MAIL.
  (l) a client that pipelines 1.2 MB of commands while its message is held (past the
      session's 1 MiB of unread input) is not hung up on: the proxy stops reading its
      socket (live/src/read_ahead.rs) and TCP holds the rest, as against Postfix; after the
      verdict every command is answered, in order.

How smtp-sink stores a message (smtp-sink(1), DUMP FILE FORMAT): its own headers first
(X-Client-Addr, X-Client-Proto, X-Helo-Args, X-Mail-Args, X-Rcpt-Args, and a three-line
Received:), then the message as received with every line ended by LF instead of CRLF, then
one empty line. The checks strip those headers and that last line and compare the rest with
the original message, its CRLFs written as LF. smtp-sink's format cannot show whether a
line ended CRLF on the wire; the proxy itself refuses bare LF and writes only CRLF upstream
(core/src/smtp/wire/data.rs), and check (a) compares with what smtp-sink stores when swaks talks
to it directly, so any change the proxy made would show.
"""

import base64
import email
import email.policy
import hashlib
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    find_postfix_tool,
    stop_all,
    SetupError,
    Sink,
    read_dump,
    Proxy,
    Checks,
    run_main,
    first_difference,
    strip_proxy_received,
    RawSmtp,
    INSTALL_HINT,
)
from smtp_messages import (  # noqa: E402
    lf,
    clean_message,
    eicar_message,
    nested_eicar,
    many_parts_eicar,
    with_headers,
    carries_eicar,
    heavy_message,
    smtplib_send,
    swaks,
    EICAR,
)


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: smtp_interop.py PATH/TO/aptsim [--keep]", file=sys.stderr)
        return 2
    aptsim = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv[2:]
    missing = []
    if not shutil.which("swaks"):
        missing.append("swaks")
    sink_bin = find_postfix_tool("smtp-sink")
    source_bin = find_postfix_tool("smtp-source")
    if not sink_bin or not source_bin:
        missing.append("smtp-sink and smtp-source (package postfix)")
    if missing:
        print(f"missing: {', '.join(missing)}; {INSTALL_HINT}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    work = tempfile.mkdtemp(prefix="aptsim-interop-")
    checks = Checks()
    try:
        sink = Sink(sink_bin, work)
        up = sink.addr()
        release = Proxy(aptsim, work, "release", up)
        hold_deny = Proxy(aptsim, work, "hold-deny", up, "--hold", "--analysis-time", "1s")
        drop_policy = os.path.join(work, "drop.toml")
        with open(drop_policy, "w") as f:
            f.write('release_immediately = false\n[levels.high]\naction = "drop"\n')
        hold_drop = Proxy(aptsim, work, "hold-drop", up, "--policy", drop_policy,
                          "--analysis-time", "1s")
        slow = Proxy(aptsim, work, "release-slow-dc", up, "--analysis-time", "30s")
        outage = Proxy(aptsim, work, "hold-outage", up, "--hold", "--dc-outage")
        # Long enough that both senders of check (f) are surely held at once.
        x1 = Proxy(aptsim, work, "hold-x1", up, "--hold", "--analysis-time", "3s")
        budget = Proxy(aptsim, work, "release-budget", up, "--work-budget", "300ms")

        # (a) byte for byte ------------------------------------------------------------
        def check_a():
            msg = clean_message("check-a@example.com", "check-a")
            ref = clean_message("check-a-direct@example.com", "check-a-direct")
            # swaks ends the data with CRLF "." CRLF after the file's last byte: a file
            # ending in CRLF would gain an empty line. So the files lack the last CRLF.
            path, ref_path = os.path.join(work, "a.eml"), os.path.join(work, "a-direct.eml")
            with open(path, "wb") as f:
                f.write(msg[:-2])
            with open(ref_path, "wb") as f:
                f.write(ref[:-2])
            r = swaks(sink.port, "check-a-direct@example.com", ref_path)
            assert r.returncode == 0, f"swaks to smtp-sink directly failed: {r.stdout[-500:]!r}"
            r = swaks(release.port, "check-a@example.com", path)
            assert r.returncode == 0, f"swaks through the proxy failed: {r.stdout[-800:]!r}"
            direct = sink.find("check-a-direct@interop")
            got = sink.find("check-a@interop")
            assert direct is not None, "the direct reference message never reached the sink"
            assert got is not None, "the message never reached the sink"
            meta, body = got
            _, ref_body = direct
            assert meta.get("X-Mail-Args") == ["<check-a@example.com>"], meta
            assert meta.get("X-Rcpt-Args") == ["<rcpt@example.net>"], meta
            assert meta.get("X-Helo-Args") == ["interop.test"], meta
            # The proxy's hop on top (RFC 5321 4.4), then the message as it was sent.
            received, body = strip_proxy_received(body)
            assert received is not None and received.startswith(
                b"Received: from interop.test ([127.0.0.1])\n"), body[:300]
            assert body == lf(msg), first_difference(body, lf(msg))
            # The same bytes as without the proxy, once the marker differences are undone.
            undone = ref_body.replace(b"check-a-direct", b"check-a")
            assert body == undone, first_difference(body, undone)
            t = release.txn("check-a@example.com")
            assert t and t["result"] == "delivered" and t["reply"] == "250", t

        checks.run("(a) swaks -> proxy -> smtp-sink: clean message byte for byte", check_a,
                   release)

        # (b) hold, EICAR, deny then drop ----------------------------------------------
        def check_b_deny():
            sender = "check-b-deny@example.com"
            msg, _ = eicar_message(sender, "check-b-deny")
            elapsed, refused = smtplib_send(hold_deny.port, sender, msg)
            assert refused is not None, "smtplib's message was accepted; expected 554"
            assert refused[0] == 554, f"expected SMTPDataError 554, got {refused}"
            assert elapsed >= 0.9, f"answered after {elapsed:.2f}s, before the 1s analysis"
            assert sink.find("check-b-deny@interop", timeout=1.0) is None, \
                "a denied message reached the sink"
            t = hold_deny.txn(sender)
            assert t and t["action"] == "deny" and t["result"] == "denied", t
            assert "eicar.com:44d88612fea8a8f36de82e1278abb02f:high" in t["files"], t

        checks.run("(b1) smtplib, --hold, EICAR, default policy: 554 and nothing delivered",
                   check_b_deny, hold_deny)

        def check_b_drop():
            sender = "check-b-drop@example.com"
            msg, clean = eicar_message(sender, "check-b-drop")
            elapsed, refused = smtplib_send(hold_drop.port, sender, msg)
            assert refused is None, f"refused: {refused}"
            assert elapsed >= 0.9, f"answered after {elapsed:.2f}s, before the 1s analysis"
            got = sink.find("check-b-drop@interop")
            assert got is not None, "the message never reached the sink"
            _, body = got
            assert EICAR not in body, "the EICAR string reached the sink"
            parsed = email.message_from_bytes(body, policy=email.policy.default)
            texts, pdf = [], None
            for part in parsed.walk():
                if part.get_filename() == "notes.pdf":
                    pdf = part.get_payload(decode=True)
                elif part.get_content_type() == "text/plain":
                    texts.append(part.get_content())
            assert pdf == clean, "the clean attachment did not arrive intact"
            assert any("eicar.com" in t and "removed" in t for t in texts), \
                f"no deny text naming eicar.com among the text parts: {texts!r}"
            t = hold_drop.txn(sender)
            assert t and t["action"] == "drop" and t["result"] == "delivered", t

        checks.run("(b2) smtplib, hold, EICAR, high = drop: deny text in place, rest intact",
                   check_b_drop, hold_drop)

        # (c) release mode delivers before the verdict ---------------------------------
        def check_c():
            sender = "check-c@example.com"
            msg, _ = eicar_message(sender, "check-c", eicar=EICAR + b" release")
            elapsed, refused = smtplib_send(slow.port, sender, msg)
            assert refused is None, f"refused: {refused}"
            assert elapsed < 5, f"release mode took {elapsed:.2f}s to answer"
            assert sink.find("check-c@interop", timeout=5.0 - elapsed) is not None, \
                "not at the sink within 5s"
            t = slow.txn(sender)
            assert t and t["result"] == "delivered" and t["held"] == "-", t
            assert ":unjudged" in t["files"], t
            assert "verdict md5=" not in slow.log(), "the data center answered already?"

        checks.run("(c) release mode (S1) delivers before the data center answers (30s)",
                   check_c, slow)

        # (d) outage lets mail through in hold mode ------------------------------------
        def check_d():
            sender = "check-d@example.com"
            msg, _ = eicar_message(sender, "check-d", eicar=EICAR + b" outage")
            elapsed, refused = smtplib_send(outage.port, sender, msg)
            assert refused is None, f"refused: {refused}"
            got = sink.find("check-d@interop")
            assert got is not None, "the message never reached the sink"
            t = outage.txn(sender)
            assert t and t["result"] == "delivered" and t["action"] == "allow", t
            assert "(unreachable)" in t["files"], t
            assert "data center unreachable" in outage.log(), "no upload was refused"

        checks.run("(d) --dc-outage, hold mode: the message goes through (S7)", check_d, outage)

        # (e) pipelining, two messages on one connection -------------------------------
        def check_e():
            senders = ["check-e1@example.com", "check-e2@example.com"]
            path = os.path.join(work, "e.eml")
            # swaks sends one message per connection; --pipeline groups MAIL, RCPT, DATA.
            for sender in senders:
                with open(path, "wb") as f:
                    f.write(clean_message(sender, sender.split("@")[0])[:-2])
                r = swaks(hold_deny.port, sender, path, "--pipeline")
                assert r.returncode == 0, f"swaks --pipeline failed: {r.stdout[-800:]!r}"
            # smtplib: two messages, one connection.
            with smtplib.SMTP("127.0.0.1", hold_deny.port, timeout=30) as s:
                for n in (3, 4):
                    sender = f"check-e{n}@example.com"
                    s.sendmail(sender, ["rcpt@example.net"],
                               clean_message(sender, f"check-e{n}"))
                    senders.append(sender)
            for sender in senders:
                marker = sender.split("@")[0] + "@interop"
                assert sink.find(marker) is not None, f"{sender}'s message never arrived"
                t = hold_deny.txn(sender)
                assert t and t["result"] == "delivered", t

        checks.run("(e) hold mode: swaks --pipeline, and two messages on one connection",
                   check_e, hold_deny)

        # (f) two sessions, one upload, the verdict reaches both -----------------------
        def check_f():
            eicar = EICAR + b" shared"
            results = {}

            def send(n):
                sender = f"check-f{n}@example.com"
                msg, _ = eicar_message(sender, f"check-f{n}", eicar=eicar)
                results[n] = smtplib_send(x1.port, sender, msg)

            threads = [threading.Thread(target=send, args=(n,)) for n in (1, 2)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=60)
            for n in (1, 2):
                assert n in results, f"client {n} did not finish"
                elapsed, refused = results[n]
                assert refused is not None and refused[0] == 554, \
                    f"client {n}: expected 554, got {refused}"
                t = x1.txn(f"check-f{n}@example.com")
                assert t and t["action"] == "deny" and t["result"] == "denied", t
            md5 = hashlib.md5(eicar).hexdigest()
            lines = [l for l in x1.log().splitlines() if " submit " in l and md5 in l]
            uploads = [l for l in lines if l.endswith(" upload")]
            waits = [l for l in lines if l.endswith("(X1)")]
            assert len(uploads) == 1 and len(waits) == 1, \
                f"expected one upload and one X1 wait of {md5}, got {lines}"

        checks.run("(f) two clients, same EICAR file, hold: one upload (X1), both get 554",
                   check_f, x1)

        # (g) Postfix's own SMTP client, in parallel -------------------------------------
        def check_g():
            count = 100
            r = subprocess.run(
                [source_bin, "-s", "8", "-m", str(count), "-r", "3", "-l", "3000", "-d",
                 "-M", "interop.test", "-f", "check-g@example.com", "-t", "rcpt@example.net",
                 f"127.0.0.1:{hold_deny.port}"],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
            assert r.returncode == 0, f"smtp-source failed: {r.stderr[-800:]!r}"
            end = time.monotonic() + 10
            while True:
                arrived = 0
                for name in os.listdir(sink.dir):
                    head = read_dump(os.path.join(sink.dir, name), 1000)
                    if head and b"X-Mail-Args: <check-g@example.com>" in head:
                        arrived += 1
                if arrived >= count or time.monotonic() > end:
                    break
                time.sleep(0.1)
            assert arrived == count, f"{arrived} of {count} messages arrived"
            lines = [l for l in hold_deny.log().splitlines()
                     if " txn " in l and "from=<check-g@example.com>" in l]
            ok = [l for l in lines
                  if "result=delivered" in l and l.count("rcpt@example.net>") == 3]
            assert len(ok) == count, f"{len(ok)} delivered of {len(lines)} logged: {lines[:3]}"

        checks.run("(g) Postfix smtp-source, 8 sessions, 100 messages x 3 recipients, hold",
                   check_g, hold_deny)

        # (h) fail closed past the extraction limits ------------------------------------
        def check_h():
            cases = [
                ("depth33", nested_eicar(33)),
                ("part2001", many_parts_eicar(2100, 2001)),
            ]
            for proxy in (release, hold_deny):
                for label, mime in cases:
                    sender = f"check-h-{label}-{proxy.name}@example.com"
                    msg = with_headers(sender, f"check-h-{label}-{proxy.name}", mime)
                    assert carries_eicar(msg), "the test message must carry EICAR"
                    _, refused = smtplib_send(proxy.port, sender, msg)
                    assert refused is None, f"{label} via {proxy.name}: refused {refused}"
                    got = sink.find(f"check-h-{label}-{proxy.name}@interop")
                    assert got is not None, f"{label} via {proxy.name} never arrived"
                    _, body = got
                    assert not carries_eicar(body.replace(b"\n", b"\r\n")), \
                        f"{label} via {proxy.name}: EICAR delivered"
                    assert b"could not be scanned" in body, \
                        f"{label} via {proxy.name}: no deny notice in {body[:400]!r}"
                    t = proxy.txn(sender)
                    assert t and t["action"] == "drop", t
                    assert "unscanned-content" in t["files"], t

        checks.run("(h) EICAR past the depth and part limits never arrives (release, hold)",
                   check_h, release)

        # (i) a heavy message does not stall a clean sender ----------------------------
        heavy = heavy_message("check-i-heavy@example.com", "check-i-heavy")

        def check_i():
            with smtplib.SMTP("127.0.0.1", release.port, timeout=120) as s:
                s.ehlo("interop.test")
                s.mail("check-i-heavy@example.com")
                s.rcpt("rcpt@example.net")
                code, _ = s.docmd("DATA")
                assert code == 354, code
                # No line of it starts with a dot, and it ends with CRLF: the final dot now.
                s.send(heavy + b".\r\n")
                # The proxy has the heavy message and is extracting it: a clean sender now.
                t0 = time.monotonic()
                _, refused = smtplib_send(release.port, "check-i-clean@example.com",
                                          clean_message("check-i-clean@example.com",
                                                        "check-i-clean"))
                clean_at = time.monotonic()
                code, text = s.getreply()
                heavy_at = time.monotonic()
            assert refused is None, f"the clean sender was refused: {refused}"
            assert code == 250, f"heavy: {code} {text!r}"
            assert clean_at < heavy_at, \
                "the clean sender was answered only after the heavy message was extracted"
            print(f"  clean sender answered in {clean_at - t0:.3f}s, "
                  f"{heavy_at - clean_at:.2f}s before the heavy message", flush=True)
            assert sink.find("check-i-clean@interop") is not None
            assert sink.find("check-i-heavy@interop", timeout=30) is not None

        checks.run("(i) a clean sender is answered while a heavy message is being extracted",
                   check_i, release)

        # (j) the per-message work budget ----------------------------------------------
        def check_j():
            msg = heavy.replace(b"check-i-heavy", b"check-j-heavy")
            _, refused = smtplib_send(budget.port, "check-j-heavy@example.com", msg, 120)
            assert refused is None, refused
            log = budget.log()
            assert "budget: cancelled" in log, log[-2000:]
            got = sink.find("check-j-heavy@interop")
            assert got is not None, "never arrived"
            _, body = got
            assert b"heavy.zip" not in body and b"could not be scanned" in body, body[:600]
            t = budget.txn("check-j-heavy@example.com")
            assert t and t["action"] == "drop" and "unscanned-content" in t["files"], t

        checks.run("(j) --work-budget: past it the message is unscannable as a whole",
                   check_j, budget)

        # (k) hostile commands ---------------------------------------------------------
        def check_k():
            with socket.create_connection(("127.0.0.1", release.port), timeout=10) as c:
                f = c.makefile("rb")

                def reply():
                    lines = []
                    while True:
                        line = f.readline()
                        lines.append(line)
                        if len(line) < 4 or line[3:4] != b"-":
                            return b"".join(lines)

                assert reply().startswith(b"220")
                c.sendall(b"EHLO evil\x1b]0;pwned\x07\r\n")
                r = reply()
                assert r.startswith(b"501"), r
                c.sendall(b"EHLO check-k.test\r\n")
                assert reply().startswith(b"250")
                c.sendall(b"MAIL FROM:<check-k@example.com> SIZE=999999999999\r\n")
                r = reply()
                assert r.startswith(b"552 5.3.4"), r
                c.sendall(b"MAIL FROM:<check-k@example.com> NOTIFY=\x1b[31m\r\n")
                assert reply().startswith(b"501"), "control bytes in MAIL parameters"
                c.sendall(b"MAIL FROM:<check-k@example.com>\r\n")
                assert reply().startswith(b"250")
                c.sendall(b"RCPT TO:<a\x00b\x1b[2J@example.net>\r\n")
                r = reply()
                assert r.startswith(b"501"), r
                c.sendall(b"QUIT\r\n")
                reply()
            with open(release.log_path, "rb") as lf_:
                raw_log = lf_.read()
            assert b"\x1b" not in raw_log and b"\x00" not in raw_log, \
                "a control byte reached the log"
            for name in os.listdir(sink.dir):
                head = read_dump(os.path.join(sink.dir, name), 2000)
                assert not head or b"\x1b" not in head, f"a control byte reached the sink ({name})"

        checks.run("(k) control bytes get 501 and reach neither sink nor log; SIZE= checked",
                   check_k, release)

        # (l) a client far ahead of its replies during a hold ---------------------------
        def check_l():
            sender = "check-l@example.com"
            # A file no other check sends, so that the message is held for its analysis.
            blob = base64.encodebytes(b"check-l " * 400).replace(b"\n", b"\r\n")
            msg = (b"From: <check-l@example.com>\r\nTo: <rcpt@example.net>\r\n"
                   b"Subject: check-l\r\nMIME-Version: 1.0\r\n"
                   b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
                   b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                   b'--b\r\nContent-Type: application/octet-stream; name="l.bin"\r\n'
                   b"Content-Transfer-Encoding: base64\r\n\r\n" + blob + b"--b--\r\n")
            # Then, without waiting: a transaction of 700 recipients, 600 of them with
            # 1,900-byte addresses (answered 452 by the proxy): 1.2 MB, past the session's
            # 1 MiB of unread input. A paused socket leaves it to TCP instead.
            ahead = [b"MAIL FROM:<check-l2@example.com>\r\n"]
            ahead += [b"RCPT TO:<l%d@example.net>\r\n" % n for n in range(100)]
            ahead += [b"RCPT TO:<%s%d@example.net>\r\n" % (b"x" * 1900, n)
                      for n in range(600)]
            ahead += [b"RSET\r\n", b"QUIT\r\n"]
            ahead = b"".join(ahead)
            assert len(ahead) > 1 << 20
            with RawSmtp(x1.port, timeout=60) as c:
                assert c.reply().startswith(b"220")
                assert c.command(b"EHLO check-l.test\r\n").startswith(b"250")
                assert c.command(b"MAIL FROM:<check-l@example.com>\r\n").startswith(b"250")
                assert c.command(b"RCPT TO:<rcpt@example.net>\r\n").startswith(b"250")
                assert c.command(b"DATA\r\n").startswith(b"354")
                c.send(msg + b".\r\n")
                writer = threading.Thread(target=c.send, args=(ahead,))
                writer.start()
                replies = c.rest()
                writer.join(timeout=60)
            codes = [r[:3] for r in replies]
            assert b"421" not in codes, f"hung up on: {replies[codes.index(b'421')]!r}"
            expected = [b"250", b"250"] + [b"250"] * 100 + [b"452"] * 600 + [b"250", b"221"]
            at = next((i for i, (a, b) in enumerate(zip(codes, expected)) if a != b),
                      min(len(codes), len(expected)))
            assert codes == expected, \
                f"{len(codes)} replies, not {len(expected)}; reply {at}: {replies[at:at + 1]!r}"
            t = x1.txn(sender)
            assert t and t["result"] == "delivered", t

        checks.run("(l) pipelining 1.2 MB during a hold: paused by TCP, not hung up",
                   check_l, x1)

        checks.proxies_survived((release, hold_deny, hold_drop, slow, outage, x1, budget))
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        checks.failed += 1
    finally:
        stop_all()
    return checks.finish(work, keep, "logs and smtp-sink dumps")


if __name__ == "__main__":
    run_main(main)
