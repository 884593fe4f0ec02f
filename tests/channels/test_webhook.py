"""The webhook channel against a real HTTP receiver that checks the signature."""

from __future__ import annotations

import io
import shutil
import ssl
import time
from dataclasses import replace
from pathlib import Path

import pytest
import structlog

from faxd.channels.base import ChannelError, Message
from faxd.channels.webhook import WebhookSender
from faxd.core.secret_url import shown_url, url_secrets
from faxd.host import logs
from faxd.notices.worker import build_channel
from faxd.settings import Secret, WebhookChannel

from .servers import WEBHOOK_SECRET, BigAnswer, WebhookReceiver, make_cert, trickling_http


def message(event_id: str = "d.doc1.0") -> Message:
    return Message(
        event_id=event_id,
        kind="delivery",
        event="received",
        subject="Fax received from +4640123 for +4612345679",
        text="A fax arrived.",
        fields={"path": "/srv/fax/inbox/support/a.pdf", "number": "+4612345679"},
    )


def sender(url: str, secret: str = WEBHOOK_SECRET) -> WebhookSender:
    return WebhookSender(WebhookChannel(name="tickets", url=url, secret=Secret(secret), timeout=5))


def test_signed_event_with_a_stable_id() -> None:
    with WebhookReceiver() as receiver:
        hook = sender(receiver.url)
        receiver.statuses = [503]
        with pytest.raises(ChannelError) as caught:
            hook.send(message())
        assert not caught.value.permanent and "503" in str(caught.value)
        hook.send(message())
    [got] = receiver.hooks
    assert got.signature_ok
    assert got.event_id == "d.doc1.0"
    assert got.body["id"] == "d.doc1.0"
    assert got.body["event"] == "received"
    assert got.body["path"] == "/srv/fax/inbox/support/a.pdf"
    assert WEBHOOK_SECRET not in str(got.body)


def test_a_wrong_secret_fails_verification() -> None:
    with WebhookReceiver() as receiver:
        sender(receiver.url, secret="another-secret-123").send(message())
    assert [h.signature_ok for h in receiver.hooks] == [False]


def test_a_4xx_is_permanent() -> None:
    with WebhookReceiver() as receiver:
        receiver.statuses = [400]
        with pytest.raises(ChannelError) as caught:
            sender(receiver.url).send(message())
    assert caught.value.permanent


@pytest.mark.parametrize("status", [301, 308])
def test_a_hook_moved_for_good_gives_up_at_once_naming_where(status: int) -> None:
    # An http:// hook its server redirects to https:// answered every attempt the same
    # for a day, holding every message of the channel behind it, then gave up on all.
    with WebhookReceiver() as receiver:
        receiver.statuses = [status]
        receiver.location = "https://hooks.example.com/hook?token=abcdef0123456789"
        with pytest.raises(ChannelError) as caught:
            sender(receiver.url).send(message())
    assert caught.value.permanent
    assert "moved for good to https://hooks.example.com/…" in str(caught.value)
    assert "abcdef0123456789" not in str(caught.value)
    assert receiver.hooks == []


@pytest.mark.parametrize("status", [302, 307])
def test_a_temporary_redirect_is_tried_again_not_followed(status: int) -> None:
    with WebhookReceiver() as receiver:
        receiver.statuses = [status]
        receiver.location = "/elsewhere"
        with pytest.raises(ChannelError) as caught:
            sender(receiver.url).send(message())
        assert not caught.value.permanent
        sender(receiver.url).send(message())
    assert receiver.paths == ["/hook", "/hook"]
    assert len(receiver.hooks) == 1


def test_unreachable_is_retryable() -> None:
    from .servers import free_port

    with pytest.raises(ChannelError) as caught:
        sender(f"http://127.0.0.1:{free_port()}/hook").send(message())
    assert not caught.value.permanent


def test_a_name_that_is_not_utf8_goes_out_escaped() -> None:
    """JSON is UTF-8: such a name (a Latin-1 client's) used to raise UnicodeEncodeError,
    which stopped the channel."""
    import os

    name = os.fsdecode(b"/srv/fax/inbox/caf\xe9.pdf")
    with WebhookReceiver() as receiver:
        hook = sender(receiver.url)
        hook.send(replace(message(), text=f"Received {name}", fields={"path": name}))
    [got] = receiver.hooks
    assert got.signature_ok
    assert got.body["path"] == "/srv/fax/inbox/caf\\xe9.pdf"
    assert got.body["text"] == "Received /srv/fax/inbox/caf\\xe9.pdf"


def test_the_receivers_certificate_is_checked_against_the_systems_cas_or_ca_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = make_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with WebhookReceiver(tls=context) as receiver:
        # Not trusted anywhere: refused, and worth trying again once it is.
        with pytest.raises(ChannelError) as caught:
            sender(receiver.url).send(message("d.doc1.0"))
        assert not caught.value.permanent
        # In the system's store (OpenSSL reads it from SSL_CERT_FILE when that is set).
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        sender(receiver.url).send(message("d.doc2.0"))
        monkeypatch.delenv("SSL_CERT_FILE")
        # Named by ca_bundle.
        channel = WebhookChannel(
            name="tickets",
            url=receiver.url,
            secret=Secret(WEBHOOK_SECRET),
            timeout=5,
            ca_bundle=cert,
        )
        WebhookSender(channel).send(message("d.doc3.0"))
    assert [h.event_id for h in receiver.hooks] == ["d.doc2.0", "d.doc3.0"]


@pytest.mark.parametrize("status", [200, 400])
def test_of_a_huge_answer_only_its_start_is_read(status: int) -> None:
    # A 400 MB answer was read whole into memory (RSS from 31 MB to 835 MB).
    size = 256 * 1024 * 1024
    with BigAnswer(status, size) as answer:
        hook = sender(answer.url)
        if status == 200:
            hook.send(message())
        else:
            with pytest.raises(ChannelError) as caught:
                hook.send(message())
            said = str(caught.value)
            assert said.startswith(f"{shown_url(answer.url)} answered HTTP 400: no such hook")
            assert len(said) < 300 and caught.value.permanent
        hook.close()
        assert answer.done.wait(10)
        # What the socket buffers hold, not the answer.
        assert answer.written < 32 * 1024 * 1024


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_deadline() -> None:
    # `timeout` bounds each read: headers sent a byte every 0.2 s held a 1 s webhook for
    # as long as the receiver liked (here 8 s; 37 s for a tester's 3 s channel).
    answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 20 + b"\r\nContent-Length: 0\r\n\r\n"
    with trickling_http(answer, 0.2) as url:
        error, took = _refused_within(url)
    assert str(error) == f"{shown_url(url)} did not answer within 2 s (it answers, but too slowly)"
    assert 1.9 < took < 4


def _refused_within(url: str) -> tuple[ChannelError, float]:
    """Send to `url` on a channel with a 1 s timeout (so a 2 s deadline): the error it
    ended with, and the seconds it took."""
    hook = WebhookSender(WebhookChannel(name="tickets", url=url, timeout=1))
    began = time.monotonic()
    with pytest.raises(ChannelError) as caught:
        hook.send(message())
    took = time.monotonic() - began
    hook.close()
    return caught.value, took


def test_a_proxy_that_trickles_its_answer_to_connect_is_cut_off_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Opening the connection was not watched: a proxy answering CONNECT a byte every
    # 0.2 s held a 1 s webhook for as long as it trickled (here 12 s).
    answer = b"HTTP/1.1 200 Connection established\r\nX-Slow: " + b"x" * 20 + b"\r\n\r\n"
    with trickling_http(answer, 0.2) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.removesuffix("/hook"))
        for name in ("NO_PROXY", "no_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        url = "https://127.0.0.1:9/hook"  # reached only through the proxy
        error, took = _refused_within(url)
    assert (
        str(error) == "https://127.0.0.1:9/… did not answer within 2 s (it answers, but too slowly)"
    )
    assert not error.permanent
    assert took < 2 + 2


URL_TOKEN = "tok-5f1c0e7d9b2a4242"


@pytest.mark.parametrize(
    "tail",
    [
        f"/notify?token={URL_TOKEN}",
        f"/notify?v=2&access_token={URL_TOKEN}",
        f"/notify?sig={URL_TOKEN}&key=x",
        f"/services/T0000000/B0000000/{URL_TOKEN}",  # Slack's and Teams' shape
    ],
)
def test_a_token_in_the_url_is_in_no_error_and_no_log_line(tail: str) -> None:
    # Only user:password in a URL counted as a secret: a hook's token in its query or
    # path was in every error, so in the log, `faxd status`, notices and test-channel.
    out = io.StringIO()
    logs.configure("debug", environ={}, stream=out)  # urllib3 names the path it posts to
    with WebhookReceiver() as receiver:
        host = receiver.url.removesuffix("/hook")
        url = host + tail
        receiver.statuses = [500]
        receiver.said = f"invalid token {URL_TOKEN}".encode()
        hook = build_channel(WebhookChannel(name="tickets", url=url, secret=None, timeout=5))
        with pytest.raises(ChannelError) as answered:
            hook.send(message())
        hook.close()
    hook = build_channel(WebhookChannel(name="tickets", url=url, secret=None, timeout=5))
    with pytest.raises(ChannelError) as refused:  # nobody listens there any more
        hook.send(message())
    hook.close()
    assert receiver.paths == [tail]  # the hook got its token
    assert str(answered.value) == f"{host}/… answered HTTP 500: invalid token ***"
    assert str(refused.value) == f"cannot reach {host}/… (ConnectionError)"
    structlog.get_logger().warning("posting", url=url, error=str(answered.value))
    lines = out.getvalue()
    assert "POST *** HTTP/1.1" in lines  # urllib3's line, its path and query masked
    assert URL_TOKEN not in lines


def test_a_url_is_shown_with_its_host_and_port_only() -> None:
    assert (
        shown_url("https://hooks.example.com:8443/x/y?token=abc")
        == "https://hooks.example.com:8443/…"
    )
    assert shown_url("https://hooks.example.com?sig=abc") == "https://hooks.example.com/…"
    assert shown_url("https://hooks.example.com/") == "https://hooks.example.com/"
    assert shown_url("https://hooks.example.com") == "https://hooks.example.com"
    assert shown_url("https://user:pass@hooks.example.com/x") == "https://hooks.example.com/…"
    assert shown_url("hooks.example.com/x?token=abc") == "hooks.example.com/…"


def test_only_parts_long_enough_to_be_a_token_are_masked_in_log_lines() -> None:
    secrets = url_secrets("https://hooks.example.com/services/T0000000/ab?v=1&sig=c2lnbmF0dXJlAA")
    assert "c2lnbmF0dXJlAA" in secrets and "T0000000" in secrets
    assert "/services/T0000000/ab?v=1&sig=c2lnbmF0dXJlAA" in secrets
    # Words of the path, short values and the parameters' names stay readable.
    assert not {"services", "ab", "1", "v", "sig", "https://hooks.example.com"} & set(secrets)
    assert url_secrets("https://hooks.example.com/") == ()
