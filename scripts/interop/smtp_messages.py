"""Messages and senders of the SMTP interop checks: clean and EICAR-carrying messages, the
fail-closed shapes (nested past the depth limit, a part past the part limit, an archive
that is slow to extract), and sending through smtplib or swaks."""

import base64
import email
import email.policy
import smtplib
import subprocess
import time
from email.message import EmailMessage

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def lf(data):
    return data.replace(b"\r\n", b"\n")


def clean_message(sender, marker):
    """A message with what tends to break relays: dot lines, a lone dot, a line reading
    DATA, trailing spaces, 8-bit UTF-8, a long line, and a base64 attachment."""
    body = (
        "Hello,\r\n"
        ".a line starting with a dot\r\n"
        ".\r\n"
        "..two dots\r\n"
        "DATA\r\n"
        "trailing spaces   \r\n"
        "8-bit: Grüße, 日本語\r\n"
        + "x" * 990 + "\r\n"
        "\r\n"
        "-- \r\n"
        "end\r\n"
    )
    attachment = bytes(range(256)) * 20
    b64 = base64.encodebytes(attachment).replace(b"\n", b"\r\n").decode()
    text = (
        f"From: Interop <{sender}>\r\n"
        "To: <rcpt@example.net>\r\n"
        f"Subject: interop clean {marker}\r\n"
        f"Message-ID: <{marker}@interop.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        + body +
        "--b1\r\n"
        'Content-Type: application/octet-stream; name="data.bin"\r\n'
        'Content-Disposition: attachment; filename="data.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        + b64 +
        "--b1--\r\n"
    )
    return text.encode("utf-8")


def one_attachment(sender, marker, name, data, what="interop"):
    """A message with one attachment, so that its hold lasts one analysis; its Message-ID
    carries `marker` (for Sink.find)."""
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "rcpt@example.net"
    m["Subject"] = f"{what} {marker}"
    m["Message-ID"] = f"<{marker}@interop.test>"
    m.set_content("One attachment.\n")
    m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return m.as_bytes(policy=email.policy.SMTP)


def eicar_message(sender, marker, eicar=EICAR, clean=b"%PDF-1.4 harmless\n" * 50):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "rcpt@example.net"
    m["Subject"] = f"interop eicar {marker}"
    m["Message-ID"] = f"<{marker}@interop.test>"
    m.set_content("Two attachments: a test virus and a harmless file.\n")
    m.add_attachment(eicar, maintype="application", subtype="octet-stream",
                     filename="eicar.com")
    m.add_attachment(clean, maintype="application", subtype="pdf", filename="notes.pdf")
    return m.as_bytes(policy=email.policy.SMTP), clean


def nested_eicar(levels):
    """EICAR inside `levels` nested multiparts (the message being the outermost)."""
    b64 = base64.encodebytes(EICAR).replace(b"\n", b"\r\n").decode()
    inner = ('Content-Type: application/octet-stream; name="eicar.com"\r\n'
             "Content-Transfer-Encoding: base64\r\n\r\n" + b64)
    for level in range(levels - 1, 0, -1):
        inner = (f'Content-Type: multipart/mixed; boundary="n{level}"\r\n\r\n'
                 f"--n{level}\r\n{inner}\r\n--n{level}--\r\n")
    return ('Content-Type: multipart/mixed; boundary="n0"\r\n\r\n--n0\r\n'
            f"Content-Type: text/plain\r\n\r\nhello\r\n--n0\r\n{inner}\r\n--n0--\r\n")


def many_parts_eicar(total, eicar_at):
    b64 = base64.encodebytes(EICAR).replace(b"\n", b"\r\n").decode()
    parts = []
    for i in range(1, total + 1):
        if i == eicar_at:
            parts.append('Content-Type: application/octet-stream; name="eicar.com"\r\n'
                         "Content-Transfer-Encoding: base64\r\n\r\n" + b64)
        else:
            parts.append(f"Content-Type: text/plain\r\n\r\npart {i}\r\n")
    return ('Content-Type: multipart/mixed; boundary="p"\r\n\r\n'
            + "".join(f"--p\r\n{p}\r\n" for p in parts) + "--p--\r\n")


def with_headers(sender, marker, mime):
    return (f"From: <{sender}>\r\nTo: <rcpt@example.net>\r\nSubject: {marker}\r\n"
            f"Message-ID: <{marker}@interop.test>\r\nMIME-Version: 1.0\r\n"
            + mime).encode()


def carries_eicar(message):
    """EICAR raw, base64 at any alignment (line breaks ignored), or in any part Python's
    email package decodes."""
    if EICAR in message:
        return True
    flat = message.replace(b"\r", b"").replace(b"\n", b"")
    for skip in range(3):
        if base64.b64encode(EICAR[skip:skip + 63]) in flat:
            return True
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    for part in parsed.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and EICAR in payload:
            return True
    return False


def heavy_message(sender, marker):
    """A message whose extraction takes seconds: a 3 MB zip of 60 members of 4 MiB each
    that deflate about 60:1 (under the ratio limit), 240 MiB to inflate and hash."""
    import io
    import random
    import zipfile
    rnd = random.Random(7)
    block = bytes(rnd.randrange(256) for _ in range(4096))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for m in range(60):
            data = bytearray(block * 1024)
            for k in range(0, len(data), 512):
                data[k] = rnd.randrange(256)
            z.writestr(f"m{m}.bin", bytes(data))
    b64 = base64.encodebytes(buf.getvalue()).replace(b"\n", b"\r\n").decode()
    return with_headers(sender, marker,
                        'Content-Type: multipart/mixed; boundary="h"\r\n\r\n--h\r\n'
                        "Content-Type: text/plain\r\n\r\nheavy\r\n--h\r\n"
                        'Content-Type: application/zip; name="heavy.zip"\r\n'
                        "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--h--\r\n")


def smtplib_send(port, sender, message, timeout=30):
    """Sends; returns (elapsed seconds, None) or (elapsed, (code, text)) on a refusal."""
    t0 = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as s:
        s.ehlo("interop.test")
        try:
            s.sendmail(sender, ["rcpt@example.net"], message)
            result = None
        except smtplib.SMTPDataError as e:
            result = (e.smtp_code, e.smtp_error.decode("utf-8", "replace"))
        except smtplib.SMTPRecipientsRefused as e:
            result = ("rcpt", str(e))
    return time.monotonic() - t0, result


def swaks(port, sender, data_path, *extra):
    args = ["swaks", "--server", f"127.0.0.1:{port}", "--from", sender,
            "--to", "rcpt@example.net", "--helo", "interop.test",
            "--data", f"@{data_path}", "--timeout", "30"] + list(extra)
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
