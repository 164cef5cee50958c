"""Word lists for the finance scorer. Data only: the rules that use them live in finance.py.

Every list here was written by hand from general knowledge of how financial news is worded,
not extracted from an evaluation set, so that it generalises to sentences never seen before.
"""

from __future__ import annotations

# --- Financial quantities -------------------------------------------------------------------
# Valence of a quantity = what "it went up" means for an investor. +1: more is good (profit,
# sales); -1: more is bad (costs, losses). Keys are token tuples so multi-word names such as
# "loss per share" win over their parts ("share" alone would be +1). The second number is the
# weight: the bottom line moves a stock more than the top line or an operating statistic.
_GOOD_BOTTOM_LINE = """
profit profits profitability earnings income ebit ebitda ebita eps result results
margin margins dividend dividends payout
"""
_GOOD_TOP_LINE = """
sales revenue revenues turnover orders bookings backlog demand
cash-flow shares share stock stocks price prices valuation value volume volumes
deliveries shipments production output growth traffic passengers subscribers customers
passenger subscriber customer visitor user
stores outlets branches network presence footprint fleet investments investment
users readers visitors listeners exports capacity occupancy rating ratings outlook guidance
forecast forecasts target targets pt efficiency productivity savings synergies solvency liquidity
deposits lending loans premiums commissions fees jobs employment workforce staff employees
personnel index indexes indices economy gdp market-share market markets business
job payments earnings-per-share
"""
_BAD = """
cost costs expense expenses expenditure loss losses debt debts liabilities gearing leverage
charge charges writedown writedowns write-down write-downs impairment impairments provisions
unemployment layoffs lay-offs redundancies inventories inventory deficit risk risks churn
delinquencies defaults emissions consumption waste competition pressure pressures uncertainty
tax taxes errors defects complaints accidents injuries delays downtime
"""
# Phrases by the same classes, split at commas. Set after the words above, a phrase wins over
# its parts.
_GOOD_BOTTOM_LINE_PHRASES = """
earnings per share, profit per share
"""
_BAD_BOTTOM_LINE_PHRASES = """
loss per share, losses per share, net loss, operating loss, pretax loss, pre-tax loss
"""
_GOOD_PHRASES = """
cash flow, market share, order intake, order book, order backlog, price target, target price,
equity ratio, net asset value, interest income, cost savings, load factor, operating rate,
capacity utilization, capacity utilisation, return on investment, return on equity,
return on capital, roe, roi, roce
"""
_BAD_PHRASES = """
net debt, interest expenses, interest expense, raw material prices, raw material costs,
input prices, energy prices, fuel prices, bad loans, non-performing loans, tax rate,
short interest
"""
# Valence 0: names that hold a quantity word but are no quantity. Share-register changes (new
# shares issued, a stake bought) are formalities, not news: they absorb a direction word that
# would otherwise go to "shares".
_NEUTRAL_PHRASES = """
stock exchange, share capital, number of shares, shares outstanding, outstanding shares, stake,
holding, ownership, voting rights
"""


def _build_quantities() -> dict[tuple[str, ...], tuple[int, float]]:
    out: dict[tuple[str, ...], tuple[int, float]] = {}
    for words, valence, weight in ((_GOOD_BOTTOM_LINE, +1, 1.2), (_GOOD_TOP_LINE, +1, 1.0),
                                   (_BAD, -1, 1.0)):
        for w in words.split():
            out[tuple(w.split("-")) if w in ("cash-flow", "market-share", "earnings-per-share")
                else (w,)] = (valence, weight)
    for phrases, valence, weight in ((_GOOD_BOTTOM_LINE_PHRASES, +1, 1.2),
                                     (_BAD_BOTTOM_LINE_PHRASES, -1, 1.2),
                                     (_GOOD_PHRASES, +1, 1.0), (_BAD_PHRASES, -1, 1.0),
                                     (_NEUTRAL_PHRASES, 0, 1.0)):
        for phrase in phrases.split(","):
            out[tuple(phrase.split())] = (valence, weight)
    return out


QUANTITIES: dict[tuple[str, ...], tuple[int, float]] = _build_quantities()
MAX_QUANTITY_LEN = max(len(k) for k in QUANTITIES)

# --- Direction words ------------------------------------------------------------------------
# +1 = the quantity went up, -1 = it went down. Their sentiment comes only from the quantity
# they apply to ("costs fell" is good news), so VADER must not score them on its own.
UP_WORDS = frozenset("""
rise rises rising rose risen increase increases increased increasing grow grows grew grown
growing gain gains gained gaining climb climbs climbed climbing jump jumps jumped jumping
surge surges surged surging soar soars soared soaring rocket rocketed skyrocketed skyrocketing
rebound rebounds rebounded double doubles doubled doubling triple
tripled tripling quadrupled boost boosts boosted boosting expand expands expanded expanding
raise raises raised raising lift lifts lifted lifting hike hikes hiked widen widens
widened widening rally rallies rallied spike spikes spiked accelerate accelerated accelerating swell
swelled higher larger bigger greater up upped jumps edged-up improve improves improved
improving improvement strengthen strengthens strengthened strengthening growth
""".split())
DOWN_WORDS = frozenset("""
fall falls fell fallen falling decrease decreases decreased decreasing decline declines
declined declining drop drops dropped dropping slip slips slipped slipping slump slumps
slumped slumping plunge plunges plunged plunging plummet plummets plummeted tumble tumbles
tumbled tumbling sink sinks sank sunk sinking slide slides slid sliding dip dips dipped
lower lowers lowered lowering reduce reduces reduced reducing reduction reductions cut cuts
cutting shrink shrinks shrank shrunk shrinking contracted halve halved halving narrow
narrows narrowed narrowing lost lose loses shed sheds slash slashes slashed trim trims trimmed
erode eroded eroding retreat retreated collapse collapsed crash crashed smaller fewer down
diminish diminished diminishes decelerate decelerated slowed slowing slowdown weaken weakened
weakening deteriorate deteriorated deteriorating deterioration worsen worsened worsening
sag sags sagged sagging tank tanks tanked
""".split())
# Large moves: the size of the word, not of the number, is what a reader reacts to.
STRONG_DIRECTION_WORDS = frozenset("""
surge surges surged surging soar soars soared soaring rocket rocketed skyrocketed
skyrocketing jump jumps jumped double doubled doubling triple tripled tripling quadrupled
plunge plunges plunged plunging plummet plummets plummeted tumble tumbles tumbled tumbling
slump slumps slumped slumping collapse collapsed crash crashed halve halved halving slash
slashed tank tanks tanked
""".split())
# Direction nouns that, unnamed and unmeasured, are goals rather than moves ("focus on growth").
ASPIRATIONAL_NOUNS = frozenset("growth expansion improvement".split())
# Evaluative verbs: "profit improved" and "losses improved" are both good news, so these keep
# their own sign instead of multiplying by the quantity's.
EVALUATIVE_UP = frozenset("""
improve improves improved improving improvement strengthen strengthens strengthened
strengthening
""".split())
EVALUATIVE_DOWN = frozenset("""
weaken weakened weakening deteriorate deteriorated deteriorating deterioration worsen
worsened worsening
""".split())
# "up"/"down" are directions only in a market-report position ("up 4 %", "was down", "up from");
# elsewhere they are particles ("set up", "broken down by region").
UP_DOWN_NEXT_OK = frozenset("""
by from on slightly sharply strongly significantly markedly substantially considerably
year-on-year y-y y/y yoy q-q q/q about almost nearly some approximately around % percent pct to
""".split())
UP_DOWN_PREV_OK = frozenset("""
was were is are be been being remained remains went go goes moved closed ended finished
traded trading edged inched , shares stock stocks it they
""".split())
UP_DOWN_PREV_BLOCK = frozenset("""
set pick picked picks draw drawn drew sign signed take took taken make made end ended break
broken broke shut close closed closing step stepped steps write written wrote turn turned
lay laid slow slowed making makes break-up back backed build built catch caught follow followed
""".split()) - {"closed", "ended"}

NEGATORS = frozenset("""
not no never without nor neither failed fail fails unlikely cannot hardly
""".split())
# Comparators introducing the earlier figure in "X, compared with Y" and friends.
COMPARATORS = frozenset("from versus vs against compared comparison".split())
# Prepositions after which a quantity is a modifier, not the head ("profit before taxes").
HEAD_PREPOSITIONS = frozenset("""
of per before after excluding including from for in on at to net without
""".split())

# --- Events ----------------------------------------------------------------------------------
# Nouns that a "swing" lands on: "swung to a profit" (+), "slipped into the red" (-).
SWING_TARGETS = {"profit": +1, "profits": +1, "profitability": +1, "black": +1, "growth": +1,
                 "loss": -1, "losses": -1, "red": -1}
SWING_VERBS = frozenset("""
swung swing swings turned turn turns returned return returns slipped slip slips fell falls
dropped drops plunged plunges moved went go goes back sank sinks tumbled dipped dips
""".split())
# Analyst ratings: the rating an action lands on.
RATINGS_POSITIVE = frozenset("""
buy outperform overweight accumulate add strong-buy market-outperform sector-outperform
""".split())
RATINGS_NEGATIVE = frozenset("""
sell underperform underweight reduce market-underperform sector-underperform
""".split())
RATING_ACTIONS = frozenset("""
raise raises raised lift lifts lifted move moves moved cut cuts
lower lowers lowered initiate initiates initiated reiterate reiterates reiterated maintain
maintains maintained rate rates rated resume
resumes resumed assume assumes assumed
""".split())
UPGRADES = frozenset("upgrade upgrades upgraded upgrading".split())
DOWNGRADES = frozenset("downgrade downgrades downgraded downgrading".split())
RATING_NOUNS = frozenset("rating ratings recommendation recommendations call".split())
EXPECTATION_NOUNS = frozenset("""
expectations expectation estimates estimate forecast forecasts consensus views view guidance
outlook projections targets target predictions
""".split())
BEAT_VERBS = frozenset("""
beat beats beating topped tops top exceeded exceeds exceed surpassed surpasses surpass
outpaced
""".split())
MISS_VERBS = frozenset("miss misses missed missing".split())
ABOVE_WORDS = frozenset("above ahead over".split())
BELOW_WORDS = frozenset("below under behind short".split())
BETTER_COMPARATIVES = frozenset("better stronger".split())
WORSE_COMPARATIVES = frozenset("worse weaker poorer".split())
UP_COMPARATIVES = frozenset("higher larger bigger greater more".split())
DOWN_COMPARATIVES = frozenset("lower smaller less fewer".split())
WIN_VERBS = frozenset("""
won win wins winning awarded secured secures secure signed signs sign landed lands land
received receives receive bagged clinched clinches booked books obtained obtains inked inks
""".split())
DEAL_NOUNS = frozenset("order orders contract contracts deal deals agreement agreements".split())
JOB_NOUNS = frozenset("""
jobs job workers employees staff people personnel positions posts employees workforce
""".split())
LAYOFF_VERBS = frozenset("""
lay laid laying lays cut cuts cutting eliminate eliminates eliminated shed sheds axe axes
axed slash slashes slashed reduce reduces reduced dismiss dismissed
""".split())

# --- Neutral boilerplate -------------------------------------------------------------------
# Corporate descriptions and disclosure formalities: financially neutral however warm their
# wording ("a leading provider of innovative solutions"). Regexes over lower-cased text.
BOILERPLATE_PATTERNS = (
    r"\b(?:is|are|was) (?:a|an|the|one of the) (?:[\w\-]+ ){0,5}"
    r"(?:provider|supplier|maker|manufacturer|producer|developer|company|group|firm|"
    r"distributor|retailer|operator|specialist|vendor|designer|marketer|integrator|"
    r"subsidiary|unit|division|owner|shareholder|member|bank|insurer|brand|chain|"
    r"publisher|consultancy|part)s?\b",
    r"\b(?:headquartered|based|located|incorporated) in\b",
    r"\b(?:founded|established|set up) in\b",
    r"\bemploys?\b", r"\bemployees? in\b",
    r"\b(?:is|are) (?:listed|quoted|traded) on\b",
    r"\bfurther information\b", r"\bpress release\b", r"\btel\.?\s*[+\d]", r"\bwww\.",
    r"\be-?mail\b", r"\bcopyright\b", r"\ball rights reserved\b",
    r"\b(?:annual )?general meeting\b", r"\brecord date\b", r"\bnominal value\b",
    r"\bvoting rights\b", r"\bshare capital\b", r"\bstock options?\b",
    r"\bspeciali[sz](?:es|ing|ed) in\b", r"\bits (?:products|services|customers) include\b",
    r"\b(?:products|services|solutions|offering) (?:include|includes|range|consist)\b",
    r"\bwill be (?:published|held|announced)\b",
)

# --- VADER lexicon adjustments ------------------------------------------------------------
# Words general-purpose VADER scores but that are neutral in financial text: company-speak
# ("solutions", "value", "agreement"), units and instruments ("share", "credit",
# "securities"), names ("United", "Trust", "Limited"), and the direction and quantity words
# whose sentiment the rules in finance.py decide in context.
VADER_NEUTRAL = frozenset("""
share shares value well number profit profits agreement agreements solution solutions credit
energy interest security securities trust united care support supports supported help helps
helped free save saved asset assets benefit benefits pay fund funds like please yes no kind
join joined joins natural clean pretty dear honor top important significant significantly
limited innovative leading capital increase increased increases gain gains gained growth
growing grow loss losses lost lose cut cuts falling drop lower debt demand boost boosted
expands expand risk risks fine pressure pressured challenge challenging opportunity
opportunities miss missed misses beating reduce reduced reduction rich bonus great solid
""".split())
# Finance words VADER lacks or underweights (valence on VADER's -4..+4 scale).
VADER_ADDITIONS: dict[str, float] = {
    "outperform": 1.5, "outperforms": 1.5, "outperformed": 1.5,
    "underperform": -1.5, "underperforms": -1.5, "underperformed": -1.5,
    "overweight": 1.0, "underweight": -1.0,
    "bullish": 1.8, "bearish": -1.8, "upbeat": 1.5,
    "bankruptcy": -2.5, "bankrupt": -2.5, "insolvency": -2.5, "insolvent": -2.5,
    "layoffs": -1.8, "layoff": -1.8, "lay-offs": -1.8, "lay-off": -1.8,
    "redundancies": -1.8, "impairment": -1.5, "impairments": -1.5,
    "writedown": -1.5, "writedowns": -1.5, "write-down": -1.5, "write-downs": -1.5,
    "recall": -1.2, "recalls": -1.2, "delisting": -1.5, "delisted": -1.5,
    "unprofitable": -1.9, "lawsuit": -1.5, "lawsuits": -1.5, "sued": -1.5,
    "probe": -1.0, "fraud": -2.5, "default": -1.5, "defaulted": -1.5,
    "closure": -1.2, "closures": -1.2, "shutdown": -1.2,
    "highs": 1.2, "lows": -1.2, "selloff": -1.5, "sell-off": -1.5,
    "headwinds": -1.2, "tailwinds": 1.2, "recovery": 1.2, "recovered": 1.2,
    "breakthrough": 1.5, "record-high": 1.5,
    "gainers": 1.0, "losers": -1.0,
}

# Quantity nouns that are bad news by themselves ("under pressure", "an impairment of EUR 5
# mn"): VADER keeps scoring them even though the rules also move them.
VADER_KEEPS = frozenset("""
pressure pressures uncertainty impairment impairments writedown writedowns write-down
write-downs layoffs lay-offs redundancies
""".split())

# Nouns that are news by their mere mention, without a move: a reported loss is bad, cost
# savings and synergies are good ("the deal will bring savings of EUR 20 mn").
INTRINSIC_LEVELS = {"savings": +1, "synergies": +1}
# "raise EUR 500 mn" is fundraising, not a rise of anything.
FUNDRAISING_OBJECTS = frozenset("funds fund capital money cash financing equity".split())
# "ranges from 0.1 to 10 ml": a range, not a change from one figure to another.
RANGE_WORDS = frozenset("range ranges ranging ranged vary varies varying varied".split())
# Words after which "high"/"low" name a level reached, as in "a 52-week high".
EXTREME_PREFIXES = frozenset("""
record all-time multi-year year week month decade new historic historical
""".split())
