"""Who hears of a job: the folder's notify rules and the sidecar's `notify:` targets,
decided when the job is taken and kept in its options. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from faxd.core.job_payload import NoticePlan, NotifyRoute
from faxd.core.sidecar import Sidecar
from faxd.core.targets import TargetError, check_target, fill_owner
from faxd.settings import FolderSettings, NotifyRule

SIDECAR_EVENTS = ("failed", "delivered")


def notify_options(
    rules: Sequence[NotifyRule],
    sidecar_targets: Sequence[str],
    owner: str | None,
    delayed_after: float | None,
) -> NoticePlan:
    """What a job remembers (in its options) about who hears of it: the folder's rules and
    the sidecar's targets, `{owner}` filled in. Targets whose owner is unknown are dropped."""
    plan: list[NotifyRoute] = []
    for rule in rules:
        filled = tuple(t for t in (fill_owner(t, owner) for t in rule.to) if t is not None)
        if filled:
            plan.append(NotifyRoute(tuple(rule.on), filled, rule.attach))
    extra = tuple(t for t in (fill_owner(t, owner) for t in sidecar_targets) if t is not None)
    if extra:
        plan.append(NotifyRoute(SIDECAR_EVENTS, extra, "report"))
    delayed = delayed_after is not None and any("delayed" in p.on for p in plan)
    return NoticePlan(
        notify=tuple(plan),
        owner=owner or None,
        delayed_after=delayed_after if delayed else None,
    )


def sidecar_targets(
    sidecar: Sidecar | None, channel_types: Mapping[str, str], problems: list[str]
) -> list[str]:
    """The sidecar's `notify:` targets; one naming no channel is a problem (the person
    expects that notice)."""
    extra: list[str] = []
    for target in sidecar.notify if sidecar is not None else ():
        try:
            check_target(target, channel_types, owner_allowed=True)
        except TargetError as exc:
            problems.append(f"{sidecar.source if sidecar else 'sidecar'}: notify: {exc}.")
            continue
        extra.append(target)
    return extra


def notice_plan(
    folder: FolderSettings,
    sidecar: Sidecar | None,
    file_owner: str | None,
    channel_types: Mapping[str, str],
    problems: list[str],
) -> NoticePlan:
    """The job's notice plan. The owner is the sidecar's `owner:`, else the Unix user
    owning the document (`file_owner`, looked up by the caller)."""
    extra = sidecar_targets(sidecar, channel_types, problems)
    if not folder.notify and not extra:
        return NoticePlan()
    owner = (sidecar.owner if sidecar is not None else None) or file_owner
    return notify_options(folder.notify, extra, owner, folder.delayed_after)
