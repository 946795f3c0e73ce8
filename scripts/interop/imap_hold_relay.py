"""A stand-in for a holding IMAP proxy, for the interop checks' `--direct` mode only: a TCP
relay on 127.0.0.1 in front of Dovecot that, seen from the client, holds FETCH commands as
`aptsim proxy imap` does (I1): a command matching `match` goes to the server only `hold`
seconds after the client sent it, and meanwhile, with `keepalive` set, an untagged
`* OK` line reaches the client every `keepalive` seconds (X4). Everything else is relayed
as it comes.

It is no proxy under test: it lets the checks show, before the proxy exists, that the real
clients react to a hold as reference/IMAP.md says (mbsync's `Timeout`, fetchmail's `-t`,
imaplib's socket timeout, fetchmail and an untagged line before its header reply), so that
a check that passes through the proxy passes because of the proxy.

Server responses are relayed whole (a line, and each literal it announces), so a
keepalive never lands inside one."""

import re
import socket
import threading
import time

# A FETCH asking for a message's body or content (not only its header or size).
BODY_FETCH = re.compile(rb"FETCH .*(BODY(\.PEEK)?\[(?!HEADER)|RFC822(?![.](SIZE|HEADER))|BINARY)",
                        re.IGNORECASE)
HEADER_FETCH = re.compile(rb"FETCH .*RFC822\.HEADER", re.IGNORECASE)
LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class HoldRelay:
    def __init__(self, upstream_port, hold, keepalive=None, match=BODY_FETCH):
        self.upstream_port = upstream_port
        self.hold = hold
        self.keepalive = keepalive
        self.match = match
        self.held = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            lock = threading.Lock()
            threading.Thread(target=self.to_server, args=(client, server, lock),
                             daemon=True).start()
            threading.Thread(target=self.to_client, args=(server, client, lock),
                             daemon=True).start()

    def to_server(self, client, server, lock):
        rfile = client.makefile("rb")
        try:
            while True:
                line = rfile.readline()
                if not line:
                    break
                if self.hold and self.match.search(line):
                    self.held += 1
                    self.wait(client, lock)
                server.sendall(line)
                m = LITERAL.search(line)
                if m:
                    server.sendall(rfile.read(int(m.group(1))))
        except OSError:
            pass
        finally:
            shut(server)

    def wait(self, client, lock):
        end = time.monotonic() + self.hold
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, self.keepalive or left))
            if self.keepalive and time.monotonic() < end:
                with lock:
                    client.sendall(b"* OK Still here (hold relay)\r\n")

    def to_client(self, server, client, lock):
        rfile = server.makefile("rb")
        try:
            while True:
                response = rfile.readline()
                if not response:
                    break
                while True:
                    m = LITERAL.search(response)
                    if not m:
                        break
                    response += rfile.read(int(m.group(1)))
                    response += rfile.readline()
                with lock:
                    client.sendall(response)
        except OSError:
            pass
        finally:
            shut(client)

    def close(self):
        self.closed = True
        self.listener.close()


def shut(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
