"""Bytes → UTF-8: encodings, BOMs, mixed files, binary input, chunk boundaries."""

from __future__ import annotations

import codecs

import pytest

from tasks.csv_profile.text_core import CsvFormatError, Utf8Stream


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def read_all(stream: Utf8Stream, size: int = 5) -> bytes:
    out = b""
    while block := stream.read(size):
        out += block
    return out


def test_utf8_passes_through_even_when_chunks_split_characters() -> None:
    data = "a,b\nCafé,€ 5\n".encode()
    stream = Utf8Stream(chunked(data, 1), sniff_bytes=4)
    assert read_all(stream) == data
    assert (stream.encoding, stream.notes, stream.mixed_bytes) == ("utf-8", [], 0)


def test_a_utf8_bom_is_dropped() -> None:
    stream = Utf8Stream([codecs.BOM_UTF8 + b"id,x\n1,2\n"])
    assert stream.encoding == "utf-8-sig"
    assert read_all(stream) == b"id,x\n1,2\n"


def test_a_cp1252_file_is_transcoded_whole_with_a_note() -> None:
    stream = Utf8Stream(chunked(b"nom;prix\nCaf\xe9;3\x80\n", 3))
    assert stream.encoding == "cp1252"
    assert read_all(stream) == "nom;prix\nCafé;3€\n".encode()
    assert stream.notes == [
        "not valid UTF-8 (byte 0xe9 at offset 12): decoded as cp1252 (Windows Latin-1)"
    ]


def test_bytes_cp1252_leaves_undefined_are_read_as_latin1() -> None:
    stream = Utf8Stream([b"a\n\x81\x9d\xe9\n"])
    assert read_all(stream) == "a\n\x81\x9dé\n".encode()


def test_invalid_utf8_after_the_sniff_window_is_decoded_as_cp1252_from_there() -> None:
    data = b"a,b\n1,2\n" + b"x,\xe9\n" + "y,é\n".encode()
    stream = Utf8Stream(chunked(data, 4), sniff_bytes=8)
    assert read_all(stream) == "a,b\n1,2\nx,é\ny,é\n".encode()
    assert stream.encoding == "utf-8"
    assert stream.mixed_bytes == 1
    assert stream.notes == [
        "invalid UTF-8 from raw byte offset ~8: such bytes were decoded as cp1252 (Windows Latin-1)"
    ]


def test_utf16_with_a_bom_is_transcoded() -> None:
    stream = Utf8Stream(chunked("id,ville\n1,Zürich\n".encode("utf-16"), 3))
    assert stream.encoding in {"utf-16-le", "utf-16-be"}
    assert read_all(stream) == "id,ville\n1,Zürich\n".encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x1f\x8b\x08\x00rest", "starts like a gzip file (1f 8b 08 00 …)"),
        (b"PK\x03\x04\x14\x00", "starts like a zip (or xlsx/docx) file (50 4b 03 04 …)"),
        (b"PAR1\x15\x04", "starts like a Parquet file (50 41 52 31 …)"),
        (b"id,name\n1,a\x00b\n", "NUL byte at byte offset 11"),
        (b"\x01\x02\x03\x04abcdefgh", "4 control bytes in the first 12 bytes"),
    ],
)
def test_binary_input_is_rejected_with_what_was_seen(data: bytes, message: str) -> None:
    with pytest.raises(CsvFormatError) as info:
        Utf8Stream([data])
    assert str(info.value) == f"binary content, not CSV text: {message}"


def test_a_nul_byte_far_into_the_file_is_found_with_its_offset() -> None:
    stream = Utf8Stream(chunked(b"a,b\n1,2\n3,\x004\n", 4), sniff_bytes=8)
    with pytest.raises(
        CsvFormatError, match=r"^binary content, not CSV text: NUL byte at byte offset 10$"
    ):
        read_all(stream)


def test_peek_does_not_consume_and_skip_does() -> None:
    stream = Utf8Stream(chunked(b"header\nrow1\nrow2\n", 2), sniff_bytes=4)
    assert stream.peek(7) == b"header\n"
    assert stream.peek(3) == b"hea"
    stream.skip(7)
    assert stream.read(100) == b"row1\nrow2\n"
    assert stream.read(100) == b""
