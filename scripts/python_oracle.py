#!/usr/bin/env python3
r"""What CPython's `email` package sees in a message: the oracle for `aptsim inspect`.

Usage:
    python3 scripts/python_oracle.py [--policy compat32|default] [--defects] FILE...

Prints one JSON object per input file, one per line (JSON Lines), in the shape
`aptsim inspect` prints:

    {"path": "<as given>", "files": [{"name": str, "content_type": str, "size": int,
      "md5": "<lowercase hex>", "archive": str|null, "unscannable": str|null}, ...]}

Rules (the contract the Rust tool is compared against; where a rule is aptsim's own
design rather than Python's, it says so and mirrors core/src/mime/mod.rs / archive.rs):

* Parse the bytes exactly as received: `email.message_from_bytes(data,
  policy=compat32)`, NOT `message_from_binary_file` (see "Line endings" below), with one
  change that touches no parsing: compat32 hands a header holding raw 8-bit bytes back as
  a `Header` whose text has every such byte replaced by U+FFFD (a raw UTF-8 filename
  `café.pdf` becomes `caf\ufffd\ufffd.pdf`); our compat32 subclass reads those bytes as
  UTF-8 instead (invalid sequences still become U+FFFD), as policy.default does.
* Walk every part with `msg.walk()` (it descends into message/rfc822, and into every
  other message/* type: compat32 parses message/external-body, message/delivery-status
  etc. as containers, so they are never files).  A *file* is a leaf part (not
  multipart, not message/*; `is_multipart()` is false) whose Content-Disposition is
  `attachment`, or which has a filename parameter at all (`part.get_filename() is not
  None`: Content-Disposition `filename=`, else Content-Type `name=`).  An empty
  `filename=""` counts (the parameter is there; the file is named ""); an `inline` part
  with a filename is a file; an `attachment` part without one is a file named "".
* Its bytes are `part.get_payload(decode=True)` (b"" if that gives None).
* `name`: the filename, RFC 2231 decoded (by `get_filename`) and then RFC 2047 decoded
  (compat32 leaves `=?utf-8?...?=` words as they are, so we decode them here, also inside
  quoted strings, which RFC 2047 forbids but every client does; `decode_header` drops
  the white space between adjacent encoded words, RFC 2047 section 6.2).  A quoted value
  is unquoted as RFC 2045 section 5.1 / RFC 822 say: every quoted-pair `\X` stands for X
  (compat32 itself only undoes `\\` and `\"`, so `"C:\TEMP\a.png"` would keep its
  backslashes; policy.default and aptsim read it as `C:TEMPa.png`).  Raw 8-bit bytes in
  a filename (no encoding declared) are read as UTF-8, invalid sequences replaced by
  U+FFFD (see the compat32 change above).
* `content_type`: `part.get_content_type()` (lowercase type/subtype; compat32 falls back
  to text/plain for an invalid value, and to message/rfc822 inside multipart/digest).
* Archives, recognised by content only (never by name or declared type), as aptsim's
  `archive::sniff`:
    - a zip whose FIRST local header names `[Content_Types].xml`, `mimetype`,
      `META-INF/MANIFEST.MF`, `META-INF/` or `AndroidManifest.xml` is a document (Office
      Open XML, OpenDocument, JAR, APK), not an archive: it is one file, as it is;
    - zip: otherwise, starts with `PK\x03\x04` (or `PK\x05\x06`, an empty archive: no
      members);
    - gzip: starts with `\x1f\x8b`; every member of the stream is decoded and the bytes
      joined (`gzip.decompress`, as a multi-member reader must, or a second member could
      hide from the scanner); the name comes from the FIRST member's header;
    - tar: "ustar" at offset 257 and a valid checksum in the first header (tarfile's
      check); a pre-POSIX tar without the magic is not recognised.
  An archive attachment is replaced by its members, in archive order, each with
  `archive` = the attachment's name, `content_type` = "application/octet-stream",
  `name` = the member's path inside the archive.  Members that are archives are
  expanded in turn, their members named `<member path>/<inner path>`
  (`inner.zip/x.txt`).  A gzip member is named by the FNAME field of the gzip header
  (UTF-8 if valid, else ISO 8859-1 as RFC 1952 says), or has no path if there is none;
  a nameless member keeps the path of the archive it came from (`x.zip` holding
  `log.gz` without FNAME gives `log.gz`), and one that is still nameless at the top
  (a `.gz` or `.tgz` attachment without FNAME) is named after the attachment with a
  trailing `.gz` removed (`server.log.gz` -> `server.log`; `a.tgz` holding a tar gives
  the tar's members with no prefix).  Directories, links and other non-regular
  tar/zip entries are not files and are skipped.  Tar headers (ustar prefix, GNU long
  names, pax `path`) are parsed by tarfile; the walk over the blocks is ours: two zero
  blocks end the archive, a lone zero block is skipped (tarfile would stop there).
* Members that cannot be read are still listed, with md5/size of what is there:
    - "encrypted": zip member with general-purpose flag bit 0; bytes = the raw stored
      data (local header offset + 30 + local name length + local extra length,
      compress_size bytes);
    - "unsupported_method": zip member whose method is neither 0 (stored) nor 8
      (deflate); bytes = the raw stored data (the Rust build decodes only these two);
    - "corrupt": a member whose data fails to decode (bad deflate stream, CRC error);
      bytes = the raw stored data.
  An archive that cannot be opened at all (a truncated zip without central directory,
  a gzip stream that fails or ends early) or fails half-way (a tar whose later header
  is broken or whose member data is cut short) adds one entry for itself after
  whatever members were read: its own name and bytes, `unscannable: "corrupt"`.  For
  the attachment itself that entry has `archive: null` and the attachment's
  content_type (it *is* the attachment); for a nested archive, `archive` is the
  attachment's name as for any member.
* `unscannable` is the kind only ("encrypted", "corrupt", ...); aptsim adds detail
  after a colon (`corrupt: gzip: unexpected end of file`), so compare the text before
  the first `:`.
* No size, ratio, member-count or depth limits are applied here (apart from a
  safety cap of 16 nesting levels); the corpus keeps every member far below
  aptsim's default limits (ratio < 100, depth <= 3).
* Order: the order `msg.walk()` yields; members in archive order.

Line endings: the bytes are parsed as they are.  (`message_from_binary_file` would read
them through a TextIOWrapper in universal-newline mode, turning every CRLF and lone CR
into LF before the parser sees them, and so change the decoded bytes of text parts; a
gateway hashes what it received, so we never use it.)  Consequences:
  - 7bit, 8bit and quoted-printable parts keep the message's line endings: a text
    attachment of a CRLF message decodes to CRLF lines, of an LF message to LF lines
    (so a corpus message fed with CRLF can give different .crlf.python.json digests);
    the line break before a boundary delimiter belongs to the delimiter (RFC 2046);
  - base64 is not affected (line breaks are not part of the data);
  - `Content-Transfer-Encoding: binary` bytes are kept as they are.

compat32 vs policy.default (`--policy default` uses the latter).  Measured on the golden
corpus, CPython's test_email data, mail-parser 0.11.9's 107 test messages and 200 generated
messages (401 in all): they give identical output.  Before the RFC 822 unquoting above, names
differed on backslashes in quoted filenames (mail-parser legacy/035.eml and 039.eml,
`filename="C:\TEMP\nsmail39.png"`: compat32 kept `C:\TEMP\nsmail39.png`).  Other known differences, not seen in those files:
  - RFC 2047 words inside quoted parameters: policy.default decodes them itself; compat32
    returns them raw, which is why decode_name() decodes them.
  - raw 8-bit header bytes: compat32 gives U+FFFD per byte (fixed here, see above);
    policy.default decodes them as UTF-8.
  - duplicate headers: both return the FIRST occurrence from msg.get()/get_param().
  - get_payload(decode=True) is the same code for both.

Python quirks on malformed mail that aptsim does not share (crosscheck.py counts a
message as "malformed", and only checks that aptsim does not crash, when Python records a
defect): a part whose base64 length is 1 mod 4 comes back as its undecoded base64 TEXT
(InvalidBase64LengthDefect); a header line without a colon ends the header block
(MissingHeaderBodySeparatorDefect); x-uuencode parts are decoded (no defect: a real
difference, see crosscheck.py's report).

`--defects` adds a "defects" list (Python defect class names, message and parts, after
decoding) to each object; this is not part of the compared shape.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.header
import email.policy
import email.utils
import gzip
import hashlib
import io
import json
import re
import struct
import sys
import tarfile
import zipfile
import zlib

MAX_NESTING = 16

ZIP_LOCAL = b"PK\x03\x04"
ZIP_EMPTY = b"PK\x05\x06"
GZIP_MAGIC = b"\x1f\x8b"
# first zip entries that make a zip a document (as aptsim's archive::DOCUMENT_FIRST_ENTRIES)
DOCUMENT_FIRST_ENTRIES = (
    b"[Content_Types].xml",
    b"mimetype",
    b"META-INF/MANIFEST.MF",
    b"META-INF/",
    b"AndroidManifest.xml",
)


# ----------------------------------------------------------------------------------------
# names


def _fix_surrogates(s: str) -> str:
    """Raw 8-bit header bytes come through the parser as lone surrogates; read them as
    UTF-8 (invalid sequences become U+FFFD) so the name is printable JSON."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def decode_name(raw) -> str:
    """Filename as `get_filename()` gives it (RFC 2231 already decoded) -> display str."""
    if raw is None:
        return ""
    if not isinstance(raw, str):  # a Header object (8-bit junk in compat32 headers)
        raw = str(raw)
    if "=?" in raw:
        try:
            raw = str(email.header.make_header(email.header.decode_header(raw)))
        except Exception:  # undecodable encoded word: keep it as written
            pass
    return _fix_surrogates(raw)


def _unquote_rfc822(s: str) -> str:
    """email.utils.unquote, except that every RFC 822 quoted-pair (backslash + any
    character) inside a quoted string stands for that character, as RFC 2045 section 5.1
    (value := token / quoted-string) says; compat32 only undoes \\\\ and \\"."""
    if len(s) > 1:
        if s.startswith('"') and s.endswith('"'):
            return re.sub(r"\\(.)", r"\1", s[1:-1], flags=re.DOTALL)
        if s.startswith("<") and s.endswith(">"):
            return s[1:-1]
    return s


@contextlib.contextmanager
def _rfc822_unquote():
    # compat32's parameter code (email.utils.decode_params, Message._unquotevalue) calls
    # the module-level email.utils.unquote; swap it for the strict reading while a
    # filename is fetched.  Nothing else (parsing, boundaries) runs under the swap.
    saved = email.utils.unquote
    email.utils.unquote = _unquote_rfc822
    try:
        yield
    finally:
        email.utils.unquote = saved


def part_filename(part):
    try:
        with _rfc822_unquote():
            raw = part.get_filename()
    except Exception:
        return None
    if raw is None:
        return None
    return decode_name(raw)


# ----------------------------------------------------------------------------------------
# archives


def entry(name, data, archive=None, unscannable=None, content_type="application/octet-stream"):
    return {
        "name": name,
        "content_type": content_type,
        "size": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        "archive": archive,
        "unscannable": unscannable,
    }


def _join(prefix: str, name: str) -> str:
    # a nameless member (gzip without FNAME) keeps the path of the archive it came from
    if not prefix or not name:
        return prefix or name
    return f"{prefix}/{name}"


def is_zip_document(data: bytes) -> bool:
    """A zip whose first local header names one of DOCUMENT_FIRST_ENTRIES (Office Open XML,
    OpenDocument, JAR, APK): a document, not an archive."""
    if not data.startswith(ZIP_LOCAL) or len(data) < 30:
        return False
    (name_len,) = struct.unpack("<H", data[26:28])
    name = data[30 : 30 + name_len]
    return len(name) == name_len and name in DOCUMENT_FIRST_ENTRIES


def _is_tar(data: bytes) -> bool:
    """A ustar/GNU tar: "ustar" at offset 257 and a valid first header checksum (tarfile's own
    check: unsigned or signed byte sum).  A v7 tar without the magic is not recognised."""
    if len(data) < 512 or data[257:262] != b"ustar":
        return False
    block = data[:512]
    try:
        return tarfile.nti(block[148:156]) in tarfile.calc_chksums(block)
    except (tarfile.HeaderError, ValueError):
        return False


def sniff(data: bytes):
    if is_zip_document(data):
        return None
    if data.startswith(ZIP_LOCAL) or data.startswith(ZIP_EMPTY):
        return "zip"
    if data.startswith(GZIP_MAGIC):
        return "gzip"
    if _is_tar(data):
        return "tar"
    return None


def _zip_raw(data: bytes, info: zipfile.ZipInfo) -> bytes:
    off = info.header_offset
    hdr = data[off : off + 30]
    if len(hdr) < 30 or hdr[:4] != ZIP_LOCAL:
        raise ValueError("bad local header")
    name_len, extra_len = struct.unpack("<HH", hdr[26:30])
    start = off + 30 + name_len + extra_len
    raw = data[start : start + info.compress_size]
    if len(raw) != info.compress_size:
        raise ValueError("member data cut short")
    return raw


def _zip_members(data: bytes):
    """Yields (path, bytes, unscannable) for each regular member, or raises on a zip that
    cannot be opened.  Stops (raising) on a member whose raw data is not there."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    for info in zf.infolist():
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            yield info.filename, _zip_raw(data, info), "encrypted"
        elif info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            yield info.filename, _zip_raw(data, info), "unsupported_method"
        else:
            try:
                with zf.open(info) as fh:
                    body = fh.read()
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
                yield info.filename, _zip_raw(data, info), "corrupt"
                continue
            yield info.filename, body, None


def _gzip_fname(data: bytes) -> str:
    """FNAME of the first gzip header, or "" if there is none.  RFC 1952 says ISO 8859-1,
    but gzip(1) stores the file name's bytes as they are (UTF-8 on today's systems): UTF-8
    when the bytes are valid UTF-8, else ISO 8859-1 (never U+FFFD: every byte is a Latin-1
    character, so no name is lost)."""
    if len(data) < 10 or data[:2] != GZIP_MAGIC or data[2] != 8:
        raise ValueError("not a deflate gzip stream")
    flg = data[3]
    if not flg & 0x08:
        return ""
    pos = 10
    if flg & 0x04:  # FEXTRA
        (xlen,) = struct.unpack("<H", data[pos : pos + 2])
        pos += 2 + xlen
    end = data.index(b"\x00", pos)
    raw = data[pos:end]
    try:
        return raw.decode("utf-8")  # what gzip on a UTF-8 system writes
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # RFC 1952: ISO 8859-1


def _gzip_member(data: bytes):
    """(FNAME, decompressed bytes): every member of the stream is decoded (gzip.decompress,
    as a multi-member reader does, so nothing hides in a second member); raises if the
    stream is broken, ends early or has trailing bytes that are no gzip member."""
    fname = _gzip_fname(data)
    return fname, gzip.decompress(data)


def _tar_members(data: bytes):
    """Yields (path, bytes) for regular tar entries; raises if a later header is broken or
    a member's data is cut short.  Headers (names, ustar prefix, GNU long names, pax
    records) are parsed by tarfile; the walk over the blocks is ours, because tarfile stops
    at the first zero block and we do not: two zero blocks end the archive, a lone one is
    skipped (tar -i would still extract what follows it)."""
    if not _is_tar(data):
        raise ValueError("not a tar")
    bio = io.BytesIO(data)
    tf = tarfile.open(fileobj=bio, mode="r:")
    pos, zeros = 0, 0
    while pos < len(data):
        block = data[pos : pos + 512]
        if len(block) < 512:
            raise ValueError(f"tar at {pos}: truncated header")
        if block == bytes(512):
            zeros += 1
            if zeros == 2:
                return
            pos += 512
            continue
        zeros = 0
        bio.seek(pos)
        tf.offset = pos
        ti = tarfile.TarInfo.fromtarfile(tf)  # raises tarfile.HeaderError on a broken header
        if ti.isreg():
            body = data[ti.offset_data : ti.offset_data + ti.size]
            if len(body) != ti.size:
                raise ValueError(f"tar at {pos}: truncated member")
            yield _fix_surrogates(ti.name), body
        pos = max(tf.offset, pos + 512)


def expand(data: bytes, kind: str, prefix: str, archive: str, depth: int, out: list):
    """Appends the members of archive `data` (kind from sniff) to `out`, named with
    `prefix`.  Returns False if the archive broke (the caller adds the corrupt entry)."""
    try:
        if kind == "zip":
            gen = _zip_members(data)
        elif kind == "gzip":
            fname, body = _gzip_member(data)
            gen = iter([(fname, body, None)])
        else:
            gen = ((n, b, None) for n, b in _tar_members(data))
        for name, body, unscannable in gen:
            path = _join(prefix, name)
            add_member(path, body, unscannable, archive, depth, out)
    except Exception:
        return False
    return True


def add_member(path, body, unscannable, archive, depth, out):
    if unscannable is None and depth < MAX_NESTING:
        kind = sniff(body)
        if kind is not None:
            if not expand(body, kind, path, archive, depth + 1, out):
                out.append(entry(path, body, archive, "corrupt"))
            return
    out.append(entry(path, body, archive, unscannable))


def file_entries(name: str, content_type: str, data: bytes):
    kind = sniff(data)
    if kind is None:
        return [entry(name, data, None, None, content_type)]
    out = []
    ok = expand(data, kind, "", name, 1, out)
    # A member without a path (a gzip without FNAME, at any nesting level as long as every
    # archive above it was nameless too) is named after the attachment, minus a ".gz".
    stem = name[:-3] if name.endswith(".gz") else name
    for f in out:
        if f["name"] == "":
            f["name"] = stem
    if not ok:
        out.append(entry(name, data, None, "corrupt", content_type))
    return out


# ----------------------------------------------------------------------------------------
# messages


def is_file(part) -> bool:
    if part.is_multipart() or part.get_content_type() == "message/rfc822":
        return False
    if part.get_content_disposition() == "attachment":
        return True
    # a filename parameter that is there counts, even when empty (filename="")
    return part_filename(part) is not None


def message_files(msg):
    files = []
    for part in msg.walk():
        if not is_file(part):
            continue
        data = part.get_payload(decode=True)
        if data is None:
            data = b""
        elif isinstance(data, str):  # cannot happen with decode=True, but be safe
            data = data.encode("utf-8", "surrogateescape")
        files.extend(file_entries(part_filename(part) or "", part.get_content_type(), data))
    return files


def message_defects(msg):
    """Defect class names of the message and all its parts (call after message_files, so
    that base64 decoding defects are included)."""
    names = []
    for part in msg.walk():
        names.extend(type(d).__name__ for d in getattr(part, "defects", []))
    return names


class Compat32Utf8Headers(email.policy.Compat32):
    """compat32, except that header values holding raw 8-bit bytes (which the parser
    keeps as lone surrogates) are returned as UTF-8-decoded str instead of a Header of
    U+FFFD.  Parsing itself (header_source_parse, the feed parser) is unchanged."""

    def header_fetch_parse(self, name, value):
        if isinstance(value, str):
            value = _fix_surrogates(value)
        return super().header_fetch_parse(name, value)


POLICIES = {"compat32": Compat32Utf8Headers(), "default": email.policy.default}


def parse_bytes(data: bytes, policy="compat32"):
    # message_from_bytes, NOT message_from_binary_file: the latter reads through a
    # TextIOWrapper that turns CRLF and lone CR into LF, changing text attachments' bytes
    # (see "Line endings" in the module docstring).
    return email.message_from_bytes(data, policy=POLICIES[policy])


def inspect_bytes(data: bytes, policy="compat32"):
    """(files, defects) for one message given as bytes."""
    msg = parse_bytes(data, policy)
    files = message_files(msg)
    return files, message_defects(msg)


def inspect_path(path: str, policy="compat32", with_defects=False):
    with open(path, "rb") as f:
        msg = parse_bytes(f.read(), policy)
    obj = {"path": path, "files": message_files(msg)}
    if with_defects:
        obj["defects"] = message_defects(msg)
    return obj


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", metavar="FILE")
    ap.add_argument("--policy", choices=sorted(POLICIES), default="compat32")
    ap.add_argument("--defects", action="store_true", help="add a 'defects' list (debugging)")
    args = ap.parse_args(argv)
    status = 0
    out = sys.stdout.buffer
    for path in args.files:
        try:
            obj = inspect_path(path, args.policy, args.defects)
        except Exception as e:  # unreadable file, or a parser bug
            print(f"python_oracle: {path}: {type(e).__name__}: {e}", file=sys.stderr)
            obj = {"path": path, "files": [], "error": f"{type(e).__name__}: {e}"}
            status = 1
        out.write(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")
    out.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
