"""The `archives` set: zip, gzip and tar attachments — nested, encrypted, named as something
else, truncated, with an unsupported method; every member compresses less than 50:1, so none
looks like a bomb."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

from corpus.parts import (
    ZIP_TIME,
    rnd,
    fake_pdf,
    fake_png,
    lines_text,
    part,
    multipart,
    attachment,
    msg,
    envelope,
    zip_bytes,
    set_encrypted_flag,
    gzip_bytes,
    tar_bytes,
    add,
)


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
