"""The messages of the IMAP interop checks, built by hand so that the checks know, apart from
any server, what each IMAP section of them holds (`Built.sections`): a clean one with
harmless attachments, large enough that Thunderbird would fetch it in chunks; the same
shape with EICAR as its last attachment, or zipped; and the deny-notice detector.

Shape of `layered` (section numbers as IMAP counts them, RFC 3501 §6.4.5):
    multipart/mixed
      1    text/plain, 8-bit UTF-8, with dot lines and a long line
      2    message/rfc822 (a forwarded message)
      2.1    text/plain
      2.2    application/pdf, base64
      3    application/octet-stream, base64 (`big` bytes: past 98304 the message is
           fetched in chunks by Thunderbird, IMAP.md §2)
"""

import base64
import email
import hashlib
import email.policy
import io
import random
import re
import zipfile

from smtp_messages import EICAR, carries_eicar  # noqa: F401 (re-exported for the checks)

# What the default deny message says (core/src/policy.rs DEFAULT_DENY_MESSAGE), once
# decoded from the notice's quoted-printable.
NOTICE_TEXT = "was removed by the email security gateway"


def b64(data):
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


class Built:
    """A message and what each section holds: `sections` maps an IMAP section ("1", "2.1",
    "TEXT", "HEADER") to the bytes `BODY[section]` returns; `decoded` maps a section to
    what `BINARY[section]` returns (the part's content, transfer encoding undone)."""

    def __init__(self, raw, sections, decoded):
        self.raw = raw
        self.sections = sections
        self.decoded = decoded
        # The MD5 of the file that carries EICAR, in the messages that have one.
        self.bad_md5 = None


def part(headers, body):
    return headers.encode() + b"\r\n" + body


def layered(marker, big=150_000, attachment=None, attachment_name="data.bin",
            attachment_type="application/octet-stream"):
    """The message of the module doc. `attachment` (bytes) replaces the random data of
    part 3, for EICAR or a zip."""
    rnd = random.Random(marker)
    text1 = ("Hello,\r\n.a line starting with a dot\r\n.\r\n..two dots\r\n"
             "trailing spaces   \r\n8-bit: Grüße, 日本語\r\n" + "x" * 990 + "\r\n"
             "-- \r\nend\r\n").encode("utf-8")
    pdf = b"%PDF-1.4 harmless forwarded document\n" * 40
    data3 = attachment if attachment is not None else \
        bytes(rnd.randrange(256) for _ in range(big))
    inner_text = b"The forwarded message's text.\r\n"
    inner_body = (b"--in\r\n" + part("Content-Type: text/plain; charset=us-ascii\r\n",
                                     inner_text)
                  + b"\r\n--in\r\n"
                  + part('Content-Type: application/pdf; name="fwd.pdf"\r\n'
                         'Content-Disposition: attachment; filename="fwd.pdf"\r\n'
                         "Content-Transfer-Encoding: base64\r\n", b64(pdf))
                  + b"\r\n--in--\r\n")
    inner_header = (f"From: <fwd@example.org>\r\nSubject: forwarded {marker}\r\n"
                    "MIME-Version: 1.0\r\n"
                    'Content-Type: multipart/mixed; boundary="in"\r\n').encode()
    inner = inner_header + b"\r\n" + inner_body
    parts = [
        ("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
         text1),
        ("Content-Type: message/rfc822\r\n", inner),
        (f'Content-Type: {attachment_type}; name="{attachment_name}"\r\n'
         f'Content-Disposition: attachment; filename="{attachment_name}"\r\n'
         "Content-Transfer-Encoding: base64\r\n", b64(data3)),
    ]
    body = b"".join(b"--b1\r\n" + part(h, p) + b"\r\n" for h, p in parts) + b"--b1--\r\n"
    header = (f"From: Interop <sender@example.com>\r\nTo: <alice@example.net>\r\n"
              f"Subject: imap interop {marker}\r\nMessage-ID: <{marker}@interop.test>\r\n"
              "Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
              'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n').encode()
    raw = header + body
    # Each part above is followed by a CRLF of its own before the next delimiter: that CRLF
    # belongs to the delimiter (RFC 2046 §5.1.1), so a part's section is its body whole.
    sections = {
        "HEADER": header,
        "TEXT": body,
        "1": text1,
        "2": inner,
        "2.1": inner_text,
        "2.2": b64(pdf),
        "3": b64(data3),
    }
    decoded = {"1": sections["1"], "2.2": pdf, "3": data3}
    return Built(raw, sections, decoded)


def eicar_layered(marker, padding=64):
    """`layered` with an EICAR file as part 3 (eicar.com): the test string after `padding`
    random bytes drawn from `marker`, so that each marker's file is new to the gateway (its
    own MD5); with a large padding the message is fetched in several chunks and EICAR sits
    in the last of them."""
    rnd = random.Random(marker)
    data = bytes(rnd.randrange(256) for _ in range(padding)) + EICAR
    built = layered(marker, attachment=data, attachment_name="eicar.com")
    built.bad_md5 = hashlib.md5(data).hexdigest()
    return built


def zipped_eicar(marker):
    """`layered` whose part 3 is a real zip (Python's zipfile) holding a harmless file and
    eicar.com, whose content (EICAR, then `marker`) is new to the gateway."""
    member = EICAR + f" {marker}".encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("readme.txt", "harmless\n")
        z.writestr("eicar.com", member)
    built = layered(marker, attachment=buf.getvalue(), attachment_name="files.zip",
                    attachment_type="application/zip")
    built.bad_md5 = hashlib.md5(member).hexdigest()
    return built


BASE64_LINE = re.compile(rb"^[A-Za-z0-9+/]+={0,2}$")


def base64_runs(data):
    """Each run of base64-looking lines in `data`, decoded: the attachments of any
    fragment of a message (a section, its TEXT, a chunk), headers or not."""
    runs, current = [], []
    for line in data.replace(b"\r", b"").split(b"\n") + [b""]:
        if BASE64_LINE.match(line):
            current.append(line)
            continue
        if current:
            joined = b"".join(current)
            try:
                runs.append(base64.b64decode(joined[:len(joined) // 4 * 4]))
            except ValueError:
                pass
            current = []
    return runs


def zip_carries_eicar(data):
    """Whether `data` holds a zip archive (raw, in a MIME part, or in a run of base64
    lines) with EICAR in one of its members."""
    candidates = [data] + base64_runs(data)
    try:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        for p in parsed.walk():
            payload = p.get_payload(decode=True)
            if isinstance(payload, bytes):
                candidates.append(payload)
    except Exception:  # a fragment that is no message: the other candidates remain
        pass
    for c in candidates:
        start = c.find(b"PK\x03\x04")
        if start < 0:
            continue
        try:
            with zipfile.ZipFile(io.BytesIO(c[start:])) as z:
                if any(EICAR in z.read(n) for n in z.namelist()):
                    return True
        except (zipfile.BadZipFile, ValueError, EOFError):
            continue
    return False


def md5_of(built, section="3"):
    """The MD5 (hex) of a part's decoded content: the file's identity at the gateway."""
    return hashlib.md5(built.decoded[section]).hexdigest()


def dangerous(data):
    """Whether `data` (any fetch form's bytes) carries EICAR: raw, base64 at any alignment,
    in any decoded MIME part or run of base64 lines, or in a zip."""
    return (carries_eicar(data) or any(EICAR in run for run in base64_runs(data))
            or zip_carries_eicar(data))


def is_deny_notice(data, filename):
    """Whether `data` is a whole message that the deny notice replaced: one text part whose
    decoded text says the attachment `filename` was removed, and no other part."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    parts = [p for p in parsed.walk() if not p.is_multipart()]
    if len(parts) != 1 or parts[0].get_content_type() != "text/plain":
        return False
    text = parts[0].get_content()
    return NOTICE_TEXT in " ".join(text.split()) and filename in text
