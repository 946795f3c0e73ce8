"""The (i) checks of imap_interop.py, through the proxy: listed in that script's doc. Each
asks the proxy and Dovecot directly the same and compares, besides comparing with the
message as built; log records come through `ImapProxy.records` (imap_interop.imap_log)."""

import re
import time

import imap_messages as msgs
from imap_clients import (ImapClient, mbsync, fetchmail, strip_fetchmail_received,
                          bodystructure_text, bodystructure_core)
from imap_direct import lf, without_tuid, by_marker
from imap_forms import (WHOLE, SECTIONS, REFUSED_BY_DOVECOT, collect, against_oracle,
                        bodystructure, first_difference, describe)
from smtp_messages import smtplib_send

MAIN_ANALYSIS = 1.0  # the "main" proxy's --analysis-time


def run_proxy_checks(checks, dove, work, proxies, sink):
    main, slow, outage = proxies["main"], proxies["slow"], proxies["outage"]
    keepalive, x6 = proxies["keepalive"], proxies["x6"]

    def client(proxy, user, timeout=30):
        return ImapClient(proxy.port, user, dove.users[user], timeout=timeout)

    def direct(user):
        return ImapClient(dove.port, user, dove.users[user])

    def served_oracle(data, forms):
        """Dovecot's own answers for `forms` of `data` (what the proxy served), appended to
        the oracle user's INBOX: what a consistent server would say about those bytes."""
        uid = dove.append(data, user="oracle")
        with direct("oracle") as d:
            return uid, collect(d, uid, forms), bodystructure(d, uid, core=True)

    def check_notice(data, what, name="eicar.com"):
        assert data is not None, f"{what}: nothing served"
        assert not msgs.dangerous(data), f"{what}: EICAR reached the client"
        assert msgs.is_deny_notice(data, name), f"{what}: not the deny notice: {data[:400]!r}"

    def i1():
        b = msgs.layered("i1")
        uid = dove.append(b.raw, user="i1")
        forms = WHOLE + REFUSED_BY_DOVECOT + ["RFC822.HEADER", "BODY.PEEK[TEXT]"]
        with client(main, "i1") as c:
            first = c.fetch(str(uid), "(UID RFC822.SIZE BODY.PEEK[])", uid=True)
            got = collect(c, uid, forms)
            shape = bodystructure(c, uid)
        with direct("i1") as d:
            ref = collect(d, uid, forms)
            ref_shape = bodystructure(d, uid)
        assert first.content("BODY[]") == b.raw, first_difference(first.content("BODY[]"),
                                                                  b.raw)
        assert first.elapsed >= MAIN_ANALYSIS * 0.9, \
            f"answered in {first.elapsed:.2f}s: not held for the {MAIN_ANALYSIS}s analysis"
        assert first.keepalives == [], f"keepalives without --keepalive: {first.keepalives}"
        problems = against_oracle({k: v for k, v in got.items()
                                   if k not in REFUSED_BY_DOVECOT}, b)
        for form in forms:
            problems += got[form].same_as(ref[form])
        if shape != ref_shape:
            problems.append(f"BODYSTRUCTURE {shape} vs Dovecot's {ref_shape}")
        assert not problems, "\n  ".join(problems)
        md5 = msgs.md5_of(b)
        records, _ = main.records(md5)
        assert records, f"no imap_message record with the file {md5} in the log"
        assert all(r["action"] == "allow" for r in records), records

    checks.run("(i1) clean message, whole-message forms: held once, then byte for byte",
               i1, main)

    def i2():
        sections_msg, chunks_msg = msgs.layered("i2-sections"), msgs.layered("i2-chunks")
        u1 = dove.append(sections_msg.raw, user="i2")
        u2 = dove.append(chunks_msg.raw, user="i2")
        with client(main, "i2") as c:
            got = collect(c, u1, SECTIONS)
            data, answers = c.chunked(u2)
        with direct("i2") as d:
            ref = collect(d, u1, SECTIONS)
        problems = against_oracle(got, sections_msg)
        for form in SECTIONS:
            problems += got[form].same_as(ref[form])
        if data != chunks_msg.raw:
            problems.append(f"chunks: {first_difference(data, chunks_msg.raw)}")
        sizes = {a.one().get("RFC822.SIZE") for a in answers if a.status == "OK"}
        if sizes != {len(chunks_msg.raw)}:
            problems.append(f"chunks: RFC822.SIZE {sizes}, served {len(data)}")
        assert not problems, "\n  ".join(problems)

    checks.run("(i2) sections, BINARY, partials and Thunderbird's chunks: as from Dovecot",
               i2, main)

    def i3():
        built = [msgs.layered(f"i3-{n}", big=4000 * n) for n in (1, 2, 3)]
        bad = msgs.eicar_layered("i3-eicar")
        uids = [dove.append(b.raw, user="i3") for b in built + [bad]]
        with client(main, "i3") as c:
            a = c.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[])")
            b = c.fetch(f"{uids[2]},{uids[0]},{uids[3]},{uids[1]}",
                        "(UID BODY.PEEK[1] BODY.PEEK[])", uid=True)
        assert a.status == "OK" and b.status == "OK", (a, b)
        for answer in (a, b):
            assert [m.seq for m in answer.messages] == [1, 2, 3, 4], answer.messages
            assert [m["UID"] for m in answer.messages] == uids, answer.messages
            for m, want in zip(answer.messages[:3], built):
                assert m["BODY[]"] == want.raw, \
                    f"{answer.command}: {m.seq}: {first_difference(m['BODY[]'], want.raw)}"
            check_notice(answer.messages[3]["BODY[]"], f"{answer.command}, the EICAR message")
        assert a.messages[3]["RFC822.SIZE"] == len(a.messages[3]["BODY[]"]), a.messages[3]
        for m, want in zip(b.messages[:3], built):
            assert m["BODY[1]"] == want.sections["1"], f"{b.command}: {m.seq}: BODY[1]"

    checks.run("(i3) several messages per command: Dovecot's order, EICAR replaced", i3, main)

    def i4():
        cases = [("BODY[]", "i4-body", msgs.eicar_layered("i4-body")),
                 ("BODY.PEEK[]", "i4-zip", msgs.zipped_eicar("i4-zip")),
                 ("RFC822", "i4-rfc822", msgs.eicar_layered("i4-rfc822")),
                 ("RFC822.PEEK", "i4-peek", msgs.eicar_layered("i4-peek")),
                 ("BODY.PEEK[3]", "i4-section", msgs.eicar_layered("i4-section")),
                 ("BINARY.PEEK[3]", "i4-binary", msgs.eicar_layered("i4-binary")),
                 ("chunks", "i4-chunks", msgs.eicar_layered("i4-chunks", padding=150_000)),
                 ("fetchmail", "i4-fetchmail", msgs.eicar_layered("i4-fetchmail"))]
        uids = [dove.append(b.raw, user="i4") for _, _, b in cases]
        problems = []
        with client(main, "i4") as c, direct("i4") as d:
            for (form, marker, b), uid in zip(cases, uids):
                what = f"{form} of {marker}"
                shape = None
                t0 = time.monotonic()
                if form == "chunks":
                    data, answers = c.chunked(uid)
                    sizes = {a.one().get("RFC822.SIZE") for a in answers}
                elif form == "fetchmail":
                    seq = uids.index(uid) + 1
                    # Its RFC822.SIZE comes in a command of its own, before any hold:
                    # not compared (I6 asks it of the response that serves the bytes).
                    header, text, _, _ = c.fetchmail_style(seq)
                    data, sizes = (header or b"") + (text or b""), None
                else:
                    a = c.fetch(str(uid), f"(UID RFC822.SIZE BODYSTRUCTURE {form})", uid=True)
                    ref = d.fetch(str(uid), f"(UID {form})", uid=True)
                    if a.status == "NO" and ref.status == "OK" and "[" in form:
                        # A section of the notice that does not exist: nothing served.
                        continue
                    if ref.status != "OK":
                        # Dovecot refuses the form (RFC822.PEEK): so must the proxy, or
                        # serve the notice; never the message.
                        if a.status != ref.status:
                            data = a.content(form.replace(".PEEK", ""))
                            check_notice(data, what)
                        continue
                    data = a.content(form.replace(".PEEK", ""))
                    sizes = {a.one().get("RFC822.SIZE")}
                    shape = a.one().get("BODYSTRUCTURE")
                elapsed = time.monotonic() - t0
                if elapsed < MAIN_ANALYSIS * 0.9:
                    problems.append(f"{what}: answered in {elapsed:.2f}s, not held")
                if msgs.dangerous(data):
                    problems.append(f"{what}: EICAR reached the client")
                    continue
                whole = c.fetch(str(uid), "(UID BODY.PEEK[])", uid=True).content("BODY[]")
                check_notice(whole, f"{what}, fetched whole afterwards", "eicar.com")
                if sizes is not None and sizes != {len(whole)}:
                    problems.append(f"{what}: RFC822.SIZE {sizes}, the notice has "
                                    f"{len(whole)} bytes")
                if form.endswith("[]") or form == "RFC822":
                    _, oracle, oracle_shape = served_oracle(whole, [])
                    if data != whole:
                        problems.append(f"{what}: {first_difference(data, whole)}")
                    shape = bodystructure_text(bodystructure_core(shape))
                    if shape != oracle_shape:
                        problems.append(f"{what}: BODYSTRUCTURE {shape} vs Dovecot's "
                                        f"{oracle_shape} for the bytes served")
                elif form in ("chunks", "fetchmail"):
                    if data != whole:
                        problems.append(f"{what}: {first_difference(data, whole)}")
                else:
                    _, oracle, _ = served_oracle(whole, [form])
                    if data != oracle[form].data:
                        problems.append(f"{what}: {describe(data)}, Dovecot gives "
                                        f"{describe(oracle[form].data)} for the notice")
                records, _ = main.records(b.bad_md5)
                if not any(r["action"] == "deny" for r in records):
                    problems.append(f"{what}: no deny record in the log: {records}")
        assert not problems, "\n  ".join(problems)

    checks.run("(i4) EICAR never arrives in any form; the deny notice does, consistently",
               i4, main)

    def i5():
        b = msgs.eicar_layered("i5")
        md5 = msgs.md5_of(b)
        uid = dove.append(b.raw, user="i5")
        t0 = time.monotonic()
        with client(slow, "i5", timeout=2) as c:
            a = c.fetch(str(uid), "(UID BODY.PEEK[])", uid=True)
        assert a.status == "TIMEOUT", f"the client did not time out: {a}"
        time.sleep(max(0.0, t0 + 4.5 - time.monotonic()))
        with client(slow, "i5") as c:
            a = c.fetch(str(uid), "(UID RFC822.SIZE BODY.PEEK[])", uid=True)
        assert a.elapsed < 1.0, f"the refetch took {a.elapsed:.2f}s: not from the cache"
        check_notice(a.content("BODY[]"), "the refetch")
        records, uploads = slow.records(md5)
        assert uploads.count(md5) == 1, f"{uploads.count(md5)} uploads of {md5}"
        assert any(f["source"] == "cache" for r in records for f in r["files"]
                   if f["md5"] == md5), f"no record decided from the cache: {records}"

    checks.run("(i5) I3: past the client's timeout, the refetch is answered from the cache",
               i5, slow)

    def i6():
        b = msgs.eicar_layered("i6")
        uid = dove.append(b.raw, user="i6")
        with client(outage, "i6") as c:
            a = c.fetch(str(uid), "(UID RFC822.SIZE BODY.PEEK[])", uid=True)
        data = a.content("BODY[]")
        assert data == b.raw, first_difference(data, b.raw)
        assert a.one()["RFC822.SIZE"] == len(b.raw)
        records, uploads = outage.records(msgs.md5_of(b))
        assert records, f"no imap_message record with the file {msgs.md5_of(b)} in the log"
        assert all(f["source"] == "unreachable" for r in records for f in r["files"]), \
            records

    checks.run("(i6) I4: --dc-outage lets an EICAR message through unchanged", i6, outage)

    def i7():
        good, bad = msgs.layered("i7-clean"), msgs.eicar_layered("i7-eicar")
        for b in (good, bad):
            dove.append(b.raw, user="i7")
        s = mbsync(work, "i7", main.port, "i7", dove.users["i7"])
        assert s.returncode == 0 and len(s.messages) == 2, s.tail()
        got = without_tuid(by_marker(s.messages, "i7-clean"))
        assert got == lf(good.raw), first_difference(got, lf(good.raw))
        check_notice(by_marker(s.messages, "i7-eicar"), "mbsync's copy")

        late = msgs.eicar_layered("i7-timeout")
        md5 = msgs.md5_of(late)
        dove.append(late.raw, user="i7t")
        t0 = time.monotonic()
        s = mbsync(work, "i7t", slow.port, "i7t", dove.users["i7t"], timeout=2)
        assert s.returncode != 0 and "timeout" in s.output, s.tail()
        time.sleep(max(0.0, t0 + 4.5 - time.monotonic()))
        s = mbsync(work, "i7t", slow.port, "i7t", dove.users["i7t"], timeout=2)
        assert s.returncode == 0 and len(s.messages) == 1, s.tail()
        assert s.elapsed < 2.0, f"the second sync took {s.elapsed:.2f}s"
        check_notice(s.messages[0], "mbsync's second sync")
        records, uploads = slow.records(md5)
        assert uploads.count(md5) == 1, f"{uploads.count(md5)} uploads of {md5}"

    checks.run("(i7) mbsync: clean as on the server, EICAR as the notice; a timed-out sync "
               "completes from the cache", i7, slow)

    def i8():
        good, bad = msgs.layered("i8-clean"), msgs.eicar_layered("i8-eicar")
        for b in (good, bad):
            dove.append(b.raw, user="i8")
        f = fetchmail(work, "i8", main.port, "i8", dove.users["i8"])
        assert f.returncode == 0 and len(f.messages) == 2, f.tail()
        got = strip_fetchmail_received(by_marker(f.messages, "i8-clean"))
        assert got == lf(good.raw), first_difference(got, lf(good.raw))
        check_notice(strip_fetchmail_received(by_marker(f.messages, "i8-eicar")),
                     "fetchmail's copy")

    checks.run("(i8) fetchmail: clean as on the server, EICAR as the notice", i8, main)

    def i9():
        b = msgs.layered("i9")
        uid = dove.append(b.raw, user="i9")
        with client(keepalive, "i9", timeout=2) as c:
            a = c.fetch(str(uid), "(UID BODY.PEEK[])", uid=True)
        assert a.status == "OK" and len(a.keepalives) >= 2, \
            f"{a}: keepalives {a.keepalives}"
        assert a.content("BODY[]") == b.raw
        good, bad = msgs.layered("i9f-clean"), msgs.eicar_layered("i9f-eicar")
        for m in (good, bad):
            dove.append(m.raw, user="i9f")
        f = fetchmail(work, "i9f", keepalive.port, "i9f", dove.users["i9f"], timeout=30)
        assert "Incorrect FETCH response" not in f.output, f.tail()
        assert f.returncode == 0 and len(f.messages) == 2, f.tail()
        got = strip_fetchmail_received(by_marker(f.messages, "i9f-clean"))
        assert got == lf(good.raw), first_difference(got, lf(good.raw))
        check_notice(strip_fetchmail_received(by_marker(f.messages, "i9f-eicar")),
                     "fetchmail's copy")
        # Untagged OKs without a response code: keepalives, not SELECT's [UIDVALIDITY] ones.
        seen = len(re.findall(r"IMAP< \* OK (?!\[)", f.output))
        print(f"  fetchmail saw {seen} untagged OK lines without a response code", flush=True)

    checks.run("(i9) X4 --keepalive: imaplib kept waiting; fetchmail unharmed", i9, keepalive)

    def i10():
        b = msgs.eicar_layered("i10")
        md5 = msgs.md5_of(b)
        sender = "i10@example.com"
        elapsed, refused = smtplib_send(x6.smtp_port, sender, b.raw)
        assert refused is None and elapsed < 1.5, \
            f"release mode: {refused} after {elapsed:.2f}s"
        assert sink.find("i10@interop") is not None, "the SMTP side did not deliver it"
        uid = dove.append(b.raw, user="i10")
        # The SMTP side analyses the message's files one at a time in the background (2 s
        # each): wait for its verdict on the EICAR file.
        deadline = time.monotonic() + 15
        while not any(o.get("kind") == "verdict" and o.get("md5") == md5
                      for o in x6.json_log()):
            assert time.monotonic() < deadline, "the SMTP side never judged the file"
            time.sleep(0.2)
        with client(x6, "i10") as c:
            a = c.fetch(str(uid), "(UID RFC822.SIZE BODY.PEEK[])", uid=True)
        assert a.elapsed < 1.0, f"held {a.elapsed:.2f}s: not decided from the shared cache"
        check_notice(a.content("BODY[]"), "the IMAP fetch")
        records, uploads = x6.records(md5)
        assert uploads.count(md5) == 1, f"{uploads.count(md5)} uploads of {md5} (expected "
        "the SMTP side's only)"
        assert records, f"no imap_message record with the file {md5} in the log"
        assert all(f["source"] == "cache" for r in records for f in r["files"]
                   if f["md5"] == md5), records

    checks.run("(i10) X6: released by SMTP, judged, denied at IMAP fetch from the cache",
               i10, x6)
