"""Free-text places: provinces, cities, renamed districts and the programme's region groups."""

from __future__ import annotations

import pytest

from fuzhi import regions
from fuzhi.regions import (
    Group,
    Place,
    matches_region,
    parse_place,
    parse_places,
    region_agreement,
)

PLACES = [
    ("江苏省南京市", "江苏省", "南京市", Group.YANGTZE),
    ("南京", "江苏省", "南京市", Group.YANGTZE),
    ("苏州工业园区", "江苏省", "苏州市", Group.YANGTZE),
    ("浙江省杭州市余杭区", "浙江省", "杭州市", Group.YANGTZE),
    ("杭州市临平区", "浙江省", "杭州市", Group.YANGTZE),  # created after cpca's data
    ("钱塘区", "浙江省", "杭州市", Group.YANGTZE),
    ("北京市海淀区", "北京市", "北京市", Group.JINGJINJI),
    ("深圳", "广东省", "深圳市", Group.GREATER_BAY),
    ("广东省汕头市", "广东省", "汕头市", Group.EASTERN),  # Guangdong outside the Bay Area
    ("重庆两江新区", "重庆市", "重庆市", Group.CHENGYU),
    ("哈尔滨", "黑龙江省", "哈尔滨市", Group.NORTHEAST),
    ("湖北武汉", "湖北省", "武汉市", Group.CENTRAL),
    ("陕西西安", "陕西省", "西安市", Group.WESTERN),
    ("长三角", "", "", Group.YANGTZE),
    ("粤港澳大湾区", "", "", Group.GREATER_BAY),
    ("", "", "", ""),
]


@pytest.mark.parametrize(("text", "province", "city", "group"), PLACES)
def test_parse_place(text: str, province: str, city: str, group: str) -> None:
    place = parse_place(text)
    assert (place.province, place.city, place.group) == (province, city, group)


def test_region_agreement() -> None:
    nanjing, suzhou = parse_place("南京"), parse_place("苏州工业园区")
    assert region_agreement(nanjing, suzhou) == 1.0
    assert region_agreement(nanjing, parse_place("上海")) == 0.6
    assert region_agreement(nanjing, parse_place("北京")) == 0.0
    assert region_agreement(nanjing, parse_place("")) is None


def test_matches_region() -> None:
    nanjing = parse_place("江苏省南京市")
    assert matches_region(nanjing, "长三角") and matches_region(nanjing, "江苏")
    assert matches_region(nanjing, "南京市") and not matches_region(nanjing, "苏州")
    assert not matches_region(nanjing, "京津冀")


def test_many_places_parsed_in_one_parser_call(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [t for t, *_ in PLACES] + ["深圳", "南京", "未知之地", ""]  # repeats, unknowns
    regions._PLACES.clear()
    calls: list[int] = []
    transform = regions._cpca().transform

    def counted(places: list[str]) -> object:
        calls.append(len(places))
        return transform(places)

    monkeypatch.setattr(regions._cpca(), "transform", counted)
    got = parse_places(texts)
    want = [(p, c, g) for _, p, c, g in PLACES] + [
        ("广东省", "深圳市", Group.GREATER_BAY),
        ("江苏省", "南京市", Group.YANGTZE),
        ("", "", ""),
        ("", "", ""),
    ]
    assert [(p.province, p.city, p.group) for p in got] == want
    # groups, renamed districts and blanks need no parser: the rest go in one call, once each
    need = {t for t in texts if regions._without_parser(t) is None}
    assert len(need) == 11 and calls == [len(need)]
    assert parse_places(texts[:2]) == got[:2] and len(calls) == 1  # remembered


def test_cells_that_are_not_text_are_no_place() -> None:
    assert parse_places([None, float("nan"), "上海市"]) == [
        Place(),
        Place(),
        parse_place("上海市"),
    ]
    assert parse_place(None) == Place()


def test_remembered_places_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regions, "_PLACES_MAX", 3)
    regions._PLACES.clear()
    parse_places(["长三角", "京津冀", "成渝"])
    assert len(regions._PLACES) == 3
    parse_places(["东北"])  # past the bound: forgotten, then this one remembered
    assert list(regions._PLACES) == ["东北"]
    parse_places(["长三角", "京津冀", "成渝", "中部"])  # more than the bound in one call
    assert len(regions._PLACES) <= 3
