"""What the office can do about a transmission the provider reports failed.

The provider's status word decides the first advice where it says something specific
(Retarus's codes: busy, wrong number, block list, rendering); the id to quote to the
provider's support always closes it."""

from __future__ import annotations

from collections.abc import Iterable

# Retarus status codes (and their group), from the provider notes; Generic DOCS only says
# "Failed", which gets the general advice.
_LINE = "The line was busy, did not answer or broke off: send it again later ({again})."
_NUMBER = (
    "No fax machine took the call: check the number with the recipient before sending it again."
)
_BLOCKED = (
    "The number is on a do-not-fax list (Robinson, ECOFAX or the provider's own): ask the"
    " recipient for another number or way to send it."
)
_DOCUMENT = (
    "The provider could not turn the document into fax pages: save it again as a plain"
    " PDF (not password-protected) and send it again."
)
_CANCELLED = "It was cancelled at the provider (in its portal); send it again if still wanted."
_GENERAL = (
    "Check the number with the recipient, then send it again later ({again}); if it fails again"
)


def _group(advice: str, words: Iterable[str]) -> dict[str, str]:
    return dict.fromkeys(words, advice)


_ADVICE: dict[str, str] = {
    **_group(
        _LINE,
        (
            "BUSY",
            "RING_TO",
            "NOFAX_TO",
            "NO_TRAIN",
            "DIAL_GF",
            "FANS_GF",
            "BAD_LINES",
            "COMERROR",
            "PAGE_SEND_ERR",
            "PAGE_SEND_ERROR",
            "EOD_FAILED",
            "REM_DIS",
            "WOUT_TO",
        ),
    ),
    **_group(
        _NUMBER,
        ("NOFAX", "NOFAX_DIS", "WRONG_NO", "DIAL_NC", "CHANGED_NO", "NO_REMOTEINFO"),
    ),
    **_group(_BLOCKED, ("BLACKLIST", "PBLACKLIST")),
    **_group(
        _DOCUMENT, ("RENDERING_ERROR", "MISSING_FAX_FILE", "UNKNOWN_FAX_FILE", "TIFF_PAGE_ERR")
    ),
    "CANCELLED": _CANCELLED,
}


def failure_advice(
    status: str | None, provider: str, remote_id: str | None, *, again: str = "faxd retry"
) -> str:
    """One or two sentences for a failed transmission's report: what to try, and whom to
    ask with which id. `provider` names the service ("Retarus", "Generic DOCS"); `again`
    the command that sends it again (`faxd send` for a document that came from it)."""
    quote = f" quoting id {remote_id}" if remote_id else ""
    specific = _ADVICE.get((status or "").strip().upper())
    if specific is None:
        return f"{_GENERAL.format(again=again)}, contact {provider} support{quote}."
    specific = specific.format(again=again)
    return f"{specific} If that does not help, contact {provider} support{quote}."


def failure_text(
    status: str,
    reason: str | None,
    provider: str,
    remote_id: str | None,
    *,
    again: str = "faxd retry",
) -> str:
    """The error recorded for a transmission the provider reports failed: its own words,
    then `failure_advice`."""
    said = (reason or "").strip()
    if not said or said.upper() == status.strip().upper():
        said = f"{provider} reports '{status}'"
    elif status.strip() and status.strip().upper() not in said.upper():
        said = f"{said} ({status.strip()})"
    if not said.endswith((".", "!", "?")):
        said += "."
    return f"{said} {failure_advice(status, provider, remote_id, again=again)}"
