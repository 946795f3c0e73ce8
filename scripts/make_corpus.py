#!/usr/bin/env python3
"""Writes the golden MIME corpus under core/tests/corpus/<set>/<name>.eml, with
<name>.python.json (what scripts/python_oracle.py sees in the message as stored, LF line
endings) and <name>.crlf.python.json (what it sees with every LF turned into CRLF) next to
each message, and a README.md index.

Usage:
    python3 scripts/make_corpus.py            # (re)write the corpus
    python3 scripts/make_corpus.py --check    # exit 1 if the files on disk differ
    python3 scripts/make_corpus.py --compare  # also show compat32 vs policy.default

Everything is deterministic: fixed dates, boundaries and message ids; "random" bytes come
from random.Random(<fixed string>); zip/gzip/tar headers carry fixed times.  Messages are
written with LF line endings and hold no CR byte (core/tests/corpus.rs feeds each one with
CRLF too, and compares with the .crlf.python.json; README.md says which messages decode to
different bytes then: text parts keep the message's line endings).

Only deflate output depends on the zlib build, and it only changes the encoded zip/gzip
attachment bytes, never the member bytes the .python.json files list.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import quopri
import random
import sys
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import python_oracle  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", "core", "tests", "corpus"))
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


# ---- clients ---------------------------------------------------------------------------


def build_clients():
    b_mix = "_004_DM6PR11MB4321A1B2C3D4E5F6A7B8C9D0E1F2DM6PR11MB4321namp_"
    b_alt = "_000_DM6PR11MB4321A1B2C3D4E5F6A7B8C9D0E1F2DM6PR11MB4321namp_"
    pdf = fake_pdf("outlook-q3", 900)
    png = fake_png("outlook-fig1", 500)
    text = part(
        ['Content-Type: text/plain; charset="us-ascii"', "Content-Transfer-Encoding: quoted-printable"],
        "Hi Sam,\n\nPlease find the Q3 report and the figure attached. The totals in section=\n 4 changed "
        "since Friday.\n\nBest regards,\nAlex\n",
    )
    html = part(
        ['Content-Type: text/html; charset="us-ascii"', "Content-Transfer-Encoding: quoted-printable"],
        '<html xmlns:o=3D"urn:schemas-microsoft-com:office:office">\n<head>\n<meta http-equiv=3D"Content-=\n'
        'Type" content=3D"text/html; charset=3Dus-ascii">\n</head>\n<body lang=3D"EN-US">\n<div class=3D"Wo=\n'
        'rdSection1"><p class=3D"MsoNormal">Hi Sam,<o:p></o:p></p>\n<p class=3D"MsoNormal">Please find the Q3 '
        "report and the figure attached.<o:p></o:p></p>\n</div>\n</body>\n</html>\n",
    )
    def outlook_att(ctype, name, data):
        return part(
            [
                f'Content-Type: {ctype}; name="{name}"',
                f"Content-Description: {name}",
                f'Content-Disposition: attachment; filename="{name}"; size={len(data)};',
                '\tcreation-date="Tue, 14 May 2024 09:10:02 GMT";',
                '\tmodification-date="Tue, 14 May 2024 09:10:02 GMT"',
                "Content-Transfer-Encoding: base64",
            ],
            b64_block(data, 76),
        )
    body = multipart(
        b_mix,
        [
            part([f'Content-Type: multipart/alternative;\n\tboundary="{b_alt}"'], multipart(b_alt, [text, html])),
            outlook_att("application/pdf", "Q3 report.pdf", pdf),
            outlook_att("image/png", "figure1.png", png),
        ],
    )
    headers = [
        "Received: from DM6PR11MB4321.namprd11.prod.outlook.example (2603:10b6:5:1c0::12) by",
        " DM6PR11MB4321.namprd11.prod.outlook.example with HTTPS; Tue, 14 May 2024",
        " 09:12:34 +0000",
        'From: "Meyer, Alex" <alex.meyer@contoso.example>',
        'To: "Lee, Sam" <sam.lee@fabrikam.example>',
        "Subject: Q3 report and figures",
        "Thread-Topic: Q3 report and figures",
        "Thread-Index: AdqlZ2ZkYWJjZGVmZ2hpamtsbW5vcA==",
        "Date: Tue, 14 May 2024 09:12:33 +0000",
        "Message-ID: <DM6PR11MB4321A1B2C3D4E5F6A7B8C9D0E1F2@DM6PR11MB4321.namprd11.prod.outlook.example>",
        "Accept-Language: en-US",
        "Content-Language: en-US",
        "X-MS-Has-Attach: yes",
        "X-MS-TNEF-Correlator:",
        f'Content-Type: multipart/mixed;\n\tboundary="{b_mix}"',
        "MIME-Version: 1.0",
    ]
    add("clients", "outlook", "Outlook: mixed > alternative(QP text, QP html) + PDF and PNG; name= and filename=, "
        "size/creation-date params, 76-column base64, X-MS-Has-Attach", msg(headers, body))

    # Thunderbird
    b = "------------Xq3m8ZkP0vLr7TbN2yWc5HdA"
    inv = fake_pdf("tb-invoice", 1200)
    notes = "Payment terms: 30 days.\nReference: INV-2291\nContact: billing@example.org\n".encode()
    body = multipart(
        b,
        [
            part(
                ["Content-Type: text/plain; charset=UTF-8; format=flowed", "Content-Transfer-Encoding: 7bit"],
                "Hello Sam,\n\nattached is invoice 2291 for the April work. The amount is due at \nthe end "
                "of the month, as agreed in our call last week.\n\nThanks,\nAlex\n",
            ),
            part(
                ['Content-Type: application/pdf; name="invoice-2291.pdf"',
                 'Content-Disposition: attachment; filename="invoice-2291.pdf"',
                 "Content-Transfer-Encoding: base64"],
                b64_block(inv, 72),
            ),
            part(
                ['Content-Type: text/plain; charset=UTF-8; name="notes.txt"',
                 'Content-Disposition: attachment; filename="notes.txt"',
                 "Content-Transfer-Encoding: base64"],
                b64_block(notes, 72),
            ),
        ],
        preamble="This is a multi-part message in MIME format.",
    )
    headers = [
        "Message-ID: <4b1e2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d@example.org>",
        "Date: Thu, 16 May 2024 10:20:30 +0200",
        "MIME-Version: 1.0",
        "User-Agent: Mozilla Thunderbird",
        "Content-Language: en-US",
        "To: Sam Lee <sam.lee@example.net>",
        "From: Alex Meyer <alex.meyer@example.org>",
        "Subject: Invoice 2291",
        f'Content-Type: multipart/mixed; boundary="{b}"',
    ]
    add("clients", "thunderbird", "Thunderbird: preamble, format=flowed text, PDF and text attachments with "
        "name= and filename=, 72-column base64", msg(headers, body))

    # Gmail
    b_mix, b_alt = "000000000000b5c6d70618802f1e", "000000000000b5c6d50618802f1c"
    chart = fake_png("gmail-chart", 800)
    deck = fake_pdf("gmail-deck", 700)
    def gatt(ctype, name, data, att_id):
        return part(
            [f'Content-Type: {ctype}; name="{name}"', f'Content-Disposition: attachment; filename="{name}"',
             "Content-Transfer-Encoding: base64", f"Content-ID: <{att_id}>", f"X-Attachment-Id: {att_id}"],
            b64_block(data, 76),
        )
    alt = multipart(
        b_alt,
        [
            part(['Content-Type: text/plain; charset="UTF-8"'], "Here is the chart for the deck, and my notes.\n"),
            part(['Content-Type: text/html; charset="UTF-8"'],
                 '<div dir="ltr">Here is the chart for the deck, and my notes.</div>\n'),
        ],
    )
    body = multipart(
        b_mix,
        [
            part([f'Content-Type: multipart/alternative; boundary="{b_alt}"'], alt),
            gatt("image/png", "chart.png", chart, "f_lw8k2x0a0"),
            gatt("application/pdf", "deck notes.pdf", deck, "f_lw8k2x0b1"),
        ],
    )
    headers = [
        "MIME-Version: 1.0",
        "From: Priya Natarajan <priya.natarajan@gmail.example>",
        "Date: Wed, 15 May 2024 14:03:27 +0530",
        "Message-ID: <CAF+ab1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2yZ3aB4cD5eF@mail.gmail.example>",
        "Subject: Chart for the deck",
        "To: Sam Lee <sam.lee@example.net>",
        f'Content-Type: multipart/mixed; boundary="{b_mix}"',
    ]
    add("clients", "gmail", "Gmail: mixed > alternative + PNG and PDF with Content-ID and X-Attachment-Id, "
        "76-column base64", msg(headers, body))

    # Apple Mail
    b_alt = "Apple-Mail=_6A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"
    b_mix = "Apple-Mail=_7B2C3D4E-5F6A-4B7C-9D8E-0F1A2B3C4D5E"
    jpg = fake_jpeg("apple-img", 900)
    menu = fake_pdf("apple-menu", 400)
    html = lambda s: part(["Content-Transfer-Encoding: 7bit", "Content-Type: text/html;\n\tcharset=us-ascii"], s)
    mixed = multipart(
        b_mix,
        [
            html('<html><head></head><body style="overflow-wrap: break-word;">Photos from Saturday:<br>'
                 "<img apple-inline=\"yes\" src=\"cid:3C1D5E7F-0A2B-4C6D-8E9F-1A2B3C4D5E6F\"></body></html>"),
            part(
                ["Content-Transfer-Encoding: base64", "Content-Disposition: inline;\n\tfilename=IMG_0042.jpeg",
                 'Content-Type: image/jpeg;\n\tx-unix-mode=0644;\n\tname="IMG_0042.jpeg"',
                 "Content-Id: <3C1D5E7F-0A2B-4C6D-8E9F-1A2B3C4D5E6F>"],
                b64_block(jpg, 76),
            ),
            html("<html><head></head><body>And the menu:<br></body></html>"),
            part(
                ["Content-Disposition: inline;\n\tfilename=Menu.pdf", "Content-Type: application/pdf;\n\tx-unix-mode=0644;\n\tname=\"Menu.pdf\"",
                 "Content-Transfer-Encoding: base64"],
                b64_block(menu, 76),
            ),
            html("<html><head></head><body><br></body></html>"),
        ],
    )
    body = multipart(
        b_alt,
        [
            part(["Content-Transfer-Encoding: 7bit", "Content-Type: text/plain;\n\tcharset=us-ascii"],
                 "Photos from Saturday:\n\n\nAnd the menu:\n"),
            part([f'Content-Type: multipart/mixed;\n\tboundary="{b_mix}"'], mixed),
        ],
    )
    headers = [
        "From: Sam Ortiz <sam.ortiz@icloud.example>",
        f'Content-Type: multipart/alternative;\n\tboundary="{b_alt}"',
        "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.500.171.1.1\\))",
        "Subject: Photos from Saturday",
        "Date: Sat, 11 May 2024 18:45:10 -0700",
        "Message-Id: <5D2E4F6A-8B0C-4D1E-9F2A-3B4C5D6E7F80@icloud.example>",
        "To: Alex Meyer <alex.meyer@example.org>",
        "X-Mailer: Apple Mail (2.3774.500.171.1.1)",
    ]
    add("clients", "apple_mail", "Apple Mail: alternative > (text, mixed(html, inline JPEG, html, inline PDF, html)); "
        "inline parts with an unquoted filename= count as files", msg(headers, body))

    # RFC 2231
    b = "=_rfc2231_7d0c5b3a"
    rates = fake_pdf("rfc2231-rates", 500)
    overview = "Q4 overview\nrevenue,1200\ncosts,800\n".encode()
    resume = fake_doc("rfc2231-resume", 300)
    body = multipart(
        b,
        [
            part(["Content-Type: text/plain; charset=us-ascii"], "Three attachments with RFC 2231 names.\n"),
            part(["Content-Type: application/pdf",
                  "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.pdf",
                  "Content-Transfer-Encoding: base64"], b64_block(rates)),
            part(["Content-Type: text/plain; charset=utf-8;",
                  " name*0*=utf-8'de'%C3%9Cbersicht%20Q4;",
                  " name*1*=%202024%20%E2%80%93%20final.txt",
                  "Content-Disposition: attachment;",
                  " filename*0*=utf-8'de'%C3%9Cbersicht%20Q4;",
                  " filename*1*=%202024%20%E2%80%93%20final.txt",
                  "Content-Transfer-Encoding: base64"], b64_block(overview)),
            part(["Content-Type: application/msword; name*=iso-8859-1''r%E9sum%E9.doc",
                  "Content-Transfer-Encoding: base64"], b64_block(resume)),
        ],
    )
    add("clients", "rfc2231_filename", "RFC 2231 names: filename*=utf-8''%E2%82%AC%20rates.pdf; continuations "
        "filename*0*/filename*1* with a language tag; an ISO-8859-1 name*= on Content-Type only (no "
        "Content-Disposition)",
        msg(envelope("Rates", "Fri, 17 May 2024 08:00:00 +0000", "rfc2231@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'], body))

    # RFC 2047
    b = "=_rfc2047_1f2e3d4c"
    ub = fake_pdf("rfc2047-ubersicht", 500)
    cv = lines_text("rfc2047-cv", 6)
    jb = fake_pdf("rfc2047-jahresbericht", 400)
    body = multipart(
        b,
        [
            part(["Content-Type: text/plain; charset=us-ascii"], "Three attachments with RFC 2047 names.\n"),
            part(['Content-Type: application/pdf; name="=?UTF-8?B?w5xiZXJzaWNodCAyMDI0LnBkZg==?="',
                  'Content-Disposition: attachment; filename="=?UTF-8?B?w5xiZXJzaWNodCAyMDI0LnBkZg==?="',
                  "Content-Transfer-Encoding: base64"], b64_block(ub)),
            part(['Content-Type: text/plain; charset=iso-8859-1; name="=?iso-8859-1?Q?r=E9sum=E9_v2.txt?="',
                  "Content-Disposition: attachment;",
                  ' filename="=?iso-8859-1?Q?r=E9sum=E9_v2.txt?="',
                  "Content-Transfer-Encoding: base64"], b64_block(cv)),
            part(["Content-Type: application/pdf;",
                  ' name="=?UTF-8?Q?Jahres?=',
                  ' =?UTF-8?Q?bericht_f=C3=BCr_2024.pdf?="',
                  "Content-Transfer-Encoding: base64"], b64_block(jb)),
        ],
    )
    add("clients", "rfc2047_name", "RFC 2047 encoded words in quoted name=/filename= (B, Q with _ for space, two "
        "adjacent words with a line fold between them, which RFC 2047 6.2 says to drop); the third has no "
        "Content-Disposition",
        msg(envelope("=?UTF-8?Q?Unterlagen_f=C3=BCr_Sie?=", "Fri, 17 May 2024 08:05:00 +0000", "rfc2047@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'], body))

    # adjacent encoded words separated by a plain space on one line
    b = "=_rfc2047_adj_5a6b"
    body = multipart(b, [
        part(["Content-Type: text/plain; charset=us-ascii"], "Adjacent encoded words.\n"),
        part(['Content-Type: application/pdf; name="=?UTF-8?Q?Jahres?= =?UTF-8?Q?bericht_f=C3=BCr_2024.pdf?="',
              "Content-Transfer-Encoding: base64"], b64_block(jb)),
        part(["Content-Type: application/pdf",
              'Content-Disposition: attachment; filename="=?UTF-8?B?UXVhcnRhbHM=?= =?UTF-8?B?YmVyaWNodC5wZGY=?="',
              "Content-Transfer-Encoding: base64"], b64_block(ub)),
    ])
    add("clients", "rfc2047_adjacent_space", "two adjacent RFC 2047 words separated by one space on the same line, "
        "in a quoted name= (Q) and filename= (B): RFC 2047 6.2 says the space between adjacent encoded words is "
        "dropped (Jahresbericht f\u00fcr 2024.pdf, Quartalsbericht.pdf)",
        msg(envelope("Berichte", "Fri, 17 May 2024 08:06:00 +0000", "rfc2047adj@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'], body))


# ---- encodings -------------------------------------------------------------------------


def build_encodings():
    # quoted-printable CSV, hand-written so the soft breaks and escapes are exactly these
    b = "=_qp_csv_44aa"
    qp = (
        "id,product,price,formula\n"
        "1,Widget,=E2=82=AC 12.50,=3DSUM(A1:A9)\n"
        "2,Gadget with a really long description that goes on and on past the seven=\n"
        "ty-six column limit,=E2=82=AC 7.25,=3DB2*2\n"
        "3,Trailing space ,1.00,=3D\"x\"=20\n"
        "4,Tab\tseparated,2.00,none=09\n"
        "5,Soft break at end,3.00,=\n"
        "=3DC5"
    )
    decoded = quopri.decodestring(qp.encode())
    assert b"=SUM(A1:A9)" in decoded and b"seventy-six" in decoded and decoded.endswith(b"3.00,=C5")
    body = multipart(
        b,
        [
            part(["Content-Type: text/plain; charset=us-ascii"], "Prices attached.\n"),
            part(['Content-Type: text/csv; charset=utf-8; name="prices.csv"',
                  'Content-Disposition: attachment; filename="prices.csv"',
                  "Content-Transfer-Encoding: quoted-printable"], qp),
        ],
    )
    add("encodings", "qp_csv", "text/csv attachment in quoted-printable: soft line breaks (=\\n), =3D, =E2=82=AC, "
        "=20 and =09 at line ends, no final newline",
        msg(envelope("Prices", "Mon, 20 May 2024 07:00:00 +0000", "qp-csv@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'], body))

    # base64 line lengths
    b = "=_b64_lines_9f8e"
    parts = [part(["Content-Type: text/plain; charset=us-ascii"], "Base64 with various line lengths.\n")]
    specs = [(60, 900, "pad0"), (64, 901, "pad2"), (72, 902, "pad1"), (77, 1000, "pad2b")]
    for width, n, tag in specs:
        data = rnd(f"b64-{width}-{tag}", n)
        name = f"w{width}-{tag}.bin"
        parts.append(part([f'Content-Type: application/octet-stream; name="{name}"',
                           f'Content-Disposition: attachment; filename="{name}"',
                           "Content-Transfer-Encoding: base64"], b64_block(data, width)))
    # ragged lines (no fixed width) and an upper-case encoding name
    data = rnd("b64-ragged", 700)
    s = base64.b64encode(data).decode()
    cuts, pos, r = [], 0, random.Random("ragged")
    while pos < len(s):
        step = r.randint(1, 90)
        cuts.append(s[pos : pos + step])
        pos += step
    parts.append(part(['Content-Type: application/octet-stream; name="ragged.bin"',
                       'Content-Disposition: attachment; filename="ragged.bin"',
                       "Content-Transfer-Encoding: BASE64"], "\n".join(cuts)))
    # exactly 3 bytes (one quantum, no padding), and zero bytes
    parts.append(attachment("application/octet-stream", "three.bin", b"\x00\xff\x10"))
    parts.append(part(['Content-Type: application/octet-stream; name="empty.bin"',
                       'Content-Disposition: attachment; filename="empty.bin"',
                       "Content-Transfer-Encoding: base64"], ""))
    add("encodings", "base64_line_lengths", "base64 with lines of 60, 64, 72 and 77 (over the 76 limit) characters, "
        "ragged 1..90-character lines with Content-Transfer-Encoding: BASE64, padding '', '=', '==', a 3-byte and "
        "an empty attachment",
        msg(envelope("Line lengths", "Mon, 20 May 2024 07:05:00 +0000", "b64-lines@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'], multipart(b, parts)))

    # base64 with whitespace inside lines (legal per RFC 2045, a defect for Python)
    b = "=_b64_ws_1234"
    data = fake_pdf("b64-ws", 500)
    lines = b64_lines(data, 76)
    ws = []
    for i, ln in enumerate(lines):
        if i % 3 == 0:
            ln = ln[:20] + " " + ln[20:40] + "\t" + ln[40:]
        elif i % 3 == 1:
            ln = ln + "  "  # trailing blanks
        ws.append(ln)
    body = multipart(
        b,
        [
            part(["Content-Type: text/plain; charset=us-ascii"], "Base64 with blanks inside lines.\n"),
            part(['Content-Type: application/pdf; name="spaced.pdf"',
                  'Content-Disposition: attachment; filename="spaced.pdf"',
                  "Content-Transfer-Encoding: base64"], "\n".join(ws)),
        ],
    )
    add("encodings", "base64_whitespace", "base64 with spaces and tabs inside lines and trailing blanks (RFC 2045: "
        "ignore them; Python ignores them too but records InvalidBase64CharactersDefect)",
        msg(envelope("Spaced", "Mon, 20 May 2024 07:10:00 +0000", "b64-ws@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'], body))

    # 7bit text attachment
    b = "=_7bit_5566"
    body = multipart(
        b,
        [
            part(["Content-Type: text/plain; charset=us-ascii"], "Readme attached.\n"),
            part(['Content-Type: text/plain; charset=us-ascii; name="readme.txt"',
                  'Content-Disposition: attachment; filename="readme.txt"',
                  "Content-Transfer-Encoding: 7bit"], lines_text("7bit-readme", 12).decode()
                 + "\nLast line, followed by one empty line.\n"),
        ],
    )
    add("encodings", "7bit_text", "7bit text attachment (its bytes are the lines as written, so LF vs CRLF "
        "changes them; the newline before the boundary belongs to the boundary)",
        msg(envelope("Readme", "Mon, 20 May 2024 07:15:00 +0000", "7bit@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'], body))

    # 8bit attachments (UTF-8 and ISO-8859-1 bytes)
    b = "=_8bit_7788"
    utf8 = "Grüße aus Köln – 20 € pro Person.\nΚαλημέρα. こんにちは.\n"
    latin1 = "Café crème, naïve façade, 5 °C.\n".encode("latin-1").decode("utf-8", "surrogateescape")
    body = multipart(
        b,
        [
            part(["Content-Type: text/plain; charset=us-ascii"], "Two 8bit attachments.\n"),
            part(['Content-Type: text/plain; charset=utf-8; name="gruesse.txt"',
                  'Content-Disposition: attachment; filename="gruesse.txt"',
                  "Content-Transfer-Encoding: 8bit"], utf8),
            part(['Content-Type: text/plain; charset=iso-8859-1; name="cafe.txt"',
                  'Content-Disposition: attachment; filename="cafe.txt"',
                  "Content-Transfer-Encoding: 8bit"], latin1),
        ],
    )
    add("encodings", "8bit_text", "8bit text attachments: UTF-8 bytes and ISO-8859-1 bytes, taken as they are",
        msg(envelope("Accents", "Mon, 20 May 2024 07:20:00 +0000", "8bit@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'], body))

    # binary: raw bytes without CR or LF, so line-ending conversion cannot touch them
    b = "=_binary_99aa"
    blob = bytes(x for x in rnd("binary-blob", 1400) if x not in (0x0A, 0x0D))
    blob = b"\x7fELF\x02\x01\x01\x00" + blob
    body = multipart(
        b,
        [
            part(["Content-Type: text/plain; charset=us-ascii"], "A binary attachment.\n"),
            part(['Content-Type: application/octet-stream; name="blob.bin"',
                  'Content-Disposition: attachment; filename="blob.bin"',
                  "Content-Transfer-Encoding: binary"], blob.decode("latin-1")),
        ],
    )
    data = msg(envelope("Blob", "Mon, 20 May 2024 07:25:00 +0000", "binary@example.org")
               + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'], "")
    data = data + body.encode("latin-1")
    add("encodings", "binary", "Content-Transfer-Encoding: binary, 1.4 KB of raw bytes 0x00-0xff without CR or LF",
        data)


# ---- nested ----------------------------------------------------------------------------


def build_nested():
    # forwarded message with two attachments of its own, then one more outer attachment
    bi = "=_inner_fwd_2b3c"
    inner = msg(
        envelope("Site photos and plan", "Tue, 21 May 2024 16:00:00 +0000", "original@example.com",
                 sender="Jordan Blake <jordan.blake@example.com>", to="Alex Meyer <alex.meyer@example.org>")
        + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{bi}"'],
        multipart(bi, [
            part(["Content-Type: text/plain; charset=us-ascii"], "Photos and the plan, as promised.\n"),
            attachment("image/jpeg", "site.jpg", fake_jpeg("fwd-site", 700)),
            attachment("application/pdf", "plan.pdf", fake_pdf("fwd-plan", 600)),
        ]),
    ).decode("utf-8")
    bo = "=_outer_fwd_4d5e"
    body = multipart(bo, [
        part(["Content-Type: text/plain; charset=us-ascii"], "FYI, see the forwarded message.\n"),
        part(["Content-Type: message/rfc822", 'Content-Disposition: attachment; filename="Site photos and plan.eml"'],
             inner),
        attachment("text/csv", "budget.csv", b"item,cost\nconcrete,1200\nsteel,3400\n"),
    ])
    add("nested", "forwarded_rfc822", "a forwarded message/rfc822 attachment (itself with a JPEG and a PDF), "
        "then an outer CSV; the .eml part is not a file, its attachments are",
        msg(envelope("Fwd: Site photos and plan", "Wed, 22 May 2024 09:00:00 +0000", "fwd@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{bo}"'], body))

    # depth 3: message/rfc822 in message/rfc822 in the top message
    b3 = "=_level3_aa"
    level3 = msg(
        envelope("Level 3", "Mon, 20 May 2024 10:00:00 +0000", "level3@example.com")
        + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b3}"'],
        multipart(b3, [
            part(["Content-Type: text/plain; charset=us-ascii"], "The innermost message.\n"),
            attachment("application/pdf", "deep.pdf", fake_pdf("depth3-deep", 500)),
        ]),
    ).decode()
    b2 = "=_level2_bb"
    level2 = msg(
        envelope("Fwd: Level 3", "Mon, 20 May 2024 11:00:00 +0000", "level2@example.com")
        + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b2}"'],
        multipart(b2, [
            part(["Content-Type: text/plain; charset=us-ascii"], "Forwarding level 3.\n"),
            part(["Content-Type: message/rfc822"], level3),
        ]),
    ).decode()
    b1 = "=_level1_cc"
    body = multipart(b1, [
        part(["Content-Type: text/plain; charset=us-ascii"], "Forwarding level 2.\n"),
        part(["Content-Type: message/rfc822", "Content-Disposition: attachment"], level2),
    ])
    add("nested", "rfc822_depth3", "message/rfc822 inside message/rfc822 inside the top message; one PDF at the "
        "bottom", msg(envelope("Fwd: Fwd: Level 3", "Mon, 20 May 2024 12:00:00 +0000", "level1@example.org")
                      + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b1}"'], body))

    # mixed > alternative > related
    bm, ba, br = "=_mixed_r1", "=_alt_r2", "=_related_r3"
    logo = fake_png("related-logo", 300)
    related = multipart(br, [
        part(['Content-Type: text/html; charset="utf-8"'], '<p>Newsletter <img src="cid:logo@example.org"></p>\n'),
        part(['Content-Type: image/png; name="logo.png"', "Content-Transfer-Encoding: base64",
              "Content-ID: <logo@example.org>", 'Content-Disposition: inline; filename="logo.png"'], b64_block(logo)),
        part(["Content-Type: image/gif", "Content-Transfer-Encoding: base64", "Content-ID: <spacer@example.org>"],
             b64_block(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
                       b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")),
    ])
    alt = multipart(ba, [
        part(['Content-Type: text/plain; charset="utf-8"'], "Newsletter (text version)\n"),
        part([f'Content-Type: multipart/related; type="text/html"; boundary="{br}"'], related),
    ])
    body = multipart(bm, [
        part([f'Content-Type: multipart/alternative; boundary="{ba}"'], alt),
        attachment("application/pdf", "newsletter.pdf", fake_pdf("related-newsletter", 600)),
    ])
    add("nested", "related_in_alternative", "mixed > alternative > related(html, inline PNG with filename, GIF with "
        "Content-ID but no filename or disposition: not a file) + PDF attachment",
        msg(envelope("Newsletter", "Thu, 23 May 2024 06:00:00 +0000", "related@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{bm}"'], body))

    # multipart/digest
    bd = "=_digest_dd"
    bdi = "=_digest_inner_ee"
    m1 = "\n".join(envelope("Meeting moved", "Fri, 24 May 2024 08:00:00 +0000", "d1@example.com")) + \
        "\n\nThe meeting moved to 3 pm.\n"
    m2 = msg(
        envelope("Minutes", "Fri, 24 May 2024 09:00:00 +0000", "d2@example.com")
        + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{bdi}"'],
        multipart(bdi, [
            part(["Content-Type: text/plain; charset=us-ascii"], "Minutes attached.\n"),
            attachment("application/pdf", "minutes.pdf", fake_pdf("digest-minutes", 500)),
        ]),
    ).decode()
    m3 = "\n".join(envelope("Slides", "Fri, 24 May 2024 10:00:00 +0000", "d3@example.com")) + \
        "\nMIME-Version: 1.0\n" + attachment("application/vnd.ms-powerpoint", "slides.ppt", fake_doc("digest-slides", 400))
    body = "\n".join([
        "This is a digest of 3 messages.",
        f"--{bd}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Table of contents: 1. Meeting moved  2. Minutes  3. Slides",
        f"--{bd}",
        "",
        m1,
        f"--{bd}",
        "",
        m2,
        f"--{bd}",
        "Content-Type: message/rfc822",
        "",
        m3,
        f"--{bd}--",
        "",
    ])
    add("nested", "digest", "multipart/digest: a text/plain table of contents, two parts without headers (default "
        "message/rfc822; the second has a PDF), one explicit message/rfc822 whose top level is a .ppt attachment",
        msg(envelope("Weekly digest", "Sat, 25 May 2024 00:00:00 +0000", "digest@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/digest; boundary="{bd}"'], body))

    # message/external-body (RFC 2046 5.2.3): its name= is the file's name on the FTP site and
    # its body is the phantom header of content that is not in the message: no file
    bx = "=_external_ff"
    body = multipart(bx, [
        part(["Content-Type: text/plain; charset=us-ascii"], "The report is on the FTP server.\n"),
        part(["Content-Type: message/external-body; access-type=anon-ftp;", ' site="ftp.example.org";',
              ' directory="pub/reports"; name="q3-report.pdf"'],
             "Content-Type: application/pdf\nContent-ID: <q3-report@example.org>\n\n"),
        attachment("application/pdf", "summary.pdf", fake_pdf("external-summary", 300)),
    ])
    add("nested", "external_body", "message/external-body with access-type=anon-ftp and name=\"q3-report.pdf\" "
        "(the name on the FTP site; the body is only the phantom header of the external content: no file), "
        "then a real PDF attachment",
        msg(envelope("Q3 report location", "Sat, 25 May 2024 01:00:00 +0000", "external@example.org")
            + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{bx}"'], body))


# ---- archives --------------------------------------------------------------------------


def check_ratio(members):
    for name, data in members:
        c = len(zlib_compress(data))
        assert c == 0 or len(data) / c < 50, (name, len(data), c)


def zlib_compress(data):
    import zlib
    return zlib.compress(data, 9)


def archive_message(name, subject, mid, date, att_ctype, att_name, att_data, description, set_="archives"):
    if att_data[:2] == b"\x1f\x8b" and name != "gz_truncated":  # far below the ratio limit (100)
        assert len(gzip.decompress(att_data)) / len(att_data) < 50, name
    b = f"=_arch_{name}"
    body = multipart(b, [
        part(["Content-Type: text/plain; charset=us-ascii"], f"{subject}: see attachment.\n"),
        attachment(att_ctype, att_name, att_data),
    ])
    add(set_, name, description,
        msg(envelope(subject, date, mid) + ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"'],
            body))


def build_archives():
    m3 = [("a.txt", lines_text("zip3-a", 8)), ("docs/report.pdf", fake_pdf("zip3-report", 900)),
          ("images/c.png", fake_png("zip3-c", 600))]
    check_ratio(m3)
    archive_message("zip_three", "Three files", "zip3@example.org", "Mon, 27 May 2024 08:00:00 +0000",
                    "application/zip", "docs.zip", zip_bytes(m3),
                    "application/zip with 3 deflated members (two in folders)")

    inner = zip_bytes([("x.txt", lines_text("zipn-x", 5)), ("y.bin", rnd("zipn-y", 300))])
    mn = [("readme.txt", lines_text("zipn-readme", 4)), ("inner.zip", inner), ("z.pdf", fake_pdf("zipn-z", 300))]
    check_ratio(mn)
    archive_message("zip_nested", "Nested zip", "zipn@example.org", "Mon, 27 May 2024 08:05:00 +0000",
                    "application/zip", "outer.zip", zip_bytes(mn),
                    "zip holding readme.txt, inner.zip (x.txt, y.bin) and z.pdf: members inner.zip/x.txt, "
                    "inner.zip/y.bin")

    md = [("export/data.csv", lines_text("dat-csv", 10)), ("export/logo.png", fake_png("dat-logo", 300))]
    archive_message("zip_as_dat", "Export", "dat@example.org", "Mon, 27 May 2024 08:10:00 +0000",
                    "application/octet-stream", "export.dat", zip_bytes(md),
                    "a zip sent as application/octet-stream named export.dat: recognised by content")

    me = [("readme.txt", lines_text("enc-readme", 4)), ("secret.pdf", fake_pdf("enc-secret", 700)),
          ("stored.txt", lines_text("enc-stored", 3))]
    # secret.pdf deflated (so raw != plain), stored.txt stored; then mark secret.pdf encrypted
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for (n, d), method in zip(me, (zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED)):
            zi = zipfile.ZipInfo(n, date_time=ZIP_TIME)
            zi.compress_type = method
            zi.external_attr = 0o100644 << 16
            zf.writestr(zi, d)
    z = set_encrypted_flag(buf.getvalue(), "secret.pdf")
    archive_message("zip_encrypted", "Protected", "enc@example.org", "Mon, 27 May 2024 08:15:00 +0000",
                    "application/zip", "protected.zip", z,
                    "zip whose secret.pdf has flag bit 0 (encrypted) set in local and central headers: "
                    "listed as unscannable 'encrypted' with md5 of its raw (deflated) stored bytes; a "
                    "deflated and a stored plain member beside it")

    tar = tar_bytes([("notes.txt", lines_text("tgz-notes", 6)), ("data/", None),
                     ("data/table.csv", lines_text("tgz-table", 9))])
    archive_message("tar_gz", "Bundle", "tgz@example.org", "Mon, 27 May 2024 08:20:00 +0000",
                    "application/gzip", "bundle.tar.gz", gzip_bytes(tar, "bundle.tar"),
                    "gzip (FNAME 'bundle.tar') of a GNU tar with notes.txt, a directory entry and data/table.csv: "
                    "members bundle.tar/notes.txt, bundle.tar/data/table.csv")

    tar2 = tar_bytes([("one.txt", lines_text("tgz2-one", 4)), ("two.pdf", fake_pdf("tgz2-two", 400))],
                     fmt=tarfile.USTAR_FORMAT)
    archive_message("tgz_no_fname", "Bundle 2", "tgz2@example.org", "Mon, 27 May 2024 08:25:00 +0000",
                    "application/x-compressed-tar", "bundle2.tgz", gzip_bytes(tar2, None),
                    "gzip without FNAME (as `tar cz` writes it) of a ustar tar: members one.txt, two.pdf, no prefix")

    archive_message("gz_single", "Log", "gz@example.org", "Mon, 27 May 2024 08:30:00 +0000",
                    "application/gzip", "server.log.gz", gzip_bytes(lines_text("gz-log", 30), "server.log"),
                    "gzip of one file with FNAME 'server.log': one member named server.log")

    # a document zip (Office Open XML: first entry [Content_Types].xml) is one file, and so is
    # a JAR (first entry META-INF/MANIFEST.MF) inside an ordinary zip
    docx = zip_bytes([("[Content_Types].xml", b'<?xml version="1.0"?><Types/>\n'),
                      ("word/document.xml", b"<w:document/>\n" + lines_text("docx-body", 6))])
    archive_message("docx_document", "Contract", "docx@example.org", "Mon, 27 May 2024 08:35:00 +0000",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "contract.docx", docx,
                    "an Office Open XML zip (first entry [Content_Types].xml): a document, one file, not expanded")
    jar = zip_bytes([("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"), ("a/Main.class", rnd("jar-main", 300))])
    mj = [("readme.txt", lines_text("jarzip-readme", 3)), ("tool.jar", jar)]
    check_ratio(mj)
    archive_message("zip_with_jar", "Tool", "jar@example.org", "Mon, 27 May 2024 08:40:00 +0000",
                    "application/zip", "tool.zip", zip_bytes(mj),
                    "a zip holding readme.txt and tool.jar (first entry META-INF/MANIFEST.MF): the jar is a "
                    "member as it is, not expanded")

    # FNAME in ISO 8859-1 (RFC 1952), as Python's gzip writes it: 'caf\xe9.txt'
    archive_message("gz_latin1_fname", "Latin-1", "gzl1@example.org", "Mon, 27 May 2024 08:45:00 +0000",
                    "application/gzip", "cafe.txt.gz", gzip_bytes(lines_text("gz-latin1", 12), "caf\u00e9.txt"),
                    "gzip whose FNAME is ISO 8859-1 bytes 'caf\\xe9.txt' (RFC 1952): member named caf\u00e9.txt")

    # two gzip members (cat a.gz b.gz): both decoded, joined; the first header names it
    two = gzip_bytes(lines_text("gz-multi-a", 5), "first.txt") + gzip_bytes(lines_text("gz-multi-b", 5), "second.txt")
    archive_message("gz_multi_member", "Two members", "gzmm@example.org", "Mon, 27 May 2024 08:50:00 +0000",
                    "application/gzip", "joined.txt.gz", two,
                    "gzip stream of two members (FNAME first.txt, then second.txt), as `cat a.gz b.gz` makes: "
                    "one member, both decoded and joined, named by the first header")

    # a gzip cut short: the attachment itself is listed, unscannable 'corrupt'
    cut = gzip_bytes(lines_text("gz-cut", 30), "cut.log")
    archive_message("gz_truncated", "Cut", "gzcut@example.org", "Mon, 27 May 2024 08:55:00 +0000",
                    "application/gzip", "cut.log.gz", cut[: len(cut) * 2 // 3],
                    "gzip (FNAME cut.log) cut at two thirds: nothing can be read, so the attachment itself is "
                    "listed (its name, content type, bytes; archive null) as unscannable 'corrupt'")

    # archives that break half-way: what was read, then the attachment itself as 'corrupt'
    tt = tar_bytes([("part1.txt", lines_text("tartrunc-1", 5)), ("part2.bin", rnd("tartrunc-2", 1500))],
                   fmt=tarfile.USTAR_FORMAT)
    cut_at = 512 + 512 + 512 + 700  # part1 header + data, part2 header, 700 of its 1500 bytes
    archive_message("tar_truncated", "Cut tar", "tartrunc@example.org", "Mon, 27 May 2024 09:05:00 +0000",
                    "application/x-tar", "cut.tar", tt[:cut_at],
                    "ustar tar cut in the middle of its second member's data: part1.txt is a member, then the "
                    "attachment itself is listed (archive null, its content type) as unscannable 'corrupt'")
    zz = zip_bytes([("one.txt", lines_text("ziptrunc-1", 5)), ("two.txt", lines_text("ziptrunc-2", 5))])
    archive_message("zip_truncated", "Cut zip", "ziptrunc@example.org", "Mon, 27 May 2024 09:10:00 +0000",
                    "application/zip", "cut.zip", zz[: len(zz) - 40],
                    "zip cut 40 bytes before its end (no end of central directory): it cannot be opened, so the "
                    "attachment itself is the only entry, unscannable 'corrupt'")

    # a member whose compression method is 12 (bzip2), which aptsim does not decode
    zb = bytearray(zip_bytes([("plain.txt", lines_text("zipbz-plain", 4)),
                              ("packed.bin", rnd("zipbz-packed", 400))], method=zipfile.ZIP_STORED))
    info = zipfile.ZipFile(io.BytesIO(bytes(zb))).getinfo("packed.bin")
    zb[info.header_offset + 8 : info.header_offset + 10] = (12).to_bytes(2, "little")
    i = 0  # and in its central directory header
    while True:
        i = bytes(zb).index(b"PK\x01\x02", i)
        if bytes(zb)[i + 46 : i + 46 + len(b"packed.bin")] == b"packed.bin":
            zb[i + 10 : i + 12] = (12).to_bytes(2, "little")
            break
        i += 4
    archive_message("zip_unsupported_method", "Method 12", "zipbz@example.org", "Mon, 27 May 2024 09:15:00 +0000",
                    "application/zip", "methods.zip", bytes(zb),
                    "zip with a stored plain.txt and packed.bin whose method field says 12 (bzip2) in the local and "
                    "central headers: packed.bin is listed as unscannable 'unsupported_method' with the md5 of its "
                    "stored bytes")

    # a lone zero block between two tar members does not end the archive (two do)
    t1 = tar_bytes([("first.txt", lines_text("tarzero-1", 4))], fmt=tarfile.USTAR_FORMAT)
    t2 = tar_bytes([("second.txt", lines_text("tarzero-2", 4))], fmt=tarfile.USTAR_FORMAT)
    first = t1[: 512 + 512 * ((len(lines_text("tarzero-1", 4)) + 511) // 512)]
    archive_message("tar_lone_zero_block", "Zero block", "tarzero@example.org", "Mon, 27 May 2024 09:00:00 +0000",
                    "application/x-tar", "gap.tar", first + bytes(512) + t2,
                    "ustar tar: first.txt, ONE zero block, then second.txt and the end-of-archive blocks: a lone "
                    "zero block does not end the archive (tar -i would extract second.txt), so both are members")


# ---- malformed -------------------------------------------------------------------------


def build_malformed():
    hdr = lambda subj, mid, b: envelope(subj, "Tue, 28 May 2024 08:00:00 +0000", mid) + [
        "MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"']

    # truncated: no closing boundary, the last part cut mid-base64
    b = "=_trunc_01"
    full = b64_lines(fake_pdf("trunc-pdf", 800), 76)
    cut = "\n".join(full[:8]) + "\n" + full[8][:41]  # 8*76 + 41 = 649 chars: 649 % 4 == 1
    body = "\n".join([
        f"--{b}", "Content-Type: text/plain; charset=us-ascii", "", "The attachment below is cut off.",
        f"--{b}", "Content-Type: application/pdf; name=\"cut.pdf\"",
        "Content-Disposition: attachment; filename=\"cut.pdf\"", "Content-Transfer-Encoding: base64", "",
        cut,
    ])
    add("malformed", "truncated_boundary", "no closing boundary; the last part stops in the middle of a base64 line "
        "(649 characters, which is 1 mod 4: Python then returns the base64 TEXT undecoded as the payload, "
        "InvalidBase64LengthDefect)", msg(hdr("Cut", "trunc@example.org", b), body))

    b = "=_truncb_02"
    cut2 = "\n".join(full[:8]) + "\n" + full[8][:42]  # 650 % 4 == 2: decodes with padding added
    body = "\n".join([
        f"--{b}", "Content-Type: text/plain; charset=us-ascii", "", "The attachment below is cut off.",
        f"--{b}", "Content-Type: application/pdf; name=\"cut.pdf\"",
        "Content-Disposition: attachment; filename=\"cut.pdf\"", "Content-Transfer-Encoding: base64", "",
        cut2 + "\n",
    ])
    add("malformed", "truncated_boundary_padded", "like truncated_boundary but cut after 650 base64 characters "
        "(2 mod 4): Python adds padding and decodes 487 bytes", msg(hdr("Cut", "trunc2@example.org", b), body))

    # a boundary declared but never used
    b = "=_never_used_03"
    body = ("This body never uses its boundary.\n--=_some_other_boundary\n"
            'Content-Type: application/pdf; name="ghost.pdf"\nContent-Transfer-Encoding: base64\n\n'
            + b64_block(fake_pdf("ghost", 200)) + "\n--=_some_other_boundary--\n")
    add("malformed", "boundary_unused", "multipart/mixed whose boundary never occurs (the body holds parts of "
        "another boundary): Python keeps the whole body as one text payload; no files",
        msg(hdr("Ghost", "unused@example.org", b), body))

    # bad base64: '!' and '*' inside
    b = "=_badb64_04"
    lines = b64_lines(fake_pdf("bad-b64", 500), 76)
    lines[1] = lines[1][:10] + "!" + lines[1][10:]
    lines[3] = lines[3][:30] + "**" + lines[3][30:]
    lines[5] = "!" + lines[5]
    body = multipart(b, [
        part(["Content-Type: text/plain; charset=us-ascii"], "Bad base64 below.\n"),
        part(['Content-Type: application/pdf; name="bad.pdf"', 'Content-Disposition: attachment; filename="bad.pdf"',
              "Content-Transfer-Encoding: base64"], "\n".join(lines)),
    ])
    add("malformed", "bad_base64", "'!' and '*' inside an attachment's base64 lines (Python skips them: "
        "InvalidBase64CharactersDefect)", msg(hdr("Bad base64", "badb64@example.org", b), body))

    # no header block at all
    add("malformed", "no_headers", "no header block at all: the file starts with body text (Python: "
        "MissingHeaderBodySeparatorDefect, a text/plain message, no files)",
        ("This message has no headers at all.\nIt starts with its body, and has a base64-looking line:\n"
         + b64_block(fake_pdf("noheaders", 100)) + "\n").encode())

    # parts with no headers / without the blank line
    b = "=_partnohdr_05"
    body = "\n".join([
        f"--{b}", "", "A part with no headers: text/plain by default.",
        f"--{b}", "", b64_block(fake_pdf("partnohdr-a", 200)),
        f"--{b}", "Content-Type: application/pdf; name=\"nosep.pdf\"", "Content-Transfer-Encoding: base64",
        b64_block(fake_pdf("partnohdr-b", 200)),
        f"--{b}", 'Content-Disposition: attachment; filename="only-disposition.bin"', "",
        "raw text body of a part with only a Content-Disposition",
        f"--{b}--", "",
    ])
    add("malformed", "part_no_headers", "parts without headers (blank line right after the boundary: default "
        "text/plain, 7bit, so base64 text stays undecoded and is no file), a part whose headers run into its body "
        "without a blank line, and a part with only Content-Disposition",
        msg(hdr("Headerless parts", "partnohdr@example.org", b), body))

    # 8-bit junk in headers and body, written as bytes
    b = "=_junk_06"
    junk = bytes(range(0x80, 0x100))
    head = b"\n".join([
        "From: J\u00fcrgen ".encode() + b"\x9f\x80 <juergen@example.org>",
        b"To: sam.lee@example.net",
        "Subject: Gr\u00fc\u00dfe ".encode() + b"\xff\xfe\xfd",
        b"Date: Tue, 28 May 2024 08:00:00 +0000",
        b"X-Junk: " + junk[:40],
        b"MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{b}"'.encode(),
    ])
    body = "\n".join([
        f"--{b}", "Content-Type: text/plain; charset=us-ascii", "", "Body with junk: <<JUNK>>",
        f"--{b}", 'Content-Type: application/pdf; name="caf\u00e9 \u20ac.pdf"',
        'Content-Disposition: attachment; filename="caf\u00e9 \u20ac.pdf"',
        "Content-Transfer-Encoding: base64", "", b64_block(fake_pdf("junk-cafe", 300)),
        f"--{b}", 'Content-Type: application/octet-stream; name="bad<<BAD>>.bin"',
        'Content-Disposition: attachment; filename="bad<<BAD>>.bin"',
        "Content-Transfer-Encoding: base64", "", b64_block(rnd("junk-bad", 200)),
        f"--{b}--", "",
    ]).encode("utf-8").replace(b"<<JUNK>>", junk[40:]).replace(b"<<BAD>>", b"\x80\xfe")
    add("malformed", "junk_8bit", "raw bytes 0x80-0xff in From, Subject and X-Junk headers and the body text; "
        "a raw UTF-8 filename (caf\u00e9 \u20ac.pdf) and a filename with invalid UTF-8 (bad\\x80\\xfe.bin)",
        head + b"\n\n" + body)

    # a header line with no colon
    b = "=_nocolon_07"
    body = multipart(b, [
        part(["Content-Type: text/plain; charset=us-ascii"], "Headers with a line that has no colon.\n"),
        part(['Content-Type: application/pdf; name="first.pdf"', "this header line has no colon",
              'Content-Disposition: attachment; filename="first.pdf"', "Content-Transfer-Encoding: base64"],
             b64_block(fake_pdf("nocolon-first", 200))),
        attachment("application/pdf", "second.pdf", fake_pdf("nocolon-second", 200)),
    ])
    head = envelope("No colon", "Tue, 28 May 2024 08:00:00 +0000", "nocolon@example.org") + [
        "MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"', "X-Before: ok",
        "a top-level header line without a colon", "X-After: this is body text for Python"]
    add("malformed", "header_no_colon", "a line without a colon among the top-level headers (after Content-Type) "
        "and inside an attachment's headers (before its Content-Disposition and Content-Transfer-Encoding): "
        "Python ends the header block there, so first.pdf keeps no CTE and is its raw base64 text plus the "
        "lines after", msg(head, body))

    # empty filenames
    b = "=_emptyname_08"
    body = multipart(b, [
        part(["Content-Type: text/plain; charset=us-ascii"], "Attachments with empty names.\n"),
        part(['Content-Type: application/pdf; name=""', 'Content-Disposition: attachment; filename=""',
              "Content-Transfer-Encoding: base64"], b64_block(fake_pdf("empty-a", 200))),
        part(["Content-Type: application/octet-stream", "Content-Disposition: attachment; filename=",
              "Content-Transfer-Encoding: base64"], b64_block(rnd("empty-b", 100))),
        part(['Content-Type: image/png; name=""', 'Content-Disposition: inline; filename=""',
              "Content-Transfer-Encoding: base64"], b64_block(fake_png("empty-c", 100))),
    ])
    add("malformed", "empty_filename", "attachment; filename=\"\" (a file named \"\"), attachment; filename= "
        "(nothing after =), and inline; filename=\"\" with name=\"\" (the parameter is there: a file named \"\", "
        "as decided for aptsim too)",
        msg(hdr("Empty names", "emptyname@example.org", b), body))

    # duplicate Content-Type headers
    b, b2 = "=_dup_09", "=_dup_other_10"
    body = multipart(b, [
        part(["Content-Type: text/plain; charset=us-ascii"], "Duplicate Content-Type headers.\n"),
        part(["Content-Type: text/plain", 'Content-Type: application/pdf; name="dup.pdf"',
              "Content-Transfer-Encoding: base64"], b64_block(fake_pdf("dup-pdf", 200))),
        part(['Content-Type: application/pdf; name="first-wins.pdf"', 'Content-Type: image/png; name="last-wins.png"',
              "Content-Disposition: attachment", "Content-Transfer-Encoding: base64"], b64_block(fake_png("dup-png", 200))),
    ])
    head = envelope("Duplicates", "Tue, 28 May 2024 08:00:00 +0000", "dup@example.org") + [
        "MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"',
        f'Content-Type: multipart/alternative; boundary="{b2}"']
    add("malformed", "duplicate_content_type", "two Content-Type headers at the top (mixed with the used boundary, "
        "then alternative with an unused one) and in two parts (Python takes the first: the second part is "
        "text/plain without a filename, so no file; the third is first-wins.pdf)", msg(head, body))

    # inner boundary a prefix of the outer one
    bo, bi = "=_prefix_boundary_outer", "=_prefix_boundary"
    inner = multipart(bi, [
        part(["Content-Type: text/plain; charset=us-ascii"], "Inner text.\n"),
        attachment("application/pdf", "inner.pdf", fake_pdf("prefix-inner", 200)),
    ])
    body = multipart(bo, [
        part([f'Content-Type: multipart/mixed; boundary="{bi}"'], inner),
        attachment("application/pdf", "outer.pdf", fake_pdf("prefix-outer", 200)),
    ])
    add("malformed", "boundary_prefix", f"inner boundary {bi!r} is a prefix of the outer {bo!r}: a parser that "
        "matches delimiter lines by prefix sees the outer delimiters as inner ones; Python matches whole lines",
        msg(hdr("Prefix", "prefix@example.org", bo), body))

    # inner multipart that is never closed before the outer close (prefix variant)
    inner_open = "\n".join([f"--{bi}", "Content-Type: text/plain", "", "Inner part, inner multipart never closed."])
    body = multipart(bo, [
        part([f'Content-Type: multipart/mixed; boundary="{bi}"'], inner_open),
        attachment("application/pdf", "after.pdf", fake_pdf("prefix-after", 200)),
    ])
    add("malformed", "boundary_prefix_unclosed", "as boundary_prefix, but the inner multipart is never closed; the "
        "outer delimiter line starts with the inner delimiter",
        msg(hdr("Prefix unclosed", "prefix2@example.org", bo), body))


# ----------------------------------------------------------------------------------------
# output


def oracle_json(rel_path: str, data: bytes) -> str:
    files, _ = python_oracle.inspect_bytes(data)
    return json.dumps({"path": rel_path, "files": files}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_crlf(data: bytes) -> bytes:
    """Every LF turned into CRLF (the corpus holds no CR byte, so this is exact and
    core/tests/corpus.rs does the same)."""
    return data.replace(b"\n", b"\r\n")


def crlf_column(files, crlf_files) -> str:
    if [(f["name"], f["md5"], f["size"]) for f in files] == [(f["name"], f["md5"], f["size"]) for f in crlf_files]:
        return "same"
    changed = sum(1 for a, b in zip(files, crlf_files) if a != b) + abs(len(files) - len(crlf_files))
    return f"differs ({changed})"


def readme() -> str:
    rows = []
    for (set_, name), (desc, data) in sorted(CORPUS.items()):
        files, defects = python_oracle.inspect_bytes(data)
        crlf_files, _ = python_oracle.inspect_bytes(to_crlf(data))
        d = ", ".join(sorted(set(defects))) or "-"
        rows.append(f"| `{set_}/{name}.eml` | {len(data)} | {len(files)} | {crlf_column(files, crlf_files)} | {d} "
                    f"| {desc} |")
    return "\n".join([
        "# Golden MIME corpus",
        "",
        "Generated by `python3 scripts/make_corpus.py` (deterministic; `--check` verifies the files here match).",
        "Do not edit by hand.  (`malformed/*.expected.json` are not written by the script but by",
        "`APTSIM_BLESS=1 cargo test -p aptsim-core --test corpus`, see below.)",
        "",
        "Each `<set>/<name>.eml` is stored with LF line endings and holds no CR byte.  Beside it:",
        "",
        "* `<name>.python.json`: the files `scripts/python_oracle.py` (CPython `email`, compat32,",
        "  `message_from_bytes`: the bytes as they are) finds in the LF bytes, in the shape `aptsim inspect`",
        "  prints (`path` there is relative to this folder);",
        "* `<name>.crlf.python.json`: the same for the message with every LF turned into CRLF (as it travels",
        "  over SMTP).  7bit, 8bit and quoted-printable text parts keep the message's line endings, so their",
        "  digests differ between the two; base64 parts do not change;",
        "* `malformed/<name>.expected.json` (malformed set only): aptsim's own view (files and the sorted",
        "  `malformed` flags) of the LF and CRLF forms, reviewed by hand; `APTSIM_BLESS=1 cargo test -p",
        "  aptsim-core --test corpus` rewrites them.",
        "",
        "`core/tests/corpus.rs` runs `aptsim_core::mime::extract` on both forms of every message and compares",
        "(name, content_type, size, md5, archive, unscannable kind) file by file, in order: with the",
        "`.python.json` files for every set but `malformed/`, with `.expected.json` for `malformed/` (Python's",
        "reading of broken mail is one lenient reading among several, not a reference).  A mismatch writes",
        "`<name>.<lf|crlf>.failed` (git-ignored) beside the message with what aptsim found.  Messages on",
        "which aptsim is known to be wrong are listed, with the bug, in `KNOWN_RUST_BUGS` in corpus.rs: they",
        "still run, their mismatch is printed and does not fail, and the test fails once they agree.",
        "",
        "Columns: *bytes* = size of the .eml; *files* = entries in .python.json; *CRLF* = whether Python finds",
        "the same (name, md5, size) list in the CRLF form (`differs (n)`: n entries changed);",
        "*Python defects* = defect classes Python records in the LF form (after decoding the attachments).",
        "",
        "| message | bytes | files | CRLF | Python defects | what it tests |",
        "| --- | ---: | ---: | --- | --- | --- |",
        *rows,
        "",
    ])


def outputs() -> dict[str, bytes]:
    build_clients()
    build_encodings()
    build_nested()
    build_archives()
    build_malformed()
    out = {}
    for (set_, name), (desc, data) in CORPUS.items():
        assert b"\r" not in data, (set_, name)  # so that to_crlf is exact
        assert len(data) < 40_000, (set_, name, len(data))
        rel = f"{set_}/{name}.eml"
        out[rel] = data
        out[f"{set_}/{name}.python.json"] = oracle_json(rel, data).encode("utf-8")
        out[f"{set_}/{name}.crlf.python.json"] = oracle_json(rel, to_crlf(data)).encode("utf-8")
    out["README.md"] = readme().encode("utf-8")
    return out


def compare_policies():
    diffs = 0
    for (set_, name), (_, data) in sorted(CORPUS.items()):
        a, _ = python_oracle.inspect_bytes(data, "compat32")
        b, _ = python_oracle.inspect_bytes(data, "default")
        if a != b:
            diffs += 1
            print(f"{set_}/{name}: compat32 != policy.default")
            print("  compat32:", [(f["name"], f["content_type"], f["size"]) for f in a])
            print("  default: ", [(f["name"], f["content_type"], f["size"]) for f in b])
    print(f"policy comparison: {diffs} of {len(CORPUS)} messages differ")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    ap.add_argument("--compare", action="store_true", help="print compat32 vs policy.default differences")
    ap.add_argument("--out", default=ROOT, help=f"corpus folder (default {ROOT})")
    args = ap.parse_args()
    out = outputs()
    if args.compare:
        compare_policies()
    if args.check:
        bad = 0
        for rel, data in sorted(out.items()):
            path = os.path.join(args.out, rel)
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except FileNotFoundError:
                same = False
            if not same:
                bad += 1
                print(f"differs or missing: {path}")
        print(f"{len(out) - bad} of {len(out)} corpus files up to date")
        return 1 if bad else 0
    for rel, data in sorted(out.items()):
        path = os.path.join(args.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    n = sum(1 for r in out if r.endswith(".eml"))
    print(f"wrote {n} messages (+ .python.json and README.md) under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
