"""The `clients` set: messages shaped the way Outlook, Thunderbird, Gmail and Apple Mail write
them, and file names in RFC 2231 and RFC 2047 form."""

from __future__ import annotations

from corpus.parts import (
    fake_pdf,
    fake_png,
    fake_jpeg,
    fake_doc,
    lines_text,
    b64_block,
    part,
    multipart,
    msg,
    envelope,
    add,
)


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
