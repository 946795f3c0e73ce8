#!/usr/bin/env python3
"""Interop checks of the live SMTP proxy (`aptsim proxy smtp`) against mail software that
nobody here wrote: swaks and Python's smtplib as senders, Postfix's smtp-sink as the
receiving server.

Usage: smtp_interop.py PATH/TO/aptsim [--keep]

Needs swaks, smtp-sink and smtp-source (Debian package postfix) and python3:
scripts/interop/install-deps.sh installs them.

It builds nothing: give it the `aptsim` binary. It starts smtp-sink and several proxies on
free ports of 127.0.0.1, runs the checks, stops every process it started (and only those),
and prints one line per check and a last line `N passed, M failed`. Exit status: 0 when all
passed, 1 when a check failed, 2 when a required program is missing or the setup failed.
With --keep (or on failure) the work folder with the logs and smtp-sink's dumps is kept.

The checks (behaviour ids from ../shared/design/BEHAVIOUR.md):
  (a) a clean message sent by swaks through the proxy reaches smtp-sink byte for byte: the
      same bytes as when swaks talks to smtp-sink directly, and the original message;
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

How smtp-sink stores a message (smtp-sink(1), DUMP FILE FORMAT): its own headers first
(X-Client-Addr, X-Client-Proto, X-Helo-Args, X-Mail-Args, X-Rcpt-Args, and a three-line
Received:), then the message as received with every line ended by LF instead of CRLF, then
one empty line. The checks strip those headers and that last line and compare the rest with
the original message, its CRLFs written as LF. smtp-sink's format cannot show whether a
line ended CRLF on the wire; the proxy itself refuses bare LF and writes only CRLF upstream
(core/src/smtp/data.rs), and check (a) compares with what smtp-sink stores when swaks talks
to it directly, so any change the proxy made would show.
"""

import base64
import email
import email.policy
import hashlib
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SBIN = ["/usr/sbin", "/usr/lib/postfix/sbin"]
INSTALL_HINT = "install them with: bash scripts/interop/install-deps.sh " \
    "(apt-get install swaks postfix python3)"

# Every process this script started, so that it stops exactly those.
STARTED = []


def find_postfix_tool(name):
    """smtp-sink and smtp-source live in /usr/sbin, often not on a user's PATH."""
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log_path):
    log = open(log_path, "wb")
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    STARTED.append(p)
    return p


def stop_all():
    for p in STARTED:
        if p.poll() is None:
            p.terminate()
    for p in STARTED:
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_listening(port, proc, what, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SetupError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SetupError(f"{what} not listening on 127.0.0.1:{port} after {timeout}s")


class SetupError(Exception):
    pass


class Sink:
    """smtp-sink writing each message to DIR/<minute>.<random>."""

    def __init__(self, binary, work):
        self.dir = os.path.join(work, "sink")
        os.makedirs(self.dir)
        for _ in range(5):
            self.port = free_port()
            args = [binary, "-d", os.path.join(self.dir, "%M."), "-h", "interop-sink"]
            if os.geteuid() == 0:
                args += ["-u", "root"]
            args += [f"127.0.0.1:{self.port}", "100"]
            self.proc = start(args, os.path.join(work, "sink.log"))
            try:
                wait_listening(self.port, self.proc, "smtp-sink")
                return
            except SetupError:
                if self.proc.poll() is None:
                    self.proc.terminate()
        raise SetupError("smtp-sink would not start; see sink.log")

    def addr(self):
        return f"127.0.0.1:{self.port}"

    def find(self, marker, timeout=5.0):
        """The message (smtp-sink's headers stripped) whose headers contain `marker`."""
        end = time.monotonic() + timeout
        while True:
            for name in sorted(os.listdir(self.dir)):
                data = read_dump(os.path.join(self.dir, name))
                if data and marker.encode() in data and data.endswith(b"\n\n"):
                    return split_dump(data)
            if time.monotonic() >= end:
                return None
            time.sleep(0.05)


def read_dump(path, limit=-1):
    """A dump file's bytes, or None when smtp-sink removed it meanwhile (it removes the dump
    of a transaction that ends without DATA)."""
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except FileNotFoundError:
        return None


def split_dump(data):
    """smtp-sink's dump → (its headers as a dict of lists, the message with LF line ends)."""
    lines = data.split(b"\n")
    meta = {}
    i = 0
    while i < len(lines) and lines[i].startswith(b"X-"):
        key, _, value = lines[i].decode("utf-8", "replace").partition(": ")
        meta.setdefault(key, []).append(value)
        i += 1
    if i < len(lines) and lines[i].startswith(b"Received: "):
        i += 1
        while i < len(lines) and lines[i].startswith(b"\t"):
            i += 1
    body = b"\n".join(lines[i:])
    # The dump ends with one empty line after the message.
    if body.endswith(b"\n\n"):
        body = body[:-1]
    return meta, body


class Proxy:
    def __init__(self, aptsim, work, name, upstream, *flags):
        self.log_path = os.path.join(work, f"proxy-{name}.log")
        self.name = name
        args = [aptsim, "proxy", "smtp", "--listen", "127.0.0.1:0", "--upstream", upstream]
        self.proc = start(args + list(flags), self.log_path)
        end = time.monotonic() + 15
        while True:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SetupError(f"proxy {name} did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self):
        with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()

    def txn(self, sender, timeout=5.0):
        """The transaction log line for `sender`, as a dict."""
        end = time.monotonic() + timeout
        while True:
            for line in self.log().splitlines():
                if " txn " in line and f"from=<{sender}>" in line:
                    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if time.monotonic() >= end:
                return None
            time.sleep(0.05)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.logs = []

    def run(self, name, fn, proxy_for_log=None):
        try:
            fn()
        except AssertionError as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
            if proxy_for_log is not None:
                tail = "\n".join(proxy_for_log.log().splitlines()[-25:])
                print(f"  --- last lines of {proxy_for_log.log_path}:\n{tail}", flush=True)
            return
        except Exception as e:  # an unexpected error is a failed check, not a crash
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            if proxy_for_log is not None:
                tail = "\n".join(proxy_for_log.log().splitlines()[-25:])
                print(f"  --- last lines of {proxy_for_log.log_path}:\n{tail}", flush=True)
            return
        self.passed += 1
        print(f"PASS {name}", flush=True)


def lf(data):
    return data.replace(b"\r\n", b"\n")


def clean_message(sender, marker):
    """A message with what tends to break relays: dot lines, a lone dot, a line reading
    DATA, trailing spaces, 8-bit UTF-8, a long line, and a base64 attachment."""
    body = (
        "Hello,\r\n"
        ".a line starting with a dot\r\n"
        ".\r\n"
        "..two dots\r\n"
        "DATA\r\n"
        "trailing spaces   \r\n"
        "8-bit: Grüße, 日本語\r\n"
        + "x" * 990 + "\r\n"
        "\r\n"
        "-- \r\n"
        "end\r\n"
    )
    attachment = bytes(range(256)) * 20
    b64 = base64.encodebytes(attachment).replace(b"\n", b"\r\n").decode()
    text = (
        f"From: Interop <{sender}>\r\n"
        "To: <rcpt@example.net>\r\n"
        f"Subject: interop clean {marker}\r\n"
        f"Message-ID: <{marker}@interop.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        + body +
        "--b1\r\n"
        'Content-Type: application/octet-stream; name="data.bin"\r\n'
        'Content-Disposition: attachment; filename="data.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        + b64 +
        "--b1--\r\n"
    )
    return text.encode("utf-8")


def eicar_message(sender, marker, eicar=EICAR, clean=b"%PDF-1.4 harmless\n" * 50):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "rcpt@example.net"
    m["Subject"] = f"interop eicar {marker}"
    m["Message-ID"] = f"<{marker}@interop.test>"
    m.set_content("Two attachments: a test virus and a harmless file.\n")
    m.add_attachment(eicar, maintype="application", subtype="octet-stream",
                     filename="eicar.com")
    m.add_attachment(clean, maintype="application", subtype="pdf", filename="notes.pdf")
    return m.as_bytes(policy=email.policy.SMTP), clean


def nested_eicar(levels):
    """EICAR inside `levels` nested multiparts (the message being the outermost)."""
    b64 = base64.encodebytes(EICAR).replace(b"\n", b"\r\n").decode()
    inner = ('Content-Type: application/octet-stream; name="eicar.com"\r\n'
             "Content-Transfer-Encoding: base64\r\n\r\n" + b64)
    for level in range(levels - 1, 0, -1):
        inner = (f'Content-Type: multipart/mixed; boundary="n{level}"\r\n\r\n'
                 f"--n{level}\r\n{inner}\r\n--n{level}--\r\n")
    return ('Content-Type: multipart/mixed; boundary="n0"\r\n\r\n--n0\r\n'
            f"Content-Type: text/plain\r\n\r\nhello\r\n--n0\r\n{inner}\r\n--n0--\r\n")


def many_parts_eicar(total, eicar_at):
    b64 = base64.encodebytes(EICAR).replace(b"\n", b"\r\n").decode()
    parts = []
    for i in range(1, total + 1):
        if i == eicar_at:
            parts.append('Content-Type: application/octet-stream; name="eicar.com"\r\n'
                         "Content-Transfer-Encoding: base64\r\n\r\n" + b64)
        else:
            parts.append(f"Content-Type: text/plain\r\n\r\npart {i}\r\n")
    return ('Content-Type: multipart/mixed; boundary="p"\r\n\r\n'
            + "".join(f"--p\r\n{p}\r\n" for p in parts) + "--p--\r\n")


def with_headers(sender, marker, mime):
    return (f"From: <{sender}>\r\nTo: <rcpt@example.net>\r\nSubject: {marker}\r\n"
            f"Message-ID: <{marker}@interop.test>\r\nMIME-Version: 1.0\r\n"
            + mime).encode()


def carries_eicar(message):
    """EICAR raw, base64 at any alignment (line breaks ignored), or in any part Python's
    email package decodes."""
    if EICAR in message:
        return True
    flat = message.replace(b"\r", b"").replace(b"\n", b"")
    for skip in range(3):
        if base64.b64encode(EICAR[skip:skip + 63]) in flat:
            return True
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    for part in parsed.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and EICAR in payload:
            return True
    return False


def heavy_message(sender, marker):
    """A message whose extraction takes seconds: a 3 MB zip of 60 members of 4 MiB each
    that deflate about 60:1 (under the ratio limit), 240 MiB to inflate and hash."""
    import io
    import random
    import zipfile
    rnd = random.Random(7)
    block = bytes(rnd.randrange(256) for _ in range(4096))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for m in range(60):
            data = bytearray(block * 1024)
            for k in range(0, len(data), 512):
                data[k] = rnd.randrange(256)
            z.writestr(f"m{m}.bin", bytes(data))
    b64 = base64.encodebytes(buf.getvalue()).replace(b"\n", b"\r\n").decode()
    return with_headers(sender, marker,
                        'Content-Type: multipart/mixed; boundary="h"\r\n\r\n--h\r\n'
                        "Content-Type: text/plain\r\n\r\nheavy\r\n--h\r\n"
                        'Content-Type: application/zip; name="heavy.zip"\r\n'
                        "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--h--\r\n")


def smtplib_send(port, sender, message, timeout=30):
    """Sends; returns (elapsed seconds, None) or (elapsed, (code, text)) on a refusal."""
    t0 = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as s:
        s.ehlo("interop.test")
        try:
            s.sendmail(sender, ["rcpt@example.net"], message)
            result = None
        except smtplib.SMTPDataError as e:
            result = (e.smtp_code, e.smtp_error.decode("utf-8", "replace"))
        except smtplib.SMTPRecipientsRefused as e:
            result = ("rcpt", str(e))
    return time.monotonic() - t0, result


def swaks(port, sender, data_path, *extra):
    args = ["swaks", "--server", f"127.0.0.1:{port}", "--from", sender,
            "--to", "rcpt@example.net", "--helo", "interop.test",
            "--data", f"@{data_path}", "--timeout", "30"] + list(extra)
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


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

        for p in (release, hold_deny, hold_drop, slow, outage, x1, budget):
            if p.proc.poll() is not None:
                checks.failed += 1
                print(f"FAIL proxy {p.name} exited during the checks "
                      f"(status {p.proc.returncode})")
            elif "panicked" in p.log():
                checks.failed += 1
                print(f"FAIL proxy {p.name} panicked:\n{p.log()}")
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        checks.failed += 1
    finally:
        stop_all()
    if checks.failed or keep:
        print(f"logs and smtp-sink dumps kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


def first_difference(a, b):
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return (f"differs at byte {n} (lengths {len(a)} and {len(b)}): "
            f"{a[max(0, n - 40):n + 40]!r} vs {b[max(0, n - 40):n + 40]!r}")


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(main())
