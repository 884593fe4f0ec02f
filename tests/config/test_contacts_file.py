"""contacts_file: address books as office programs export them (fixtures/), and every
problem named with the file and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from faxd import config
from faxd.config.contacts_file import parse_contacts_text, read_contacts_file
from faxd.errors import ConfigError
from faxd.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


def test_an_excel_csv_with_bom_and_semicolons() -> None:
    found = read_contacts_file(FIXTURES / "excel_semicolon_bom.csv", "SE")
    assert found.problems == []
    assert found.contacts == {
        "Acme AB": "+46812345678",
        "Åkesson; Berg & Co": "+46311234567",
        "Tandläkare Öberg": "+46317654321",
    }


def test_a_google_contacts_csv_gives_fax_numbers_only() -> None:
    found = read_contacts_file(FIXTURES / "google_contacts.csv", "SE")
    assert found.problems == []
    assert found.contacts == {
        "Anna Berg": "+46812345678",
        "Beta Logistik AB": "+46317001000",
        "Beta Logistik AB (work fax)": "+46317001001",
        "Doris Ek": "+46855512345",
    }


def test_an_iphone_vcard_with_folded_lines_and_several_tel_entries() -> None:
    found = read_contacts_file(FIXTURES / "iphone_contacts.vcf", "SE")
    assert found.problems == []
    assert found.contacts == {
        "Anna Berg": "+46812345678",
        "Anna Berg (home fax)": "+46876543210",
        "Vårdcentralen Gärdet, mottagningen för barn och ungdomar (Stockholms läns landsting)": (
            "+46812340099"
        ),
    }


def test_vcard_4_with_uri_values_quoted_types_and_pref() -> None:
    text = (
        "BEGIN:VCARD\nVERSION:4.0\nFN:Acme AB\n"
        'TEL;VALUE=uri;TYPE="work,fax":tel:+46-8-123-456-70\n'
        'TEL;VALUE=uri;TYPE="work,fax";PREF=1:tel:+46-8-123-456-78;ext=12\n'
        "TEL;VALUE=uri;TYPE=fax:tel:+46-8-123-456-71\n"
        "END:VCARD\n"
    )
    found = parse_contacts_text(text, "SE")
    assert found.problems == []
    assert found.contacts == {
        "Acme AB": "+46812345678",
        "Acme AB (work fax)": "+46812345670",
        "Acme AB (fax 3)": "+46812345671",
    }


def test_vcard_2_1_bare_types_and_quoted_printable_names() -> None:
    text = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\n"
        "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C3=85kesson=20&=20Co=20Bygg=\r\n"
        "service\r\n"
        "TEL;WORK;FAX:031-123 45 67\r\nEND:VCARD\r\n"
    )
    found = parse_contacts_text(text, "SE")
    assert found.problems == []
    assert found.contacts == {"Åkesson & Co Byggservice": "+46311234567"}


def test_a_plain_csv_without_header_and_an_excel_sep_line() -> None:
    plain = parse_contacts_text("Acme AB,+46812345678\nBeta,08-123 456 11\n", "SE")
    assert plain.contacts == {"Acme AB": "+46812345678", "Beta": "+46812345611"}
    hinted = parse_contacts_text("sep=;\r\nName;Number\r\nAcme AB;+46812345678\r\n", "SE")
    assert hinted.problems == []
    assert hinted.contacts == {"Acme AB": "+46812345678"}


def test_an_old_google_csv_with_type_columns() -> None:
    text = (
        "Name,Given Name,Family Name,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,"
        "Phone 2 - Value\n"
        "Anna Berg,Anna,Berg,Mobile,+46 70 123 45 67,Work Fax,+46 8 123 456 78\n"
    )
    assert parse_contacts_text(text, "SE").contacts == {"Anna Berg": "+46812345678"}


def test_every_problem_is_named_with_its_line() -> None:
    text = (
        "name,number\n"
        "Acme AB,+46812345678\n"
        "Broken,12\n"
        "Nameless\n"
        "Acme AB,+46812345611\n"
        ",+46812345622\n"
    )
    found = parse_contacts_text(text, "SE")
    lines = [line for line, _ in found.problems]
    assert lines == [3, 4, 5, 6]
    messages = [message for _, message in found.problems]
    assert "'12' is not a valid phone number" in messages[0]
    assert "has no number" in messages[1]
    assert "used again (first on line 2)" in messages[2]
    assert "needs a name" in messages[3]
    assert found.contacts == {"Acme AB": "+46812345678"}


def test_vcard_problems_are_named_with_their_line() -> None:
    text = (
        "BEGIN:VCARD\nVERSION:3.0\nFN:Acme AB\nTEL;TYPE=fax:+46 8 12\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:3.0\nTEL;TYPE=fax:+46812345678\nEND:VCARD\n"
        "BEGIN:VCARD\nFN:Cut\n"
    )
    found = parse_contacts_text(text, "SE")
    assert [line for line, _ in found.problems] == [4, 6, 10]
    assert "no name" in found.problems[1][1]
    assert "END:VCARD" in found.problems[2][1]


def test_a_header_without_a_number_column_is_one_problem() -> None:
    found = parse_contacts_text("Name,E-mail,Birthday\nAcme,a@example.com,\n", "SE")
    assert len(found.problems) == 1
    assert found.problems[0][0] == 1
    assert "no column for the fax number" in found.problems[0][1]


def test_a_file_that_is_not_utf8_or_missing(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("Åkesson;+46311234567\n".encode("latin-1"))
    assert "not UTF-8" in read_contacts_file(latin, "SE").problems[0][1]
    missing = read_contacts_file(tmp_path / "nope.csv", "SE")
    assert "does not exist" in missing.problems[0][1]
    utf16 = tmp_path / "outlook.csv"
    utf16.write_bytes("Name\tx,Fax\nAcme AB,+46812345678\n".encode("utf-16"))
    assert read_contacts_file(utf16, "SE").contacts == {"Acme AB": "+46812345678"}


MINIMAL = """state_dir: {root}/state
providers:
  docs:
    type: generic-docs
    base_url: http://127.0.0.1:9/Docs/api/v2
    api_key_env: FAXD_TEST_KEY
defaults:
  sender: "+4612345678"
contacts_file: {contacts}
contacts:
  Acme AB: "+46812345600"
folders:
  - path: {root}/out
    to: ["Beta"]
"""


def _load(tmp_path: Path, contacts: str) -> Settings:
    book = tmp_path / "contacts.csv"
    book.write_text(contacts, encoding="utf-8")
    path = tmp_path / "faxd.yaml"
    path.write_text(MINIMAL.format(root=tmp_path, contacts=book))
    return config.load(path, {"FAXD_TEST_KEY": "test-key-123456"})


def test_config_contacts_win_and_file_names_are_usable_in_to(tmp_path: Path) -> None:
    settings = _load(tmp_path, "Acme AB;+46812345678\nBeta;+46812345611\n")
    assert settings.contacts == {"Acme AB": "+46812345600", "Beta": "+46812345611"}
    assert settings.contacts_file == tmp_path / "contacts.csv"
    assert settings.folders[0].to == ("Beta",)


def test_check_config_names_the_file_and_line_of_each_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "Beta;+46812345611\nBroken;12\n")
    [problem] = caught.value.problems
    assert problem.path == "contacts_file"
    assert problem.line == 9
    assert f"{tmp_path / 'contacts.csv'}, line 2: Broken:" in problem.message


def test_a_contacts_file_name_that_is_another_number_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(
            tmp_path, "Beta;+46812345611\n08-123 456 79;+46855500001\n+46812345622;+46812345622\n"
        )
    [problem] = caught.value.problems
    assert "line 2:" in problem.message
    assert "is itself the phone number +46812345679" in problem.message
