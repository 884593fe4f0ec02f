"""Parse single configuration values: mappings, text, choices, durations, phone numbers,
paths, URLs and secrets. Each parser records a problem and returns None when the value
is unusable, so the loader can go on and report every problem at once."""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import phonenumbers

from faxd.config.host_names import host_problem
from faxd.config.yaml_tree import Node, Problems
from faxd.core.addressing import looks_like_number
from faxd.core.secret_url import MIN_SECRET_LENGTH, shown_url
from faxd.host.setting_files import read_setting_file
from faxd.settings import Secret

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\$))")
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*", re.IGNORECASE)
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHOWN_PATH_PREFIXES = ("/", "~", "$", "./", "../")
SECRET_NAMES = {"api_key": "an API key", "password": "a password"}
MAX_SHOWN = 40  # characters of a wrong value repeated in a message (sidecars are untrusted)


S = TypeVar("S", bound=str)


def shorten(value: str) -> str:
    return value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "…"


def describe(node: Node) -> str:
    """How a wrong value is named in a message (never used for secret keys)."""
    if node.kind == "map":
        return "a mapping"
    if node.kind == "seq":
        return "a list"
    return f"'{shorten(node.text or '')}'"


def mapping(
    node: Node,
    allowed: Sequence[str],
    problems: Problems,
    refused: Mapping[str, str] | None = None,
) -> dict[str, Node]:
    """The node's entries, without null values (an empty key means "use the default").

    Unknown keys are problems, with a suggestion for the likely typo."""
    if node.is_null:
        return {}
    if node.kind != "map":
        problems.add(
            node,
            f"must be a mapping with keys like {', '.join(allowed[:4])}, not {describe(node)}.",
        )
        return {}
    entries: dict[str, Node] = {}
    for key, child in node.value.items():
        if refused and key in refused:
            problems.add(child, refused[key])
        elif key not in allowed:
            guess = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            if guess:
                problems.add(child, f"unknown key '{key}' — did you mean '{guess[0]}'?")
            else:
                problems.add(
                    child, f"unknown key '{key}'; remove it (known here: {', '.join(allowed)})."
                )
        elif not child.is_null:
            entries[key] = child
    return entries


def text(node: Node, problems: Problems) -> str | None:
    """A scalar exactly as written: `NO`, `012345` and `+4612345678` stay text."""
    if node.kind != "scalar" or node.text is None:
        problems.add(node, f"must be a single value, not {describe(node)}.")
        return None
    value = node.text.strip()
    if not value:
        problems.add(node, "must not be empty; remove the key to use the default.")
        return None
    return value


def choice(
    node: Node,
    options: Sequence[S],
    problems: Problems,
    aliases: Mapping[str, S] | None = None,
) -> S | None:
    """One of `options` (matched without case). Generic, so a setting typed as a Literal
    gets a value of that type, and mypy checks the options against it."""
    value = text(node, problems)
    if value is None:
        return None
    folded: dict[str, S] = {option.lower(): option for option in options}
    if aliases:
        folded.update(aliases)
    found = folded.get(value.lower())
    if found is None:
        guess = difflib.get_close_matches(value.lower(), list(folded), n=1, cutoff=0.6)
        mean = f" — did you mean '{folded[guess[0]]}'?" if guess else "."
        problems.add(node, f"'{shorten(value)}' is not one of {' | '.join(options)}{mean}")
    return found


def type_key(node: Node, types: Sequence[str], problems: Problems) -> str | None:
    """The `type:` of a named entry (a provider, a channel): one of `types`, or None with
    the problem recorded."""
    if node.kind != "map":
        problems.add(node, f"must be a mapping with a 'type' key, not {describe(node)}.")
        return None
    type_node = node.value.get("type")
    if type_node is None or type_node.is_null:
        problems.add(node, f"missing 'type': one of {' | '.join(types)}.")
        return None
    return choice(type_node, types, problems)


def boolean(node: Node, problems: Problems) -> bool | None:
    if isinstance(node.value, bool):
        return node.value
    problems.add(node, f"must be true or false, not {describe(node)}.")
    return None


def integer(
    node: Node, problems: Problems, minimum: int, maximum: int | None = None, why: str = ""
) -> int | None:
    """A whole number in [minimum, maximum]; `why` follows the message of one too large."""
    value = node.value
    if node.kind != "scalar" or isinstance(value, bool) or not isinstance(value, int):
        problems.add(node, f"must be a whole number, not {describe(node)}.")
        return None
    if value < minimum:
        problems.add(node, f"must be at least {minimum}, not {value}.")
        return None
    if maximum is not None and value > maximum:
        problems.add(node, f"must be at most {maximum}, not {value}{why}.")
        return None
    return value


def parse_duration(value: object) -> float:
    """Seconds from a number (`90`, `1.5`) or text (`"90s"`, `"5m"`, `"1h30m"`, `"1d"`).

    Raises ValueError for anything else, negative or not finite."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds, not true/false")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value)
    else:
        raise ValueError("a duration is a number of seconds")
    if not math.isfinite(seconds):
        raise ValueError("a duration must be finite")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def _parse_duration_text(value: str) -> float:
    position, total, parts = 0, 0.0, 0
    stripped = value.strip()
    while position < len(stripped):
        match = _DURATION_PART.match(stripped, position)
        if match is None or match.end() == position:
            raise ValueError(f"'{value}' is not a duration")
        number, unit = match.groups()
        if not unit and match.end() < len(stripped):
            raise ValueError(f"'{value}' is not a duration")  # "5 3m": a unit is missing
        total += float(number) * _UNIT_SECONDS[unit.lower()]
        position, parts = match.end(), parts + 1
    if parts == 0:
        raise ValueError(f"'{value}' is not a duration")
    return total


# Longer than any retention, and short enough that every wait, deadline and date faxd
# computes from it stays inside what the clock functions take (about 292 years).
MAX_DURATION = 100 * 365.25 * 86400
MAX_DURATION_TEXT = "100 years"


def duration(
    node: Node,
    problems: Problems,
    *,
    positive: bool = False,
    maximum: tuple[float, str] = (MAX_DURATION, MAX_DURATION_TEXT),
) -> float | None:
    """`maximum`: the most it may be, in seconds and in words."""
    value = node.text if isinstance(node.value, str) else node.value
    try:
        seconds = parse_duration(value)
    except ValueError:
        problems.add(
            node,
            f"must be a duration: seconds (90, 1.5) or text like '90s', '5m', '1h', '1d', "
            f"not {describe(node)}.",
        )
        return None
    if positive and seconds <= 0:
        problems.add(node, "must be more than 0 seconds.")
        return None
    if seconds > maximum[0]:
        problems.add(node, f"must be at most {maximum[1]}, not {describe(node)}.")
        return None
    return seconds


def parse_number(written: str, region: str) -> str:
    """A phone number in E.164, validated with libphonenumber's rules for `region`.

    Raises ValueError with a message that names the number."""
    try:
        number = phonenumbers.parse(written, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(
            f"'{written}' is not a phone number ({exc._msg.rstrip('.')}); write it in E.164 "
            f"like +46812345678, or nationally for region {region}."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            f"'{written}' is not a valid phone number for region {region}; check the digits "
            "or write it in E.164 like +46812345678."
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def contact_name_problem(name: str, number: str, region: str) -> str | None:
    """What is wrong with a contact whose name is itself another valid phone number: a
    document addressed to that number would go to the contact instead."""
    if not looks_like_number(name):
        return None
    try:
        read = parse_number(name.strip(), region)
    except ValueError:
        return None
    if read == number:
        return None  # the number's own name: harmless
    return (
        f"the contact name '{name}' is itself the phone number {read}, so a document"
        f" addressed to {read} would go to this contact's {number}; give the contact a"
        " name that is not a number."
    )


def number(node: Node, region: str, problems: Problems) -> str | None:
    written = text(node, problems)
    if written is None:
        return None
    try:
        return parse_number(written, region)
    except ValueError as exc:
        problems.add(node, str(exc))
        return None


def region_code(node: Node, problems: Problems) -> str | None:
    value = text(node, problems)
    if value is None:
        return None
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        problems.add(
            node,
            f"'{value}' is not an ISO 3166 country code libphonenumber knows (like SE, DE, US).",
        )
        return None
    return value.upper()


def expand_vars(value: str, environ: Mapping[str, str]) -> str:
    """Replace `$VAR` and `${VAR}` from `environ`; `$$` is a literal `$`.

    Raises KeyError naming the first variable that is not set."""

    def replace(match: re.Match[str]) -> str:
        if match.group(3):
            return "$"
        name = match.group(1) or match.group(2)
        if name not in environ:
            raise KeyError(name)
        return environ[name]

    return _VAR.sub(replace, value)


def resolve_path(value: str, base: Path, environ: Mapping[str, str]) -> Path:
    """An absolute, normalised path: `~` expanded, relative to `base` (the config's folder)."""
    if value == "~" or value.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")
        value = home + value[1:]
    elif value.startswith("~"):
        value = os.path.expanduser(value)
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    return Path(os.path.normpath(path))


def _unset_variable(name: str) -> str:
    if name == "CREDENTIALS_DIRECTORY":
        return (
            "uses ${CREDENTIALS_DIRECTORY}, which is not set: systemd sets it for a unit with "
            "LoadCredential=; elsewhere export it or write the full path."
        )
    return f"uses ${{{name}}}, which is not set in faxd's environment; set it or write the value."


def path(node: Node, base: Path, environ: Mapping[str, str], problems: Problems) -> Path | None:
    written = text(node, problems)
    if written is None:
        return None
    try:
        expanded = expand_vars(written, environ)
    except KeyError as exc:
        problems.add(node, _unset_variable(str(exc.args[0])))
        return None
    return resolve_path(expanded, base, environ)


def check_url(value: str) -> str:
    """A provider URL: https, or http only to this machine (the sandbox emulator).

    Raises ValueError; the message shows the URL as `shown_url` does: a webhook's token
    may sit in its path or query."""
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed '[' and the like; it may hold a password: not repeated
        raise ValueError(
            "the URL's host is not a name, an IPv4 address or an IPv6 address in closed "
            "[brackets]; write it like https://host/path or http://[::1]:8080/path."
        ) from None
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "a URL must not carry a user name or password; use the *_file or *_env keys."
        )
    host = (parts.hostname or "").lower()
    shown = shown_url(value)
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"'{shown}' is not an http(s) URL like https://host/path.")
    if (wrong := host_problem(host)) is not None:
        raise ValueError(f"'{shown}' has a host that {wrong}; write it like https://host/path.")
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port == 0:
        written = parts.netloc.rpartition("]")[2].partition(":")[2]
        raise ValueError(
            f"'{shown}' has the port '{written}'; a port is a number from 1 to 65535, or "
            "leave it out for the scheme's own."
        )
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"'{shown}' must use https; plain http is allowed only to 127.0.0.1, localhost "
            "or ::1 (the sandbox)."
        )
    return value.rstrip("/")


def url(node: Node, problems: Problems) -> str | None:
    value = text(node, problems)
    if value is None:
        return None
    try:
        return check_url(value)
    except ValueError as exc:
        problems.add(node, str(exc))
        return None


def secret(
    entries: Mapping[str, Node],
    parent: Node,
    stem: str,
    base: Path,
    environ: Mapping[str, str],
    problems: Problems,
    label: str | None = None,
    *,
    header: bool = True,
) -> tuple[Secret | None, Path | None, str | None]:
    """The credential from `<stem>_file` or `<stem>_env` (exactly one), with its source;
    `label` is what messages call it ("an API key"); `header`: it is sent in an HTTP or
    SMTP header, so only plain ASCII can go.

    Messages name the key and, for a file, the path; never the content, and never the
    variable's name, in case the secret itself was pasted there by mistake."""
    file_key, env_key = f"{stem}_file", f"{stem}_env"
    file_node, env_node = entries.get(file_key), entries.get(env_key)
    if file_node is not None and env_node is not None:
        problems.add(env_node, f"set only one of {file_key} and {env_key}.")
        return None, None, None
    if file_node is not None:
        secret_path = path(file_node, base, environ, problems)
        if secret_path is None:
            return None, None, None
        value = _read_secret_file(file_node, secret_path, base, problems)
        if header:
            value = _plain_ascii(value, file_node, file_key, problems)
        return _long_enough(value, file_node, file_key, problems), secret_path, None
    if env_node is not None:
        value, _, name = _read_secret_env(env_node, env_key, environ, problems)
        if header:
            value = _plain_ascii(value, env_node, env_key, problems)
        return _long_enough(value, env_node, env_key, problems), None, name
    if parent.kind == "map" and stem in parent.value:
        return None, None, None  # written inline: refused already, with what to do instead
    problems.add(
        parent,
        f"missing {file_key} (a file holding {label or SECRET_NAMES.get(stem, stem)}, e.g. "
        f"${{CREDENTIALS_DIRECTORY}}/name) or {env_key} (an environment variable's name).",
    )
    return None, None, None


def shown_path(node: Node, resolved: Path, base: Path) -> str:
    """The credential file's path for a message, unless it might be a pasted secret."""
    if (node.text or "").strip().startswith(_SHOWN_PATH_PREFIXES):
        return str(resolved)
    return f"the file named here (relative to {base})"


def _plain_ascii(value: Secret | None, node: Node, key: str, problems: Problems) -> Secret | None:
    # A dash or quote a web portal turned typographic cannot go into a header: every
    # request would die on it, so it is refused here, where the admin is looking.
    if value is None or value.reveal().isascii():
        return value
    problems.add(
        node,
        f"the credential named by {key} holds a character that is not plain ASCII (a "
        "typographic dash or quote copied from a web page, perhaps); type it again.",
    )
    return None


def _long_enough(value: Secret | None, node: Node, key: str, problems: Problems) -> Secret | None:
    if value is None or len(value.reveal()) >= MIN_SECRET_LENGTH:
        return value
    problems.add(
        node,
        f"the credential named by {key} is shorter than {MIN_SECRET_LENGTH} characters; "
        "check that the whole credential was written.",
    )
    return None


def _read_secret_file(
    node: Node, secret_path: Path, base: Path, problems: Problems
) -> Secret | None:
    shown = shown_path(node, secret_path, base)
    try:
        raw = read_setting_file(secret_path)
    except FileNotFoundError:
        problems.add(node, f"{shown} does not exist; create it or correct the path.")
        return None
    except PermissionError:
        problems.add(node, f"{shown} cannot be read by faxd's user; fix its permissions.")
        return None
    except OSError as exc:
        problems.add(node, f"{shown} cannot be read ({exc.strerror}); correct the path.")
        return None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.add(node, f"{shown} is not UTF-8 text; write the credential as plain text.")
        return None
    if value.endswith("\r\n"):
        value = value[:-2]
    elif value.endswith("\n"):
        value = value[:-1]
    if not value.strip():
        problems.add(node, f"{shown} is empty; write the credential into it.")
        return None
    if not _plain_credential(value):
        # It goes into an HTTP header, where a line break fails every request later.
        problems.add(
            node,
            f"{shown} holds more than the credential (a second line, a control character "
            "or spaces around it); write only the credential, on one line.",
        )
        return None
    return Secret(value)


def _plain_credential(value: str) -> bool:
    return value == value.strip() and not any(ch < " " or ch == "\x7f" for ch in value)


def _read_secret_env(
    node: Node, key: str, environ: Mapping[str, str], problems: Problems
) -> tuple[Secret | None, Path | None, str | None]:
    name = (node.text or "").strip()
    if not _ENV_NAME.match(name):
        problems.add(
            node,
            f"{key} must be the name of an environment variable (letters, digits, _), "
            "not the credential itself.",
        )
        return None, None, None
    value = environ.get(name, "")
    if not value:
        problems.add(
            node,
            f"the environment variable named in {key} is not set or is empty; set it in "
            "faxd's environment (systemd: Environment= or EnvironmentFile=).",
        )
        return None, None, None
    if not _plain_credential(value):
        problems.add(
            node,
            f"the environment variable named in {key} holds more than the credential (a "
            "line break, a control character or spaces around it); set only the credential.",
        )
        return None, None, None
    return Secret(value), None, name
