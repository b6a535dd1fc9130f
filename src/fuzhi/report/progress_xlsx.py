"""The progress report as a workbook: 总览, 深度行, 地区, 行业, 趋势, 明细 and 匹配明细.

Native Excel charts (``openpyxl.chart``) show the funnel, events per month and outcomes by
region; they need a normal-mode workbook (cells are read back by reference). The file's
created/modified properties and zip timestamps derive from the as-of date, so the same
report written twice gives the same file.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from fuzhi.io.atomic import atomic_path
from fuzhi.report.breakdowns import BreakdownRow, TrendRow
from fuzhi.report.progress import ProgressReport
from fuzhi.report.progress_detail import event_columns, match_columns, write_detail
from fuzhi.report.progress_labels import caption, label, shown_notes
from fuzhi.report.sheet_writer import (
    BEHIND_FONT,
    HEADER_FONT,
    INT,
    MONEY,
    MONEY_KEYS,
    PCT,
    QUIET_FILL,
    SECTION_FONT,
    TITLE_FONT,
    SheetWriter,
)
from fuzhi.schema import FUNNEL, Lang


def _value_labels() -> DataLabelList:
    """Values only: LibreOffice otherwise adds the series and category names."""
    return DataLabelList(
        showVal=True, showSerName=False, showCatName=False, showLegendKey=False, showPercent=False
    )


def _overview(ws: Worksheet, report: ProgressReport, lang: str) -> None:
    w = SheetWriter(ws)
    w.title(1, label("title", lang), TITLE_FONT)
    w.put(2, 1, caption(report, lang), wide=False)
    row = 3
    for note in shown_notes(report.notes):
        w.put(row, 1, label(f"note.{note}", lang), wide=False).font = BEHIND_FONT
        row += 1
    row += 1
    w.title(row, label("section.key_figures", lang))
    row += 1
    w.header(row, 1, [label(f"h.{k}", lang) for k in ("figure", "current", "previous")])
    w.header(row, 4, [label("h.change", lang), label("h.change_pct", lang)])
    for f in report.key_figures:
        row += 1
        fmt = MONEY if f.key in MONEY_KEYS else INT
        w.put(row, 1, label(f"kf.{f.key}", lang))
        w.put(row, 2, f.current, fmt)
        w.put(row, 3, f.previous, fmt)
        w.put(row, 4, f.change, fmt)
        w.put(row, 5, f.change_pct, PCT)
    row += 2
    w.title(row, label("section.funnel", lang))
    row += 1
    funnel_header = row
    w.header(row, 1, [label(f"h.{k}", lang) for k in ("stage", "reached", "conversion", "now_at")])
    for stage in report.funnel.stages:
        row += 1
        w.put(row, 1, stage.status if lang != "en" else _status_en(stage.status))
        w.put(row, 2, stage.count, INT)
        w.put(row, 3, stage.conversion, PCT)
        w.put(row, 4, report.funnel.by_status.get(stage.status, 0), INT)
    row += 1
    w.put(row, 1, "不合适" if lang != "en" else "rejected")
    w.put(row, 4, report.funnel.by_status.get("不合适", 0), INT)
    row += 1
    w.put(row, 1, label("h.signed_amount_total", lang))
    w.put(row, 2, report.funnel.signed_amount, MONEY)
    chart = BarChart()
    chart.type = "bar"
    chart.title = label("chart.funnel", lang)
    chart.style = 10
    chart.y_axis.scaling.min = 0  # bars start at zero, whatever the data
    data = Reference(ws, min_col=2, min_row=funnel_header, max_row=funnel_header + len(FUNNEL))
    cats = Reference(ws, min_col=1, min_row=funnel_header + 1, max_row=funnel_header + len(FUNNEL))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    chart.x_axis.scaling.orientation = "maxMin"  # 待对接 on top
    chart.legend = None
    chart.dataLabels = _value_labels()
    chart.height, chart.width = 8, 15
    ws.add_chart(chart, "G5")
    row += 2
    w.title(row, label("section.targets", lang))
    row += 1
    w.header(row, 1, [label(f"h.{k}", lang) for k in ("target_name", "target", "actual")])
    w.header(row, 4, [label("h.attainment", lang)])
    for t in report.targets:
        row += 1
        w.put(row, 1, label(f"tg.{t.key}", lang))
        w.put(row, 2, t.target, INT)
        w.put(row, 3, t.actual, INT)
        w.put(row, 4, t.attainment, PCT)
    w.finish(minimum=12)


def _month_label(month: str, lang: str) -> str:
    number = int(month[5:])
    return f"{number}月" if lang != "en" else month


def _month_list(months: list[str], lang: str) -> str:
    return ("、" if lang != "en" else ", ").join(_month_label(m, lang) for m in months)


def _status_en(status: str) -> str:
    from fuzhi.schema import Status

    return Status(status).en


def _events(ws: Worksheet, report: ProgressReport, lang: str) -> None:
    w = SheetWriter(ws)
    ev = report.events
    targets = report.configured
    w.title(1, f"{label('section.events', lang)}（{report.period.label(lang)}）")
    legend = label(
        "legend.events",
        lang,
        yearly=targets.events_per_locality_per_year,
        total=targets.events_total,
    )
    w.put(2, 1, legend, wide=False)
    head = 4
    months = ev.months
    after = [
        "in_period",
        "year_to_date",
        "yearly_target",
        "yearly_attainment",
        "on_pace",
        "programme_to_date",
        "programme_target",
        "programme_attainment",
        "quiet_months",
    ]
    w.header(head, 1, [label("h.locality", lang), label("h.group", lang)])
    w.header(head, 3, [_month_label(m, lang) for m in months])
    first_after = 3 + len(months)
    w.header(head, first_after, [label(f"h.{k}", lang) for k in after])
    row = head
    elapsed = set(ev.elapsed_months)
    for loc in ev.localities:
        row += 1
        w.put(row, 1, loc.locality)
        w.put(row, 2, loc.group)
        for i, month in enumerate(months):
            cell = w.put(row, 3 + i, loc.by_month[month] if month in elapsed else None, INT)
            if month in elapsed and not loc.by_month[month]:
                cell.fill = QUIET_FILL
        values: list[tuple[Any, str | None]] = [
            (loc.in_period.events, INT),
            (loc.year_to_date, INT),
            (loc.yearly_target, INT),
            (loc.yearly_attainment, PCT),
            (label("yes" if loc.on_pace else "no", lang), None),
            (loc.programme_to_date, INT),
            (loc.programme_target, INT),
            (loc.programme_attainment, PCT),
            (_month_list(loc.months_without_events, lang), None),
        ]
        for i, (value, fmt) in enumerate(values):
            cell = w.put(row, first_after + i, value, fmt)
            if i == 4 and not loc.on_pace:
                cell.font = BEHIND_FONT
    row += 1
    total_row = row
    w.put(row, 1, label("h.total", lang)).font = HEADER_FONT
    for i, month in enumerate(months):
        cell = w.put(row, 3 + i, ev.by_month[month] if month in elapsed else None, INT)
        cell.font = HEADER_FONT
        if month in elapsed and not ev.by_month[month]:
            cell.fill = QUIET_FILL
    w.put(row, first_after, ev.in_period.events, INT).font = HEADER_FONT
    w.put(row, first_after + 1, ev.year_to_date, INT).font = HEADER_FONT
    w.put(row, first_after + 5, ev.programme_to_date, INT).font = HEADER_FONT
    ws.freeze_panes = ws.cell(head + 1, 3)

    chart = BarChart()
    chart.type = "col"
    chart.title = label("chart.events", lang)
    chart.style = 10
    chart.y_axis.scaling.min = 0  # bars start at zero, whatever the data
    data = Reference(ws, min_col=3, max_col=2 + len(months), min_row=total_row)
    chart.add_data(data, from_rows=True, titles_from_data=False)
    chart.set_categories(Reference(ws, min_col=3, max_col=2 + len(months), min_row=head))
    chart.legend = None
    chart.dataLabels = _value_labels()
    chart.height, chart.width = 8, 20
    ws.add_chart(chart, f"A{total_row + 3}")

    row = total_row + 3
    col = 12 if len(months) > 6 else 10
    w.put(row, col, label("section.forms", lang), wide=False).font = SECTION_FONT
    w.header(row + 1, col, [label("h.form", lang), label("h.count", lang)])
    for i, (form, n) in enumerate(ev.by_form.items(), start=row + 2):
        w.put(i, col, form)
        w.put(i, col + 1, n, INT)
    w.finish(minimum=9)
    for i in range(len(months)):
        ws.column_dimensions[get_column_letter(3 + i)].width = 7
    ws.column_dimensions[get_column_letter(first_after + 8)].width = 30


def _breakdown(
    ws: Worksheet, rows: list[BreakdownRow], lang: str, regional: bool, title: str
) -> None:
    w = SheetWriter(ws)
    w.title(1, title)
    keys = ["achievements", "demands", "matches", "contacted", "signed", "landed", "signed_amount"]
    if regional:
        keys += ["events", "event_contracts", "event_amount"]
    names = ["locality", "group"] if regional else ["industry"]
    w.header(3, 1, [label(f"h.{k}", lang) for k in [*names, *keys]])
    first = len(names) + 1
    for r, item in enumerate(rows, start=4):
        w.put(r, 1, item.name)
        if regional:
            w.put(r, 2, item.group)
        for i, key in enumerate(keys):
            value = getattr(item, key)
            w.put(r, first + i, value, MONEY if "amount" in key else INT)
    last = 3 + len(rows)
    ws.freeze_panes = ws.cell(4, first)
    if rows:
        ws.auto_filter.ref = f"A3:{get_column_letter(len(names) + len(keys))}{last}"
    if regional and rows:
        chart = BarChart()
        chart.type = "col"
        chart.grouping = "clustered"
        chart.title = label("chart.regions", lang)
        chart.style = 10
        chart.y_axis.scaling.min = 0
        for key in ("signed", "event_contracts"):
            col = first + keys.index(key)
            chart.add_data(
                Reference(ws, min_col=col, min_row=3, max_row=last), titles_from_data=True
            )
        chart.set_categories(Reference(ws, min_col=1, min_row=4, max_row=last))
        chart.height, chart.width = 8, 18
        ws.add_chart(chart, f"A{last + 3}")
    w.finish(minimum=10)


def _trend(ws: Worksheet, months: list[TrendRow], quarters: list[TrendRow], lang: str) -> None:
    w = SheetWriter(ws)
    keys = [
        "events",
        "enterprises",
        "intents",
        "contracts",
        "event_amount",
        "matches_new",
        "contacted",
        "signed",
        "landed",
        "signed_amount",
    ]
    heads = {
        "events": "count",
        "event_amount": "event_amount",
        "contacted": "new_contacted",
        "signed": "new_signed",
        "landed": "new_landed",
        "signed_amount": "new_signed_amount",
    }
    row = 1
    for section, first, items in (("months", "month", months), ("quarters", "quarter", quarters)):
        w.title(row, label(f"section.{section}", lang))
        row += 1
        w.header(
            row,
            1,
            [label(f"h.{first}", lang), *(label(f"h.{heads.get(k, k)}", lang) for k in keys)],
        )
        for item in items:
            row += 1
            w.put(row, 1, item.label)
            for i, key in enumerate(keys, start=2):
                w.put(row, i, getattr(item, key), MONEY if "amount" in key else INT)
        row += 3
    ws.freeze_panes = "B3"
    w.finish(minimum=10)


def progress_workbook(report: ProgressReport, lang: Lang | str = Lang.ZH) -> Workbook:
    """Build the report workbook in memory (normal mode, for the charts)."""
    lang = str(lang)
    wb = Workbook()
    first = wb.active
    assert first is not None
    first.title = label("sheet.overview", lang)
    _overview(first, report, lang)
    _events(wb.create_sheet(label("sheet.events", lang)), report, lang)
    _breakdown(
        wb.create_sheet(label("sheet.regions", lang)),
        report.regions,
        lang,
        True,
        f"{label('sheet.regions', lang)}（{report.period.label(lang)}）",
    )
    _breakdown(
        wb.create_sheet(label("sheet.industries", lang)),
        report.industries,
        lang,
        False,
        f"{label('sheet.industries', lang)}（{label('as_of', lang)}{report.cutoff.isoformat()}）",
    )
    _trend(
        wb.create_sheet(label("sheet.trend", lang)),
        report.trend_months,
        report.trend_quarters,
        lang,
    )
    write_detail(
        wb.create_sheet(label("sheet.detail", lang)), report.event_rows, event_columns(lang)
    )
    matches = report.match_rows.copy()
    matches["stage_name"] = [FUNNEL[int(s)].value for s in matches.get("stage", [])]
    write_detail(
        wb.create_sheet(label("sheet.match_detail", lang)), matches, match_columns(matches, lang)
    )
    stamp = dt.datetime.combine(report.as_of, dt.time())
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "fuzhi"
    wb.properties.title = label("title", lang)
    return wb


def write_progress_xlsx(
    report: ProgressReport, path: Path | str, lang: Lang | str = Lang.ZH
) -> None:
    """Write the workbook to ``path`` atomically, byte-identical for the same report."""
    wb = progress_workbook(report, lang)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()  # save_workbook() would stamp "now" as modified
    stamp = (report.as_of.year, report.as_of.month, report.as_of.day, 0, 0, 0)
    with (
        atomic_path(path) as tmp,
        zipfile.ZipFile(buffer) as src,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, src.read(item.filename))
