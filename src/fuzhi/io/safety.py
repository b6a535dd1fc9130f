"""Refuse hostile or unreadable input files before a reader opens them.

``check_input_file`` looks at the file's first bytes, its suffix and, for workbooks, only the
zip central directory plus the first few KB of each XML part, so it stays fast on large
workbooks. It catches encrypted and legacy .xls workbooks (OLE files), zip bombs, XML entity
bombs (calamine does not use defusedxml) and corrupt or mislabelled files.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fuzhi.errors import InputError, location

InputFormat = Literal["xlsx", "csv"]

MAX_TOTAL_UNCOMPRESSED = 1 << 30  # 1 GiB: a 1M-row sheet is a few hundred MB of XML
MAX_COMPRESSION_RATIO = 100.0  # real sheets compress 5–10:1
RATIO_MIN_SIZE = 1 << 20  # the ratio limit applies to parts over 1 MiB uncompressed
MAX_MEMBERS = 10_000
XML_PROLOG_BYTES = 64 << 10  # an XML part's root element must start within this many bytes


@dataclass(frozen=True)
class Limits:
    """Thresholds for zip and XML checks; tests pass tiny ones."""

    max_total_uncompressed: int = MAX_TOTAL_UNCOMPRESSED
    max_compression_ratio: float = MAX_COMPRESSION_RATIO
    ratio_min_size: int = RATIO_MIN_SIZE
    max_members: int = MAX_MEMBERS
    xml_prolog_bytes: int = XML_PROLOG_BYTES


DEFAULT_LIMITS = Limits()

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
TEXT_SUFFIXES = (".csv", ".txt")
SUPPORTED = "fuzhi reads .xlsx, .xlsm, .csv and .txt files"

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
WORKBOOK_PART = "xl/workbook.xml"
_OTHER_OFFICE_PARTS = {
    "word/document.xml": "a Word document",
    "ppt/presentation.xml": "a slide deck",
}
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_READ_CHUNK = 4096
_MB = 1 << 20


def check_input_file(path: Path | str, limits: Limits = DEFAULT_LIMITS) -> InputFormat:
    """Return "xlsx" or "csv" for a file fuzhi can safely read; raise InputError otherwise."""
    path = Path(path)
    where = location(path)
    if not path.exists():
        raise InputError(f"{where} does not exist")
    if path.is_dir():
        raise InputError(f"{where} is a directory; give the path of an .xlsx or .csv file")
    if not path.is_file():
        raise InputError(f"{where} is not a regular file; give the path of an .xlsx or .csv file")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise InputError(f"{where} cannot be read: {exc.strerror or exc}") from exc
    if not head:
        raise InputError(f"{where} is empty")

    suffix = path.suffix.lower()
    if suffix not in (*WORKBOOK_SUFFIXES, *TEXT_SUFFIXES, ".xls"):
        shown = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise InputError(f"{where} has an unsupported file type ({shown}); {SUPPORTED}")
    if head.startswith(OLE_MAGIC):
        raise InputError(f"{where} {_describe_ole(path)}")
    is_zip = head.startswith(ZIP_MAGIC)
    if suffix == ".xls":
        if is_zip:
            raise InputError(f"{where} is an .xlsx workbook with an .xls name; rename it to .xlsx")
        raise InputError(
            f"{where} is not a real Excel workbook (often a web page saved with an .xls name); "
            "open it in Excel, WPS or LibreOffice and save it as .xlsx"
        )
    if suffix in TEXT_SUFFIXES:
        if is_zip:
            raise InputError(
                f"{where} is a zip archive, not CSV text; if it is a workbook, rename it to .xlsx"
            )
        return "csv"
    if not is_zip:
        raise InputError(
            f"{where} is not an Excel workbook (.xlsx): its content is not a zip archive"
        )
    _check_workbook_zip(path, limits)
    return "xlsx"


def _describe_ole(path: Path) -> str:
    """Tell an encrypted OOXML workbook from a legacy .xls by the OLE directory entry names."""
    names = _ole_directory_names(path)
    if "EncryptionInfo" in names or "EncryptedPackage" in names:
        return (
            "is encrypted (password-protected); remove the password in Excel or WPS "
            "and save it as an unencrypted .xlsx"
        )
    if "Workbook" in names or "Book" in names:
        return (
            "is a legacy .xls workbook (Excel 97–2003); "
            "open it in Excel or WPS and save it as .xlsx"
        )
    return (
        "is encrypted (password-protected) or a legacy .xls workbook; "
        "save it as an unencrypted .xlsx"
    )


def _ole_directory_names(path: Path) -> set[str]:
    """Stream names in an OLE (compound file) directory; an empty set if it cannot be walked.

    Reads the header, the FAT sectors on the directory chain and the directory sectors only.
    """
    names: set[str] = set()
    try:
        with path.open("rb") as f:
            header = f.read(512)
            sector_size = 1 << struct.unpack_from("<H", header, 0x1E)[0]
            if sector_size not in (512, 4096):
                return names
            per_sector = sector_size // 4
            first_dir = struct.unpack_from("<I", header, 0x30)[0]
            first_difat, difat_count = struct.unpack_from("<2I", header, 0x44)
            fat_sectors = [s for s in struct.unpack_from("<109I", header, 0x4C) if s < 0xFFFFFFFA]

            def read_sector(sector: int) -> bytes:
                f.seek((sector + 1) * sector_size)
                return f.read(sector_size)

            difat = first_difat
            for _ in range(min(difat_count, 1024)):
                if difat >= 0xFFFFFFFA:
                    break
                entries = struct.unpack(f"<{per_sector}I", read_sector(difat))
                fat_sectors += [s for s in entries[:-1] if s < 0xFFFFFFFA]
                difat = entries[-1]

            sector = first_dir
            for _ in range(1024):
                if sector >= 0xFFFFFFFA:
                    break
                data = read_sector(sector)
                for offset in range(0, len(data) - 127, 128):
                    size = struct.unpack_from("<H", data, offset + 64)[0]
                    if 2 <= size <= 64:
                        names.add(data[offset : offset + size - 2].decode("utf-16-le", "replace"))
                fat_page, index = divmod(sector, per_sector)
                if fat_page >= len(fat_sectors):
                    break
                sector = struct.unpack_from("<I", read_sector(fat_sectors[fat_page]), index * 4)[0]
    except (OSError, struct.error):
        return names
    return names


def _check_workbook_zip(path: Path, limits: Limits) -> None:
    where = location(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_zip_directory(where, infos, limits)
            for info in infos:
                if info.filename.lower().endswith(_XML_SUFFIXES):
                    _check_xml_prolog(where, archive, info, limits)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{where} is corrupt ({exc}); re-save it in Excel or WPS") from exc
    except (zlib.error, EOFError, OSError, ValueError) as exc:
        raise InputError(f"{where} is corrupt ({exc}); re-save it in Excel or WPS") from exc
    except NotImplementedError as exc:
        raise InputError(
            f"{where} uses an unsupported zip compression ({exc}); re-save it in Excel"
        ) from exc
    except RuntimeError as exc:  # zipfile's "File is encrypted, password required"
        raise InputError(
            f"{where} has encrypted zip parts ({exc}); save it as a plain .xlsx"
        ) from exc


def _check_zip_directory(where: str, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_members:
        raise InputError(
            f"{where} holds {len(infos):,} parts (limit {limits.max_members:,}); "
            "that is not a normal workbook"
        )
    names = {info.filename for info in infos}
    if WORKBOOK_PART not in names:
        kind = next((k for part, k in _OTHER_OFFICE_PARTS.items() if part in names), None)
        hint = f"; it looks like {kind}" if kind else f" (it has no {WORKBOOK_PART})"
        raise InputError(f"{where} is not an Excel workbook (.xlsx){hint}")
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_uncompressed:
        raise InputError(
            f"{where} looks like a zip bomb: its contents would inflate to {_size(total)} "
            f"(limit {_size(limits.max_total_uncompressed)}); refusing to read it"
        )
    for info in infos:
        if info.file_size <= limits.ratio_min_size:
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_compression_ratio:
            raise InputError(
                f"{where} looks like a zip bomb: {info.filename} would inflate to "
                f"{_size(info.file_size)} from {_size(info.compress_size)} "
                f"({ratio:,.0f}:1, limit {limits.max_compression_ratio:,.0f}:1); "
                "refusing to read it"
            )


def _size(n: int) -> str:
    return f"{n / _MB:,.0f} MB" if n >= 10 * _MB else f"{n / _MB:,.2f} MB"


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)


def _check_xml_prolog(
    where: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits
) -> None:
    """Refuse a DOCTYPE (hence any ENTITY) before the root element; OOXML parts never have one."""
    data = b""
    with archive.open(info) as member:
        while True:
            chunk = member.read(_READ_CHUNK)
            data += chunk
            verdict = _prolog_verdict(_decode(data), complete=not chunk)
            if verdict == "dtd":
                raise InputError(
                    f"{where} contains XML entity declarations in {info.filename} "
                    "(possible entity-expansion attack); refusing to read it"
                )
            if verdict == "ok":
                return
            if len(data) >= limits.xml_prolog_bytes:
                raise InputError(
                    f"{where}: {info.filename} has no XML root element in its first "
                    f"{len(data):,} bytes; refusing to read it"
                )


def _decode(data: bytes) -> str:
    """XML text by its byte-order mark or first bytes (OOXML allows UTF-8 and UTF-16)."""
    for mark, encoding in _BOMS:
        if data.startswith(mark):
            skip = len(mark) if mark[0] != ord("<") and mark[1] != ord("<") else 0
            return data[skip:].decode(encoding, "replace")
    return data.decode("utf-8", "replace")


def _prolog_verdict(text: str, complete: bool) -> Literal["ok", "dtd", "more"]:
    """Walk the prolog: 'dtd' on <!DOCTYPE or <!ENTITY, 'ok' at the root element, else 'more'."""
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        rest = text[pos : pos + 4]
        if rest.startswith(("<?", "<!--")):
            opening, close = ("<?", "?>") if rest.startswith("<?") else ("<!--", "-->")
            end = text.find(close, pos + len(opening))
            if end < 0:
                return "ok" if complete else "more"
            pos = end + len(close)
        elif not complete and len(rest) < 4 and "<!--".startswith(rest):
            return "more"
        elif rest.startswith("<!"):
            return "dtd"
        else:
            return "ok"
