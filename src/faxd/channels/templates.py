"""Subjects and texts of notices, deliveries and alerts: Jinja2 templates rendered in a
sandboxed environment (a template the admin writes cannot reach Python internals), the
built-in ones below unless the admin's `templates:` folder has a file of the same name
(`notice.txt`, `notice.subject`, `delivery.txt`, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

KINDS = ("notice", "delivery", "alert", "test")
NAMES = tuple(f"{kind}.{part}" for kind in KINDS for part in ("subject", "txt"))

BUILTIN: dict[str, str] = {
    "notice.subject": (
        "{% if event == 'failed' %}Fax NOT sent: {{ document }}"
        "{% elif event == 'delivered' %}Fax sent: {{ document }}"
        "{% elif event == 'delayed' %}Fax not sent yet: {{ document }}"
        "{% elif event == 'held' %}Fax held for approval: {{ document }}"
        "{% else %}Fax will be tried again: {{ document }}{% endif %}"
        "{% if numbers %} to {{ numbers | join(', ') }}{% endif %}"
    ),
    "notice.txt": """\
{% if event == 'failed' -%}
The fax "{{ document }}" could NOT be sent.
{%- elif event == 'delivered' -%}
The fax "{{ document }}" was sent.
{%- elif event == 'delayed' -%}
The fax "{{ document }}" has not gone out yet ({{ waited }} since it was handed in).
faxd keeps trying.
{%- elif event == 'held' -%}
The fax "{{ document }}" is held and waits for approval before it is sent.
{%- else -%}
The fax "{{ document }}" did not go through this time; faxd will try again.
{%- endif %}

{% for r in recipients -%}
  To {{ r.number }}: {{ r.result }}{% if r.error %} ({{ r.error }}){% endif %}
{% endfor %}
{%- if advice %}
What to do: {{ advice }}
{% endif %}
{%- if filed %}
The document is kept in {{ filed }}.
{%- endif %}
{%- if attached %}
Attached: {{ attached | join(', ') }}.
{%- endif %}

-- faxd, the office fax{% if reference %} (reference {{ reference }}){% endif %}
""",
    "delivery.subject": "Fax received from {{ sender or 'an unknown sender' }} for {{ number }}",
    "delivery.txt": """\
A fax arrived for {{ number }} from {{ sender or 'an unknown sender' }}
{%- if pages %}, {{ pages }} page(s){% endif %}.

{% if attached -%}
It is attached to this mail and also saved as {{ path }}.
{%- else -%}
It is saved as {{ path }}.
{%- endif %}

-- faxd, the office fax
""",
    "alert.subject": "faxd needs attention: {{ title }}",
    "alert.txt": """\
{{ text }}

What to do: {{ advice }}

-- faxd on {{ host }}
""",
    "test.subject": "faxd test message",
    "test.txt": """\
This is a test message from faxd on {{ host }} through the channel '{{ channel }}'.
If you can read it, the channel works.
""",
}


class TemplateProblem(ValueError):
    """A template that does not parse or render; the message names it and the line."""


class Templates:
    def __init__(self, folder: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if folder is not None:
            loaders.append(jinja2.FileSystemLoader(str(folder)))
        loaders.append(jinja2.DictLoader(BUILTIN))
        self._env = SandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=False,  # plain text mails
            undefined=jinja2.ChainableUndefined,
            keep_trailing_newline=True,
        )
        self.folder = folder

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(**context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(
                f"template {exc.filename or name}, line {exc.lineno}: {exc.message}"
            ) from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(f"template {name}: {exc}") from None
        except Exception as exc:  # a sandboxed template may raise anything from a filter
            raise TemplateProblem(f"template {name}: {exc.__class__.__name__}: {exc}") from None

    def check(self, samples: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Every template parsed and rendered with sample values; problems as sentences."""
        problems = []
        for name in NAMES:
            kind = name.partition(".")[0]
            try:
                self.render(name, samples.get(kind, {}))
            except TemplateProblem as exc:
                problems.append(str(exc))
        return problems
