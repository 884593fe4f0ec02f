"""The smtp channel against a real SMTP server on loopback (aiosmtpd): STARTTLS, AUTH
LOGIN, a certificate made for the test, and the server's answers read back."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path

import pytest

from faxd.channels.base import Attachment, ChannelError, Message
from faxd.channels.smtp import SmtpSender, build_mail
from faxd.settings import Secret, SmtpChannel

from .servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpSink,
    greeting_server,
    slow_starttls,
    smtp_sink,
)


def channel(sink: SmtpSink, cert: Path, **kw: object) -> SmtpChannel:
    values: dict[str, object] = {
        "name": "mail",
        "host": "127.0.0.1",
        "port": sink.port,
        "sender": "Office fax <fax@example.com>",
        "security": "starttls",
        "username": SMTP_USER,
        "password": Secret(SMTP_PASSWORD),
        "ca_bundle": cert,
        "timeout": 5.0,
    }
    values.update(kw)
    return SmtpChannel(**values)  # type: ignore[arg-type]


def message(tmp_path: Path, **kw: object) -> Message:
    report = tmp_path / "invoice.pdf.report.yaml"
    report.write_text("result: failed\n")
    values: dict[str, object] = {
        "event_id": "n.J1.failed.0",
        "kind": "notice",
        "event": "failed",
        "subject": "Fax NOT sent: invoice.pdf",
        "text": "The fax could not be sent.\n",
        "address": "anna@example.com",
        "attachments": (Attachment(report.name, report, "text/plain"),),
    }
    values.update(kw)
    return Message(**values)  # type: ignore[arg-type]


def test_starttls_login_and_the_mail_read_back(
    smtp: SmtpSink, tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    sender = SmtpSender(channel(smtp, tls_cert[0]))
    msg = message(tmp_path)
    sender.send(msg)
    sender.close()
    [got] = smtp.messages()
    assert smtp.logins == 1
    assert got.envelope_to == ["anna@example.com"]
    assert got.message["Subject"] == "Fax NOT sent: invoice.pdf"
    assert got.message_id == "<n.J1.failed.0@example.com>"
    assert "could not be sent" in got.text
    report = msg.attachments[0].path
    assert got.attachments() == {report.name: hashlib.sha256(report.read_bytes()).hexdigest()}
    assert SMTP_PASSWORD not in got.raw.decode()


def test_one_connection_carries_a_burst(
    smtp: SmtpSink, tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    sender = SmtpSender(channel(smtp, tls_cert[0]))
    for n in range(5):
        sender.send(message(tmp_path, event_id=f"n.J{n}.failed.0"))
    sender.close()
    assert len(smtp.messages()) == 5
    assert smtp.logins == 1


def test_implicit_tls(tls_cert: tuple[Path, Path], tmp_path: Path) -> None:
    import ssl

    from aiosmtpd.controller import Controller

    from .servers import _Handler, free_port

    sink = SmtpSink(None, auth=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
    port = free_port()
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        sender = SmtpSender(
            channel(sink, tls_cert[0], port=port, security="tls", username=None, password=None)
        )
        sender.send(message(tmp_path))
        sender.close()
    finally:
        controller.stop()
    assert len(sink.messages()) == 1


def test_wrong_password_is_a_retryable_failure_that_names_no_secret(
    smtp: SmtpSink, tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    wrong = "wrong-Passw0rd-123"
    sender = SmtpSender(channel(smtp, tls_cert[0], password=Secret(wrong)))
    with pytest.raises(ChannelError) as caught:
        sender.send(message(tmp_path))
    assert not caught.value.permanent
    assert "refused faxd's login" in str(caught.value)
    assert wrong not in str(caught.value) and SMTP_PASSWORD not in str(caught.value)
    assert smtp.messages() == []


def test_untrusted_certificate_is_refused(smtp: SmtpSink, tmp_path: Path) -> None:
    sender = SmtpSender(channel(smtp, None))  # type: ignore[arg-type]
    with pytest.raises(ChannelError, match="TLS"):
        sender.send(message(tmp_path))
    assert smtp.messages() == []


def test_451_is_retryable_and_550_is_permanent(
    smtp: SmtpSink, tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    sender = SmtpSender(channel(smtp, tls_cert[0]))
    smtp.behaviour.temp_failures = 1
    with pytest.raises(ChannelError) as temp:
        sender.send(message(tmp_path))
    assert not temp.value.permanent and "451" in str(temp.value)
    smtp.behaviour.refuse.add("nobody@example.com")
    with pytest.raises(ChannelError) as perm:
        sender.send(message(tmp_path, address="nobody@example.com"))
    assert perm.value.permanent and "550" in str(perm.value)
    sender.send(message(tmp_path))
    sender.close()
    assert len(smtp.messages()) == 1


def test_server_down_is_retryable(tls_cert: tuple[Path, Path], tmp_path: Path) -> None:
    with smtp_sink(tls_cert) as sink:
        settings = channel(sink, tls_cert[0])
    with pytest.raises(ChannelError) as caught:
        SmtpSender(settings).send(message(tmp_path))
    assert not caught.value.permanent
    assert "connection refused" in str(caught.value)


def test_plain_smtp_only_to_loopback(tmp_path: Path) -> None:
    settings = SmtpChannel(
        name="mail", host="mail.example.com", sender="fax@example.com", security="none", port=25
    )
    with pytest.raises(ChannelError, match="only allowed to a server on this machine") as caught:
        SmtpSender(settings).send(message(tmp_path))
    assert caught.value.permanent


def test_a_subject_with_a_line_break_stays_one_header(
    smtp: SmtpSink, tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    sender = SmtpSender(channel(smtp, tls_cert[0]))
    sender.send(message(tmp_path, subject="Fax\r\nBcc: evil@example.com"))
    sender.close()
    [got] = smtp.messages()
    assert got.envelope_to == ["anna@example.com"]
    assert got.message["Bcc"] is None
    assert got.message["Subject"] == "Fax Bcc: evil@example.com"


def test_a_file_name_with_a_line_break_or_odd_bytes_cannot_add_a_header(
    smtp: SmtpSink, tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    """An office user named the document; the mail still goes out (it used to raise
    ValueError, which stopped the channel), with the name escaped in every place."""
    import os

    doc = tmp_path / "fax.pdf"
    doc.write_bytes(b"%PDF-1.4 fax")
    tricky = "bad\nBcc: evil@example.com.pdf"
    latin1 = os.fsdecode(b"caf\xe9.pdf")
    sender = SmtpSender(channel(smtp, tls_cert[0]))
    sender.send(
        message(
            tmp_path,
            subject=f"Fax NOT sent: {latin1}",
            text=f"The fax {latin1} \x1b[31mcould not be sent.\n",
            attachments=(
                Attachment(tricky, doc, "application/pdf"),
                Attachment(latin1, doc, "application/pdf"),
            ),
        )
    )
    sender.close()
    [got] = smtp.messages()
    assert got.envelope_to == ["anna@example.com"]
    assert got.message["Bcc"] is None
    assert got.message["Subject"] == "Fax NOT sent: caf\\xe9.pdf"
    assert "caf\\xe9.pdf \\x1b[31mcould not be sent" in got.text
    digest = hashlib.sha256(doc.read_bytes()).hexdigest()
    assert got.attachments() == {
        "bad\\x0aBcc: evil@example.com.pdf": digest,
        "caf\\xe9.pdf": digest,
    }


def test_attachments_of_any_size_and_each_address_in_a_burst(
    smtp: SmtpSink, tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    """The attachment is encoded outside the email package: every size comes back
    byte for byte in lines of 76 characters, and each mail keeps its own address
    (address headers are parsed once and reused)."""
    sender = SmtpSender(channel(smtp, tls_cert[0]))
    sizes = (0, 1, 57, 58, 50 * 1024 + 3)
    for n, size in enumerate(sizes):
        doc = tmp_path / f"fax-{n}.pdf"
        doc.write_bytes(bytes((i * 7 + n) % 256 for i in range(size)))
        sender.send(
            message(
                tmp_path,
                event_id=f"d.{n}",
                address=f"desk{n % 2}@example.com",
                attachments=(Attachment(doc.name, doc, "application/pdf"),),
            )
        )
    sender.close()
    got = smtp.messages()
    assert [m.envelope_to for m in got] == [[f"desk{n % 2}@example.com"] for n in range(5)]
    assert [m.message["To"] for m in got] == [f"desk{n % 2}@example.com" for n in range(5)]
    for n, mail in enumerate(got):
        doc = tmp_path / f"fax-{n}.pdf"
        assert mail.attachments() == {doc.name: hashlib.sha256(doc.read_bytes()).hexdigest()}
        assert max(len(line) for line in mail.raw.splitlines()) <= 78


def test_an_address_with_a_line_break_is_refused_for_good(tmp_path: Path) -> None:
    settings = SmtpChannel(
        name="mail", host="127.0.0.1", sender="fax@example.com", security="none", port=25
    )
    with pytest.raises(ChannelError, match="not a single mail address") as caught:
        build_mail(settings, message(tmp_path, address="anna@example.com\r\nBcc: x@example.com"))
    assert caught.value.permanent


@pytest.mark.parametrize("swapped", ["folder", "file"])
def test_a_file_reached_through_a_link_is_never_attached(
    smtp: SmtpSink, tls_cert: tuple[Path, Path], tmp_path: Path, swapped: str
) -> None:
    """Someone who may write in sent/ replaces a recipient's folder, or the filed document,
    with a link to a file faxd can read (its configuration): the mail is not sent, rather
    than carry that file."""
    sent = tmp_path / "sent"
    (sent / "+4681").mkdir(parents=True)
    secret = tmp_path / "private"
    secret.mkdir()
    (secret / "fax.pdf").write_bytes(b"providers: {docs: {api_key: not-for-mail}}")
    filed = sent / "+4681" / "fax.pdf"
    if swapped == "folder":
        (sent / "+4681").rmdir()
        (sent / "+4681").symlink_to(secret, target_is_directory=True)
    else:
        filed.symlink_to(secret / "fax.pdf")
    sender = SmtpSender(channel(smtp, tls_cert[0]))
    with pytest.raises(ChannelError, match="was not attached") as caught:
        sender.send(
            message(tmp_path, attachments=(Attachment("fax.pdf", filed, "application/pdf", sent),))
        )
    sender.close()
    assert caught.value.permanent
    assert "symbolic link" in str(caught.value)
    assert smtp.messages() == []


def test_a_username_against_a_server_without_auth_is_permanent(tmp_path: Path) -> None:
    # It said "cannot reach the SMTP server (SMTPNotSupportedError)" and was retried a day.
    with smtp_sink(None, auth=False) as sink:
        sender = SmtpSender(channel(sink, tmp_path / "none.pem", security="none"))
        with pytest.raises(ChannelError) as caught:
            sender.send(message(tmp_path))
    said = str(caught.value)
    assert caught.value.permanent and not caught.value.auth
    assert f"127.0.0.1:{sink.port} does not offer AUTH (login)" in said
    assert SMTP_PASSWORD not in said + str(caught.value.hint)


@pytest.mark.parametrize(
    "greeting", [b"554 5.7.1 no SMTP service for you", b"421 4.3.2 too busy, try later"]
)
def test_a_refusing_greeting_is_quoted(greeting: bytes, tmp_path: Path) -> None:
    with greeting_server(greeting) as port:
        settings = channel(SmtpSink(None, auth=False, port=port), tmp_path, security="none")
        with pytest.raises(ChannelError) as caught:
            SmtpSender(settings).send(message(tmp_path))
    assert str(caught.value) == (
        f"the SMTP server 127.0.0.1:{port} refused the connection: {greeting.decode()}"
    )
    assert not caught.value.permanent  # about the connection, not this mail


def test_no_answer_after_the_data_is_a_timeout_and_the_mail_is_not_sent_again(
    tmp_path: Path,
) -> None:
    with smtp_sink(None, auth=False) as sink:
        sender = SmtpSender(channel(sink, tmp_path, security="none", username=None, timeout=1.0))
        sender.send(message(tmp_path, event_id="n.J1.failed.0"))  # the kept connection
        sink.behaviour.data_delay = 2.0
        with pytest.raises(ChannelError) as caught:
            sender.send(message(tmp_path, event_id="n.J2.failed.0"))
        assert str(caught.value) == "the SMTP server 127.0.0.1 did not answer within 1 s"
        assert not caught.value.permanent
        sender.close()
        ids = [m.message_id for m in sink.messages()]
    # The slow server took it before going quiet: faxd did not hand it over again at once.
    assert ids.count("<n.J2.failed.0@example.com>") == 1


def test_a_server_that_trickles_is_cut_off_at_the_deadline(tmp_path: Path) -> None:
    # `timeout` bounds each read: a byte every 0.2 s held a 1 s channel for as long as the
    # server liked (here 8 s; 37 s for a tester's 3 s channel).
    with greeting_server(b"220 " + b"x" * 36, trickle=0.2) as port:
        settings = channel(SmtpSink(None, auth=False, port=port), tmp_path, security="none")
        sender = SmtpSender(replace(settings, timeout=1.0))
        began = time.monotonic()
        with pytest.raises(ChannelError) as caught:
            sender.send(message(tmp_path))
        took = time.monotonic() - began
    assert "did not take the mail within 2 s" in str(caught.value)
    assert 1.9 < took < 4
    assert not caught.value.permanent


def test_the_deadline_also_cuts_the_starttls_handshake_and_what_follows(
    tls_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    # The deadline (4 s) passes while the server delays its TLS handshake: the cut fell on
    # the plain socket TLS had taken over, and the EHLO after it trickled on uncut (12 s).
    with slow_starttls(
        tls_cert, greeting=b"220 " + b"x" * 26, handshake_after=1.5, every=0.1
    ) as port:
        settings = channel(SmtpSink(None, auth=False, port=port), tls_cert[0], username=None)
        sender = SmtpSender(replace(settings, timeout=2.0))
        began = time.monotonic()
        with pytest.raises(ChannelError) as caught:
            sender.send(message(tmp_path))
        took = time.monotonic() - began
    assert "did not take the mail within 4 s (it answers, but too slowly)" in str(caught.value)
    assert not caught.value.permanent
    assert took < 4 + 2
