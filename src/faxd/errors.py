"""The error tree. Every error carries a message that names what happened and a hint
that says what to do about it; `cli.main` is the only place that turns them into exit
codes, and the daemon turns them into reports and log lines."""

from __future__ import annotations

from dataclasses import dataclass


class FaxdError(Exception):
    """Base of every error faxd raises on purpose."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} {self.hint}"
        return self.message


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in the configuration, at a key path (`folders[1].to`) and a line."""

    path: str
    message: str
    line: int | None = None
    # A fault of the machine that may pass by itself (a file system mounted read-only),
    # not of the configuration: `faxd run` exits 1 for it, which systemd retries.
    passing: bool = False

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        key = f"{self.path}: " if self.path else ""  # the file as a whole has no key
        return f"{where}{key}{self.message}"


class ConfigError(FaxdError):
    """The configuration cannot be used; `problems` lists every reason at once."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{source}: {count} configuration {noun}.",
            "Run 'faxd check-config' to see them all.",
        )
        self.source = source
        self.problems = problems

    @property
    def passing(self) -> bool:
        """Every problem may pass by itself: a start worth trying again."""
        return bool(self.problems) and all(p.passing for p in self.problems)


class UsageError(FaxdError):
    """The command line was wrong (exit code 2)."""


class AlreadyRunningError(FaxdError):
    """Another faxd holds the state directory's lock."""


class HeldByCommandError(AlreadyRunningError):
    """A faxd command (`faxd send` sending by itself, `faxd journal` drawing reports) holds
    the lock for a while: a daemon that finds it so starts again later, unlike one that
    finds another daemon. `command` names it."""

    def __init__(self, message: str, hint: str | None = None, command: str = "") -> None:
        super().__init__(message, hint)
        self.command = command


class AddressError(FaxdError):
    """A document has no valid recipient, or its sidecar is invalid (permanent)."""


class PreflightError(FaxdError):
    """A document would be refused by the provider; no API call was made (permanent)."""


class ProviderError(FaxdError):
    """Base for what a provider call can end in; `status_code` is the HTTP status it
    answered with, None when no answer came."""

    def __init__(self, message: str, hint: str | None = None, status_code: int | None = None):
        super().__init__(message, hint)
        self.status_code = status_code


class RejectedError(ProviderError):
    """The provider refused the request for good (400/404/415, validation)."""


class AuthError(ProviderError):
    """401/403: every later job to this provider would fail too, so its queue pauses."""


class EndpointError(ProviderError):
    """The provider's address answers as if the API were not there (404/405, a redirect)
    where faxd's request must exist: a configuration problem, so its queue pauses."""


class AskAgainError(ProviderError):
    """Base of the answers that call for another request later, not before `retry_after`
    (the provider's Retry-After) when it said one."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, hint, status_code)
        self.retry_after = retry_after


class TransientError(AskAgainError):
    """429, 5xx, timeouts, refused connections: the request did not take effect; retry."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(message, hint, retry_after, status_code)
        # A 429 throttles the whole account, not one request: the provider pauses.
        self.throttled = throttled


class OutcomeUnknownError(AskAgainError):
    """The request may have been accepted (the connection died after it was sent, or an
    error status came back that a gateway may give after the service acted on it).

    Never answered by uploading again: the provider must be asked first."""


class AmbiguousOutcomeError(ProviderError):
    """An outcome lookup found several uploads that could each be the lost one, and nothing
    that tells them apart: crediting one could name another document's fax, uploading
    again could fax it twice."""
