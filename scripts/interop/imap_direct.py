"""The `--direct` checks of imap_interop.py: the client side of every IMAP check, run against
Dovecot with no proxy, so that a failure through the proxy is the proxy's. They show that
the clients and the oracle agree with a real server, that the EICAR detectors see EICAR in
every form the proxy must keep it out of (so those checks can fail), and that the real
clients react to a hold as reference/IMAP.md says, using imap_hold_relay.HoldRelay in place
of the proxy:

  (d1) Dovecot starts from its private configuration and logs a user in;
  (d2) every whole-message and section form, the chunked download (Thunderbird) and
       fetchmail's header/text pair give the bytes the oracle predicts, with RFC822.SIZE
       the message's length; RFC822.PEEK gets BAD from Dovecot 2.3;
  (d3) several messages per command (`1:*`, a UID set out of order): one response each,
       in sequence order, each the right message;
  (d4) the detectors: each EICAR message, in every form (whole, zipped, section, BINARY,
       chunks), is `dangerous`, the clean one is not, no original is a deny notice; with
       the aptsim binary given, `aptsim inspect --rewrite` writes an IMAP deny rewrite that
       `is_deny_notice` accepts;
  (d5) a hold longer than the client's timeout: imaplib (socket timeout) gives TIMEOUT,
       mbsync (`Timeout`) fails with "timeout", fetchmail (`-t`) with a socket error; once
       the hold is gone, each completes;
  (d6) mbsync and fetchmail deliver each message as it is on the server (mbsync adds an
       X-TUID field, fetchmail a Received: field; both write LF line ends);
  (d7) X4: with untagged `* OK` lines every second during a 3 s hold of each body fetch,
       fetchmail with `-t 2` and imaplib with a 2 s timeout complete; the same lines before
       fetchmail's header reply make it fail ("Incorrect FETCH response")."""

import json
import os
import subprocess
import time

import imap_messages as msgs
from imap_clients import (ImapClient, mbsync, fetchmail, tool_versions,
                          strip_fetchmail_received)
from imap_forms import (WHOLE, SECTIONS, REFUSED_BY_DOVECOT, collect, against_oracle,
                        first_difference)
from imap_hold_relay import HoldRelay, HEADER_FETCH


def lf(data):
    return data.replace(b"\r\n", b"\n")


def without_tuid(message):
    """mbsync's copy without the `X-TUID:` field it adds to the header."""
    head, sep, body = message.partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.startswith(b"X-TUID: ")]
    return b"\n".join(lines) + sep + body


def by_marker(messages, marker):
    found = [m for m in messages if f"<{marker}@interop.test>".encode() in m]
    assert len(found) == 1, f"{len(found)} delivered messages carry {marker}"
    return found[0]


def run_direct(checks, dove, work, aptsim=None):
    """Adds the (d) checks to `checks`, against `dove` (a started dovecot.Dovecot)."""
    clean = msgs.layered("d-clean")
    bad = [msgs.eicar_layered("d-eicar", padding=150_000), msgs.zipped_eicar("d-zip")]

    def d1():
        with ImapClient(dove.port, dove.user, dove.password) as c:
            assert c.exists == 0, f"a new INBOX with {c.exists} messages"
        print(f"  {dove.version()} on 127.0.0.1:{dove.port}, config {dove.config}; "
              f"{', '.join(tool_versions())}", flush=True)

    checks.run("(d1) Dovecot from a private config answers LOGIN", d1)

    uid = dove.append(clean.raw, user="forms")

    def d2():
        with ImapClient(dove.port, "forms", dove.users["forms"]) as c:
            got = collect(c, uid, WHOLE + REFUSED_BY_DOVECOT + SECTIONS)
            problems = against_oracle(got, clean)
            assert got["RFC822.PEEK"].status == "BAD", got["RFC822.PEEK"].answer
            data, answers = c.chunked(uid)
            if data != clean.raw:
                problems.append(f"chunked: {first_difference(data, clean.raw)}")
            want_chunks = len(clean.raw) // 65536 + 1
            if len(answers) != want_chunks:
                problems.append(f"chunked: {len(answers)} commands, expected {want_chunks}")
            header, text, size, _ = c.fetchmail_style(1)
            if (header, text, size) != (clean.sections["HEADER"], clean.sections["TEXT"],
                                        len(clean.raw)):
                problems.append("fetchmail's RFC822.HEADER + BODY.PEEK[TEXT] differ")
        assert not problems, "\n  ".join(problems)

    checks.run("(d2) every fetch form, chunks and fetchmail's pair match the oracle", d2)

    def d3():
        built = [msgs.layered(f"d3-{n}", big=3000 * n) for n in (1, 2, 3)]
        uids = [dove.append(b.raw, user="multi") for b in built]
        with ImapClient(dove.port, "multi", dove.users["multi"]) as c:
            a = c.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[])")
            assert [m.seq for m in a.messages] == [1, 2, 3], a.messages
            for m, b, u in zip(a.messages, built, uids):
                assert (m["UID"], m["BODY[]"], m["RFC822.SIZE"]) == (u, b.raw, len(b.raw)), m
            a = c.fetch(f"{uids[2]},{uids[0]},{uids[1]}", "(UID BODY.PEEK[1] BODY.PEEK[])",
                        uid=True)
            assert [m["UID"] for m in a.messages] == uids, a.messages
            for m, b in zip(a.messages, built):
                assert m["BODY[1]"] == b.sections["1"] and m["BODY[]"] == b.raw, m

    checks.run("(d3) several messages per command, in sequence order", d3)

    def d4():
        assert not msgs.dangerous(clean.raw), "the clean message counts as EICAR"
        for b in bad:
            u = dove.append(b.raw, user="detect")
            assert not msgs.is_deny_notice(b.raw, "eicar.com")
            with ImapClient(dove.port, "detect", dove.users["detect"]) as c:
                got = collect(c, u, WHOLE + ["BODY.PEEK[3]", "BINARY.PEEK[3]",
                                             "BODY.PEEK[TEXT]"])
                chunks, _ = c.chunked(u, peek=True)
            for form, g in list(got.items()) + [("chunks", None)]:
                data = chunks if g is None else g.data
                assert msgs.dangerous(data), f"{form}: EICAR not seen in {data[:80]!r}"
        if aptsim:
            out = os.path.join(work, "d4-rewrite")
            src = os.path.join(work, "d4-eicar.eml")
            with open(src, "wb") as f:
                f.write(bad[0].raw)
            verdicts = os.path.join(work, "d4-verdicts.json")
            with open(verdicts, "w") as f:
                json.dump({msgs.md5_of(bad[0]): "high"}, f)
            r = subprocess.run([aptsim, "inspect", "--verdicts", verdicts, "--rewrite", out,
                                src], capture_output=True, timeout=60)
            assert r.returncode == 0, r.stderr
            with open(os.path.join(out, "d4-eicar.imap.eml"), "rb") as f:
                notice = f.read()
            assert msgs.is_deny_notice(notice, "eicar.com") and not msgs.dangerous(notice), \
                notice[:600]

    checks.run("(d4) the EICAR detectors see EICAR in every form; the notice detector", d4)

    def d5():
        dove.append(clean.raw, user="hold")
        relay = HoldRelay(dove.port, hold=3)
        try:
            with ImapClient(relay.port, "hold", dove.users["hold"], timeout=1.5) as c:
                a = c.fetch("1", "(BODY.PEEK[])")
                assert a.status == "TIMEOUT", a
            s = mbsync(work, "d5", relay.port, "hold", dove.users["hold"], timeout=1)
            assert s.returncode != 0 and "timeout" in s.output, s.tail()
            f = fetchmail(work, "d5", relay.port, "hold", dove.users["hold"], timeout=1)
            assert f.returncode == 2 and "timeout after 1 seconds" in f.output, f.tail()
            relay.hold = 0
            with ImapClient(relay.port, "hold", dove.users["hold"], timeout=1.5) as c:
                assert c.fetch("1", "(BODY.PEEK[])").content("BODY[]") == clean.raw
            s = mbsync(work, "d5", relay.port, "hold", dove.users["hold"], timeout=1)
            assert s.returncode == 0 and len(s.messages) == 1, s.tail()
        finally:
            relay.close()

    checks.run("(d5) a hold past the timeout fails imaplib, mbsync, fetchmail; then they "
               "complete", d5)

    def d6():
        for b in [clean] + bad:
            dove.append(b.raw, user="sync")
        s = mbsync(work, "d6", dove.port, "sync", dove.users["sync"])
        assert s.returncode == 0, s.tail()
        f = fetchmail(work, "d6", dove.port, "sync", dove.users["sync"])
        assert f.returncode == 0, f.tail()
        for b, marker in zip([clean] + bad, ["d-clean", "d-eicar", "d-zip"]):
            got = without_tuid(by_marker(s.messages, marker))
            assert got == lf(b.raw), f"mbsync {marker}: {first_difference(got, lf(b.raw))}"
            got = strip_fetchmail_received(by_marker(f.messages, marker))
            assert got == lf(b.raw), f"fetchmail {marker}: {first_difference(got, lf(b.raw))}"

    checks.run("(d6) mbsync and fetchmail deliver each message as on the server", d6)

    def d7():
        dove.append(clean.raw, user="keep")
        dove.append(bad[0].raw, user="keep")
        relay = HoldRelay(dove.port, hold=3, keepalive=1)
        try:
            t0 = time.monotonic()
            f = fetchmail(work, "d7", relay.port, "keep", dove.users["keep"], timeout=2)
            assert f.returncode == 0 and len(f.messages) == 2, f.tail()
            assert relay.held >= 2 and time.monotonic() - t0 >= 6, "no hold happened"
            with ImapClient(relay.port, "keep", dove.users["keep"], timeout=2) as c:
                a = c.fetch("1", "(BODY.PEEK[])")
                assert a.status == "OK" and len(a.keepalives) >= 2, a
            relay.match = HEADER_FETCH
            f = fetchmail(work, "d7-header", relay.port, "keep", dove.users["keep"],
                          timeout=10)
            assert f.returncode != 0 and "Incorrect FETCH response" in f.output, f.tail()
        finally:
            relay.close()

    checks.run("(d7) X4: keepalives in body holds keep fetchmail and imaplib waiting; "
               "before fetchmail's header reply they break it", d7)
