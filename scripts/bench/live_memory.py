#!/usr/bin/env python3
"""Peak memory of the live SMTP proxy under release-mode load, side by side for one or more
`aptsim` binaries.

Usage: live_memory.py [--messages N] [--size BYTES] [--analysis-time DUR] [--senders K]
                      APTSIM [APTSIM...]

For each binary: starts Postfix's smtp-sink on loopback, then `APTSIM proxy smtp` in
release mode (S1, the default) in front of it with the built-in data center taking
--analysis-time per file, and sends N messages of about --size bytes, each with one
attachment of its own (so every file is uploaded and its analysis still runs when the
last message is delivered), from K smtplib senders at once. It then reads the proxy's peak
resident memory (VmHWM in /proc/PID/status) and its resident memory at the end, and prints
one line per binary. Every message is delivered in release mode, so what the proxy keeps
is what it keeps for the analyses still running.

Needs smtp-sink (Debian package postfix; scripts/interop/install-deps.sh installs it).
"""

import argparse
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def message(n, size):
    attachment = (f"file {n} ".encode() * (size // 8 + 1))[: size * 3 // 4]
    import base64
    b64 = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    return (
        f"From: load@example.com\r\nTo: rcpt@example.net\r\nSubject: load {n}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
        "--m\r\nContent-Type: text/plain\r\n\r\nload\r\n--m\r\n"
        f"Content-Type: application/octet-stream; name=\"f{n}.bin\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + b64 + b"--m--\r\n"


def run(aptsim, args, sink_bin):
    work = tempfile.mkdtemp(prefix="aptsim-mem-")
    procs = []
    try:
        sink_port, proxy_port = free_port(), free_port()
        sink_cmd = [sink_bin, "-c"]
        if os.geteuid() == 0:
            sink_cmd += ["-u", "root"]
        procs.append(subprocess.Popen(sink_cmd + [f"127.0.0.1:{sink_port}", "256"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        log = open(os.path.join(work, "proxy.log"), "wb")
        proxy = subprocess.Popen(
            [aptsim, "proxy", "smtp", "--quiet", "--listen", f"127.0.0.1:{proxy_port}",
             "--upstream", f"127.0.0.1:{sink_port}", "--analysis-time", args.analysis_time],
            stdout=log, stderr=subprocess.STDOUT)
        procs.append(proxy)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", proxy_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        start_rss = status(proxy.pid, "VmRSS")
        counter = iter(range(args.messages))
        lock = threading.Lock()
        failures = []

        def sender():
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                try:
                    with smtplib.SMTP("127.0.0.1", proxy_port, timeout=60) as s:
                        s.sendmail("load@example.com", ["rcpt@example.net"],
                                   message(n, args.size))
                except Exception as e:  # noqa: BLE001 - counted and reported
                    failures.append(repr(e))

        t0 = time.monotonic()
        threads = [threading.Thread(target=sender) for _ in range(args.senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        peak, now = status(proxy.pid, "VmHWM"), status(proxy.pid, "VmRSS")
        return {"peak": peak, "end": now, "start": start_rss, "elapsed": elapsed,
                "failures": len(failures)}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aptsim", nargs="+")
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--size", type=int, default=20_000)
    ap.add_argument("--analysis-time", default="30s")
    ap.add_argument("--senders", type=int, default=8)
    args = ap.parse_args()
    sink_bin = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not os.access(sink_bin, os.X_OK):
        print("smtp-sink not found: bash scripts/interop/install-deps.sh", file=sys.stderr)
        return 2
    mib = 1 << 20
    print(f"{args.messages} messages of ~{args.size} bytes, one attachment each, release "
          f"mode, analysis {args.analysis_time}, {args.senders} senders")
    for aptsim in args.aptsim:
        r = run(aptsim, args, sink_bin)
        print(f"{aptsim}: peak RSS {r['peak'] / mib:.1f} MiB, at the end {r['end'] / mib:.1f} "
              f"MiB (at start {r['start'] / mib:.1f} MiB), {args.messages / r['elapsed']:.0f} "
              f"messages/s, {r['failures']} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
