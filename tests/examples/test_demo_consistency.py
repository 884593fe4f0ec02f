"""The demo's configuration and its sandbox scenario agree: every document the scenario
holds for the office reaches a folder the demo configuration names."""

from __future__ import annotations

from pathlib import Path

import yaml

from faxd import config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_received_document_of_the_demo_scenario_has_a_home() -> None:
    settings = config.load(EXAMPLES / "faxd.yaml", {})
    assert settings.inbox is not None
    ours = settings.our_numbers()
    scenario = yaml.safe_load((EXAMPLES / "sandbox.yaml").read_text(encoding="utf-8"))
    recipients = {str(doc["recipient"]) for doc in scenario["received"]}
    assert recipients, "the demo scenario holds no received documents"
    strangers = recipients - set(ours)
    assert not strangers, f"the demo config has no route or number for {sorted(strangers)}"
    for number in recipients - {f.sender for f in settings.folders}:
        assert number in settings.inbox.routes, f"{number} is not routed to a folder"
