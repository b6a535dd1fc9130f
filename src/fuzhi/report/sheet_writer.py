"""Cell-by-cell sheet writing for report workbooks (openpyxl normal mode, for charts).

Widths are tracked per column (CJK counted double), headers share one style, text is
always written as text, and every sheet prints landscape, one page wide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from fuzhi.report.writers import display_width
from fuzhi.report.xlsx_stream import excel_text

INT, MONEY, PCT, DATE = "#,##0", "#,##0.0", "0.0%", "yyyy-mm-dd"
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TITLE_FONT = Font(bold=True, size=14)
SECTION_FONT = Font(bold=True, size=12)
QUIET_FILL = PatternFill("solid", fgColor="F8CBAD")
BEHIND_FONT = Font(color="C00000")
MONEY_KEYS = {"event_amount", "signed_amount"}


class SheetWriter:
    """Cell writing with widths tracked per column (CJK counted double)."""

    def __init__(self, ws: Worksheet) -> None:
        self.ws = ws
        self.widths: dict[int, int] = {}

    def put(self, row: int, col: int, value: Any, fmt: str | None = None, wide: bool = True) -> Any:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            cell = self.ws.cell(row, col, value="—" if fmt else None)
            if fmt:
                cell.alignment = Alignment(horizontal="right")
            return cell
        if isinstance(value, str):
            cell = self.ws.cell(row, col, value=excel_text(value))
            cell.data_type = "s"  # never a formula
            shown = value
        else:
            cell = self.ws.cell(row, col, value=value)
            if fmt:
                cell.number_format = fmt
            shown = f"{value:,.1f}" if isinstance(value, float) else str(value)
        if wide:
            self.widths[col] = max(self.widths.get(col, 0), display_width(shown))
        return cell

    def header(self, row: int, col: int, texts: Sequence[str]) -> None:
        for i, text in enumerate(texts):
            cell = self.put(row, col + i, text)
            cell.font, cell.fill = HEADER_FONT, HEADER_FILL
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)

    def title(self, row: int, text: str, font: Font = SECTION_FONT) -> None:
        self.put(row, 1, text, wide=False).font = font

    def finish(self, minimum: int = 8, maximum: int = 50, first: int | None = None) -> None:
        for col, width in self.widths.items():
            size = min(max(width + 2, minimum), maximum)
            if first is not None and col == 1:
                size = first
            self.ws.column_dimensions[get_column_letter(col)].width = size
        ws = self.ws
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
