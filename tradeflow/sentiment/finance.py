"""Finance-domain rules: turn a sentence into signed pieces of evidence.

General-purpose sentiment reads words; financial news is about quantities that move. The
rules below find the moves and judge them from an investor's point of view:

* change      a direction word applied to a quantity: "costs fell" (+), "profit fell" (-),
              "loss narrowed" (+); negation flips it ("sales did not increase").
* numbers     no direction word, but two figures compared: "profit was EUR 5 mn, compared
              with EUR 8 mn", "rose to 5 from 8", "EUR 105.8 (83.4) million".
* swing       a move across zero: "swung to a profit", "a loss, against a profit a year ago".
* expectation beats / misses: "beat estimates", "below expectations", "worse than expected".
* rating      analyst actions that land on a rating: "raised to buy", "cut to underperform".
* warning     "profit warning", "warned on earnings".
* deal        "won an order", "signed a contract".
* layoffs     "lay off 300 workers", "eliminate 40 jobs".
* level       news by mere mention: a reported loss (-), cost savings, synergies (+).

Evidence weights are in VADER's valence units (about -4..+4 per word) so that scorers.py can
add them to VADER's own sum before normalising. A sentence with no evidence may still be
flagged as boilerplate (company descriptions, disclosure formalities), which scorers.py treats
as neutral whatever its wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import lexicon as lx

# Weights (VADER valence units). A single clear move of a headline figure should land well
# beyond the label threshold on its own; a move of an unnamed quantity counts for less.
CHANGE_WEIGHT = 2.2
UNNAMED_CHANGE_WEIGHT = 1.0
STRONG_FACTOR = 1.3
SWING_WEIGHT = 2.8
EXPECTATION_WEIGHT = 2.5
RATING_WEIGHT = 2.5
WARNING_WEIGHT = -3.0
DEAL_WEIGHT = 1.8
LAYOFF_WEIGHT = -2.2
LEVEL_WEIGHT = 1.6

# How far (in tokens) a direction word looks for the quantity it moves.
LEFT_WINDOW = 10
RIGHT_WINDOW = 6


@dataclass(frozen=True)
class Evidence:
    """One rule firing: its name, signed weight (VADER valence units) and trigger words."""

    rule: str
    weight: float
    words: str


@dataclass(frozen=True)
class Analysis:
    """Everything the rules found in a text."""

    evidence: tuple[Evidence, ...]
    boilerplate: bool

    @property
    def valence(self) -> float:
        return sum(e.weight for e in self.evidence)


# --- text normalisation ----------------------------------------------------------------------
_CURRENCY_PREFIX = re.compile(
    r"\b(eur|euro|euros|usd|us|gbp|gbx|sek|nok|dkk|chf|jpy|rmb|rub|pln|ltl|eek|inr|cny|a)"
    r"(?=[-+]?\d)")
_UNIT_SUFFIX = re.compile(r"(\d)(mn|mln|m|bn|bln|b|k|pct|%)\b")
# Mis-decoded currency signs ("x20ac" is a mangled euro sign, "+ó" runs and the like).
_ENCODING_NOISE = re.compile(r"\bx20ac\b|\bx201a\b|[€£¥]")
_SPLIT_DECIMAL = re.compile(r"(\d) \.(\d)")  # "EUR1 .2 m" in pre-tokenised news text
_THAN_EXPECTED = re.compile(r"-than-(expected|forecast|anticipated|estimated)")
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(`])")
_TOKEN = re.compile(
    r"(?<![\w.])-?\d+(?:[.,]\d+)*|\d+(?:[.,]\d+)*|[a-z][a-z0-9]*(?:[-'][a-z0-9]+)*|[^\s\w]")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*$")

_CLAUSE_PUNCT = frozenset(";:!?.")
_CLAUSE_CONJ = frozenset("but while whereas although though however meanwhile".split())
_AFTER_COMMA_CONJ = frozenset("and but while whereas although though however as".split())

_UNITS = {"mn": 1e6, "m": 1e6, "mln": 1e6, "million": 1e6, "millions": 1e6,
          "bn": 1e9, "b": 1e9, "bln": 1e9, "billion": 1e9, "billions": 1e9,
          "k": 1e3, "thousand": 1e3, "thousands": 1e3, "tn": 1e12, "trillion": 1e12}
_PERCENT = frozenset("% percent pct per-cent percentage".split())
_CURRENCIES = frozenset(
    "eur euro euros $ usd us$ gbp gbx sek nok dkk chf jpy rmb rub pln ltl eek inr cny "
    "dollar dollars pence cents crowns kronor yen pounds".split())


def _normalise(text: str) -> str:
    t = _SPLIT_DECIMAL.sub(r"\1.\2", text)
    t = _ENCODING_NOISE.sub(" eur ", t.lower())
    t = t.replace("$", " $ ").replace("n't", " not")
    t = _THAN_EXPECTED.sub(r" than \1", t)
    t = _CURRENCY_PREFIX.sub(r"\1 ", t)
    return _UNIT_SUFFIX.sub(r"\1 \2", t)


def _clauses(sentences: list[str]) -> list[list[str]]:
    """Tokens of each clause; a direction word and its quantity rarely cross a clause."""
    out: list[list[str]] = []
    for sentence in sentences:
        cur: list[str] = []
        toks = _TOKEN.findall(sentence)
        for i, tok in enumerate(toks):
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            if tok in _CLAUSE_PUNCT or tok in _CLAUSE_CONJ or (
                    tok == "," and nxt in _AFTER_COMMA_CONJ):
                if cur:
                    out.append(cur)
                cur = []
                continue
            cur.append(tok)
        if cur:
            out.append(cur)
    return out


# --- numbers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Figure:
    index: int
    value: float
    kind: str  # "percent" | "amount" | "plain"
    scaled: bool


def _parse_number(tok: str) -> float:
    t = tok
    if "," in t and "." in t:
        t = t.replace(",", "")
    elif "," in t:
        groups = t.split(",")
        # "102,000" groups thousands; "37,7" is a European decimal comma.
        t = t.replace(",", "") if all(len(g) == 3 for g in groups[1:]) else t.replace(",", ".")
    try:
        return float(t)
    except ValueError:
        return float("nan")


def _figure(toks: list[str], i: int) -> _Figure | None:
    tok = toks[i]
    if not _NUMBER.match(tok):
        return None
    value = _parse_number(tok)
    if value != value:  # NaN
        return None
    prev = toks[i - 1] if i > 0 else ""
    nxt = toks[i + 1] if i + 1 < len(toks) else ""
    has_currency = prev in _CURRENCIES or nxt in _CURRENCIES
    if nxt in _PERCENT:
        return _Figure(i, value, "percent", False)
    scale = _UNITS.get(nxt)
    if scale is None and nxt in _CURRENCIES and i + 2 < len(toks):
        scale = _UNITS.get(toks[i + 2])
    # A bare four-digit integer between 1900 and 2100 is a year, not a figure.
    if not has_currency and scale is None and value.is_integer() and 1900 <= value <= 2100:
        return None
    if i >= 2 and prev in _CURRENCIES and toks[i - 2] == "negative" or prev == "negative":
        value = -value
    return _Figure(i, value * (scale or 1.0), "amount" if has_currency or scale else "plain",
                   scale is not None)


def _compatible(a: _Figure, b: _Figure) -> bool:
    return (a.kind == "percent") == (b.kind == "percent")


def _compare(cur: _Figure, prior: _Figure) -> int:
    a, b = cur.value, prior.value
    if cur.scaled != prior.scaled:
        # "EUR 5.9 m compared with 6.6" leaves the unit out once: compare as written.
        a, b = _parse_number_abs(a, cur), _parse_number_abs(b, prior)
    return (a > b) - (a < b)


def _parse_number_abs(value: float, fig: _Figure) -> float:
    if not fig.scaled:
        return value
    for scale in (1e12, 1e9, 1e6, 1e3):
        if abs(value) >= scale:
            return value / scale
    return value


# --- quantities ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Quantity:
    start: int
    end: int  # exclusive
    valence: int
    weight: float
    words: str


_QUANTITY_STARTS = frozenset(k[0] for k in lx.QUANTITIES)


def _quantities(toks: list[str]) -> list[_Quantity]:
    found: list[_Quantity] = []
    i = 0
    while i < len(toks):
        if toks[i] not in _QUANTITY_STARTS:
            i += 1
            continue
        for n in range(min(lx.MAX_QUANTITY_LEN, len(toks) - i), 0, -1):
            key = tuple(toks[i:i + n])
            hit = lx.QUANTITIES.get(key)
            if hit is None or _idiom(toks, i, key):
                continue
            found.append(_Quantity(i, i + n, hit[0], hit[1], " ".join(key)))
            i += n - 1
            break
        i += 1
    return found


def _idiom(toks: list[str], i: int, key: tuple[str, ...]) -> bool:
    """Quantity words used in a non-quantity sense."""
    prev = toks[i - 1] if i > 0 else ""
    if key == ("order",) and prev == "in":  # "in order to"
        return True
    if key in (("result",), ("results",)) and prev in ("a", "the") and i > 1 \
            and toks[i - 2] == "as":  # "as a result"
        return True
    if key == ("share",) and prev in ("its", "their", "his", "her") and i + 1 < len(toks) \
            and toks[i + 1] == "of":  # "its share of the deal" is a portion, not a stock
        return True
    return False


def _head(qs: list[_Quantity], q: _Quantity, toks: list[str], mover: int) -> _Quantity:
    """'profit before taxes' moves with profit: a quantity after a preposition that follows
    another quantity is only that quantity's modifier. Not past the direction word itself
    ("growth of net sales" is a move of sales)."""
    idx = qs.index(q)
    while idx > 0:
        p = qs[idx - 1]
        if p.start <= mover < p.end:
            break
        between = toks[p.end:qs[idx].start]
        if 1 <= len(between) <= 3 and between[0] in lx.HEAD_PREPOSITIONS:
            idx -= 1
            continue
        break
    return qs[idx]


def _nearest_quantity(qs: list[_Quantity], i: int, toks: list[str],
                      left: int = LEFT_WINDOW, right: int = RIGHT_WINDOW) -> _Quantity | None:
    best: tuple[int, int, _Quantity] | None = None
    for q in qs:
        if q.end <= i:
            d, side = i - q.end + 1, 0
            if d > left:
                continue
        elif q.start > i:
            d, side = q.start - i, 1
            if d > right:
                continue
        else:
            continue
        if best is None or (d, side) < best[:2]:
            best = (d, side, q)
    return _head(qs, best[2], toks, i) if best else None


# --- direction words ---------------------------------------------------------------------------
_TIME_AFTER_THAN = frozenset("in last a the previous before that during at for year".split())


_DIRECTION_CANDIDATES = lx.UP_WORDS | lx.DOWN_WORDS | frozenset(
    "more less high highs low lows above below".split())


def _direction(toks: list[str], i: int) -> int:
    tok = toks[i]
    if tok not in _DIRECTION_CANDIDATES:
        return 0
    prev = toks[i - 1] if i > 0 else ""
    nxt = toks[i + 1] if i + 1 < len(toks) else ""
    nnxt = toks[i + 2] if i + 2 < len(toks) else ""
    if tok in ("more", "less"):
        # "36 % more than in 2004" compares periods; "more than EUR 10 mn" is just a size.
        if nxt == "than" and (nnxt in _TIME_AFTER_THAN or _is_year(nnxt)):
            return 1 if tok == "more" else -1
        return 0
    if tok in ("high", "highs", "low", "lows"):
        # "a 52-week high", "an eight-year low"
        if prev in lx.EXTREME_PREFIXES or prev.endswith(("-year", "-week", "-month")):
            return 1 if tok.startswith("high") else -1
        return 0
    if tok in ("above", "below"):
        # "below the level of the corresponding period"
        if nxt in ("the", "last", "previous", "year-ago") and any(
                t in ("level", "year", "previous", "corresponding", "prior", "last")
                for t in toks[i + 1:i + 4]):
            return 1 if tok == "above" else -1
        return 0
    if tok in ("decline", "declined", "declines", "declining") and (
            nxt in ("comment", "comments") or nxt == "to" and not (
                _NUMBER.match(nnxt or "x") or nnxt in _CURRENCIES)):
        return 0  # "declined to comment"
    if tok in ("raise", "raises", "raised", "raising") and _fundraising(toks, i + 1):
        return 0
    if tok in ("up", "down"):
        if prev in lx.UP_DOWN_PREV_BLOCK or (tok == "up" and nxt == "to" and prev not in (
                "was", "were", "is", "are", "went", "go", "goes", "moved", "climbed", ",")):
            return 0
        if not (nxt in lx.UP_DOWN_NEXT_OK or _NUMBER.match(nxt or "x")
                or prev in lx.UP_DOWN_PREV_OK or nxt == ""):
            return 0
        return 1 if tok == "up" else -1
    if tok == "less":  # "less than a year ago"; otherwise a quantifier ("less risky")
        return -1 if nxt == "than" else 0
    if tok in lx.UP_WORDS:
        return 1
    if tok in lx.DOWN_WORDS:
        return -1
    return 0


def _is_year(tok: str) -> bool:
    return tok.isdigit() and 1900 <= int(tok) <= 2100


def _fundraising(toks: list[str], j: int) -> bool:
    for t in toks[j:j + 5]:
        if t in ("more", "than", "about", "some", "up", "to", "around", "nearly", "new", "its",
                 "the", "additional", "approximately", "over"):
            continue
        return t in lx.FUNDRAISING_OBJECTS or t in _CURRENCIES or bool(_NUMBER.match(t))
    return False


def _negated(toks: list[str], i: int) -> bool:
    window = toks[max(0, i - 3):i]
    return any(t in lx.NEGATORS for t in window) or "no longer" in " ".join(window)


# --- rules ---------------------------------------------------------------------------------------
def _swing(toks: list[str], qs: list[_Quantity]) -> Evidence | None:
    # "swung to a net profit", "slipped into the red"
    for i, tok in enumerate(toks):
        if tok not in lx.SWING_VERBS:
            continue
        # "swung to", "returned its unit to", "moved back into"
        j = next((k for k in range(i + 1, min(i + 6, len(toks)))
                  if toks[k] in ("to", "into", "in") or toks[k] in lx.COMPARATORS
                  or toks[k] == ","), None)
        if j is None or toks[j] not in ("to", "into", "in"):
            continue
        for k in range(j + 1, min(j + 12, len(toks))):
            if toks[k] in lx.COMPARATORS or toks[k] == ",":
                break
            sign = lx.SWING_TARGETS.get(toks[k])
            if sign is None:
                continue
            if toks[k] in ("black", "red") and toks[k - 1] != "the":
                continue
            return Evidence("swing", sign * SWING_WEIGHT, " ".join(toks[i:k + 1]))
    # "a loss of EUR 2 mn, against a profit of EUR 3 mn a year earlier"
    for c, tok in enumerate(toks):
        if tok not in lx.COMPARATORS:
            continue
        before = [q for q in qs if q.end <= c and c - q.end < 16 and _swing_sign(q)]
        after = [q for q in qs if q.start > c and q.start - c <= 6 and _swing_sign(q)]
        if before and after:
            now, then = _swing_sign(before[-1]), _swing_sign(after[0])
            if now != then:
                return Evidence("swing", now * SWING_WEIGHT,
                                f"{before[-1].words} {tok} {after[0].words}")
    return None


_SWING_CAPABLE = {("profit",): 1, ("profits",): 1, ("earnings",): 1, ("eps",): 1,
                  ("income",): 1, ("earnings", "per", "share"): 1, ("profit", "per", "share"): 1,
                  ("result",): 1, ("ebit",): 1, ("ebitda",): 1}


def _swing_sign(q: _Quantity) -> int:
    key = tuple(q.words.split())
    if key in _SWING_CAPABLE:
        return 1
    if "loss" in key or "losses" in key:
        return -1
    return 0


def _changes(toks: list[str], qs: list[_Quantity],
             financial: bool) -> tuple[list[Evidence], bool]:
    """Direction words and what they move; also says whether any of them named a quantity.

    A move of an unnamed thing counts only in a financial sentence (one that names a
    quantity) or when it is measured ("up 4 %"): "she slowed her car" is not news."""
    out: list[Evidence] = []
    seen: set[int] = set()
    named = False
    last_dir = -10
    for i in range(len(toks)):
        d = _direction(toks, i)
        if d == 0:
            continue
        if i == last_dir + 1:  # "slowed down", "went up": one move
            last_dir = i
            continue
        last_dir = i
        tok = toks[i]
        q = _nearest_quantity(qs, i, toks)
        if q is not None and q.words == tok:  # "growth ... growth": one mention, no move
            q = None
        if q is None and tok in lx.ASPIRATIONAL_NOUNS and not _measured(toks, i):
            continue  # "invest in growth" is a plan, not a move
        if q is not None:
            if q.start in seen:
                continue
            seen.add(q.start)
            named = True
            if q.valence == 0:  # a formality such as "share capital increased"
                continue
        strong = STRONG_FACTOR if tok in lx.STRONG_DIRECTION_WORDS else 1.0
        neg = -1 if _negated(toks, i) else 1
        if tok in lx.EVALUATIVE_UP or tok in lx.EVALUATIVE_DOWN:
            # Evaluative verbs carry their own sign whatever the quantity.
            weight, sign = CHANGE_WEIGHT * (q.weight if q else 1.0), d
        elif q is None:
            if not (financial or _measured(toks, i)):
                continue
            weight, sign = UNNAMED_CHANGE_WEIGHT, d
        else:
            weight, sign = CHANGE_WEIGHT * q.weight, d * q.valence
        words = f"{q.words} {tok}" if q is not None else tok
        out.append(Evidence("change", neg * sign * weight * strong,
                            ("not " if neg < 0 else "") + words))
    return out, named


def _measured(toks: list[str], i: int) -> bool:
    """A figure next to the move: "up 4 %", "an increase of 15 %", "a 63 % growth"."""
    return any(_figure(toks, k) is not None
               for k in range(max(0, i - 3), min(i + 5, len(toks))) if k != i)


def _figures_compared(toks: list[str], qs: list[_Quantity]) -> Evidence | None:
    for c, tok in enumerate(toks):
        paren = tok == "(" and c > 0 and _figure(toks, c - 1) is not None
        if tok not in lx.COMPARATORS and not paren:
            continue
        if tok == "from" and c > 0 and toks[c - 1] in lx.RANGE_WORDS:
            continue
        prior = None
        for k in range(c + 1, min(c + 8, len(toks))):
            if paren and toks[k] in _CURRENCIES:
                break  # "EUR 5 mn ( $ 7 mn )" is a conversion, not last year's figure
            prior = _figure(toks, k)
            if prior is not None:
                break
        if prior is None or (paren and (prior.index + 1 >= len(toks)
                                        or toks[prior.index + 1] != ")")):
            continue
        cur = None
        if tok == "from":
            for k in range(prior.index + 1, min(prior.index + 4, len(toks))):
                if toks[k] == "to":
                    cur = next((f for f in (_figure(toks, m) for m in range(
                        k + 1, min(k + 4, len(toks)))) if f is not None), None)
                    break
        if cur is None:
            for k in range(c - 1, max(-1, c - 14), -1):
                f = _figure(toks, k)
                if f is None or not _compatible(f, prior):
                    continue
                if k > 0 and toks[k - 1] in ("by", "up", "down", "of") and f.kind == "percent":
                    continue  # the size of a change, not a level
                cur = f
                break
        if cur is None or not _compatible(cur, prior):
            continue
        # The figure's quantity is named before it ("profit was EUR 5 mn") or between it and
        # the comparison ("EUR 1.00 dividend, compared with ...").
        start = min(cur.index, c)
        q = _nearest_quantity(qs, start, toks, left=16, right=max(0, c - start))
        direction = _compare(cur, prior)
        if q is None or direction == 0 or q.valence == 0:
            continue
        return Evidence("numbers", direction * q.valence * CHANGE_WEIGHT * q.weight,
                        f"{q.words} {toks[cur.index]} {tok} {toks[prior.index]}")
    return None


def _level(toks: list[str], qs: list[_Quantity]) -> Evidence | None:
    """News by mere mention: a reported loss, cost savings, synergies."""
    for q in qs:
        good = lx.INTRINSIC_LEVELS.get(q.words.split()[-1])
        if good and not _negated(toks, q.start):
            return Evidence("level", LEVEL_WEIGHT, q.words)
        if _swing_sign(q) != -1:
            continue
        window = toks[q.end:q.end + 5]
        prev = toks[q.start - 1] if q.start else ""
        if any(_NUMBER.match(t) for t in window) or prev in (
                "posted", "reported", "recorded", "booked", "made", "incurred", "suffered"):
            if not _negated(toks, q.start):
                return Evidence("level", -LEVEL_WEIGHT, q.words)
    return None


_ABOVE_BELOW = lx.ABOVE_WORDS | lx.BELOW_WORDS
_BETTER_WORSE = lx.BETTER_COMPARATIVES | lx.WORSE_COMPARATIVES


def _expectation(toks: list[str]) -> list[Evidence]:
    out: list[Evidence] = []
    for i, tok in enumerate(toks):
        ahead = toks[i + 1:i + 5]
        sign = 0
        if tok in lx.BEAT_VERBS and any(t in lx.EXPECTATION_NOUNS for t in ahead):
            sign = 1
        elif tok in lx.MISS_VERBS and any(t in lx.EXPECTATION_NOUNS for t in ahead):
            sign = -1
        elif tok in _ABOVE_BELOW and any(
                t in lx.EXPECTATION_NOUNS for t in ahead[:3]):
            sign = 1 if tok in lx.ABOVE_WORDS else -1
        elif tok in _BETTER_WORSE and ahead[:1] == ["than"]:
            sign = 1 if tok in lx.BETTER_COMPARATIVES else -1
        if sign:
            if _negated(toks, i):
                sign = -sign
            out.append(Evidence("expectation", sign * EXPECTATION_WEIGHT,
                                " ".join(toks[i:i + 3])))
    return out


def _rating(toks: list[str]) -> Evidence | None:
    for i, tok in enumerate(toks):
        if tok in lx.UPGRADES or tok in lx.DOWNGRADES:
            sign = 1 if tok in lx.UPGRADES else -1
            return Evidence("rating", sign * RATING_WEIGHT, " ".join(toks[i:i + 3]))
        if tok in lx.RATINGS_POSITIVE or tok in lx.RATINGS_NEGATIVE:
            sign = 1 if tok in lx.RATINGS_POSITIVE else -1
            window = toks[max(0, i - 8):i]
            nxt = [t for t in toks[i + 1:i + 3] if t not in "'`\""]
            # "raised to buy", "initiated at outperform", a "sell" recommendation; the
            # target rating, not the one it came from ("... from underperform").
            acted = any(t in lx.RATING_ACTIONS for t in window) and "from" not in window[-2:]
            if acted or (nxt[:1] and nxt[0] in lx.RATING_NOUNS):
                return Evidence("rating", sign * RATING_WEIGHT,
                                " ".join(toks[max(0, i - 3):i + 1]))
    return None


_WARNING = re.compile(
    r"\b(?:profit|profits|earnings|sales|revenue|results?) warnings?\b"
    r"|\bwarn(?:s|ed|ing)? (?:[\w\-]+ ){0,3}(?:on|about|of|that) (?:[\w\-]+ ){0,3}"
    r"(?:profits?|earnings|sales|revenues?|results?|loss|losses)\b"
    r"|\bissued? (?:a|an) (?:\w+ ){0,2}warning\b")


def _deal(toks: list[str]) -> Evidence | None:
    for i, tok in enumerate(toks):
        if tok in lx.WIN_VERBS and not _negated(toks, i):
            ahead = toks[i + 1:i + 13]
            if ahead[:1] and ahead[0] in lx.HEAD_PREPOSITIONS:  # "offers received for ..."
                continue
            for t in ahead:
                if t in lx.COMPARATORS:
                    break
                if t in lx.DEAL_NOUNS:
                    return Evidence("deal", DEAL_WEIGHT, f"{tok} ... {t}")
    return None


def _layoffs(toks: list[str]) -> Evidence | None:
    for i, tok in enumerate(toks):
        if tok in lx.LAYOFF_VERBS and not _negated(toks, i):
            ahead = toks[i + 1:i + 6]
            if tok in ("lay", "laid", "laying", "lays") and ahead[:1] != ["off"]:
                continue
            if any(t in lx.JOB_NOUNS for t in ahead):
                return Evidence("layoffs", LAYOFF_WEIGHT, " ".join(toks[i:i + 4]))
    return None


_BOILERPLATE = re.compile("|".join(lx.BOILERPLATE_PATTERNS))


def analyse(text: str) -> Analysis:
    """All finance evidence in `text`, plus whether it reads as boilerplate."""
    evidence: list[Evidence] = []
    all_tokens: list[str] = []
    # Sentences are split on the original text, where capitals mark a new sentence.
    sentences = [_normalise(s) for s in _SENTENCES.split(text)]
    lowered = " ".join(sentences)
    clauses = [(toks, _quantities(toks)) for toks in _clauses(sentences)]
    financial = any(q.valence for _, qs in clauses for q in qs)
    for toks, qs in clauses:
        all_tokens.extend(toks)
        all_tokens.append(";")
        swing = _swing(toks, qs)
        if swing is not None:
            evidence.append(swing)
            continue
        changes, named = _changes(toks, qs, financial)
        evidence.extend(changes)
        if not named:
            numbers = _figures_compared(toks, qs)
            if numbers is not None:
                evidence.append(numbers)
            elif not changes:
                level = _level(toks, qs)
                if level is not None:
                    evidence.append(level)
    for rule in (_rating(all_tokens), _deal(all_tokens), _layoffs(all_tokens)):
        if rule is not None:
            evidence.append(rule)
    evidence.extend(_expectation(all_tokens))
    match = _WARNING.search(lowered)
    if match:
        evidence.append(Evidence("warning", WARNING_WEIGHT, match.group(0)))
    return Analysis(tuple(evidence), boilerplate=bool(_BOILERPLATE.search(lowered)))
