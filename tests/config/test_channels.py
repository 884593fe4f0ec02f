"""Channels, notify targets, alerts and templates in the configuration: every problem
with its line, and no secret in any message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.config import channels
from faxd.settings import CommandChannel, NotifyRule, SmtpChannel, WebhookChannel

from .cfg_helpers import ENV, MINIMAL, WriteConfig, load, only_problem, problems

SMTP_PASSWORD = "smtp-canary-31f9d2"
CHANNELS = """\
channels:
  mail:
    type: smtp
    host: mail.example.com
    username: faxd
    password_env: SMTP_PW
    from: "Office fax <fax@example.com>"
  hook:
    type: webhook
    url: https://tickets.example.com/hook
  run:
    type: command
    argv: [/usr/local/bin/fax-archive, "{path}"]
    timeout: 10s
"""
ENV_WITH_SMTP = {**ENV, "SMTP_PW": SMTP_PASSWORD}


def test_channels_and_a_folder_notify_rule(write_config: WriteConfig, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    path = write_config(
        MINIMAL
        + "    notify:\n"
        + '      - on: [failed, delayed]\n        to: ["mail:{owner}@example.com", hook]\n'
        + "    delayed_after: 30m\n"
        + CHANNELS
    )
    settings = load(path, ENV_WITH_SMTP)
    mail = settings.channels["mail"]
    assert isinstance(mail, SmtpChannel)
    assert (mail.port, mail.security, mail.username) == (587, "starttls", "faxd")
    assert mail.password is not None and mail.password.reveal() == SMTP_PASSWORD
    assert isinstance(settings.channels["hook"], WebhookChannel)
    run = settings.channels["run"]
    assert isinstance(run, CommandChannel) and run.timeout == 10.0
    [folder] = settings.folders
    assert folder.notify == (
        NotifyRule(on=("failed", "delayed"), to=("mail:{owner}@example.com", "hook")),
    )
    assert folder.delayed_after == 1800.0


def test_unknown_channel_bad_address_and_header_injection_each_with_its_line(
    write_config: WriteConfig,
) -> None:
    path = write_config(
        MINIMAL
        + "    notify:\n"
        + "      - to:\n"
        + '          - "fax:anna@example.com"\n'  # line 9
        + '          - "mail:not an address"\n'  # line 10
        + '          - "mail:anna@example.com\\nBcc: all@example.com"\n'  # line 11
        + '          - "hook:anna@example.com"\n'  # line 12
        + CHANNELS
    )
    found = {p.line: p.message for p in problems(path, ENV_WITH_SMTP)}
    assert "channel 'fax' is not configured" in found[9]
    assert "is not a mail address" in found[10]
    assert "line break" in found[11]
    assert "takes no address" in found[12]
    assert SMTP_PASSWORD not in " ".join(found.values())


def test_plain_smtp_is_refused_to_another_machine(write_config: WriteConfig) -> None:
    path = write_config(
        MINIMAL
        + "channels:\n  mail:\n    type: smtp\n    host: mail.example.com\n"
        + "    security: none\n    from: fax@example.com\n"
    )
    problem = only_problem(path)
    assert problem.line == 11
    assert "only to a server on this machine" in problem.message


def test_a_password_written_inline_is_refused_without_repeating_it(
    write_config: WriteConfig,
) -> None:
    path = write_config(
        MINIMAL
        + "channels:\n  mail:\n    type: smtp\n    host: 127.0.0.1\n"
        + f"    from: fax@example.com\n    password: {SMTP_PASSWORD}\n"
    )
    found = problems(path)
    assert any("must not be written into the configuration" in p.message for p in found)
    assert SMTP_PASSWORD not in " ".join(str(p) for p in found)


def test_alerts_and_inbox_deliveries(write_config: WriteConfig, tmp_path: Path) -> None:
    path = write_config(
        """\
        providers:
          docs:
            type: generic-docs
            api_key_env: DOCS_KEY
        channels:
          desk: {type: print, queue: FrontDesk}
          mail: {type: smtp, host: 127.0.0.1, security: none, from: fax@example.com}
        alerts:
          to: ["mail:it@example.com"]
          on: [auth, disk_low]
          disk_free_min: 2GB
        inbox:
          path: inbox
          deliver: [desk]
          routes:
            "+4612345679":
              path: inbox/support
              from: "+4640"
              deliver: ["mail:support@example.com"]
              attach: none
        """
    )
    settings = load(path)
    assert settings.alerts is not None
    assert settings.alerts.on == ("auth", "disk_low")
    assert settings.alerts.disk_free_min == 2 * 1024**3
    inbox = settings.inbox
    assert inbox is not None and inbox.deliver == ("desk",)
    rule = inbox.route_rules["+4612345679"]
    assert (rule.sender_prefix, rule.deliver, rule.attach) == (
        "+4640",
        ("mail:support@example.com",),
        "none",
    )
    assert inbox.routes["+4612345679"] == rule.path


def test_owner_is_refused_where_nobody_handed_anything_in(write_config: WriteConfig) -> None:
    path = write_config(
        MINIMAL
        + "channels:\n  mail: {type: smtp, host: 127.0.0.1, security: none, from: f@example.com}\n"
        + 'alerts:\n  to: ["mail:{owner}@example.com"]\n'
    )
    problem = only_problem(path)
    assert problem.line == 10
    assert "{owner}" in problem.message


def test_a_template_that_does_not_parse_or_render_is_named_with_its_line(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "notice.txt").write_text("Fax {{ document }}\n{% if event %}\nno end\n")
    (folder / "notice.subject").write_text("{{ document | no_such_filter }}")
    (folder / "alert.txt").write_text("{{ text.__class__.__mro__ }}")
    path = write_config(MINIMAL + "templates: templates\n")
    found = sorted(str(p) for p in problems(path))
    assert len(found) == 3, found
    assert all(p.startswith("line 7: templates:") for p in found)
    assert any("notice.txt, line " in p and "endif" in p for p in found)
    assert any("notice.subject, line 1" in p and "no_such_filter" in p for p in found)
    assert any("alert.txt does not render" in p for p in found)


def test_a_template_naming_a_value_faxd_does_not_fill_is_refused(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    # {{ docment }} would render empty in every mail; the built-in names all pass.
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "notice.subject").write_text("Fax {{ docment }} {{ result }}")
    (folder / "delivery.txt").write_text(
        "{% for n in range(2) %}{{ n }}{% endfor %} {{ sender }} {{ path }} {{ attached }}\n"
    )
    path = write_config(MINIMAL + "templates: templates\n")
    problem = only_problem(path)
    assert "notice.subject uses {{ docment }}, which faxd does not fill" in problem.message
    assert "document" in problem.message


def test_a_template_folder_faxd_cannot_read_is_one_sentence(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It ended the start in an internal error (PermissionError). Simulated: root reads
    every folder."""
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "notice.txt").write_text("Fax {{ document }}\n")
    listed = Path.iterdir

    def iterdir(path: Path) -> Iterator[Path]:
        if path == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return listed(path)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    problem = only_problem(write_config(MINIMAL + "templates: templates\n"))
    assert str(problem) == (
        f"line 7: templates: {folder} cannot be read (Permission denied); let faxd's user "
        "read and enter it."
    )
    monkeypatch.setattr(Path, "iterdir", listed)

    def unreadable(path: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(channels, "read_setting_file", unreadable)
    problem = only_problem(write_config(MINIMAL + "templates: templates\n"))
    assert str(problem) == (
        f"line 7: templates: {folder}/notice.txt cannot be read (Permission denied); let "
        "faxd's user read it."
    )


def test_a_channel_needs_a_mapping_with_a_known_type(write_config: WriteConfig) -> None:
    path = write_config(
        MINIMAL
        + "channels:\n  plain: just-a-string\n  untyped:\n    host: x\n  typo:\n    type: smpt\n"
    )
    messages = {p.path: p.message for p in problems(path)}
    assert messages["channels.plain"].startswith("must be a mapping with a 'type' key")
    assert (
        messages["channels.untyped"] == "missing 'type': one of smtp | print | webhook | command."
    )
    assert "did you mean 'smtp'?" in messages["channels.typo.type"]


PRINT_CHANNELS = """\
providers:
  docs:
    type: generic-docs
    api_key_env: DOCS_KEY
channels:
  desk: {type: print, queue: FrontDesk}
  mail: {type: smtp, host: 127.0.0.1, security: none, from: fax@example.com}
folders:
  - path: spool
"""


def test_a_print_channel_that_could_never_print_is_a_problem(write_config: WriteConfig) -> None:
    # Every such notice failed at once with "nothing to print", after check-config said OK.
    cases = {
        "alerts:\n  to: [desk]\n": "an alert has neither",
        "    notify: {on: [failed], to: [desk], attach: none}\n": "with attach: none",
        "    notify: {on: [failed, held], to: [desk]}\n": "held come before there is one",
    }
    for extra, said in cases.items():
        problem = only_problem(write_config(PRINT_CHANNELS + extra))
        assert "'desk' is a print channel" in problem.message and said in problem.message


def test_a_print_channel_prints_the_reports_of_finished_jobs(write_config: WriteConfig) -> None:
    text = PRINT_CHANNELS + "    notify:\n      - {on: [failed, delivered], to: [desk]}\n"
    text += "      - {on: [held], to: ['mail:it@example.com']}\n"
    text += "alerts:\n  to: ['mail:it@example.com']\n"
    rules = load(write_config(text)).folders[0].notify
    assert [r.to for r in rules] == [("desk",), ("mail:it@example.com",)]
