"""check-config refuses what would only fail at send time: a command's argv with a stray
brace or a `{name}` no message has, and a URL whose port or IPv6 host cannot be used —
each as one sentence naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from faxd.channels.command import ARGV_NAMES
from faxd.settings import CommandChannel, SmtpChannel

from .cfg_helpers import MINIMAL, WriteConfig, load, only_problem


def command(argv: str) -> str:
    return MINIMAL + f"channels:\n  run:\n    type: command\n    argv: {argv}\n"


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ('"{path"', "'{path' has a brace that is not a placeholder"),
        ('"{nosuch}"', "'{nosuch}' names {nosuch}, which faxd does not fill in"),
        ('"--to={sender!r}"', "names {sender!r}, which faxd does not fill in"),
        ('"{0}"', "names {0}, which faxd does not fill in"),
    ],
)
def test_a_placeholder_faxd_cannot_fill_is_refused_with_the_names_it_can(
    write_config: WriteConfig, tmp_path: Path, written: str, said: str
) -> None:
    (tmp_path / "out").mkdir()
    found = only_problem(write_config(command(f'[/usr/local/bin/x.sh, "{{event}}", {written}]')))
    assert found.path == "channels.run.argv[2]"
    assert said in found.message
    assert found.message.endswith(".") and ". " not in found.message  # one sentence
    assert all(f"{{{name}}}" in found.message for name in ARGV_NAMES)


def test_every_name_a_message_has_and_doubled_braces_are_accepted(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    names = ", ".join(f'"{{{name}}}"' for name in ARGV_NAMES)
    settings = load(write_config(command(f'[/usr/local/bin/x.sh, "{{{{x}}}}", {names}]')))
    run = settings.channels["run"]
    assert isinstance(run, CommandChannel)
    assert run.argv[1:] == ("{{x}}", *(f"{{{name}}}" for name in ARGV_NAMES))


WEBHOOK = "channels:\n  hook:\n    type: webhook\n    url: {url}\n"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:99999/hook", "has the port '99999'; a port is a number from 1 to"),
        ("https://hooks.example.com:0/x", "has the port '0'; a port is a number from 1 to"),
        ("https://hooks.example.com:http/x", "has the port 'http'; a port is a number from 1"),
        ('"http://[::1/x"', "the URL's host is not a name, an IPv4 address or an IPv6"),
        ('"https://u:pw-canary@[::1/x"', "the URL's host is not a name, an IPv4 address"),
        ('"https://hooks.example\\0.com/x"', "has a host that holds a space or a control"),
        ('"https://hooks example.com/x"', "has a host that holds a space or a control"),
        ('"https://hooks%20example.com/x"', "has a host that holds '%', which no host name"),
    ],
)
def test_a_url_with_an_unusable_port_or_host_is_one_sentence(
    write_config: WriteConfig, tmp_path: Path, url: str, said: str
) -> None:
    (tmp_path / "out").mkdir()
    found = only_problem(write_config(MINIMAL + WEBHOOK.format(url=url)))
    assert found.path == "channels.hook.url"
    assert said in found.message and "Invalid" not in found.message
    assert "pw-canary" not in found.message


def test_a_provider_base_url_with_an_unusable_port_is_refused(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    text = MINIMAL.replace(
        "    api_key_env: DOCS_KEY\n",
        "    api_key_env: DOCS_KEY\n    base_url: https://api.example.com:65536/api\n",
    )
    found = only_problem(write_config(text))
    assert found.path == "providers.docs.base_url"
    assert "has the port '65536'" in found.message


SMTP = 'channels:\n  mail:\n    type: smtp\n    host: "{host}"\n    from: a@b.c\n'


def test_an_smtp_host_that_is_no_server_name_is_one_sentence(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    # Accepted, and every message then gave up when its connection failed on the name.
    (tmp_path / "out").mkdir()
    refused = [
        ("mail.example.com\\0", "holds a space or a control character"),
        ("mail.example.com\\x1b[2J", "holds a space or a control character"),
        ("mail .example.com", "holds a space or a control character"),
        ("mail.example.com:587", "holds ':', which no host name has"),
        ("smtp://mail.example.com", "holds ':', which no host name has"),
    ]
    for host, said in refused:
        found = only_problem(write_config(MINIMAL + SMTP.format(host=host)))
        assert found.path == "channels.mail.host"
        assert f"is not a mail server's name or address: it {said}; write the name" in (
            found.message
        )
        assert found.message.endswith(".") and ". " not in found.message
    for host in ("mail.example.com", "smtp_relay.local", "münchen.de", "::1"):
        channel = load(write_config(MINIMAL + SMTP.format(host=host))).channels["mail"]
        assert isinstance(channel, SmtpChannel) and channel.host == host


def test_an_smtp_port_past_65535_is_refused(write_config: WriteConfig, tmp_path: Path) -> None:
    # It passed, and test-channel then said the server refused the connection.
    (tmp_path / "out").mkdir()
    mail = "channels:\n  mail:\n    type: smtp\n    host: 127.0.0.1\n    port: 99999\n"
    found = only_problem(write_config(MINIMAL + mail + "    security: none\n    from: a@b.c\n"))
    assert found.path == "channels.mail.port"
    assert "at most 65535" in found.message


@pytest.mark.parametrize("key", ["read_timeout", "connect_timeout"])
def test_a_provider_timeout_past_an_hour_is_refused(
    write_config: WriteConfig, tmp_path: Path, key: str
) -> None:
    # 99999999999 s passed check-config, and every upload then died of an OverflowError
    # (a traceback in the log, the document retried for ever).
    (tmp_path / "out").mkdir()
    text = MINIMAL.replace(
        "    api_key_env: DOCS_KEY\n", f"    api_key_env: DOCS_KEY\n    {key}: 99999999999\n"
    )
    found = only_problem(write_config(text))
    assert found.path == f"providers.docs.{key}"
    assert "must be at most an hour" in found.message


def test_any_duration_past_a_hundred_years_is_refused(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    found = only_problem(write_config(MINIMAL + "retention:\n  sent: 99999999999d\n"))
    assert found.path == "retention.sent"
    assert "must be at most 100 years" in found.message
