"""The FETCH forms the IMAP interop checks ask for, what each should return for a message
built by imap_messages.py (the oracle, independent of any server), and the comparisons.

Forms (reference/IMAP.md): whole-message `BODY[]` (Thunderbird opening a message),
`BODY.PEEK[]` (mbsync, offlineimap, K-9, Outlook), `RFC822` and `RFC822.PEEK` (Outlook's
non-rev1 forms; Dovecot 2.3 answers RFC822.PEEK with BAD), sections (K-9's parts,
`BINARY` for decoded content), a partial of a section, and the header/text pair fetchmail
uses. Each is asked alone with `UID RFC822.SIZE`, as Thunderbird does, so that the size
the client is told can be set against what it got."""

import re

from imap_clients import response_name, bodystructure_text, bodystructure_core

WHOLE = ["BODY.PEEK[]", "BODY[]", "RFC822"]
REFUSED_BY_DOVECOT = ["RFC822.PEEK"]
SECTIONS = ["BODY.PEEK[1]", "BODY.PEEK[2]", "BODY[2.1]", "BODY.PEEK[2.2]", "BINARY[3]",
            "BINARY.PEEK[3]", "BODY.PEEK[3]<100.1000>", "BODY.PEEK[HEADER]",
            "BODY.PEEK[TEXT]", "RFC822.HEADER"]


class Got:
    """What one `UID FETCH uid (UID RFC822.SIZE form)` gave the client."""

    def __init__(self, form, answer):
        self.form = form
        self.answer = answer
        self.status = answer.status
        self.data = None
        self.size = None
        if answer.status == "OK" and len(answer.messages) == 1:
            m = answer.messages[0]
            self.data = m.get(response_name(form))
            self.size = m.get("RFC822.SIZE")

    def same_as(self, other):
        """Differences from `other` (another server's answer to the same form), as text;
        empty when the client got the same."""
        out = []
        if self.status != other.status:
            out.append(f"{self.form}: status {self.status} vs {other.status} "
                       f"({self.answer.text[:100]!r} vs {other.answer.text[:100]!r})")
        if self.data != other.data:
            out.append(f"{self.form}: {describe(self.data)} vs {describe(other.data)}")
        if self.size != other.size:
            out.append(f"{self.form}: RFC822.SIZE {self.size} vs {other.size}")
        return out


def collect(client, uid, forms):
    """{form: Got} for each form, asked one per command."""
    return {form: Got(form, client.fetch(str(uid), f"(UID RFC822.SIZE {form})", uid=True))
            for form in forms}


def expected(built, form):
    """What `form` returns for `built` (imap_messages.Built): a whole-message form its
    bytes, `BODY[s]` section s, `BINARY[s]` its decoded content, a partial `<o.n>` that
    slice."""
    name = form.upper().replace(".PEEK", "")
    partial = re.search(r"<(\d+)\.(\d+)>$", name)
    name = re.sub(r"<\d+\.\d+>$", "", name)
    if name in ("BODY[]", "RFC822", "BINARY[]"):
        data = built.raw
    elif name == "RFC822.HEADER":
        data = built.sections["HEADER"]
    elif name == "RFC822.TEXT":
        data = built.sections["TEXT"]
    elif name.startswith("BODY["):
        data = built.sections[name[5:-1]]
    elif name.startswith("BINARY["):
        data = built.decoded[name[7:-1]]
    else:
        raise ValueError(f"no oracle for {form}")
    if partial:
        off, n = int(partial.group(1)), int(partial.group(2))
        data = data[off:off + n]
    return data


def against_oracle(got, built):
    """Differences between what the client got and the oracle, as text."""
    out = []
    for form, g in got.items():
        if form in REFUSED_BY_DOVECOT:
            continue
        want = expected(built, form)
        if g.status != "OK":
            out.append(f"{form}: {g.status} {g.answer.text[:120]!r}")
        elif g.data != want:
            out.append(f"{form}: got {describe(g.data)}, expected {describe(want)}")
        if g.size != len(built.raw):
            out.append(f"{form}: RFC822.SIZE {g.size}, the message has {len(built.raw)}")
    return out


def bodystructure(client, uid, core=False):
    """The message's BODYSTRUCTURE as text; with `core`, without extension data."""
    a = client.fetch(str(uid), "(UID BODYSTRUCTURE)", uid=True)
    value = a.one()["BODYSTRUCTURE"]
    return bodystructure_text(bodystructure_core(value) if core else value)


def describe(data):
    if data is None:
        return "nothing"
    if not isinstance(data, bytes):
        return repr(data)
    return f"{len(data)} bytes {data[:40]!r}…{data[-20:]!r}"


def first_difference(a, b):
    if a is None or b is None:
        return f"{describe(a)} vs {describe(b)}"
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return (f"differ at byte {n} (lengths {len(a)} and {len(b)}): "
            f"{a[max(0, n - 30):n + 30]!r} vs {b[max(0, n - 30):n + 30]!r}")
