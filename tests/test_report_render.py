"""The progress workbook renders in LibreOffice: a PDF with pages, charts, CJK text.

Needs ``soffice`` (Debian: libreoffice-calc-nogui) and CJK fonts (fonts-noto-cjk); the page
count and text checks use ``pdfinfo``/``pdftotext`` (poppler-utils) when present. Skipped only when soffice is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from fuzhi.report.progress_xlsx import write_progress_xlsx
from test_report_xlsx import SHEETS_ZH, small_report

pytestmark = pytest.mark.libreoffice
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(SOFFICE is None, reason="soffice (LibreOffice) is not installed")
def test_workbook_converts_to_pdf_with_pages_and_charts(tmp_path: Path) -> None:
    xlsx = tmp_path / "progress.xlsx"
    write_progress_xlsx(small_report(), xlsx)
    assert load_workbook(xlsx).sheetnames == SHEETS_ZH
    with zipfile.ZipFile(xlsx) as z:
        assert len([n for n in z.namelist() if n.startswith("xl/charts/chart")]) == 3
    profile = tmp_path / "lo-profile"
    proc = subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(xlsx),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    pdf = tmp_path / "progress.pdf"
    assert proc.returncode == 0 and pdf.is_file(), proc.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    if shutil.which("pdfinfo"):
        info = subprocess.run(
            ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True
        ).stdout
        pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)[1])  # type: ignore[index]
    else:
        pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert pages >= len(SHEETS_ZH)
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "科技成果赋智中小企业专项行动进展报告" in text  # CJK fonts present, not boxes
        assert "每月深度行活动场次" in text  # chart title drawn
