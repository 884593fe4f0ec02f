"""DFT first (SPEC 1.4): whether to ask about Direct File Transfer, and whether to use it."""

from __future__ import annotations


def should_check_dft(provider_supports_dft: bool, allowed: bool) -> bool:
    return provider_supports_dft and allowed


def use_dft(provider_supports_dft: bool, allowed: bool, capable: bool | None) -> bool:
    """DFT only when the provider has it, the folder or sidecar allows it, and the
    recipient said it takes it; everything else is faxed."""
    return provider_supports_dft and allowed and bool(capable)
