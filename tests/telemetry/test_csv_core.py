"""CSV framing and parsing: bounded blocks of whole lines, line numbers, both parse paths."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.telemetry.csv_core import Block, frame, parse_block, parse_header

HEADER = b"vehicle_id,timestamp,lat,lon,speed,engine_status\n"


def rows(n: int, start: int = 0) -> bytes:
    return b"".join(
        f"V{i},2024-05-01T08:00:{i % 60:02d}Z,40.{i},-74.{i},{i},moving\n".encode()
        for i in range(start, start + n)
    )


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("read_size", [1, 7, 100, 1 << 20])
def test_blocks_end_at_line_breaks_and_know_their_first_line(read_size: int) -> None:
    body = HEADER + rows(50)
    header, blocks = frame(pieces(body, read_size), 200)
    assert header is not None
    assert header.names[0] == "vehicle_id"
    found = list(blocks)
    assert len(found) > 5
    assert b"".join(b.data for b in found) == rows(50)
    for block in found:
        assert block.data.endswith(b"\n")
        assert len(block.data) <= 200
    assert [b.index for b in found] == list(range(len(found)))
    line = 2
    for block in found:
        assert block.first_line == line
        line += block.data.count(b"\n")


def test_bom_crlf_and_blank_lines_keep_physical_line_numbers() -> None:
    body = (
        b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n") + b"V1,2024-05-01T08:00:00Z,1,2,3,idle\r\n"
    )
    body += b"\r\n\nV2,2024-05-01T08:00:00Z,1,2,3,idle\r\n"
    header, blocks = frame([body], 1 << 20)
    assert header is not None
    assert header.positions["vehicle_id"] == 0  # the BOM is not part of the name
    parsed = parse_block(next(blocks), header)
    assert parsed.lines.tolist() == [2, 5]
    assert parsed.table.column("vehicle_id").to_pylist() == ["V1", "V2"]
    assert parsed.table.column("engine_status").to_pylist() == ["idle", "idle"]
    assert parsed.text(np.array([0, 1])) == [
        "V1,2024-05-01T08:00:00Z,1,2,3,idle",
        "V2,2024-05-01T08:00:00Z,1,2,3,idle",
    ]


def test_header_names_match_case_insensitively_and_report_the_rest() -> None:
    header = parse_header(b" Vehicle_ID ,TIMESTAMP,lat,lon,speed,engine_status,driver,heading\r\n")
    assert header.positions == {
        "vehicle_id": 0,
        "timestamp": 1,
        "lat": 2,
        "lon": 3,
        "speed": 4,
        "engine_status": 5,
        "heading": 7,
    }
    assert header.ignored == ("driver",)
    assert parse_header(b"vehicle_id,lat\n").missing(("vehicle_id", "speed")) == ("speed",)


def test_a_file_without_line_break_still_has_its_header_and_last_row() -> None:
    header, blocks = frame([HEADER + b"V1,2024-05-01T08:00:00Z,1,2,3,idle"], 64)
    assert header is not None
    (block,) = list(blocks)
    parsed = parse_block(block, header)
    assert parsed.lines.tolist() == [2]
    assert frame([], 64)[0] is None


def test_malformed_rows_keep_their_line_and_text_and_the_others_are_read() -> None:
    body = (
        b"V1,2024-05-01T08:00:00Z,1,2,3,idle\n"
        b"V2,2024-05-01T08:00:00Z,1,2\n"  # 4 fields
        b"V3,2024-05-01T08:00:00Z,1,2,3,idle,extra\n"  # 7 fields
        b"V4,2024-05-01T08:00:00Z,1,2,3,\xe9t\xe9\n"  # Latin-1, not UTF-8
        b"V5,2024-05-01T08:00:00Z,1,2,3,off\n"
    )
    header = parse_header(HEADER)
    parsed = parse_block(Block(0, body, 10), header)
    assert parsed.lines.tolist() == [10, 14]
    assert parsed.table.column("vehicle_id").to_pylist() == ["V1", "V5"]
    assert parsed.malformed == [
        (11, "V2,2024-05-01T08:00:00Z,1,2"),
        (12, "V3,2024-05-01T08:00:00Z,1,2,3,idle,extra"),
        (13, "V4,2024-05-01T08:00:00Z,1,2,3,\ufffdt\ufffd"),
    ]
    assert parsed.rows == 5


def test_quoted_fields_take_the_slow_path_with_the_same_result() -> None:
    plain = b"V1,2024-05-01T08:00:00Z,40.1,-74.1,3,idle\nV2,2024-05-01T08:00:01Z,40.2,-74.2,4,off\n"
    quoted = (
        b'"V1","2024-05-01T08:00:00Z",40.1,-74.1,3,idle\nV2,2024-05-01T08:00:01Z,40.2,-74.2,4,off\n'
    )
    header = parse_header(HEADER)
    fast, slow = parse_block(Block(0, plain, 2), header), parse_block(Block(0, quoted, 2), header)
    assert slow.texts is not None
    assert fast.texts is None
    assert fast.table.equals(slow.table)  # ...one result
    assert fast.lines.tolist() == slow.lines.tolist() == [2, 3]


def test_quoted_commas_and_escaped_quotes_are_one_field() -> None:
    body = b'"V,1",2024-05-01T08:00:00Z,1,2,3,"say ""idle"""\n"unclosed,2024,1,2,3,idle\n'
    parsed = parse_block(Block(0, body, 2), parse_header(HEADER))
    assert parsed.table.column("vehicle_id").to_pylist() == ["V,1"]
    assert parsed.table.column("engine_status").to_pylist() == ['say "idle"']
    assert parsed.malformed == [(3, '"unclosed,2024,1,2,3,idle')]


def test_a_line_longer_than_two_blocks_is_rejected_not_buffered() -> None:
    long_line = b"V9," + b"x" * 5000 + b"\n"
    body = HEADER + rows(2) + long_line + rows(2, 10)
    header, blocks = frame(pieces(body, 100), 512)
    assert header is not None
    parsed = [parse_block(b, header) for b in blocks]
    malformed = [m for p in parsed for m in p.malformed]
    assert len(malformed) == 1
    line, text = malformed[0]
    assert line == 4
    assert text.startswith("V9,xxxx")
    assert text.endswith("…(line of 5,003 bytes)")
    assert sorted(n for p in parsed for n in p.lines.tolist()) == [2, 3, 5, 6]
