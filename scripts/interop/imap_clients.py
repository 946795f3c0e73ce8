"""Real IMAP clients for the interop checks, against any host:port (Dovecot directly, or the
proxy in front of it): Python's imaplib, issuing every FETCH form real clients use
(reference/IMAP.md §2-5), and the batch tools mbsync (isync) and fetchmail, each run with a
private configuration in the checks' work folder.

Every imaplib helper answers with the bytes the client got, exactly: an `Answer` holds the
command's status (OK, NO, BAD, or TIMEOUT and CLOSED when the socket gave up), each FETCH
response parsed into its items (literals byte for byte, lists, strings, numbers), the
untagged `* OK` lines that came during the command (X4 keepalives), and how long it took.
imaplib hands a FETCH response over as pieces (a line up to each literal, with the literal,
then the rest of the line); `parse_fetch` reassembles them and reads the items with a small
IMAP tokenizer, so that several literals per response and several responses per command are
told apart correctly."""

import imaplib
import os
import re
import socket
import subprocess
import tempfile
import time

# The batch tools live in imap_syncers.py; the checks take every client from here.
from imap_syncers import mbsync, fetchmail, Synced, strip_fetchmail_received

__all__ = ["ImapClient", "Answer", "Fetched", "parse_fetch", "response_name",
           "bodystructure_text", "bodystructure_core", "wait_for", "tool_versions", "CHUNK",
           "mbsync", "fetchmail", "Synced", "strip_fetchmail_received"]

CHUNK = 65536  # Thunderbird's mail.imap.chunk_size (IMAP.md §2)


class Fetched:
    """One `* N FETCH (...)` response: its sequence number and items by name, as the server
    wrote the names (`BODY[]<0>`, `BINARY[3]`, `RFC822.SIZE`), in order."""

    def __init__(self, seq, items):
        self.seq = seq
        self.items = dict(items)
        self.names = [n for n, _ in items]

    def __getitem__(self, name):
        return self.items[name]

    def get(self, name, default=None):
        return self.items.get(name, default)

    def __repr__(self):
        short = {k: (v if not isinstance(v, bytes) or len(v) < 60 else v[:60] + b"...")
                 for k, v in self.items.items()}
        return f"Fetched({self.seq}, {short})"


class Answer:
    def __init__(self, command, status, text, messages, keepalives, elapsed):
        self.command = command
        self.status = status
        self.text = text
        self.messages = messages
        self.keepalives = keepalives
        self.elapsed = elapsed

    def one(self):
        """The only FETCH response; fails the check naming the command otherwise."""
        assert self.status == "OK", f"{self.command}: {self.status} {self.text}"
        assert len(self.messages) == 1, \
            f"{self.command}: {len(self.messages)} FETCH responses, expected one: {self.messages}"
        return self.messages[0]

    def content(self, name):
        """The bytes of item `name` of the only response."""
        got = self.one()
        assert name in got.items, f"{self.command}: no {name} in {got}"
        value = got[name]
        assert isinstance(value, bytes), f"{self.command}: {name} is {value!r}"
        return value

    def __repr__(self):
        return (f"Answer({self.command!r}: {self.status} {self.text!r}, "
                f"{len(self.messages)} responses, {len(self.keepalives)} keepalives, "
                f"{self.elapsed:.2f}s)")


def response_name(item):
    """The name a server uses in its answer for a fetch item: `.PEEK` gone, a partial's
    length gone (`BODY[]<0>`, RFC 3501 §7.4.2), the section upper-cased as Dovecot does."""
    name = item.upper().replace(".PEEK", "")
    name = re.sub(r"<(\d+)\.\d+>$", r"<\1>", name)
    return name


class ImapClient:
    """An imaplib connection, logged in, with INBOX selected (read-write, so that BODY[]
    sets \\Seen as for Thunderbird). `timeout` is the socket timeout: a read that waits
    longer ends the command with status TIMEOUT and the connection."""

    def __init__(self, port, user, password, timeout=30, host="127.0.0.1", mailbox="INBOX"):
        self.conn = imaplib.IMAP4(host, port, timeout=timeout)
        self.dead = False
        self.conn.login(user, password)
        typ, data = self.conn.select(mailbox)
        if typ != "OK":
            raise AssertionError(f"SELECT {mailbox}: {typ} {data!r}")
        self.exists = int(data[0])

    def fetch(self, seqset, items, uid=False):
        """`[UID] FETCH seqset items`, as an `Answer`."""
        command = f"{'UID ' if uid else ''}FETCH {seqset} {items}"
        assert not self.dead, f"{command}: the connection gave up before"
        self.conn.untagged_responses.pop("FETCH", None)
        t0 = time.monotonic()
        status, text = "OK", ""
        try:
            if uid:
                typ, dat = self.conn._simple_command("UID", "FETCH", seqset, items)
            else:
                typ, dat = self.conn._simple_command("FETCH", seqset, items)
            status, text = typ, b" ".join(d for d in dat if isinstance(d, bytes)).decode(
                "utf-8", "replace")
        except (socket.timeout, TimeoutError):
            status, self.dead = "TIMEOUT", True
        except imaplib.IMAP4.abort as e:
            status, text, self.dead = "CLOSED", str(e), True
        except imaplib.IMAP4.error as e:
            # imaplib raises on a tagged BAD ("FETCH command error: BAD [...]").
            status, text = ("BAD" if " BAD " in str(e) else "ERROR"), str(e)
        except OSError as e:
            status, text, self.dead = "CLOSED", f"{type(e).__name__}: {e}", True
        elapsed = time.monotonic() - t0
        # What came before a NO (or a timeout) counts too: whatever reached the client.
        data = self.conn.untagged_responses.pop("FETCH", [])
        keepalives = list(self.conn.untagged_responses.get("OK", []))
        messages = parse_fetch([d for d in data if d is not None]) if data else []
        return Answer(command, status, text, messages, keepalives, elapsed)

    def item(self, uid, item, extra="UID RFC822.SIZE"):
        """`UID FETCH uid (extra item)`: (the bytes of `item`, the Answer). The bytes are
        None when the command did not end OK with exactly that item."""
        a = self.fetch(str(uid), f"({extra} {item})" if extra else f"({item})", uid=True)
        name = response_name(item)
        if a.status != "OK" or len(a.messages) != 1 or name not in a.messages[0].items:
            return None, a
        return a.messages[0][name], a

    def chunked(self, uid, chunk=CHUNK, peek=False):
        """Thunderbird's chunked download (IMAP.md §2): `UID FETCH uid (UID RFC822.SIZE
        BODY[]<off.chunk>)` until a literal shorter than `chunk`. (the bytes, the Answers)."""
        data, answers, off = b"", [], 0
        for _ in range(10_000):
            body = "BODY.PEEK" if peek else "BODY"
            got, a = self.item(uid, f"{body}[]<{off}.{chunk}>")
            answers.append(a)
            if got is None:
                return data, answers
            data += got
            if len(got) < chunk:
                return data, answers
            off += chunk
        raise AssertionError("chunked fetch never ended")

    def fetchmail_style(self, seq):
        """fetchmail 6's three commands by sequence number (IMAP.md §4): RFC822.SIZE, then
        RFC822.HEADER, then BODY.PEEK[TEXT]. (header, text, size, the Answers)."""
        size_a = self.fetch(str(seq), "RFC822.SIZE")
        head_a = self.fetch(str(seq), "RFC822.HEADER")
        text_a = self.fetch(str(seq), "BODY.PEEK[TEXT]")
        header = head_a.content("RFC822.HEADER") if head_a.status == "OK" else None
        text = text_a.content("BODY[TEXT]") if text_a.status == "OK" else None
        size = size_a.one()["RFC822.SIZE"] if size_a.status == "OK" else None
        return header, text, size, (size_a, head_a, text_a)

    def close(self):
        try:
            if not self.dead:
                self.conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
        try:
            self.conn.shutdown()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- reading imaplib's pieces of FETCH responses -------------------------------------

LITERAL_END = re.compile(rb"~?\{(\d+)\}$")


def parse_fetch(data):
    """imaplib's FETCH data (bytes for a line without literal or the rest of a line after
    one; (line up to and with `{n}`, literal) tuples) → [Fetched], in the server's order.
    A new response starts with its sequence number; what follows a literal starts with a
    space or `)`."""
    responses, current = [], None
    for d in data:
        text, literal = (d[0], d[1]) if isinstance(d, tuple) else (d, None)
        if text[:1].isdigit() or current is None:
            current = []
            responses.append(current)
        current.append((text, literal))
    return [parse_one(pieces) for pieces in responses]


def parse_one(pieces):
    tokens = []
    for text, literal in pieces:
        if literal is not None:
            m = LITERAL_END.search(text)
            assert m is not None and int(m.group(1)) == len(literal), \
                f"literal marker and bytes disagree: {text!r} / {len(literal)} bytes"
            tokens += tokenize(text[:m.start()])
            tokens.append(("lit", literal))
        else:
            tokens += tokenize(text)
    assert tokens and tokens[0][0] == "atom" and tokens[0][1].isdigit(), \
        f"a FETCH response that does not start with a number: {tokens[:3]}"
    seq = int(tokens[0][1])
    value, rest = parse_value(tokens[1:])
    assert isinstance(value, list) and not rest, f"FETCH {seq}: not one list: {tokens}"
    assert len(value) % 2 == 0, f"FETCH {seq}: an item without value: {value}"
    items = []
    for i in range(0, len(value), 2):
        name = value[i]
        assert isinstance(name, str), f"FETCH {seq}: item name {name!r}"
        items.append((name.upper(), value[i + 1]))
    return Fetched(seq, items)


def tokenize(text):
    """Atoms (an atom's `[...]` section may hold spaces and parentheses, and `<n>` follows
    it), quoted strings, parentheses."""
    tokens, i, n = [], 0, len(text)
    while i < n:
        c = text[i:i + 1]
        if c in (b" ", b"\r", b"\n"):
            i += 1
        elif c in (b"(", b")"):
            tokens.append((c.decode(), None))
            i += 1
        elif c == b'"':
            j, out = i + 1, bytearray()
            while j < n and text[j:j + 1] != b'"':
                if text[j:j + 1] == b"\\":
                    j += 1
                out += text[j:j + 1]
                j += 1
            assert j < n, f"unterminated string in {text!r}"
            tokens.append(("str", bytes(out)))
            i = j + 1
        else:
            j, depth = i, 0
            while j < n:
                ch = text[j:j + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")"):
                    break
                j += 1
            tokens.append(("atom", text[i:j].decode("ascii", "replace")))
            i = j
    return tokens


def parse_value(tokens):
    """One value: NIL → None, a number → int, an atom → str, a string or literal → bytes,
    a parenthesised list → list. (value, the tokens after it)."""
    kind, v = tokens[0]
    if kind == "(":
        out, rest = [], tokens[1:]
        while rest and rest[0][0] != ")":
            item, rest = parse_value(rest)
            out.append(item)
        assert rest, "unbalanced parentheses in a FETCH response"
        return out, rest[1:]
    if kind in ("str", "lit"):
        return v, tokens[1:]
    if kind == "atom":
        if v.upper() == "NIL":
            return None, tokens[1:]
        if v.isdigit():
            return int(v), tokens[1:]
        return v, tokens[1:]
    raise AssertionError(f"unexpected {kind} in a FETCH response")


def bodystructure_text(value):
    """A parsed BODYSTRUCTURE as one comparable string."""
    if isinstance(value, list):
        return "(" + " ".join(bodystructure_text(v) for v in value) + ")"
    if value is None:
        return "NIL"
    if isinstance(value, bytes):
        return '"' + value.decode("utf-8", "replace").lower() + '"'
    return str(value).lower()


def bodystructure_core(value):
    """A parsed BODYSTRUCTURE without its extension data (MD5, disposition, language,
    location): per part its type, subtype, parameters, id, description, encoding and size,
    with the line count of text parts and the envelope, structure and lines of an attached
    message: what the bytes served decide (RFC 3501 §7.4.2)."""
    if not isinstance(value, list) or not value:
        return value
    if isinstance(value[0], list):
        # The parts come first, then the subtype, then extension data (parameters, ...).
        n = next((i for i, v in enumerate(value) if not isinstance(v, list)), len(value))
        return [bodystructure_core(v) for v in value[:n]] + value[n:n + 1]
    core = value[:7]
    kind = (value[0] or b"").lower(), (value[1] or b"").lower()
    if kind[0] == b"text":
        core += value[7:8]
    elif kind == (b"message", b"rfc822"):
        core += [value[7], bodystructure_core(value[8])] + value[9:10]
    return core


def wait_for(predicate, timeout, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def tool_versions():
    """The versions of mbsync and fetchmail, for the checks' output (each run with an
    empty home, so that no user's configuration is read)."""
    out = []
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
        for args, prefix in ((["mbsync", "--version"], "isync"),
                             (["fetchmail", "--version"], "This is fetchmail release")):
            try:
                r = subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)
                lines = (r.stdout + r.stderr).splitlines()
                out.append(next(line.strip() for line in lines if line.startswith(prefix)))
            except (OSError, StopIteration, subprocess.TimeoutExpired):
                out.append(f"{args[0]}: no version")
    return out
