"""The provider table: what each provider type can do, and that a new type needs nothing
but its entry (configuration, factory, capability checks and the effective-config view
all read the table)."""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from faxd import config
from faxd.errors import ConfigError
from faxd.model import (
    Accepted,
    Limits,
    Method,
    OutgoingFile,
    ReceivedDocument,
    RemoteStatus,
    Submission,
)
from faxd.providers.base import Gate, InboxSource, ReportSweeper, Sender, open_gate
from faxd.providers.provider_type import ProviderType, SettingsReader
from faxd.providers.registry import PROVIDERS, build_senders, label, types_that_can
from faxd.settings import (
    DocsProviderSettings,
    ProviderSettings,
    RetarusProviderSettings,
    Secret,
    Settings,
)
from tests.settings_helpers import bare_settings

TOKEN = "cloud-canary-71b3c2"


def test_the_table_lists_both_providers_with_what_they_can_do() -> None:
    assert {name: set(entry.capabilities) for name, entry in PROVIDERS.items()} == {
        "generic-docs": {"dft", "inbox"},
        "retarus": {"sweep"},
    }
    assert types_that_can("inbox") == ("generic-docs",)
    assert types_that_can("sweep") == ("retarus",)
    assert PROVIDERS["generic-docs"].credential_key == "api_key"
    assert PROVIDERS["retarus"].credential_key == "password"


def _settings(tmp_path: Path) -> Settings:
    docs = DocsProviderSettings(
        name="docs", api_key=Secret("docs-key-1234"), base_url="http://127.0.0.1:9/api"
    )
    retarus = RetarusProviderSettings(
        name="rx",
        customer_number="999901",
        username="faxd",
        password=Secret("retarus-pw-1234"),
        submit_url="http://127.0.0.1:9/ha",
        datacenter_urls=("http://127.0.0.1:9/dc1",),
    )
    return bare_settings(tmp_path, providers={"docs": docs, "rx": retarus})


def test_each_built_provider_offers_exactly_the_capabilities_the_table_names(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    senders = build_senders(settings)
    try:
        for name, sender in senders.items():
            entry = PROVIDERS[settings.providers[name].type]
            assert isinstance(sender, Sender)
            assert sender.supports_dft == entry.can("dft"), name
            assert isinstance(sender, InboxSource) == entry.can("inbox"), name
            assert isinstance(sender, ReportSweeper) == entry.can("sweep"), name
            assert sender.limits == entry.limits, name
    finally:
        for sender in senders.values():
            sender.close()
    assert label(settings.providers, "docs") == "Generic DOCS"
    assert label(settings.providers, "rx") == "Retarus"
    assert label(settings.providers, "gone") == "gone"


# -- a third provider, registered in the table only ---------------------------------------


@dataclass(frozen=True)
class CloudSettings:
    name: str
    account: str
    token: Secret
    region_url: str = "https://fax.cloud.example/v1"
    ca_bundle: Path | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    lookup_delay: float = 15.0
    status_poll: float = 2.0
    type: str = "fax-cloud"
    credential_file: Path | None = None
    credential_env: str | None = None


class CloudProvider:
    """Just enough of a provider to be built, sent through and polled."""

    supports_dft = False
    page_limit = 100
    limits = Limits(
        max_files=1, max_file_size=1000, extensions={"pdf": frozenset({"application/pdf"})}
    )

    def __init__(self, settings: CloudSettings, workdir: Path) -> None:
        self.name = settings.name
        self.settings = settings
        self.workdir = workdir
        self.closed = False

    def prepare(self, files: Sequence[OutgoingFile], workdir: Path) -> tuple[OutgoingFile, ...]:
        return tuple(files)

    def check_dft(self, number: str) -> bool:
        return False

    def submit(self, submission: Submission, gate: Gate = open_gate) -> Accepted:
        return Accepted("cloud-1", Method.FAX)

    def status(self, remote_id: str) -> RemoteStatus:
        raise NotImplementedError

    def find_submission(
        self, submission: Submission, sent_after: datetime, exclude: Container[str]
    ) -> Accepted | None:
        return None

    def cleanup(self, remote_id: str) -> None:
        return None

    def list_received(
        self, start: datetime, end: datetime, *, fractions: bool = False
    ) -> list[ReceivedDocument]:
        return []

    def fetch(self, file_id: str, dest: BinaryIO) -> str | None:
        return None

    def delete(self, remote_id: str) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def _parse_cloud(name: str, read: SettingsReader) -> CloudSettings | None:
    common = read.common(CloudSettings.read_timeout)
    account = read.text("account", required=True)
    url = read.url("region_url") or CloudSettings.region_url
    if common.credential is None or account is None:
        return None
    return CloudSettings(
        name=name,
        account=account,
        token=common.credential,
        region_url=url,
        ca_bundle=common.ca_bundle,
        connect_timeout=common.connect_timeout,
        read_timeout=common.read_timeout,
        lookup_delay=common.lookup_delay,
        status_poll=common.status_poll,
        credential_file=common.credential_file,
        credential_env=common.credential_env,
    )


def _build_cloud(settings: ProviderSettings, workdir: Path, connections: int) -> Sender:
    assert isinstance(settings, CloudSettings)
    return CloudProvider(settings, workdir)


CLOUD = ProviderType(
    type="fax-cloud",
    label="Fax Cloud",
    settings=CloudSettings,
    keys=(
        "type",
        "account",
        "region_url",
        "token_file",
        "token_env",
        "ca_bundle",
        "connect_timeout",
        "read_timeout",
        "lookup_delay",
        "status_poll",
    ),
    credential_key="token",
    credential_label="an access token",
    parse=_parse_cloud,
    build=_build_cloud,
    limits=CloudProvider.limits,
    capabilities=frozenset({"inbox"}),
)

CLOUD_CONFIG = """\
state_dir: state
providers:
  cloud:
    type: fax-cloud
    account: A-17
    token_env: CLOUD_TOKEN
    read_timeout: 45s
    lookup_delay: 1s
inbox:
  provider: cloud
  path: inbox
"""


@pytest.fixture
def cloud_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROVIDERS, CLOUD.type, CLOUD)


@pytest.mark.usefixtures("cloud_registered")
def test_a_third_provider_in_the_table_is_parsed_built_and_polled(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()
    path = tmp_path / "faxd.yaml"
    path.write_text(CLOUD_CONFIG)
    settings = config.load(path, {"CLOUD_TOKEN": TOKEN})
    cloud = settings.providers["cloud"]
    assert isinstance(cloud, CloudSettings)
    assert (cloud.account, cloud.token.reveal(), cloud.read_timeout) == ("A-17", TOKEN, 45.0)
    assert (cloud.lookup_delay, cloud.status_poll) == (1.0, 2.0)
    assert cloud.credential_env == "CLOUD_TOKEN"
    assert settings.inbox is not None and settings.inbox.provider == "cloud"

    shown = config.render_effective(settings)
    assert "token: '***'" in shown and "token_env: CLOUD_TOKEN" in shown
    assert TOKEN not in shown

    sender = build_senders(settings)["cloud"]
    assert isinstance(sender, CloudProvider) and isinstance(sender, InboxSource)
    assert sender.workdir == tmp_path / "state" / "fax-cloud"
    assert not isinstance(sender, ReportSweeper)
    assert label(settings.providers, "cloud") == "Fax Cloud"


@pytest.mark.usefixtures("cloud_registered")
def test_a_third_providers_problems_come_with_their_lines(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()
    path = tmp_path / "faxd.yaml"
    text = CLOUD_CONFIG.replace("    account: A-17\n", "    acount: A-17\n")
    path.write_text(text.replace("    token_env: CLOUD_TOKEN\n", "    token: inline\n"))
    with pytest.raises(ConfigError) as caught:
        config.load(path, {})
    found = {(p.path, p.line): p.message for p in caught.value.problems}
    assert found[("providers.cloud.acount", 5)] == "unknown key 'acount' — did you mean 'account'?"
    assert found[("providers.cloud.token", 6)].startswith(
        "an access token must not be written into the configuration"
    )
    assert found[("providers.cloud", 3)] == "missing 'account'."
    assert "inline" not in str([str(p) for p in caught.value.problems])


def test_an_unregistered_type_is_refused_with_the_table_s_types(tmp_path: Path) -> None:
    path = tmp_path / "faxd.yaml"
    path.write_text(CLOUD_CONFIG)
    with pytest.raises(ConfigError) as caught:
        config.load(path, {"CLOUD_TOKEN": TOKEN})
    messages = [p.message for p in caught.value.problems if p.path == "providers.cloud.type"]
    assert len(messages) == 1 and "generic-docs" in messages[0] and "retarus" in messages[0]
