"""How long a provider may keep trying a transmission faxd will stop waiting for."""

from __future__ import annotations

# Room between the provider's last chance and faxd giving up, so that faxd's status
# polls (at most a minute apart) see the provider's own final answer first.
GIVE_UP_MARGIN = 15 * 60.0


def transmit_by(start: float, status_timeout: float) -> float:
    """The latest moment (epoch seconds) a provider may still transmit an upload that
    starts at `start`.

    faxd fails a transmission `status_timeout` seconds after the provider accepted it,
    which is never before `start`; a provider transmitting later would fax a document
    faxd already reported failed, and the office's re-send would duplicate it."""
    margin = min(GIVE_UP_MARGIN, status_timeout / 4)
    return start + status_timeout - margin


def span(seconds: float) -> str:
    """A duration as an office reads it: "45 s", "12 min", "3 h", "2 days"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
