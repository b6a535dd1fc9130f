"""Validated libraries cached by file content: hits, misses on any change, damage survived."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_xlsx
from fuzhi.io import library_cache
from fuzhi.io.library_cache import cached_load
from fuzhi.io.records import Library
from fuzhi.pipeline import load
from fuzhi.schema import Kind

ROWS = [
    ["成果编号", "成果名称", "技术成熟度", "参考价格（万元）"],
    ["A1", "机器视觉缺陷检测", "TRL7", "80万元"],
    ["A2", "", "", ""],  # rejected: no title or description
    ["A3", "数字孪生产线", "很高", "面议"],  # a warning on 技术成熟度
]


def _load(
    path: Path, cache: Path, calls: list[int], overrides: dict[str, str] | None = None
) -> Library:
    def fresh(sha256: str | None) -> Library:
        calls.append(1)
        return load(path, Kind.ACHIEVEMENTS, None, overrides or {}, sha256=sha256)

    return cached_load(path, Kind.ACHIEVEMENTS, None, overrides or {}, True, cache, fresh)


def _same(a: Library, b: Library) -> None:
    pd.testing.assert_frame_equal(a.records, b.records)
    assert a.problems == b.problems and a.sources == b.sources and a.kind is b.kind


def test_second_load_of_the_same_file_comes_from_the_cache(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", ROWS)
    calls: list[int] = []
    first = _load(path, tmp_path / "cache", calls)
    second = _load(path, tmp_path / "cache", calls)
    assert calls == [1]
    _same(first, second)
    assert len(second.rejected) == 1 and {p.column for p in second.problems} >= {"技术成熟度"}
    assert list(second.records["id"]) == ["A1", "A3"]


def test_an_edited_file_or_other_options_are_read_again(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", ROWS)
    calls: list[int] = []
    _load(path, tmp_path / "cache", calls)
    write_xlsx(path, [*ROWS, ["A4", "边缘计算网关", "6", "20"]])
    edited = _load(path, tmp_path / "cache", calls)
    assert calls == [1, 1] and list(edited.records["id"]) == ["A1", "A3", "A4"]
    _load(path, tmp_path / "cache", calls, overrides={"title": "成果名称"})
    assert calls == [1, 1, 1]
    copy = write_xlsx(tmp_path / "b.xlsx", [*ROWS, ["A4", "边缘计算网关", "6", "20"]])
    assert _load(copy, tmp_path / "cache", calls).sources[0].path == str(copy)  # its own path
    assert calls == [1, 1, 1, 1]


def test_a_damaged_entry_is_read_again_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", ROWS)
    calls: list[int] = []
    first = _load(path, tmp_path / "cache", calls)
    for entry in (tmp_path / "cache" / "libraries").glob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    with caplog.at_level(logging.WARNING):
        again = _load(path, tmp_path / "cache", calls)
    assert calls == [1, 1] and "unreadable" in caplog.text
    _same(first, again)
    assert _load(path, tmp_path / "cache", calls) is not None and calls == [1, 1]  # rewritten


def test_unwritable_cache_still_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", ROWS)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    calls: list[int] = []
    with caplog.at_level(logging.WARNING):
        lib = _load(path, blocker, calls)
    assert list(lib.records["id"]) == ["A1", "A3"] and "not written" in caplog.text


def test_only_the_newest_entries_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(library_cache, "KEEP", 2)
    calls: list[int] = []
    for i in range(4):
        _load(write_xlsx(tmp_path / f"a{i}.xlsx", ROWS), tmp_path / "cache", calls)
    assert len(list((tmp_path / "cache" / "libraries").glob("*.pickle"))) == 2
    assert not list((tmp_path / "cache" / "libraries").glob("*.tmp"))


def test_a_missing_file_is_reported_by_the_reader(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"nothing\.xlsx"):
        _load(tmp_path / "nothing.xlsx", tmp_path / "cache", [])


def test_a_read_only_cache_still_serves_its_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", ROWS)
    calls: list[int] = []
    _load(path, tmp_path / "cache", calls)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(library_cache.os, "utime", refuse)
    with caplog.at_level(logging.WARNING):
        again = _load(path, tmp_path / "cache", calls)
    assert calls == [1] and list(again.records["id"]) == ["A1", "A3"] and not caplog.text


def test_a_miss_hashes_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fuzhi.io import readers

    path = write_xlsx(tmp_path / "a.xlsx", ROWS)
    hashed: list[Path] = []
    real = readers.file_sha256

    def counted(p: Path) -> str:
        hashed.append(p)
        return real(p)

    monkeypatch.setattr(readers, "file_sha256", counted)
    monkeypatch.setattr(library_cache, "file_sha256", counted)
    lib = _load(path, tmp_path / "cache", [])
    assert len(hashed) == 1 and lib.sources[0].sha256 == real(path)


def test_on_miss_is_called_before_reading_afresh_only(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", ROWS)
    events: list[str] = []

    def fresh(sha256: str | None) -> Library:
        events.append("read")
        return load(path, Kind.ACHIEVEMENTS, None, {}, sha256=sha256)

    def run() -> Library:
        return cached_load(
            path, Kind.ACHIEVEMENTS, None, {}, True, tmp_path / "cache", fresh,
            on_miss=lambda: events.append("miss"),
        )  # fmt: skip

    first = run()
    assert events == ["miss", "read"]
    assert run().records.equals(first.records) and events == ["miss", "read"]  # a hit
