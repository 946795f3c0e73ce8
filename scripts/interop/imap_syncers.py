"""The batch IMAP tools of the interop checks, run with private configurations in the
checks' work folder against any host:port: mbsync (Debian package isync) pulling INBOX
into a Maildir, and fetchmail handing each message to an MDA that writes it to a file.

Both are run once per call and return a `Synced`: the exit code, the output (the IMAP
dialogue: mbsync `-Dn`, fetchmail `-v -v`), the messages delivered so far (every call with
the same `name` shares one folder and one sync state, as a user's second run would) and
how long the run took."""

import os
import subprocess
import time

MBSYNCRC = """\
IMAPAccount far
Host {host}
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN
Timeout {timeout}

IMAPStore far
Account far

MaildirStore near
Path {maildir}/
Inbox {maildir}/INBOX

Channel inbox
Far :far:INBOX
Near :near:INBOX
Create Near
Sync Pull
SyncState *
Expunge None
"""

# `sslproto ""` (a user option): no STARTTLS. fetchmail 6.4 tries it by default and gives up on a server
# without TLS (Dovecot here has `ssl = no`).
FETCHMAILRC = """\
poll {host} service {port} protocol IMAP auth password
  user "{user}" password "{password}" sslproto ""
"""


class Synced:
    def __init__(self, tool, returncode, output, messages, elapsed, folder):
        self.tool = tool
        self.returncode = returncode
        self.output = output
        self.messages = messages
        self.elapsed = elapsed
        self.folder = folder

    def tail(self, n=30):
        return f"--- {self.tool} output (exit {self.returncode}):\n" + \
            "\n".join(self.output.splitlines()[-n:])

    def __repr__(self):
        return (f"Synced({self.tool}, exit {self.returncode}, {len(self.messages)} messages, "
                f"{self.elapsed:.2f}s)")


def files_in(folders):
    """The contents of the files in `folders`, in the order of their names."""
    out = []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                out.append(f.read())
    return out


def run(tool, args, env, timeout):
    t0 = time.monotonic()
    try:
        r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=timeout)
        code, out = r.returncode, r.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        code = "killed"
        out = (e.stdout or b"").decode("utf-8", "replace") + \
            f"\n[{tool} still running after {timeout}s: killed by the check]"
    return code, out, time.monotonic() - t0


def mbsync(work, name, port, user, password, timeout=20, host="127.0.0.1", limit=120):
    """`mbsync -c RC inbox`: INBOX of `user` pulled into WORK/mbsync-NAME/mail/INBOX.
    `timeout` is mbsync's `Timeout` (seconds; its default 20); `limit` ends the run."""
    folder = os.path.join(work, f"mbsync-{name}")
    maildir = os.path.join(folder, "mail")
    os.makedirs(maildir, exist_ok=True)
    rc = os.path.join(folder, "mbsyncrc")
    with open(rc, "w") as f:
        f.write(MBSYNCRC.format(host=host, port=port, user=user, password=password,
                                timeout=timeout, maildir=maildir))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=folder)
    code, out, elapsed = run("mbsync", ["mbsync", "-c", rc, "-Dn", "inbox"], env,
                             limit)
    inbox = os.path.join(maildir, "INBOX")
    messages = files_in([os.path.join(inbox, "new"), os.path.join(inbox, "cur")])
    return Synced("mbsync", code, out, messages, elapsed, folder)


def fetchmail(work, name, port, user, password, timeout=300, host="127.0.0.1",
              limit=120):
    """fetchmail once, in the foreground, with its rcfile, home (FETCHMAILHOME), lock file
    and id list in WORK/fetchmail-NAME: `--all --keep` (every message, each run, none deleted),
    `--norewrite`, `-t timeout` (its default 300 s) and an MDA that writes each message to
    WORK/fetchmail-NAME/out/ (one file per message, named by the MDA shell's pid, in
    order). fetchmail's exit codes: 0 mail retrieved, 1 none, others an error
    (fetchmail(1), EXIT CODES)."""
    folder = os.path.join(work, f"fetchmail-{name}")
    out_dir = os.path.join(folder, "out")
    os.makedirs(out_dir, exist_ok=True)
    rc = os.path.join(folder, "fetchmailrc")
    with open(rc, "w") as f:
        f.write(FETCHMAILRC.format(host=host, port=port, user=user, password=password))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=folder, FETCHMAILHOME=folder)
    # fetchmail passes the MDA to /bin/sh; %F, %T are its only substitutions. A counter
    # file keeps the files in delivery order.
    mda = (f"n=$(cat {folder}/count 2>/dev/null || echo 0); n=$((n+1)); "
           f"echo $n > {folder}/count; cat > {out_dir}/$(printf %04d $n).eml")
    # Its lock (pid) file and id list go to the folder too: run by root, fetchmail would
    # lock /var/run/fetchmail.pid, shared with any other fetchmail of the machine.
    args = ["fetchmail", "-f", rc, "--pidfile", os.path.join(folder, "fetchmail.pid"),
            "--idfile", os.path.join(folder, "fetchids"), "-v", "-v", "--nosyslog",
            "--all", "--keep", "--norewrite", "-t", str(timeout), "--mda", mda]
    code, out, elapsed = run("fetchmail", args, env, limit)
    return Synced("fetchmail", code, out, files_in([out_dir]), elapsed, folder)


def strip_fetchmail_received(message):
    """A delivered message without the `Received:` field fetchmail puts on top (its
    first line names fetchmail); LF line ends as the MDA got them."""
    lines = message.split(b"\n")
    if not lines or not lines[0].startswith(b"Received: ") or \
            b"fetchmail" not in b"\n".join(lines[:4]):
        return message
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    return b"\n".join(lines[i:])
