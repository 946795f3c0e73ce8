#!/usr/bin/env python3
"""Records one scripted IMAP dialogue with a real Dovecot, as a fixture for
peers/tests/imap_server_session.rs, which replays it against aptsim's simulated IMAP server
(peers/src/imap) and compares every answer byte for byte, without Dovecot.

    apt-get install -y dovecot-imapd      # once
    python3 scripts/imap/record_dovecot_session.py

The dialogue (STEPS below) covers what core/tests/imap_fixtures/dovecot does not: the
greeting, CAPABILITY, LOGIN (refused, then accepted), AUTHENTICATE PLAIN with and without
an initial response, SELECT and EXAMINE, FETCH of flags and the `\\Seen` it sets, STORE,
SEARCH, LIST, STATUS, ID, ENABLE, errors, IDLE with mail delivered, flags changed and
messages expunged by a second connection, CLOSE, UNSELECT and LOGOUT. It is written to
peers/tests/imap_fixtures/dovecot-session.txt as blocks

    >>> CONN STEP
    LENGTH
    RAW BYTES

where STEP is `connect` (the greeting), a command line sent with CRLF (the raw bytes are
the answers up to its tagged reply, `+ idling`, or the `+` of AUTHENTICATE), `notice`
(what the connection received unasked, e.g. in IDLE, read until it is quiet for a while),
or `deliver` on connection `*` (the raw bytes are the message, APPENDed to INBOX by a
separate connection). Things that differ from run to run are written in a fixed form:
the timing after a tagged reply is dropped (as record_dovecot_fixtures.py does),
UIDVALIDITY is written as 1, and an INTERNALDATE as 01-Jan-2026 00:00:00 +0000."""

import os
import re
import shutil
import socket
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
from dovecot import Dovecot, dovecot_missing  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "peers", "tests", "imap_fixtures", "dovecot-session.txt")
TIMING = re.compile(rb" \(\d+\.\d+ \+ \d+\.\d+( \+ \d+\.\d+)? secs\)")
UIDVALIDITY = re.compile(rb"UIDVALIDITY \d+")
INTERNALDATE = re.compile(rb'INTERNALDATE "[^"]*"')

MESSAGES = [
    b"From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: one\r\n"
    b"Message-ID: <one@example.com>\r\n\r\nhello\r\n",
    b"From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: two\r\n"
    b"Message-ID: <two@example.com>\r\n\r\nworld, a longer body\r\n",
    b"From: Carol <carol@example.org>\r\nTo: bob@example.net\r\nSubject: three\r\n"
    b"Message-ID: <three@example.org>\r\n\r\nnew mail\r\n",
]

# (connection, step). The password is the recorder Dovecot's: pw-bob.
STEPS = [
    ("*", "deliver", 0),
    ("*", "deliver", 1),
    ("A", "connect"),
    ("A", "a0 CAPABILITY"),
    ("A", "a1 NOOP"),
    ("A", "a2 FETCH 1 FLAGS"),
    ("A", "a3 LOGIN bob wrong"),
    ("A", "a4 LOGIN bob pw-bob"),
    ("A", "a5 SELECT INBOX"),
    ("A", "a6 FETCH 1:* (UID FLAGS RFC822.SIZE)"),
    ("A", "a7 FETCH 1 (BODY[TEXT] UID)"),
    ("A", "a8 UID FETCH 1:* (FLAGS)"),
    ("A", "a9 UID FETCH 7:* (UID)"),
    ("A", "b0 FETCH 5 FLAGS"),
    ("A", "b1 FETCH 1 (RFC822.PEEK)"),
    ("A", "b2 FETCH 2 (RFC822.SIZE BODY.PEEK[]<0.5> BODY.PEEK[]<0.5> UID FLAGS UID)"),
    ("A", "b3 STORE 1 -FLAGS (\\Seen)"),
    ("A", "b4 UID STORE 2 +FLAGS (\\Seen)"),
    ("A", "b5 STORE 2 +FLAGS.SILENT (\\Flagged)"),
    ("A", "b6 STORE 1 +FLAGS (\\Recent)"),
    ("A", "b7 SEARCH UNSEEN"),
    ("A", "b8 UID SEARCH ALL"),
    ("A", "b9 SEARCH UID 2:*"),
    ("A", "c0 FOO"),
    ("A", "c1 LOGIN bob pw-bob"),
    ("A", 'c2 LIST "" "*"'),
    ("A", 'c3 LIST "" ""'),
    ("A", "c4 STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN)"),
    ("A", "c5 ID NIL"),
    ("A", "c6 ENABLE FOO"),
    ("A", "c7 SELECT nosuch"),
    ("A", "c8 FETCH 1 FLAGS"),
    ("A", "c9 SELECT INBOX"),
    ("B", "connect"),
    ("B", "x1 AUTHENTICATE PLAIN"),
    ("B", "AGJvYgBwdy1ib2I="),
    ("B", "x2 SELECT INBOX"),
    ("A", "d0 IDLE"),
    ("*", "deliver", 2),
    ("A", "notice"),
    ("B", "x3 STORE 1 +FLAGS (\\Deleted)"),
    ("A", "notice"),
    ("B", "x4 EXPUNGE"),
    ("A", "notice"),
    ("A", "DONE"),
    ("A", "d1 FETCH 1:* (UID FLAGS)"),
    ("A", "d2 EXAMINE INBOX"),
    ("A", "d3 STORE 1 +FLAGS (\\Seen)"),
    ("A", "d4 FETCH 1 (FLAGS BODY[TEXT])"),
    ("A", "d5 CLOSE"),
    ("A", "d6 UNSELECT"),
    ("A", "d7 IDLE"),
    ("A", "DONE"),
    ("A", "d8 LOGOUT"),
    ("C", "connect"),
    ("C", "y1 AUTHENTICATE PLAIN AGJvYgB3cm9uZw=="),
    ("C", "y2 AUTHENTICATE PLAIN AGJvYgBwdy1ib2I="),
    ("C", "y3 LOGOUT"),
    ("B", "x5 LOGOUT"),
]


class Conn:
    """A raw connection: sends lines, reads until a condition or until quiet."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.closed = False

    def until(self, done, quiet=None):
        """Reads until `done(buffer)` (a complete answer) or, with `quiet`, until nothing
        came for that many seconds; returns what came and keeps nothing."""
        self.sock.settimeout(quiet or 10)
        while not done(self.buf):
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                if quiet:
                    break
                raise RuntimeError(f"no complete answer: {self.buf!r}")
            if not data:
                self.closed = True
                break
            self.buf += data
        out, self.buf = self.buf, b""
        return out


def line_starting(prefix):
    return lambda buf: any(line.startswith(prefix) for line in buf.split(b"\r\n")[:-1])


def record(server):
    conns, blocks, tags = {}, [], {}
    for step in STEPS:
        who, what = step[0], step[1]
        if what == "deliver":
            message = MESSAGES[step[2]]
            server.append(message)
            blocks.append((who, what, message))
            continue
        if what == "connect":
            conns[who] = Conn(server.port)
            raw = conns[who].until(line_starting(b"* OK"))
        elif what == "notice":
            raw = conns[who].until(lambda buf: False, quiet=1.5)
        else:
            conn = conns[who]
            conn.sock.sendall(what.encode() + b"\r\n")
            words = what.split(" ")
            if what == "DONE" or tags.get(who):
                # The end of an IDLE, or the SASL response to an AUTHENTICATE.
                tag = tags.pop(who)
                done = line_starting(tag.encode() + b" ")
            elif words[1:2] == ["IDLE"]:
                tags[who] = words[0]
                done = line_starting(b"+ idling")
            elif words[1:2] == ["AUTHENTICATE"] and len(words) == 3:
                tags[who] = words[0]
                done = line_starting(b"+")
            else:
                done = line_starting(words[0].encode() + b" ")
            raw = conn.until(lambda buf, d=done, c=conn: d(buf) or c.closed)
        raw = TIMING.sub(b"", raw)
        raw = UIDVALIDITY.sub(b"UIDVALIDITY 1", raw)
        raw = INTERNALDATE.sub(b'INTERNALDATE "01-Jan-2026 00:00:00 +0000"', raw)
        blocks.append((who, what, raw))
    return blocks


def main():
    missing = dovecot_missing()
    if missing:
        sys.exit("missing: " + ", ".join(missing))
    work = tempfile.mkdtemp(prefix="aptsim-dovecot-session-")
    server = Dovecot(work, users=("bob",)).start()
    try:
        blocks = record(server)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "wb") as f:
        for who, what, raw in blocks:
            f.write(b">>> %s %s\n%d\n%s\n" % (who.encode(), what.encode(), len(raw), raw))
    print(f"{len(blocks)} steps -> {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
