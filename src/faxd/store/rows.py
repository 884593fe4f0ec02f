"""Reading rows from SQLite: frozen dataclasses built from the columns named like their
fields, and IN lists asked a few hundred values at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
V = TypeVar("V")

# Values per IN list: under SQLite's oldest limit of 999 bound values, even used twice.
IN_CHUNK = 400


def row_mapper(cls: type[T], **decode: Callable[[Any], Any]) -> Callable[[sqlite3.Row], T]:
    """A function building `cls` from a row: each field from the column of its name, passed
    through `decode[field]` where given (JSON, enums, stored paths). The fields are looked
    up once here, not per row: the journal maps a year of rows at a time."""
    spec = tuple((f.name, decode.pop(f.name, None)) for f in fields(cls))
    if decode:
        raise TypeError(f"{cls.__name__} has no field {', '.join(decode)}")

    def build(row: sqlite3.Row) -> T:
        return cls(*[row[name] if fn is None else fn(row[name]) for name, fn in spec])

    return build


def in_chunks(values: Sequence[V]) -> Iterator[tuple[list[V], str]]:
    """`values` a few hundred at a time, each chunk with its `?,?,…` for an IN list."""
    for start in range(0, len(values), IN_CHUNK):
        chunk = list(values[start : start + IN_CHUNK])
        yield chunk, ",".join("?" * len(chunk))


def is_text(value: str) -> bool:
    """Whether `value` can be stored as text: an argument with bytes that are not UTF-8
    (surrogate escapes) is no job id, number or name in the journal."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
