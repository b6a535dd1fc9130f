"""Hostile and unreadable input files are refused before a reader opens them."""

from __future__ import annotations

import struct
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from fuzhi.errors import InputError
from fuzhi.io.safety import Limits, check_input_file

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BILLION_LAUGHS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]>\n"
)


def write_workbook(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["成果名称", "技术成熟度", "参考价格（万元）"])
    sheet.append(["石墨烯散热膜", "TRL6", "50万元"])
    workbook.save(path)
    return path


def rewrite_members(source: Path, target: Path, replace: dict[str, bytes]) -> Path:
    """Copy a zip, replacing or adding the members in ``replace``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename not in replace:
                new.writestr(info, old.read(info))
        for name, data in replace.items():
            new.writestr(name, data)
    return target


def write_ole(path: Path, names: list[str]) -> Path:
    """A minimal compound file: header, one FAT sector, one directory sector with ``names``."""
    header = bytearray(512)
    header[0:8] = OLE_MAGIC
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 0x28, 0, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([0xFFFFFFFF] * 108))
    fat = struct.pack("<128I", 0xFFFFFFFD, 0xFFFFFFFE, *([0xFFFFFFFF] * 126))
    directory = bytearray(512)
    for index, name in enumerate(["Root Entry", *names][:4]):
        encoded = name.encode("utf-16-le")
        entry = index * 128
        directory[entry : entry + len(encoded)] = encoded
        struct.pack_into("<HB", directory, entry + 64, len(encoded) + 2, 5 if index == 0 else 2)
    path.write_bytes(bytes(header) + fat + bytes(directory))
    return path


def refused(path: Path, limits: Limits | None = None) -> str:
    """Run the check expecting a refusal; return the message after checking it names the file."""
    with pytest.raises(InputError) as caught:
        check_input_file(path, limits) if limits else check_input_file(path)
    message = str(caught.value)
    assert str(path) in message
    return message


def test_normal_workbook_passes(tmp_path: Path) -> None:
    assert check_input_file(write_workbook(tmp_path / "成果.xlsx")) == "xlsx"
    assert check_input_file(str(write_workbook(tmp_path / "UPPER.XLSX"))) == "xlsx"


@pytest.mark.parametrize("name", ["需求.csv", "demands.txt"])
def test_csv_passes(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("需求名称,预算\n智能检测,50万元\n", encoding="utf-8-sig")
    assert check_input_file(path) == "csv"


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in refused(tmp_path / "missing.xlsx")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.xlsx"
    folder.mkdir()
    assert "is a directory" in refused(folder)


@pytest.mark.parametrize("name", ["empty.xlsx", "empty.csv"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.touch()
    assert "is empty" in refused(path)


@pytest.mark.parametrize("name", ["report.pdf", "demands"])
def test_unsupported_suffix_lists_formats(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x")
    assert ".xlsx, .xlsm, .csv and .txt" in refused(path)


def test_encrypted_workbook(tmp_path: Path) -> None:
    path = write_ole(tmp_path / "locked.xlsx", ["EncryptionInfo", "EncryptedPackage"])
    message = refused(path)
    assert "is encrypted (password-protected)" in message
    assert "legacy" not in message


def test_legacy_xls(tmp_path: Path) -> None:
    message = refused(write_ole(tmp_path / "old.xls", ["Workbook", "\x05SummaryInformation"]))
    assert "legacy .xls workbook" in message


def test_unrecognised_ole_file(tmp_path: Path) -> None:
    path = tmp_path / "odd.xlsx"
    path.write_bytes(OLE_MAGIC + b"\x00" * 100)
    assert "encrypted (password-protected) or a legacy .xls" in refused(path)


def test_text_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_text("成果名称,技术成熟度\n", encoding="utf-8")
    assert "is not an Excel workbook (.xlsx)" in refused(path)


def test_workbook_named_csv_or_xls(tmp_path: Path) -> None:
    assert "rename it to .xlsx" in refused(write_workbook(tmp_path / "data.csv"))
    assert "rename it to .xlsx" in refused(write_workbook(tmp_path / "data.xls"))


def test_web_page_named_xls(tmp_path: Path) -> None:
    path = tmp_path / "export.xls"
    path.write_text("<html><table><tr><td>成果</td></tr></table></html>", encoding="utf-8")
    assert "save it as .xlsx" in refused(path)


def test_truncated_zip(tmp_path: Path) -> None:
    data = write_workbook(tmp_path / "whole.xlsx").read_bytes()
    path = tmp_path / "truncated.xlsx"
    path.write_bytes(data[: len(data) // 2])
    assert "is corrupt" in refused(path)


def test_crc_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "crc.xlsx"
    workbook_xml = b'<?xml version="1.0"?><workbook/>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("xl/workbook.xml", workbook_xml)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"<workbook/>", b"<workbooc/>", 1))
    assert "is corrupt" in refused(path)


def test_zip_without_workbook_part(tmp_path: Path) -> None:
    path = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")
    message = refused(path)
    assert "is not an Excel workbook (.xlsx)" in message
    assert "Word document" in message


def test_zip_bomb_by_compression_ratio(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(4):
                member.write(bytes(1 << 20))
    assert path.stat().st_size < 64 * 1024
    message = refused(path)
    assert "looks like a zip bomb" in message
    assert "xl/worksheets/sheet1.xml would inflate to 4.00 MB" in message


def test_zip_bomb_by_total_size(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "big.xlsx")
    message = refused(path, Limits(max_total_uncompressed=4096))
    assert "looks like a zip bomb" in message
    assert "limit 0.00 MB" in message


def test_too_many_members(tmp_path: Path) -> None:
    assert "parts (limit 3)" in refused(
        write_workbook(tmp_path / "many.xlsx"), Limits(max_members=3)
    )


@pytest.mark.parametrize("part", ["xl/workbook.xml", "xl/sharedStrings.xml", "xl/styles.xml"])
def test_entity_bomb(tmp_path: Path, part: str) -> None:
    source = write_workbook(tmp_path / "source.xlsx")
    with zipfile.ZipFile(source) as archive:
        original = archive.read(part) if part in archive.namelist() else b"<sst>&lol9;</sst>"
    hostile = BILLION_LAUGHS.encode() + original.split(b"?>", 1)[-1]
    path = rewrite_members(source, tmp_path / "laughs.xlsx", {part: hostile})
    assert "contains XML entity declarations" in refused(path)


def test_entity_declaration_hidden_after_long_comment(tmp_path: Path) -> None:
    padding = "<!-- " + "<padding/> " * 2000 + "-->"
    hostile = f'<?xml version="1.0"?>{padding}\n<!DOCTYPE x [<!ENTITY a "b">]><workbook/>'
    source = write_workbook(tmp_path / "source.xlsx")
    path = rewrite_members(source, tmp_path / "hidden.xlsx", {"xl/workbook.xml": hostile.encode()})
    assert "contains XML entity declarations" in refused(path)
    assert "no XML root element" in refused(path, Limits(xml_prolog_bytes=4096))


def test_entity_declaration_in_utf16_part(tmp_path: Path) -> None:
    hostile = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><workbook/>'
    source = write_workbook(tmp_path / "source.xlsx")
    path = rewrite_members(
        source, tmp_path / "utf16.xlsx", {"xl/workbook.xml": hostile.encode("utf-16")}
    )
    assert "contains XML entity declarations" in refused(path)


def test_large_workbook_is_checked_quickly(tmp_path: Path) -> None:
    path = tmp_path / "large.xlsx"
    source = write_workbook(tmp_path / "source.xlsx")
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                new.writestr(info, old.read(info))
        with new.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(b'<?xml version="1.0"?><worksheet><sheetData>')
            for start in range(1, 100_001, 10_000):
                sheet.write(
                    "".join(
                        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>成果{r * 7919 % 100_003}'
                        f'</t></is></c><c r="B{r}"><v>{r % 9 + 1}</v></c></row>'
                        for r in range(start, start + 10_000)
                    ).encode()
                )
            sheet.write(b"</sheetData></worksheet>")
    started = time.perf_counter()
    assert check_input_file(path) == "xlsx"
    assert time.perf_counter() - started < 0.5
