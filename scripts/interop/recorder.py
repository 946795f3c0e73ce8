"""A receiving SMTP server for the interop checks that keeps what smtp-sink cannot show:
every command as it came, and every message's data as raw bytes (line ends and
dot-stuffing as on the wire, up to but without the final CRLF "." CRLF). It accepts
everything, ends data only at CRLF "." CRLF after a CRLF (RFC 5321 §4.1.1.4), and
answers one command at a time in order, so pipelined commands are answered as they
come.

With `linger_after_dot` it also shows how a sender ends a session: after a message's final
"." it waits that long before replying, and notes what arrived meanwhile (the bytes, and
whether the sender half-closed) in `Session.after_dot`. Exim pipelines QUIT after the "."
and shuts down its sending side before it has the reply (SMTP-SENDERS.md §1)."""

import select
import socket
import threading
import time

EHLO_KEYWORDS = ("PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES")


class Session:
    def __init__(self, number):
        self.number = number
        self.commands = []      # command lines, without CRLF
        self.messages = []      # (MAIL line, [RCPT lines], raw data bytes)
        self.after_dot = []     # per message: {"bytes": ..., "eof": bool} when lingering
        self.ended = None       # "quit", "eof" or an error text


class Recorder:
    def __init__(self, linger_after_dot=0.0, name="recorder"):
        self.name = name
        self.linger = linger_after_dot
        self.sessions = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def addr(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def messages(self, marker=None):
        """Every message so far (MAIL line, RCPT lines, raw data) whose data contains
        `marker` (all of them without one)."""
        with self.lock:
            return [m for s in self.sessions for m in s.messages
                    if marker is None or marker.encode() in m[2]]

    def commands(self):
        with self.lock:
            return [c for s in self.sessions for c in s.commands]

    def wait_messages(self, marker, count, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            found = self.messages(marker)
            if len(found) >= count or time.monotonic() >= end:
                return found
            time.sleep(0.05)

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                session = Session(len(self.sessions) + 1)
                self.sessions.append(session)
            threading.Thread(target=self._serve, args=(conn, session), daemon=True).start()

    def _serve(self, conn, session):
        conn.settimeout(60)
        reader = _Reader(conn)
        try:
            conn.sendall(b"220 interop-recorder ESMTP\r\n")
            mail, rcpts = None, []
            while True:
                line = reader.line()
                if line is None:
                    session.ended = "eof"
                    return
                cmd = line.rstrip(b"\r\n")
                with self.lock:
                    session.commands.append(cmd)
                verb = cmd[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    keys = EHLO_KEYWORDS if verb == b"EHLO" else ()
                    lines = ["interop-recorder"] + list(keys)
                    conn.sendall("".join(
                        f"250{'-' if i < len(lines) - 1 else ' '}{t}\r\n"
                        for i, t in enumerate(lines)).encode())
                elif verb == b"MAIL":
                    mail, rcpts = cmd, []
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    rcpts.append(cmd)
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    data = self._data(reader)
                    if data is None:
                        session.ended = "eof in data"
                        return
                    if self.linger:
                        seen = reader.linger(self.linger)
                        with self.lock:
                            session.after_dot.append(seen)
                    with self.lock:
                        session.messages.append((mail, rcpts, data))
                        n = sum(len(s.messages) for s in self.sessions)
                    conn.sendall(f"250 2.0.0 Ok: queued as R{n}\r\n".encode())
                    mail, rcpts = None, []
                elif verb in (b"RSET", b"NOOP"):
                    if verb == b"RSET":
                        mail, rcpts = None, []
                    conn.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    session.ended = "quit"
                    return
                else:
                    conn.sendall(b"502 5.5.2 Error: command not recognized\r\n")
        except OSError as e:
            session.ended = f"error: {e}"
        finally:
            conn.close()

    @staticmethod
    def _data(reader):
        raw = bytearray()
        while True:
            line = reader.line()
            if line is None:
                return None
            if line == b".\r\n" and (not raw or raw.endswith(b"\r\n")):
                return bytes(raw)
            raw += line


class _Reader:
    """Lines (split after LF, kept whole) from a socket, with its own buffer so that what
    arrived after a line can be looked at without reading on."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b""
        self.eof = False

    def line(self):
        while b"\n" not in self.buf:
            if self.eof:
                return None
            data = self.conn.recv(65536)
            if not data:
                self.eof = True
                if not self.buf:
                    return None
                rest, self.buf = self.buf, b""
                return rest
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def linger(self, seconds):
        """Waits `seconds` and reads what comes meanwhile (kept for line()); returns what
        had come with the last line (`with_dot`), that and what came meanwhile (`bytes`),
        and whether the peer half-closed (`eof`)."""
        with_dot = self.buf
        end = time.monotonic() + seconds
        while not self.eof:
            left = end - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.conn], [], [], left)
            if not ready:
                break
            data = self.conn.recv(65536)
            if not data:
                self.eof = True
            self.buf += data
        return {"with_dot": with_dot, "bytes": self.buf, "eof": self.eof}
