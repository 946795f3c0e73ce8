"""The pieces every corpus message is built from: synthetic file contents (seeded by a
fixed string), MIME parts and envelopes written out by hand, zip/gzip/tar archives with
fixed times, and the corpus registry the set modules add their messages to."""

from __future__ import annotations
import base64
import gzip
import io
import quopri
import random
import tarfile
import zipfile

ZIP_TIME = (2024, 5, 14, 9, 10, 2)
TAR_MTIME = 1715677802  # 2024-05-14 09:10:02 UTC

# ----------------------------------------------------------------------------------------
# synthetic file contents


def rnd(tag: str, n: int) -> bytes:
    return random.Random(tag).randbytes(n)


def fake_pdf(tag: str, n: int = 600) -> bytes:
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Length " + str(n).encode() + b" /Filter /FlateDecode >>\nstream\n"
        + rnd(tag, n)
        + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def fake_png(tag: str, n: int = 400) -> bytes:
    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x20\x00\x00\x00\x20\x08\x06\x00\x00\x00"
        + rnd(tag + "crc", 4)
        + n.to_bytes(4, "big")
        + b"IDAT"
        + rnd(tag, n)
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


def fake_jpeg(tag: str, n: int = 500) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + rnd(tag, n) + b"\xff\xd9"


def fake_doc(tag: str, n: int = 500) -> bytes:  # an OLE2 header, like a legacy .doc/.xls
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + rnd(tag, n)


def lines_text(tag: str, count: int) -> bytes:
    r = random.Random(tag)
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()
    return b"".join(
        (" ".join(r.choice(words) for _ in range(r.randint(3, 9))) + "\n").encode() for _ in range(count)
    )


# ----------------------------------------------------------------------------------------
# encodings


def b64_lines(data: bytes, width: int = 76) -> list[str]:
    s = base64.b64encode(data).decode()
    return [s[i : i + width] for i in range(0, len(s), width)] or [""]


def b64_block(data: bytes, width: int = 76) -> str:
    return "\n".join(b64_lines(data, width))


def qp_block(data: bytes) -> str:
    s = quopri.encodestring(data).decode("ascii")
    return s[:-1] if s.endswith("\n") else s


def part(headers: list[str], body: str) -> str:
    return "\n".join(headers) + "\n\n" + body


def multipart(boundary: str, parts: list[str], preamble: str | None = None, epilogue: str = "") -> str:
    out = []
    if preamble is not None:
        out.append(preamble + "\n")
    for p in parts:
        out.append(f"--{boundary}\n{p}\n")
    out.append(f"--{boundary}--\n{epilogue}")
    return "".join(out)


def attachment(ctype: str, name: str | None, data: bytes, width: int = 76, disposition="attachment",
               extra: list[str] | None = None, name_on_type=True) -> str:
    ct = f'Content-Type: {ctype}'
    if name is not None and name_on_type:
        ct += f'; name="{name}"'
    cd = f"Content-Disposition: {disposition}"
    if name is not None:
        cd += f'; filename="{name}"'
    return part([ct, cd, "Content-Transfer-Encoding: base64"] + (extra or []), b64_block(data, width))


def msg(headers: list[str], body: str) -> bytes:
    return (part(headers, body)).encode("utf-8", "surrogateescape")


def envelope(subject: str, date: str, mid: str, sender="Alex Meyer <alex.meyer@example.org>",
             to="Sam Lee <sam.lee@example.net>") -> list[str]:
    return [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}", f"Message-ID: <{mid}>"]


# ----------------------------------------------------------------------------------------
# archives


def zip_bytes(members: list[tuple[str, bytes]], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            zi.compress_type = method
            zi.external_attr = 0o100644 << 16
            zi.create_system = 3
            zf.writestr(zi, data)
    return buf.getvalue()


def set_encrypted_flag(zdata: bytes, member: str) -> bytes:
    """Sets general-purpose flag bit 0 on `member` in the local header (+6) and the
    central directory header (+8).  The data stays as it was (not real ciphertext)."""
    b = bytearray(zdata)
    zf = zipfile.ZipFile(io.BytesIO(zdata))
    info = zf.getinfo(member)
    off = info.header_offset
    assert b[off : off + 4] == b"PK\x03\x04"
    b[off + 6] |= 0x01
    name = member.encode()
    i = 0
    while True:
        i = b.index(b"PK\x01\x02", i)
        if b[i + 46 : i + 46 + len(name)] == name:
            b[i + 8] |= 0x01
            break
        i += 4
    return bytes(b)


def gzip_bytes(data: bytes, fname: str | None) -> bytes:
    buf = io.BytesIO()
    # GzipFile writes FNAME = basename(filename) with a trailing ".gz" removed
    with gzip.GzipFile(filename=(fname + ".gz") if fname else "", mode="wb", fileobj=buf, mtime=0) as g:
        g.write(data)
    return buf.getvalue()


def tar_bytes(entries: list[tuple[str, bytes | None]], fmt=tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = TAR_MTIME
            ti.uid = ti.gid = 1000
            ti.uname = ti.gname = "alex"
            if data is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tf.addfile(ti)
            else:
                ti.size = len(data)
                ti.mode = 0o644
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


# ----------------------------------------------------------------------------------------
# the corpus: (set, name) -> (description, bytes)

CORPUS: dict[tuple[str, str], tuple[str, bytes]] = {}


def add(set_: str, name: str, description: str, data: bytes):
    assert (set_, name) not in CORPUS
    CORPUS[(set_, name)] = (description, data)
