"""A real Postfix as the receiving server for the interop checks: a private instance with
its own configuration, queue and log under the checks' work folder, listening on free
ports of 127.0.0.1 only, started and stopped by the checks.

Postfix comes from Debian's `postfix` package (scripts/interop/install-deps.sh installs it
for smtp-sink and smtp-source, with "No configuration": no /etc/postfix/main.cf, no system
mail server). No system file is written or read here beyond the package's programs and
/etc/postfix/postfix-files (its `meta_directory`, read by `postfix check`):

- `config_directory` is WORK/postfix/etc, with a main.cf and a master.cf written here;
  `queue_directory` and `data_directory` are WORK/postfix/queue and WORK/postfix/data;
  `maillog_file` is WORK/postfix/maillog (through postlogd, no syslog).
- `postfix -c ETC check` creates the queue's folders with their owners (postfix, postdrop);
  then the master runs in the foreground (`master -c ETC -d`) as a child of the checks, so
  they stop exactly it (SIGTERM; the master ends its own children).
- Every smtpd service is `127.0.0.1:PORT inet` with no chroot, each with its own `-o`
  settings; nothing listens on port 25 or beyond loopback (`inet_interfaces = 127.0.0.1`).
- Mail is never delivered: every recipient is put on hold (`check_client_access
  static:HOLD`), so each message stays in WORK/postfix/queue/hold/, where `postcat` reads
  its envelope (the client attributes Postfix recorded) and its content.

Postfix must be started by root: its master binds the ports and runs the daemons as the
`postfix` user (`mail_owner`). The checks refuse to run otherwise."""

import os
import re
import shutil
import subprocess
import time

from harness import SetupError, find_postfix_tool, free_port, start, wait_listening

MAIN_CF = """\
compatibility_level = 3.6
config_directory = {etc}
queue_directory = {dir}/queue
data_directory = {dir}/data
command_directory = /usr/sbin
daemon_directory = {daemons}
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = mx.aptsim.test
mydomain = aptsim.test
myorigin = $myhostname
mydestination =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
smtpd_banner = $myhostname ESMTP
# Nothing is delivered: every message is held (see the module doc).
smtpd_recipient_restrictions = check_client_access static:HOLD, permit_mynetworks, reject
# Trusted to forward its clients' identity (XFORWARD_README); services override it.
smtpd_authorized_xforward_hosts = 127.0.0.0/8
"""

# The services a running master needs besides the smtpd ones; no chroot (column 5 "n"),
# so nothing has to be copied into the queue folder.
MASTER_CF = """\
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def postfix_missing():
    """What this module needs that is not installed or allowed here, as a list of words."""
    missing = [t for t in ("postfix", "postcat", "master", "smtpd", "cleanup")
               if find_postfix_tool(t) is None]
    if os.geteuid() != 0:
        missing.append("root (Postfix's master must be started by root)")
    return missing


class Postfix:
    """A private Postfix with one smtpd service per entry of `services`: a name mapped to a
    list of `-o name=value` settings for that service (its own `cleanup` service too, if
    one of them is `cleanup_service_name=NAME` and `cleanups` names it with its settings)."""

    def __init__(self, work, services, cleanups=None):
        self.dir = os.path.join(work, "postfix")
        self.etc = os.path.join(self.dir, "etc")
        for d in ("etc", "queue", "data"):
            os.makedirs(os.path.join(self.dir, d))
        # The postfix user must reach its folders inside root's 0700 work folder.
        os.chmod(work, 0o711)
        os.chmod(self.dir, 0o755)
        shutil.chown(os.path.join(self.dir, "data"), user="postfix")
        self.ports = {name: free_port() for name in services}
        daemons = os.path.dirname(find_postfix_tool("smtpd"))
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(etc=self.etc, dir=self.dir, daemons=daemons))
        lines = [MASTER_CF]
        for name, opts in services.items():
            lines.append(f"127.0.0.1:{self.ports[name]} inet n - n - - smtpd\n")
            lines += [f"  -o syslog_name=postfix-{name}\n"]
            lines += [f"  -o {o}\n" for o in opts]
        for name, opts in (cleanups or {}).items():
            lines.append(f"{name} unix n - n - 0 cleanup\n")
            lines += [f"  -o {o}\n" for o in opts]
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write("".join(lines))
        postfix = find_postfix_tool("postfix")
        r = subprocess.run([postfix, "-c", self.etc, "check"], capture_output=True,
                           timeout=60)
        if r.returncode != 0:
            raise SetupError(f"postfix check failed ({r.returncode}): {r.stdout!r} "
                             f"{r.stderr!r}\n{self.log()}")
        self.proc = start([os.path.join(daemons, "master"), "-c", self.etc, "-d"],
                          os.path.join(self.dir, "master.out"))
        for name, port in self.ports.items():
            wait_listening(port, self.proc, f"Postfix service {name}")
        self.version = subprocess.run(
            [find_postfix_tool("postconf"), "-c", self.etc, "-h", "mail_version"],
            capture_output=True, text=True, timeout=30).stdout.strip()

    def addr(self, service):
        return f"127.0.0.1:{self.ports[service]}"

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog"), "r", encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10.0):
        """The first maillog line matching `pattern` (postlogd writes them a moment after
        the fact), or None."""
        end = time.monotonic() + timeout
        while True:
            for line in self.log().splitlines():
                if re.search(pattern, line):
                    return line
            if time.monotonic() >= end:
                return None
            time.sleep(0.05)

    def queued(self, queue_id):
        """`postcat -q ID`: the held message's envelope records and content, as text."""
        r = subprocess.run([find_postfix_tool("postcat"), "-c", self.etc, "-q", queue_id],
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError(f"postcat -q {queue_id}: {r.stderr!r}")
        return r.stdout.decode("utf-8", "replace")

    def tail(self, n=25):
        return "--- Postfix maillog:\n" + "\n".join(self.log().splitlines()[-n:])


def queue_id(reply):
    """The queue id in Postfix's `250 2.0.0 Ok: queued as ID`."""
    m = re.search(r"queued as ([0-9A-Za-z]+)", reply)
    if m is None:
        raise AssertionError(f"no queue id in {reply!r}")
    return m.group(1)


def envelope(postcat_text):
    """The `named_attribute: name=value` records of a `postcat` listing, as a dict, with
    the envelope's plain records (`sender: …`, `recipient: …`)."""
    attrs = {}
    head = postcat_text.split("*** MESSAGE CONTENTS", 1)[0]
    for line in head.splitlines():
        m = re.match(r"named_attribute: ([a-z_]+)=(.*)$", line)
        if m:
            attrs[m.group(1)] = m.group(2)
            continue
        m = re.match(r"(sender|recipient|original_recipient): (.*)$", line)
        if m:
            attrs[m.group(1)] = m.group(2)
    return attrs


def content(postcat_text):
    """The message content of a `postcat` listing (LF line ends)."""
    body = postcat_text.split("*** MESSAGE CONTENTS", 1)[1].split("\n", 1)[1]
    return body.split("*** HEADER EXTRACTED", 1)[0]
