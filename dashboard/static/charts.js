// Small hand-written canvas charts: candles with overlays and signal markers, RSI, MACD.
// Three panels share one x layout so bars line up vertically.
"use strict";

const TFChart = (() => {
  const C = {
    bg: "#0f1522", grid: "#1d2636", axis: "#7d8aa3", up: "#26a69a", down: "#ef5350",
    sma: "#f5a524", ema: "#7aa2f7", bb: "#8b95a7", bbFill: "rgba(139,149,167,0.08)",
    buy: "#2ee6a6", sell: "#ff5c7a", rsi: "#c79bff", macd: "#7aa2f7", sig: "#f5a524",
  };
  const RIGHT = 62, BOTTOM = 20, TOP = 8, LEFT = 6;
  const timeFmt = new Intl.DateTimeFormat("en-US", {
    hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "America/New_York" });

  function setup(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const cssH = Number(canvas.dataset.h || canvas.getAttribute("height"));
    canvas.dataset.h = cssH;
    const cssW = Math.max(200, canvas.clientWidth || canvas.parentElement.clientWidth);
    canvas.style.height = cssH + "px";
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = C.bg;
    ctx.fillRect(0, 0, cssW, cssH);
    return { ctx, w: cssW, h: cssH };
  }

  // The x layout for n bars: slot width and the centre of bar i.
  function layout(w, count) {
    const plotW = w - LEFT - RIGHT;
    const n = Math.max(1, Math.min(count, Math.floor(plotW / 5)));
    const slot = plotW / n;
    return { n, slot, x: (i) => LEFT + slot * (i + 0.5), plotW };
  }

  function niceTicks(lo, hi, count) {
    const span = hi - lo || 1;
    const step0 = span / count;
    const mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
    return out;
  }

  function yAxis(ctx, w, h, lo, hi, y, digits, count) {
    ctx.font = "11px ui-monospace, SFMono-Regular, Menlo, monospace";
    ctx.textBaseline = "middle";
    for (const v of niceTicks(lo, hi, count)) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.strokeStyle = C.grid; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(LEFT, yy); ctx.lineTo(w - RIGHT, yy); ctx.stroke();
      ctx.fillStyle = C.axis;
      ctx.fillText(v.toFixed(digits), w - RIGHT + 6, yy);
    }
  }

  function line(ctx, vals, x, y, color, width, dash) {
    ctx.strokeStyle = color; ctx.lineWidth = width || 1.4;
    ctx.setLineDash(dash || []);
    ctx.beginPath();
    let pen = false;
    vals.forEach((v, i) => {
      if (v === null || v === undefined || !isFinite(v)) { pen = false; return; }
      if (pen) ctx.lineTo(x(i), y(v)); else { ctx.moveTo(x(i), y(v)); pen = true; }
    });
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function empty(ctx, w, h, text) {
    ctx.fillStyle = C.axis; ctx.font = "13px system-ui, sans-serif"; ctx.textAlign = "center";
    ctx.fillText(text, w / 2, h / 2); ctx.textAlign = "left";
  }

  // bars: [{t,o,h,l,c,v}], signals: [{t, action, price}] of this symbol.
  function price(canvas, bars, signals) {
    const { ctx, w, h } = setup(canvas);
    if (!bars.length) { empty(ctx, w, h, "waiting for bars…"); return { candles: 0, markers: 0 }; }
    const closes = bars.map((b) => b.c);
    const sma = TFInd.sma(closes, 20), ema = TFInd.ema(closes, 12);
    const bb = TFInd.bollinger(closes, 20, 2);
    const L = layout(w, bars.length);
    const off = bars.length - L.n;
    const vis = bars.slice(off);
    const sl = (a) => a.slice(off);
    const [smaV, emaV, up, mid, lo] = [sl(sma), sl(ema), sl(bb.upper), sl(bb.mid), sl(bb.lower)];
    let yLo = Infinity, yHi = -Infinity;
    vis.forEach((b, i) => {
      yLo = Math.min(yLo, b.l, lo[i] ?? Infinity);
      yHi = Math.max(yHi, b.h, up[i] ?? -Infinity);
    });
    const pad = (yHi - yLo) * 0.08 || yHi * 0.01 || 1;
    yLo -= pad; yHi += pad;
    const plotH = h - TOP - BOTTOM;
    const y = (v) => TOP + (yHi - v) / (yHi - yLo) * plotH;
    const digits = yHi < 10 ? 3 : 2;
    yAxis(ctx, w, h, yLo, yHi, y, digits, 6);

    // Time labels every ~90 px.
    ctx.fillStyle = C.axis; ctx.textBaseline = "alphabetic"; ctx.textAlign = "center";
    const every = Math.max(1, Math.round(90 / L.slot));
    for (let i = L.n - 1; i >= 0; i -= every) {
      ctx.fillText(timeFmt.format(new Date(vis[i].t * 1000)), L.x(i), h - 5);
    }
    ctx.textAlign = "left";

    // Bollinger band as a filled channel behind the candles.
    ctx.fillStyle = C.bbFill; ctx.beginPath();
    let started = false;
    up.forEach((v, i) => { if (v !== null) { started ? ctx.lineTo(L.x(i), y(v)) : ctx.moveTo(L.x(i), y(v)); started = true; } });
    for (let i = lo.length - 1; i >= 0; i--) if (lo[i] !== null) ctx.lineTo(L.x(i), y(lo[i]));
    if (started) ctx.fill();
    line(ctx, up, L.x, y, C.bb, 1, [3, 3]);
    line(ctx, lo, L.x, y, C.bb, 1, [3, 3]);
    line(ctx, mid, L.x, y, C.bb, 0.8, [1, 3]);

    const bodyW = Math.max(1, Math.min(11, L.slot * 0.7));
    vis.forEach((b, i) => {
      const color = b.c >= b.o ? C.up : C.down;
      const xx = Math.round(L.x(i)) + 0.5;
      ctx.strokeStyle = color; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(xx, y(b.h)); ctx.lineTo(xx, y(b.l)); ctx.stroke();
      const top = y(Math.max(b.o, b.c)), bot = y(Math.min(b.o, b.c));
      ctx.fillStyle = color;
      ctx.fillRect(xx - bodyW / 2, top, bodyW, Math.max(1, bot - top));
    });
    line(ctx, smaV, L.x, y, C.sma, 1.5);
    line(ctx, emaV, L.x, y, C.ema, 1.5);

    // Signal markers on their bar (matched by bar end time).
    const index = new Map(vis.map((b, i) => [b.t, i]));
    let markers = 0;
    for (const s of signals) {
      const i = index.get(Math.round(s.t));
      if (i === undefined) continue;
      const b = vis[i], xx = L.x(i), buy = s.action === "BUY";
      const yy = buy ? y(b.l) + 10 : y(b.h) - 10;
      const r = s.strength === "STRONG" ? 7 : 5.5;
      ctx.fillStyle = buy ? C.buy : C.sell;
      ctx.strokeStyle = C.bg; ctx.lineWidth = 1;
      ctx.beginPath();
      if (buy) { ctx.moveTo(xx, yy - r); ctx.lineTo(xx - r, yy + r); ctx.lineTo(xx + r, yy + r); }
      else { ctx.moveTo(xx, yy + r); ctx.lineTo(xx - r, yy - r); ctx.lineTo(xx + r, yy - r); }
      ctx.closePath(); ctx.fill(); ctx.stroke();
      markers++;
    }

    // Last price tag on the axis.
    const last = vis[vis.length - 1];
    const ly = y(last.c);
    ctx.fillStyle = last.c >= last.o ? C.up : C.down;
    ctx.fillRect(w - RIGHT + 1, ly - 9, RIGHT - 2, 18);
    ctx.fillStyle = "#0b0f17"; ctx.textBaseline = "middle";
    ctx.font = "bold 11px ui-monospace, SFMono-Regular, Menlo, monospace";
    ctx.fillText(last.c.toFixed(digits), w - RIGHT + 6, ly);
    canvas.dataset.candles = String(vis.length);
    canvas.dataset.markers = String(markers);
    return { candles: vis.length, markers };
  }

  function rsi(canvas, bars) {
    const { ctx, w, h } = setup(canvas);
    if (bars.length < 16) { empty(ctx, w, h, "RSI needs 15 bars"); return; }
    const vals = TFInd.rsi(bars.map((b) => b.c), 14);
    const L = layout(w, bars.length);
    const vis = vals.slice(bars.length - L.n);
    const y = (v) => 4 + (100 - v) / 100 * (h - 8);
    ctx.fillStyle = "rgba(199,155,255,0.07)";
    ctx.fillRect(LEFT, y(70), L.plotW, y(30) - y(70));
    yAxis(ctx, w, h, 0, 100, y, 0, 2);
    for (const lvl of [30, 70]) line(ctx, [lvl, lvl], (i) => (i ? w - RIGHT : LEFT), y, C.axis, 0.8, [4, 3]);
    line(ctx, vis, L.x, y, C.rsi, 1.5);
  }

  function macd(canvas, bars) {
    const { ctx, w, h } = setup(canvas);
    if (bars.length < 35) { empty(ctx, w, h, "MACD needs 34 bars"); return; }
    const m = TFInd.macd(bars.map((b) => b.c), 12, 26, 9);
    const L = layout(w, bars.length);
    const off = bars.length - L.n;
    const [ln, sg, hs] = [m.line.slice(off), m.signal.slice(off), m.hist.slice(off)];
    let mx = 0;
    for (const a of [ln, sg, hs]) for (const v of a) if (v !== null) mx = Math.max(mx, Math.abs(v));
    mx = mx * 1.1 || 1;
    const y = (v) => 4 + (mx - v) / (2 * mx) * (h - 8);
    yAxis(ctx, w, h, -mx, mx, y, mx < 0.1 ? 3 : 2, 3);
    const bw = Math.max(1, L.slot * 0.6);
    hs.forEach((v, i) => {
      if (v === null) return;
      ctx.fillStyle = v >= 0 ? "rgba(38,166,154,0.7)" : "rgba(239,83,80,0.7)";
      const y0 = y(0), y1 = y(v);
      ctx.fillRect(L.x(i) - bw / 2, Math.min(y0, y1), bw, Math.max(1, Math.abs(y1 - y0)));
    });
    line(ctx, ln, L.x, y, C.macd, 1.4);
    line(ctx, sg, L.x, y, C.sig, 1.2);
  }

  return { price, rsi, macd, colors: C };
})();
