"""China's administrative divisions as a gazetteer for the `region` entity.

The divisions come from the `cpca` package's table of administrative codes (adcodes.csv, derived from
the Ministry of Civil Affairs' list); pinyin spellings come from `pypinyin`. Nothing here is typed by
hand except the handful of English exonyms that pinyin cannot produce (Inner Mongolia, Tibet, …).

Every alias (short name, full name, pinyin, English) maps to the canonical full Chinese name, which is
the value the `region` entity and slot carry: 上海 / Shanghai → 上海市, 揭阳 → 揭阳市, 河南 → 河南省.

`make setup` writes the table once to build/regions.json (`python -m core.regions build/regions.json`),
and the three processes that use it (Rasa, the action server, the web server) read that file: pypinyin's
phrase dictionary, which the table needs, takes 46 MB in every process that imports it. Without the
file, or with one made from another version of this module or of the two packages, the table is
computed here as before.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# The table as `make setup` built it (see the module's docstring).
BUILT_TABLE = Path(__file__).resolve().parent.parent / "build" / "regions.json"

# Placeholder rows in the adcode table that are not real places.
_PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}

# Suffixes stripped to get the name people say ("广西壮族自治区" → "广西", "延边朝鲜族自治州" → "延边").
_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "地区", "省", "市", "盟")
# The 55 minority ethnic groups (GB 3304), whose names end autonomous prefecture names, with or
# without 族: "湘西土家族苗族自治州" → "湘西", "伊犁哈萨克自治州" → "伊犁".
_ETHNIC_GROUPS = (
    "蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 水 东乡 纳西 "
    "景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 "
    "保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺"
).split()
_ETHNIC_TAIL = re.compile("(?:" + "|".join(sorted(_ETHNIC_GROUPS, key=len, reverse=True)) + ")族?$")
# Readings pypinyin gets wrong for these place names (polyphonic characters); used for English names.
_PINYIN_FIXES = {
    "长治": "changzhi",
    "朝阳": "chaoyang",
    "漯河": "luohe",
    "昌都": "changdu",
    "阿勒泰": "aletai",
    "锡林郭勒": "xilinguole",
}
_MAX_READINGS = 8  # pinyin spellings kept per name when characters have several readings

# English names that are not the pinyin of the short name (official spellings first, then exonyms
# people still type). The first is the name used in replies.
_EXONYMS: dict[str, tuple[str, ...]] = {
    "内蒙古自治区": ("Inner Mongolia", "Nei Mongol"),
    "西藏自治区": ("Tibet", "Xizang"),
    "陕西省": ("Shaanxi",),
    "香港特别行政区": ("Hong Kong", "HK"),
    "澳门特别行政区": ("Macao", "Macau"),
    "台湾省": ("Taiwan",),
    "北京市": ("Beijing", "Peking"),
    "广州市": ("Guangzhou", "Canton"),
    "哈尔滨市": ("Harbin",),
    "乌鲁木齐市": ("Urumqi",),
    "呼和浩特市": ("Hohhot",),
    "拉萨市": ("Lhasa",),
    "西安市": ("Xi'an", "Xian"),
}
# Pinyin that names a different division than the one it is the pinyin of (陕西 is "Shaanxi").
_PINYIN_EXCLUDED = {"陕西省": {"shanxi", "shan xi"}}


@dataclass(frozen=True)
class Region:
    """One administrative division: canonical name, level and every way people write it."""

    name: str  # canonical full Chinese name, e.g. 揭阳市
    short: str  # e.g. 揭阳
    level: str  # "province" or "prefecture"
    adcode: str
    province: str  # canonical name of the province-level division it belongs to (itself for provinces)
    name_en: str
    aliases: tuple[str, ...] = field(default_factory=tuple)
    # Other readings of polyphonic characters: matched only where no division claims them otherwise.
    alternative_readings: tuple[str, ...] = field(default_factory=tuple)


def _short_name(full: str) -> str:
    for suffix in _SUFFIXES:
        if full.endswith(suffix) and len(full) - len(suffix) >= 2:
            stem = full[: -len(suffix)]
            if suffix in {"自治州", "自治区"}:
                while (shorter := _ETHNIC_TAIL.sub("", stem)) != stem and len(shorter) >= 2:
                    stem = shorter
            return stem
    return full


def _pinyin_readings(short: str) -> list[str]:
    """Pinyin spellings of a name, the likeliest first; every reading of a polyphonic character is
    kept (up to _MAX_READINGS spellings) so people who spell 长治 "changzhi" are understood."""
    from pypinyin import Style, lazy_pinyin, pinyin  # only where the table is computed (46 MB)

    readings = [""]
    for options in pinyin(short, style=Style.NORMAL, heteronym=True):
        readings = [r + o for r in readings for o in dict.fromkeys(options)][:_MAX_READINGS]
    first = _PINYIN_FIXES.get(short, "".join(lazy_pinyin(short)))
    return [first] + [r for r in readings if r != first]


def _read_adcodes() -> list[tuple[str, str]]:
    table = resources.files("cpca").joinpath("resources/adcodes.csv")
    with table.open(encoding="utf-8") as handle:
        return [(row["adcode"], row["name"]) for row in csv.DictReader(handle)]


@lru_cache(maxsize=1)
def all_regions() -> tuple[Region, ...]:
    """All 34 province-level divisions and every prefecture-level division, with their aliases:
    from the built table if it was made from this module and these packages, computed otherwise."""
    return read_table(BUILT_TABLE) or computed_regions()


def table_stamp() -> str:
    """What a built table depends on: this module's code and the versions of cpca and pypinyin."""
    made_of = Path(__file__).read_bytes() + f"|{metadata.version('cpca')}|{metadata.version('pypinyin')}".encode()
    return hashlib.sha256(made_of).hexdigest()


def write_table(path: Path) -> None:
    """Write the computed table to `path` with its stamp (what `make setup` runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = {"stamp": table_stamp(), "regions": [asdict(region) for region in computed_regions()]}
    path.write_text(json.dumps(table, ensure_ascii=False, indent=0), encoding="utf-8")


def read_table(path: Path) -> tuple[Region, ...] | None:
    """The table written by `write_table`, or None if there is none or it was made from other code."""
    try:
        table: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(table, dict) or table.get("stamp") != table_stamp():
        logger.info("%s was built from other code or packages; computing the region table instead", path)
        return None
    try:
        return tuple(
            Region(
                **{**row, "aliases": tuple(row["aliases"]), "alternative_readings": tuple(row["alternative_readings"])}
            )
            for row in table["regions"]
        )
    except (KeyError, TypeError):  # stamped right but not of the shape write_table writes (edited by hand)
        logger.info("%s is not a region table; computing the region table instead", path)
        return None


def computed_regions() -> tuple[Region, ...]:
    """The table computed from cpca's adcodes and pypinyin."""
    from pypinyin import lazy_pinyin

    rows = _read_adcodes()
    provinces = {code[:2]: name for code, name in rows if code.endswith("0000000000")}
    regions: list[Region] = []
    for code, name in rows:
        is_province = code.endswith("0000000000")
        is_prefecture = not is_province and code[4:] == "00000000" and name not in _PLACEHOLDERS
        if not (is_province or is_prefecture):
            continue
        short = _short_name(name)
        readings = _pinyin_readings(short)
        spaced = " ".join(lazy_pinyin(short)) if short not in _PINYIN_FIXES else None
        english = _EXONYMS.get(name, ())
        name_en = english[0] if english else readings[0].capitalize()
        aliases = {name, short, readings[0], *english, *([spaced] if spaced else [])}
        if name.endswith("自治州"):
            aliases.add(short + "州")  # 延边州, 海南州: how people name autonomous prefectures
        aliases -= _PINYIN_EXCLUDED.get(name, set())
        regions.append(
            Region(
                name=name,
                short=short,
                level="province" if is_province else "prefecture",
                adcode=code[:6],
                province=provinces[code[:2]],
                name_en=name_en,
                aliases=tuple(sorted(a for a in aliases if a)),
                alternative_readings=tuple(r for r in readings[1:] if r not in aliases),
            )
        )
    return tuple(sorted(regions, key=lambda r: r.adcode))


@lru_cache(maxsize=1)
def alias_index() -> dict[str, str]:
    """Lower-cased alias → canonical name. Aliases shared by two divisions are left out (ambiguous).

    A province and its capital never collide in Chinese; in pinyin some prefectures do (抚州/福州 are both
    "fuzhou"), and guessing would send a person to the wrong city's rules.
    """
    index: dict[str, str] = {}
    primary = _alias_owners()
    for alias, names in primary.items():
        if len(names) == 1:
            index[alias] = next(iter(names))
        else:
            # 吉林 and 海南 name a province and a prefecture: people who mean the prefecture say 吉林市 or
            # 海南州, so the bare name goes to the province.
            provinces = [n for n in names if _by_name()[n].level == "province"]
            if len(provinces) == 1:
                index[alias] = provinces[0]
    for alias, names in _alias_owners(alternative=True).items():
        if alias not in primary and len(names) == 1:
            index[alias] = next(iter(names))
    return index


def _alias_owners(alternative: bool = False) -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for region in all_regions():
        for alias in region.alternative_readings if alternative else region.aliases:
            owners.setdefault(alias.lower(), set()).add(region.name)
    return owners


def ambiguous_aliases() -> dict[str, tuple[str, ...]]:
    """Aliases that name more than one division and are left out of the index, for docs and tests."""
    index = alias_index()
    return {a: tuple(sorted(n)) for a, n in _alias_owners().items() if a not in index}


@lru_cache(maxsize=1)
def _by_name() -> dict[str, Region]:
    return {region.name: region for region in all_regions()}


def find_region(name: str) -> Region | None:
    """The division whose canonical name or unambiguous alias is `name`."""
    canonical = alias_index().get(name.strip().lower())
    return _by_name().get(canonical) if canonical else None


def region_chain(name: str) -> list[str]:
    """Canonical names from the most to the least specific: 揭阳市 → [揭阳市, 广东省]."""
    region = _by_name().get(name)
    if region is None:
        return []
    return [region.name] if region.level == "province" else [region.name, region.province]


def display_name(name: str, language: str) -> str:
    """How to name a division in a reply: its canonical Chinese name, or its English name."""
    region = _by_name().get(name)
    if region is None or language == "zh":
        return name
    return region.name_en


if __name__ == "__main__":  # python -m core.regions build/regions.json
    write_table(Path(sys.argv[1]) if len(sys.argv) > 1 else BUILT_TABLE)
