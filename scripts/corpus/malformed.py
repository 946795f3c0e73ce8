"""The `malformed` set: broken mail (truncated or unused boundaries, bad base64, missing or
broken headers, 8-bit junk), where aptsim's reading is reviewed by hand (`.expected.json`)."""

from __future__ import annotations

from corpus.parts import (
    rnd,
    fake_pdf,
    fake_png,
    b64_lines,
    b64_block,
    part,
    multipart,
    attachment,
    msg,
    envelope,
    add,
)


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
