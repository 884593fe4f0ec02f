"""The pure sidecar rules: its names and how its Retarus options layer over the folder's.
Parsing is tested in tests/config/test_sidecar.py."""

from __future__ import annotations

from faxd.core.sidecar import document_of, sidecar_names
from faxd.settings import RetarusOptions


def test_sidecar_names() -> None:
    assert sidecar_names("invoice.pdf") == ("invoice.pdf.yaml", "invoice.pdf.yml")
    assert document_of("invoice.pdf.yml") == "invoice.pdf"
    assert document_of("invoice.pdf") is None
    assert document_of(".yaml") is None


def test_a_sidecars_retarus_options_layer_over_the_folders() -> None:
    folder = RetarusOptions(
        coverpage_template="folder.ftl.html",
        recipient_properties={"FromName": "Office", "ToName": "?"},
        resolution="LOW",
        express=True,
    )
    sidecar = RetarusOptions(recipient_properties={"ToName": "Acme AB"}, express=False)
    merged = sidecar.over(folder)
    assert merged == RetarusOptions(
        coverpage_template="folder.ftl.html",
        recipient_properties={"FromName": "Office", "ToName": "Acme AB"},
        resolution="LOW",
        express=False,
    )
    assert RetarusOptions().over(folder) == folder
