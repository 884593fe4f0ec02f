"""No secret ever appears in a ConfigError, its problems, or the effective configuration."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from faxd import config
from faxd.errors import ConfigError
from faxd.settings import DocsProviderSettings

from .cfg_helpers import DOCS_KEY, ENV, MINIMAL, RETARUS_PASSWORD, load, problems

WriteConfig = Callable[[str], Path]
CANARY = "sk_live_Zq81hW0canary"


def all_text(path: Path, environ: dict[str, str]) -> str:
    """Everything a user could see from a failed load: the error and every problem."""
    with pytest.raises(ConfigError) as caught:
        config.load(path, environ)
    error = caught.value
    return "\n".join(
        [
            str(error),
            repr(error),
            *(str(p) for p in error.problems),
            *(repr(p) for p in error.problems),
        ]
    )


def test_render_hides_keys_from_files_and_variables(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    (tmp_path / "pw").write_text(RETARUS_PASSWORD + "\n")
    text = (
        MINIMAL.replace(
            "providers:\n",
            "providers:\n  rx:\n    type: retarus\n    customer_number: 1\n    username: u\n"
            "    region: ch\n    password_file: pw\n",
        )
        + "defaults:\n  provider: docs\n"
    )
    settings = load(write_config(text))
    rendered = config.render_effective(settings)
    assert DOCS_KEY not in rendered
    assert RETARUS_PASSWORD not in rendered
    assert "api_key_env: DOCS_KEY" in rendered  # where it comes from is shown instead
    assert f"password_file: {tmp_path / 'pw'}" in rendered
    assert DOCS_KEY not in repr(settings)


def test_an_inline_key_is_not_repeated(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", f"api_key: {CANARY}"))
    assert CANARY not in all_text(path, ENV)


def test_a_key_pasted_into_api_key_env_is_not_repeated(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", f"api_key_env: {CANARY}"))
    shown = all_text(path, ENV)
    assert CANARY not in shown
    assert "providers.docs.api_key_env" in shown
    dashed = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_env: a-b/c+d=="))
    assert "a-b/c+d==" not in all_text(dashed, ENV)


def test_a_key_pasted_into_api_key_file_is_not_repeated(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", f"api_key_file: {CANARY}"))
    shown = all_text(path, ENV)
    assert CANARY not in shown
    assert "does not exist" in shown


def test_key_file_content_is_never_shown(write_config: WriteConfig, tmp_path: Path) -> None:
    # A key file that is valid but whose provider has other problems.
    (tmp_path / "key").write_text(CANARY)
    path = write_config(
        MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_file: ./key\n    base_url: http://x")
    )
    assert CANARY not in all_text(path, ENV)


def test_credentials_in_a_url_are_not_repeated(write_config: WriteConfig) -> None:
    path = write_config(
        MINIMAL.replace(
            "api_key_env: DOCS_KEY", f"api_key_env: DOCS_KEY\n    base_url: https://u:{CANARY}@h/x"
        )
    )
    found = problems(path)
    assert [p.path for p in found] == ["providers.docs.base_url"]
    assert CANARY not in all_text(path, ENV)


@pytest.mark.parametrize("short", ["a", "abc", "1234567"])
def test_a_credential_shorter_than_8_characters_is_refused(
    write_config: WriteConfig, short: str
) -> None:
    # A one-character key would be masked in every log line that contains the character.
    path = write_config(MINIMAL)
    with pytest.raises(ConfigError) as caught:
        config.load(path, {**ENV, "DOCS_KEY": short})
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "shorter than 8 characters" in text
    assert "api_key_env" in text


@pytest.mark.parametrize(
    "content",
    [CANARY + "\nsecond line\n", CANARY + "\r\n\r\n", " " + CANARY + "\n", CANARY + "\tx"],
)
def test_a_key_file_with_more_than_the_key_is_refused_without_showing_it(
    write_config: WriteConfig, tmp_path: Path, content: str
) -> None:
    # It would go into an HTTP header, where every request would fail a minute later.
    (tmp_path / "key").write_text(content, newline="")
    path = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_file: ./key"))
    found = problems(path)
    assert [p.path for p in found] == ["providers.docs.api_key_file"]
    assert "only the credential, on one line" in found[0].message
    assert CANARY not in all_text(path, ENV)


def test_a_variable_with_a_line_break_is_refused(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL)
    with pytest.raises(ConfigError) as caught:
        config.load(path, {**ENV, "DOCS_KEY": CANARY + "\nmore"})
    assert "line break" in str(caught.value.problems[0])
    assert CANARY not in str(caught.value.problems[0])


def test_a_key_file_ending_in_one_newline_is_fine(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text(CANARY + "\n")
    path = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_file: ./key"))
    provider = load(path).providers["docs"]
    assert isinstance(provider, DocsProviderSettings)
    assert provider.api_key.reveal() == CANARY


@pytest.mark.parametrize("pasted", ["sk_live_Zq81hW0\u2013canary", "sk_live_\u201cZq81hW0canary"])
def test_a_key_with_a_typographic_character_is_refused_without_showing_it(
    write_config: WriteConfig, tmp_path: Path, pasted: str
) -> None:
    # An en dash or smart quote from a portal cannot go into an HTTP header: every upload
    # would die on it, so check-config must say so.
    (tmp_path / "key").write_text(pasted + "\n", encoding="utf-8")
    from_file = write_config(MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_file: ./key"))
    found = problems(from_file)
    assert [p.path for p in found] == ["providers.docs.api_key_file"]
    assert "not plain ASCII" in found[0].message
    assert pasted not in all_text(from_file, ENV)

    from_env = write_config(MINIMAL)
    shown = all_text(from_env, {**ENV, "DOCS_KEY": pasted})
    assert "not plain ASCII" in shown and "api_key_env" in shown
    assert pasted not in shown
