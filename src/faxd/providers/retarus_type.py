"""Retarus Fax-for-Applications as a provider type: its configuration, data centers,
limits and capabilities."""

from __future__ import annotations

from pathlib import Path

from faxd.core.preflight import KNOWN_TYPES, MAX_FILE_SIZE
from faxd.model import Limits
from faxd.providers.base import Sender
from faxd.providers.provider_type import ProviderType, SettingsReader
from faxd.settings import ProviderSettings, RetarusProviderSettings

# data_center -> (the URL jobs are submitted to, the data centers' URLs where reports live)
RETARUS_REGIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "de": (
        "https://faxws-ha.de.retarus.com/rest/v1",
        ("https://faxws.de1.retarus.com/rest/v1", "https://faxws.de2.retarus.com/rest/v1"),
    ),
    "us": (
        "https://faxws-ha.us.retarus.com/rest/v1",
        ("https://faxws.us1.retarus.com/rest/v1", "https://faxws.us2.retarus.com/rest/v1"),
    ),
    # Switzerland and Singapore have no HA URL in Retarus's documentation: submit to the
    # one data center, which is also where the reports live.
    "ch": ("https://faxws.ch1.retarus.com/rest/v1", ("https://faxws.ch1.retarus.com/rest/v1",)),
    "sg": ("https://faxws.sg1.retarus.com/rest/v1", ("https://faxws.sg1.retarus.com/rest/v1",)),
}

# Retarus documents no file count or size limit; faxd keeps the same 5 files and 16 MB as
# for Generic DOCS, since every file travels base64-encoded inside one JSON request.
RETARUS_LIMITS = Limits(
    max_files=5,
    max_file_size=MAX_FILE_SIZE,
    extensions={ext: KNOWN_TYPES[ext] for ext in ("pdf", "tif", "tiff", "txt", "htm", "html")},
    # Images become PDF with img2pdf; Office files with LibreOffice where it is installed
    # (without it the Retarus provider refuses them with a message saying what to install).
    convertible=frozenset(
        {"png", "jpg", "jpeg", "gif", "bmp", "pcx", "doc", "docx", "xls", "xlsx", "ppt", "pptx"}
    ),
)

_KEYS = (
    "type",
    "customer_number",
    "data_center",
    "region",
    "submit_url",
    "datacenter_urls",
    "username",
    "password_file",
    "password_env",
    "ca_bundle",
    "connect_timeout",
    "read_timeout",
    "lookup_delay",
    "status_poll",
)


def parse_retarus(name: str, read: SettingsReader) -> RetarusProviderSettings | None:
    common = read.common(RetarusProviderSettings.read_timeout)
    customer = read.text("customer_number", required=True)
    username = read.text("username", required=True)
    region = None
    # `region` means a phone-number country everywhere else in the file, so the Retarus
    # data-center choice is `data_center`; the old name still works, with a warning.
    if read.has("data_center") and read.has("region"):
        read.problem("region", "set only data_center (region is its old name).")
    elif read.has("data_center"):
        region = read.choice("data_center", tuple(RETARUS_REGIONS))
    elif read.has("region"):
        region = read.choice("region", tuple(RETARUS_REGIONS))
        read.warn(
            "region",
            "region under a Retarus provider is now called data_center; rename the key "
            "(region keeps working for now).",
        )
    submit_url = read.url("submit_url")
    datacenter_urls = read.urls(
        "datacenter_urls",
        empty="list at least one data-center URL, or remove the key to use data_center.",
    )
    if region is not None:
        # Explicit URLs win over the region's, so a new data center needs no faxd release.
        region_submit, region_datacenters = RETARUS_REGIONS[region]
        submit_url = submit_url or region_submit
        datacenter_urls = datacenter_urls or region_datacenters
    elif (
        not read.has("region")
        and not read.has("data_center")
        and (not read.has("submit_url") or not read.has("datacenter_urls"))
    ):
        read.problem(
            None,
            f"set data_center ({' | '.join(RETARUS_REGIONS)}), or both submit_url and "
            "datacenter_urls.",
        )
    password = common.credential
    if password is None or customer is None or username is None or submit_url is None:
        return None
    if not datacenter_urls:
        return None
    return RetarusProviderSettings(
        name=name,
        customer_number=customer,
        username=username,
        password=password,
        submit_url=submit_url,
        datacenter_urls=datacenter_urls,
        region=region,
        **common.settings_fields(),
    )


def build_retarus(settings: ProviderSettings, workdir: Path, connections: int) -> Sender:
    from faxd.providers.retarus import RetarusProvider  # imported when used: fast CLI start

    assert isinstance(settings, RetarusProviderSettings)
    return RetarusProvider(settings, workdir=workdir, connections=connections)


RETARUS = ProviderType(
    type="retarus",
    label="Retarus",
    settings=RetarusProviderSettings,
    keys=_KEYS,
    credential_key="password",
    credential_label="a password",
    parse=parse_retarus,
    build=build_retarus,
    limits=RETARUS_LIMITS,
    capabilities=frozenset({"sweep"}),
)
