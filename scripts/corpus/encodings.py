"""The `encodings` set: each Content-Transfer-Encoding (quoted-printable, base64 at odd line
lengths and with whitespace, 7bit, 8bit, binary)."""

from __future__ import annotations

import base64
import quopri
import random

from corpus.parts import (
    rnd,
    fake_pdf,
    lines_text,
    b64_lines,
    b64_block,
    part,
    multipart,
    attachment,
    msg,
    envelope,
    add,
)


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
