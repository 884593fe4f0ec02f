"""Sidecars are read with the configuration file's machinery: each problem names its key
and line, unknown keys get a suggestion, and Retarus options read as in the config."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

import pytest

from faxd.config.sidecar import SidecarError, parse_sidecar, parse_sidecar_bytes
from faxd.core.addressing import parse_recipients
from faxd.core.sidecar import Sidecar
from faxd.errors import AddressError
from faxd.settings import RetarusOptions

from .cfg_helpers import MINIMAL, only_problem

SRC = "invoice.pdf.yaml"

FULL = """\
to: "+46 8 123 456 78"
from: "+4612345678"
dft: true
attach: [terms.pdf]
reference: "Invoice 4711"
provider: retarus
retarus:
  coverpage_template: coverpage-default.ftl.html
  recipient_properties: {ToName: Acme AB}
  resolution: high
  paper_format: Letter
  express: false
  blacklist: true
  header: "%C %#"
"""


def problems_of(text: str) -> tuple[str, ...]:
    with pytest.raises(SidecarError) as info:
        parse_sidecar(text, SRC)
    assert info.value.message.startswith(f"{SRC}: ")
    assert info.value.hint and SRC in info.value.hint
    return info.value.problems


def test_full_sidecar() -> None:
    assert parse_sidecar(FULL, SRC) == Sidecar(
        to=("+46 8 123 456 78",),
        sender="+4612345678",
        dft=True,
        attach=("terms.pdf",),
        reference="Invoice 4711",
        provider="retarus",
        retarus=RetarusOptions(
            coverpage_template="coverpage-default.ftl.html",
            recipient_properties={"ToName": "Acme AB"},
            resolution="HIGH",
            paper_format="LETTER",
            express=False,
            blacklist=True,
            header="%C %#",
        ),
        source=SRC,
    )


def test_minimal_sidecar() -> None:
    sidecar = parse_sidecar("to: Acme AB\n", SRC)
    assert sidecar.to == ("Acme AB",)
    assert (sidecar.sender, sidecar.dft, sidecar.attach, sidecar.retarus) == (None, None, (), None)


def test_unquoted_numbers_keep_their_plus_and_leading_zero() -> None:
    sidecar = parse_sidecar("to: +46812345678\nfrom: 0812345678\nreference: 4711\n", SRC)
    assert sidecar.to == ("+46812345678",)
    assert sidecar.sender == "0812345678"
    assert sidecar.reference == "4711"


def test_yaml_1_1_words_and_dates_stay_text() -> None:
    sidecar = parse_sidecar("to: +4612345678\nreference: 2026-11-22\nowner: NO\n", SRC)
    assert (sidecar.to, sidecar.reference, sidecar.owner) == (("+4612345678",), "2026-11-22", "NO")
    assert parse_sidecar("to: x\nreference: 1.5e3\n", SRC).reference == "1.5e3"
    # Looks like a date, is none: text, not a traceback.
    assert parse_sidecar("to: x\nreference: 2026-02-30\n", SRC).reference == "2026-02-30"


def test_recipient_lists_and_separated_strings() -> None:
    assert parse_sidecar("to: [a, '+46 31 123 45 67']", SRC).to == ("a", "+46 31 123 45 67")
    # Kept as written: only the contacts tell "Smith, John" (one contact) from two.
    written = parse_sidecar("to: '+46812345678; +46311234567, Acme AB'", SRC).to
    assert written == ("+46812345678; +46311234567, Acme AB",)
    assert parse_recipients(written, "SE", {"Acme AB": "+46855500001"}) == (
        "+46812345678",
        "+46311234567",
        "+46855500001",
    )


def test_attach_may_be_a_single_name() -> None:
    assert parse_sidecar("to: x\nattach: terms.pdf", SRC).attach == ("terms.pdf",)


def test_a_problem_names_its_line_and_key() -> None:
    with pytest.raises(SidecarError) as info:
        parse_sidecar("to: x\nretarus:\n  resolution: hgih\n", SRC)
    assert info.value.message == (
        f"{SRC}: line 3, retarus.resolution: 'hgih' is not one of HIGH | LOW — did you mean 'HIGH'?"
    )


def test_unknown_key_suggests_the_right_one() -> None:
    problems = problems_of("from: x\ntoo: '+46812345678'\n")
    assert "line 2, too: unknown key 'too' — did you mean 'to'?" in problems
    assert any("'to' is missing" in p for p in problems)


def test_a_duplicate_key_is_refused() -> None:
    # PyYAML alone lets the second 'to' win silently: the fax would go to b.
    assert problems_of("to: a\nfrom: x\nto: b\n") == (
        "line 3, to: key 'to' is given twice (lines 1 and 3); keep one",
    )


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    problems = problems_of("to: x\ndft: maybe\nfrom: [1]\nrefrence: x\nprovider: ''\n")
    assert problems == (
        "line 2, dft: must be true or false, not 'maybe'",
        "line 3, from: must be a single value, not a list",
        "line 4, refrence: unknown key 'refrence' — did you mean 'reference'?",
        "line 5, provider: must not be empty; remove the key to use the default",
    )


def test_sidecar_error_is_an_address_error() -> None:
    with pytest.raises(AddressError, match=r"invoice\.pdf\.yaml: .*'to' is missing"):
        parse_sidecar("dft: true\n", SRC)


# Nine levels of ten aliases: a few hundred bytes that expand to 10**9 values.
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{new}: &{new} [{', '.join([f'*{old}'] * 10)}]\n"
    for old, new in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the sidecar is empty"),
        ("# only a comment\n", "the sidecar is empty"),
        ("- a\n- b\n", "must be a mapping of keys"),
        ("just text", "must be a mapping of keys"),
        ("to: [unclosed\n", "line 2: YAML syntax error"),
        # The YAML reader refuses these before parsing: once an escaping traceback that
        # retried the document, and every document of its folder, forever.
        ("to: x\nreference: a\x1fb\n", "line 2: holds a character YAML does not allow (#x001f)"),
        ("to: x\x00\n", "holds a character YAML does not allow (#x0000)"),
        ("to: x\nreference: \x1b[31m\n", "save it as plain UTF-8 text"),
        ("? [a]\n: b\n", "a key must be a plain value"),
        pytest.param("to: " + "[" * 30_000 + "]" * 30_000, "nested too deeply to read", id="deep"),
        pytest.param("to: &a [*a]\n", "nested too deeply", id="alias-cycle"),
        pytest.param(BOMB, "once its aliases (*name) are expanded", id="billion-laughs"),
        pytest.param("to: x\nreference: '" + "r" * 70_000 + "'\n", "at most 65536", id="huge"),
        ("to:\n", "line 1, to: is empty"),
        ("to: []\n", "line 1, to: is empty"),
        ("to: ' , ; '\n", "line 1, to: is empty"),
        ("to: [{a: 1}]\n", "line 1, to[0]: holds a mapping"),
        ("to: [x, ~]\n", "line 1, to[1]: holds nothing"),
        ("to: x\ndft: 'yes'\n", "line 2, dft: must be true or false, not 'yes'"),
        pytest.param(
            "to: x\nreference: " + "r" * 300,
            "line 2, reference: is 300 characters long, at most 256 allowed",
            id="long-ref",
        ),
        ("to: x\nretarus: A4\n", "line 2, retarus: must be a mapping"),
        ("to: x\nretarus: {resolution: ultra}\n", "retarus.resolution: 'ultra' is not one of"),
        ("to: x\nretarus: {paper: A4}\n", "line 2, retarus.paper: unknown key 'paper'"),
        ("to: x\nretarus: {recipient_properties: [a]}\n", "retarus.recipient_properties:"),
        ("to: x\nretarus: {express: 'no'}\n", "retarus.express: must be true or false"),
        ("to: x\nnotify: [{a: b}]\n", "notify[0]: must be a target like mail:"),
        ("to: x\nowner: " + "o" * 65 + "\n", "owner: is 65 characters long, at most 64"),
    ],
)
def test_invalid_sidecars(text: str, problem: str) -> None:
    problems = problems_of(text)
    assert any(problem in p for p in problems), problems


def test_empty_to_is_reported_beside_other_problems() -> None:
    problems = problems_of("colour: red\nto: ' ; '\n")
    assert len(problems) == 2
    assert problems[1].startswith("line 2, to: is empty")


def test_long_wrong_values_are_shortened_in_messages() -> None:
    (problem,) = problems_of("to: x\ndft: '" + "y" * 500 + "'\n")
    assert problem == "line 2, dft: must be true or false, not '" + "y" * 40 + "…'"


def test_a_sidecar_full_of_problems_shows_the_first_ten() -> None:
    with pytest.raises(SidecarError) as info:
        parse_sidecar("to: [" + ", ".join(["[a]"] * 25) + "]\n", SRC)
    assert len(info.value.problems) == 25
    assert info.value.message.count("holds a list") == 10
    assert info.value.message.endswith("; and 15 more problems.")


def test_more_than_ten_recipients() -> None:
    numbers = ", ".join(f"+4681234560{i}" if i < 10 else f"+468123456{i}" for i in range(11))
    problems = problems_of(f"to: '{numbers}'")
    assert "line 1, to: lists 11 recipients, at most 10 allowed" in problems


@pytest.mark.parametrize(
    ("attach", "problem"),
    [
        ("[../secret.pdf]", "attach[0]: '../secret.pdf' is not a plain file name"),
        ("['sub/terms.pdf']", "is not a plain file name"),
        ("['C:\\\\x.pdf']", "is not a plain file name"),
        ("['..']", "is not a plain file name"),
        ("['']", "attach[0]: is an empty name"),
        ("[invoice.pdf]", "attach[0]: names the document 'invoice.pdf' itself"),
        ("[a.pdf, a.pdf]", "attach[1]: lists 'a.pdf' twice"),
        ("[a, b, c, d, e]", "attach: lists 5 files, at most 4 allowed"),
        ("[[a]]", "attach[0]: holds a list"),
    ],
)
def test_invalid_attachments(attach: str, problem: str) -> None:
    problems = problems_of(f"to: x\nattach: {attach}\n")
    assert any(problem in p for p in problems), problems


def test_four_attachments_are_allowed() -> None:
    assert len(parse_sidecar("to: x\nattach: [a, b, c, d]", SRC).attach) == 4


@pytest.mark.parametrize(
    ("retarus", "key"),
    [
        ("{resolution: hgih}", "resolution"),
        ("{paper_format: A5}", "paper_format"),
        ("{expres: true}", "expres"),
        ("{express: maybe}", "express"),
        ("{recipient_properties: [a]}", "recipient_properties"),
    ],
)
def test_retarus_problems_read_the_same_in_the_config_and_a_sidecar(
    write_config: Callable[[str], Path], retarus: str, key: str
) -> None:
    in_config = only_problem(write_config(MINIMAL + f"    retarus: {retarus}\n"))
    (in_sidecar,) = problems_of(f"to: x\nretarus: {retarus}\n")
    assert in_config.path == f"folders[0].retarus.{key}"
    assert in_sidecar == f"line 2, retarus.{key}: {in_config.message.rstrip('.')}"


@pytest.mark.parametrize(
    "data",
    [
        "to: x\nreference: Räksmörgås\n".encode(),
        "to: x\r\nreference: Räksmörgås\r\n".encode("utf-8-sig"),
        "to: x\nreference: Räksmörgås\n".encode("cp1252"),
        "to: x\r\nreference: Räksmörgås\r\n".encode("utf-16"),  # Notepad's "Unicode"
        codecs.BOM_UTF16_BE + "to: x\nreference: Räksmörgås\n".encode("utf-16-be"),
    ],
)
def test_sidecar_bytes_in_the_encodings_office_editors_write(data: bytes) -> None:
    assert parse_sidecar_bytes(data, SRC).reference == "Räksmörgås"


def test_a_key_two_merged_mappings_both_give_is_not_guessed() -> None:
    # YAML's rule (the first mapping wins) is one few readers know: two numbers, refused.
    problems = problems_of("<<: [{to: '+46812345679'}, {to: '+46812345678'}]\n")
    assert problems == (
        "line 1, to: key 'to' is given by two merged mappings; write it beside the '<<'",
    )
    # A key written beside the merge overrides it, as everyone expects.
    side = parse_sidecar("<<: {to: '+46812345679', reference: R1}\nto: '+46812345678'\n", SRC)
    assert (side.to, side.reference) == (("+46812345678",), "R1")
