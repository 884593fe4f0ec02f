"""The node tree both the configuration file and sidecars are read into."""

from __future__ import annotations

from faxd.config import values as v
from faxd.config.yaml_tree import FILE, Problems, parse_tree


def test_values_keep_the_text_as_written() -> None:
    problems = Problems()
    root = parse_tree("to: +4612345678\ncountry: NO\nday: 2026-02-30\n", problems)
    assert root is not None and not problems
    assert [root.value[k].text for k in ("to", "country", "day")] == [
        "+4612345678",
        "NO",
        "2026-02-30",  # looks like a date, is none: text, not a ValueError
    ]


def test_nested_aliases_are_refused_before_they_expand() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{new}: &{new} [{', '.join([f'*{old}'] * 10)}]\n"
        for old, new in zip("abcdefgh", "bcdefghi", strict=True)
    )
    problems = Problems()
    assert parse_tree(text, problems) is None
    [problem] = problems.items
    assert problem.path == FILE and "aliases" in problem.message


def test_a_few_shared_aliases_are_fine() -> None:
    problems = Problems()
    root = parse_tree("base: &b {settle: 1}\na: *b\nb: *b\n", problems)
    assert root is not None and not problems


def test_an_empty_text_gets_the_callers_message() -> None:
    problems = Problems()
    assert parse_tree("# nothing\n", problems, empty="the sidecar is empty.") is None
    assert [p.message for p in problems.items] == ["the sidecar is empty."]


def test_a_mistyped_choice_gets_a_suggestion() -> None:
    problems = Problems()
    root = parse_tree("resolution: hgih\nlevel: loud\n", problems)
    assert root is not None
    assert v.choice(root.value["resolution"], ("HIGH", "LOW"), problems) is None
    assert v.choice(root.value["level"], ("debug", "info"), problems) is None
    assert [p.message for p in problems.items] == [
        "'hgih' is not one of HIGH | LOW — did you mean 'HIGH'?",
        "'loud' is not one of debug | info.",
    ]
