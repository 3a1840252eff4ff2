"""Tests for core.regions (the division gazetteer) and the spaCy pipeline that uses it.

The expected set of divisions is computed here from cpca's adcodes table with its own rule, not with
the module's code, so a change in how the module reads the table shows up as a difference.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import pytest

from core.regions import (
    Region,
    alias_index,
    all_regions,
    ambiguous_aliases,
    display_name,
    find_region,
    region_chain,
)

ROOT = Path(__file__).resolve().parent.parent
SPACY_MODEL = ROOT / "build" / "spacy-zh-regions"

# The 34 province-level divisions of the PRC: 4 municipalities, 23 provinces (incl. Taiwan),
# 5 autonomous regions and 2 special administrative regions.
PROVINCES = {
    "北京市", "天津市", "上海市", "重庆市",
    "河北省", "山西省", "辽宁省", "吉林省", "黑龙江省", "江苏省", "浙江省", "安徽省", "福建省", "江西省",
    "山东省", "河南省", "湖北省", "湖南省", "广东省", "海南省", "四川省", "贵州省", "云南省", "陕西省",
    "甘肃省", "青海省", "台湾省",
    "内蒙古自治区", "广西壮族自治区", "西藏自治区", "宁夏回族自治区", "新疆维吾尔自治区",
    "香港特别行政区", "澳门特别行政区",
}  # fmt: skip


def _adcode_rows() -> list[dict[str, str]]:
    table = resources.files("cpca").joinpath("resources/adcodes.csv")
    with table.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _is_placeholder(name: str) -> bool:
    # "市辖区" (districts of a municipality), "县" (counties of Chongqing) and the "…直辖县级行政区划"
    # groupings of county-level cities directly under a province are rows, not prefectures.
    return name in {"市辖区", "县"} or name.endswith("直辖县级行政区划")


@pytest.fixture(scope="module")
def expected_prefectures() -> dict[str, str]:
    """Prefecture-level divisions from the adcode table: name → 6-digit adcode."""
    rows = _adcode_rows()
    found = {}
    for row in rows:
        code, name = row["adcode"], row["name"]
        assert len(code) == 12
        if code.endswith("00000000") and not code.endswith("0000000000") and not _is_placeholder(name):
            found[name] = code[:6]
    return found


def _by_name() -> dict[str, Region]:
    return {r.name: r for r in all_regions()}


# ---------------------------------------------------------------- the division table


def test_exactly_the_34_province_level_divisions() -> None:
    provinces = [r for r in all_regions() if r.level == "province"]
    assert len(provinces) == 34
    assert {r.name for r in provinces} == PROVINCES


@pytest.mark.parametrize("name", ["香港特别行政区", "澳门特别行政区", "台湾省"])
def test_sars_and_taiwan_are_province_level(name: str) -> None:
    region = _by_name()[name]
    assert region.level == "province"
    assert region.province == name


def test_every_prefecture_level_division_of_the_table(expected_prefectures: dict[str, str]) -> None:
    prefectures = {r.name: r.adcode for r in all_regions() if r.level == "prefecture"}
    # Counted independently from the table; the cpca table in use has 334 of them.
    assert len(expected_prefectures) == 334
    assert len(prefectures) == len(expected_prefectures)
    assert prefectures == expected_prefectures


def test_no_placeholder_rows_become_regions() -> None:
    names = {r.name for r in all_regions()}
    assert not {n for n in names if _is_placeholder(n)}
    assert len(all_regions()) == 34 + 334


def test_prefectures_belong_to_the_province_of_their_code() -> None:
    provinces_by_prefix = {r.adcode[:2]: r.name for r in all_regions() if r.level == "province"}
    for region in all_regions():
        assert region.province == provinces_by_prefix[region.adcode[:2]], region.name


@pytest.mark.parametrize(
    ("name", "province"),
    [
        ("揭阳市", "广东省"),
        ("广州市", "广东省"),
        ("延边朝鲜族自治州", "吉林省"),
        ("吉林市", "吉林省"),
        ("西安市", "陕西省"),
    ],
)
def test_known_prefecture_provinces(name: str, province: str) -> None:
    assert _by_name()[name].province == province


def test_every_canonical_name_resolves_to_itself() -> None:
    for region in all_regions():
        found = find_region(region.name)
        assert found is not None and found.name == region.name, region.name


# ---------------------------------------------------------------- find_region


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        # the contract's examples
        ("上海", "上海市"),
        ("Shanghai", "上海市"),
        ("揭阳", "揭阳市"),
        ("河南", "河南省"),
        ("广州", "广州市"),
        # full names, case and padding
        ("上海市", "上海市"),
        ("shanghai", "上海市"),
        ("SHANGHAI", "上海市"),
        ("  上海  ", "上海市"),
        ("揭阳市", "揭阳市"),
        ("河南省", "河南省"),
        ("广东", "广东省"),
        ("广西", "广西壮族自治区"),
        ("新疆", "新疆维吾尔自治区"),
        ("宁夏", "宁夏回族自治区"),
        ("内蒙古", "内蒙古自治区"),
        ("西藏", "西藏自治区"),
        ("香港", "香港特别行政区"),
        ("澳门", "澳门特别行政区"),
        ("台湾", "台湾省"),
        ("湘西", "湘西土家族苗族自治州"),
        ("恩施", "恩施土家族苗族自治州"),
        ("锡林郭勒", "锡林郭勒盟"),
        ("大兴安岭", "大兴安岭地区"),
    ],
)
def test_find_region_chinese_and_english(text: str, canonical: str) -> None:
    region = find_region(text)
    assert region is not None
    assert region.name == canonical


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("jieyang", "揭阳市"),
        ("jie yang", "揭阳市"),
        ("Jie Yang", "揭阳市"),
        ("guangzhou", "广州市"),
        ("guang zhou", "广州市"),
        ("henan", "河南省"),
        ("he nan", "河南省"),
        ("shanghai", "上海市"),
        ("shang hai", "上海市"),
        ("chongqing", "重庆市"),  # 重 read chong, not zhong
        ("Shanxi", "山西省"),
        ("Shaanxi", "陕西省"),
        ("fujian", "福建省"),
        ("福州", "福州市"),
        ("苏州", "苏州市"),
    ],
)
def test_find_region_pinyin_with_and_without_spaces(text: str, canonical: str) -> None:
    region = find_region(text)
    assert region is not None
    assert region.name == canonical


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("Inner Mongolia", "内蒙古自治区"),
        ("inner mongolia", "内蒙古自治区"),
        ("Nei Mongol", "内蒙古自治区"),
        ("Tibet", "西藏自治区"),
        ("Xizang", "西藏自治区"),
        ("Xi'an", "西安市"),
        ("Xian", "西安市"),
        ("Hong Kong", "香港特别行政区"),
        ("hong kong", "香港特别行政区"),
        ("Macao", "澳门特别行政区"),
        ("Macau", "澳门特别行政区"),
        ("Peking", "北京市"),
        ("Canton", "广州市"),
        ("Harbin", "哈尔滨市"),
        ("Urumqi", "乌鲁木齐市"),
        ("Hohhot", "呼和浩特市"),
        ("Lhasa", "拉萨市"),
    ],
)
def test_find_region_english_exonyms(text: str, canonical: str) -> None:
    region = find_region(text)
    assert region is not None
    assert region.name == canonical


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("延边州", "延边朝鲜族自治州"),
        ("延边", "延边朝鲜族自治州"),
        ("湘西州", "湘西土家族苗族自治州"),
        ("海南州", "海南藏族自治州"),
        ("吉林", "吉林省"),  # a bare name shared by a province and a prefecture goes to the province
        ("吉林省", "吉林省"),
        ("吉林市", "吉林市"),
        ("海南", "海南省"),
        ("海南省", "海南省"),
        ("海南藏族自治州", "海南藏族自治州"),
    ],
)
def test_find_region_autonomous_prefectures_and_shared_names(text: str, canonical: str) -> None:
    region = find_region(text)
    assert region is not None
    assert region.name == canonical


@pytest.mark.parametrize(
    ("alias", "owners"),
    [
        ("fuzhou", {"福州市", "抚州市"}),
        ("suzhou", {"苏州市", "宿州市"}),
        ("taizhou", {"台州市", "泰州市"}),
        ("fu zhou", {"福州市", "抚州市"}),
        ("su zhou", {"苏州市", "宿州市"}),
        ("tai zhou", {"台州市", "泰州市"}),
    ],
)
def test_ambiguous_pinyin_finds_nothing_and_is_listed(alias: str, owners: set[str]) -> None:
    assert find_region(alias) is None
    assert find_region(alias.title()) is None
    assert alias not in alias_index()
    assert set(ambiguous_aliases()[alias]) == owners


def test_ambiguous_aliases_are_exactly_those_missing_from_the_index() -> None:
    ambiguous = ambiguous_aliases()
    index = alias_index()
    assert ambiguous  # there are some (fuzhou, suzhou, …)
    for alias, owners in ambiguous.items():
        assert alias not in index
        assert len(owners) >= 2
        assert list(owners) == sorted(owners)


@pytest.mark.parametrize("text", ["", "   ", "火星", "Atlantis", "shanghaied", "社保卡", "12333"])
def test_find_region_unknown(text: str) -> None:
    assert find_region(text) is None


# ---------------------------------------------------------------- region_chain, display_name


@pytest.mark.parametrize(
    ("name", "chain"),
    [
        ("揭阳市", ["揭阳市", "广东省"]),
        ("吉林市", ["吉林市", "吉林省"]),
        ("延边朝鲜族自治州", ["延边朝鲜族自治州", "吉林省"]),
        ("海南藏族自治州", ["海南藏族自治州", "青海省"]),
        ("广东省", ["广东省"]),
        ("上海市", ["上海市"]),
        ("香港特别行政区", ["香港特别行政区"]),
        ("揭阳", []),  # only canonical names
        ("火星市", []),
    ],
)
def test_region_chain(name: str, chain: list[str]) -> None:
    assert region_chain(name) == chain


@pytest.mark.parametrize(
    ("name", "english"),
    [
        ("北京市", "Beijing"),  # the official spelling, not the exonym Peking
        ("上海市", "Shanghai"),
        ("揭阳市", "Jieyang"),
        ("广州市", "Guangzhou"),
        ("河南省", "Henan"),
        ("陕西省", "Shaanxi"),
        ("山西省", "Shanxi"),
        ("内蒙古自治区", "Inner Mongolia"),
        ("西藏自治区", "Tibet"),
        ("香港特别行政区", "Hong Kong"),
        ("澳门特别行政区", "Macao"),
        ("西安市", "Xi'an"),
        ("广西壮族自治区", "Guangxi"),
        ("延边朝鲜族自治州", "Yanbian"),
    ],
)
def test_display_name(name: str, english: str) -> None:
    assert display_name(name, "en") == english
    assert display_name(name, "zh") == name


def test_display_name_of_unknown_name_is_unchanged() -> None:
    assert display_name("火星市", "en") == "火星市"
    assert display_name("火星市", "zh") == "火星市"


def test_every_region_has_an_ascii_english_name() -> None:
    for region in all_regions():
        assert region.name_en and region.name_en.isascii(), region.name
        assert region.name_en[0].isupper(), region.name


# ---------------------------------------------------------------- regressions (bugs found and fixed)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("黔东南", "黔东南苗族侗族自治州"), ("黔西南", "黔西南布依族苗族自治州"), ("西双版纳", "西双版纳傣族自治州")],
)
def test_fixed_autonomous_prefecture_short_names_truncated(text: str, canonical: str) -> None:
    region = find_region(text)
    assert region is not None and region.name == canonical


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("伊犁", "伊犁哈萨克自治州"),
        ("博尔塔拉", "博尔塔拉蒙古自治州"),
        ("巴音郭楞", "巴音郭楞蒙古自治州"),
        ("克孜勒苏", "克孜勒苏柯尔克孜自治州"),
    ],
)
def test_fixed_autonomous_prefectures_without_zu(text: str, canonical: str) -> None:
    region = find_region(text)
    assert region is not None and region.name == canonical


@pytest.mark.parametrize(
    ("pinyin", "canonical"),
    [("changzhi", "长治市"), ("chaoyang", "朝阳市"), ("luohe", "漯河市"), ("changdu", "昌都市")],
)
def test_fixed_heteronym_pinyin(pinyin: str, canonical: str) -> None:
    region = find_region(pinyin)
    assert region is not None and region.name == canonical
    assert display_name(canonical, "en") == pinyin.capitalize()


def test_fixed_spaced_shanxi_inconsistent_with_joined() -> None:
    assert find_region("shanxi") is not None
    region = find_region("shan xi")
    assert region is not None and region.name == find_region("shanxi").name


# ---------------------------------------------------------------- the spaCy pipeline


@pytest.fixture(scope="module")
def nlp():
    if not SPACY_MODEL.exists():
        pytest.fail(f"{SPACY_MODEL} is missing: run scripts/build_spacy_model.py")
    import spacy

    import components.region_entities  # noqa: F401  (registers the pipeline's callback)

    return spacy.load(SPACY_MODEL)


def _regions_in(nlp, text: str) -> list[str]:
    return [e.ent_id_ for e in nlp(text).ents if e.label_ == "region"]


def test_jieba_keeps_the_city_name_one_token(nlp) -> None:
    doc = nlp("揭阳市社保卡在哪里激活")
    tokens = [t.text for t in doc]
    assert tokens[0] == "揭阳市"
    assert "".join(tokens) == "揭阳市社保卡在哪里激活"
    ents = [(e.text, e.label_, e.ent_id_) for e in doc.ents]
    assert ents == [("揭阳市", "region", "揭阳市")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("揭阳市社保卡在哪里激活", ["揭阳市"]),
        ("我在上海，社保卡怎么激活", ["上海市"]),
        ("河南的社保卡激活要带什么", ["河南省"]),
        ("广州社保卡密码忘了怎么办", ["广州市"]),
        ("我是揭阳人，卡在哪里激活", ["揭阳市"]),
        ("我在吉林市，社保卡怎么激活", ["吉林市"]),
        ("吉林的社保卡能在外地激活吗", ["吉林省"]),
        ("我在延边州办的卡", ["延边朝鲜族自治州"]),
        ("我在福州", ["福州市"]),
        ("I live in Shanghai, how do I activate my card?", ["上海市"]),
        ("How do I activate my card in Inner Mongolia?", ["内蒙古自治区"]),
        ("I am in Xi'an now", ["西安市"]),
        ("My card is from Hong Kong", ["香港特别行政区"]),
        ("I moved to guangzhou last year", ["广州市"]),
        ("Can I activate it in Jie Yang?", ["揭阳市"]),
        ("Which bank activates cards in Henan?", ["河南省"]),
    ],
)
def test_sentences_yield_the_canonical_region(nlp, text: str, expected: list[str]) -> None:
    assert _regions_in(nlp, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I was shanghaied",
        "I'm in Fuzhou, where do I activate it?",  # ambiguous pinyin: no guess
        "How do I activate my social security card?",
        "社保卡怎么激活",
    ],
)
def test_sentences_without_a_region(nlp, text: str) -> None:
    assert _regions_in(nlp, text) == []


def test_the_built_table_reads_back_as_the_computed_one(tmp_path: Path) -> None:
    """What `make setup` writes (build/regions.json) is the table computed from cpca and pypinyin,
    region for region, and a table stamped for other code is not used."""
    import json

    from core.regions import computed_regions, read_table, table_stamp, write_table

    path = tmp_path / "regions.json"
    write_table(path)
    assert read_table(path) == computed_regions()
    assert len(computed_regions()) > 360
    table = json.loads(path.read_text(encoding="utf-8"))
    table["stamp"] = "made from an older core/regions.py"
    path.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
    assert read_table(path) is None
    assert read_table(tmp_path / "missing.json") is None
    path.write_text("{not json", encoding="utf-8")
    assert read_table(path) is None
    # JSON of another shape, even with the right stamp: not used either
    stamp = table_stamp()
    for other in (
        [],
        {"stamp": stamp},
        {"stamp": stamp, "regions": [{"name": "上海市"}]},
        {"stamp": stamp, "regions": 3},
    ):
        path.write_text(json.dumps(other, ensure_ascii=False), encoding="utf-8")
        assert read_table(path) is None, other


def test_with_the_built_table_no_process_loads_pypinyin(tmp_path: Path) -> None:
    """The processes read the table instead of importing pypinyin (its phrase dictionary: 46 MB each)."""
    import subprocess
    import sys

    from core.regions import write_table

    path = tmp_path / "regions.json"
    write_table(path)
    code = (
        "import sys; import core.regions as r; r.BUILT_TABLE = __import__('pathlib').Path(sys.argv[1]); "
        "print(r.find_region('Jieyang').name, r.find_region('changsha').name, 'pypinyin' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["揭阳市", "长沙市", "False"]
