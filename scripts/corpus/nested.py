"""The `nested` set: attached messages (forwarded, three deep), multipart/related inside
alternative, multipart/digest and message/external-body."""

from __future__ import annotations

from corpus.parts import (
    fake_pdf,
    fake_png,
    fake_jpeg,
    fake_doc,
    b64_block,
    part,
    multipart,
    attachment,
    msg,
    envelope,
    add,
)


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
