"""The one schema source: fields, their Chinese/English headers and aliases, types, statuses.

Readers map spreadsheet headers onto these canonical fields; writers and reports take their
headers from here, so a header is spelled in exactly one place.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """The libraries fuzhi keeps."""

    ACHIEVEMENTS = "achievements"
    DEMANDS = "demands"
    EVENTS = "events"

    @property
    def label_zh(self) -> str:
        return {"achievements": "成果", "demands": "需求", "events": "活动"}[self.value]


class FieldType(StrEnum):
    """How a cell's text is parsed and validated."""

    ID = "id"
    TEXT = "text"
    KEYWORDS = "keywords"
    TRL = "trl"
    MONEY = "money"  # 万元
    DATE = "date"
    COUNT = "count"


class Lang(StrEnum):
    ZH = "zh"
    EN = "en"


@dataclass(frozen=True)
class Field:
    """One canonical column: identifier, headers in both languages, accepted aliases."""

    name: str
    zh: str
    en: str
    type: FieldType = FieldType.TEXT
    aliases: tuple[str, ...] = ()

    def header(self, lang: Lang | str = Lang.ZH) -> str:
        return self.zh if Lang(lang) is Lang.ZH else self.en

    def all_names(self) -> tuple[str, ...]:
        return (self.zh, self.en, self.name, *self.aliases)


ACHIEVEMENT_FIELDS: tuple[Field, ...] = (
    Field("id", "成果编号", "Achievement ID", FieldType.ID, ("编号", "ID", "成果ID", "项目编号")),
    Field(
        "title",
        "成果名称",
        "Title",
        FieldType.TEXT,
        ("项目名称", "名称", "成果标题", "title", "name"),
    ),
    Field(
        "description",
        "成果简介",
        "Description",
        FieldType.TEXT,
        ("简介", "摘要", "成果描述", "项目简介", "成果介绍", "内容简介", "description", "abstract"),
    ),
    Field("keywords", "关键词", "Keywords", FieldType.KEYWORDS, ("关键字", "keywords", "标签")),
    Field(
        "field",
        "技术领域",
        "Technology field",
        FieldType.TEXT,
        ("领域", "学科", "学科领域", "field"),
    ),
    Field("industry", "所属行业", "Industry", FieldType.TEXT, ("行业", "应用行业", "industry")),
    Field(
        "holder",
        "完成单位",
        "Holder",
        FieldType.TEXT,
        ("持有单位", "成果单位", "权利人", "所属单位", "单位名称", "holder", "owner"),
    ),
    Field(
        "region", "所在地区", "Region", FieldType.TEXT, ("地区", "省市", "所在地", "区域", "region")
    ),
    Field(
        "trl",
        "技术成熟度",
        "TRL",
        FieldType.TRL,
        ("成熟度", "TRL", "技术就绪度", "技术就绪水平", "成熟度等级"),
    ),
    Field(
        "licensing",
        "转化方式",
        "Licensing mode",
        FieldType.TEXT,
        ("合作方式", "交易方式", "转让方式", "licensing"),
    ),
    Field(
        "price",
        "参考价格（万元）",
        "Price (10k CNY)",
        FieldType.MONEY,
        ("价格", "参考价格", "转让价格", "交易价格", "价格（万元）", "price"),
    ),
)

DEMAND_FIELDS: tuple[Field, ...] = (
    Field("id", "需求编号", "Demand ID", FieldType.ID, ("编号", "ID", "需求ID")),
    Field(
        "title",
        "需求名称",
        "Title",
        FieldType.TEXT,
        ("需求标题", "名称", "项目名称", "title", "name"),
    ),
    Field(
        "description",
        "需求描述",
        "Description",
        FieldType.TEXT,
        ("需求内容", "技术难题", "需求简介", "问题描述", "需求详情", "描述", "description"),
    ),
    Field("keywords", "关键词", "Keywords", FieldType.KEYWORDS, ("关键字", "keywords", "标签")),
    Field(
        "enterprise",
        "企业名称",
        "Enterprise",
        FieldType.TEXT,
        ("需求企业", "企业", "单位名称", "需求单位", "提出单位", "enterprise", "company"),
    ),
    Field("field", "技术领域", "Technology field", FieldType.TEXT, ("领域", "field")),
    Field("industry", "所属行业", "Industry", FieldType.TEXT, ("行业", "industry")),
    Field(
        "region", "所在地区", "Region", FieldType.TEXT, ("地区", "省市", "所在地", "区域", "region")
    ),
    Field(
        "trl",
        "期望成熟度",
        "Required TRL",
        FieldType.TRL,
        ("要求成熟度", "技术成熟度", "成熟度", "TRL", "期望技术成熟度"),
    ),
    Field(
        "budget",
        "预算（万元）",
        "Budget (10k CNY)",
        FieldType.MONEY,
        ("预算", "拟投入资金", "研发经费", "拟投入资金（万元）", "投入资金", "budget"),
    ),
    Field(
        "deadline",
        "截止日期",
        "Deadline",
        FieldType.DATE,
        ("截止时间", "期限", "完成时限", "deadline"),
    ),
    Field("demand_type", "需求类型", "Demand type", FieldType.TEXT, ("类型", "需求类别")),
)

EVENT_FIELDS: tuple[Field, ...] = (
    Field("id", "活动编号", "Event ID", FieldType.ID, ("编号", "ID")),
    Field("name", "活动名称", "Event name", FieldType.TEXT, ("名称", "活动主题", "name")),
    Field("date", "活动日期", "Date", FieldType.DATE, ("日期", "举办日期", "活动时间", "date")),
    Field("region", "地区", "Region", FieldType.TEXT, ("所在地区", "举办地", "省市", "region")),
    Field(
        "organiser", "主办单位", "Organiser", FieldType.TEXT, ("主办方", "承办单位", "organiser")
    ),
    Field("form", "活动形式", "Format", FieldType.TEXT, ("形式", "活动类型", "format")),
    Field("enterprises", "参与企业数", "Enterprises", FieldType.COUNT, ("参会企业数", "企业数")),
    Field(
        "achievements",
        "发布成果数",
        "Achievements shown",
        FieldType.COUNT,
        ("成果数", "路演成果数"),
    ),
    Field("intents", "达成意向数", "Intents", FieldType.COUNT, ("意向数", "合作意向数")),
    Field("contracts", "签约项目数", "Contracts", FieldType.COUNT, ("签约数", "签约项目")),
    Field(
        "amount",
        "签约金额（万元）",
        "Contract amount (10k CNY)",
        FieldType.MONEY,
        ("签约金额", "金额"),
    ),
)

FIELDS: dict[Kind, tuple[Field, ...]] = {
    Kind.ACHIEVEMENTS: ACHIEVEMENT_FIELDS,
    Kind.DEMANDS: DEMAND_FIELDS,
    Kind.EVENTS: EVENT_FIELDS,
}

# A usable row needs at least one of these (issue: "Required: a name or a description").
REQUIRED_ANY: dict[Kind, tuple[str, ...]] = {
    Kind.ACHIEVEMENTS: ("title", "description"),
    Kind.DEMANDS: ("title", "description"),
    Kind.EVENTS: ("date",),
}

# Fields whose text feeds the matcher, in order.
TEXT_FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.ACHIEVEMENTS: ("title", "description", "keywords", "field"),
    Kind.DEMANDS: ("title", "description", "keywords"),
}

# Prefix of generated IDs (stable hash of the row content).
ID_PREFIX: dict[Kind, str] = {Kind.ACHIEVEMENTS: "A", Kind.DEMANDS: "D", Kind.EVENTS: "E"}

EVENT_FORMS: tuple[str, ...] = ("大会论坛", "成果路演", "供需对接", "展览展示", "产融对接")


class Status(StrEnum):
    """Tracking status of a demand–achievement match (动态跟踪), in funnel order."""

    PENDING = "待对接"
    CONTACTED = "已联系"
    NEGOTIATING = "洽谈中"
    SIGNED = "已签约"
    LANDED = "已落地"
    REJECTED = "不合适"

    @property
    def en(self) -> str:
        return _STATUS_EN[self]

    @classmethod
    def parse(cls, text: str) -> Status:
        """Accept the Chinese value or its English label; raise ValueError otherwise."""
        key = header_key(text)
        for status in cls:
            if key in (header_key(status.value), header_key(status.en), status.name.lower()):
                return status
        raise ValueError(text)


_STATUS_EN = {
    Status.PENDING: "pending",
    Status.CONTACTED: "contacted",
    Status.NEGOTIATING: "negotiating",
    Status.SIGNED: "signed",
    Status.LANDED: "landed",
    Status.REJECTED: "rejected",
}

FUNNEL: tuple[Status, ...] = (
    Status.PENDING,
    Status.CONTACTED,
    Status.NEGOTIATING,
    Status.SIGNED,
    Status.LANDED,
)

_HEADER_STRIP = re.compile(r"[\s\*＊:：_\-（）()\[\]【】/、]+")


def header_key(text: object) -> str:
    """Fold a header for alias lookup: NFKC, lower case, no spaces, brackets or marks."""
    folded = unicodedata.normalize("NFKC", str(text)).lower()
    return _HEADER_STRIP.sub("", folded)


def field_by_name(kind: Kind, name: str) -> Field:
    for f in FIELDS[kind]:
        if f.name == name:
            return f
    raise KeyError(f"{kind.value} has no field {name!r}")


def alias_index(kind: Kind) -> dict[str, str]:
    """Folded header → canonical field name. Canonical headers win over shared aliases."""
    index: dict[str, str] = {}
    fields = FIELDS[kind]
    for f in fields:
        for n in (f.zh, f.en, f.name):
            index.setdefault(header_key(n), f.name)
    for f in fields:
        for n in f.aliases:
            index.setdefault(header_key(n), f.name)
    return index


# Headers of columns that results add, (Chinese, English).
RESULT_LABELS: dict[str, tuple[str, str]] = {
    "direction": ("方向", "Direction"),
    "rank": ("排名", "Rank"),
    "score": ("匹配度", "Score"),
    "text_score": ("文本相似度", "Text similarity"),
    "f_field": ("领域一致", "Field agreement"),
    "f_industry": ("行业一致", "Industry agreement"),
    "f_region": ("地区相近", "Region proximity"),
    "f_trl": ("成熟度满足", "Readiness fit"),
    "f_budget": ("预算满足", "Budget fit"),
    "reasons": ("匹配理由", "Reasons"),
    "shared_terms": ("共同关键词", "Shared terms"),
    "match_id": ("匹配编号", "Match ID"),
    "duplicates": ("同簇重复成果", "Duplicates of this achievement"),
}


def result_label(name: str, lang: Lang | str = Lang.ZH) -> str:
    zh, en = RESULT_LABELS[name]
    return zh if Lang(lang) is Lang.ZH else en
