from __future__ import annotations

import pytest

from faxd.core.sidecar import (
    Sidecar,
    SidecarError,
    document_of,
    effective_retarus,
    load_text_yaml,
    parse_retarus_options,
    parse_sidecar,
    parse_sidecar_bytes,
    sidecar_names,
)
from faxd.errors import AddressError
from faxd.settings import RetarusOptions

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


def test_dates_stay_text() -> None:
    assert parse_sidecar("to: x\nreference: 2026-11-22\n", SRC).reference == "2026-11-22"
    assert load_text_yaml("a: 1.5e3") == {"a": "1.5e3"}


def test_recipient_lists_and_separated_strings() -> None:
    assert parse_sidecar("to: [a, '+46 31 123 45 67']", SRC).to == ("a", "+46 31 123 45 67")
    assert parse_sidecar("to: '+46812345678; +46311234567, Acme AB'", SRC).to == (
        "+46812345678",
        "+46311234567",
        "Acme AB",
    )


def test_attach_may_be_a_single_name() -> None:
    assert parse_sidecar("to: x\nattach: terms.pdf", SRC).attach == ("terms.pdf",)


def test_unknown_key_suggests_the_right_one() -> None:
    problems = problems_of("too: '+46812345678'\n")
    assert "unknown key 'too' (did you mean 'to'?)" in problems
    assert any("'to' is missing" in p for p in problems)


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of("to: x\ndft: maybe\nfrom: [1]\nrefrence: x\nprovider: ''\n")
    assert len(problems) == 4
    assert "'dft' must be true or false, not 'maybe'" in problems
    assert "'from' must be text, not a list" in problems
    assert "unknown key 'refrence' (did you mean 'reference'?)" in problems
    assert "'provider' must be text, not ''" in problems


def test_sidecar_error_is_an_address_error() -> None:
    with pytest.raises(AddressError, match=r"invoice\.pdf\.yaml: .*'to' is missing"):
        parse_sidecar("dft: true\n", SRC)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the sidecar is empty"),
        ("# only a comment\n", "the sidecar is empty"),
        ("- a\n- b\n", "must be a mapping of keys"),
        ("just text", "must be a mapping of keys"),
        ("to: [unclosed\n", "the sidecar is not valid YAML (line 2"),
        ("to: a\nto: b\n", "key 'to' appears twice (line 2)"),
        ("? [a]\n: b\n", "the sidecar is not valid YAML"),
        pytest.param(
            "to: " + "[" * 30_000 + "]" * 30_000, "the sidecar is nested too deeply", id="deep"
        ),
        pytest.param("to: x\nreference: '" + "r" * 70_000 + "'\n", "at most 65536", id="huge"),
        ("to:\n", "'to' is empty"),
        ("to: []\n", "'to' is empty"),
        ("to: ' , ; '\n", "'to' is empty"),
        ("to: [{a: 1}]\n", "'to' holds a mapping"),
        ("to: true\n", "'to' holds true"),
        ("to: x\ndft: 'yes'\n", "'dft' must be true or false, not 'yes'"),
        pytest.param(
            "to: x\nreference: " + "r" * 300, "'reference' is 300 characters long", id="long-ref"
        ),
        ("to: x\nretarus: A4\n", "'retarus' must be a mapping"),
        ("to: x\nretarus: {resolution: ultra}\n", "'retarus.resolution' must be one of HIGH, LOW"),
        ("to: x\nretarus: {paper: A4}\n", "unknown key 'retarus.paper'"),
        ("to: x\nretarus: {recipient_properties: [a]}\n", "'retarus.recipient_properties'"),
        ("to: x\nretarus: {express: 'no'}\n", "'retarus.express' must be true or false"),
    ],
)
def test_invalid_sidecars(text: str, problem: str) -> None:
    problems = problems_of(text)
    assert any(problem in p for p in problems), problems


def test_empty_to_is_reported_beside_other_problems() -> None:
    problems = problems_of("colour: red\nto: ' ; '\n")
    assert len(problems) == 2
    assert problems[1].startswith("'to' is empty")


def test_long_wrong_values_are_shortened_in_messages() -> None:
    (problem,) = problems_of("to: x\ndft: '" + "y" * 500 + "'\n")
    assert problem == "'dft' must be true or false, not '" + "y" * 40 + "…'"


def test_more_than_ten_recipients() -> None:
    numbers = ", ".join(f"+4681234560{i}" if i < 10 else f"+468123456{i}" for i in range(11))
    assert "'to' lists 11 recipients, at most 10 allowed" in problems_of(f"to: '{numbers}'")


@pytest.mark.parametrize(
    ("attach", "problem"),
    [
        ("[../secret.pdf]", "'attach' entry '../secret.pdf' is not a plain file name"),
        ("['sub/terms.pdf']", "is not a plain file name"),
        ("['C:\\\\x.pdf']", "is not a plain file name"),
        ("['..']", "is not a plain file name"),
        ("['']", "'attach' holds an empty name"),
        ("[invoice.pdf]", "'attach' names the document 'invoice.pdf' itself"),
        ("[a.pdf, a.pdf]", "'attach' lists 'a.pdf' twice"),
        ("[a, b, c, d, e]", "'attach' lists 5 files, at most 4 allowed"),
        ("[[a]]", "'attach' holds a list"),
    ],
)
def test_invalid_attachments(attach: str, problem: str) -> None:
    problems = problems_of(f"to: x\nattach: {attach}\n")
    assert any(problem in p for p in problems), problems


def test_four_attachments_are_allowed() -> None:
    assert len(parse_sidecar("to: x\nattach: [a, b, c, d]", SRC).attach) == 4


def test_sidecar_names() -> None:
    assert sidecar_names("invoice.pdf") == ("invoice.pdf.yaml", "invoice.pdf.yml")
    assert document_of("invoice.pdf.yml") == "invoice.pdf"
    assert document_of("invoice.pdf") is None
    assert document_of(".yaml") is None


def test_parse_retarus_options_prefixes_config_paths() -> None:
    problems: list[str] = []
    parse_retarus_options({"resolutoin": "HIGH"}, "folders[1].retarus.", problems)
    assert problems == ["unknown key 'folders[1].retarus.resolutoin' (did you mean 'resolution'?)"]


def test_effective_retarus_layers_the_sidecar_over_the_folder() -> None:
    folder = RetarusOptions(
        coverpage_template="folder.ftl.html",
        recipient_properties={"FromName": "Office", "ToName": "?"},
        resolution="LOW",
        express=True,
    )
    sidecar = RetarusOptions(recipient_properties={"ToName": "Acme AB"}, express=False)
    merged = effective_retarus(folder, sidecar)
    assert merged == RetarusOptions(
        coverpage_template="folder.ftl.html",
        recipient_properties={"FromName": "Office", "ToName": "Acme AB"},
        resolution="LOW",
        express=False,
    )
    assert effective_retarus(folder, None) is folder


@pytest.mark.parametrize(
    "data",
    [
        "to: x\nreference: Räksmörgås\n".encode(),
        "to: x\r\nreference: Räksmörgås\r\n".encode("utf-8-sig"),
        "to: x\nreference: Räksmörgås\n".encode("cp1252"),
    ],
)
def test_sidecar_bytes_in_the_encodings_office_editors_write(data: bytes) -> None:
    assert parse_sidecar_bytes(data, SRC).reference == "Räksmörgås"
