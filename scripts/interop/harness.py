"""The harness of the live-proxy interop checks: starting and stopping the programs a check
needs (only those it started), free ports, smtp-sink and its dump files, a running
`aptsim proxy`, and the PASS/FAIL bookkeeping. Shared by every interop script."""

import json
import os
import re
import shutil
import signal
import socket
import sys
import subprocess
import time

SBIN = ["/usr/sbin", "/usr/lib/postfix/sbin"]
INSTALL_HINT = "install them with: bash scripts/interop/install-deps.sh " \
    "(apt-get install swaks postfix python3)"

# Every process this script started, so that it stops exactly those.
STARTED = []


def find_postfix_tool(name):
    """smtp-sink and smtp-source live in /usr/sbin, often not on a user's PATH."""
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log_path):
    log = open(log_path, "wb")
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    STARTED.append(p)
    return p


def stop_all():
    for p in STARTED:
        if p.poll() is None:
            p.terminate()
    for p in STARTED:
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_listening(port, proc, what, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SetupError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SetupError(f"{what} not listening on 127.0.0.1:{port} after {timeout}s")


class SetupError(Exception):
    pass


class Sink:
    """smtp-sink writing each message to DIR/<minute>.<random>."""

    def __init__(self, binary, work):
        self.dir = os.path.join(work, "sink")
        os.makedirs(self.dir)
        for _ in range(5):
            self.port = free_port()
            args = [binary, "-d", os.path.join(self.dir, "%M."), "-h", "interop-sink"]
            if os.geteuid() == 0:
                args += ["-u", "root"]
            args += [f"127.0.0.1:{self.port}", "100"]
            self.proc = start(args, os.path.join(work, "sink.log"))
            try:
                wait_listening(self.port, self.proc, "smtp-sink")
                return
            except SetupError:
                if self.proc.poll() is None:
                    self.proc.terminate()
        raise SetupError("smtp-sink would not start; see sink.log")

    def addr(self):
        return f"127.0.0.1:{self.port}"

    def count(self, marker):
        """How many complete messages whose dump contains `marker` smtp-sink has stored."""
        n = 0
        for name in os.listdir(self.dir):
            data = read_dump(os.path.join(self.dir, name))
            if data and marker.encode() in data and data.endswith(b"\n\n"):
                n += 1
        return n

    def find(self, marker, timeout=5.0):
        """The message (smtp-sink's headers stripped) whose headers contain `marker`."""
        end = time.monotonic() + timeout
        while True:
            for name in sorted(os.listdir(self.dir)):
                data = read_dump(os.path.join(self.dir, name))
                if data and marker.encode() in data and data.endswith(b"\n\n"):
                    return split_dump(data)
            if time.monotonic() >= end:
                return None
            time.sleep(0.05)


def read_dump(path, limit=-1):
    """A dump file's bytes, or None when smtp-sink removed it meanwhile (it removes the dump
    of a transaction that ends without DATA)."""
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except FileNotFoundError:
        return None


def split_dump(data):
    """smtp-sink's dump → (its headers as a dict of lists, the message with LF line ends)."""
    lines = data.split(b"\n")
    meta = {}
    i = 0
    while i < len(lines) and lines[i].startswith(b"X-"):
        key, _, value = lines[i].decode("utf-8", "replace").partition(": ")
        meta.setdefault(key, []).append(value)
        i += 1
    if i < len(lines) and lines[i].startswith(b"Received: "):
        i += 1
        while i < len(lines) and lines[i].startswith(b"\t"):
            i += 1
    body = b"\n".join(lines[i:])
    # The dump ends with one empty line after the message.
    if body.endswith(b"\n\n"):
        body = body[:-1]
    return meta, body


class Proxy:
    def __init__(self, aptsim, work, name, upstream, *flags):
        self.log_path = os.path.join(work, f"proxy-{name}.log")
        self.name = name
        args = [aptsim, "proxy", "smtp", "--listen", "127.0.0.1:0", "--upstream", upstream]
        self.proc = start(args + list(flags), self.log_path)
        end = time.monotonic() + 15
        while True:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SetupError(f"proxy {name} did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self):
        with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()

    def json_log(self):
        """Every log line of a `--log-format json` proxy, parsed; a line that is no JSON
        object fails the check that reads it."""
        return parse_json_log(self.log(), self.log_path)

    def json_txn(self, sender, timeout=5.0):
        """The JSON transaction record for `sender` (a `--log-format json` proxy)."""
        end = time.monotonic() + timeout
        while True:
            for obj in self.json_log():
                if obj.get("kind") == "txn" and obj.get("from") == sender:
                    return obj
            if time.monotonic() >= end:
                return None
            time.sleep(0.05)

    def txn(self, sender, timeout=5.0):
        """The transaction log line for `sender`, as a dict."""
        end = time.monotonic() + timeout
        while True:
            for line in self.log().splitlines():
                if " txn " in line and f"from=<{sender}>" in line:
                    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if time.monotonic() >= end:
                return None
            time.sleep(0.05)


def scrape(port, path="/metrics"):
    """GET http://127.0.0.1:PORT/metrics: (content type, {series: value}), where a series
    is the sample's name with its labels as written (`m_total{a="b"}`)."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        content_type = r.headers.get("Content-Type", "")
        text = r.read().decode("utf-8")
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        samples[series] = float(value)
    return content_type, samples


def parse_json_log(text, where):
    """The lines of a `--log-format json` log, each parsed; a line that is no JSON object
    fails the check that reads it, naming `where` and the line."""
    lines = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"{where} line {n} is not JSON ({e}): {line!r}")
        assert isinstance(obj, dict), f"{where} line {n} is not an object: {line!r}"
        lines.append(obj)
    return lines


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.logs = []

    def run(self, name, fn, proxy_for_log=None):
        try:
            fn()
        except AssertionError as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
            if proxy_for_log is not None:
                tail = "\n".join(proxy_for_log.log().splitlines()[-25:])
                print(f"  --- last lines of {proxy_for_log.log_path}:\n{tail}", flush=True)
            return
        except Exception as e:  # an unexpected error is a failed check, not a crash
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            if proxy_for_log is not None:
                tail = "\n".join(proxy_for_log.log().splitlines()[-25:])
                print(f"  --- last lines of {proxy_for_log.log_path}:\n{tail}", flush=True)
            return
        self.passed += 1
        print(f"PASS {name}", flush=True)

    def proxies_survived(self, proxies):
        """Counts a failure for each proxy that exited or panicked during the checks."""
        for p in proxies:
            if p is None:
                continue
            if p.proc.poll() is not None:
                self.failed += 1
                print(f"FAIL proxy {p.name} exited during the checks "
                      f"(status {p.proc.returncode})")
            elif "panicked" in p.log():
                self.failed += 1
                print(f"FAIL proxy {p.name} panicked:\n{p.log()}")

    def finish(self, work, keep, kept_what):
        """Keeps or removes the work folder, prints the summary; the exit status."""
        if self.failed or keep:
            print(f"{kept_what} kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def run_main(main):
    """Runs a check script's `main`, ending on SIGTERM/SIGINT through `finally` blocks so
    that every daemon it started is stopped."""
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(main())


class RawSmtp:
    """An SMTP client on a bare socket, for what smtplib will not send: it writes the
    bytes it is given as they are, and reads replies whole (multi-line ones joined)."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def reply(self):
        """One reply as bytes (its lines joined, CRLFs kept); b"" at end of stream."""
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                return b"".join(lines)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return b"".join(lines)

    def send(self, data):
        self.sock.sendall(data)

    def command(self, data):
        self.send(data)
        return self.reply()

    def rest(self):
        """Every reply until the server closes the connection."""
        replies = []
        while True:
            r = self.reply()
            if not r:
                return replies
            replies.append(r)

    def close(self):
        self.file.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# The proxy's own Received: header on top of a relayed message (core/src/smtp/proxy/
# received.rs): three lines, CRLF as relayed or LF as smtp-sink stores them.
PROXY_RECEIVED = re.compile(
    rb"Received: from [!-~]+(?: \([!-~]+\))?\r?\n"
    rb"\tby [!-~]+ \(aptsim\) with (?:E?SMTP|UTF8SMTP) id \d+;\r?\n"
    rb"\t(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000\r?\n")


def strip_proxy_received(message):
    """(the proxy's Received: header, the message after it); (None, message) without one."""
    m = PROXY_RECEIVED.match(message)
    if m is None:
        return None, message
    return m.group(0), message[m.end():]


def first_difference(a, b):
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return (f"differs at byte {n} (lengths {len(a)} and {len(b)}): "
            f"{a[max(0, n - 40):n + 40]!r} vs {b[max(0, n - 40):n + 40]!r}")
