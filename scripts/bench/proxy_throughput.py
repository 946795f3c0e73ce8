#!/usr/bin/env python3
"""Throughput of the live SMTP proxy against sending straight to the server, side by side.

Usage: proxy_throughput.py [--messages N] [--size BYTES] [--sessions 20,200] [--rounds R]
                           [APTSIM]

Postfix's own load tools on loopback: smtp-source sends N messages of BYTES payload over
S parallel sessions, one connection per message (its default), to Postfix's smtp-sink —
once straight ("direct"), once through `aptsim proxy smtp` in release mode (S1, the
default) and once in hold mode with the built-in data center answering at once
(`--hold --analysis-time 0s`). Each round runs the three one after another, so noise on a
shared machine hits them alike; the report gives the median messages per second of the
rounds and each proxy mode's ratio to direct.

Nothing may be lost or duplicated: smtp-source stops with an error on any reply other than
the expected one, and smtp-sink's counter must show exactly N messages per run.

Needs smtp-source and smtp-sink (Debian package postfix: bash scripts/interop/install-deps.sh
installs it). APTSIM defaults to target/release/aptsim (build it with
`cargo build --release -p aptsim-cli`): a debug build measures the debug build.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from harness import (  # noqa: E402
    find_postfix_tool,
    free_port,
    start,
    stop_all,
    wait_listening,
    SetupError,
)


def sink_count(log_path):
    """Messages smtp-sink has taken: the last of its `-c` counters (`sess=… quit=… mesg=N`)."""
    with open(log_path, "rb") as f:
        text = f.read().decode("latin-1")
    counts = re.findall(r"mesg=(\d+)", text)
    return int(counts[-1]) if counts else 0


class Sink:
    """smtp-sink on a free loopback port, counting what it receives."""

    def __init__(self, work, name):
        self.port = free_port()
        self.log = os.path.join(work, f"{name}.log")
        args = [find_postfix_tool("smtp-sink"), "-c"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        args += [f"127.0.0.1:{self.port}", "1024"]
        self.proc = start(args, self.log)
        wait_listening(self.port, self.proc, "smtp-sink")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def send(port, messages, sessions, size):
    """Runs smtp-source; the seconds it took."""
    args = [find_postfix_tool("smtp-source"), "-s", str(sessions), "-m", str(messages),
            "-l", str(size), "-f", "bench@example.com", "-t", "sink@example.net",
            f"127.0.0.1:{port}"]
    t0 = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True)
    took = time.monotonic() - t0
    if out.returncode != 0:
        raise SetupError(f"smtp-source failed ({out.returncode}): {out.stderr.strip()}")
    return took


def cpu_seconds(pid):
    """User and system CPU time a process has used (/proc/PID/stat, in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(mode, aptsim, work, messages, sessions, size, extra=()):
    """One measured run: messages per second, and the proxy's and smtp-sink's CPU time per
    message (µs), after checking the sink got every message."""
    sink = Sink(work, f"sink-{mode}-{sessions}")
    proxy = None
    try:
        port = sink.port
        if mode != "direct":
            port = free_port()
            flags = ["--hold", "--analysis-time", "0s"] if mode == "hold" else []
            proxy = start([aptsim, "proxy", "smtp", "--listen", f"127.0.0.1:{port}",
                           "--upstream", f"127.0.0.1:{sink.port}", "--quiet", *flags,
                           *extra],
                          os.path.join(work, f"proxy-{mode}-{sessions}.log"))
            wait_listening(port, proxy, f"aptsim proxy ({mode})")
        took = send(port, messages, sessions, size)
        # smtp-sink updates its counter as sessions end: give the last ones a moment.
        deadline = time.monotonic() + 5
        got = sink_count(sink.log)
        while got < messages and time.monotonic() < deadline:
            time.sleep(0.05)
            got = sink_count(sink.log)
        if got != messages:
            raise SetupError(f"{mode}: smtp-sink took {got} messages of {messages}")
        cpu = cpu_seconds(proxy.pid) * 1e6 / messages if proxy is not None else 0.0
        sink_cpu = cpu_seconds(sink.proc.pid) * 1e6 / messages
        return messages / took, cpu, sink_cpu
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait()
        sink.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--size", type=int, default=20_000, help="payload bytes per message")
    ap.add_argument("--sessions", default="20,200", help="comma-separated session counts")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--proxy-args", default="",
                    help="more flags for the proxy, e.g. '--io-threads 2'")
    ap.add_argument("aptsim", nargs="?", default="target/release/aptsim")
    args = ap.parse_args()
    for tool in ("smtp-source", "smtp-sink"):
        if find_postfix_tool(tool) is None:
            print(f"{tool} not found: bash scripts/interop/install-deps.sh", file=sys.stderr)
            return 2
    if not os.access(args.aptsim, os.X_OK):
        print(f"{args.aptsim} not found: cargo build --release -p aptsim-cli", file=sys.stderr)
        return 2
    modes = ["direct", "release", "hold"]
    with tempfile.TemporaryDirectory(prefix="aptsim-bench-") as work:
        try:
            print(f"{args.messages} messages of {args.size} bytes, one connection each; "
                  f"median of {args.rounds} rounds; {os.cpu_count()} cores")
            print(f"{'sessions':>8} {'mode':>8} {'msgs/s':>9} {'ratio':>6} {'proxy CPU/msg':>14} "
                  f"{'sink CPU/msg':>13}")
            for sessions in [int(s) for s in args.sessions.split(",")]:
                rates = {m: [] for m in modes}
                cpus = {m: [] for m in modes}
                sink_cpus = {m: [] for m in modes}
                for _ in range(args.rounds):
                    for m in modes:
                        rate, cpu, sink_cpu = run_once(m, args.aptsim, work, args.messages,
                                                       sessions, args.size,
                                                       args.proxy_args.split())
                        rates[m].append(rate)
                        cpus[m].append(cpu)
                        sink_cpus[m].append(sink_cpu)
                direct = statistics.median(rates["direct"])
                for m in modes:
                    r = statistics.median(rates[m])
                    cpu = f"{statistics.median(cpus[m]):.0f} µs" if m != "direct" else "-"
                    sink = f"{statistics.median(sink_cpus[m]):.0f} µs"
                    print(f"{sessions:>8} {m:>8} {r:>9.0f} {r / direct:>6.2f} {cpu:>14} "
                          f"{sink:>13}", flush=True)
        except SetupError as e:
            print(f"failed: {e}", file=sys.stderr)
            return 1
        finally:
            stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
