"""load(): the rules of SPEC §3, each problem with its key path and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from faxd import config
from faxd.errors import ConfigError, ConfigProblem
from faxd.providers.retarus_type import RETARUS_REGIONS
from faxd.settings import DocsProviderSettings, RetarusProviderSettings

from .cfg_helpers import ENV, MINIMAL, load, only_problem, problems

WriteConfig = Callable[[str], Path]


def where(found: list[ConfigProblem]) -> set[tuple[str, int | None]]:
    return {(p.path, p.line) for p in found}


# --- where the file is ------------------------------------------------------------------


def test_config_path_prefers_the_command_line_then_the_environment() -> None:
    env = {"FAXD_CONFIG": "/srv/faxd.yaml"}
    assert config.config_path("/tmp/x.yaml", env) == Path("/tmp/x.yaml")
    assert config.config_path(None, env) == Path("/srv/faxd.yaml")
    assert config.config_path(None, {}) == Path("/etc/faxd/faxd.yaml")
    assert config.config_path(None, {"FAXD_CONFIG": ""}) == Path("/etc/faxd/faxd.yaml")


def test_a_missing_file_is_one_problem_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    problem = only_problem(missing)
    assert str(missing) in problem.message
    assert "does not exist" in problem.message


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert "is a directory" in only_problem(tmp_path).message


def test_a_syntax_error_names_its_line(write_config: WriteConfig) -> None:
    path = write_config("providers:\n  docs:\n    type: [generic-docs\nfolders: []\n")
    problem = only_problem(path)
    assert problem.message.startswith("YAML syntax error")
    assert problem.line == 4


def test_a_tab_used_to_indent_says_to_use_spaces(write_config: WriteConfig) -> None:
    path = write_config("folders:\n\t- path: /srv/fax/out\n")
    problem = only_problem(path)
    assert problem.line == 2
    assert problem.message.endswith(
        "YAML is indented with spaces, never tabs: replace the tab with spaces."
    )


def test_a_control_character_is_a_problem_naming_its_line(write_config: WriteConfig) -> None:
    path = write_config("folders: []\n# pasted from a terminal \x1b[0m\n")
    problem = only_problem(path)
    assert "character YAML does not allow (#x001b)" in problem.message
    assert problem.line == 2


def test_values_nested_hundreds_of_levels_deep_are_one_problem(
    write_config: WriteConfig,
) -> None:
    # PyYAML composes recursively: without a limit this was a RecursionError traceback.
    path = write_config("folders: " + "[" * 5_000 + "]" * 5_000 + "\n")
    assert "nested too deeply to read" in only_problem(path).message


def test_an_empty_file_is_a_problem(write_config: WriteConfig) -> None:
    assert "empty" in only_problem(write_config("# nothing\n")).message


def test_a_top_level_list_is_a_problem(write_config: WriteConfig) -> None:
    problem = only_problem(write_config("- a\n- b\n"))
    assert "must be a mapping" in problem.message
    assert str(problem).startswith("line 1: must be")  # no empty key before the message


def test_the_error_counts_its_problems_and_names_the_file(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL + "foldres: []\nlog_levle: info\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(path) in str(caught.value)
    assert "2 configuration problems" in str(caught.value)


# --- every problem at once --------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_line(write_config: WriteConfig) -> None:
    path = write_config(
        """\
        state_dir: /var/lib/faxd
        providers:
          docs:
            type: generic-docs
            api_key_env: DOCS_KEY
            base_url: http://api.example.com/v2
            timezone: Mars/Olympus
        defaults:
          region: XX
          concurrency: 0
        folders:
          - path: out
            to: ["+46812345678", "12"]
            settle: soon
          - path: other
            watch: fanotify
            setle: 3
        inbox:
          path: in
          poll_interval: 0
        log_level: loud
        """
    )
    found = problems(path)
    lines = [p.line or 0 for p in found]
    assert lines == sorted(lines)  # in file order, like a compiler
    assert where(found) == {
        ("providers.docs.base_url", 6),
        ("providers.docs.timezone", 7),
        ("defaults.region", 9),
        ("defaults.concurrency", 10),
        ("folders[0].to[1]", 13),
        ("folders[0].settle", 14),
        ("folders[1].watch", 16),
        ("folders[1].setle", 17),
        ("inbox.poll_interval", 20),
        ("log_level", 21),
    }
    by_path = {p.path: p for p in found}
    assert by_path["folders[1].setle"].message == "unknown key 'setle' — did you mean 'settle'?"
    assert str(by_path["log_level"]).startswith("line 21: log_level: 'loud' is not one of")


def test_unknown_top_level_key_suggests_the_likely_one(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "foldres: []\n"))
    assert problem.message == "unknown key 'foldres' — did you mean 'folders'?"
    assert (problem.path, problem.line) == ("foldres", 7)


def test_unknown_key_without_a_near_match_lists_the_known_keys(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "zzz: 1\n"))
    assert "known here: state_dir, providers" in problem.message


def test_a_key_given_twice_is_a_problem_naming_both_lines(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "log_level: info\nlog_level: debug\n"))
    assert problem.line == 8
    assert "lines 7 and 8" in problem.message


def test_yaml_merge_keys_share_settings(write_config: WriteConfig) -> None:
    settings = load(
        write_config(
            """\
            providers:
              docs: {type: generic-docs, api_key_env: DOCS_KEY}
            folders:
              - &common {path: a, settle: 5, watch: poll}
              - <<: *common
                path: b
            """
        )
    )
    assert [f.path.name for f in settings.folders] == ["a", "b"]
    assert settings.folders[1].settle == 5.0
    assert settings.folders[1].watch == "poll"


def test_a_config_that_does_nothing_is_refused(write_config: WriteConfig) -> None:
    problem = only_problem(
        write_config("providers:\n  docs: {type: generic-docs, api_key_env: DOCS_KEY}\n")
    )
    assert "nothing to do" in problem.message


# --- providers --------------------------------------------------------------------------


def test_generic_docs_defaults(write_config: WriteConfig) -> None:
    settings = load(write_config(MINIMAL))
    docs = settings.providers["docs"]
    assert isinstance(docs, DocsProviderSettings)
    assert docs.base_url == "https://api.genericmobile.se/Docs/api/v2"
    assert docs.timezone == "Europe/Stockholm"
    assert docs.credential_env == "DOCS_KEY"
    assert settings.default_provider == "docs"  # the only provider
    assert settings.state_dir == Path("/var/lib/faxd")
    assert settings.concurrency == 8
    assert settings.region == "SE"
    assert settings.log_level == "info"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.example.com/v2/", True),
        ("http://127.0.0.1:8025/Docs/api/v2", True),
        ("http://localhost:8025/x", True),
        ("http://[::1]:8025/x", True),
        ("http://api.example.com/v2", False),
        ("ftp://api.example.com", False),
        ("https://", False),
    ],
)
def test_base_url_must_be_https_except_to_this_machine(
    write_config: WriteConfig, url: str, ok: bool
) -> None:
    path = write_config(
        MINIMAL.replace("api_key_env: DOCS_KEY", f"api_key_env: DOCS_KEY\n    base_url: {url}")
    )
    if ok:
        docs = load(path).providers["docs"]
        assert isinstance(docs, DocsProviderSettings)
        assert docs.base_url == url.rstrip("/")
    else:
        assert only_problem(path).path == "providers.docs.base_url"


@pytest.mark.parametrize("key", ["verify", "insecure", "verify_tls"])
def test_tls_verification_cannot_be_disabled(write_config: WriteConfig, key: str) -> None:
    path = write_config(
        MINIMAL.replace("api_key_env: DOCS_KEY", f"api_key_env: DOCS_KEY\n    {key}: false")
    )
    assert "cannot be turned off" in only_problem(path).message


def test_api_key_file_is_read_and_one_trailing_newline_stripped(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    # More than one line is refused (test_load_secrets.py): it would break the HTTP header.
    (tmp_path / "key").write_text("abcdefgh\n")
    path = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_file: key"))
    docs = load(path).providers["docs"]
    assert isinstance(docs, DocsProviderSettings)
    assert docs.api_key.reveal() == "abcdefgh"
    assert docs.credential_file == tmp_path / "key"


def test_credentials_directory_is_expanded_in_file_paths(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "docs-api-key").write_text("key-12345\n")
    path = write_config(
        MINIMAL.replace(
            "api_key_env: DOCS_KEY", "api_key_file: ${CREDENTIALS_DIRECTORY}/docs-api-key"
        )
    )
    docs = load(path, {"CREDENTIALS_DIRECTORY": str(creds)}).providers["docs"]
    assert isinstance(docs, DocsProviderSettings)
    assert docs.api_key.reveal() == "key-12345"


def test_unset_credentials_directory_explains_load_credential(write_config: WriteConfig) -> None:
    path = write_config(
        MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_file: ${CREDENTIALS_DIRECTORY}/k")
    )
    problem = only_problem(path, {})
    assert problem.path == "providers.docs.api_key_file"
    assert "LoadCredential=" in problem.message


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing", "does not exist"),
        ("empty", "is empty"),
        ("newline", "is empty"),
        ("directory", "cannot be read"),
    ],
)
def test_unusable_key_files_are_named(
    write_config: WriteConfig, tmp_path: Path, setup: str, expected: str
) -> None:
    key = tmp_path / "keyfile"
    if setup == "empty":
        key.write_text("")
    elif setup == "newline":
        key.write_text("\n")
    elif setup == "directory":
        key.mkdir()
    path = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", f"api_key_file: {key}"))
    problem = only_problem(path)
    assert expected in problem.message
    assert str(key) in problem.message


def test_key_needs_exactly_one_source(write_config: WriteConfig, tmp_path: Path) -> None:
    both = write_config(
        MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_env: DOCS_KEY\n    api_key_file: /k")
    )
    assert "only one of api_key_file and api_key_env" in only_problem(both).message
    neither = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", "timezone: UTC"))
    problem = only_problem(neither)
    assert (problem.path, problem.line) == ("providers.docs", 2)
    assert "missing api_key_file" in problem.message


def test_an_unset_or_empty_key_variable_is_a_problem(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL)
    assert "not set or is empty" in only_problem(path, {"DOCS_KEY": ""}).message
    assert "not set or is empty" in only_problem(path, {}).message


def test_an_inline_api_key_is_refused(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", "api_key: abc"))
    problem = only_problem(path)  # and no second "missing api_key_file" problem
    assert "api_key_file" in problem.message
    assert "api_key_env" in problem.message
    assert (problem.path, problem.line) == ("providers.docs.api_key", 4)


def test_provider_type_must_be_known(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL.replace("generic-docs", "generic-doc"))
    problem = only_problem(path)
    assert problem.path == "providers.docs.type"
    assert "generic-docs | retarus" in problem.message


RETARUS = """\
providers:
  rx:
    type: retarus
    customer_number: {customer}
    username: faxd
    password_env: RETARUS_PW
{extra}folders:
  - path: out
"""


def retarus(
    write_config: WriteConfig, extra: str = "    region: de\n", customer: str = '"0999"'
) -> Path:
    return write_config(RETARUS.format(customer=customer, extra=extra))


def test_retarus_region_sets_both_urls(write_config: WriteConfig) -> None:
    rx = load(retarus(write_config)).providers["rx"]
    assert isinstance(rx, RetarusProviderSettings)
    assert (rx.submit_url, rx.datacenter_urls) == RETARUS_REGIONS["de"]
    assert rx.password.reveal() == ENV["RETARUS_PW"]
    assert rx.customer_number == "0999"


def test_retarus_explicit_urls_win_over_the_region(write_config: WriteConfig) -> None:
    extra = "    region: us\n    datacenter_urls: https://dc.example.com/rest/v1/\n"
    rx = load(retarus(write_config, extra)).providers["rx"]
    assert isinstance(rx, RetarusProviderSettings)
    assert rx.submit_url == RETARUS_REGIONS["us"][0]
    assert rx.datacenter_urls == ("https://dc.example.com/rest/v1",)
    assert rx.region == "us"


def test_retarus_without_region_needs_both_urls(write_config: WriteConfig) -> None:
    problem = only_problem(retarus(write_config, "    submit_url: https://a.example.com\n"))
    assert (problem.path, problem.line) == ("providers.rx", 2)
    assert "set data_center" in problem.message
    both = "    submit_url: https://a.example.com\n    datacenter_urls: [https://b.example.com]\n"
    rx = load(retarus(write_config, both)).providers["rx"]
    assert isinstance(rx, RetarusProviderSettings)
    assert rx.region is None


def test_retarus_unknown_region(write_config: WriteConfig) -> None:
    problem = only_problem(retarus(write_config, "    region: fr\n"))
    assert problem.path == "providers.rx.region"
    assert "de | us | ch | sg" in problem.message


def test_unquoted_customer_number_keeps_its_leading_zero(write_config: WriteConfig) -> None:
    # YAML 1.1 would read 012345 as the octal number 5349.
    rx = load(retarus(write_config, customer="012345")).providers["rx"]
    assert isinstance(rx, RetarusProviderSettings)
    assert rx.customer_number == "012345"


def test_retarus_inline_password_is_refused(write_config: WriteConfig) -> None:
    path = retarus(write_config, "    region: de\n    password: x\n")
    assert "password_file" in only_problem(path).message


def test_retarus_requires_customer_number_and_username(write_config: WriteConfig) -> None:
    path = write_config(
        "providers:\n  rx:\n    type: retarus\n    region: de\n    password_env: RETARUS_PW\n"
        "folders: [{path: out}]\n"
    )
    assert {p.message for p in problems(path)} == {
        "missing 'customer_number'.",
        "missing 'username'.",
    }


def test_several_providers_need_a_default(write_config: WriteConfig) -> None:
    text = RETARUS.format(
        customer="1",
        extra="    region: de\n  docs:\n    type: generic-docs\n    api_key_env: DOCS_KEY\n",
    )
    assert only_problem(write_config(text)).path == "defaults.provider"
    chosen = load(write_config(text + "defaults:\n  provider: rx\n"))
    assert chosen.default_provider == "rx"
    assert chosen.folders[0].provider == "rx"


def test_naming_an_unconfigured_provider_is_a_problem(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL + "    provider: retarus\n")
    problem = only_problem(path)
    assert (problem.path, problem.line) == ("folders[0].provider", 7)
    assert "not configured" in problem.message


def test_a_broken_provider_is_not_reported_again_as_unknown(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL + "    provider: docs\n")
    assert only_problem(path, {}).path == "providers.docs.api_key_env"


# --- numbers, regions, contacts ---------------------------------------------------------


def test_numbers_are_stored_in_e164(write_config: WriteConfig) -> None:
    settings = load(
        write_config(
            MINIMAL
            + """\
    to: "08-123 456 78, +46 8 123 456 79; Acme AB"
    sender: +4612345678
contacts:
  Acme AB: 08 123 456 70
  "Smith, Jane": "+46812345671"
"""
        )
    )
    folder = settings.folders[0]
    assert folder.to == ("+46812345678", "+46812345679", "Acme AB")
    assert folder.sender == "+4612345678"  # unquoted: YAML's int, read back as written
    assert settings.contacts == {"Acme AB": "+46812345670", "Smith, Jane": "+46812345671"}


def test_a_contact_name_with_a_separator_is_matched_whole(write_config: WriteConfig) -> None:
    settings = load(
        write_config(
            MINIMAL + '    to: ["Smith, Jane"]\ncontacts:\n  "Smith, Jane": "+46812345671"\n'
        )
    )
    assert settings.folders[0].to == ("Smith, Jane",)


def test_an_invalid_number_names_itself_and_the_region(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + '    to: ["+46812345678", "12345"]\n'))
    assert (problem.path, problem.line) == ("folders[0].to[1]", 7)
    assert "'12345'" in problem.message
    assert "region SE" in problem.message


def test_a_folder_region_applies_to_its_own_numbers(write_config: WriteConfig) -> None:
    text = MINIMAL + '    region: DE\n    to: "030 1234567"\ndefaults:\n  sender: "08 123 456 78"\n'
    folder = load(write_config(text)).folders[0]
    assert folder.to == ("+49301234567",)
    assert folder.sender == "+46812345678"  # written under defaults: read with SE


def test_the_norway_region_survives_yaml(write_config: WriteConfig) -> None:
    settings = load(write_config(MINIMAL + "defaults:\n  region: NO\n"))
    assert settings.region == "NO"


def test_an_unknown_region_is_a_problem(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "defaults:\n  region: XX\n"))
    assert problem.path == "defaults.region"


def test_region_is_case_insensitive(write_config: WriteConfig) -> None:
    assert load(write_config(MINIMAL + "defaults:\n  region: de\n")).region == "DE"


# --- folders ----------------------------------------------------------------------------


def test_folder_defaults(write_config: WriteConfig, tmp_path: Path) -> None:
    folder = load(write_config(MINIMAL)).folders[0]
    assert folder.path == tmp_path / "out"  # relative to the config file's folder
    assert folder.sent_dir == tmp_path / "out" / "sent"
    assert folder.failed_dir == tmp_path / "out" / "failed"
    assert (folder.dft, folder.watch, folder.max_attempts) == ("prefer", "auto", 8)
    assert (folder.settle, folder.sidecar_wait, folder.rescan_interval) == (1.0, 10.0, 300.0)
    assert (folder.give_up_after, folder.status_timeout) == (86400.0, 86400.0)
    assert folder.sender is None
    assert folder.to == ()


def test_a_folders_own_value_wins_over_defaults(write_config: WriteConfig) -> None:
    text = (
        MINIMAL
        + "    settle: 3\n    retarus: {resolution: low}\n  - path: other\n"
        + "defaults:\n  settle: 2\n  max_attempts: 3\n"
        + "  sent_dir: /srv/sent\n  failed_dir: /srv/failed\n"
        + "  retarus: {resolution: HIGH, header: ACME, express: true}\n"
    )
    own, inherited = load(write_config(text)).folders
    assert (own.settle, inherited.settle) == (3.0, 2.0)
    assert own.max_attempts == inherited.max_attempts == 3
    # A sent_dir from defaults shared by two folders: a subfolder each, named after it.
    assert (own.sent_dir, inherited.sent_dir) == (Path("/srv/sent/out"), Path("/srv/sent/other"))
    assert own.retarus.resolution == "LOW"
    assert own.retarus.header == "ACME"  # retarus keys merge one by one
    assert inherited.retarus.resolution == "HIGH"
    assert inherited.retarus.express is True


def test_retarus_recipient_properties_merge_name_by_name(write_config: WriteConfig) -> None:
    text = (
        MINIMAL
        + "    retarus: {recipient_properties: {ToName: Acme AB}}\n"
        + "defaults:\n  retarus: {recipient_properties: {FromName: Office, ToName: '?'}}\n"
    )
    [folder] = load(write_config(text)).folders
    assert folder.retarus.recipient_properties == {"FromName": "Office", "ToName": "Acme AB"}


def test_home_and_variables_are_expanded_in_paths(write_config: WriteConfig) -> None:
    text = MINIMAL.replace("path: out", "path: ~/fax/out") + "state_dir: ${SPOOL}/../state\n"
    settings = load(write_config(text), {**ENV, "SPOOL": "/srv/spool"})
    assert settings.folders[0].path == Path("/home/fax/fax/out")
    assert settings.state_dir == Path("/srv/state")


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("90", 90.0),
        ("1.5", 1.5),
        ('"90s"', 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
    ],
)
def test_durations(write_config: WriteConfig, written: str, seconds: float) -> None:
    folder = load(write_config(MINIMAL + f"    status_timeout: {written}\n")).folders[0]
    assert folder.status_timeout == seconds


@pytest.mark.parametrize("written", ["-1", "true", "soon", "5 minutes", ".inf", "[1]"])
def test_bad_durations(write_config: WriteConfig, written: str) -> None:
    problem = only_problem(write_config(MINIMAL + f"    settle: {written}\n"))
    assert problem.path == "folders[0].settle"


def test_intervals_must_be_more_than_zero(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "    rescan_interval: 0\n"))
    assert problem.message == "must be more than 0 seconds."
    load(write_config(MINIMAL + "    settle: 0\n"))  # settle 0 is allowed


@pytest.mark.parametrize(
    ("written", "mode"),
    [("never", "never"), ("no", "never"), ("PREFER", "prefer"), ("true", "prefer")],
)
def test_dft_accepts_yaml_booleans(write_config: WriteConfig, written: str, mode: str) -> None:
    assert load(write_config(MINIMAL + f"    dft: {written}\n")).folders[0].dft == mode


def test_concurrency_only_under_defaults(write_config: WriteConfig) -> None:
    assert load(write_config(MINIMAL + "defaults:\n  concurrency: 2\n")).concurrency == 2
    problem = only_problem(write_config(MINIMAL + "    concurrency: 2\n"))
    assert problem.message.startswith("unknown key 'concurrency'")


def test_concurrency_is_bounded_with_a_reason(write_config: WriteConfig) -> None:
    top = load(write_config(MINIMAL + "defaults:\n  concurrency: 64\n"))
    assert top.concurrency == 64
    problem = only_problem(write_config(MINIMAL + "defaults:\n  concurrency: 5000\n"))
    assert problem.message.startswith("must be at most 64, not 5000 (uploads in flight")
    zero = only_problem(write_config(MINIMAL + "defaults:\n  concurrency: 0\n"))
    assert "at least 1" in zero.message


def test_max_attempts_is_a_positive_whole_number(write_config: WriteConfig) -> None:
    assert "at least 1" in only_problem(write_config(MINIMAL + "    max_attempts: 0\n")).message
    assert "whole number" in only_problem(write_config(MINIMAL + "    max_attempts: 2.5\n")).message


def test_a_folder_needs_a_path(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "  - watch: poll\n"))
    assert (problem.path, problem.line) == ("folders[1]", 7)


def test_retarus_options_are_checked(write_config: WriteConfig) -> None:
    found = problems(
        write_config(MINIMAL + "    retarus: {resolution: ultra, express: maybe, colour: red}\n")
    )
    assert {p.path for p in found} == {
        "folders[0].retarus.resolution",
        "folders[0].retarus.express",
        "folders[0].retarus.colour",
    }


# --- overlapping folders ----------------------------------------------------------------


def test_the_same_folder_twice(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "  - path: ./out/\n"))
    assert (problem.path, problem.line) == ("folders[1].path", 7)
    assert "same folder as folders[0]" in problem.message


def test_nested_folders(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "  - path: out/sub\n"))
    assert problem.path == "folders[1].path"
    assert "nested" in problem.message


def test_the_same_folder_under_another_name_is_refused(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    """A link to a spool folder listed beside it was watched as a second folder, and each
    document in it was taken, sent and filed twice."""
    (tmp_path / "out" / "sub").mkdir(parents=True)
    (tmp_path / "scanner").symlink_to(tmp_path / "out")
    problem = only_problem(write_config(MINIMAL + "  - path: scanner\n"))
    assert (problem.path, problem.line) == ("folders[1].path", 7)
    assert "same folder as folders[0]" in problem.message and "another name" in problem.message
    # A link to a folder inside another one is nested, however it is written.
    (tmp_path / "deep").symlink_to(tmp_path / "out" / "sub")
    assert "nested" in only_problem(write_config(MINIMAL + "  - path: deep\n")).message


def test_an_archive_that_leads_into_a_spool_folder_through_a_link(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    (tmp_path / "out" / "kept").mkdir(parents=True)
    (tmp_path / "filed").symlink_to(tmp_path / "out" / "kept")
    text = MINIMAL + "  - path: scan\n    sent_dir: filed\n"
    problem = only_problem(write_config(text))
    assert problem.path == "folders[1].sent_dir"
    assert "overlaps spool folder folders[0]" in problem.message


def test_a_bind_mount_of_a_spool_folder_is_the_same_folder(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root")
    (tmp_path / "out").mkdir()
    (tmp_path / "mirror").mkdir()
    subprocess.run(["mount", "--bind", str(tmp_path / "out"), str(tmp_path / "mirror")], check=True)
    try:
        problem = only_problem(write_config(MINIMAL + "  - path: mirror\n"))
        assert "another name" in problem.message
    finally:
        subprocess.run(["umount", str(tmp_path / "mirror")], check=True)


def test_an_archive_inside_another_spool_folder(write_config: WriteConfig) -> None:
    text = MINIMAL + "  - path: scan\n    sent_dir: out/scan-sent\n"
    problem = only_problem(write_config(text))
    assert (problem.path, problem.line) == ("folders[1].sent_dir", 8)
    assert "overlaps spool folder folders[0]" in problem.message


def test_a_folders_own_archive_inside_it_is_fine(write_config: WriteConfig) -> None:
    load(write_config(MINIMAL + "    sent_dir: out/archive/ok\n"))


def test_a_spool_inside_its_own_archive_is_refused(write_config: WriteConfig) -> None:
    assert "overlaps" in only_problem(write_config(MINIMAL + "    sent_dir: .\n")).message


def test_sent_and_failed_must_differ(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "    sent_dir: /a\n    failed_dir: /a\n"))
    assert (problem.path, problem.line) == ("folders[0].failed_dir", 8)


def test_inbox_and_state_inside_a_spool_folder(write_config: WriteConfig) -> None:
    text = (
        MINIMAL
        + "state_dir: out/state\ninbox:\n  path: out/inbox\n  routes:\n    '+4612345679': out/x\n"
    )
    assert {p.path for p in problems(write_config(text))} == {
        "state_dir",
        "inbox.path",
        "inbox.routes",
    }


# --- inbox ------------------------------------------------------------------------------


def test_inbox(write_config: WriteConfig, tmp_path: Path) -> None:
    text = MINIMAL + (
        "inbox:\n  path: in\n  lookback: 2h\n  numbers: '+4612345670'\n"
        "  routes: {+4612345679: in/support}\n  delete_after_download: true\n"
    )
    inbox = load(write_config(text)).inbox
    assert inbox is not None
    assert inbox.provider == "docs"
    assert inbox.path == tmp_path / "in"
    assert inbox.lookback == 7200.0
    assert inbox.poll_interval == 60.0
    assert inbox.numbers == ("+4612345670",)
    assert inbox.routes == {"+4612345679": tmp_path / "in" / "support"}
    assert inbox.delete_after_download is True


def test_inbox_needs_a_generic_docs_provider(write_config: WriteConfig) -> None:
    text = RETARUS.format(customer="1", extra="    region: de\n") + "inbox:\n  path: in\n"
    assert "missing 'provider'" in only_problem(write_config(text)).message
    problem = only_problem(write_config(text + "  provider: rx\n"))
    assert (problem.path, problem.line) == ("inbox.provider", 12)
    assert "no inbound API" in problem.message


def test_inbox_routes_must_be_our_numbers(write_config: WriteConfig) -> None:
    text = MINIMAL + "inbox:\n  path: in\n  routes:\n    '0-abc': in/x\n"
    assert only_problem(write_config(text)).path == 'inbox.routes["0-abc"]'


def test_retarus_data_center_is_the_key_and_region_its_old_name(
    write_config: WriteConfig,
) -> None:
    settings = load(retarus(write_config, "    data_center: ch\n"))
    rx = settings.providers["rx"]
    assert isinstance(rx, RetarusProviderSettings)
    assert (rx.submit_url, rx.datacenter_urls) == RETARUS_REGIONS["ch"]
    assert settings.warnings == ()
    old = load(retarus(write_config, "    region: ch\n"))
    assert old.providers["rx"] == rx
    assert len(old.warnings) == 1 and "data_center" in old.warnings[0]
    both = problems(retarus(write_config, "    data_center: ch\n    region: ch\n"))
    assert any("only data_center" in p.message for p in both)


def test_one_run_names_file_problems_and_machine_problems_together(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder's parent should be")
    text = MINIMAL.replace("  - path: out", f"  - path: {blocker}/out") + "bogus_key: 1\n"
    found = problems(write_config(text))
    messages = " ".join(p.message for p in found)
    assert "bogus_key" in messages
    assert str(blocker) in messages


def test_a_contact_named_as_another_number_is_refused(write_config: WriteConfig) -> None:
    # A document addressed to 08-123 456 79 would have gone to the contact's number.
    text = MINIMAL + 'contacts:\n  0812345679: "+46855500001"\n  "08 123 456 78": "+46812345678"\n'
    problem = only_problem(write_config(text))
    assert "'0812345679' is itself the phone number +46812345679" in problem.message
    assert "give the contact a name that is not a number" in problem.message
