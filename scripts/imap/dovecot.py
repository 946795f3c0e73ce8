"""A real Dovecot IMAP server for fixtures and interop checks, run unprivileged on loopback.

Debian's dovecot-imapd (`apt-get install -y dovecot-imapd`) provides the binaries; nothing of
the system's configuration is used. Each `Dovecot` has its own configuration, base, state,
log and mail folders in a temporary folder (reference/IMAP.md section 6, "Unprivileged test
instance"): every internal and login user is the user that runs it, `chroot =` for the
services that would chroot, a passwd-file with one user, a static userdb, Maildir, no SSL, a
loopback listener on a free port. Under root the server is started as `nobody` (setpriv), so
no part of it runs privileged.

`ImapClient` is a raw client that returns each response byte for byte, literals included,
which imaplib does not."""

import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time

USER = "aptsim"
PASSWORD = "aptsim"

CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{dir}/mail
passdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dovecot_missing():
    """Why Dovecot cannot run here, or None."""
    if shutil.which("dovecot") is None and not os.path.exists("/usr/sbin/dovecot"):
        return "dovecot is not installed (apt-get install -y dovecot-imapd)"
    return None


class Dovecot:
    """One private Dovecot; use as a context manager."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="aptsim-dovecot-")
        self.port = free_port()
        self.proc = None
        run_as = pwd.getpwnam("nobody") if os.getuid() == 0 else pwd.getpwuid(os.getuid())
        self.uid, self.gid = run_as.pw_uid, run_as.pw_gid
        self.user = run_as.pw_name
        self.group = grp.getgrgid(self.gid).gr_name

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        for sub in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(self.dir, sub))
        config = os.path.join(self.dir, "dovecot.conf")
        with open(config, "w") as f:
            f.write(
                CONFIG.format(
                    dir=self.dir,
                    user=self.user,
                    group=self.group,
                    uid=self.uid,
                    gid=self.gid,
                    port=self.port,
                )
            )
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        for root, dirs, files in os.walk(self.dir):
            for name in dirs + files:
                os.chown(os.path.join(root, name), self.uid, self.gid)
        os.chown(self.dir, self.uid, self.gid)
        args = ["dovecot", "-F", "-c", config]
        if os.getuid() == 0:
            args = [
                "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.gid}",
                "--clear-groups",
                "--",
            ] + args
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "stderr"), "w")
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log()}")

    def log(self):
        out = ""
        for name in ("stderr", "dovecot.log"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out += f.read()
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self):
        c = ImapClient(self.port)
        c.command(f"LOGIN {USER} {PASSWORD}")
        return c


LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r\n$")


class Closed(ConnectionError):
    """The server closed the connection; `partial` holds what came of the last response."""

    def __init__(self, partial):
        super().__init__("server closed the connection")
        self.partial = partial


class ImapClient:
    """A raw IMAP client: `command` sends one command and returns its responses, each the
    bytes the server sent (line and literals), the tagged one last."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.tags = 0
        self.greeting = self._response()

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Closed(self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def _exactly(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise Closed(self.buf)
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _response(self):
        out = b""
        try:
            while True:
                line = self._line()
                out += line
                m = LITERAL.search(line)
                if not m:
                    return out
                out += self._exactly(int(m.group(1)))
        except Closed as closed:
            raise Closed(out + closed.partial) from None

    def command(self, text, literal=None):
        """Sends `TAG text`, or `TAG text {n}` plus `literal` (waiting for `+`); returns
        (responses, tagged). Raises if the tagged response is not OK."""
        responses, tagged = self.command_any(text, literal)
        if not tagged.split(b" ", 2)[1].startswith(b"OK"):
            raise RuntimeError(f"{text!r}: {tagged!r}")
        return responses, tagged

    def command_any(self, text, literal=None):
        self.tags += 1
        tag = b"T%d" % self.tags
        if literal is None:
            self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text.encode() + b" {%d}\r\n" % len(literal))
            cont = self._response()
            if not cont.startswith(b"+"):
                raise RuntimeError(f"{text!r}: no continuation: {cont!r}")
            self.sock.sendall(literal + b"\r\n")
        responses = []
        while True:
            try:
                r = self._response()
            except Closed as closed:
                closed.partial = b"".join(responses) + closed.partial
                raise
            if r.startswith(tag + b" "):
                return responses, r
            responses.append(r)

    def close(self):
        try:
            self.command_any("LOGOUT")
        except (OSError, ConnectionError):
            pass
        self.sock.close()
