#!/usr/bin/env python3
"""Writes the fuzz seeds under fuzz/seeds/<target>/ (deterministic; run from anywhere).

- mime_extract: the golden corpus (core/tests/corpus/*/*.eml) and samples/*.eml, each in
  its stored LF form and with CRLF line ends.
- archive_expand: every archive attachment of those messages, decoded, plus a few small
  archives made here (empty zip, stored and deflated zip, gzip, tar, tar.gz).
- smtp_command, smtp_reply, smtp_data: small hand-written inputs (the first byte of the
  reply and data seeds is the cut point; docs/fuzzing.md).
- smtp_proxy_session: scripts in the format of fuzz/src/checks/mod.rs (`Script`).
"""

import email
import email.policy
import gzip
import io
import pathlib
import shutil
import tarfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def reset(target):
    d = SEEDS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def messages():
    paths = sorted((ROOT / "core" / "tests" / "corpus").glob("*/*.eml"))
    paths += sorted((ROOT / "samples").glob("*.eml"))
    for p in paths:
        yield p, p.read_bytes()


def is_archive(b):
    return (
        b.startswith(b"PK\x03\x04")
        or b.startswith(b"PK\x05\x06")
        or b.startswith(b"\x1f\x8b")
        or b[257:262] == b"ustar"
    )


def mime_seeds():
    d = reset("mime_extract")
    for p, raw in messages():
        stem = f"{p.parent.name}-{p.stem}"
        (d / f"{stem}.lf.eml").write_bytes(raw)
        crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        (d / f"{stem}.crlf.eml").write_bytes(crlf)


def small_archives():
    out = {}
    out["empty.zip"] = b"PK\x05\x06" + b"\0" * 18
    for name, method in [("stored.zip", zipfile.ZIP_STORED), ("deflated.zip", zipfile.ZIP_DEFLATED)]:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as z:
            for member, data in [("a.txt", b"hello\n" * 4), ("dir/b.bin", bytes(range(64)))]:
                info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = method
                z.writestr(info, data)
        out[name] = buf.getvalue()
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("inner.zip", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, out["stored.zip"])
    out["nested.zip"] = nested.getvalue()
    out["single.gz"] = gzip.compress(b"log line\n" * 8, mtime=0)
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for member, data in [("notes.txt", b"notes\n"), ("data/table.csv", b"a,b\n1,2\n")]:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    out["two.tar"] = tar.getvalue()
    out["two.tar.gz"] = gzip.compress(tar.getvalue(), mtime=0)
    return out


def archive_seeds():
    d = reset("archive_expand")
    seen = set()
    for p, raw in messages():
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        for i, part in enumerate(msg.walk()):
            if part.is_multipart():
                continue
            try:
                payload = part.get_payload(decode=True)
            except Exception:
                continue
            if not payload or not is_archive(payload) or payload in seen:
                continue
            seen.add(payload)
            (d / f"{p.parent.name}-{p.stem}-{i}.bin").write_bytes(payload)
    for name, data in small_archives().items():
        (d / name).write_bytes(data)


def command_seeds():
    d = reset("smtp_command")
    seeds = {
        "ehlo": b"EHLO client.example\r\n",
        "mail_size": b"MAIL FROM:<alice@example.com> SIZE=1000 BODY=8BITMIME\r\n",
        "mail_null": b"mail from: <>\r\n",
        "rcpt": b"RCPT TO:<bob@example.net> NOTIFY=NEVER\r\n",
        "rcpt_empty": b"RCPT TO:<>\r\n",
        "pipelined": b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n",
        "bare_lf": b"NOOP\nRSET\nQUIT\n",
        "starttls": b"STARTTLS\r\n",
        "vrfy": b"VRFY postmaster\r\n",
        "control": b"HELO a\x00b\x1b[0m\r\n",
        "size_bad": b"MAIL FROM:<a@b> SIZE=12x\r\n",
        "long": b"NOOP " + b"x" * 80 + b"\r\nQUIT\r\n",
        "tabs": b"MAIL\tFROM:<a@b>\t \r\n",
    }
    for name, data in seeds.items():
        (d / name).write_bytes(data)


def reply_seeds():
    d = reset("smtp_reply")
    seeds = {
        "greeting": b"\x05220 mx.example ESMTP Postfix\r\n",
        "ehlo": b"\x11250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 DSN\r\n",
        "pipelined": b"\x09250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\n",
        "mixed": b"\x03250-a\r\n251 b\r\n",
        "garbage": b"\x02hello\r\n220\r\n421 4.4.2 closing\r\n",
        "bare": b"\x00220\n",
    }
    for name, data in seeds.items():
        (d / name).write_bytes(data)


def data_seeds():
    d = reset("smtp_data")
    seeds = {
        "simple": b"\x10Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n",
        "dots": b"\x20Subject: x\r\n\r\n..leading dot\r\n.\r\n..\r\n\r\n.\r\nMAIL FROM:<n@x>\r\n",
        "empty": b"\x00.\r\n",
        "smuggle_lf": b"\x05Subject: a\r\n\r\nbody\n.\nMAIL FROM:<evil@x>\r\n\r\n.\r\n",
        "smuggle_cr": b"\x05Subject: a\r\n\r\nbody\r.\rMAIL FROM:<evil@x>\r\n\r\n.\r\n",
        "smuggle_mixed": b"\x30body\r\n.\nRCPT TO:<v@y>\r\n.\r\n",
        "long_line": b"\x40" + b"x" * 1000 + b"\r\n.\r\n",
        "unterminated": b"\x03Subject: never ends\r\n\r\nbody\r\n",
    }
    for name, data in seeds.items():
        (d / name).write_bytes(data)


# Script operations (fuzz/src/checks/mod.rs, smtp_proxy_session).
def client(b):
    out = b""
    while b:
        chunk, b = b[:255], b[255:]
        out += bytes([0, len(chunk)]) + chunk
    return out


def upstream(b):
    return bytes([1, len(b)]) + b


def line(i):
    return bytes([2, i])


def auto(kind=0):
    return bytes([3, kind])


CONNECTED, CONNECT_FAILED, UP_CLOSED, CLIENT_CLOSED = b"\x04", b"\x05", b"\x06", b"\x07"


def advance(b):
    return bytes([8, b])


def verdict(index, level):
    return bytes([9, index, level])


def unreachable(index):
    return bytes([10, index])


FAIL_WORK = b"\x0b"

EHLO, HELO, MAIL, MAIL_SIZE, RCPT, DATA, MSG1, MSG2, RSET, NOOP, QUIT, VRFY, STARTTLS, MSG_PLAIN = range(14)

DIALOGUE_START = CONNECTED + auto() + line(EHLO) + auto() + line(MAIL) + auto() + line(RCPT) + auto()


def proxy_seeds():
    d = reset("smtp_proxy_session")
    seeds = {
        # Release mode: delivered at once, verdict later (an exposure if bad).
        "release": b"\x00" + DIALOGUE_START + line(DATA) + line(MSG1) + auto() + auto()
        + verdict(0, 3) + line(QUIT) + auto(),
        # Hold mode, clean verdict: delivered after the verdict.
        "hold_clean": b"\x01" + DIALOGUE_START + line(DATA) + line(MSG2) + verdict(0, 0)
        + verdict(1, 0) + auto() + auto() + line(QUIT) + auto(),
        # Hold mode, medium verdict with lock: rewritten.
        "hold_lock": bytes([0x01 | (1 << 3)]) + DIALOGUE_START + line(DATA) + line(MSG1)
        + verdict(0, 2) + auto() + auto() + line(QUIT) + auto(),
        # Hold mode, high: denied.
        "hold_deny": b"\x01" + DIALOGUE_START + line(DATA) + line(MSG1) + verdict(0, 3)
        + line(QUIT) + auto(),
        # Pipelined envelope in one chunk, message with dot lines as raw bytes.
        "pipelined": b"\x00" + CONNECTED + auto() + client(b"EHLO c.example\r\n") + auto()
        + client(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        + auto() + auto()
        + client(b"Subject: dots\r\n\r\n..one\r\n...two\r\n.\r\nQUIT\r\n") + auto() + auto() + auto(),
        # The upstream drops the connection during a hold: reconnect and replay.
        "hold_reconnect": b"\x01" + DIALOGUE_START + line(DATA) + line(MSG1) + UP_CLOSED
        + advance(200) + verdict(0, 0) + CONNECTED + auto() + auto() + auto() + auto()
        + auto() + auto() + line(QUIT),
        # X2 deadline and slow data center.
        "x2_timeout": b"\x03" + DIALOGUE_START + line(DATA) + line(MSG2) + advance(136)
        + advance(140) + line(QUIT) + auto(),
        # Data center unreachable with outage tempfail.
        "unreachable": b"\x05" + DIALOGUE_START + line(DATA) + line(MSG1) + unreachable(0)
        + line(QUIT) + auto(),
        # A failed extraction job, then the client leaves during the hold.
        "failed_work": b"\x01" + DIALOGUE_START + line(DATA) + FAIL_WORK + line(MSG1)
        + CLIENT_CLOSED + auto(),
        # Small limits, errors and junk.
        "limits": b"\x80" + CONNECTED + auto() + line(HELO) + auto() + line(NOOP) + line(VRFY)
        + line(STARTTLS) + client(b"MAIL FROM:<a@b> SIZE=99999999\r\n")
        + client(b"X" * 100 + b"\r\n") + client(b"HELO a\x00b\r\n") + line(QUIT),
        # Upstream refuses the greeting; upstream unreachable.
        "refused_greeting": b"\x00" + CONNECTED + auto(6),
        "connect_failed": b"\x00" + CONNECT_FAILED,
        # Slow client: command and idle timeouts.
        "slow_client": b"\x00" + CONNECTED + auto() + client(b"EHL") + advance(255) + advance(255),
        # Upstream speaks garbage.
        "garbage_upstream": b"\x00" + CONNECTED + upstream(b"HTTP/1.1 400 Bad Request\r\n"),
        # The upstream offers XFORWARD (auto(8)): it goes before each MAIL, is answered
        # 250, then 451 (the mail goes on), then 421 (the MAIL gets it, both sides close).
        "xforward": b"\x00" + CONNECTED + auto() + line(EHLO) + auto(8) + line(MAIL) + auto()
        + auto() + line(RCPT) + auto() + line(DATA) + line(MSG1) + auto() + auto()
        + line(MAIL) + auto(5) + auto() + line(RSET) + auto() + line(MAIL) + auto(7),
        # XFORWARD replayed before the replayed MAIL after a reconnect during a hold.
        "xforward_reconnect": b"\x01" + CONNECTED + auto() + line(EHLO) + auto(8) + line(MAIL)
        + auto() + auto() + line(RCPT) + auto() + line(DATA) + line(MSG1) + UP_CLOSED
        + advance(200) + verdict(0, 0) + CONNECTED + auto() + auto(8) + auto() + auto()
        + auto() + auto() + auto() + line(QUIT),
    }
    for name, data in seeds.items():
        (d / name).write_bytes(data)


if __name__ == "__main__":
    mime_seeds()
    archive_seeds()
    command_seeds()
    reply_seeds()
    data_seeds()
    proxy_seeds()
    for t in sorted(SEEDS.iterdir()):
        files = list(t.iterdir())
        print(f"{t.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")
