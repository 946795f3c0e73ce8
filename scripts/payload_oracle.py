#!/usr/bin/env python3
"""Which planted payloads a message still carries, as CPython's `email` package reads it:
the second reader of the fail-closed property test (core/tests/fail_closed_props.rs).

Usage: python3 scripts/payload_oracle.py   (a server on standard input and output)

Protocol, repeated until end of input: a line with the message's length in bytes (ASCII
decimal), then exactly that many bytes. For each message it prints one JSON line:

    {"tokens": ["APTSIM-PAYLOAD-0123456789abcdef", ...]}

the planted tokens (`APTSIM-PAYLOAD-` and 16 hex digits) found anywhere a recipient's
software could get them from: the raw bytes, and every part `email` decodes
(`get_payload(decode=True)`, under both the compat32 and the default policy), with zip,
gzip and tar archives opened, nested ones too. It decides nothing: the test says which
tokens must be gone.
"""

import email
import email.policy
import gzip
import io
import json
import re
import sys
import tarfile
import zipfile

TOKEN = re.compile(rb"APTSIM-PAYLOAD-[0-9a-f]{16}")


def tokens_in(data, found, depth=0):
    found.update(TOKEN.findall(data))
    if depth > 5:
        return
    for inner in archive_members(data):
        tokens_in(inner, found, depth + 1)


def archive_members(data):
    """The members of a zip, gzip or tar, if `data` is one (broken archives yield what
    could be read)."""
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist():
                    try:
                        yield z.read(info)
                    except Exception:
                        continue
        except Exception:
            return
    elif data[:2] == b"\x1f\x8b":
        try:
            yield gzip.decompress(data)
        except Exception:
            return
    elif data[257:262] == b"ustar":
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as t:
                for m in t.getmembers():
                    f = t.extractfile(m)
                    if f is not None:
                        yield f.read()
        except Exception:
            return


def payload_tokens(message):
    found = set()
    tokens_in(message, found)
    for policy in (email.policy.compat32, email.policy.default):
        try:
            parsed = email.message_from_bytes(message, policy=policy)
            for part in parsed.walk():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    tokens_in(payload, found)
        except Exception:
            # A message Python cannot parse at all: the raw search above still counts.
            continue
    return sorted(t.decode() for t in found)


def main():
    stdin = sys.stdin.buffer
    out = sys.stdout
    while True:
        line = stdin.readline()
        if not line:
            return 0
        size = int(line.strip())
        message = stdin.read(size)
        out.write(json.dumps({"tokens": payload_tokens(message)}) + "\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
