"""DIR/report.html: one self-contained page (inline CSS and SVG, no script, no network)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from .svg import PALETTE, Band, Markers, Series, chart

METRIC_ROWS = [
    ("Total return", "total_return", "pct"), ("Annualised return", "annualised_return", "pct"),
    ("Annualised volatility", "volatility_annualised", "pct"), ("Sharpe", "sharpe", "num"),
    ("Sortino", "sortino", "num"), ("Max drawdown", "max_drawdown", "pct"),
    ("Max drawdown duration (bars)", "max_drawdown_duration_bars", "int"),
    ("Max drawdown duration (days)", "max_drawdown_duration_days", "num1"),
    ("Calmar", "calmar", "num"), ("Exposure (time in market)", "exposure", "pct"),
    ("Average gross exposure", "average_gross_exposure", "pct"),
    ("Closed trades", "trades", "int"), ("Open trades at end", "open_trades", "int"),
    ("Win rate", "win_rate", "pct"), ("Profit factor", "profit_factor", "num"),
    ("Average trade P&L", "average_trade_pnl", "money"),
    ("Average trade return", "average_trade_return", "pct"), ("Fees paid", "fees", "money"),
    ("End equity", "end_equity", "money"),
]

CSS = """
body{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 color:#1f2933;background:#f5f7fa;margin:0}
main{max-width:1320px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:0 0 10px}
.sub{color:#52606d;margin-bottom:18px}
.card{background:#fff;border:1px solid #e4e7eb;border-radius:10px;padding:16px 18px;margin:0 0 16px;
 box-shadow:0 1px 2px rgba(0,0,0,.04)}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;margin-bottom:16px}
.kpi{background:#fff;border:1px solid #e4e7eb;border-radius:10px;padding:12px 14px}
.kpi .l{color:#52606d;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.kpi .v{font-size:22px;font-weight:600;margin-top:2px}.kpi .b{color:#7b8794;font-size:12px}
.pos{color:#15803d}.neg{color:#b91c1c}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid #eef0f3;text-align:right}
th:first-child,td:first-child{text-align:left}th{color:#52606d;font-weight:600;font-size:12px}
svg.chart{width:100%;height:auto;display:block}
.ct{font-size:13px;font-weight:600;fill:#1f2933}.tk{font-size:11px;fill:#7b8794}
.lg{font-size:11.5px;fill:#3e4c59}
.note{color:#616e7c;font-size:12.5px}.tag{display:inline-block;background:#eef2ff;color:#3730a3;
 border-radius:6px;padding:1px 7px;font-size:12px;margin:0 4px 4px 0}
"""


def _exit_table(r: dict[str, Any]) -> str:
    """Closed trades and their P&L by exit reason."""
    by = r["strategy"].get("by_exit_reason") or {}
    if not by:
        return '<p class="note">No closed trades.</p>'
    rows = "".join(
        f"<tr><td>{html.escape(reason.replace('_', ' '))}</td><td>{x['trades']:,}</td>"
        f"<td class=\"{'pos' if x['pnl'] >= 0 else 'neg'}\">{x['pnl']:,.2f}</td>"
        f"<td>{x['win_rate']:.1%}</td>"
        f"<td class=\"{_sign(x.get('average_return'))}\">{fmt(x.get('average_return'), 'pct')}</td>"
        f"<td>{x['average_bars_held']:.1f}</td></tr>"
        for reason, x in by.items())
    return ("<table><tr><th>Exit</th><th>Trades</th><th>P&amp;L</th><th>Win rate</th>"
            f"<th>Mean return</th><th>Bars held</th></tr>{rows}</table>")


@dataclass
class SymbolView:
    symbol: str
    times: list[pd.Timestamp]
    close: np.ndarray
    overlays: dict[str, np.ndarray]  # sma_20, sma_50, bb_upper, bb_lower (NaN in warm-up)
    buys: list[tuple[int, float, str]] = field(default_factory=list)
    sells: list[tuple[int, float, str]] = field(default_factory=list)
    vetoed: list[tuple[int, float, str]] = field(default_factory=list)


@dataclass
class ReportData:
    report: dict[str, Any]
    equity: pd.DataFrame  # equity, buy_hold, drawdown, bh_drawdown per time
    symbols: list[SymbolView]
    wf_equity: pd.DataFrame | None = None  # equity, buy_hold over the stitched test windows
    wf_bounds: list[int] = field(default_factory=list)  # positions where a test window starts


_FORMATS = {"pct": "{:,.2%}", "money": "{:,.2f}", "num1": "{:,.1f}", "num2": "{:,.2f}"}


def fmt(v: Any, kind: str) -> str:
    """A figure as the report shows it; kinds other than these and int and bp: 3 decimals."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if kind == "int":
        return f"{int(v):,}"
    if kind == "bp":
        return f"{v * 10_000:,.1f} bp"
    return _FORMATS.get(kind, "{:,.3f}").format(v)


def _sign(v: Any) -> str:
    return "" if not isinstance(v, (int, float)) or v == 0 else ("pos" if v > 0 else "neg")


def _kpis(r: dict[str, Any]) -> str:
    s, b = r["strategy"], r["buy_and_hold"]
    items = [("Total return", "total_return", "pct"), ("Annualised", "annualised_return", "pct"),
             ("Sharpe", "sharpe", "num"), ("Max drawdown", "max_drawdown", "pct"),
             ("Trades", "trades", "int"), ("Win rate", "win_rate", "pct")]
    out = []
    for label, key, kind in items:
        cls = _sign(s.get(key)) if key in ("total_return", "annualised_return") else ""
        bench = f'buy &amp; hold {fmt(b.get(key), kind)}' if key in b else "&nbsp;"
        out.append(f'<div class="kpi"><div class="l">{label}</div>'
                   f'<div class="v {cls}">{fmt(s.get(key), kind)}</div><div class="b">{bench}</div></div>')
    return f'<div class="kpis">{"".join(out)}</div>'


def _exposure_note(r: dict[str, Any]) -> str:
    """What the headline figures compare: how much the strategy held, and buy and hold at that."""
    s, b = r["strategy"], r["buy_and_hold"]
    at = b.get("total_return_at_strategy_exposure")
    return (f'<p class="note headline">Sized at {html.escape(r["sizing"]["text"])}: the strategy '
            f'held {fmt(s.get("average_gross_exposure"), "pct")} of equity on average '
            f'(in the market {fmt(s.get("exposure"), "pct")} of the time), buy and hold all of it. '
            f'Buy and hold at the strategy\'s average exposure: '
            f'<b class="{_sign(at)}">{fmt(at, "pct")}</b>.</p>')


COMPACT = {"total_return", "annualised_return", "sharpe", "sortino", "max_drawdown",
           "max_drawdown_duration_days", "calmar", "exposure", "trades", "win_rate",
           "profit_factor", "end_equity"}


def _metric_table(cols: list[tuple[str, dict[str, Any]]], compact: bool = False) -> str:
    head = "".join(f"<th>{html.escape(n)}</th>" for n, _ in cols)
    rows = []
    for label, key, kind in METRIC_ROWS:
        if compact and key not in COMPACT:
            continue
        cells = "".join(f'<td class="{_sign(m.get(key)) if kind == "pct" and "return" in key else ""}">'
                        f'{fmt(m.get(key), kind) if key in m else "–"}</td>' for _, m in cols)
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _decay(r: dict[str, Any]) -> str:
    q = r["signal_quality"]["horizons"]
    labels = [f"{d['horizon_bars']} bar{'s' if d['horizon_bars'] > 1 else ''}" for d in q]
    hit = [d["hit_rate"] if d["hit_rate"] is not None else np.nan for d in q]
    ic = [d["ic"] if d["ic"] is not None else np.nan for d in q]
    svg = chart(None, [Series("hit rate - 50%", [h - 0.5 for h in hit], PALETTE["strategy"], 2.2),
                       Series("information coefficient", ic, PALETTE["bench"], 2.2)],
                markers=[Markers("", list(range(len(q))), [h - 0.5 for h in hit], PALETTE["strategy"], "dot", 9),
                         Markers("", list(range(len(q))), ic, PALETTE["bench"], "dot", 9)],
                x_labels=labels, height=260, width=640, title="Signal decay: direction vs forward return",
                fill_to_zero=False, y_floor=0.0)
    rows = "".join(
        f"<tr><td>{d['horizon_bars']}</td><td>{d['signals']:,}</td><td>{fmt(d['hit_rate'], 'pct')}</td>"
        f"<td>{fmt(d['ic'], 'num')}</td><td>{fmt(d.get('ic_t'), 'num2')}</td>"
        f"<td class='{_sign(d['mean_signed_return'])}'>{fmt(d['mean_signed_return'], 'pct')}</td>"
        f"<td>{fmt(d.get('mean_signed_return_t'), 'num2')}</td></tr>" for d in q)
    table = ("<table><tr><th>horizon (bars)</th><th>signals</th><th>hit rate</th><th>IC (Spearman)</th>"
             f"<th>t</th><th>mean signed return</th><th>t</th></tr>{rows}</table>")
    return svg + table


def _ci_text(ci: list[float | None], kind: str) -> str:
    lo, hi = ci
    return "–" if lo is None or hi is None else f"[{fmt(lo, kind)}, {fmt(hi, kind)}]"


def _value_rows(q: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, figures): all signals, each setup, each news tone."""
    return ([("all signals", q["all"])]
            + [(f"setup: {g['group']}", g) for g in q["by_setup"]]
            + [(f"news: {g['group']}", g) for g in q["by_tone"]])


def _own_horizon(r: dict[str, Any]) -> str:
    """The card of what a signal is worth at its own horizon: by setup, by news tone, and the
    calibration of its stated confidence."""
    q = r["signal_quality"]["own_horizon"]
    if not q["all"]["signals"]:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{g['signals']:,}</td><td>{fmt(g['hit_rate'], 'pct')}</td>"
        f"<td>{_ci_text(g['hit_rate_ci'], 'pct')}</td><td>{fmt(g['ic'], 'num')}</td>"
        f"<td>{fmt(g['ic_t'], 'num2')}</td><td>{_ci_text(g['ic_ci'], 'num')}</td>"
        f"<td>{fmt(g['n_eff'], 'int')}</td>"
        f"<td class='{_sign(g['mean_signed_return'])}'>{fmt(g['mean_signed_return'], 'bp')}</td>"
        f"<td>{fmt(g['mean_signed_return_t'], 'num2')}</td></tr>" for label, g in _value_rows(q))
    groups = ("<table><tr><th>signals of</th><th>n</th><th>hit rate</th><th>95% CI</th><th>IC</th>"
              "<th>t</th><th>95% CI</th><th>n eff.</th><th>mean signed return</th><th>t</th></tr>"
              f"{rows}</table>")
    cal_rows = "".join(
        f"<tr><td>{c['bucket']}</td><td>{c['signals']:,}</td><td>{fmt(c['mean_confidence'], 'pct')}</td>"
        f"<td>{fmt(c['hit_rate'], 'pct')}</td><td>{_ci_text(c['hit_rate_ci'], 'pct')}</td></tr>"
        for c in q["calibration"])
    cal = ("<table><tr><th>stated confidence</th><th>n</th><th>mean stated</th><th>realised hit rate</th>"
           f"<th>95% CI</th></tr>{cal_rows}</table>")
    horizons = ", ".join(str(h) for h in q["horizon_bars"])
    return (f'<div class="card"><h2>Signal value at its own horizon ({horizons} bars)</h2>{groups}'
            '<p class="note">Each signal measured at its own <code>horizon_bars</code>, the longest its '
            f'position is held; {_gap_note(q)}. t-statistics and 95% intervals allow for overlapping forward windows: '
            'Newey-West standard errors whose Bartlett weights are the share of two signals\' windows '
            'that overlap (lag h−1 for one signal per bar); the IC\'s from its effective sample size '
            '(n eff.). A signal with several setups counts in each; news tone is the sign of its '
            'decayed sentiment.</p>'
            f'<h2 style="margin-top:14px">Calibration: stated confidence vs realised hit rate</h2>{cal}</div>')


def _gap_note(q: dict[str, Any]) -> str:
    n = q["all"].get("left_out_for_gaps", 0)
    return f"{n:,} left out: a price gap (split, bad print) in the window" if n else "no price gap"


def summary_lines(r: dict[str, Any]) -> list[str]:
    """The console summary of signal value at the own horizon and of the exits."""
    q = r["signal_quality"]["own_horizon"]
    horizons = ", ".join(str(h) for h in q["horizon_bars"]) or "–"
    lines = [f"signal value at own horizon ({horizons} bars; {_gap_note(q)}; t and CI allow for "
             "overlapping windows):",
             f"  {'signals of':<20}{'n':>7}  {'hit rate [95% CI]':<28}{'IC (t)':<16}mean signed return (t)"]
    for label, g in _value_rows(q) if q["all"]["signals"] else []:
        hit = f"{fmt(g['hit_rate'], 'pct')} {_ci_text(g['hit_rate_ci'], 'pct')}"
        ic = f"{fmt(g['ic'], 'num')} ({fmt(g['ic_t'], 'num2')})"
        mean = f"{fmt(g['mean_signed_return'], 'bp')} ({fmt(g['mean_signed_return_t'], 'num2')})"
        lines.append(f"  {label:<20}{g['signals']:>7,}  {hit:<28}{ic:<16}{mean}")
    if q["calibration"]:
        lines.append("calibration (confidence: hit rate, n): " + "; ".join(
            f"{c['bucket']}: {fmt(c['hit_rate'], 'pct')}, {c['signals']:,}" for c in q["calibration"]))
    by = r["strategy"].get("by_exit_reason") or {}
    if by:
        lines.append("exits (trades, win rate, mean return): " + "; ".join(
            f"{reason.replace('_', ' ')} {x['trades']:,}, {fmt(x['win_rate'], 'pct')}, "
            f"{fmt(x.get('average_return'), 'pct')}" for reason, x in by.items()))
    return lines


def _fan(r: dict[str, Any]) -> str:
    series, bands = [], []
    for name, key, color in (("strategy", "strategy", PALETTE["strategy"]),
                             ("buy & hold", "buy_and_hold", PALETTE["bench"])):
        fan = r["risk"][key]["monte_carlo"]["fan"]
        v = np.asarray(fan["values"], float)
        base = r["risk"][key]["portfolio_value"]
        rel = v / base - 1 if base else v * 0
        bands.append(Band(f"{name} 5-95%", rel[0], rel[-1], color, 0.13))
        bands.append(Band("", rel[1], rel[-2], color, 0.22))
        series.append(Series(f"{name} median", rel[2], color, 2))
    days = r["risk"]["strategy"]["monte_carlo"]["fan"]["days"]
    return chart(None, series, bands, x_labels=[f"day {d}" for d in days], height=280, width=640,
                 pct=True, title=f"Monte Carlo (GBM, {r['risk']['strategy']['monte_carlo']['paths']:,} paths): "
                                 "portfolio value change")


def _risk_table(r: dict[str, Any]) -> str:
    rows = []
    for name, key in (("strategy (final portfolio)", "strategy"), ("buy & hold", "buy_and_hold")):
        x = r["risk"][key]
        held = ", ".join(f"{s} {v:,.0f}" for s, v in x["positions"].items()) or "flat (cash only)"
        rows.append(f"<tr><td>{name}<div class='note'>{html.escape(held)}</div></td>"
                    f"<td>{fmt(x['portfolio_value'], 'money')}</td>"
                    f"<td>{fmt(x['historical']['var'], 'money')}</td><td>{fmt(x['historical']['cvar'], 'money')}</td>"
                    f"<td>{fmt(x['monte_carlo']['var'], 'money')}</td><td>{fmt(x['monte_carlo']['cvar'], 'money')}</td></tr>")
    lvl = f"{r['risk']['strategy']['level'] * 100:.0f}%"
    return (f"<table><tr><th>portfolio</th><th>value</th><th>hist. VaR {lvl}</th><th>hist. CVaR</th>"
            f"<th>MC VaR {lvl}</th><th>MC CVaR</th></tr>{''.join(rows)}</table>")


def _symbol_chart(v: SymbolView) -> str:
    o = v.overlays
    bands = [Band("Bollinger", o["bb_lower"], o["bb_upper"], PALETTE["band"], 0.25)] if "bb_lower" in o else []
    series = [Series("close", v.close, PALETTE["ink"], 1.3)]
    if "sma_20" in o:
        series.append(Series("SMA20", o["sma_20"], PALETTE["sma_fast"], 1.1))
    if "sma_50" in o:
        series.append(Series("SMA50", o["sma_50"], PALETTE["sma_slow"], 1.1))
    marks = [Markers(f"buy ({len(v.buys)})", [b[0] for b in v.buys], [b[1] for b in v.buys],
                     PALETTE["buy"], "up", 6, [b[2] for b in v.buys]),
             Markers(f"sell ({len(v.sells)})", [s[0] for s in v.sells], [s[1] for s in v.sells],
                     PALETTE["sell"], "down", 6, [s[2] for s in v.sells])]
    if v.vetoed:
        marks.insert(0, Markers(f"vetoed signal ({len(v.vetoed)})", [x[0] for x in v.vetoed],
                                [x[1] for x in v.vetoed], PALETTE["muted"], "dot", 7,
                                [x[2] for x in v.vetoed]))
    intraday = len(v.times) > 1 and (v.times[-1] - v.times[0]).days < 30
    return chart(v.times, series, bands, marks, height=280, title=v.symbol,
                 time_format="%m-%d %H:%M" if intraday else "%Y-%m-%d")


def _wf(d: ReportData) -> str:
    r = d.report["walk_forward"]
    if not r or d.wf_equity is None:
        return ""
    eq = d.wf_equity
    bounds = Markers("test window starts", d.wf_bounds, [eq["equity"].iloc[i] for i in d.wf_bounds],
                     PALETTE["muted"], "dot", 9, [f"fold {k}" for k in range(len(d.wf_bounds))])
    svg = chart(list(eq.index), [Series("walk-forward (test windows)", eq["equity"], PALETTE["strategy"], 2),
                                 Series("buy & hold", eq["buy_hold"], PALETTE["bench"], 1.6)],
                markers=[bounds], title="Walk-forward: stitched test windows only", height=280,
                time_format=_tf(eq.index))
    names = list(r["grid"][0]) if r["grid"] else []
    cut = 10 if d.report["data"]["daily_bars"] else 16
    rows = "".join(
        f"<tr><td>{f['fold']}</td><td>{f['train_start'][:cut]} → {f['train_end'][:cut]}</td>"
        f"<td>{f['test_start'][:cut]} → {f['test_end'][:cut]}</td>"
        f"<td>{_params(f['params'], names)}</td></tr>" for f in r["folds"])
    table = ("<table><tr><th>fold</th><th>train</th><th>test</th><th>chosen on train (best Sharpe)</th></tr>"
             f"{rows}</table>")
    grid = "".join(f'<span class="tag">{j}: {", ".join(f"{k}={v}" for k, v in g.items())}</span>'
                   for j, g in enumerate(r["grid"]))
    cols = [("walk-forward", r["strategy"]), ("buy & hold", r["buy_and_hold"])]
    return (f'<div class="card"><h2>Walk-forward evaluation</h2><p class="note">{r["folds_count"]} folds, '
            f'embargo {r["embargo_bars"]} bars, {r["mode"]} train windows; grid: {grid}</p>{svg}'
            f'<div class="grid2"><div>{table}</div><div>{_metric_table(cols, compact=True)}</div></div></div>')


def _params(params: dict[str, Any], names: list[str]) -> str:
    return ", ".join(f"{k}={params[k]}" for k in names)


def _tf(index: pd.DatetimeIndex) -> str:
    return "%m-%d %H:%M" if len(index) > 1 and (index[-1] - index[0]).days < 30 else "%Y-%m-%d"


def render(d: ReportData) -> str:
    r = d.report
    data, ex = r["data"], r["execution"]
    eq = d.equity
    times = list(eq.index)
    tf = _tf(eq.index)
    equity_svg = chart(times, [Series("strategy", eq["equity"], PALETTE["strategy"], 2),
                               Series("buy & hold", eq["buy_hold"], PALETTE["bench"], 1.6)],
                       title="Equity: strategy vs buy & hold", height=300, time_format=tf)
    dd_svg = chart(times, [Series("strategy", -eq["drawdown"], PALETTE["dd"], 1.4),
                           Series("buy & hold", -eq["bh_drawdown"], PALETTE["bench"], 1.0)],
                   title="Drawdown", height=200, pct=True, fill_to_zero=True, time_format=tf)
    rules = "".join(f'<span class="tag">{html.escape(k)}: {v:,}</span>'
                    for k, v in sorted(r["decisions"].items(), key=lambda kv: -kv[1]))
    symbols = "".join(f'<div class="card">{_symbol_chart(v)}</div>' for v in d.symbols)
    cols = [("strategy", r["strategy"]), ("buy & hold", r["buy_and_hold"])]
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>tradeflow backtest: {html.escape(', '.join(data['symbols'][:8]))}</title><style>{CSS}</style></head>
<body><main>
<h1>tradeflow backtest</h1>
<div class="sub">{html.escape(', '.join(data['symbols']))} · {data['start'][:10]} → {data['end'][:10]} ·
{data['bars']:,} bars, {data['news']:,} news, {r['signals']['count']:,} signals ·
fills at the next bar's open, slippage {ex['slippage_bps']:g} bps, fees {ex['fee_bps']:g} bps + {ex['fee_per_order']:g}/order ·
{html.escape(r['annualisation']['convention'])}</div>
{_kpis(r)}
{_exposure_note(r)}
<div class="card">{equity_svg}{dd_svg}</div>
<div class="grid2"><div class="card"><h2>Metrics</h2>{_metric_table(cols)}</div>
<div class="card"><h2>Signal quality</h2>{_decay(r)}
<p class="note">Hit rate and rank IC of signal direction (BUY +1, SELL −1) against the close-to-close
forward return h bars after the signal bar. Forward returns are used for this measurement only;
t allows for overlapping windows, as below.</p></div></div>
{_own_horizon(r)}
<div class="grid2"><div class="card"><h2>Risk: 1-day VaR / CVaR</h2>{_risk_table(r)}
<p class="note">Historical: {r['risk']['strategy']['historical']['scenarios'] or r['risk']['buy_and_hold']['historical']['scenarios']:,} past daily returns applied to the portfolio.
Monte Carlo: correlated geometric Brownian motion fitted to daily log returns, seed {r['risk']['strategy']['monte_carlo']['seed']}.
CVaR is the mean loss beyond the VaR.</p></div>
<div class="card">{_fan(r)}</div></div>
<div class="grid2"><div class="card"><h2>Risk manager decisions</h2><p>{rules}</p>
<p class="note">Every signal went through the consumer's trading engine and risk manager at its bar's end
(signal clock); approved orders filled in the paper broker at the next bar's open.</p></div>
<div class="card"><h2>Exits</h2>{_exit_table(r)}
<p class="note">A position ends at the first of its stop, its target, its horizon (closed at the open of the
bar after it) or an opposite signal. A bar that reaches both stop and target counts as the stop; a bar
that opens beyond either fills at its open.</p></div></div>
<h2 style="margin:22px 0 10px">Prices, indicators and fills</h2>
{symbols}
{_wf(d)}
<p class="note">Generated {generated} by <code>tradeflow backtest</code>. Self-contained: no scripts, no network.</p>
</main></body></html>"""
