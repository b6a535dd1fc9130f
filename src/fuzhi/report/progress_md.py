"""A short Markdown summary of the progress report, fit for an email body."""

from __future__ import annotations

from pathlib import Path

from fuzhi.io.atomic import atomic_path
from fuzhi.report.progress import ProgressReport
from fuzhi.report.progress_labels import caption, label, shown_notes
from fuzhi.schema import Lang, Status

SUMMARY_KEYS = (
    "events",
    "event_enterprises",
    "event_contracts",
    "event_amount",
    "matches_new",
    "matches_contacted",
    "matches_signed",
    "signed_amount",
)


def _number(value: float | None, money: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if money else f"{value:,.0f}"


def _month(key: str, zh: bool) -> str:
    return f"{int(key[5:])}月" if zh else key


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1%}"


def progress_markdown(report: ProgressReport, lang: Lang | str = Lang.ZH) -> str:
    """Headline figures with change, the funnel, event targets and quiet months."""
    lang = str(lang)
    zh = lang != "en"
    p = report.period
    lines = [
        f"# {label('title', lang)}：{p.label(lang)}" if zh else f"# {label('title', lang)}: {p}",
        "",
        caption(report, lang),
        "",
    ]
    for note in shown_notes(report.notes):
        lines.append(f"> {label(f'note.{note}', lang)}")
    if report.notes:
        lines.append("")
    head = [label(f"h.{k}", lang) for k in ("figure", "current", "previous", "change_pct")]
    lines += [f"## {label('section.key_figures', lang)}", "", "| " + " | ".join(head) + " |"]
    lines.append("|---|---:|---:|---:|")
    for key in SUMMARY_KEYS:
        f = report.figure(key)
        money = "amount" in key
        lines.append(
            f"| {label(f'kf.{key}', lang)} | {_number(f.current, money)} | "
            f"{_number(f.previous, money)} | {_pct(f.change_pct)} |"
        )
    lines += ["", f"## {label('section.funnel', lang)}", ""]
    steps = []
    for stage in report.funnel.stages:
        name = stage.status if zh else Status(stage.status).en
        rate = "" if stage.conversion is None else f"（{stage.conversion:.0%}）"
        if not zh and stage.conversion is not None:
            rate = f" ({stage.conversion:.0%})"
        steps.append(f"{name} {stage.count:,}{rate}")
    lines.append(" → ".join(steps))
    signed = _number(report.funnel.signed_amount, money=True)
    lines += [
        "",
        f"{label('h.signed_amount_total', lang)}：{signed}" if zh else f"Signed: {signed}",
    ]
    ev = report.events
    lines += ["", f"## {label('sheet.events', lang)}", ""]
    real = [r for r in ev.localities if r.locality != "未识别地区"]
    target = report.configured.events_per_locality_per_year
    if zh:
        lines.append(
            f"- 本期活动 {ev.in_period.events} 场；年度累计 {ev.year_to_date} 场；"
            f"项目期累计 {ev.programme_to_date} 场。"
        )
        lines.append(
            f"- 年度目标（每地 {target} 场）已达成 {ev.localities_meeting_yearly_target}/{len(real)} 个地区。"
        )
    else:
        lines.append(
            f"- Events this period: {ev.in_period.events}; year to date {ev.year_to_date}; "
            f"programme to date {ev.programme_to_date}."
        )
        lines.append(
            f"- Yearly target ({target} per locality) met by "
            f"{ev.localities_meeting_yearly_target} of {len(real)} localities."
        )
    behind = [r for r in real if not r.on_pace]
    if behind:
        names = (
            "、".join(r.locality for r in behind) if zh else ", ".join(r.locality for r in behind)
        )
        lines.append(f"- 进度落后：{names}" if zh else f"- Behind pace: {names}")
    quiet = [r for r in real if r.months_without_events]
    if quiet:
        sep = "、" if zh else ", "
        parts = [
            f"{r.locality}（{sep.join(_month(m, zh) for m in r.months_without_events)}）"
            for r in quiet
        ]
        lines.append(("- 无活动月份：" if zh else "- Months without events: ") + sep.join(parts))
    if ev.months_without_any_event:
        months = ", ".join(ev.months_without_any_event)
        lines.append(
            f"- 全部地区均无活动的月份：{months}" if zh else f"- No event anywhere: {months}"
        )
    return "\n".join(lines) + "\n"


def write_progress_md(report: ProgressReport, path: Path | str, lang: Lang | str = Lang.ZH) -> None:
    text = progress_markdown(report, lang)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
