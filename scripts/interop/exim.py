"""A real Exim as a sending MTA for the interop checks, run unprivileged, as a client only.

scripts/interop/install-deps.sh unpacks Debian's exim4-daemon-light (with `dpkg-deb -x`,
not installed as a package: it would replace Postfix, whose smtp-sink and smtp-source the
checks need) into EXIM_DIR, without its setuid bit, and creates the system user
`Debian-exim` that Debian's binary looks up at every start (its compiled-in EXIM_USER).

Each `Exim` here has its own configuration, spool and log folder under the checks' work
folder. It listens on nothing: a message is submitted on standard input
(`exim -C CONFIG -odi -oi -f SENDER -- RCPT`), and with `-odi` the same process delivers it
at once (its first delivery attempt) over SMTP to 127.0.0.1:PORT, the one route of the
configuration, and returns when that attempt is over.

Unprivileged: under root the binary runs as `Debian-exim` (the configuration's
`exim_user`, so Exim counts its caller as itself and writes its own log files); otherwise
as the calling user, with `exim_user` set to that user (Exim then writes its log lines to
standard error, which is kept as well). Either way no part of it runs as root. A `-C`
configuration that is not in Debian's TRUSTED_CONFIG_LIST makes Exim drop what privilege
it has and log "exim user lost privilege for using -C option" (to its panic log too):
expected, and ignored by `problems()`."""

import grp
import os
import pwd
import re
import subprocess
import time

EXIM_DIR = os.environ.get("APTSIM_EXIM_DIR", "/var/cache/aptsim-interop/exim")
EXIM_USER = "Debian-exim"
DROPPED_PRIVILEGE = "exim user lost privilege for using -C option"

CONFIG = """\
exim_path = {binary}
exim_user = {user}
exim_group = {group}
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
primary_hostname = exim-client.test
qualify_domain = example.com
keep_environment =
log_selector = +pipelining +smtp_connection +received_recipients
# No TLS (the proxy offers none anyway), no TCP Fast Open, no other ports: the plain
# TCP session of SMTP-SENDERS.md section 1. Everything else is Exim's default, PIPELINING
# on whenever the server offers it.

begin routers

to_proxy:
  driver = manualroute
  route_list = * 127.0.0.1
  self = send
  transport = to_proxy_smtp

begin transports

to_proxy_smtp:
  driver = smtp
  port = {port}
  allow_localhost
  hosts_avoid_tls = *
  hosts_try_fastopen = :

begin retry

* * F,1h,15m
"""


def find_exim():
    """The unpacked exim binary, or None."""
    for name in ("usr/sbin/exim4", "usr/sbin/exim"):
        path = os.path.join(EXIM_DIR, name)
        if os.access(path, os.X_OK):
            return path
    return None


class Exim:
    """One Exim with its own configuration and spool, sending everything to
    127.0.0.1:`port`."""

    def __init__(self, binary, work, name, port):
        self.binary = binary
        self.name = name
        self.dir = os.path.join(work, f"exim-{name}")
        os.makedirs(os.path.join(self.dir, "spool"))
        os.makedirs(os.path.join(self.dir, "log"))
        if os.geteuid() == 0:
            pw = pwd.getpwnam(EXIM_USER)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            # The work folder is root's (mode 0700 from mkdtemp): Debian-exim must reach
            # its own folder inside it.
            os.chmod(work, 0o711)
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        user = pwd.getpwuid(self.uid).pw_name
        group = grp.getgrgid(self.gid).gr_name
        self.config = os.path.join(self.dir, "exim.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(binary=binary, user=user, group=group, dir=self.dir,
                                  port=port))
        os.chmod(self.config, 0o644)
        if os.geteuid() == 0:
            for root, dirs, files in os.walk(self.dir):
                for n in dirs + files:
                    os.chown(os.path.join(root, n), self.uid, self.gid)
            os.chown(self.dir, self.uid, self.gid)
        self.stderr = ""

    def _run(self, args, stdin=None, timeout=60):
        kwargs = {}
        if os.geteuid() == 0:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
        return subprocess.run([self.binary, "-C", self.config] + args, input=stdin,
                              capture_output=True, timeout=timeout, cwd=self.dir, **kwargs)

    def version(self):
        r = self._run(["-bV"])
        m = re.search(rb"Exim version (\S+)", r.stdout)
        return m.group(1).decode() if m else f"unknown ({r.stdout[:200]!r} {r.stderr[:200]!r})"

    def send(self, message, sender, rcpt, debug=True):
        """Submits `message` (bytes, LF line ends, as Exim's spool keeps them) and delivers
        it at once. With `debug`, Exim's transport debug output goes to its standard error
        (kept in self.stderr), where "will pipeline QUIT" and "SMTP(shutdown)>>" show the
        pipelined QUIT and the half-close."""
        args = ["-odi", "-oi", "-f", sender]
        if debug:
            args[:0] = ["-d-all+transport"]
        r = self._run(args + ["--", rcpt], stdin=message)
        self.stderr += r.stderr.decode("utf-8", "replace")
        return r

    def mainlog(self):
        try:
            with open(os.path.join(self.dir, "log", "mainlog"), "r",
                      encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        if os.geteuid() != 0:
            # Not run as the exim user: the log lines are on standard error, with a time
            # stamp, or under "LOG: MAIN" (indented) in the debug output.
            in_log = False
            for line in self.stderr.splitlines():
                if line.startswith("LOG: "):
                    in_log = True
                elif in_log and line.startswith("  "):
                    text += line + "\n"
                else:
                    in_log = False
                    if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line):
                        text += line + "\n"
        return text

    def wait_log(self, pattern, timeout=10.0):
        """The first mainlog line matching `pattern`, waiting for it (None at the end)."""
        end = time.monotonic() + timeout
        while True:
            for line in self.mainlog().splitlines():
                if re.search(pattern, line):
                    return line
            if time.monotonic() >= end:
                return None
            time.sleep(0.05)

    def queued(self):
        """Messages still in the spool (deferred ones)."""
        d = os.path.join(self.dir, "spool", "input")
        try:
            return sorted(n for n in os.listdir(d) if n.endswith("-H"))
        except FileNotFoundError:
            return []

    def problems(self):
        """Panic log lines other than the expected -C one."""
        try:
            with open(os.path.join(self.dir, "log", "paniclog"), "r",
                      encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        return [l for l in lines if l.strip() and DROPPED_PRIVILEGE not in l]

    def tail(self, n=20):
        """The end of the mainlog and of the debug output, for a failure message."""
        log = "\n".join(self.mainlog().splitlines()[-n:])
        dbg = "\n".join(l for l in self.stderr.splitlines()
                        if "SMTP" in l or "QUIT" in l)[-3000:]
        return f"--- exim {self.name} mainlog:\n{log}\n--- exim {self.name} SMTP debug:\n{dbg}"
