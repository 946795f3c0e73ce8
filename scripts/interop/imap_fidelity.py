"""Fidelity checks: the same story live and simulated, compared message by message.

Each story runs twice: live, through `aptsim proxy` between Python's imaplib (playing
Thunderbird with its timings scaled down) and the private Dovecot; and in the simulator, as a
scenario file written here for `aptsim run` (Thunderbird's preset with the same scaled
timings). The outcome of the message is read from each side's own record — the live proxy's
JSON log and what imaplib received; the simulation's trace — and the two must agree:

  (f1) I3: a 4 s analysis outlasts a 1.5 s read timeout and its one retry on a new
       connection; the next check (6 s) gets the message at once, from the cache:
       result unchanged, 3 download attempts, verdicts from the cache, 2 uploads (the
       message's two files, submitted once, I2);
  (f2) X6: the SMTP proxy releases a message with an EICAR file (S1) and judges its files
       in the background (2 s each); the client's first check comes after the verdicts:
       the deny notice at once, from the shared cache, 1 attempt, no upload by the IMAP side.

The comparison and its figures are in docs/imap.md, "How faithful the IMAP world is"."""

import json
import os
import subprocess
import time

import imap_messages as msgs
from imap_clients import ImapClient

# Thunderbird's timings scaled down (read timeout 100 s → 1.5 s, check every 10 min → 6 s).
TIMEOUT = 1.5
CHECK_EVERY = 6.0


def thunderbird_scaled(proxy, dove, user, uid):
    """Thunderbird's habit (reference/IMAP.md §2) at the scaled timings: each check fetches
    the message (offline sync's `UID FETCH … (UID RFC822.SIZE BODY.PEEK[])`); a timeout is
    retried once on a new connection, then the check fails and the next one is CHECK_EVERY
    after the first. Returns (attempts, bytes or None)."""
    attempts, start = 0, time.monotonic()
    for check in range(4):
        wait = start + check * CHECK_EVERY - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        for _retry in range(2):
            attempts += 1
            with ImapClient(proxy.port, user, dove.users[user], timeout=TIMEOUT) as c:
                a = c.fetch(str(uid), "(UID RFC822.SIZE BODY.PEEK[])", uid=True)
            if a.status == "OK":
                return attempts, a.content("BODY[]")
            assert a.status == "TIMEOUT", f"attempt {attempts}: {a.status} {a.text}"
    return attempts, None


def live_outcome(proxy, md5s, served, original, attempts):
    """The message's outcome from the live proxy's log and what the client got."""
    records, uploads = proxy.records(md5s[0])
    decided = [r for r in records if r["result"] not in ("abandoned", "parts_served")]
    last = decided[-1] if decided else None
    kind = ("not_fetched" if served is None else
            "unchanged" if served == original else
            "notice" if msgs.is_deny_notice(served, "eicar.com") else "other")
    sources = sorted({f["source"] for f in last["files"]}) if last else []
    return {
        "served": kind,
        "attempts": attempts,
        "verdicts": sources,
        "uploads": sum(1 for m in uploads if m in md5s),
    }


def simulate(aptsim, work, name, toml):
    """Runs a scenario written from `toml` and returns its trace's records."""
    path = os.path.join(work, f"{name}.toml")
    trace = os.path.join(work, f"{name}.jsonl")
    with open(path, "w") as f:
        f.write(toml)
    r = subprocess.run([aptsim, "run", path, "--trace", trace], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, f"aptsim run {path}: {r.stdout}{r.stderr}"
    with open(trace) as f:
        return [json.loads(line) for line in f]


def sim_outcome(trace, msg="m1"):
    """The message's outcome from a simulation's trace."""
    fetched = [r for r in trace if r["event"] == "imap_fetched" and r["msg"] == msg]
    decided = [r for r in trace if r["event"] == "imap_decision" and r["msg"] == msg
               and r["result"] not in ("abandoned", "parts_served")]
    last = decided[-1] if decided else None
    served = ("not_fetched" if not fetched else
              {"unchanged": "unchanged", "notice": "notice"}.get(last["result"], "other")
              if last else "other")
    return {
        "served": served,
        "attempts": fetched[-1]["attempts"] if fetched else 0,
        "verdicts": sorted({f["source"] for f in last["files"]}) if last else [],
        "uploads": sum(1 for r in trace if r["event"] == "submission" and r["upload"]),
    }


def run_fidelity_checks(checks, dove, work, aptsim, proxies, smtp_send):
    slow, x6 = proxies["slow"], proxies["x6"]

    def f1():
        b = msgs.layered("f1")
        uid = dove.append(b.raw, user="f1")
        md5s = [msgs.md5_of(b, "3"), msgs.md5_of(b, "2.2")]
        attempts, served = thunderbird_scaled(slow, dove, "f1", uid)
        live = live_outcome(slow, md5s, served, b.raw, attempts)
        sim = sim_outcome(simulate(aptsim, work, "f1", f"""
description = "fidelity (f1): I3 at Thunderbird's timings scaled down"
duration = "1m"
[[message]]
id = "m1"
via = "mailbox"
[[message.attachment]]
name = "data.bin"
analysis = "4s"
[[message.attachment]]
name = "fwd.pdf"
analysis = "4s"
[[client]]
preset = "thunderbird"
first_check = "0s"
read_timeout = "{TIMEOUT}s"
check_every = "{CHECK_EVERY:g}s"
"""))
        print(f"  live {live}\n  sim  {sim}", flush=True)
        assert live == sim, f"live and simulated outcomes differ: {live} vs {sim}"
        assert live["served"] == "unchanged" and live["verdicts"] == ["cache"], live

    def f2():
        b = msgs.eicar_layered("f2")
        md5s = [b.bad_md5, msgs.md5_of(b, "2.2")]
        _elapsed, refused = smtp_send(x6.smtp_port, "f2@example.com", b.raw)
        assert refused is None, f"the SMTP side refused it: {refused}"
        uid = dove.append(b.raw, user="f2")
        # After the SMTP side's two background analyses (2 s each, one at a time).
        time.sleep(4.5)
        attempts, served = thunderbird_scaled(x6, dove, "f2", uid)
        live = live_outcome(x6, md5s, served, b.raw, attempts)
        sim = sim_outcome(simulate(aptsim, work, "f2", """
description = "fidelity (f2): X6 at scaled timings"
duration = "1m"
[[message]]
id = "m1"
[[message.attachment]]
name = "fwd.pdf"
analysis = "2s"
[[message.attachment]]
name = "eicar.com"
content = "eicar"
analysis = "2s"
[[client]]
preset = "thunderbird"
first_check = "4500ms"
read_timeout = "1500ms"
check_every = "6s"
"""))
        print(f"  live {live}\n  sim  {sim}", flush=True)
        assert live == sim, f"live and simulated outcomes differ: {live} vs {sim}"
        assert live["served"] == "notice" and live["verdicts"] == ["cache"], live

    checks.run("(f1) I3 live and simulated: the same outcome", f1, slow)
    checks.run("(f2) X6 live and simulated: the same outcome", f2, x6)
