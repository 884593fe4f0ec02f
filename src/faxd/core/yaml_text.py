"""YAML text for the files faxd writes (reports, inbox metadata): PyYAML's C emitter when
the installed PyYAML has it. The pure-Python emitter costs about 1 ms for a small mapping,
which was a sixth of the CPU of saving one received document; both emit the same text."""

from __future__ import annotations

from typing import Any

import yaml

_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: Any) -> str:
    """Block style, keys in the order given, non-ASCII text kept readable."""
    try:
        return _dump(data, _DUMPER)
    except UnicodeEncodeError:
        # A file name that is not valid UTF-8 holds lone surrogates: the C emitter cannot
        # encode them, the Python one writes them as "\udcXX" escapes.
        return _dump(data, yaml.SafeDumper)


def _dump(data: Any, dumper: Any) -> str:
    text: str = yaml.dump(
        data, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return text
