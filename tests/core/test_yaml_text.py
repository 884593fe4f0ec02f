"""The YAML text of reports and inbox metadata."""

from __future__ import annotations

import yaml

from faxd.core import yaml_text


def test_the_same_text_as_the_safe_dumper_keys_in_order_unicode_readable() -> None:
    data = {"file": "Ünïcødé – tåg.pdf", "to": "+46812345678", "size": 12, "a": [1, "no"]}
    text = yaml_text.dump(data)
    assert text == yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    assert text.splitlines()[0] == "file: Ünïcødé – tåg.pdf"
    assert yaml.safe_load(text) == data


def test_a_name_that_is_not_utf8_is_written_escaped_and_reads_back() -> None:
    name = b"bad-\xff\xfe.pdf".decode("utf-8", "surrogateescape")
    text = yaml_text.dump({"file": name})
    text.encode("utf-8")  # writable as UTF-8
    assert yaml.safe_load(text) == {"file": name}
