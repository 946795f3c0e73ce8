#!/usr/bin/env python3
"""Cross-check `aptsim inspect` against CPython's `email` package on messages nobody here wrote.

Usage:
    python3 scripts/crosscheck.py --aptsim target/debug/aptsim [--generated N] [--seed S]
                                  [--no-default-sources] [--keep-generated DIR]
                                  [--list-sources] [DIR_OR_FILE ...]

Sources (.eml and .txt files; folders are searched recursively):
  * the paths given on the command line (files under a folder named `malformed`, such as
    core/tests/corpus/malformed, are reported under their own origin, "given-malformed");
  * by default also
    (a) CPython's own email test messages: test/test_email/data/msg_*.txt, if the
        `test` package is installed;
    (b) mail-parser 0.11.x's test messages in the cargo registry
        ($CARGO_HOME/registry/src/*/mail-parser-0.11.*/resources/eml/**/*.eml); those under
        its `malformed/` folder are reported as "mail-parser-malformed";
    (c) N (--generated, default 200) messages built with email.message.EmailMessage and
        add_attachment (random attachments, names, zips, gzips, tars, nested messages),
        seeded by --seed (default 1), written to a temporary folder (or --keep-generated).

For each message it compares the list of (name, content_type, md5, size, archive,
unscannable) that `aptsim inspect FILE...` prints (JSON Lines, one object per file, in order;
run in batches of at most 200 files) with what scripts/python_oracle.py finds, in order.
Nothing is normalised (names, digests and nulls must match exactly) except `unscannable`,
compared by its kind only (the text before the first `:`: aptsim prints
`corrupt: gzip: unexpected end of file` where the oracle says `corrupt`).

Messages that Python itself flags with defects (msg.defects or any part's defects, after the
attachments are decoded) count as "malformed": for them only "aptsim exited 0 and printed a
JSON object for the file" is checked.  That is the only thing that makes a message
"malformed": a message from a `malformed` folder on which Python records no defect is
compared like any other (Python's reading of it is then a lenient-but-silent one, and a
difference is a real disagreement, to be triaged, not skipped).

Before anything else it runs `aptsim inspect` on a one-attachment probe message and stops
(exit 2) if that does not give one JSON object, so a stale binary is one clear error rather
than hundreds of "crashes".

Prints `checked N messages: A agree, D disagree, M malformed skipped` (plus crashes), then each
disagreement with a short diff.  Exit status: 0 all agree, 1 a disagreement or a crash,
2 bad usage, a missing binary, or one that fails the probe.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from email import policy as email_policy
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import python_oracle  # noqa: E402

BATCH = 200
KEYS = ("name", "content_type", "md5", "size", "archive", "unscannable")


# ----------------------------------------------------------------------------------------
# sources


class Source:
    __slots__ = ("path", "origin")

    def __init__(self, path: str, origin: str):
        self.path = path
        self.origin = origin


def collect_paths(arg: str):
    if os.path.isdir(arg):
        found = []
        for dirpath, dirnames, filenames in os.walk(arg):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.lower().endswith((".eml", ".txt")):
                    found.append(os.path.join(dirpath, fn))
        return found
    if os.path.isfile(arg):
        return [arg]
    raise FileNotFoundError(arg)


def python_test_messages():
    try:
        import test.test_email as tte  # noqa: F401
    except Exception:
        return []
    data = os.path.join(os.path.dirname(tte.__file__), "data")
    return sorted(glob.glob(os.path.join(data, "msg_*.txt")))


def mail_parser_messages():
    cargo_home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
    pattern = os.path.join(cargo_home, "registry", "src", "*", "mail-parser-0.11.*", "resources", "eml")
    roots = sorted(glob.glob(pattern))
    if not roots:
        return []
    root = roots[-1]  # the newest 0.11.x when several are unpacked
    out = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.eml"), recursive=True)):
        rel = os.path.relpath(path, root).split(os.sep)
        out.append((path, rel[0] != "malformed"))
    return out


# ----------------------------------------------------------------------------------------
# generated messages

WORDS = ["report", "invoice", "photo", "scan", "contract", "notes", "budget", "Q3", "final", "draft",
         "résumé", "Übersicht", "naïve café", "€ rates", "日本語", "файл", "übung", "ελληνικά", "emoji 😀",
         "a b  c", "O'Brien", "(copy)", "x,y", "A&B", "100%", "tab"]
EXTS = ["pdf", "docx", "xlsx", "png", "jpg", "txt", "csv", "bin", "dat", "exe", "html", ""]
TYPES = [("application", "octet-stream"), ("application", "pdf"), ("image", "png"), ("image", "jpeg"),
         ("application", "vnd.ms-excel"), ("application", "x-msdownload"), ("audio", "mpeg")]
ASCII_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def rand_name(rng: random.Random, long_ok=True) -> str:
    parts = [rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
    if long_ok and rng.random() < 0.08:  # long enough for RFC 2231 continuations
        parts += [rng.choice(WORDS) for _ in range(12)]
    base = "_".join(parts) if rng.random() < 0.5 else " ".join(parts)
    ext = rng.choice(EXTS)
    return f"{base}.{ext}" if ext else base


def rand_ascii_name(rng: random.Random, ext: str) -> str:
    return "-".join(rng.choice(ASCII_WORDS) for _ in range(rng.randint(1, 3))) + "." + ext


def rand_text(rng: random.Random, nlines: int) -> str:
    vocab = ASCII_WORDS + ["Grüße", "naïve", "€", "ñ", "plain", "text"]
    return "".join(" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 12))) + "\n" for _ in range(nlines))


def rand_bytes(rng: random.Random, max_len=20 * 1024) -> bytes:
    r = rng.random()
    n = 0 if r < 0.04 else rng.randint(1, 5) if r < 0.1 else rng.randint(0, max_len)
    return rng.randbytes(n)


def rand_zip(rng: random.Random, depth=0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(rng.randint(0, 4)):
            if depth == 0 and rng.random() < 0.2:
                name, data = f"nested{i}.zip", rand_zip(rng, depth + 1)
            else:
                name = rand_name(rng, long_ok=False)
                if rng.random() < 0.2:
                    name = "folder/" + name
                data = rand_bytes(rng, 6000)
            method = zipfile.ZIP_DEFLATED if rng.random() < 0.8 else zipfile.ZIP_STORED
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 2, 3, 4, 6))
            zi.compress_type = method
            zf.writestr(zi, data)
    return buf.getvalue()


def rand_tar(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    fmt = rng.choice([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for _ in range(rng.randint(1, 3)):
            data = rand_bytes(rng, 4000)
            # ustar cannot hold non-ASCII or long names; keep those for GNU/PAX
            name = rand_name(rng, long_ok=False) if fmt != tarfile.USTAR_FORMAT else rand_ascii_name(rng, "bin")
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1700000000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def rand_gzip(rng: random.Random, data: bytes, fname: str | None) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename=(fname + ".gz") if fname else "", mode="wb", fileobj=buf, mtime=0) as g:
        g.write(data)
    return buf.getvalue()


def rand_message(rng: random.Random, i: int, depth: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Sender {i} <sender{i}@example.org>"
    msg["To"] = "Recipient <rcpt@example.net>"
    msg["Subject"] = f"Generated {i}: " + rand_name(rng, long_ok=False)
    msg["Date"] = "Mon, 01 Jan 2024 00:00:00 +0000"
    msg["Message-ID"] = f"<gen-{i}-{depth}@crosscheck.example>"
    msg.set_content(rand_text(rng, rng.randint(1, 6)))
    if rng.random() < 0.3:
        msg.add_alternative("<p>" + rand_text(rng, 2) + "</p>", subtype="html")
    for _ in range(rng.randint(0, 8)):
        kind = rng.choices(["bytes", "text", "zip", "zipdat", "gzip", "tar", "tgz", "message", "noname", "inline"],
                           weights=[30, 10, 10, 4, 4, 3, 3, 6 if depth < 2 else 0, 4, 6])[0]
        if kind == "bytes":
            mt, st = rng.choice(TYPES)
            msg.add_attachment(rand_bytes(rng), maintype=mt, subtype=st, filename=rand_name(rng))
        elif kind == "text":
            msg.add_attachment(rand_text(rng, rng.randint(0, 40)), subtype=rng.choice(["plain", "csv"]),
                               filename=rand_name(rng))
        elif kind == "zip":
            msg.add_attachment(rand_zip(rng), maintype="application", subtype="zip",
                               filename=rand_name(rng, long_ok=False) + ".zip")
        elif kind == "zipdat":
            msg.add_attachment(rand_zip(rng), maintype="application", subtype="octet-stream",
                               filename=rand_ascii_name(rng, "dat"))
        elif kind == "gzip":
            inner = rand_ascii_name(rng, "log") if rng.random() < 0.7 else "caf\u00e9.log"
            msg.add_attachment(rand_gzip(rng, rand_bytes(rng), inner if rng.random() < 0.8 else None),
                               maintype="application", subtype="gzip", filename=inner + ".gz")
        elif kind == "tar":
            msg.add_attachment(rand_tar(rng), maintype="application", subtype="x-tar",
                               filename=rand_ascii_name(rng, "tar"))
        elif kind == "tgz":
            fname = rand_ascii_name(rng, "tar")
            msg.add_attachment(rand_gzip(rng, rand_tar(rng), fname if rng.random() < 0.5 else None),
                               maintype="application", subtype="gzip", filename=fname + ".gz")
        elif kind == "message":
            msg.add_attachment(rand_message(rng, i, depth + 1))
        elif kind == "noname":
            msg.add_attachment(rand_bytes(rng, 3000), maintype="application", subtype="octet-stream")
        elif kind == "inline":
            msg.add_attachment(rand_bytes(rng, 5000), maintype="image", subtype="png",
                               filename=rand_name(rng), disposition="inline", cid=f"<img{i}-{depth}@x>")
    return msg


def generate(n: int, seed: int, folder: str):
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        m = rand_message(rng, i)
        pol = email_policy.SMTP if rng.random() < 0.25 else email_policy.default  # CRLF or LF
        path = os.path.join(folder, f"gen-{seed}-{i:04d}.eml")
        with open(path, "wb") as f:
            f.write(m.as_bytes(policy=pol))
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------------------
# running aptsim


def parse_lines(stdout: bytes):
    objs = []
    for line in stdout.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        try:
            objs.append(json.loads(line))
        except json.JSONDecodeError:
            objs.append({"_unparsable": line[:200]})
    return objs


def run_aptsim(binary: str, paths: list[str], timeout: float):
    """Returns {path: (obj or None, problem or None)} for every path."""
    results = {}
    for start in range(0, len(paths), BATCH):
        batch = paths[start : start + BATCH]
        ok = False
        try:
            p = subprocess.run([binary, "inspect", *batch], capture_output=True, timeout=timeout)
            objs = parse_lines(p.stdout)
            if p.returncode == 0 and len(objs) == len(batch):
                for path, obj in zip(batch, objs):
                    results[path] = (obj, None)
                ok = True
        except subprocess.TimeoutExpired:
            pass
        if ok:
            continue
        # the batch failed as a whole: run its files one by one to see which one it was
        for path in batch:
            try:
                p = subprocess.run([binary, "inspect", path], capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                results[path] = (None, f"timed out after {timeout:g}s")
                continue
            objs = parse_lines(p.stdout)
            err = p.stderr.decode("utf-8", "replace").strip().splitlines()
            tail = f": {err[-1][:200]}" if err else ""
            if p.returncode != 0:
                results[path] = (objs[0] if objs else None, f"exit status {p.returncode}{tail}")
            elif len(objs) != 1:
                results[path] = (None, f"printed {len(objs)} JSON lines instead of 1{tail}")
            else:
                results[path] = (objs[0], None)
    return results


# ----------------------------------------------------------------------------------------
# comparing


def unscannable_kind(u):
    """`over_limit: ratio > 100` -> `over_limit`: aptsim adds detail after the kind, the
    oracle gives the kind only."""
    return u.split(":", 1)[0] if isinstance(u, str) else u


def as_key(f):
    return tuple(unscannable_kind(f.get(k, "<missing>")) if k == "unscannable" else f.get(k, "<missing>")
                 for k in KEYS)


def shape_problem(obj, path):
    if not isinstance(obj, dict) or "_unparsable" in obj:
        return f"not a JSON object: {obj.get('_unparsable') if isinstance(obj, dict) else obj!r}"
    if obj.get("path") != path:
        return f"path {obj.get('path')!r} where {path!r} was expected (output out of order?)"
    files = obj.get("files")
    if not isinstance(files, list):
        return "no 'files' list"
    for f in files:
        if not isinstance(f, dict) or any(k not in f for k in KEYS):
            return f"file entry without {', '.join(k for k in KEYS if k not in (f or {}))}: {f!r}"[:300]
    return None


def fmt_key(k):
    name, ctype, md5, size, archive, unsc = k
    s = f"{name!r} {ctype} {md5} {size}"
    if archive is not None:
        s += f" in {archive!r}"
    if unsc is not None:
        s += f" [{unsc}]"
    return s


def diff(py_files, tool_files, limit):
    a = collections.Counter(as_key(f) for f in py_files)
    b = collections.Counter(as_key(f) for f in tool_files)
    lines = []
    for k, n in sorted((a - b).items(), key=lambda kv: repr(kv[0])):
        lines.append(f"    - python only: {fmt_key(k)}" + (f" (x{n})" if n > 1 else ""))
    for k, n in sorted((b - a).items(), key=lambda kv: repr(kv[0])):
        lines.append(f"    + aptsim only: {fmt_key(k)}" + (f" (x{n})" if n > 1 else ""))
    if limit and len(lines) > limit:
        lines = lines[:limit] + [f"    ... {len(lines) - limit} more lines (--verbose shows all)"]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", metavar="DIR_OR_FILE")
    ap.add_argument("--aptsim", help="path to the aptsim binary (e.g. target/debug/aptsim)")
    ap.add_argument("--generated", type=int, default=200, metavar="N", help="random messages (default 200)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the random messages (default 1)")
    ap.add_argument("--no-default-sources", action="store_true",
                    help="check only the given paths (and --generated N, which you may set to 0)")
    ap.add_argument("--keep-generated", metavar="DIR", help="write the random messages here and keep them")
    ap.add_argument("--list-sources", action="store_true", help="print the files that would be checked, and exit")
    ap.add_argument("--timeout", type=float, default=300, help="seconds for one aptsim run (default 300)")
    ap.add_argument("--verbose", action="store_true", help="full diffs, and every malformed message")
    ap.add_argument("--known", metavar="FILE",
                    help="known disagreements: one path per line ('#' comments); they are reported but do not "
                         "fail, and a known one that agrees does fail, so the list only shrinks")
    args = ap.parse_args(argv)

    binary = None
    if not args.list_sources:
        if not args.aptsim:
            ap.error("--aptsim PATH is required (the binary is built by `cargo build`, e.g. target/debug/aptsim)")
        binary = args.aptsim
        if os.sep not in binary and shutil.which(binary):
            binary = shutil.which(binary)
        if not os.path.isfile(binary):
            print(f"crosscheck: aptsim binary not found at {args.aptsim!r}; build it first "
                  "(cargo build; it lands in target/debug/aptsim)", file=sys.stderr)
            return 2
        if not os.access(binary, os.X_OK):
            print(f"crosscheck: {binary!r} is not executable", file=sys.stderr)
            return 2

    sources: list[Source] = []
    for arg in args.paths:
        try:
            for p in collect_paths(arg):
                # a folder named "malformed" (like mail-parser's) is counted apart
                in_malformed = "malformed" in os.path.normpath(os.path.abspath(p)).split(os.sep)[:-1]
                sources.append(Source(p, "given-malformed" if in_malformed else "given"))
        except FileNotFoundError:
            print(f"crosscheck: no such file or folder: {arg}", file=sys.stderr)
            return 2
    if not args.no_default_sources:
        py = python_test_messages()
        if not py:
            print("crosscheck: CPython's test.test_email data not found; skipping it", file=sys.stderr)
        sources += [Source(p, "python-test-data") for p in py]
        mp = mail_parser_messages()
        if not mp:
            print("crosscheck: mail-parser 0.11.x test messages not found in the cargo registry; skipping them",
                  file=sys.stderr)
        sources += [Source(p, "mail-parser" if plain else "mail-parser-malformed") for p, plain in mp]

    tmp = None
    if args.generated > 0:
        if args.keep_generated:
            folder = args.keep_generated
            os.makedirs(folder, exist_ok=True)
        else:
            tmp = tempfile.TemporaryDirectory(prefix="aptsim-crosscheck-")
            folder = tmp.name
        sources += [Source(p, "generated") for p in generate(args.generated, args.seed, folder)]

    # a path given twice would be compared twice; keep the first
    seen, unique = set(), []
    for s in sources:
        if s.path not in seen:
            seen.add(s.path)
            unique.append(s)
    sources = unique

    try:
        if args.list_sources:
            for s in sources:
                print(f"{s.origin}\t{s.path}")
            if tmp is not None:
                print(f"crosscheck: generated messages were written to {folder} and are deleted on exit; "
                      "use --keep-generated DIR to keep them", file=sys.stderr)
            return 0
        if not sources:
            print("crosscheck: nothing to check", file=sys.stderr)
            return 2
        return check(binary, sources, args)
    finally:
        if tmp is not None:
            tmp.cleanup()


PROBE = (b"From: probe@example.org\nSubject: probe\nMIME-Version: 1.0\n"
         b"Content-Type: text/plain; name=\"probe.txt\"\nContent-Disposition: attachment\n\nprobe\n")


def preflight(binary: str, timeout: float):
    """None if `aptsim inspect` answers a trivial message with one JSON object, else why not
    (a stale or unfinished binary would otherwise show up as hundreds of "crashes")."""
    with tempfile.TemporaryDirectory(prefix="aptsim-probe-") as d:
        path = os.path.join(d, "probe.eml")
        with open(path, "wb") as f:
            f.write(PROBE)
        try:
            p = subprocess.run([binary, "inspect", path], capture_output=True, timeout=timeout)
        except OSError as e:
            return f"cannot run it: {e}"
        except subprocess.TimeoutExpired:
            return f"`inspect` of a 150-byte message took over {timeout:g}s"
        objs = parse_lines(p.stdout)
        if p.returncode == 0 and len(objs) == 1 and isinstance(objs[0].get("files"), list):
            return None
        err = p.stderr.decode("utf-8", "replace").strip()
        return (f"`{binary} inspect {path}` exited {p.returncode} and printed {len(objs)} JSON line(s) "
                f"instead of 1 object with a \"files\" list" + (f"; stderr: {err[-500:]}" if err else "")
                + " (is the binary up to date? cargo build)")


def check(binary, sources, args):
    why = preflight(binary, args.timeout)
    if why is not None:
        print(f"crosscheck: {why}", file=sys.stderr)
        return 2
    tool = run_aptsim(binary, [s.path for s in sources], args.timeout)
    agree, disagree, malformed, crashes, oracle_errors = 0, [], [], [], []
    by_origin = collections.defaultdict(collections.Counter)
    for s in sources:
        obj, problem = tool[s.path]
        if problem is None:
            problem = shape_problem(obj, s.path)
            if problem is not None:
                problem = "bad output: " + problem
        # Python's view (and its defects, which decide "malformed")
        try:
            with open(s.path, "rb") as f:
                data = f.read()
            py_files, defects = python_oracle.inspect_bytes(data)
        except Exception as e:  # a bug in the oracle or in CPython: report, do not judge aptsim
            oracle_errors.append((s, f"{type(e).__name__}: {e}"))
            by_origin[s.origin]["oracle error"] += 1
            if problem is not None and problem.startswith(("exit", "timed", "printed")):
                crashes.append((s, problem))
            continue
        # Only Python's own defects make a message "malformed" (see the module docstring).
        is_malformed = bool(defects)
        if problem is not None and (is_malformed or not problem.startswith("bad output")):
            crashes.append((s, problem))
            by_origin[s.origin]["crash"] += 1
            continue
        if is_malformed:
            malformed.append((s, sorted(set(defects))))
            by_origin[s.origin]["malformed"] += 1
            continue
        if problem is not None:
            disagree.append((s, [f"    {problem}"]))
            by_origin[s.origin]["disagree"] += 1
            continue
        a = [as_key(f) for f in py_files]
        b = [as_key(f) for f in obj["files"]]
        if a == b:
            agree += 1
            by_origin[s.origin]["agree"] += 1
        else:
            lines = diff(py_files, obj["files"], 0 if args.verbose else 12)
            if not lines:  # the same files, listed in another order
                lines = ["    same files, different order:"]
                lines += [f"      python {i}: {fmt_key(k)}" for i, k in enumerate(a)]
                lines += [f"      aptsim {i}: {fmt_key(k)}" for i, k in enumerate(b)]
            disagree.append((s, lines))
            by_origin[s.origin]["disagree"] += 1

    total = len(sources)
    print(f"checked {total} messages: {agree} agree, {len(disagree)} disagree, {len(malformed)} malformed skipped"
          + (f", {len(crashes)} crashed" if crashes else "")
          + (f", {len(oracle_errors)} oracle errors" if oracle_errors else ""))
    for origin, c in sorted(by_origin.items()):
        print(f"  {origin}: " + ", ".join(f"{n} {k}" for k, n in sorted(c.items())))
    for s, problem in crashes:
        print(f"CRASH {s.path} ({s.origin}): {problem}")
    for s, lines in disagree:
        print(f"DISAGREE {s.path} ({s.origin})")
        for line in lines:
            print(line)
    for s, err in oracle_errors:
        print(f"ORACLE ERROR {s.path} ({s.origin}): {err}")
    if args.verbose:
        for s, defects in malformed:
            print(f"malformed {s.path} ({s.origin}): {', '.join(defects)}")
    known = set()
    if args.known:
        with open(args.known, encoding="utf-8") as f:
            known = {line.split("#", 1)[0].strip() for line in f} - {""}
    unexpected = [d for d in disagree if str(d[0].path) not in known]
    disagreeing = {str(d[0].path) for d in disagree}
    # A known entry that was checked and now agrees must come off the list.
    checked = {str(s.path) for s in sources}
    fixed = sorted(k for k in known if k in checked and k not in disagreeing)
    for k in fixed:
        print(f"KNOWN BUT AGREES {k}: take it off {args.known}")
    if known:
        print(f"{len(disagree) - len(unexpected)} known disagreement(s), {len(unexpected)} unexpected")
    return 1 if (unexpected or crashes or fixed) else 0


if __name__ == "__main__":
    sys.exit(main())
