"""A raw IMAP client for the fixture recorder: each response byte for byte, literals
included, which imaplib does not give."""

import re
import socket

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
