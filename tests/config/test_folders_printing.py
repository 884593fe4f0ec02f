"""Print-to-fax keys (issue 6): name_pattern, embedded_code, convert_postscript."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from faxd.settings import DEFAULT_EMBEDDED_CODE

from .cfg_helpers import MINIMAL, load, only_problem

WriteConfig = Callable[[str], Path]


def test_defaults_search_the_standard_code_and_convert_postscript(
    write_config: WriteConfig,
) -> None:
    [folder] = load(write_config(MINIMAL)).folders
    assert folder.name_pattern is None
    assert folder.embedded_code == DEFAULT_EMBEDDED_CODE
    assert folder.convert_postscript is True


def test_a_folder_value_wins_over_defaults(write_config: WriteConfig) -> None:
    path = write_config(
        MINIMAL
        + """\
  - path: print
    name_pattern: '^(?P<to>\\d+)-'
    embedded_code: false
    convert_postscript: false
defaults:
  name_pattern: '^FAX(?P<to>\\d+)_'
  embedded_code: '##(?P<to>[^#]+)##'
"""
    )
    out, printed = load(path).folders
    assert out.name_pattern == r"^FAX(?P<to>\d+)_"
    assert out.embedded_code == "##(?P<to>[^#]+)##"
    assert printed.name_pattern == r"^(?P<to>\d+)-"
    assert printed.embedded_code is None
    assert printed.convert_postscript is False


def test_a_pattern_without_the_to_group_is_refused_at_its_line(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL + "    name_pattern: '^(\\d+)_'\n")
    problem = only_problem(path)
    assert problem.path == "folders[0].name_pattern"
    assert problem.line == 7
    assert "named group 'to'" in problem.message


def test_a_pattern_that_does_not_compile_is_refused(write_config: WriteConfig) -> None:
    path = write_config(MINIMAL + "defaults:\n  embedded_code: '@@FAX(?P<to>[^@]+@@'\n")
    problem = only_problem(path)
    assert problem.path == "defaults.embedded_code"
    assert "not a valid regular expression" in problem.message


def test_convert_postscript_must_be_a_boolean(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "    convert_postscript: maybe\n"))
    assert problem.path == "folders[0].convert_postscript"
    assert "true or false" in problem.message
