"""The pure print-to-fax decisions: PJL headers, embedded codes, file-name patterns."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxd.config.sidecar import parse_sidecar
from faxd.core.addressing import resolve_address
from faxd.core.print_clues import (
    DEFAULT_EMBEDDED_CODE,
    UEL,
    Clue,
    compile_pattern,
    detect_language,
    has_pjl,
    is_print_file,
    name_clue,
    parse_pjl,
    pjl_clue,
    pjl_language,
    search_codes,
)
from faxd.core.sidecar import Sidecar
from faxd.errors import AddressError

NAME_PATTERN = r"^(?P<to>\+?\d[\d ]+)_"
PS = b"%!PS-Adobe-3.0\n%%Pages: 1\nshowpage\n%%EOF\n"


def pjl_job(*lines: str, payload: bytes = PS, language: str = "POSTSCRIPT") -> bytes:
    header = b"".join(f"@PJL {line}\r\n".encode() for line in lines)
    enter = f"@PJL ENTER LANGUAGE = {language}\r\n".encode()
    return UEL + b"@PJL\r\n" + header + enter + payload + UEL + b"@PJL EOJ\r\n" + UEL


# --- PJL --------------------------------------------------------------------------------


def test_pjl_header_gives_job_name_comments_variables_and_the_bare_payload() -> None:
    data = pjl_job(
        'JOB NAME = "Invoice 4711"',
        "COMMENT printed by ERP",
        'SET FAXNUMBER = "+46 8 123 456 78"',
        "SET RESOLUTION = 600",
    )
    header = parse_pjl(data)
    assert header.language == "POSTSCRIPT"
    assert header.job_name == "Invoice 4711"
    assert header.comments == ("printed by ERP",)
    assert ("FAXNUMBER", "+46 8 123 456 78") in header.variables
    assert data[header.payload_start : header.payload_end] == PS


def test_set_jobname_wins_over_job_name() -> None:
    header = parse_pjl(pjl_job('JOB NAME="a"', 'SET JOBNAME="b"'))
    assert header.job_name == "b"


def test_pjl_without_enter_language_ends_at_the_postscript() -> None:
    data = UEL + b"@PJL\n@PJL SET JOBNAME=x\n" + PS
    header = parse_pjl(data)
    assert header.language is None
    assert data[header.payload_start : header.payload_end] == PS
    assert pjl_language(header, data[header.payload_start :]) == "postscript"


def test_fax_number_variable_is_the_pjl_clue_before_anything_else() -> None:
    header = parse_pjl(
        pjl_job('SET JOBNAME="@@FAX +46812345611@@"', 'SET FAXNUMBER="+46812345678"')
    )
    clue = pjl_clue(header, DEFAULT_EMBEDDED_CODE, NAME_PATTERN)
    assert clue == Clue("pjl", "+46812345678", "PJL SET FAXNUMBER")


@pytest.mark.parametrize(
    ("lines", "number", "source"),
    [
        # The printer's default is not this job's number: the job's SET is.
        (
            ["DEFAULT FAXNUMBER=+46855500001", "SET FAXNUMBER=+46812345678"],
            "+46812345678",
            "PJL SET FAXNUMBER",
        ),
        # A later SET replaces an earlier one, as the printer reads it.
        (
            ["SET FAXNUMBER=+46855500001", "SET FAX_NUMBER=+46812345678"],
            "+46812345678",
            "PJL SET FAX_NUMBER",
        ),
        # Without a SET, the default is what the printer would dial.
        (["DEFAULT FAXNUMBER=+46812345678"], "+46812345678", "PJL DEFAULT FAXNUMBER"),
    ],
)
def test_the_jobs_last_set_fax_number_wins_over_defaults_and_earlier_sets(
    lines: list[str], number: str, source: str
) -> None:
    header = parse_pjl(pjl_job(*lines))
    assert pjl_clue(header, DEFAULT_EMBEDDED_CODE, NAME_PATTERN) == Clue("pjl", number, source)


def test_comment_fax_then_code_in_job_name_then_name_pattern_on_job_name() -> None:
    comment = parse_pjl(pjl_job('JOB NAME="+4681_x"', "COMMENT FAX: 08-123 456 78"))
    assert pjl_clue(comment, DEFAULT_EMBEDDED_CODE, NAME_PATTERN) == Clue(
        "pjl", "08-123 456 78", "PJL COMMENT"
    )
    code = parse_pjl(pjl_job('JOB NAME="Offer @@FAX Acme AB@@"'))
    clue = pjl_clue(code, DEFAULT_EMBEDDED_CODE, NAME_PATTERN)
    assert clue is not None and clue.recipients == "Acme AB"
    named = parse_pjl(pjl_job('JOB NAME="+46812345678_offer.doc"'))
    clue = pjl_clue(named, DEFAULT_EMBEDDED_CODE, NAME_PATTERN)
    assert clue is not None and clue.recipients == "+46812345678"
    assert pjl_clue(named, None, None) is None


def test_a_job_without_any_directive_gives_no_clue() -> None:
    header = parse_pjl(pjl_job('JOB NAME="Invoice"', "SET COPIES=1"))
    assert pjl_clue(header, DEFAULT_EMBEDDED_CODE, NAME_PATTERN) is None


@pytest.mark.parametrize(
    ("head", "language"),
    [
        (PS, "postscript"),
        (b"\xc5\xd0\xd3\xc6 binary EPS", "postscript"),
        (b"%PDF-1.7\n", "pdf"),
        (b"\x1bE\x1b&l0O text", "pcl"),
        (b") HP-PCL XL;2;0\r\n", "pclxl"),
        (b"hello", "unknown"),
    ],
)
def test_languages_are_told_apart_by_their_first_bytes(head: bytes, language: str) -> None:
    assert detect_language(head) == language


def test_pcl_named_by_pjl_is_pcl_even_with_odd_first_bytes() -> None:
    data = pjl_job(language="PCL", payload=b"\x1bE...")
    header = parse_pjl(data)
    assert pjl_language(header, data[header.payload_start :]) == "pcl"
    assert has_pjl(data)
    assert not has_pjl(PS)


@given(st.binary(max_size=300))
def test_parse_pjl_never_fails_and_keeps_the_payload_inside_the_data(data: bytes) -> None:
    header = parse_pjl(data)
    assert 0 <= header.payload_start <= len(data)
    assert header.payload_start <= header.payload_end <= len(data)


_PJL_SAFE = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters='"'),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s)


@given(_PJL_SAFE, st.binary(max_size=200).filter(lambda b: UEL not in b))
def test_any_job_name_and_payload_survive_the_round_trip(name: str, payload: bytes) -> None:
    data = pjl_job(f'SET JOBNAME="{name}"', payload=payload)
    header = parse_pjl(data)
    assert header.job_name == name
    assert data[header.payload_start : header.payload_end] == payload


# --- embedded codes ---------------------------------------------------------------------


def test_code_line_is_removed_and_other_text_kept() -> None:
    text = "Acme AB\n@@FAX +46 8 123 456 78@@\nInvoice 4711\n"
    result = search_codes(DEFAULT_EMBEDDED_CODE, text)
    assert result.found
    assert result.recipients == ("+46 8 123 456 78",)
    assert result.cleaned == "Acme AB\nInvoice 4711\n"
    assert result.lines_removed == 1


def test_a_code_inside_a_line_is_cut_out_of_it() -> None:
    result = search_codes(DEFAULT_EMBEDDED_CODE, "To: Acme @@FAX Acme AB@@ (copy)\r\nx\r\n")
    assert result.recipients == ("Acme AB",)
    assert result.cleaned == "To: Acme  (copy)\r\nx\r\n"
    assert result.lines_removed == 0


def test_several_codes_give_several_recipients_once_each() -> None:
    text = "@@FAX +46812345678@@\n@@FAX +46812345611@@\n@@FAX  +46812345678 @@\n"
    assert search_codes(DEFAULT_EMBEDDED_CODE, text).recipients == (
        "+46812345678",
        "+46812345611",
    )


def test_text_without_code_is_unchanged() -> None:
    result = search_codes(DEFAULT_EMBEDDED_CODE, "@@ not a code @@\nFAX +4681234\n")
    assert not result.found
    assert result.cleaned == "@@ not a code @@\nFAX +4681234\n"


# Printable characters below U+2000 hold no line break str.splitlines() would split at
# except NEL (U+0085).
_LINES = st.lists(
    st.text(
        alphabet=st.characters(
            min_codepoint=0x20, max_codepoint=0x1FFF, blacklist_characters="@\x85"
        ),
        max_size=30,
    ),
    max_size=8,
)


@given(
    _LINES,
    st.integers(min_value=0, max_value=8),
    st.from_regex(r"\+46[1-9]\d{6,8}", fullmatch=True),
)
def test_a_code_line_inserted_anywhere_is_found_and_removed_exactly(
    lines: list[str], where: int, number: str
) -> None:
    original = [line + "\n" for line in lines]
    at = min(where, len(original))
    with_code = [*original[:at], f"@@FAX {number}@@\n", *original[at:]]
    result = search_codes(DEFAULT_EMBEDDED_CODE, "".join(with_code))
    assert result.recipients == (number,)
    assert result.cleaned == "".join(original)


# --- file names and patterns ------------------------------------------------------------


def test_name_pattern_takes_the_to_group() -> None:
    assert name_clue(NAME_PATTERN, "+46 8 123 456 78_invoice.pdf") == Clue(
        "name", "+46 8 123 456 78", f"file name pattern {NAME_PATTERN!r}"
    )
    assert name_clue(NAME_PATTERN, "invoice_+46812345678.pdf") is None
    assert name_clue(None, "+46812345678_invoice.pdf") is None


def test_compile_pattern_names_what_is_wrong() -> None:
    assert compile_pattern(NAME_PATTERN).groupindex["to"] == 1
    with pytest.raises(ValueError, match="named group 'to'"):
        compile_pattern(r"^(\d+)_")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        compile_pattern(r"^(?P<to>\d+_")


def test_print_files_are_known_by_extension() -> None:
    assert is_print_file("job.PS") and is_print_file("job.prn") and is_print_file("a.b.pjl")
    assert not is_print_file("job.pdf") and not is_print_file("ps")


# --- addressing with clues --------------------------------------------------------------


def address(
    rel: str, clues: list[Clue], sidecar: Sidecar | None = None
) -> tuple[str, tuple[str, ...]]:
    found = resolve_address(
        PurePosixPath(rel), sidecar, ("+46812345699",), "SE", {"Acme AB": "+46812345678"}, clues
    )
    return found.rule, found.numbers


NAME = Clue("name", "+46812345611", "file name pattern")
PJL = Clue("pjl", "Acme AB", "PJL SET FAXNUMBER")


def test_clues_come_after_sidecar_and_subfolder_and_before_the_folder_to() -> None:
    sidecar = parse_sidecar("to: '+46812345622'\n", "a.pdf.yaml")
    assert address("a.pdf", [NAME, PJL], sidecar) == ("sidecar", ("+46812345622",))
    assert address("08-123 456 33/a.pdf", [NAME, PJL]) == ("subfolder", ("+46812345633",))
    assert address("a.pdf", [NAME, PJL]) == ("name", ("+46812345611",))
    assert address("a.pdf", [PJL]) == ("pjl", ("+46812345678",))
    assert address("a.pdf", []) == ("folder", ("+46812345699",))


def test_a_clue_that_names_no_valid_number_fails_and_says_where_it_was_read() -> None:
    bad = Clue("embedded", "+46 8 12", "embedded code on page 2")
    with pytest.raises(AddressError) as caught:
        address("letter.pdf", [bad])
    message = str(caught.value)
    assert "letter.pdf: embedded code on page 2 names no valid recipient" in message
    assert "Fix the code in the document" in message
    assert re.search(r"sidecar letter\.pdf\.yaml", message)
