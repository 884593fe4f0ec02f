"""Which notices, deliveries and alerts an event causes, as outbox rows to commit with the
state change. Pure: no I/O beyond what the caller passes in."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import replace

from faxd.core.job_payload import NoticePlan, NotifyRoute
from faxd.core.notice_plan import notify_options as notify_options  # its callers import it here
from faxd.core.outbox_payload import AlertPayload, DeliveryPayload, NoticePayload
from faxd.core.targets import split_target
from faxd.settings import AlertSettings, InboxSettings, RouteRule
from faxd.store.outbox import NewDelivery

_ATTACH_RANK = {"none": 0, "report": 1, "document": 2}
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def _targets_for(notify: Iterable[NotifyRoute], event: str) -> list[tuple[str, str]]:
    """(target, attach) for an event, each target once (the richest attach wins)."""
    chosen: dict[str, str] = {}
    for rule in notify:
        if event not in rule.on:
            continue
        for target in rule.to:
            attach = rule.attach
            if _ATTACH_RANK.get(attach, 1) > _ATTACH_RANK.get(chosen.get(target, "none"), -1):
                chosen[target] = attach
    return list(chosen.items())


def row_id(*parts: object) -> str:
    """A stable id (Message-ID local part, event id): readable, short, header-safe."""
    text = ".".join(str(p) for p in parts)
    safe = _SAFE.sub("-", text)
    if len(safe) > 100 or safe != text:
        safe = safe[:60] + "." + hashlib.sha256(text.encode()).hexdigest()[:16]
    return safe


def job_notices(
    job_id: str,
    plan: NoticePlan,
    event: str,
    now: float,
    *,
    occasion: str = "",
) -> list[NewDelivery]:
    """The notices a job's event causes. `occasion` tells repeated events apart (the
    transmission and attempt of a `requeued`)."""
    rows = []
    for index, (target, attach) in enumerate(_targets_for(plan.notify, event)):
        rows.append(
            NewDelivery(
                id=row_id("n", job_id, event, *([occasion] if occasion else []), index),
                kind="notice",
                event=event,
                target=target,
                created_at=now,
                subject=job_id,
                payload=NoticePayload(attach=attach),
            )
        )
    return rows


def wants(plan: NoticePlan, event: str) -> bool:
    return bool(_targets_for(plan.notify, event))


def alert_rows(
    alerts: AlertSettings | None,
    event: str,
    key: str,
    now: float,
    *,
    title: str,
    text: str,
    advice: str,
) -> list[NewDelivery]:
    """An alert to the administrator; `key` makes one occurrence one alert."""
    if alerts is None or event not in alerts.on:
        return []
    return [
        NewDelivery(
            id=row_id("a", event, key, index),
            kind="alert",
            event=event,
            target=target,
            created_at=now,
            subject=None,
            payload=AlertPayload(title=title, text=text, advice=advice),
        )
        for index, target in enumerate(alerts.to)
    ]


def inbox_routes(inbox: InboxSettings) -> dict[str, RouteRule]:
    """Every route of the inbox by its number, as one kind: a route written as a folder is
    a rule with that path and no `from` and no `deliver`."""
    return {
        number: inbox.route_rules.get(number) or RouteRule(path=path, deliver=())
        for number, path in inbox.routes.items()
    }


def inbound_deliveries(
    inbox: InboxSettings,
    route: RouteRule | None,
    doc_key: str,
    document: DeliveryPayload,
    now: float,
) -> list[NewDelivery]:
    """The deliveries for a received document: for one a route took (`route`, as the poller
    matched it), that route's `deliver` and nothing else (none for a route written as a
    folder); `inbox.deliver` only for one no route took. Each says `document` with the
    `attach` of the rule that chose it."""
    targets, attach = (
        (route.deliver, route.attach) if route is not None else (inbox.deliver, inbox.attach)
    )
    return [
        NewDelivery(
            id=row_id("d", doc_key, index),
            kind="delivery",
            event="received",
            target=target,
            created_at=now,
            subject=doc_key,
            payload=replace(document, attach=attach),
        )
        for index, target in enumerate(targets)
    ]


def channel_of(target: str) -> str:
    return split_target(target)[0]
