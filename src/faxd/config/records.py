"""The `records:` and `retention:` sections: where the records folder is, and how long
filed documents and daily activity journals are kept."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from faxd.config import values as v
from faxd.config.yaml_tree import Node, Problems
from faxd.settings import RecordsSettings, RetentionSettings

RECORDS_KEYS = ("path", "csv")
CSV_DIALECTS = ("excel", "standard")
RETENTION_KEYS = ("sent", "failed", "inbox", "records")
_LONG = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dwy])\s*$", re.IGNORECASE)
_LONG_UNITS = {"d": 86400.0, "w": 7 * 86400.0, "y": 365 * 86400.0}
_FOREVER = ("forever", "never", "keep")


def keep_for(node: Node, problems: Problems) -> float | None:
    """Seconds from `90d`, `12w`, `6y` (or any duration faxd reads); None: forever."""
    if node.is_null or node.value is False:
        return None
    if isinstance(node.value, str):
        if node.value.strip().lower() in _FOREVER:
            return None
        match = _LONG.match(node.value)
        if match:
            seconds = float(match.group(1)) * _LONG_UNITS[match.group(2).lower()]
            if seconds > v.MAX_DURATION:
                problems.add(node, f"must be at most {v.MAX_DURATION_TEXT}, or `forever`.")
                return None
            if seconds > 0:
                return seconds
    return v.duration(node, problems, positive=True)


def parse_records(
    records: Node | None,
    retention: Node | None,
    base: Path,
    environ: Mapping[str, str],
    problems: Problems,
) -> RecordsSettings:
    path = None
    dialect = "excel"
    if records is not None:
        entries = v.mapping(records, RECORDS_KEYS, problems)
        if "path" in entries:
            path = v.path(entries["path"], base, environ, problems)
        if "csv" in entries:
            dialect = v.choice(entries["csv"], CSV_DIALECTS, problems) or dialect
    keep: dict[str, float | None] = {}
    if retention is not None:
        for key, child in v.mapping(retention, RETENTION_KEYS, problems).items():
            keep[key] = keep_for(child, problems)
    return RecordsSettings(path=path, retention=RetentionSettings(**keep), csv=dialect)
