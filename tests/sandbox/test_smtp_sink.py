"""The sandbox's SMTP sink: each mail a readable .eml file, none overwritten."""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
import time
from email.message import EmailMessage
from pathlib import Path

from faxd.sandbox.smtp_sink import SmtpSink


def test_each_mail_is_stored_as_an_eml_file(tmp_path: Path) -> None:
    sink = SmtpSink(0, tmp_path / "mail").start()
    try:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
            for n in range(2):
                mail = EmailMessage()
                mail["From"] = "fax@example.com"
                mail["To"] = "anna@example.com"
                mail["Subject"] = "Fax NOT sent: offer.pdf"
                mail.set_content(f"line one\n.dot line {n}\n")
                client.send_message(mail)
    finally:
        sink.stop()
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.name for f in files] == [
        "0001-Fax-NOT-sent-offer.pdf.eml",
        "0002-Fax-NOT-sent-offer.pdf.eml",
    ]
    parsed = email.message_from_bytes(files[1].read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content().replace("\r\n", "\n") == "line one\n.dot line 1\n"


def _answer(conn: socket.socket) -> bytes:
    reply = b""
    while not reply.endswith(b"\r\n") or reply.splitlines()[-1][3:4] == b"-":
        reply += conn.recv(4096)
    return reply


def test_the_end_of_a_mail_is_found_across_writes_and_dots_unstuffed(tmp_path: Path) -> None:
    """The sink reads DATA in blocks: the final dot split over two writes still ends the
    mail, a dot-stuffed first line and an encoded subject come out right, and the
    attachment after the header block does not name the file."""
    sink = SmtpSink(0, tmp_path / "mail").start()
    body = (
        b"Subject: =?utf-8?q?Fax_fr=C3=A5n_+4640?=\r\n"
        b"\r\n"
        b"..first line starts with a dot\r\n"
        b"Subject: not this one\r\n"
        b"middle\r\n"
        b"...two dots\r\n"
    )
    try:
        with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as conn:
            _answer(conn)
            for command in (b"EHLO x", b"MAIL FROM:<fax@example.com>", b"RCPT TO:<a@example.com>"):
                conn.sendall(command + b"\r\n")
                assert _answer(conn)[:1] == b"2"
            conn.sendall(b"DATA\r\n")
            assert _answer(conn).startswith(b"354")
            for piece in (body[:5], body[5:40], body[40:] + b".", b"\r", b"\n"):
                conn.sendall(piece)
                time.sleep(0.05)  # separate reads on the sink's side
            assert _answer(conn).startswith(b"250")
            conn.sendall(b"QUIT\r\n")
    finally:
        sink.stop()
    [stored] = (tmp_path / "mail").iterdir()
    assert stored.name == "0001-Fax-fr-n-+4640.eml"
    assert stored.read_bytes() == (
        b"Subject: =?utf-8?q?Fax_fr=C3=A5n_+4640?=\r\n"
        b"\r\n"
        b".first line starts with a dot\r\n"
        b"Subject: not this one\r\n"
        b"middle\r\n"
        b"..two dots\r\n"
    )
