"""Free-text Chinese places → province, city and the programme's region group.

Parsing is delegated to ``cpca`` (offline, adcode tables of 2016–17) behind this module, with
a rename table for districts created since (临平区, 钱塘区, …) and the programme's region
groups (京津冀, 长三角, 粤港澳大湾区, 成渝地区, 东北, 中部, 西部; other eastern provinces are
东部). Results are cached per distinct text, since a library repeats a few hundred places.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fuzhi.io.parse import clean_text


class Group:
    JINGJINJI = "京津冀"
    YANGTZE = "长三角"
    GREATER_BAY = "粤港澳大湾区"
    CHENGYU = "成渝地区"
    NORTHEAST = "东北"
    CENTRAL = "中部"
    WESTERN = "西部"
    EASTERN = "东部"


GROUPS: tuple[str, ...] = (
    Group.JINGJINJI,
    Group.YANGTZE,
    Group.GREATER_BAY,
    Group.CHENGYU,
    Group.NORTHEAST,
    Group.CENTRAL,
    Group.WESTERN,
    Group.EASTERN,
)

GROUP_ALIASES: dict[str, str] = {
    "京津冀": Group.JINGJINJI,
    "长三角": Group.YANGTZE,
    "长江三角洲": Group.YANGTZE,
    "粤港澳": Group.GREATER_BAY,
    "大湾区": Group.GREATER_BAY,
    "粤港澳大湾区": Group.GREATER_BAY,
    "成渝": Group.CHENGYU,
    "成渝地区": Group.CHENGYU,
    "成渝双城经济圈": Group.CHENGYU,
    "东北": Group.NORTHEAST,
    "东北地区": Group.NORTHEAST,
    "中部": Group.CENTRAL,
    "中部地区": Group.CENTRAL,
    "西部": Group.WESTERN,
    "西部地区": Group.WESTERN,
    "中西部": Group.CENTRAL,
    "东部": Group.EASTERN,
}

PROVINCE_GROUP: dict[str, str] = {
    **dict.fromkeys(("北京市", "天津市", "河北省"), Group.JINGJINJI),
    **dict.fromkeys(("上海市", "江苏省", "浙江省", "安徽省"), Group.YANGTZE),
    **dict.fromkeys(("香港特别行政区", "澳门特别行政区"), Group.GREATER_BAY),
    **dict.fromkeys(("重庆市", "四川省"), Group.CHENGYU),
    **dict.fromkeys(("辽宁省", "吉林省", "黑龙江省"), Group.NORTHEAST),
    **dict.fromkeys(("山西省", "江西省", "河南省", "湖北省", "湖南省"), Group.CENTRAL),
    **dict.fromkeys(
        (
            "内蒙古自治区",
            "广西壮族自治区",
            "贵州省",
            "云南省",
            "西藏自治区",
            "陕西省",
            "甘肃省",
            "青海省",
            "宁夏回族自治区",
            "新疆维吾尔自治区",
        ),
        Group.WESTERN,
    ),
    **dict.fromkeys(("山东省", "福建省", "海南省", "广东省", "台湾省"), Group.EASTERN),
}

# The nine Guangdong cities of the Greater Bay Area (the rest of Guangdong is 东部).
GREATER_BAY_CITIES = frozenset(
    ("广州市", "深圳市", "珠海市", "佛山市", "惠州市", "东莞市", "中山市", "江门市", "肇庆市")
)

# Districts created or renamed after cpca's data (2016–17): name → (province, city).
RENAMED: dict[str, tuple[str, str]] = {
    "临平区": ("浙江省", "杭州市"),
    "钱塘区": ("浙江省", "杭州市"),
    "钱塘新区": ("浙江省", "杭州市"),
    "雄安新区": ("河北省", "保定市"),
    "滨海新区": ("天津市", "天津市"),
    "浦东新区": ("上海市", "上海市"),
    "两江新区": ("重庆市", "重庆市"),
    "天府新区": ("四川省", "成都市"),
    "西咸新区": ("陕西省", "西安市"),
    "南沙区": ("广东省", "广州市"),
    "前海": ("广东省", "深圳市"),
    "横琴": ("广东省", "珠海市"),
}


@dataclass(frozen=True)
class Place:
    """A parsed place: any part may be empty when the text does not say."""

    province: str = ""
    city: str = ""
    group: str = ""

    @property
    def known(self) -> bool:
        return bool(self.province or self.group)

    @property
    def short_province(self) -> str:
        for suffix in (
            "维吾尔自治区",
            "壮族自治区",
            "回族自治区",
            "特别行政区",
            "自治区",
            "省",
            "市",
        ):
            if self.province.endswith(suffix):
                return self.province[: -len(suffix)]
        return self.province


def _group_for(province: str, city: str) -> str:
    if province == "广东省":
        return Group.GREATER_BAY if city in GREATER_BAY_CITIES or not city else Group.EASTERN
    return PROVINCE_GROUP.get(province, "")


@functools.lru_cache(maxsize=1)
def _cpca() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import cpca

    return cpca


_PLACES: dict[str, Place] = {}  # parsed places by their raw text
_PLACES_MAX = 65_536


def parse_place(text: object) -> Place:
    """Parse one free-text place ("江苏省南京市", "苏州工业园区", "长三角") into a :class:`Place`
    (anything not text, such as an empty cell's None or NaN, is no place)."""
    known = _PLACES.get(text) if isinstance(text, str) else None
    return known if known is not None else parse_places([text])[0]


def parse_places(texts: Iterable[object]) -> list[Place]:
    """``parse_place`` of many texts: each distinct text is parsed once (and remembered), and
    all that need the address parser go to it in one call (~1 ms, against ~5-40 ms a call)."""
    values = [t if isinstance(t, str) else "" for t in texts]
    known: dict[str, Place] = {}
    parse: dict[str, str] = {}
    for text in dict.fromkeys(values):
        place = _PLACES.get(text)
        if place is None:
            clean = clean_text(text).replace(" ", "")
            place = _without_parser(clean)
            if place is None:
                parse[text] = clean
                continue
        known[text] = place
    if parse:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = _cpca().transform(list(parse.values()))
        for (text, clean), province, city in zip(
            parse.items(), frame["省"].tolist(), frame["市"].tolist(), strict=True
        ):
            known[text] = _from_parser(clean, province, city)
    if len(_PLACES) + len(known) > _PLACES_MAX:
        _PLACES.clear()
    if len(known) <= _PLACES_MAX:  # remembered: at most _PLACES_MAX texts
        _PLACES.update(known)
    return [known[t] for t in values]


def _without_parser(text: str) -> Place | None:
    """The place of a cleaned text if it needs no address parser: empty, a region group, or
    a renamed district."""
    if not text:
        return Place()
    if text in GROUP_ALIASES:
        return Place(group=GROUP_ALIASES[text])
    for name, (province, city) in RENAMED.items():
        if name in text:
            return Place(province, city, _group_for(province, city))
    return None


def _from_parser(text: str, province: object, city: object) -> Place:
    """The place of a cleaned text from the province and city the address parser found."""
    province = province if isinstance(province, str) else ""
    city = city if isinstance(city, str) else ""
    if city in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"):
        city = ""
    if province in ("北京市", "天津市", "上海市", "重庆市") and not city:
        city = province
    if not province:
        for alias, group in GROUP_ALIASES.items():
            if alias in text:
                return Place(group=group)
    return Place(province, city, _group_for(province, city))


def region_agreement(a: Place, b: Place) -> float | None:
    """1 for the same province, 0.6 for the same region group, 0 otherwise; None if unknown."""
    if not a.known or not b.known:
        return None
    if a.province and a.province == b.province:
        return 1.0
    if a.group and a.group == b.group:
        return 0.6
    return 0.0


def matches_region(place: Place, wanted: str) -> bool:
    """Whether ``place`` lies in ``wanted`` (a province, a city or a region group)."""
    target = parse_place(wanted)
    if target.province:
        if target.city and target.city != target.province:
            return place.city == target.city
        return place.province == target.province
    return bool(target.group) and place.group == target.group
