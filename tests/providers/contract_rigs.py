"""What the provider contract tests run against: one rig per provider, each a real
provider object talking HTTP to the sandbox emulator, sharing its fake clock.

To run the shared behavioural tests (test_docs_contract.py, section "every provider")
against another provider, write a builder `(sandbox, clock, tmp_path) -> Rig` and add it
to `RIG_BUILDERS`; the `rig` fixture is parametrised over that dict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faxd.clock import FakeClock
from faxd.model import OutgoingFile, Submission
from faxd.providers.base import InboxSource, Sender
from faxd.providers.docs import DocsProvider
from faxd.providers.retarus import RetarusProvider
from faxd.sandbox.server import SandboxServer
from faxd.settings import DocsProviderSettings, RetarusProviderSettings, Secret

# Short read timeouts: "no answer" cases should not hold the suite up.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 1.0
STATUS_DELAY = 30.0


@dataclass(frozen=True)
class Numbers:
    sender: str
    delivered: str  # a number the sandbox delivers to
    failing: str  # a number whose transmissions end failed
    invalid: str  # a number the provider refuses outright (400)
    dft: str | None = None  # a DFT-capable number, where the provider has DFT


@dataclass
class Rig:
    name: str
    provider: Sender
    sandbox: SandboxServer
    clock: FakeClock
    numbers: Numbers
    api: str  # the sandbox fault rules' `api`
    send_endpoint: str  # the sandbox endpoint name of an upload
    status_endpoint: str  # the sandbox endpoint name of a status query
    pdf: OutgoingFile
    # the same provider with a wrong credential, and one pointed at a port nobody serves
    with_wrong_key: Callable[[], Sender]
    unreachable: Callable[[int], Sender]
    inbox: InboxSource | None = None

    def accepted(self) -> int:
        stats: dict[str, Any] = self.sandbox.stats()[self.api]
        return int(stats["accepted"])

    def submission(self, recipient: str, *, dft: bool = False, key: str = "job1/0") -> Submission:
        return Submission(
            key=key,
            job_id=key.split("/")[0],
            sender=self.numbers.sender,
            recipient=recipient,
            files=(self.pdf,),
            dft=dft,
            reference="contract test",
        )

    def close(self) -> None:
        self.provider.close()


def make_pdf(path: Path) -> OutgoingFile:
    """A minimal valid one-page PDF, written by hand (no PDF library needed)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return OutgoingFile(path=path, name=path.name, mime="application/pdf", size=len(out))


def docs_settings(base_url: str, key: str = "sandbox-docs-key") -> DocsProviderSettings:
    return DocsProviderSettings(
        name="docs",
        api_key=Secret(key),
        base_url=base_url,
        timezone="Europe/Stockholm",
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


def docs_rig(sandbox: SandboxServer, clock: FakeClock, tmp_path: Path) -> Rig:
    provider = DocsProvider(docs_settings(sandbox.docs_base_url), clock=clock)
    return Rig(
        name="docs",
        provider=provider,
        sandbox=sandbox,
        clock=clock,
        numbers=Numbers(
            sender="+4612345678",
            delivered="+46812345678",
            failing="+46812345699",
            invalid="+12",
            dft="+46812345611",
        ),
        api="docs",
        send_endpoint="send",
        status_endpoint="retrieve",
        pdf=make_pdf(tmp_path / "invoice-4711.pdf"),
        with_wrong_key=lambda: DocsProvider(
            docs_settings(sandbox.docs_base_url, "canary-wrong-key-5d1f"), clock=clock
        ),
        unreachable=lambda port: DocsProvider(
            docs_settings(f"http://127.0.0.1:{port}/Docs/api/v2"), clock=clock
        ),
        inbox=provider,
    )


def retarus_settings(
    sandbox: SandboxServer, password: str | None = None, port: int | None = None
) -> RetarusProviderSettings:
    submit = sandbox.retarus_submit_url
    dcs: tuple[str, ...] = sandbox.retarus_datacenter_urls
    if port is not None:
        submit = f"http://127.0.0.1:{port}/retarus/ha/rest/v1"
        dcs = tuple(f"http://127.0.0.1:{port}/retarus/{dc}/rest/v1" for dc in ("dc1", "dc2"))
    return RetarusProviderSettings(
        name="retarus",
        customer_number="999901",
        username="faxd",
        password=Secret(password or sandbox.scenario.retarus_password),
        submit_url=submit,
        datacenter_urls=dcs,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


def retarus_rig(sandbox: SandboxServer, clock: FakeClock, tmp_path: Path) -> Rig:
    return Rig(
        name="retarus",
        provider=RetarusProvider(retarus_settings(sandbox), clock=clock),
        sandbox=sandbox,
        clock=clock,
        numbers=Numbers(
            sender="+4612345678",
            delivered="+4989123456701",
            failing="+4989123456799",  # the sandbox answers NOFAX
            invalid="+12",
        ),
        api="retarus",
        send_endpoint="submit",
        status_endpoint="report",
        pdf=make_pdf(tmp_path / "invoice-4711.pdf"),
        with_wrong_key=lambda: RetarusProvider(
            retarus_settings(sandbox, "canary-wrong-password-5d1f"), clock=clock
        ),
        unreachable=lambda port: RetarusProvider(retarus_settings(sandbox, port=port), clock=clock),
    )


RIG_BUILDERS: dict[str, Callable[[SandboxServer, FakeClock, Path], Rig]] = {
    "docs": docs_rig,
    "retarus": retarus_rig,
}
