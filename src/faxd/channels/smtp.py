"""E-mail through the office's SMTP server, with the standard library's smtplib/email:
well kept, enough for STARTTLS, implicit TLS and AUTH, and no dependency to audit.

The Message-ID is derived from the outbox row, so a mail re-sent after a crash (the one
window where the server accepted but faxd did not record it) is recognisably the same
mail. One connection is kept open between messages of a burst."""

from __future__ import annotations

import base64
import email.policy
import functools
import hashlib
import mimetypes
import smtplib
import socket
import ssl
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from faxd.channels.base import ChannelError, Message, read_attachment
from faxd.channels.deadline import Deadline, cut
from faxd.core.printable import shown, shown_lines
from faxd.settings import SmtpChannel

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# One mail may take twice `timeout`, plus a second per this many bytes of attachments
# (a slow line to the server), before its connection is cut.
DATA_RATE = 25_000


def message_id(event_id: str, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "faxd.invalid"
    return f"<{event_id}@{domain}>"


@functools.lru_cache(maxsize=256)
def _address_header(name: str, value: str) -> BaseHeader:
    """Parsed once per address: the sender is the same on every mail of a channel, and
    parsing an address header is a good part of building a short mail. The policy's own
    check refuses a line break (no header can be smuggled in through an address)."""
    try:
        header = email.policy.default.header_store_parse(name, value)[1]
    except ValueError:
        raise ChannelError(
            f"the address {value!r} is not a single mail address", permanent=True
        ) from None
    assert isinstance(header, BaseHeader)
    return header


def build_mail(settings: SmtpChannel, message: Message) -> EmailMessage:
    if message.address is None:
        raise ChannelError(
            "a mail needs an address (write the target as CHANNEL:ADDRESS)", permanent=True
        )
    mail = EmailMessage()
    mail["From"] = _address_header("From", settings.sender)
    mail["To"] = _address_header("To", message.address)
    # A subject is one line: whatever a template or a file name produced, nothing in it can
    # start a new header, and a name that is not UTF-8 is shown escaped, not refused.
    mail["Subject"] = shown(" ".join(message.subject.split()))[:200]
    # The event's time, not the attempt's: a re-sent mail is byte-for-byte the same mail.
    mail["Date"] = formatdate(message.created_at, localtime=True)
    mail["Message-ID"] = message_id(message.event_id, settings.sender)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Faxd-Event"] = message.event
    mail.set_content(shown_lines(message.text))
    for item in message.attachments:
        mime = item.mime
        if mime == "application/octet-stream":
            mime = mimetypes.guess_type(item.name)[0] or mime
        maintype, _, subtype = mime.partition("/")
        data = read_attachment(item)
        # The headers from the email package, the body encoded in C: the package's own
        # base64 loop cost more than the rest of a mail with a 50 KB document. The same
        # bytes either way (76-character lines).
        # A file name is the office's: a line break in it must not end the header.
        mail.add_attachment(b"", maintype=maintype, subtype=subtype, filename=shown(item.name))
        parts = mail.get_payload()
        assert isinstance(parts, list)
        part = parts[-1]
        assert isinstance(part, EmailMessage)
        part.set_payload(base64.encodebytes(data).decode("ascii"))
    if mail.is_multipart():
        # Not random: a mail sent again after a crash is the same bytes as the first.
        token = hashlib.sha256(message.event_id.encode()).hexdigest()[:32]
        mail.set_boundary(f"==faxd-{token}==")
    return mail


class _Plain(smtplib.SMTP):
    """smtplib's connection, opened within a deadline and watched by it from the moment its
    socket exists: through the greeting, the STARTTLS handshake and the login."""

    def __init__(self, deadline: Deadline, host: str, port: int, timeout: float) -> None:
        self._deadline = deadline
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._deadline.connect((host, port), timeout, source_address=self.source_address)


class _Tls(smtplib.SMTP_SSL, _Plain):
    """SMTP_SSL wraps the socket _Plain opens; the deadline cuts its handshake too."""

    def __init__(
        self, deadline: Deadline, host: str, port: int, timeout: float, context: ssl.SSLContext
    ) -> None:
        self._deadline = deadline
        super().__init__(host, port, timeout=timeout, context=context)


class SmtpSender:
    def __init__(self, settings: SmtpChannel) -> None:
        self.name = settings.name
        self._settings = settings
        self._conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        cafile = str(self._settings.ca_bundle) if self._settings.ca_bundle else None
        return ssl.create_default_context(cafile=cafile)

    def _connect(self, deadline: Deadline) -> smtplib.SMTP:
        s = self._settings
        if s.security == "none" and s.host not in LOOPBACK:
            raise ChannelError(
                f"security: none is only allowed to a server on this machine, not {s.host}",
                permanent=True,
            )
        try:
            conn: smtplib.SMTP
            if s.security == "tls":
                conn = _Tls(deadline, s.host, s.port, s.timeout, self._context())
            else:
                conn = _Plain(deadline, s.host, s.port, s.timeout)
                if s.security == "starttls":
                    conn.ehlo()
                    if not conn.has_extn("starttls"):
                        conn.close()
                        raise ChannelError(
                            f"{s.host}:{s.port} does not offer STARTTLS; faxd will not send the "
                            "password or the mail unencrypted (use security: tls for port 465)"
                        )
                    conn.starttls(context=self._context())
                    conn.ehlo()
            if s.username and s.password is not None:
                conn.ehlo_or_helo_if_needed()
                if not conn.has_extn("auth"):
                    conn.close()
                    # Not a passing fault: every attempt would meet the same server.
                    raise ChannelError(
                        f"the SMTP server {s.host}:{s.port} does not offer AUTH (login), "
                        "but the channel has a username",
                        permanent=True,
                        hint="Remove username and the password from the channel if the "
                        "server takes mail without a login, or use the port and security "
                        "that offer it (often 587 with starttls).",
                    )
                conn.login(s.username, s.password.reveal())
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(
                f"the SMTP server {s.host} refused faxd's login (answer {exc.smtp_code})",
                auth=True,
                hint="Check username and password_file/password_env of the channel.",
            ) from None
        except ssl.SSLError as exc:
            raise ChannelError(
                f"TLS with {s.host}:{s.port} failed ({exc.reason or exc.__class__.__name__})",
                hint="Check security and port (starttls: 587, tls: 465) and ca_bundle.",
            ) from None
        except smtplib.SMTPResponseException as exc:
            # The server is there and said why (a 554 or 421 greeting, a refused EHLO).
            # Retried: it is about the connection, not this mail.
            what = (
                "refused the connection"
                if isinstance(exc, smtplib.SMTPConnectError)
                else "answered"
            )
            raise ChannelError(
                f"the SMTP server {s.host}:{s.port} {what}: {_said(exc.smtp_code, exc.smtp_error)}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(
                f"cannot reach the SMTP server {s.host}:{s.port} ({_why(exc)})"
            ) from None
        return conn

    def send(self, message: Message) -> None:
        mail = build_mail(self._settings, message)
        size = sum(len(str(part.get_payload())) for part in mail.iter_attachments())
        limit = 2 * self._settings.timeout + size / DATA_RATE
        with Deadline(limit) as deadline:
            try:
                self._send(mail, message, deadline)
            except ChannelError:
                if not deadline.passed:
                    raise
                self.close()
                raise ChannelError(
                    f"the SMTP server {self._settings.host} did not take the mail within "
                    f"{limit:.0f} s (it answers, but too slowly)"
                ) from None

    def _send(self, mail: EmailMessage, message: Message, deadline: Deadline) -> None:
        envelope_from = parseaddr(self._settings.sender)[1]
        assert message.address is not None
        for attempt in (1, 2):
            fresh = self._conn is None
            if self._conn is None:
                self._conn = self._connect(deadline)
            conn = self._conn
            deadline.watch(functools.partial(_cut, conn))
            try:
                conn.send_message(mail, from_addr=envelope_from, to_addrs=[message.address])
                return
            except smtplib.SMTPServerDisconnected as exc:
                self.close()
                if "timed out" in str(exc):  # smtplib reports a read timeout as a hang-up
                    # It may have taken the mail before going quiet: not sent again at once.
                    raise ChannelError(
                        f"the SMTP server {self._settings.host} did not answer within "
                        f"{self._settings.timeout:g} s"
                    ) from None
                if fresh or attempt == 2 or deadline.passed:
                    raise ChannelError(f"the SMTP server {self._settings.host} hung up") from None
                # A kept connection the server timed out: one new connection, same message.
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                raise _answer_error("refused the address", code, text, recipient=True) from None
            except smtplib.SMTPResponseException as exc:
                self.close()
                raise _answer_error(
                    "did not accept the mail", exc.smtp_code, exc.smtp_error
                ) from None
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise ChannelError(
                    f"sending to {self._settings.host} failed ({_why(exc)})"
                ) from None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()


def _cut(conn: smtplib.SMTP) -> None:
    cut(conn.sock)


def _answer_error(
    what: str, code: int, text: bytes | str, *, recipient: bool = False
) -> ChannelError:
    return ChannelError(
        f"the SMTP server {what}: {_said(code, text)}",
        permanent=500 <= code < 600,
        recipient=recipient,
    )


def _said(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return shown(f"{code} {' '.join(said.split())}"[:200])


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return exc.__class__.__name__
