// The price chart, drawn by TradingView Lightweight Charts (vendored in static/vendor/): candles
// with SMA/EMA/Bollinger overlays, signal and fill markers, and RSI and MACD panes under the same
// time scale, so the crosshair, zoom (wheel, pinch) and pan (drag) move all three together.
// The library only draws: the indicator values come from indicators.js, the hover card is ours.
// Times are the bars' event times (epoch seconds of the bar END, as on the wire), shown in New
// York time; signals and orders are placed on that same clock.
"use strict";

const TFChart = (() => {
  const LW = window.LightweightCharts;
  const C = {
    bg: "#0f1522", grid: "#1a2333", axis: "#7d8aa3", up: "#26a69a", down: "#ef5350",
    sma: "#f5a524", ema: "#7aa2f7", bb: "#8b95a7", buy: "#2ee6a6", sell: "#ff5c7a",
    rsi: "#c79bff", macd: "#7aa2f7", sig: "#f5a524", fillBuy: "#4cc9f0", fillSell: "#ffb454",
    histUp: "rgba(38,166,154,0.7)", histDown: "rgba(239,83,80,0.7)",
  };
  const PANES = [3.6, 0.9, 1.1];  // stretch factors of price, RSI, MACD (360/90/110 px of 560)
  const INITIAL_BARS = 150;
  const ET = "America/New_York";
  const hhmm = new Intl.DateTimeFormat("en-US", { hour: "2-digit", minute: "2-digit",
    hour12: false, timeZone: ET });
  const day = new Intl.DateTimeFormat("en-US", { month: "short", day: "2-digit", timeZone: ET });
  const full = new Intl.DateTimeFormat("en-US", { weekday: "short", month: "short",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false, timeZone: ET });
  const ms = (t) => new Date(t * 1000);

  let chart = null, els = null, series = null, markers = null, rsiLevels = [];
  let view = null;  // what is drawn: {symbol, bars, ind, names, index, signals, fills}

  // What the page calls each indicator, from the periods the server sends (the job's, read
  // from strategy.toml): the legend, the pane labels and the hover card all use these.
  function names(p) {
    return { sma: `SMA ${p.sma}`, ema: `EMA ${p.ema}`,
      bb: `Bollinger ${p.bb_period}, ${p.bb_stddev}σ`, rsi: `RSI ${p.rsi}`,
      macd: `MACD ${p.macd_fast}/${p.macd_slow}/${p.macd_signal}` };
  }

  function lineOpts(color, extra) {
    return { color, lineWidth: 1, priceLineVisible: false, lastValueVisible: false,
      crosshairMarkerVisible: false, ...extra };
  }

  // Build the chart once, inside `root` (its size follows the element: autoSize).
  function create(root, hoverEl, latestBtn) {
    els = { root, hover: hoverEl, latest: latestBtn };
    chart = LW.createChart(root, {
      autoSize: true,
      layout: { background: { type: "solid", color: C.bg }, textColor: C.axis, fontSize: 11,
        // The licence asks for a link to tradingview.com on the page: the library's own logo.
        attributionLogo: true,
        panes: { separatorColor: "#1f2a3c", separatorHoverColor: "#2c3d5e" } },
      grid: { vertLines: { color: C.grid }, horzLines: { color: C.grid } },
      crosshair: { mode: LW.CrosshairMode.Normal },
      rightPriceScale: { borderColor: "#1f2a3c" },
      timeScale: { borderColor: "#1f2a3c", timeVisible: true, secondsVisible: false,
        rightOffset: 4, tickMarkFormatter: (t, type) =>
          (type <= LW.TickMarkType.DayOfMonth ? day : hhmm).format(ms(t)) },
      localization: { timeFormatter: (t) => full.format(ms(t)) + " ET" },
    });
    series = {
      candles: chart.addSeries(LW.CandlestickSeries, { upColor: C.up, downColor: C.down,
        borderVisible: false, wickUpColor: C.up, wickDownColor: C.down }),
      bbUpper: chart.addSeries(LW.LineSeries, lineOpts(C.bb, { lineStyle: LW.LineStyle.Dashed })),
      bbMid: chart.addSeries(LW.LineSeries, lineOpts(C.bb, { lineStyle: LW.LineStyle.Dotted })),
      bbLower: chart.addSeries(LW.LineSeries, lineOpts(C.bb, { lineStyle: LW.LineStyle.Dashed })),
      sma: chart.addSeries(LW.LineSeries, lineOpts(C.sma, { lineWidth: 2 })),
      ema: chart.addSeries(LW.LineSeries, lineOpts(C.ema, { lineWidth: 2 })),
      rsi: chart.addSeries(LW.LineSeries, lineOpts(C.rsi, { lineWidth: 2, lastValueVisible: true,
        autoscaleInfoProvider: () => ({ priceRange: { minValue: 0, maxValue: 100 } }) }), 1),
      hist: chart.addSeries(LW.HistogramSeries, { priceLineVisible: false,
        lastValueVisible: false, color: C.histUp }, 2),
      macd: chart.addSeries(LW.LineSeries, lineOpts(C.macd, { lineWidth: 2 }), 2),
      signal: chart.addSeries(LW.LineSeries, lineOpts(C.sig), 2),
    };
    rsiLevels = [0, 1].map(() => series.rsi.createPriceLine({ price: 0, color: C.axis,
      lineWidth: 1, lineStyle: LW.LineStyle.Dashed, axisLabelVisible: false }));
    // Proportions rather than pixels: the container's size is not known until it is laid out.
    chart.panes().forEach((pane, i) => pane.setStretchFactor(PANES[i]));
    markers = LW.createSeriesMarkers(series.candles, []);
    chart.subscribeCrosshairMove(onCrosshair);
    chart.timeScale().subscribeVisibleLogicalRangeChange(showLatestButton);
    latestBtn.addEventListener("click", () => chart.timeScale().scrollToRealTime());
    return chart;
  }

  // --- data --------------------------------------------------------------------------------
  const points = (bars, vals) => {
    const out = [];
    vals.forEach((v, i) => { if (v !== null && isFinite(v)) out.push({ time: bars[i].t, value: v }); });
    return out;
  };

  // Orders that filled, on the bar they filled in (fill_t), else the bar they were decided on.
  // Both are bar ends, as a signal's t is: a marker sits on the bar with exactly that time, and
  // one whose bar the page does not hold (scrolled out of the bounded window) is left out.
  function fillsOf(orders, index) {
    const out = [];
    for (const o of orders) {
      if (!o.filled_qty || !o.filled_avg_price) continue;
      const t = o.fill_t ?? o.bar_t;
      const i = t === null || t === undefined ? undefined : index.get(Math.round(t));
      if (i !== undefined) out.push({ i, order: o });
    }
    return out;
  }

  // bars: [{t,o,h,l,c,v}] of one symbol; signals and orders of that symbol; p: the indicator
  // periods of the server's config.
  function draw(symbol, bars, signals, orders, p) {
    const closes = bars.map((b) => b.c);
    const ind = { sma: TFInd.sma(closes, p.sma), ema: TFInd.ema(closes, p.ema),
      bb: TFInd.bollinger(closes, p.bb_period, p.bb_stddev), rsi: TFInd.rsi(closes, p.rsi),
      macd: TFInd.macd(closes, p.macd_fast, p.macd_slow, p.macd_signal) };
    rsiLevels[0].applyOptions({ price: p.rsi_oversold });
    rsiLevels[1].applyOptions({ price: p.rsi_overbought });
    const ts = chart.timeScale();
    // Scrolled back: keep the same bars on screen when data changes (the library follows the
    // right edge when it is in view, and otherwise would slide the history under the reader).
    const keep = view && view.symbol === symbol && ts.scrollPosition() < -0.5
      ? ts.getVisibleRange() : null;
    series.candles.setData(bars.map((b) => ({ time: b.t, open: b.o, high: b.h, low: b.l,
      close: b.c })));
    series.sma.setData(points(bars, ind.sma));
    series.ema.setData(points(bars, ind.ema));
    series.bbUpper.setData(points(bars, ind.bb.upper));
    series.bbMid.setData(points(bars, ind.bb.mid));
    series.bbLower.setData(points(bars, ind.bb.lower));
    series.rsi.setData(points(bars, ind.rsi));
    series.macd.setData(points(bars, ind.macd.line));
    series.signal.setData(points(bars, ind.macd.signal));
    series.hist.setData(points(bars, ind.macd.hist).map((p) => ({ ...p,
      color: p.value >= 0 ? C.histUp : C.histDown })));

    const index = new Map(bars.map((b, i) => [b.t, i]));
    const sigs = signals.map((s) => ({ i: index.get(Math.round(s.t)), s }))
      .filter((x) => x.i !== undefined);
    const fills = fillsOf(orders, index);
    const list = sigs.map(({ i, s }) => {
      const buy = s.action === "BUY";
      return { time: bars[i].t, position: buy ? "belowBar" : "aboveBar",
        shape: buy ? "arrowUp" : "arrowDown", color: buy ? C.buy : C.sell,
        size: s.strength === "STRONG" ? 2 : 1.5, id: "signal:" + s.id };
    }).concat(fills.map(({ i, order: o }) => ({ time: bars[i].t, position: "atPriceMiddle",
      price: o.filled_avg_price, shape: "circle", size: 1,
      color: o.side === "buy" ? C.fillBuy : C.fillSell, id: "order:" + o.client_order_id })));
    list.sort((a, b) => a.time - b.time);
    markers.setMarkers(list);
    if (view === null || view.symbol !== symbol || !view.bars.length) {
      // A new symbol opens on its latest INITIAL_BARS bars (all of them if fewer); scroll or
      // zoom out for the rest of what the page holds.
      const n = bars.length;
      if (n) ts.setVisibleLogicalRange({ from: Math.max(0, n - INITIAL_BARS) - 0.5, to: n - 1 + 4 });
    } else if (keep) ts.setVisibleRange(keep);
    view = { symbol, bars, ind, names: names(p), index, signals: sigs, fills };
    placePaneLabels();
    els.root.dataset.candles = String(bars.length);
    els.root.dataset.last = bars.length ? String(bars[bars.length - 1].t) : "";
    els.root.dataset.markers = String(sigs.length);
    els.root.dataset.fills = String(fills.length);
    if (els.hover.dataset.t) showHover(Number(els.hover.dataset.t), null);  // keep it current
    return { candles: bars.length, markers: sigs.length, fills: fills.length };
  }

  // The RSI and MACD names at the top left of their panes (the panes' heights may change).
  function placePaneLabels() {
    const wrap = els.root.parentElement, top = wrap.getBoundingClientRect().top;
    for (const label of wrap.querySelectorAll(".pane-label")) {
      const pane = chart.panes()[Number(label.dataset.pane)];
      const el = pane && pane.getHTMLElement();
      if (el) label.style.top = (el.getBoundingClientRect().top - top + 4) + "px";
    }
  }

  function showLatestButton() {
    if (!chart) return;
    els.latest.hidden = chart.timeScale().scrollPosition() > -1;
  }

  // --- hover card --------------------------------------------------------------------------
  // num(), vol() and esc() are the page's (app.js: loaded after this file, before any hover).

  function card(i) {
    const { bars, ind, names: n } = view, b = bars[i];
    const d = b.h < 10 ? 3 : 2, md = Math.abs(ind.macd.line[i] ?? 1) < 0.1 ? 4 : 3;
    const rows = [
      `<div class="h-time">${esc(full.format(ms(b.t)))} ET <small>bar end</small></div>`,
      `<div class="h-ohlc">O <b>${num(b.o, d)}</b> H <b>${num(b.h, d)}</b> L <b>${num(b.l, d)}</b>
        C <b class="h-close ${b.c >= b.o ? "pos" : "neg"}">${num(b.c, d)}</b>
        <span class="muted">V ${vol(b.v)}</span></div>`,
      `<div><span class="k sma">${esc(n.sma)}</span> ${num(ind.sma[i], d)}
        <span class="k ema">${esc(n.ema)}</span> ${num(ind.ema[i], d)}</div>`,
      `<div><span class="k bb">BB</span> ${num(ind.bb.upper[i], d)} / ${num(ind.bb.mid[i], d)} /
        ${num(ind.bb.lower[i], d)}</div>`,
      `<div><span class="k rsi">${esc(n.rsi)}</span> ${num(ind.rsi[i], 1)}
        <span class="k macd">MACD</span> ${num(ind.macd.line[i], md)} / ${num(ind.macd.signal[i], md)}
        / ${num(ind.macd.hist[i], md)}</div>`,
    ];
    for (const { s } of view.signals.filter((x) => x.i === i)) {
      rows.push(`<div class="h-signal"><span class="badge ${s.action === "BUY" ? "buy" : "sell"}">
        ${s.action}</span> ${s.strength.toLowerCase()} · conf ${num(s.confidence)} · ${esc(s.reason)}</div>`);
    }
    for (const { order: o } of view.fills.filter((x) => x.i === i)) {
      rows.push(`<div class="h-order" data-coid="${esc(o.client_order_id)}">
        <i class="dot ${o.side}"></i> ${o.side} ${num(o.filled_qty, 0)} @ ${num(o.filled_avg_price, d)}
        <span class="muted">${esc(o.status)}${o.exit_reason ? " · " + esc(o.exit_reason.replace("_", " ")) : ""}
        · wall ${esc((o.updated_at || "").slice(11, 19))} UTC</span></div>`);
    }
    return rows.join("");
  }

  // Shows the card for bar time `t` next to `point` (chart coordinates), or where it was.
  function showHover(t, point) {
    const i = view ? view.index.get(t) : undefined;
    const el = els.hover;
    if (i === undefined) { el.hidden = true; el.dataset.t = ""; return; }
    el.innerHTML = card(i);
    el.dataset.t = String(t);
    el.hidden = false;
    if (point) {
      const w = els.root.clientWidth, cw = el.offsetWidth, ch = el.offsetHeight;
      const x = point.x + 16 + cw > w - 60 ? point.x - cw - 16 : point.x + 16;
      el.style.left = Math.max(4, x) + "px";
      el.style.top = Math.max(4, Math.min(point.y + 12, els.root.clientHeight - ch - 30)) + "px";
    }
  }

  function onCrosshair(param) {
    if (!view || param.time === undefined || !param.point) {
      els.hover.hidden = true; els.hover.dataset.t = "";
      return;
    }
    showHover(param.time, param.point);
  }

  // Page coordinates of a bar's centre on the price pane (the browser test and the screenshot
  // move the mouse there), or null when it is off screen.
  function pointOf(t) {
    if (!view || !view.index.has(t)) return null;
    const x = chart.timeScale().timeToCoordinate(t);
    const b = view.bars[view.index.get(t)];
    const y = series.candles.priceToCoordinate((b.h + b.l) / 2);
    if (x === null || y === null) return null;
    const r = els.root.getBoundingClientRect();
    return { x: r.left + x, y: r.top + y };
  }

  return { create, draw, names, pointOf, placePaneLabels, api: () => chart,
    rsiLevels: () => rsiLevels.map((line) => line.options().price),
    markers: () => (markers ? markers.markers() : []) };
})();
