"""config/faxd.example.yaml is valid as shipped and documents every key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from faxd import config
from faxd.config.folders import DEFAULTS_KEYS, FOLDER_KEYS, INBOX_KEYS
from faxd.config.load import TOP_KEYS
from faxd.providers.registry import PROVIDERS
from faxd.settings import (
    RETARUS_OPTION_KEYS,
    DocsProviderSettings,
    InboxSettings,
    RetarusProviderSettings,
    Settings,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "faxd.example.yaml"
DOCS_KEY = "example-docs-key-canary"
RETARUS_PASSWORD = "example-retarus-canary"


@pytest.fixture
def example(tmp_path: Path) -> Settings:
    (tmp_path / "docs-api-key").write_text(DOCS_KEY + "\n")
    (tmp_path / "retarus-password").write_text(RETARUS_PASSWORD + "\n")
    return config.load(EXAMPLE, {"CREDENTIALS_DIRECTORY": str(tmp_path)})


def test_example_loads_with_credentials_from_the_credentials_directory(
    example: Settings, tmp_path: Path
) -> None:
    docs = example.providers["docs"]
    retarus = example.providers["retarus"]
    assert isinstance(docs, DocsProviderSettings)
    assert isinstance(retarus, RetarusProviderSettings)
    assert docs.api_key.reveal() == DOCS_KEY
    assert docs.credential_file == tmp_path / "docs-api-key"
    assert retarus.password.reveal() == RETARUS_PASSWORD
    assert retarus.customer_number == "999901"
    assert retarus.datacenter_urls == (
        "https://faxws.de1.retarus.com/rest/v1",
        "https://faxws.de2.retarus.com/rest/v1",
    )
    assert example.default_provider == "docs"
    assert example.contacts == {"Acme AB": "+46812345678", "Support": "+46812345679"}


def test_example_folders_combine_defaults_and_their_own_values(example: Settings) -> None:
    out, scanner, abroad = example.folders
    assert out.path == Path("/srv/fax/out")
    assert out.sent_dir == Path("/srv/fax/sent/out")  # defaults' sent_dir, one per folder
    assert abroad.failed_dir == Path("/srv/fax/failed/abroad")
    assert scanner.hold_folder == Path("/srv/fax/hold/scanner")
    assert out.rescan_interval == 300.0
    assert scanner.provider == "retarus"
    assert scanner.watch == "poll"
    assert scanner.to == ("Acme AB", "+46812345679")
    assert scanner.retarus.express is True
    assert scanner.retarus.header == "Example AB"  # from defaults.retarus
    assert abroad.region == "DE"
    assert abroad.to == ("+49301234567", "+49891234567")
    assert abroad.dft == "never"
    assert abroad.settle == 2.0
    assert example.inbox is not None
    assert example.inbox.routes == {
        "+4612345679": Path("/srv/fax/inbox/support"),
        "+4612345671": Path("/srv/fax/inbox/orders"),
    }
    assert example.inbox.route_rules["+4612345671"].sender_prefix == "+4640"
    assert example.inbox.deliver == ("frontdesk",)
    assert set(example.channels) == {"mail", "frontdesk", "tickets", "archive"}
    assert example.inbox.lookback == 86400.0
    assert "+4612345670" in example.our_numbers()


def test_rendering_the_example_hides_both_secrets(example: Settings) -> None:
    rendered = config.render_effective(example)
    assert DOCS_KEY not in rendered
    assert RETARUS_PASSWORD not in rendered
    assert rendered.count("'***'") == 2


def test_rendering_the_example_shows_every_inbox_setting(example: Settings) -> None:
    # check-config promises the effective configuration with every default applied.
    shown = yaml.safe_load(config.render_effective(example))["inbox"]
    assert set(shown) == {f.name for f in dataclasses.fields(InboxSettings)}
    assert shown["download_timeout"] == 900.0


ALL_KEYS = sorted(
    {
        *TOP_KEYS,
        *FOLDER_KEYS,
        *DEFAULTS_KEYS,
        *INBOX_KEYS,
        *RETARUS_OPTION_KEYS,
        *(key for entry in PROVIDERS.values() for key in entry.keys),
    }
)


@pytest.mark.parametrize("key", ALL_KEYS)
def test_example_documents_every_key(key: str) -> None:
    text = EXAMPLE.read_text()
    # Written as a key (possibly commented out) and explained by a comment somewhere.
    assert re.search(rf"^\s*(#\s*)?(- )?{key}:", text, re.MULTILINE), key
