"""The emulated Retarus Fax-for-Applications REST API v1 (api/retarus-fax4a-v1.md).

Three sites share one port: `ha` (submit here) and the data centers `dc1`, `dc2`. A job
lands in one data center, and its report can be read and deleted only there; report
requests at the HA site answer 404 and are counted, since faxd must never make them.
Errors are always {"code": N, "message": "..."}."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
from typing import Any

from faxd.sandbox.multipart import media_type
from faxd.sandbox.retarus_job import JobInvalid, render, validate_job
from faxd.sandbox.store import RetarusJob, RetarusRecipient, SandboxState
from faxd.sandbox.wire import JsonBodyError, Request, Response, json_body, json_response

SITES = ("ha", "dc1", "dc2")
DATACENTERS = ("dc1", "dc2")
BULK_LIMIT = 1000
LIST_LIMIT = 1000
_JOB_ID_CHARS = string.ascii_uppercase + string.digits


def error(code: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return json_response(code, {"code": code, "message": message}, headers)


def route(method: str, path: str) -> tuple[str | None, str | None, str | None, Response | None]:
    """(endpoint, custNr, jobId, None) or (None, None, None, error) for `{custNr}/fax…`."""
    parts = [p for p in path.split("/") if p]
    allowed: tuple[str, ...]
    if len(parts) == 2 and parts[1] == "fax":
        endpoint, allowed, job_id = "submit", ("POST",), None
    elif len(parts) == 3 and parts[1:] == ["fax", "reports"]:
        endpoint, allowed, job_id = "reports", ("GET", "DELETE", "POST"), None
    elif len(parts) == 4 and parts[1:3] == ["fax", "reports"]:
        endpoint, allowed, job_id = "report", ("GET", "DELETE"), parts[3]
    else:
        return None, None, None, error(404, f"Not found: /{'/'.join(parts)}")
    if method not in allowed:
        return (
            None,
            None,
            None,
            error(405, f"Method {method} is not allowed here.", [("Allow", ", ".join(allowed))]),
        )
    return endpoint, parts[0], job_id, None


def authorized(request: Request, username: str, password: str) -> bool:
    scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = f"{username}:{password}".encode()
    return hmac.compare_digest(decoded, expected)


def unauthorized() -> Response:
    return error(401, "Authentication failed", [("WWW-Authenticate", 'Basic realm="Retarus"')])


def recipients(
    state: SandboxState, endpoint: str, job_id: str | None, request: Request
) -> list[str]:
    """The numbers a request concerns, for fault rules with `match`."""
    if endpoint == "submit":
        try:
            data = json_body(request)
        except JsonBodyError:
            return []
        items = data.get("recipients") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return []
        return [
            item["number"]
            for item in items
            if isinstance(item, dict) and isinstance(item.get("number"), str)
        ]
    if job_id is not None:
        with state.lock:
            job = state.retarus_jobs.get(job_id)
            return [r.number for r in job.recipients] if job else []
    return []


def handle(
    state: SandboxState, site: str, endpoint: str, job_id: str | None, request: Request
) -> Response:
    if endpoint == "submit":
        return _submit(state, site, request)
    if site == "ha":
        # The HA URL only takes jobs; reports live at the data centers.
        return error(404, "Status reports are not available at the HA URL; ask each data center.")
    if endpoint == "report":
        assert job_id is not None
        return _report(state, site, job_id, request.method)
    if request.method == "POST":
        return _bulk(state, site, request)
    if request.method == "GET":
        return _list(state, site)
    return _delete_all(state, site)


def _new_job_id(state: SandboxState) -> str:
    while True:
        job_id = "FJ" + "".join(secrets.choice(_JOB_ID_CHARS) for _ in range(20))
        if job_id not in state.retarus_jobs and job_id not in state.retarus_deleted:
            return job_id


def _place(state: SandboxState, site: str, job_id: str) -> str:
    if site != "ha":
        return site
    if state.scenario.retarus_placement == "hash":
        return DATACENTERS[hashlib.sha256(job_id.encode()).digest()[0] % 2]
    state.retarus_placed += 1
    return DATACENTERS[(state.retarus_placed - 1) % 2]


def _submit(state: SandboxState, site: str, request: Request) -> Response:
    if media_type(request.header("Content-Type")) != "application/json":
        return error(415, "Content-Type must be application/json.")
    try:
        job = validate_job(
            json_body(request), swagger_required=state.scenario.retarus_required == "swagger"
        )
    except JsonBodyError as exc:
        return error(400, f"JSON not processable: {exc}")
    except JobInvalid as exc:
        return error(400, f"Validation of job request failed: '{exc}'")
    pages, renders = render(job.documents)
    custom_id = (job.reference or {}).get("customerDefinedId")
    with state.lock:
        if custom_id is not None and custom_id in state.retarus_customer_ids:
            return error(409, f"Duplicate job: customerDefinedId {custom_id!r} was already used.")
        job_id = _new_job_id(state)
        record = RetarusJob(
            job_id=job_id,
            datacenter=_place(state, site, job_id),
            created=state.now(),
            recipients=[
                RetarusRecipient(
                    number=r.number,
                    properties=r.properties,
                    alternative_numbers=r.alternative_numbers,
                    failure=state.scenario.retarus_failure(r.number)
                    if renders
                    else "RENDERING_ERROR",
                )
                for r in job.recipients
            ],
            pages=pages,
            reference=job.reference,
            customer_defined_id=custom_id,
        )
        state.retarus_jobs[job_id] = record
        if custom_id is not None:
            state.retarus_customer_ids.add(custom_id)
        state.retarus.accepted += 1
        for doc in job.documents:
            if doc.data is not None:
                state.retarus.uploads_by_sha256[hashlib.sha256(doc.data).hexdigest()] += 1
    return json_response(200, {"jobId": job_id})


def _report(state: SandboxState, site: str, job_id: str, method: str) -> Response:
    with state.lock:
        job = state.retarus_jobs.get(job_id)
        if job is None or job.datacenter != site:
            return error(404, f"No status report for job {job_id} in this data center.")
        if method == "GET":
            return json_response(200, job.to_json(state.now(), state.scenario.status_delay))
        _forget(state, job_id)
        return json_response(200, {"jobId": job_id, "deleted": True})


def _forget(state: SandboxState, job_id: str) -> None:
    del state.retarus_jobs[job_id]
    state.retarus_deleted.add(job_id)
    state.retarus.deleted.append(job_id)


def _here(state: SandboxState, site: str) -> list[RetarusJob]:
    jobs = [job for job in state.retarus_jobs.values() if job.datacenter == site]
    return sorted(jobs, key=lambda job: job.created)


def _list(state: SandboxState, site: str) -> Response:
    with state.lock:
        now, delay = state.now(), state.scenario.status_delay
        reports = [job.to_json(now, delay) for job in _here(state, site)[:LIST_LIMIT]]
    return json_response(200, {"reports": reports})


def _delete_all(state: SandboxState, site: str) -> Response:
    with state.lock:
        now, delay = state.now(), state.scenario.status_delay
        done = [job for job in _here(state, site) if job.final(now, delay)][:LIST_LIMIT]
        for job in done:
            _forget(state, job.job_id)
    return json_response(200, {"reports": [{"jobId": j.job_id, "deleted": True} for j in done]})


def _bulk(state: SandboxState, site: str, request: Request) -> Response:
    if media_type(request.header("Content-Type")) != "application/json":
        return error(415, "Content-Type must be application/json.")
    try:
        data = json_body(request)
    except JsonBodyError as exc:
        return error(400, f"JSON not processable: {exc}")
    if not isinstance(data, dict) or set(data) - {"action", "jobIds"}:
        return error(400, 'The body must be {"action": "GET"|"DELETE", "jobIds": [...]}.')
    action = data.get("action")
    job_ids = data.get("jobIds")
    if not isinstance(action, str) or action.upper() not in ("GET", "DELETE"):
        return error(400, "action must be GET or DELETE.")
    if not isinstance(job_ids, list) or not all(isinstance(j, str) for j in job_ids):
        return error(400, "jobIds must be a list of job ids.")
    if len(job_ids) > BULK_LIMIT:
        return error(400, f"At most {BULK_LIMIT} jobIds per request, got {len(job_ids)}.")
    reports: list[dict[str, Any]] = []
    with state.lock:
        now, delay = state.now(), state.scenario.status_delay
        for job_id in job_ids:
            job = state.retarus_jobs.get(job_id)
            here = job is not None and job.datacenter == site
            if action.upper() == "GET":
                if here and job is not None:
                    reports.append(job.to_json(now, delay))
            elif here:
                _forget(state, job_id)
                reports.append({"jobId": job_id, "deleted": True})
            else:
                reports.append({"jobId": job_id, "deleted": False, "reason": "NOT_FOUND"})
    return json_response(200, {"reports": reports})
