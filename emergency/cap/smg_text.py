"""SMG's warning signals as people write them, in the three languages Macau uses.

    read_signal("tropical_cyclone", "八號東北風球")                    -> Reading("8NE")
    read_signal("tropical_cyclone", "Signal No. 3 replaced by No. 8 NE") -> Reading("8NE")
    read_signal("tropical_cyclone", "Sinal n.º 8 arriado")              -> Reading(None)  (lowered)
    read_signal("rainstorm", "紅色暴雨警告信號")                          -> Reading("red")

The text is first normalised: NFKC (full-width digits and letters become ASCII: ８號 is 8號),
lower case, Traditional characters folded to Simplified for the words that matter (號/号,
風球/风球, 東北/东北 …), Chinese numerals to digits. Then:
- "X replaced by Y" is Y (en "replaced by", "superseded by"; pt "substituído por";
  zh "改为/改挂/改悬挂/转为" take what follows, "Y取代X" what comes before);
- a lowering word (en lowered/cancelled, pt arriado/cancelado, zh 除下/取消/解除) with no
  signal left in force means lowered;
- Signal No. 8 needs its quadrant (NE/SE/SW/NW, 东北…, nordeste…): "No. 8" alone is
  `Reading(ambiguous=…)`, a question for the operator, never a guess.
A text that names none of the kind's signals reads as None: the caller tries other texts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_TRAD_TO_SIMP = str.maketrans(
    {
        "號": "号", "風": "风", "東": "东", "颱": "台", "紅": "红", "黃": "黄", "藍": "蓝",
        "懸": "悬", "掛": "挂", "發": "发", "強": "强", "備": "备", "颶": "飓", "報": "报",
        "轉": "转", "為": "为", "訊": "讯", "經": "经", "預": "预",
    }
)  # fmt: skip
_CN_NUMBERS = {"一": "1", "三": "3", "八": "8", "九": "9", "十": "10"}

_DIRECTIONS = {
    "ne": "NE", "northeast": "NE", "north-east": "NE", "north east": "NE", "东北": "NE",
    "nordeste": "NE",
    "se": "SE", "southeast": "SE", "south-east": "SE", "south east": "SE", "东南": "SE",
    "sudeste": "SE",
    "sw": "SW", "southwest": "SW", "south-west": "SW", "south west": "SW", "西南": "SW",
    "sudoeste": "SW",
    "nw": "NW", "northwest": "NW", "north-west": "NW", "north west": "NW", "西北": "NW",
    "noroeste": "NW",
}  # fmt: skip
_DIRECTION = (
    r"(north[\s-]?east|south[\s-]?east|south[\s-]?west|north[\s-]?west|nordeste|sudeste|"
    r"sudoeste|noroeste|东北|东南|西南|西北|ne|se|sw|nw)"
)

# Signal mentions, each with the number in group "n". Chinese: 8号(东北)…(信号|风球).
_TC_ZH = re.compile(
    r"(?P<n>10|[1389])\s*号\s*(?P<d>东北|东南|西南|西北)?[^\s,，。;；、]{0,10}?(?:信号|风球)"
)
# English and Portuguese: "signal no. 8", "no.8", "sinal n.º 8", "sinal nº 8", "t8".
_TC_LATIN = re.compile(
    r"(?:\bsignal\s*(?:no\.?|number|#)?\s*|\bno\.?\s*|\bnumber\s*|"
    r"\bsinal\s*(?:n\.?\s*[oº°]\.?|n\.|número|numero)?\s*|\bt)"
    r"(?P<n>10|[1389])(?![\d.,]\d)"
)
_AFTER_8 = re.compile(
    r"\s*(?:\(|,|-)?\s*(?:(?:gale\s+or\s+storm|de\s+vendaval\s+ou\s+tempestade|"
    r"de\s+vento\s+forte\s+ou\s+tempestade)\s*(?:signal\s*)?(?:(?:of|from|do|de|da|do\s+quadrante)\s+)?"
    r"(?:the\s+)?)?" + _DIRECTION + r"\b"
)

_REPLACED_AFTER = re.compile(
    r"replaced\s+by|superseded\s+by|substitu[ií]do\s+(?:por|pelo|pela)|改为|改挂|改悬挂|转为|改发"
)
_REPLACED_BEFORE = re.compile(r"取代")
_LOWERED = re.compile(
    r"\blowered\b|\bcancell?ed\b|\barriad[oa]s?\b|\bcancelad[oa]s?\b|除下|取消|解除"
)

_COLOURS = {
    "yellow": "yellow", "amarelo": "yellow", "amarela": "yellow", "黄": "yellow",
    "red": "red", "vermelho": "red", "vermelha": "red", "红": "red",
    "black": "black", "preto": "black", "preta": "black", "黑": "black",
    "blue": "blue", "azul": "blue", "蓝": "blue",
    "orange": "orange", "laranja": "orange", "橙": "orange",
}  # fmt: skip
_COLOUR = (
    r"(yellow|amarel[oa]|黄|red|vermelh[oa]|红|black|pret[oa]|黑|blue|azul|蓝|orange|laranja|橙)"
)
_KIND_WORDS = {
    "rainstorm": r"(?:rainstorm|暴雨|chuva\s+intensa|chuvas\s+intensas)",
    "storm_surge": r"(?:storm\s+surge|风暴潮|mar[ée]\s+de\s+tempestade|mar[ée]s?\s+de\s+tempestade)",
}
_KIND_LEVELS = {
    "rainstorm": ("yellow", "red", "black"),
    "storm_surge": ("blue", "yellow", "orange", "red", "black"),
}


@dataclass(frozen=True, slots=True)
class Reading:
    """What a text says of one kind: `level` (None: lowered), or `ambiguous` (why not)."""

    level: str | None
    ambiguous: str | None = None


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_TRAD_TO_SIMP)
    text = re.sub(r"十号", "10号", text)
    return re.sub(r"[一三八九](?=\s*号)", lambda m: _CN_NUMBERS[m[0]], text)


def read_signal(kind: str, text: str) -> Reading | None:
    """What `text` says of SMG's `kind` (module docstring); None when it names none of it."""
    if not text or not text.strip():
        return None
    norm = normalise(text)
    if kind == "tropical_cyclone":
        reader = _tropical_cyclone
    elif kind in _KIND_WORDS:
        return _coloured(kind, norm)
    else:
        return None
    mentions = reader(norm)
    return _choose(norm, mentions, replaced_before=True) if mentions else None


def _choose(
    norm: str, mentions: list[tuple[int, Reading]], *, replaced_before: bool
) -> Reading | None:
    """Which of the signal's `mentions` (position, reading) the text means: the one after
    "replaced by"; with `replaced_before` the one before "取代" (replaces); else the first, or
    the last when the text says a signal was lowered (one mention and "lowered": lowered)."""
    replaced = _REPLACED_AFTER.search(norm)
    if replaced:
        after = [m for m in mentions if m[0] >= replaced.end()]
        if after:
            return after[0][1]
    before = _REPLACED_BEFORE.search(norm) if replaced_before else None
    if before:
        earlier = [m for m in mentions if m[0] < before.start()]
        if earlier:
            return earlier[-1][1]
    if _LOWERED.search(norm) and len(mentions) == 1:
        return Reading(None)
    return mentions[-1][1] if _LOWERED.search(norm) else mentions[0][1]


def _tropical_cyclone(norm: str) -> list[tuple[int, Reading]]:
    found: dict[int, Reading] = {}
    for match in _TC_ZH.finditer(norm):
        direction = match["d"] or _direction_near(norm, match.end())
        found[match.start()] = _tc_level(match["n"], direction, match[0])
    for match in _TC_LATIN.finditer(norm):
        if any(abs(match.start() - pos) < 3 for pos in found):
            continue
        after = _AFTER_8.match(norm, match.end())
        direction = (
            _DIRECTIONS[re.sub(r"[\s-]+", "-", after[1]).replace("-", "")] if after else None
        )
        found[match.start()] = _tc_level(match["n"], direction, match[0])
    return sorted(found.items())


def _direction_near(norm: str, pos: int) -> str | None:
    # "八号烈风或暴风信号（东北）": the quadrant right after the signal's name.
    match = re.match(r"\s*[(（]?\s*(东北|东南|西南|西北)", norm[pos:])
    return _DIRECTIONS[match[1]] if match else None


def _tc_level(number: str, direction: str | None, said: str) -> Reading:
    if number != "8":
        return Reading(number)
    if direction is None:
        return Reading(None, ambiguous=f"Signal No. 8 without its quadrant ({said.strip()!r})")
    if direction in ("东北", "东南", "西南", "西北"):
        direction = _DIRECTIONS[direction]
    return Reading(f"8{direction}")


def _coloured(kind: str, norm: str) -> Reading | None:
    words = _KIND_WORDS[kind]
    mentions: list[tuple[int, Reading]] = []
    # A colour before or after the kind's words, within a few words: "红色暴雨", "red
    # rainstorm", "Sinal Vermelho de Chuva Intensa", "chuva intensa: vermelho".
    pattern = re.compile(
        rf"{_COLOUR}\s*(?:色|colou?r)?\s*(?:\S+\s+){{0,3}}?{words}|{words}\s*(?:\S+\s+){{0,3}}?{_COLOUR}"
    )
    for match in pattern.finditer(norm):
        colour = _COLOURS.get(match[1] or match[2] or "")
        if colour in _KIND_LEVELS[kind]:
            mentions.append((match.start(), Reading(colour)))
    if not mentions:
        if re.search(words, norm) and _LOWERED.search(norm):
            return Reading(None)
        return None
    return _choose(norm, mentions, replaced_before=False)
