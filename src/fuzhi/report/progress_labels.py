"""Chinese and English wording of the progress report: sheet names, figures, headers, notes.

The workbook and the Markdown summary take every visible word from here, so a label is
spelled once. ``label(key, lang)`` returns the Chinese text unless ``lang`` is "en".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fuzhi.schema import Lang

if TYPE_CHECKING:  # progress builds on these labels; only the type is needed here
    from fuzhi.report.progress import ProgressReport

LABELS: dict[str, tuple[str, str]] = {
    # sheets
    "sheet.overview": ("总览", "Overview"),
    "sheet.events": ("深度行", "Events"),
    "sheet.regions": ("地区", "Regions"),
    "sheet.industries": ("行业", "Industries"),
    "sheet.trend": ("趋势", "Trend"),
    "sheet.detail": ("明细", "Detail"),
    "sheet.match_detail": ("匹配明细", "Match detail"),
    # titles and captions
    "title": ("科技成果赋智中小企业专项行动进展报告", "Progress report: achievements for SMEs"),
    "caption": (
        "统计期间：{period}（{start} 至 {end}）；数据截至：{as_of}；对比期间：{previous}",
        "Period: {period} ({start} to {end}); data as of {as_of}; compared with {previous}",
    ),
    "as_of": ("截至", "as of "),
    "section.key_figures": ("关键指标", "Key figures"),
    "section.funnel": ("对接漏斗（截至统计日）", "Matching funnel (on the cut-off day)"),
    "section.targets": ("目标完成情况", "Targets"),
    "section.events": ("深度行活动：各地按月场次", "Events by locality and month"),
    "section.forms": ("活动形式", "Event forms"),
    "section.months": ("按月", "By month"),
    "section.quarters": ("按季度", "By quarter"),
    "chart.funnel": ("对接漏斗", "Matching funnel"),
    "chart.events": ("每月深度行活动场次", "Events per month"),
    "chart.regions": ("各地对接成果", "Outcomes by region"),
    "legend.events": (
        "红色：已过月份无活动；目标：每地每年不少于{yearly}场，项目期内累计不少于{total}场",
        "Red: a past month without events; targets: {yearly} a year per locality, {total} in all",
    ),
    # key figures
    "kf.events": ("深度行活动场次", "Events held"),
    "kf.event_enterprises": ("参与企业数", "Enterprises taking part"),
    "kf.event_achievements": ("发布成果数", "Achievements shown"),
    "kf.event_intents": ("达成意向数", "Intents"),
    "kf.event_contracts": ("活动签约项目数", "Contracts at events"),
    "kf.event_amount": ("活动签约金额（万元）", "Contract amount at events (10k CNY)"),
    "kf.matches_new": ("新增匹配", "New matches"),
    "kf.matches_contacted": ("新增已联系", "Newly contacted"),
    "kf.matches_negotiating": ("新增洽谈中", "Newly negotiating"),
    "kf.matches_signed": ("新增已签约", "Newly signed"),
    "kf.matches_landed": ("新增已落地", "Newly landed"),
    "kf.signed_amount": ("新增匹配签约金额（万元）", "Newly signed amount (10k CNY)"),
    "kf.achievements_total": ("成果库总数", "Achievements in the library"),
    "kf.demands_total": ("需求库总数", "Demands in the library"),
    "kf.matches_total": ("匹配总数", "Matches"),
    # targets
    "tg.localities_meeting_yearly_events": (
        "年度场次达标地区数",
        "Localities meeting the yearly event target",
    ),
    "tg.localities_meeting_programme_events": (
        "累计场次达标地区数",
        "Localities meeting the programme event target",
    ),
    "tg.matches_contacted": ("已联系及以后的匹配", "Matches contacted or further"),
    "tg.contracts_signed": ("已签约及以后的匹配", "Matches signed or further"),
    # column headers
    "h.figure": ("指标", "Figure"),
    "h.current": ("本期", "This period"),
    "h.previous": ("上期", "Previous period"),
    "h.change": ("变化", "Change"),
    "h.change_pct": ("变化率", "Change %"),
    "h.stage": ("阶段", "Stage"),
    "h.reached": ("到达该阶段的匹配", "Matches reaching it"),
    "h.conversion": ("转化率（较上一阶段）", "Conversion from the stage before"),
    "h.now_at": ("当前处于该状态", "Now at this status"),
    "h.signed_amount_total": ("已签约金额（万元）", "Signed amount (10k CNY)"),
    "h.target_name": ("目标", "Target"),
    "h.target": ("目标值", "Target"),
    "h.actual": ("实际", "Actual"),
    "h.attainment": ("完成率", "Attainment"),
    "h.locality": ("地区", "Locality"),
    "h.group": ("区域", "Region group"),
    "h.in_period": ("本期场次", "Events in period"),
    "h.year_to_date": ("年度累计", "Year to date"),
    "h.yearly_target": ("年度目标", "Yearly target"),
    "h.yearly_attainment": ("年度完成率", "Yearly attainment"),
    "h.on_pace": ("进度", "On pace"),
    "h.programme_to_date": ("项目期累计", "Programme to date"),
    "h.programme_target": ("累计目标", "Programme target"),
    "h.programme_attainment": ("累计完成率", "Programme attainment"),
    "h.quiet_months": ("无活动月份", "Months without events"),
    "h.total": ("合计", "Total"),
    "h.form": ("活动形式", "Form"),
    "h.count": ("场次", "Events"),
    "h.industry": ("行业", "Industry"),
    "h.achievements": ("成果数", "Achievements"),
    "h.demands": ("需求数", "Demands"),
    "h.matches": ("匹配数", "Matches"),
    "h.contacted": ("已联系及以后", "Contacted+"),
    "h.signed": ("已签约及以后", "Signed+"),
    "h.landed": ("已落地", "Landed"),
    "h.signed_amount": ("匹配签约金额（万元）", "Signed amount (10k CNY)"),
    "h.events": ("本期活动场次", "Events in period"),
    "h.event_contracts": ("活动签约项目数", "Contracts at events"),
    "h.event_amount": ("活动签约金额（万元）", "Event contract amount (10k CNY)"),
    "h.month": ("月份", "Month"),
    "h.quarter": ("季度", "Quarter"),
    "h.enterprises": ("参与企业数", "Enterprises"),
    "h.intents": ("达成意向数", "Intents"),
    "h.contracts": ("活动签约项目数", "Contracts at events"),
    "h.matches_new": ("新增匹配", "New matches"),
    "h.new_contacted": ("新增已联系", "Contacted"),
    "h.new_signed": ("新增已签约", "Signed"),
    "h.new_landed": ("新增已落地", "Landed"),
    "h.new_signed_amount": ("新增签约金额（万元）", "Signed amount (10k CNY)"),
    "h.province": ("所属省份", "Province"),
    "h.status_as_of": ("状态（截至统计日）", "Status on the cut-off day"),
    "h.stage_reached": ("最远阶段", "Furthest stage"),
    "h.entered_1": ("联系日期", "Contacted on"),
    "h.entered_2": ("洽谈日期", "Negotiating from"),
    "h.entered_3": ("签约日期", "Signed on"),
    "h.entered_4": ("落地日期", "Landed on"),
    "h.demand_region": ("需求地区", "Demand region"),
    "h.demand_industry": ("需求行业", "Demand industry"),
    "yes": ("达到", "yes"),
    "no": ("落后", "behind"),
    "none": ("无", "none"),
    # notes
    "note.no_data_in_period": (
        "本期无数据：统计期间内没有深度行活动，也没有匹配进展。",
        "No data for this period: no events and no matching activity.",
    ),
    "note.no_events_in_period": ("本期没有深度行活动记录。", "No events in this period."),
    "note.no_match_activity_in_period": (
        "本期没有匹配进展记录。",
        "No matching activity dated in this period.",
    ),
    "note.match_dates_unknown": (
        "匹配记录没有状态变更时间，按期统计的匹配指标无法计算（显示为“—”）。",
        "Matches carry no status dates; per-period match figures are not available (—).",
    ),
    "note.events_without_locality": (
        "部分活动的地区无法识别省份，计入“未识别地区”。",
        "Some events name no province; they count under 未识别地区.",
    ),
    "note.period_in_progress": (
        "统计期间尚未结束：本期数字截至统计日，上期为完整期间。",
        "The period is not over: this period counts to the as-of date, the previous one in full.",
    ),
    "note.as_of_before_period": (
        "统计日早于统计期间开始，本期数据为空。",
        "The as-of date is before the period starts; the period has no data yet.",
    ),
}


def label(key: str, lang: Lang | str = Lang.ZH, **values: object) -> str:
    zh, en = LABELS[key]
    text = en if str(lang) == Lang.EN.value else zh
    return text.format(**values) if values else text


def shown_notes(notes: list[str]) -> list[str]:
    """Notes worth printing: "no data" first, and then not its two parts again."""
    if "no_data_in_period" not in notes:
        return list(notes)
    parts = ("no_data_in_period", "no_events_in_period", "no_match_activity_in_period")
    return ["no_data_in_period", *(n for n in notes if n not in parts)]


def caption(report: ProgressReport, lang: Lang | str = Lang.ZH) -> str:
    """The line under a report's title: period, its dates, the as-of date, the comparison."""
    p = report.period
    return label(
        "caption",
        lang,
        period=p.label(lang),
        start=p.start.isoformat(),
        end=p.end.isoformat(),
        as_of=report.as_of.isoformat(),
        previous=report.previous.label(lang),
    )
