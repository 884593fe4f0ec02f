"""The recipient-safety keys: allow, deny, misdial_guard, new_numbers, hold_dir."""

from __future__ import annotations

from pathlib import Path

from faxd.core.addressing import parse_number
from faxd.core.misdial import refused_by

from .cfg_helpers import MINIMAL, WriteConfig, load, only_problem


def test_defaults_guard_on_send_new_numbers_and_hold_beside_failed(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    [folder] = load(write_config(MINIMAL)).folders
    assert folder.misdial_guard is True
    assert folder.new_numbers == "send"
    assert folder.allow == () and folder.deny == ()
    assert folder.hold_dir == tmp_path / "out" / "hold"
    assert folder.hold_folder == tmp_path / "out" / "hold"


def test_keys_under_defaults_and_a_folders_own_values_win(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    text = MINIMAL.replace(
        "folders:",
        "defaults:\n"
        "  allow: ['+46', '+47 ']\n"
        "  deny: '+46 900'\n"
        "  new_numbers: hold\n"
        "  failed_dir: /srv/fax/failed\n"
        "folders:",
    )
    text += "    misdial_guard: false\n    deny: ['+4693']\n"
    [folder] = load(write_config(text)).folders
    assert folder.allow == ("+46", "+47")
    assert folder.deny == ("+4693",)
    assert folder.new_numbers == "hold"
    assert folder.misdial_guard is False
    assert folder.hold_dir == Path("/srv/fax/hold")


def test_a_trunk_digit_in_brackets_is_read_as_in_the_numbers_it_compares_with(
    write_config: WriteConfig,
) -> None:
    """A deny rule "+46 (0)900" is how an office writes the premium numbers it refuses;
    a recipient written the same way is +46900…, so the rule must be +46900 too, not the
    +460900 no number starts with. Brackets around other digits are punctuation."""
    text = MINIMAL + "    deny: ['+46 (0)900', '+44(0)9', '+39 (0)6', '+1 (900)']\n"
    [folder] = load(write_config(text)).folders
    assert folder.deny == ("+46900", "+449", "+3906", "+1900")
    for written, region in [
        ("+46 (0)900 123 45 67", "SE"),
        ("0900 123 45 67", "SE"),
        ("+44 (0)909 879 0000", "GB"),
        ("+39 (0)6 1234 5678", "IT"),
        ("+1 (900) 555 0123", "US"),
    ]:
        number = parse_number(written, region, {})
        assert refused_by(number, folder.allow, folder.deny), (written, number)


def test_a_prefix_written_with_its_trunk_digit_and_no_brackets_is_refused(
    write_config: WriteConfig,
) -> None:
    """`deny: "+460900"` (the office meant +46 900) was accepted and matched no number:
    numbers are compared in E.164, +46900…, and no Swedish number begins with 0."""
    problem = only_problem(write_config(MINIMAL + '    deny: ["+46900", "+460900"]\n'))
    assert problem.path == "folders[0].deny[1]" and problem.line == 7
    assert problem.message == (
        "'+460900' matches no number: after +46 it begins with 0, the trunk prefix dialled "
        "only inside the country, which E.164 numbers (what faxd compares) leave out; "
        "write '+46900'."
    )
    for written, fix in [
        ("+44 020", "write '+4420'"),
        ("+3606 1", "write '+361'"),  # Hungary's trunk prefix is 06
        ("+360", "write the digits that follow +36 in an international number"),
        ("+1 1 900", "write '+1900'"),
    ]:
        text = MINIMAL.replace("folders:", f"defaults:\n  allow: ['{written}']\nfolders:")
        problem = only_problem(write_config(text))
        assert problem.path == "defaults.allow[0]"
        assert problem.message.startswith(f"'{written}' matches no number: after +")
        assert problem.message.endswith(f"; {fix}."), problem.message


def test_a_prefix_some_real_number_begins_with_is_kept_however_it_begins(
    write_config: WriteConfig,
) -> None:
    # Where the trunk digit also begins real numbers (Russia's 8 800 freephone, Belarus,
    # Japan's 00 numbers) or is kept in E.164 (Italy's 0), the prefix is a real one.
    kept = ["+7800", "+78", "+7 8 495", "+375 80", "+3758029", "+39 06", "+390", "+8100"]
    text = MINIMAL + f"    deny: {kept}\n"
    [folder] = load(write_config(text)).folders
    assert len(folder.deny) == len(kept)


def test_a_prefix_that_is_not_e164_is_named_with_its_line(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "    allow: ['+46', '46']\n"))
    assert problem.path == "folders[0].allow[1]"
    assert problem.line == 7
    assert "'46' is not an E.164 prefix" in problem.message


def test_new_numbers_must_be_send_or_hold(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "    new_numbers: ask\n"))
    assert problem.path == "folders[0].new_numbers"
    assert "send | hold" in problem.message


def test_hold_dir_may_not_be_failed_dir(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "    hold_dir: out/failed\n"))
    assert problem.path == "folders[0].hold_dir"
    assert "a folder of their own" in problem.message


def test_hold_dir_may_not_be_another_spool_folder(write_config: WriteConfig) -> None:
    text = MINIMAL + "    hold_dir: other\n  - path: other\n"
    problem = only_problem(write_config(text))
    assert "folders[0].hold_dir" in problem.message
    assert "overlaps spool folder folders[1]" in problem.message
