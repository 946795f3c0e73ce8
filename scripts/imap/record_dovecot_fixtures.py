#!/usr/bin/env python3
"""Records what a real Dovecot answers for every FETCH form of the IMAP test messages, as
fixtures for core/tests/imap_serve.rs (which compares aptsim's section, BINARY,
BODYSTRUCTURE and serve_from output with them byte for byte, without Dovecot).

    apt-get install -y dovecot-imapd      # once
    python3 scripts/imap/record_dovecot_fixtures.py [NAME ...]

For each core/tests/imap_fixtures/messages/NAME.eml (stored with LF line ends) the message is
APPENDed with CRLF line ends to a private Dovecot (scripts/interop/dovecot.py, the interop
checks' own) and
fetched in every form: RFC822.SIZE, BODYSTRUCTURE, BODY, ENVELOPE, BODY.PEEK[] and its
HEADER/TEXT/HEADER.FIELDS(.NOT) sections, RFC822(.HEADER/.TEXT), partials, and for every part
path (those the message has, and one missing sibling and child of each) BODY.PEEK[p],
[p.MIME], [p.HEADER], [p.TEXT], [p.HEADER.FIELDS (…)], BINARY.PEEK[p] and BINARY.SIZE[p].
Each answer is written to core/tests/imap_fixtures/dovecot/NAME.txt as

    >>> FORM
    LENGTH
    RAW BYTES (the untagged responses, then the tagged one with tag `T`, no timing, no
    time stamp; each message alone in its own mailbox, so `* 1 FETCH` and `UID 1`)

A message holding NUL bytes is APPENDed as a literal8 (`~{n}`, RFC 3516)."""

import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import raw_imap  # noqa: E402
from dovecot import Dovecot, dovecot_missing  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "core", "tests", "imap_fixtures")
TIMING = re.compile(rb" \(\d+\.\d+ \+ \d+\.\d+( \+ \d+\.\d+)? secs\)")
STAMP = re.compile(rb" \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]")


def parse_sexp(data, i=0):
    """One IMAP value at data[i:] (list, quoted, literal, atom) and the index after it."""
    while data[i : i + 1] == b" ":
        i += 1
    c = data[i : i + 1]
    if c == b"(":
        items, i = [], i + 1
        while True:
            while data[i : i + 1] == b" ":
                i += 1
            if data[i : i + 1] == b")":
                return items, i + 1
            item, i = parse_sexp(data, i)
            items.append(item)
    if c == b'"':
        out, i = b"", i + 1
        while data[i : i + 1] != b'"':
            if data[i : i + 1] == b"\\":
                i += 1
            out += data[i : i + 1]
            i += 1
        return out, i + 1
    if c in (b"{", b"~"):
        m = re.compile(rb"~?\{(\d+)\}\r\n").match(data, i)
        n = int(m.group(1))
        return data[m.end() : m.end() + n], m.end() + n
    m = re.compile(rb"[^ ()\r\n]+").match(data, i)
    atom = m.group(0)
    return (None if atom == b"NIL" else atom), m.end()


def part_paths(body, prefix):
    """Every part path of a BODYSTRUCTURE, with one missing sibling and child of each."""
    paths = []
    if isinstance(body[0], list):
        children = [b for b in body if isinstance(b, list)]
        for n, child in enumerate(children, 1):
            paths += part_paths_of(child, prefix + [n])
        paths.append(prefix + [len(children) + 1])
        return paths
    return part_paths_of(body, prefix + [1]) + [prefix + [2]]


def part_paths_of(body, path):
    paths = [path]
    if isinstance(body[0], list):
        children = [b for b in body if isinstance(b, list)]
        for n, child in enumerate(children, 1):
            paths += part_paths_of(child, path + [n])
        paths.append(path + [len(children) + 1])
    elif body[0].lower() == b"message" and body[1].lower() == b"rfc822":
        paths += part_paths(body[8], path)
    else:
        paths.append(path + [1])
    return paths


def forms_for(size, structure):
    forms = [
        "RFC822.SIZE",
        "BODYSTRUCTURE",
        "BODY",
        "ENVELOPE",
        "BODY.PEEK[]",
        "BODY.PEEK[HEADER]",
        "BODY.PEEK[TEXT]",
        "BODY.PEEK[HEADER.FIELDS (From Subject Content-Type X-Missing)]",
        "BODY.PEEK[HEADER.FIELDS.NOT (From Subject Content-Type)]",
        "BODY.PEEK[]<0.10>",
        f"BODY.PEEK[]<10.{max(size // 2, 1)}>",
        f"BODY.PEEK[]<{max(size - 5, 0)}.100>",
        f"BODY.PEEK[]<{size + 10}.5>",
        "BODY.PEEK[TEXT]<3.7>",
        "BODY.PEEK[1]<2.5>",
        "BINARY.PEEK[]",
        "BINARY.SIZE[]",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "RFC822.SIZE BODY.PEEK[] UID",
    ]
    for path in part_paths(structure, []):
        p = ".".join(map(str, path))
        forms += [
            f"BODY.PEEK[{p}]",
            f"BODY.PEEK[{p}.MIME]",
            f"BODY.PEEK[{p}.HEADER]",
            f"BODY.PEEK[{p}.TEXT]",
            f"BODY.PEEK[{p}.HEADER.FIELDS (Subject From)]",
            f"BODY.PEEK[{p}.HEADER.FIELDS.NOT (Subject)]",
            f"BINARY.PEEK[{p}]",
            f"BINARY.SIZE[{p}]",
        ]
    # RFC822 sets \Seen: asked last.
    forms.append("RFC822")
    return forms


def record(server, client, name, message):
    # One mailbox per message, so that every answer says `* 1 FETCH` and `UID 1` whatever
    # else was recorded.
    mailbox = "m-" + name.replace(".", "-")
    client.command_any(f"DELETE {mailbox}")
    client.command(f"CREATE {mailbox}")
    if b"\0" in message:
        # literal8: the command text ends in "~{n}".
        client.sock.sendall(b"A0 APPEND %s ~{%d}\r\n" % (mailbox.encode(), len(message)))
        cont = client._response()
        assert cont.startswith(b"+"), cont
        client.sock.sendall(message + b"\r\n")
        tagged = client._response()
        while not tagged.startswith(b"A0 "):
            tagged = client._response()
        assert b"OK" in tagged, tagged
    else:
        client.command(f"APPEND {mailbox}", message)
    client.command(f"SELECT {mailbox}")
    seq = 1
    (bs,), _ = client.command(f"FETCH {seq} (RFC822.SIZE BODYSTRUCTURE)")
    fetch, _ = parse_sexp(bs, bs.index(b"("))
    size = int(fetch[fetch.index(b"RFC822.SIZE") + 1])
    structure = fetch[fetch.index(b"BODYSTRUCTURE") + 1]
    out = b""
    for form in forms_for(size, structure):
        try:
            responses, tagged = client.command_any(f"FETCH {seq} ({form})")
            tagged = b"T " + TIMING.sub(b"", tagged.split(b" ", 1)[1])
            raw = STAMP.sub(b"", b"".join(responses) + tagged)
        except raw_imap.Closed as closed:
            # Dovecot ends the connection when it cannot read what it promised (a broken
            # transfer encoding): recorded as what came, then this marker line.
            raw = STAMP.sub(b"", closed.partial) + b"(connection closed)\r\n"
            client = login(server)
            client.command(f"SELECT {mailbox}")
        out += b">>> %s\n%d\n%s\n" % (form.encode(), len(raw), raw)
    path = os.path.join(CORPUS, "dovecot", name + ".txt")
    with open(path, "wb") as f:
        f.write(out)
    print(f"{name}: {len(forms_for(size, structure))} forms -> {os.path.relpath(path, ROOT)}")
    return client


def login(server):
    """A raw client logged in to `server`."""
    client = raw_imap.ImapClient(server.port)
    client.command(f"LOGIN {server.user} {server.password}")
    return client


def main():
    missing = dovecot_missing()
    if missing:
        sys.exit("missing: " + ", ".join(missing))
    names = sys.argv[1:] or sorted(
        f[: -len(".eml")] for f in os.listdir(os.path.join(CORPUS, "messages")) if f.endswith(".eml")
    )
    os.makedirs(os.path.join(CORPUS, "dovecot"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="aptsim-dovecot-fixtures-")
    server = Dovecot(work, users=("aptsim",)).start()
    try:
        client = login(server)
        for name in names:
            with open(os.path.join(CORPUS, "messages", name + ".eml"), "rb") as f:
                lf = f.read()
            if b"\r" in lf:
                sys.exit(f"{name}.eml holds a CR: messages are stored with LF line ends")
            client = record(server, client, name, lf.replace(b"\n", b"\r\n"))
        client.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
