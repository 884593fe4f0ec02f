"""The sandbox's SMTP sink: each mail a readable .eml file, none overwritten."""

from __future__ import annotations

import email
import email.policy
import smtplib
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
