#!/usr/bin/env python3
"""Interop checks of the live IMAP proxy (`aptsim proxy imap`) between real IMAP clients
(Python's imaplib, mbsync, fetchmail) and a real Dovecot.

Usage: imap_interop.py PATH/TO/aptsim [--keep]
       imap_interop.py --direct [PATH/TO/aptsim] [--keep]

Needs dovecot (Debian package dovecot-imapd), mbsync (isync), fetchmail, smtp-sink
(postfix) and python3: scripts/interop/install-deps.sh installs them. It starts a private
Dovecot (dovecot.py: its own config, Maildir, state and log in the work folder, one free
port of 127.0.0.1), first runs the (d) checks of imap_direct.py against Dovecot alone (the
clients, the oracle and the detectors agree with a real server; the clients react to a
hold as reference/IMAP.md says), then starts the proxies and runs the (i) checks. With
--direct it runs the (d) checks only, and needs no aptsim (given one, (d4) also checks the
notice detector on `aptsim inspect`'s IMAP rewrite). Output and exit status as in
smtp_interop.py: one line per check, a last line `N passed, M failed`; 0 when all passed, 1
when a check failed or the setup did, 2 when a required program is missing.

Each message lives in its own Dovecot user's INBOX, so each check knows its UIDs. What the
checks assume about the proxy's command line is in `proxy_command`, about its log in
`imap_log`: the two places to adjust to the proxy as it lands.

The checks (behaviour ids from ../shared/design/BEHAVIOUR.md; every proxy runs the
built-in data center, which calls a file with the EICAR string high):
  (i1) a clean message with harmless attachments: its first fetch is held for the analysis
       (I1) with no keepalive (X4 is off by default); BODY[], BODY.PEEK[], RFC822,
       RFC822.HEADER and BODY.PEEK[TEXT] give the client the message byte for byte, as
       Dovecot does and as built, RFC822.SIZE and BODYSTRUCTURE as Dovecot's; RFC822.PEEK
       gets what Dovecot answers (BAD); the log records the message as allowed;
  (i2) sections (BODY.PEEK[1], [2], BODY[2.1], [2.2], BINARY[3], a partial of part 3,
       HEADER, TEXT) and Thunderbird's chunked download (BODY[]<off.65536> until a short
       literal) of new messages: as from Dovecot;
  (i3) several messages per command (`FETCH 1:*`, a UID set out of order, with a section
       and the whole message each), three clean and one EICAR: one response each, in
       Dovecot's order, the clean ones as from Dovecot, the EICAR one the deny notice;
  (i4) EICAR never arrives (default policy: high = deny, the message replaced by the deny
       notice, I6): as BODY[], zipped (BODY.PEEK[]), RFC822, RFC822.PEEK, the section of
       the attachment, BINARY of it, Thunderbird's chunks, fetchmail's header and text; each
       on a new message, held for the analysis; what arrives instead is the notice, with
       RFC822.SIZE the length of what was served and BODYSTRUCTURE (its basic fields, not
       the extension data) what Dovecot gives for the notice itself; a section of it is
       what Dovecot gives for that section of the notice, or NO;
  (i5) I3: a hold (4 s) longer than imaplib's timeout (2 s): the client gives up; a refetch
       after the analysis is answered at once from the cache, the notice, with no second
       upload;
  (i6) I4: --dc-outage: an EICAR message arrives unchanged;
  (i7) mbsync: the clean message as on the server, the EICAR one as the notice; with
       `Timeout 2` under a 4 s analysis the first sync fails on its timeout and a second
       one completes at once from the cache, with no second upload;
  (i8) fetchmail (header, then text, by sequence number): the clean message as on the
       server, the EICAR one as the notice;
  (i9) X4: --keepalive 1s under a 3 s analysis: imaplib with a 2 s timeout gets `* OK`
       lines during a held body fetch and its answer; fetchmail still downloads both
       messages, with no "Incorrect FETCH response";
  (i10) X6: one process with an SMTP and an IMAP listener: an EICAR file released by the
       SMTP side (S1) and judged there is denied at IMAP fetch time at once, from the
       shared cache, with no upload by the IMAP side.
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    find_postfix_tool, free_port, start, stop_all, wait_listening, SetupError, Sink,
    Checks, parse_json_log, run_main,
)
from dovecot import Dovecot, dovecot_missing  # noqa: E402
from imap_direct import run_direct  # noqa: E402
from imap_proxy_checks import run_proxy_checks  # noqa: E402
from smtp_messages import smtplib_send  # noqa: E402
from imap_fidelity import run_fidelity_checks  # noqa: E402

# Every Dovecot user a check uses (each its own INBOX): the (d) checks', then the (i) ones'.
USERS = ("alice", "forms", "multi", "detect", "hold", "sync", "keep", "oracle",
         "i1", "i2", "i3", "i4", "i5", "i6", "i7", "i7t", "i8", "i9", "i9f", "i10",
         "f1", "f2")


def proxy_command(aptsim, imap_port, imap_upstream, flags, smtp=None):
    """THE command-line assumptions about the proxy. `aptsim proxy imap --listen ADDR
    --upstream ADDR` with the SMTP proxy's data-center and log flags (`--analysis-time`,
    `--dc-outage`, `--log-format json`) and `--keepalive DUR` (X4); for X6, `smtp` =
    (smtp_port, smtp_upstream): `aptsim proxy smtp --listen A --upstream B --imap-listen C
    --imap-upstream D`, one process, one cache."""
    if smtp is None:
        args = [aptsim, "proxy", "imap", "--listen", f"127.0.0.1:{imap_port}",
                "--upstream", imap_upstream]
    else:
        smtp_port, smtp_upstream = smtp
        args = [aptsim, "proxy", "smtp", "--listen", f"127.0.0.1:{smtp_port}",
                "--upstream", smtp_upstream, "--imap-listen", f"127.0.0.1:{imap_port}",
                "--imap-upstream", imap_upstream]
    return args + ["--log-format", "json"] + list(flags)


def imap_log(proxy):
    """THE log assumptions about the proxy, for a `--log-format json` proxy: one JSON object
    per line; a judged IMAP message is one line with `"kind": "imap"` and a `uid`
    (live/src/imap_log.rs; the other `imap` lines carry no uid), with the fields `uid`, `files` (each `name`, `md5`, `level`, `source`: `analysis`,
    `cache`, `unreachable`, ...), `action`, `result`, `held`; an upload is a `submit` line
    with `"msg": "upload"` and the file's `md5`, as the SMTP proxy writes it. Returns
    (message records, the md5 of each upload in order)."""
    records, uploads = [], []
    for obj in proxy.json_log():
        kind = obj.get("kind")
        if kind == "imap" and "uid" in obj:
            records.append({
                "uid": obj.get("uid"),
                "files": [{k: f.get(k) for k in ("name", "md5", "level", "source")}
                          for f in obj.get("files") or []],
                "action": obj.get("action"),
                "result": obj.get("result"),
                "held": obj.get("held"),
            })
        elif kind == "submit" and obj.get("msg") == "upload":
            uploads.append(obj.get("md5"))
    return records, uploads


class ImapProxy:
    """A running proxy from `proxy_command`, on free ports it was given (not on port 0, so
    nothing depends on its startup line): `port` is the IMAP listener, `smtp_port` the SMTP
    one (X6). Its log (standard error) goes to WORK/proxy-NAME.log."""

    def __init__(self, aptsim, work, name, imap_upstream, *flags, smtp_upstream=None):
        self.name = name
        self.log_path = os.path.join(work, f"proxy-{name}.log")
        self.port = free_port()
        self.smtp_port = free_port() if smtp_upstream else None
        smtp = (self.smtp_port, smtp_upstream) if smtp_upstream else None
        args = proxy_command(aptsim, self.port, imap_upstream, flags, smtp)
        self.proc = start(args, self.log_path)
        try:
            for port in (self.port, self.smtp_port):
                if port:
                    wait_listening(port, self.proc, f"proxy {name}", timeout=15)
        except SetupError as e:
            raise SetupError(f"{e}: {' '.join(args)}\n{self.log()[-1500:]}")

    def log(self):
        with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()

    def json_log(self):
        return parse_json_log(self.log(), self.log_path)

    def records(self, md5=None, timeout=3.0):
        """`imap_log`'s message records (those with a file of `md5`), waiting up to
        `timeout` for at least one; and the uploads."""
        end = time.monotonic() + timeout
        while True:
            records, uploads = imap_log(self)
            if md5 is not None:
                records = [r for r in records if any(f["md5"] == md5 for f in r["files"])]
            if records or time.monotonic() >= end:
                return records, uploads
            time.sleep(0.05)


def missing_programs(direct):
    missing = dovecot_missing()
    for tool, package in (("mbsync", "isync"), ("fetchmail", "fetchmail")):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (package {package})")
    if not direct and find_postfix_tool("smtp-sink") is None:
        missing.append("smtp-sink (package postfix)")
    return missing


def main():
    args = sys.argv[1:]
    direct = "--direct" in args
    keep = "--keep" in args
    paths = [a for a in args if not a.startswith("--")]
    aptsim = os.path.abspath(paths[0]) if paths else None
    if (not direct and aptsim is None) or (aptsim and not os.access(aptsim, os.X_OK)):
        print("usage: imap_interop.py PATH/TO/aptsim [--keep]\n"
              "       imap_interop.py --direct [PATH/TO/aptsim] [--keep]", file=sys.stderr)
        return 2
    missing = missing_programs(direct)
    if missing:
        print(f"missing: {', '.join(missing)}; install them with: "
              "bash scripts/interop/install-deps.sh", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    work = tempfile.mkdtemp(prefix="aptsim-imap-interop-")
    checks = Checks()
    dove = None
    try:
        dove = Dovecot(work, users=USERS).start()
        run_direct(checks, dove, work, aptsim)
        if not direct:
            sink = Sink(find_postfix_tool("smtp-sink"), work)
            proxies = {
                "main": ImapProxy(aptsim, work, "main", dove.addr(), "--analysis-time", "1s"),
                "slow": ImapProxy(aptsim, work, "slow", dove.addr(), "--analysis-time", "4s"),
                "outage": ImapProxy(aptsim, work, "outage", dove.addr(), "--dc-outage"),
                "keepalive": ImapProxy(aptsim, work, "keepalive", dove.addr(),
                                       "--analysis-time", "3s", "--keepalive", "1s"),
                "x6": ImapProxy(aptsim, work, "x6", dove.addr(), "--analysis-time", "2s",
                                smtp_upstream=sink.addr()),
            }
            run_proxy_checks(checks, dove, work, proxies, sink)
            run_fidelity_checks(checks, dove, work, aptsim, proxies, smtplib_send)
            checks.proxies_survived(proxies.values())
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        checks.failed += 1
    finally:
        if dove is not None:
            dove.stop()
            if checks.failed:
                print(dove.tail(15))
        stop_all()
    return checks.finish(work, keep, "Dovecot's config, log and mail, the proxies' logs")


if __name__ == "__main__":
    run_main(main)
