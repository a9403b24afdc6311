"""The typed read and check path gives the rows and quarantine lines a person expects.

CSV text is read by Arrow's parser (pandas' where Arrow refuses a record, and
for files that are not UTF-8), numbers by Arrow's number parser (pandas' for a
column Arrow cannot read), dates once per distinct text. Every expectation
here is written by hand from the file in the test: which rows are stored,
with which values, and which quarantine line each bad row gets (the lines the
row-by-row checks have always written).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import geo.checks as checks
import geo.readers as readers
from geo import schemas
from geo.checks import SeenKeys, parse_float, parse_timestamps, stable_hash
from geo.errors import InputFileError
from geo.ingest import IngestReport, ingest_file
from geo.store import Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MISSING = "missing coordinates; give latitude/longitude (WGS84) or easting/northing (OSGB36)"
LAT_NAN = "latitude is not a number"
LNG_NAN = "longitude is not a number"
OUTSIDE_GB = "the point is outside Great Britain; check the coordinates"

HEADER = ["incident_id", "category", "occurred_at", "lat", "lng"]
ROWS = [
    ["I1", "Burglary", "2024-05-01T21:00", "53.7278", "-2.4918"],  # row 2: good
    ["I2", "Burglary", "2024-05-01T21:00", "", ""],  # 3: no point
    ["I3", "Burglary", "2024-05-01T21:00", "abc", "-2.49"],  # 4: not a number
    ["I4", "Burglary", "2024-05-01T21:00", "5.37278e1", "-2.4918"],  # 5: good, 53.7278
    ["I5", "Burglary", "2024-05-01T21:00", " 53.7278 ", " -2.4918 "],  # 6: good, trimmed
    ["I6", "Burglary", "2024-05-01T21:00", "NaN", "-2.49"],  # 7: not a number
    ["I7", "Burglary", "2024-05-01T21:00", "inf", "-2.49"],  # 8: not a number
    ["I8", "Burglary, aggravated", "2024-05-01 21:00", "53.73", "-2.49"],  # 9: good
    ["I9", "Burglary", "2024-05-01T21:00", "1e3", "-2.49"],  # 10: 1000 degrees
    ["I10", "Burglary", "2024-05-01T21:00", "1,5", "-2.49"],  # 11: not a number
    ["I11", "Burglary", "2024-05-01T21:00", "-inf", "Infinity"],  # 12: two bad cells
    ["I12", "Burglary", "2024-05-01T21:00", "  ", ""],  # 13: blank point
    ["I13", "Burglary", "2024-05-01T21:00", "+53.73", "-2.49"],  # 14: good
]
QUARANTINED = [
    ["3", "lat", "", MISSING],
    ["4", "lat", "abc", LAT_NAN],
    ["7", "lat", "NaN", LAT_NAN],
    ["8", "lat", "inf", LAT_NAN],
    ["10", "lat", "1e3, -2.49", OUTSIDE_GB],
    ["11", "lat", "1,5", LAT_NAN],
    ["12", "lat", "-inf", LAT_NAN],
    ["12", "lng", "Infinity", LNG_NAN],
    ["13", "lat", "", MISSING],
]
STORED = {"I1": 53.7278, "I4": 53.7278, "I5": 53.7278, "I8": 53.73, "I13": 53.73}


def _quote(cell: str, delimiter: str) -> str:
    return f'"{cell}"' if delimiter in cell else cell


def _text(delimiter: str = ",", newline: str = "\n", extra: list[str] | None = None) -> str:
    extra = extra or []
    lines = [delimiter.join(HEADER + extra)]
    for row in ROWS:
        cells = [_quote(c, delimiter) for c in row] + ["x"] * len(extra)
        lines.append(delimiter.join(cells))
    return newline.join(lines) + newline


def _plain(path: Path) -> None:
    path.write_bytes(_text().encode())


def _bom_crlf(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + _text(newline="\r\n").encode())


def _semicolon(path: Path) -> None:
    path.write_bytes(_text(";").encode())


def _latin1(path: Path) -> None:
    path.write_bytes(_text().replace("Burglary, aggravated", "Burglary, café").encode("cp1252"))


def _extra_columns(path: Path) -> None:
    path.write_bytes(_text(extra=["notes", "easting_note"]).encode())


def _gzip(path: Path) -> None:
    compress = zlib.compressobj(wbits=31)
    path.write_bytes(compress.compress(_text().encode()) + compress.flush())


WRITERS: dict[str, Callable[[Path], None]] = {
    "plain": _plain,
    "bom_crlf": _bom_crlf,
    "semicolon": _semicolon,
    "latin1": _latin1,
    "extra_columns": _extra_columns,
    "gzip": _gzip,
}


def _ingest(store: Store, path: Path, tmp_path: Path, **kw: Any) -> IngestReport:
    return ingest_file(store, "incidents", path, quarantine_dir=tmp_path / "q", now=NOW, **kw)


@pytest.mark.parametrize("form", list(WRITERS))
def test_awkward_cells_give_the_same_rows_and_quarantine(
    store: Store, tmp_path: Path, form: str
) -> None:
    path = tmp_path / ("i.csv.gz" if form == "gzip" else "i.csv")
    WRITERS[form](path)
    report = _ingest(store, path, tmp_path)
    assert (report.rows_read, report.rows_stored) == (len(ROWS), len(STORED))
    assert report.quarantine_path is not None
    q = pd.read_csv(report.quarantine_path, dtype=str, keep_default_na=False)
    assert q[["row", "column", "value", "reason"]].values.tolist() == QUARANTINED
    stored = store.read(schemas.INCIDENTS).set_index("incident_id").sort_index()
    assert sorted(stored.index) == sorted(STORED)
    assert stored["lat"].to_dict() == pytest.approx(STORED, abs=1e-12)
    assert stored.loc["I5", "lng"] == pytest.approx(-2.4918, abs=1e-12)
    aggravated = "Burglary, café" if form == "latin1" else "Burglary, aggravated"
    assert stored.loc["I8", "category"] == aggravated
    assert stored.loc["I8", "occurred_at"] == pd.Timestamp("2024-05-01 20:00", tz="UTC")
    assert set(stored["time_precision"]) == {"exact"}
    if form == "extra_columns":
        assert report.ignored_columns == ["notes", "easting_note"]


def test_a_row_arrow_refuses_mid_file_is_read_by_pandas_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short record after several Arrow blocks: the rows before it are not read twice."""
    monkeypatch.setattr(readers, "_ARROW_BLOCK_BYTES", 256)
    lines = ["incident_id,category,occurred_at,lat,lng"]
    lines += [f"I{i},Burglary,2024-05-01T21:00,53.73,-2.49" for i in range(1, 41)]
    lines[31] = "I31,Burglary"  # row 32: too few fields (pandas fills them blank)
    path = tmp_path / "i.csv"
    path.write_text("\n".join(lines) + "\n")
    source = readers.read_csv(path, chunk_rows=7)
    chunks = list(source.chunks)
    assert [len(c.rows) for c in chunks] == [7, 7, 7, 7, 7, 5]
    rows = np.concatenate([c.rows for c in chunks])
    assert rows.tolist() == list(range(2, 42))
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    assert frame["incident_id"].tolist() == [f"I{i}" for i in range(1, 41)]
    assert frame.loc[30, ["occurred_at", "lat", "lng"]].tolist() == ["", "", ""]
    assert frame.loc[31, "lat"] == "53.73"


def test_bad_utf8_late_in_a_file_is_named_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "_SAMPLE_BYTES", 64)
    monkeypatch.setattr(readers, "_ARROW_BLOCK_BYTES", 256)
    body = "".join(f"I{i},Burglary,2024-05-01T21:00,53.73,-2.49\n" for i in range(30))
    path = tmp_path / "i.csv"
    path.write_bytes(b"incident_id,category,occurred_at,lat,lng\n" + body.encode() + b"I99,\xff\n")
    source = readers.read_csv(path)
    with pytest.raises(InputFileError, match="is not valid utf-8 text"):
        list(source.chunks)


def test_quoted_fields_crlf_bom_and_blank_lines_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(
        b'\xef\xbb\xbfa,b,c\r\n"x, y","say ""hi""","two\r\nlines"\r\n\r\n'
        b' 1 ,,"3"\r\n\r\nend,\xc3\xa9,\r\n'
    )
    source = readers.read_csv(path)
    assert source.columns == ["a", "b", "c"]
    chunks = list(source.chunks)
    frame = pd.concat([c.frame for c in chunks])
    assert frame.values.tolist() == [
        ["x, y", 'say "hi"', "two\r\nlines"],
        [" 1 ", "", "3"],
        ["end", "é", ""],
    ]
    assert np.concatenate([c.rows for c in chunks]).tolist() == [2, 3, 4]


def test_absent_coordinate_columns_are_never_parsed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real = checks.parse_float

    def spy(cells: pd.Series) -> tuple[Any, Any]:
        parsed.append(str(cells.name))
        return real(cells)

    monkeypatch.setattr(checks, "parse_float", spy)
    path = tmp_path / "i.csv"
    _plain(path)
    _ingest(store, path, tmp_path)
    assert sorted(set(parsed)) == ["lat", "lng"]


@pytest.mark.parametrize(
    ("cell", "value", "bad"),
    [
        ("53.7278", 53.7278, False),
        (" 12.5 ", 12.5, False),
        ("1e3", 1000.0, False),
        ("1E+03", 1000.0, False),
        ("+.5", 0.5, False),
        ("5.", 5.0, False),
        ("-0", -0.0, False),
        ("", None, False),
        ("   ", None, False),
        ("NaN", None, True),
        ("nan", None, True),
        ("inf", None, True),
        ("-Infinity", None, True),
        ("1e400", None, True),
        ("1,5", None, True),
        ("1_000", None, True),
        ("0x10", None, True),
        ("12 m", None, True),
        ("\u0661\u0662", None, True),  # Arabic-Indic digits are not read as 12
        ("−2.5", None, True),  # a minus sign, not a hyphen
    ],
)
def test_parse_float_cells(cell: str, value: float | None, bad: bool) -> None:
    # Alone (Arrow reads the column, or refuses it) and beside cells of both kinds.
    for cells in ([cell], [cell, "1.5", "x"], ["2.5", cell]):
        got, got_bad = parse_float(pd.Series(cells, dtype=str))
        if value is None:
            assert not np.isfinite(got[cells.index(cell)])
        else:
            assert got[cells.index(cell)] == value
            assert np.signbit(got[cells.index(cell)]) == np.signbit(value)
        assert got_bad[cells.index(cell)] == bad


def test_parse_float_of_object_cells_and_missing_cells() -> None:
    got, bad = parse_float(pd.Series(["1", None, " 2 "], dtype=object))
    assert got[0] == 1.0 and np.isnan(got[1]) and got[2] == 2.0
    assert bad.tolist() == [False, True, False]  # a missing cell is not blank text


def _fnv1a(text: str) -> int:
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) % (1 << 64)
    return h


def test_stable_hash_is_fnv1a_of_utf8_bytes() -> None:
    rng = np.random.default_rng(3)
    alphabet = list("ab Z9\t\u00e9\u20ac\U0001f600-")
    texts = ["".join(rng.choice(alphabet, rng.integers(0, 15))) for _ in range(500)]
    for cells in (pd.Series(texts, dtype=str), pd.Series(texts, dtype=object), texts[:1]):
        want = [_fnv1a(t) for t in list(cells)]
        assert stable_hash(pd.Series(cells)).tolist() == want
    # Trailing NULs are not hashed (a NUL cell is quarantined, its key still compared).
    assert stable_hash(pd.Series(["ab\x00\x00", "a\x00b"])).tolist() == [
        _fnv1a("ab"),
        _fnv1a("a\x00b"),
    ]
    assert stable_hash(pd.Series([], dtype=str)).size == 0


@pytest.mark.parametrize("run_keys", [checks.MAX_RUN_KEYS, 500])
def test_seen_keys_first_rows_match_a_dictionary(
    run_keys: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "MAX_RUN_KEYS", run_keys)
    rng = np.random.default_rng(5)
    keys = [f"K{k}" for k in rng.integers(0, 300, 2_000)]
    seen = SeenKeys()
    first: dict[str, int] = {}
    for lo in range(0, 2_000, 450):
        part = keys[lo : lo + 450]
        rows = np.arange(lo + 2, lo + 2 + len(part), dtype=np.int64)
        dup, at = seen.check(pd.Series(part, dtype=str), rows)
        for key, row, d, a in zip(part, rows.tolist(), dup.tolist(), at.tolist(), strict=True):
            assert d == (key in first)
            first.setdefault(key, row)
            assert a == first[key]


def test_timestamps_parsed_once_per_text_land_on_every_row() -> None:
    cells = pd.Series(
        [
            "2024-05-01T21:00",
            " 14/03/2025 ",
            "",
            "2024-05-01T21:00",
            "soon",
            "2022-10",
            "14/03/2025",
        ],
        index=[10, 11, 12, 13, 14, 15, 16],
        dtype=str,
    )
    ts, bad, future, precision, skipped = parse_timestamps(cells, now=NOW)
    assert ts.index.tolist() == [10, 11, 12, 13, 14, 15, 16]
    utc = "UTC"
    assert ts.tolist()[:2] == [
        pd.Timestamp("2024-05-01 20:00", tz=utc),
        pd.Timestamp("2025-03-14 00:00", tz=utc),
    ]
    assert pd.isna(ts.iloc[2]) and pd.isna(ts.iloc[4])
    assert ts.iloc[3] == ts.iloc[0] and ts.iloc[6] == ts.iloc[1]
    assert ts.iloc[5] == pd.Timestamp("2022-10-01 00:00", tz=utc) - pd.Timedelta(hours=1)
    assert bad.tolist() == [False, False, False, False, True, False, False]
    assert not future.any() and not skipped.any()
    assert precision.tolist() == ["exact", "day", None, "exact", "day", "month", "day"]
