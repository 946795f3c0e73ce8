"""A real Dovecot IMAP server for the interop checks: a private instance of Debian's
`dovecot-imapd` with its own configuration, state, mail and log under the checks' work
folder, listening on one free port of 127.0.0.1, started and stopped by the checks.

Nothing of the system is read or written beyond the package's programs: the configuration
is a file written here (`dovecot -F -c FILE`, no /etc/dovecot), `base_dir` (sockets, pid)
and `state_dir` are in WORK/dovecot, `log_path` is WORK/dovecot/dovecot.log, and the
`instance_name` is unique, so it never meets a system Dovecot. `ssl = no`; users come from
a `passwd-file` with plain passwords (`user:{PLAIN}password`), mail from a `static`
userdb, Maildir at WORK/dovecot/home/USER/Maildir. LOGIN and AUTH PLAIN/LOGIN work on
loopback without TLS (Dovecot counts a connection whose remote IP is its local IP as
secured; `disable_plaintext_auth = no` says so anyway).

Started by root (as the checks run in CI) the master stays root, as Dovecot requires to
run its services under other users: its internal and login processes run as the
package's own users `dovecot` and `dovenull`, the login processes chrooted, and the mail
processes as `nobody`, which owns the Maildirs and nothing else: no process that touches
mail runs as root. Started by another user, everything runs as that user with no chroot
(Dovecot's rootless recipe: reference/IMAP.md section 6).

The master runs in the foreground (`-F`) as a child of the checks: `stop()` sends it
SIGTERM, which ends its children, and waits for it."""

import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import subprocess

from harness import SetupError, free_port, start, wait_listening

CONFIG = """\
# A private Dovecot for the aptsim interop checks (scripts/interop/dovecot.py).
protocols = imap
listen = 127.0.0.1
instance_name = {instance}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
debug_log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = {first_uid}
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={dir}/home/%u
}}
protocol imap {{
  # The checks open many connections per user (clients that time out, proxies that
  # reconnect); Dovecot's default is 10 per user and IP.
  mail_max_userip_connections = 200
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{login_chroot}}}
{anvil}"""

# Unprivileged: every service as the calling user, no chroot (reference/IMAP.md §6).
ROOTLESS_USERS = """\
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}"""


def dovecot_missing():
    """What this module needs that is not installed, as a list of words."""
    missing = []
    if shutil.which("dovecot") is None and not os.access("/usr/sbin/dovecot", os.X_OK):
        missing.append("dovecot (package dovecot-imapd)")
    elif not os.access("/usr/lib/dovecot/imap", os.X_OK):
        missing.append("Dovecot's imap server (package dovecot-imapd)")
    if os.geteuid() == 0:
        for user in ("dovecot", "dovenull"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                missing.append(f"the user {user} (package dovecot-core creates it)")
    return missing


def binary():
    return shutil.which("dovecot") or "/usr/sbin/dovecot"


class Dovecot:
    """A private Dovecot with `users` (names; each one's password is `pw-NAME`). `user` and
    `password` are the first one's."""

    def __init__(self, work, users=("alice",)):
        self.dir = os.path.join(work, "dovecot")
        self.users = {u: f"pw-{u}" for u in users}
        self.user = users[0]
        self.password = self.users[self.user]
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.config = os.path.join(self.dir, "dovecot.conf")
        self.proc = None
        self.port = None

    def start(self):
        for d in ("run", "state", "home"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.writelines(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items())
        if os.geteuid() == 0:
            # The mail and auth processes (nobody, dovecot) must reach their files inside
            # root's 0700 work folder: search permission only, no listing.
            os.chmod(os.path.dirname(self.dir), 0o711)
            os.chmod(self.dir, 0o711)
            shutil.chown(os.path.join(self.dir, "home"), user="nobody",
                         group=grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name)
            mail_user = "nobody"
            mail_group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
            users, login_chroot, anvil = "", "", ""
            first_uid = 500
        else:
            me = pwd.getpwuid(os.geteuid())
            mail_user = me.pw_name
            mail_group = grp.getgrgid(os.getegid()).gr_name
            users = ROOTLESS_USERS.format(user=mail_user, group=mail_group)
            login_chroot = "  chroot =\n"
            anvil = "service anvil {\n  chroot =\n}\n"
            first_uid = min(500, me.pw_uid)
        last = None
        for _ in range(5):
            self.port = free_port()
            with open(self.config, "w") as f:
                f.write(CONFIG.format(
                    instance=f"aptsim-interop-{os.getpid()}-{self.port}", dir=self.dir,
                    port=self.port, users=users, mail_user=mail_user, mail_group=mail_group,
                    first_uid=first_uid, login_chroot=login_chroot, anvil=anvil))
            self.proc = start([binary(), "-F", "-c", self.config],
                              os.path.join(self.dir, "master.out"))
            try:
                wait_listening(self.port, self.proc, "dovecot")
                self.greeting_check()
                return self
            except SetupError as e:
                last = e
                self.stop()
        raise SetupError(f"Dovecot would not start: {last}\n{self.tail()}")

    def greeting_check(self):
        """Logs the first user in once: the passdb, userdb and Maildir work."""
        try:
            c = self.connect()
            c.logout()
        except (imaplib.IMAP4.error, OSError) as e:
            raise SetupError(f"Dovecot on port {self.port} refused {self.user}: {e}")

    def connect(self, user=None, timeout=30):
        """An imaplib connection straight to Dovecot, logged in (INBOX not selected)."""
        user = user or self.user
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=timeout)
        c.login(user, self.users[user])
        return c

    def addr(self):
        return f"127.0.0.1:{self.port}"

    def append(self, message, mailbox="INBOX", user=None):
        """APPENDs `message` (bytes, CRLF line ends) to `mailbox` of `user` straight to
        Dovecot; its UID (from the APPENDUID response code, RFC 4315)."""
        c = self.connect(user)
        try:
            if mailbox != "INBOX":
                c.create(mailbox)
            typ, data = c.append(mailbox, None, None, message)
            if typ != "OK":
                raise AssertionError(f"APPEND to {mailbox} failed: {typ} {data!r}")
            m = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0])
            if m is None:
                raise AssertionError(f"no APPENDUID in {data!r}")
            return int(m.group(1))
        finally:
            c.logout()

    def version(self):
        r = subprocess.run([binary(), "--version"], capture_output=True, text=True,
                           timeout=30)
        return r.stdout.strip()

    def log(self):
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def tail(self, n=25):
        return f"--- {self.log_path}:\n" + "\n".join(self.log().splitlines()[-n:])

    def stop(self):
        """SIGTERM to the master, which stops its children; SIGKILL after 15 s (the
        children then end on their own when they lose the master)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
