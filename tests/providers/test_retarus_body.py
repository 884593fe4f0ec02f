"""The streamed Retarus job body: valid JSON, the files' exact bytes, bounded pieces."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from faxd.errors import RejectedError
from faxd.providers.retarus_body import BodyDocument, StreamedJobBody, base64_length
from faxd.providers.retarus_wire import DocumentHead

JOB = {"reference": {"customerDefinedId": "job-1#0"}, "recipients": [{"number": "+4912345"}]}


def write(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 3 * 1024, 3 * 1024 + 1, 100_003])
def test_body_decodes_to_the_job_and_the_file(tmp_path: Path, size: int) -> None:
    source = write(tmp_path / "a.pdf", size)
    body = StreamedJobBody(JOB, [BodyDocument(DocumentHead("a.pdf"), source)], chunk_size=3072)
    raw = b"".join(body)
    assert len(raw) == len(body)
    decoded = json.loads(raw)
    assert decoded["reference"] == JOB["reference"]
    assert decoded["recipients"] == JOB["recipients"]
    [document] = decoded["documents"]
    assert document["name"] == "a.pdf"
    assert "charset" not in document
    assert base64.b64decode(document["data"], validate=True) == source.read_bytes()


def test_several_documents_with_charset(tmp_path: Path) -> None:
    first = write(tmp_path / "a.pdf", 5000)
    second = tmp_path / "b.txt"
    second.write_bytes("Grüße".encode("cp1252"))
    body = StreamedJobBody(
        {},
        [
            BodyDocument(DocumentHead("a.pdf"), first),
            BodyDocument(DocumentHead("b.txt", "ISO-8859-1"), second),
        ],
    )
    raw = b"".join(body)
    assert len(raw) == len(body)
    documents = json.loads(raw)["documents"]
    assert [d["name"] for d in documents] == ["a.pdf", "b.txt"]
    assert documents[1]["charset"] == "ISO-8859-1"
    assert base64.b64decode(documents[0]["data"]) == first.read_bytes()
    assert base64.b64decode(documents[1]["data"]) == second.read_bytes()


def test_body_can_be_iterated_again(tmp_path: Path) -> None:
    source = write(tmp_path / "a.pdf", 10_000)
    body = StreamedJobBody(JOB, [BodyDocument(DocumentHead("a.pdf"), source)])
    assert b"".join(body) == b"".join(body)


def test_pieces_stay_bounded_for_a_large_file(tmp_path: Path) -> None:
    # 16 MB, the provider's limit: no yielded piece may come near the file's size.
    source = write(tmp_path / "big.pdf", 16 * 1024 * 1024)
    chunk = 3 * 16 * 1024
    body = StreamedJobBody(JOB, [BodyDocument(DocumentHead("big.pdf"), source)], chunk)
    largest = 0
    total = 0
    pieces = 0
    for piece in body:
        largest = max(largest, len(piece))
        total += len(piece)
        pieces += 1
    assert largest <= base64_length(chunk)
    assert pieces > 16 * 1024 * 1024 // chunk
    assert total == len(body)


def test_content_length_is_known_before_reading(tmp_path: Path) -> None:
    source = write(tmp_path / "a.pdf", 1000)
    body = StreamedJobBody(JOB, [BodyDocument(DocumentHead("a.pdf"), source)])
    head = len(json.dumps(JOB, separators=(",", ":"))) - 1
    frame = len(',"documents":[{"name":"a.pdf","data":""}]}')
    assert len(body) == head + frame + base64_length(1000)


def test_a_file_that_changes_size_while_streaming_is_refused(tmp_path: Path) -> None:
    source = write(tmp_path / "grows.pdf", 3000)
    body = StreamedJobBody(JOB, [BodyDocument(DocumentHead("grows.pdf"), source)])
    with source.open("ab") as stream:
        stream.write(b"more")
    with pytest.raises(RejectedError, match=r"grows\.pdf: the file changed size"):
        b"".join(body)
    source.write_bytes(b"short")
    with pytest.raises(RejectedError, match="changed size"):
        b"".join(body)


def test_chunk_size_must_keep_base64_aligned(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 3"):
        StreamedJobBody(JOB, [], chunk_size=1000)
    with pytest.raises(ValueError, match="documents"):
        StreamedJobBody({"documents": []}, [])
