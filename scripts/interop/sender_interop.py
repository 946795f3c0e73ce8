#!/usr/bin/env python3
"""Interop checks of the live SMTP proxy (`aptsim proxy smtp`) with what real senders do at
the edges of a message: how Exim ends a session, the bare-LF mail of Python's smtplib and
of smuggling attempts, and the texts of the replies a sender reads. They continue the
lettering of smtp_interop.py (a)-(k).

Usage: sender_interop.py PATH/TO/aptsim [--keep]

Needs smtp-sink (Debian package postfix), python3, and Exim unpacked by
scripts/interop/install-deps.sh (see exim.py for how it runs: its own configuration and
spool, unprivileged, as a client only). Exit status and output as in smtp_interop.py: one
line per check, a last line `N passed, M failed`; 0 when all passed, 1 when a check failed,
2 when a required program is missing or the setup failed. With --keep (or on failure) the
work folder with the logs, Exim's spools and smtp-sink's dumps is kept.

The checks (behaviour ids from ../shared/design/BEHAVIOUR.md; sender habits from
../shared/reference/SMTP-SENDERS.md):
  (l) Exim's end of session. Exim >= 4.95 on plain TCP, when the server offered PIPELINING
      and it is the message's first delivery attempt and nothing else waits for the host,
      writes the final "." and QUIT together and then shuts down its sending side
      (SMTP-SENDERS.md section 1), so the server sees end of stream before it has replied
      to the ".". That half-close is not an abort: the proxy must still reply to the "."
      and to QUIT.
      (l1) Exim -> a recording server (recorder.py) that waits 0.5 s before its reply to
           the ".": QUIT and end of stream arrive first. This shows that the Exim in use
           does it, so that (l2) and (l3) test what they claim;
      (l2) Exim -> proxy --hold -> smtp-sink, a message with a clean attachment (held for
           the 1 s analysis): delivered exactly once at the first attempt, Exim logs "=>"
           and "Completed" (not "Remote host closed connection in response to end of
           data" and a defer), nothing left in its queue, the proxy logs delivered/250;
      (l3) the same through a release-mode proxy (S1).
  (m) Bare LF. Python's smtplib.SMTP.sendmail sends a bytes message unchanged, LF-only
      lines included. With the default `bare_newline = normalize` (as Postfix 3.9) the
      proxy accepts it and relays it with CRLF line ends; a lone "." on a line a bare LF
      began or ends is content and is dot-stuffed when relayed. With BARE_NEWLINE_FLAG
      reject it answers 550. A recording server upstream shows the bytes on the wire.
      (m1) smtplib, LF-only message, normalize: 250, relayed in CRLF, byte for byte (under
           the proxy's Received: header, in m2 too);
      (m2) raw "<LF>.<LF>" inside data, normalize: 250, one message, the dot stuffed;
      (m3) smtplib, LF-only message, reject: 550 and nothing relayed;
      (m4) smuggling (CVE-2023-51764/5/6): a second MAIL/RCPT/DATA after "<LF>.<LF>",
           "<CR><LF>.<LF>", "<LF>.<CR><LF>", "<CR>.<CR>", "<CR><LF>.<CR>", "<CR>.<CR><LF>",
           "<LF><CR><LF>.<LF>" or "<CR><LF>.<LF><CR><LF>" inside the data, sent with the
           final "." and QUIT in one write, normalize: the sender gets one reply to its
           data (250) and then 221; the upstream gets one message, in canonical CRLF with
           no unstuffed lone ".", and never the smuggled MAIL as a command;
      (m5) the same with BARE_NEWLINE_FLAG reject: 550 then 221, nothing upstream.
  (n) Reply texts (hold mode, EICAR, default policy: 554).
      (n1) a file with a UTF-8 name (RFC 2231, RFC 2047 and raw 8-bit): the 554 is pure
           ASCII, since SMTPUTF8 was not negotiated (RFC 6531 section 3.7.4.2);
      (n2) a file with an empty name: the 554 does not read "refused:  (".
"""

import os
import pwd
import re
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    find_postfix_tool,
    stop_all,
    SetupError,
    Sink,
    Proxy,
    Checks,
    run_main,
    RawSmtp,
    first_difference,
    strip_proxy_received,
)
from smtp_messages import EICAR  # noqa: E402
from recorder import Recorder  # noqa: E402
from exim import Exim, find_exim, EXIM_DIR, EXIM_USER  # noqa: E402

# The proxy's setting for bare LF / bare CR in message data: `normalize` (the default) or
# `reject`. One place for the flag's name.
BARE_NEWLINE_FLAG = "--bare-newline"

INSTALL_HINT = "install them with: sudo bash scripts/interop/install-deps.sh"


def exim_message(sender, marker):
    """A message as Exim's spool keeps it (LF line ends), with a clean attachment so that a
    hold-mode proxy holds it for the analysis."""
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "rcpt@example.net"
    m["Subject"] = f"interop exim {marker}"
    m["Message-ID"] = f"<{marker}@interop.test>"
    m.set_content("Sent by Exim.\n.\n..two dots\nend\n")
    m.add_attachment(f"%PDF-1.4 harmless {marker}\n".encode() * 50, maintype="application",
                     subtype="pdf", filename="notes.pdf")
    return m.as_bytes()


def stuff(data):
    """Dot-stuffing (RFC 5321 §4.5.2) of data whose lines all end in CRLF."""
    return re.sub(rb"(?m)^\.", b"..", data)


def bare_line_ends(raw):
    """Offsets of bare LFs and bare CRs."""
    return [i for i, b in enumerate(raw)
            if (b == 10 and (i == 0 or raw[i - 1] != 13))
            or (b == 13 and (i + 1 == len(raw) or raw[i + 1] != 10))]


def cmdlog(exim):
    """Exim's summary of the SMTP dialogue from its debug output."""
    found = re.findall(r"cmdlog: '([^']*)'", exim.stderr)
    return found[-1] if found else "(no cmdlog line)"


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: sender_interop.py PATH/TO/aptsim [--keep]", file=sys.stderr)
        return 2
    aptsim = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv[2:]
    missing = []
    sink_bin = find_postfix_tool("smtp-sink")
    if not sink_bin:
        missing.append("smtp-sink (package postfix)")
    exim_bin = find_exim()
    if not exim_bin:
        missing.append(f"exim (unpacked into {EXIM_DIR})")
    try:
        pwd.getpwnam(EXIM_USER)
    except KeyError:
        missing.append(f"the system user {EXIM_USER} that Debian's exim binary needs")
    if missing:
        print(f"missing: {', '.join(missing)}; {INSTALL_HINT}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    work = tempfile.mkdtemp(prefix="aptsim-sender-interop-")
    checks = Checks()
    recorders = []
    try:
        sink = Sink(sink_bin, work)
        up = sink.addr()
        hold = Proxy(aptsim, work, "hold", up, "--hold", "--analysis-time", "1s", "-v")
        release = Proxy(aptsim, work, "release", up, "-v")
        rec = Recorder(name="recorder")
        recorders.append(rec)
        normalize = Proxy(aptsim, work, "normalize", rec.addr(), "-v")
        try:
            reject = Proxy(aptsim, work, "reject", rec.addr(), BARE_NEWLINE_FLAG, "reject",
                           "-v")
            reject_error = None
        except SetupError as e:
            reject, reject_error = None, str(e)

        def need_reject():
            assert reject is not None, \
                f"the proxy does not start with {BARE_NEWLINE_FLAG} reject: {reject_error}"

        exim_version = Exim(exim_bin, work, "version", 25).version()
        print(f"  Exim {exim_version} from {exim_bin}, run as "
              f"{EXIM_USER if os.geteuid() == 0 else 'the calling user'}", flush=True)

        # (l) Exim's pipelined QUIT and half-close ---------------------------------------
        def check_l1():
            linger = Recorder(linger_after_dot=0.5, name="linger")
            recorders.append(linger)
            exim = Exim(exim_bin, work, "l1", linger.port)
            sender, marker = "check-l1@example.com", "check-l1"
            r = exim.send(exim_message(sender, marker), sender, "rcpt@example.net")
            assert r.returncode == 0, f"exim exited {r.returncode}\n{exim.tail()}"
            got = linger.wait_messages(marker, 1)
            assert len(got) == 1, f"{len(got)} messages at the recorder\n{exim.tail()}"
            session = next(s for s in linger.sessions if s.messages)
            after = session.after_dot[0]
            assert after["bytes"] == b"QUIT\r\n" and after["eof"], (
                f"Exim {exim_version} did not pipeline QUIT and half-close: within 0.5 s "
                f"after the '.' the recorder got {after['bytes']!r}, end of stream "
                f"{after['eof']}; so (l2) and (l3) do not test the half-close\n{exim.tail()}")
            assert "will pipeline QUIT" in exim.stderr and "SMTP(shutdown)>>" in exim.stderr, \
                f"Exim's debug output lacks 'will pipeline QUIT' / 'SMTP(shutdown)>>'\n" \
                f"{exim.tail()}"
            assert exim.wait_log(r"=> rcpt@example\.net .*C=\"250 ") is not None, exim.tail()
            assert exim.wait_log(r" Completed$") is not None, exim.tail()
            assert session.ended == "quit", f"session ended by {session.ended}"
            assert cmdlog(exim).endswith(":.:QUIT:250:221"), exim.tail()
            print(f"  Exim {exim_version} -> recorder: '.' and QUIT then end of stream, "
                  f"before the '.' reply (with the '.': {after['with_dot']!r}); "
                  f"cmdlog {cmdlog(exim)}", flush=True)

        checks.run("(l1) Exim pipelines QUIT after '.' and half-closes (recording server)",
                   check_l1)

        def exim_through(proxy, name):
            exim = Exim(exim_bin, work, name, proxy.port)
            sender, marker = f"check-{name}@example.com", f"check-{name}"
            r = exim.send(exim_message(sender, marker), sender, "rcpt@example.net")
            observed = f"\n  exim cmdlog {cmdlog(exim)}\n{exim.tail()}"
            assert r.returncode == 0, f"exim exited {r.returncode}{observed}"
            assert "will pipeline QUIT" in exim.stderr and "SMTP(shutdown)>>" in exim.stderr, \
                f"Exim did not pipeline QUIT and half-close this time: the check is moot" \
                f"{observed}"
            closed = exim.wait_log(r"Remote host closed connection", timeout=0)
            deferred = exim.wait_log(r" == rcpt@example\.net ", timeout=0)
            assert closed is None and deferred is None, \
                f"Exim deferred the message:\n  {closed}\n  {deferred}{observed}"
            delivered = exim.wait_log(r" => rcpt@example\.net .*C=\"250 ")
            assert delivered is not None, f"no '=>' delivery line in Exim's log{observed}"
            assert exim.wait_log(r" Completed$") is not None, f"no 'Completed'{observed}"
            assert not exim.queued(), f"left in Exim's queue: {exim.queued()}{observed}"
            # Exim's own summary of the dialogue: the "." answered 250, the QUIT 221.
            assert cmdlog(exim).endswith(":.:QUIT:250:221"), \
                f"Exim did not get 250 to '.' and 221 to QUIT{observed}"
            assert not exim.problems(), f"Exim's panic log: {exim.problems()}"
            n = 0
            for _ in range(50):
                n = sink.count(f"{marker}@interop")
                if n:
                    break
                time.sleep(0.1)
            assert n == 1, f"{n} copies reached smtp-sink (expected exactly 1){observed}"
            t = proxy.txn(sender)
            assert t and t["result"] == "delivered" and t["reply"] == "250", \
                f"proxy txn: {t}{observed}"

        checks.run("(l2) Exim -> proxy --hold: '.' + QUIT + half-close gets 250 and 221, "
                   "delivered once", lambda: exim_through(hold, "l2"), hold)
        checks.run("(l3) Exim -> proxy (release): '.' + QUIT + half-close gets 250 and 221, "
                   "delivered once", lambda: exim_through(release, "l3"), release)

        # (m) bare LF ----------------------------------------------------------------------
        def lf_message(marker):
            # What EmailMessage.as_bytes() gives, and a file read from disk: LF only. The
            # "." and ".x" lines go out as ".." and "..x": smtplib dot-stuffs at every
            # LF (its _quote_periods), the proxy unstuffs them as content lines.
            return (f"From: <{marker}@example.com>\nTo: <rcpt@example.net>\n"
                    f"Subject: bare LF {marker}\nMessage-ID: <{marker}@interop.test>\n\n"
                    "line one\n.\n..two dots\n.x\nlast line\n").encode()

        def smtplib_lf(port, marker):
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.ehlo("interop.test")
                try:
                    s.sendmail(f"{marker}@example.com", ["rcpt@example.net"],
                               lf_message(marker))
                    return None
                except smtplib.SMTPDataError as e:
                    return (e.smtp_code, e.smtp_error)

        def check_m1():
            marker = "check-m1"
            refused = smtplib_lf(normalize.port, marker)
            assert refused is None, f"smtplib's LF-only message was refused: {refused}"
            got = rec.wait_messages(marker, 1)
            assert len(got) == 1, f"{len(got)} messages upstream"
            received, raw = strip_proxy_received(got[0][2])
            assert received is not None, f"no Received: header from the proxy: {got[0][2][:300]!r}"
            # Every LF a CRLF. smtplib adds CRLF after a message that does not end in CRLF
            # before its ".": after the LF that ends "last line", so an empty line.
            content = lf_message(marker).replace(b"\n", b"\r\n") + b"\r\n"
            assert raw == stuff(content), \
                "relayed bytes are not the message in CRLF, dot-stuffed: " \
                + first_difference(raw, stuff(content))
            t = normalize.txn(f"{marker}@example.com")
            assert t and t["result"] == "delivered" and t["reply"] == "250", t

        checks.run("(m1) smtplib LF-only message, normalize (default): 250, relayed in CRLF",
                   check_m1, normalize)

        def check_m2():
            marker = "check-m2"
            head = (f"From: <{marker}@example.com>\r\nTo: <rcpt@example.net>\r\n"
                    f"Subject: {marker}\r\nMessage-ID: <{marker}@interop.test>\r\n\r\n").encode()
            with RawSmtp(normalize.port) as c:
                assert c.reply().startswith(b"220")
                assert c.command(b"EHLO interop.test\r\n").startswith(b"250")
                assert c.command(f"MAIL FROM:<{marker}@example.com>\r\n".encode()) \
                    .startswith(b"250")
                assert c.command(b"RCPT TO:<rcpt@example.net>\r\n").startswith(b"250")
                assert c.command(b"DATA\r\n").startswith(b"354")
                r = c.command(head + b"before\n.\nafter\r\n.\r\n")
                assert r.startswith(b"250"), f"data with <LF>.<LF> inside: {r!r}"
                quit_reply = c.command(b"QUIT\r\n")
                assert quit_reply.startswith(b"221"), f"to QUIT: {quit_reply!r}"
            got = rec.wait_messages(marker, 1)
            assert len(got) == 1, f"{len(got)} messages upstream"
            want = head + b"before\r\n..\r\nafter\r\n"
            received, raw = strip_proxy_received(got[0][2])
            assert received is not None, f"no Received: header from the proxy: {got[0][2][:300]!r}"
            assert raw == want, first_difference(raw, want)

        checks.run("(m2) raw <LF>.<LF> inside data, normalize: content, relayed as CRLF ..",
                   check_m2, normalize)

        def check_m3():
            need_reject()
            marker = "check-m3"
            refused = smtplib_lf(reject.port, marker)
            assert refused is not None and refused[0] == 550, \
                f"expected SMTPDataError 550, got {refused}"
            assert not rec.wait_messages(marker, 1, timeout=1.0), "a message was relayed"

        checks.run(f"(m3) smtplib LF-only message, {BARE_NEWLINE_FLAG} reject: 550",
                   check_m3, reject)

        smuggle_ends = [
            ("lf-dot-lf", b"\n.\n"),
            ("crlf-dot-lf", b"\r\n.\n"),
            ("lf-dot-crlf", b"\n.\r\n"),
            ("cr-dot-cr", b"\r.\r"),
            ("crlf-dot-cr", b"\r\n.\r"),
            ("cr-dot-crlf", b"\r.\r\n"),
            ("lf-crlf-dot-lf", b"\n\r\n.\n"),
            ("crlf-dot-lf-crlf", b"\r\n.\n\r\n"),
        ]

        def smuggle(proxy, mode):
            bad = []
            for label, end in smuggle_ends:
                marker = f"check-m4-{mode}-{label}"
                smuggled = f"smuggled-{mode}-{label}@evil.test"
                data = (f"From: <{marker}@example.com>\r\nTo: <rcpt@example.net>\r\n"
                        f"Subject: {marker}\r\nMessage-ID: <{marker}@interop.test>\r\n\r\n"
                        "first message").encode() + end + (
                        f"MAIL FROM:<{smuggled}>\r\nRCPT TO:<rcpt@example.net>\r\nDATA\r\n"
                        f"Subject: smuggled\r\n\r\nsecond message {marker}\r\n").encode()
                with RawSmtp(proxy.port) as c:
                    c.reply()
                    c.command(b"EHLO interop.test\r\n")
                    c.command(f"MAIL FROM:<{marker}@example.com>\r\n".encode())
                    c.command(b"RCPT TO:<rcpt@example.net>\r\n")
                    r = c.command(b"DATA\r\n")
                    assert r.startswith(b"354"), f"{label}: DATA got {r!r}"
                    # The data, its end, and QUIT in one write, as a smuggler pipelines.
                    c.send(data + b".\r\nQUIT\r\n")
                    replies = c.rest()
                want = b"250" if mode == "normalize" else b"550"
                codes = [r[:3] for r in replies]
                if codes != [want, b"221"]:
                    bad.append(f"{label}: the sender got {replies!r} (expected {want} then 221)")
                got = rec.wait_messages(marker, 1, timeout=1.0 if want == b"550" else 5.0)
                if any(smuggled.encode() in c and c[:4].upper() == b"MAIL"
                       for c in rec.commands()):
                    bad.append(f"{label}: the smuggled MAIL reached the upstream as a command")
                if mode == "normalize":
                    if len(got) != 1:
                        bad.append(f"{label}: {len(got)} messages upstream (expected 1)")
                    for _, _, raw in got:
                        if bare_line_ends(raw):
                            bad.append(f"{label}: bare CR/LF relayed at {bare_line_ends(raw)}")
                        if b"\r\n.\r\n" in raw:
                            bad.append(f"{label}: a lone '.' line relayed unstuffed: {raw!r}")
                elif got:
                    bad.append(f"{label}: relayed although refused: {got[0][2]!r}")
            assert not bad, "\n  " + "\n  ".join(bad)

        checks.run("(m4) smuggling, normalize: one reply, one message upstream, nothing "
                   "smuggled", lambda: smuggle(normalize, "normalize"), normalize)

        def check_m4_reject():
            need_reject()
            smuggle(reject, "reject")

        checks.run(f"(m5) smuggling, {BARE_NEWLINE_FLAG} reject: 550, nothing upstream",
                   check_m4_reject, reject)

        # (n) reply texts ------------------------------------------------------------------
        def denied(marker, disposition, content_type="application/octet-stream"):
            """Sends a message with EICAR under the given headers to the hold proxy; the
            554's text as bytes."""
            body = EICAR + f" {marker}".encode()
            msg = (f"From: <{marker}@example.com>\r\nTo: <rcpt@example.net>\r\n"
                   f"Subject: {marker}\r\nMessage-ID: <{marker}@interop.test>\r\n"
                   "MIME-Version: 1.0\r\n"
                   'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
                   "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\n"
                   f"Content-Type: {content_type}\r\n{disposition}\r\n\r\n").encode("utf-8") \
                + body + b"\r\n--b--\r\n"
            with RawSmtp(hold.port) as c:
                c.reply()
                c.command(b"EHLO interop.test\r\n")
                c.command(f"MAIL FROM:<{marker}@example.com>\r\n".encode())
                c.command(b"RCPT TO:<rcpt@example.net>\r\n")
                assert c.command(b"DATA\r\n").startswith(b"354")
                r = c.command(msg + b".\r\n")
                c.command(b"QUIT\r\n")
            assert r.startswith(b"554"), f"{marker}: expected 554, got {r!r}"
            return r

        def check_n1():
            bad = []
            for label, disposition in [
                ("rfc2231", "Content-Disposition: attachment; "
                            "filename*=utf-8''Rechn%C3%BCng-%E6%97%A5%E6%9C%AC.com"),
                ("rfc2047", "Content-Disposition: attachment; "
                            'filename="=?utf-8?b?UmVjaG7DvG5nLeaXpeacrC5jb20=?="'),
                ("8bit", 'Content-Disposition: attachment; filename="Rechnüng-日本.com"'),
            ]:
                r = denied(f"check-n1-{label}", disposition)
                if any(b > 0x7e or (b < 0x20 and b not in (13, 10)) for b in r):
                    bad.append(f"{label}: {r!r}")
            assert not bad, "554 not pure ASCII without SMTPUTF8:\n  " + "\n  ".join(bad)

        checks.run("(n1) 554 naming a file with a UTF-8 name is ASCII (no SMTPUTF8)",
                   check_n1, hold)

        def check_n2():
            bad = []
            for label, disposition, ctype in [
                ("empty-filename", 'Content-Disposition: attachment; filename=""',
                 'application/octet-stream; name=""'),
                ("no-name", "Content-Disposition: attachment", "application/octet-stream"),
            ]:
                r = denied(f"check-n2-{label}", disposition, ctype)
                if re.search(rb"refused:\s*\(", r) or b":  " in r:
                    bad.append(f"{label}: {r!r}")
            assert not bad, "554 with an empty file name:\n  " + "\n  ".join(bad)

        checks.run("(n2) 554 naming a file with an empty name does not read 'refused:  ('",
                   check_n2, hold)

        checks.proxies_survived((hold, release, normalize, reject))
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        checks.failed += 1
    finally:
        stop_all()
        for r in recorders:
            r.close()
    return checks.finish(work, keep, "logs, Exim spools and smtp-sink dumps")


if __name__ == "__main__":
    run_main(main)
