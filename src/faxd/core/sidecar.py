"""Sidecar files (`NAME.yaml` or `NAME.yml` beside document `NAME`): what one says, and
the pure rules around it. Parsing and checking the file is faxd.config.sidecar's job."""

from __future__ import annotations

from dataclasses import dataclass

from faxd.settings import RetarusOptions

MAX_RECIPIENTS = 10
_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Sidecar:
    to: tuple[str, ...]  # as written (numbers or contact names); 1..10
    sender: str | None  # the `from` key, as written
    dft: bool | None
    attach: tuple[str, ...]  # file names in the same folder; at most 4
    reference: str | None
    provider: str | None
    retarus: RetarusOptions | None
    source: str = ""  # the sidecar's own file name, for messages and reports
    notify: tuple[str, ...] = ()  # extra targets told of `failed` and `delivered`
    owner: str | None = None  # who handed it in (the CUPS backend writes the job's user)


def sidecar_names(document_name: str) -> tuple[str, str]:
    """The two names a sidecar of `document_name` may have, preferred first."""
    return (f"{document_name}.yaml", f"{document_name}.yml")


def document_of(sidecar_name: str) -> str | None:
    """The document a sidecar belongs to ("a.pdf.yaml" -> "a.pdf"); None if not a sidecar."""
    for suffix in _SUFFIXES:
        if sidecar_name.endswith(suffix) and len(sidecar_name) > len(suffix):
            return sidecar_name[: -len(suffix)]
    return None
