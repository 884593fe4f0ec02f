"""DFT first: whether to ask about Direct File Transfer, and whether to use it."""

from __future__ import annotations


def should_check_dft(provider_supports_dft: bool, allowed: bool) -> bool:
    return provider_supports_dft and allowed


def use_dft(provider_supports_dft: bool, allowed: bool, capable: bool | None) -> bool:
    """DFT only when the provider has it, the folder or sidecar allows it, and the
    recipient said it takes it; everything else is faxed."""
    return provider_supports_dft and allowed and bool(capable)


def check_refused_for_every_number(status_code: int | None) -> bool:
    """A refused Direct File Transfer check that no other number would change (credentials,
    a disabled feature, a missing endpoint): it is not asked again until a reload.

    Whatever the refusal, the document is faxed: the check is optional and decides
    nothing but the method (Send itself answers for the credentials)."""
    return status_code in (401, 403, 404, 405)
