// The page: keeps a bounded copy of the server's state, applies snapshot + deltas from /ws and
// redraws at most once per animation frame. Protocol: see dashboard/hub.py.
"use strict";

const S = {
  seq: -1, config: { windows: ["session"], limits: { bars_per_symbol: 390 } },
  symbols: [], bars: {}, signals: new Map(), orders: new Map(), news: new Map(),
  headlines: {}, sentiment: {}, summary: {}, status: {}, provenance: null,
  selected: decodeURIComponent(location.hash.slice(1)) || null, window: "session",
  stats: { candles: 0, markers: 0, fills: 0, snapshots: 0, deltas: 0, gaps: 0 },
  chartRev: 0,  // bumped when what the chart shows may have changed
};
window.TF = S;  // for the browser test and for debugging in the console

const $ = (id) => document.getElementById(id);
const LIMIT = { signals: 200, orders: 200, news: 100, headlines: 12 };
const etTime = new Intl.DateTimeFormat("en-US", { hour: "2-digit", minute: "2-digit",
  hour12: false, timeZone: "America/New_York" });
const etFull = new Intl.DateTimeFormat("en-US", { month: "short", day: "2-digit",
  hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "America/New_York" });

// --- formatting -----------------------------------------------------------------------------
function num(v, d = 2) {
  return v === null || v === undefined ? "—" : Number(v).toLocaleString("en-US",
    { minimumFractionDigits: d, maximumFractionDigits: d });
}
function vol(v) {
  if (v === null || v === undefined) return "—";
  if (v >= 1e9) return (v / 1e9).toFixed(2) + "B";
  if (v >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return String(Math.round(v));
}
function signed(v, d = 2) {
  if (v === null || v === undefined) return "—";
  return (v > 0 ? "+" : v < 0 ? "−" : "") + num(Math.abs(v), d);
}
function cls(v) { return v > 0 ? "pos" : v < 0 ? "neg" : "flat"; }
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;" }[c]));
}
function et(t) { return etTime.format(new Date(t * 1000)); }

// --- applying server messages ---------------------------------------------------------------
function putBounded(map, key, value, cap) {
  map.delete(key);
  map.set(key, value);
  while (map.size > cap) map.delete(map.keys().next().value);
}

function applyBars(list) {
  const cap = S.config.limits.bars_per_symbol || 390;
  for (const b of list) {
    const arr = S.bars[b.symbol] || (S.bars[b.symbol] = []);
    if (!S.symbols.includes(b.symbol)) { S.symbols.push(b.symbol); S.symbols.sort(); }
    if (!arr.length || arr[arr.length - 1].t < b.t) arr.push(b);
    else {
      let lo = 0, hi = arr.length;
      while (lo < hi) { const m = (lo + hi) >> 1; if (arr[m].t < b.t) lo = m + 1; else hi = m; }
      if (arr[lo] && arr[lo].t === b.t) arr[lo] = b; else arr.splice(lo, 0, b);
    }
    if (arr.length > cap) arr.splice(0, arr.length - cap);
  }
}

function applyNews(list) {
  for (const n of list) {
    putBounded(S.news, n.id, n, LIMIT.news);
    for (const sym of n.symbols) {
      const h = S.headlines[sym] || (S.headlines[sym] = []);
      if (!h.some((x) => x.id === n.id)) { h.push(n); h.sort((a, b) => a.t - b.t); }
      if (h.length > LIMIT.headlines) h.splice(0, h.length - LIMIT.headlines);
    }
  }
}

function onSnapshot(m) {
  S.seq = m.seq; S.config = m.config; S.symbols = m.symbols.slice(); S.bars = m.bars;
  S.signals = new Map(m.signals.map((s) => [s.id, s]));
  S.orders = new Map(m.orders.map((o) => [o.client_order_id, o]));
  S.news = new Map(m.news.map((n) => [n.id, n]));
  S.headlines = m.headlines; S.sentiment = m.sentiment; S.summary = m.summary;
  S.status = m.status || {};
  S.provenance = m.provenance || null;
  S.stats.snapshots++;
  if (!S.config.windows.includes(S.window)) S.window = "session";
  if (!S.selected || !S.symbols.includes(S.selected)) S.selected = busiestSymbol();
  S.chartRev++;
  renderWindows();
  renderIndicatorNames();
  dirty();
}

// The legend and the pane labels name the periods the job uses (config.indicators).
function renderIndicatorNames() {
  const names = TFChart.names(S.config.indicators);
  for (const el of document.querySelectorAll("[data-indicator]")) {
    el.textContent = names[el.dataset.indicator];
  }
}

function onDelta(m) {
  if (m.seq <= S.seq) return;  // already inside the snapshot we hold
  if (m.seq !== S.seq + 1) { S.stats.gaps++; send({ type: "snapshot" }); }
  S.seq = m.seq;
  S.stats.deltas++;
  if (m.bars) applyBars(m.bars);
  if (m.signals) for (const s of m.signals) putBounded(S.signals, s.id, s, LIMIT.signals);
  if (m.orders) for (const o of m.orders) putBounded(S.orders, o.client_order_id, o, LIMIT.orders);
  if (m.news) applyNews(m.news);
  if (m.sentiment) S.sentiment = m.sentiment;
  if (m.summary) S.summary = m.summary;
  if (m.status) S.status = m.status;
  if (m.provenance) S.provenance = m.provenance;
  if (m.bars || m.signals || m.orders) S.chartRev++;
  if (!S.selected && S.symbols.length) S.selected = busiestSymbol();
  dirty();
}

function busiestSymbol() {
  const counts = {};
  for (const s of S.signals.values()) counts[s.symbol] = (counts[s.symbol] || 0) + 1;
  return S.symbols.slice().sort((a, b) => (counts[b] || 0) - (counts[a] || 0))[0] || null;
}

// --- websocket ------------------------------------------------------------------------------
let ws = null, backoff = 500;
function send(obj) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj)); }
function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${proto}//${location.host}/ws`);
  setConn("connecting…", "wait");
  ws.onopen = () => { backoff = 500; setConn("live", "ok"); };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "snapshot") onSnapshot(m); else if (m.type === "delta") onDelta(m);
  };
  ws.onclose = () => {
    setConn("reconnecting…", "bad");
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
}
function setConn(text, state) {
  $("conn").className = "pill " + state;
  $("conn").querySelector("span").textContent = text;
}

// --- rendering ------------------------------------------------------------------------------
let scheduled = false;
function dirty() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(); });
}

function render() {
  renderSource();
  renderStatus();
  renderSummary();
  renderTabs();
  renderChart();
  renderSentiment();
  renderSignals();
  renderOrders();
  renderPositions();
}

function renderWindows() {
  $("windows").innerHTML = S.config.windows.map((w) =>
    `<button data-w="${esc(w)}" class="${w === S.window ? "on" : ""}">${esc(w)}</button>`).join("");
}

// What the data is, as the server derived it from the bars' `source` (nothing guessed here).
const KIND_NAMES = { simulated: "simulated (invented prices)", replay: "replay (files)",
  live: "live (Alpaca)", other: "other source" };
function renderSource() {
  const p = S.provenance;
  if (!p) return;
  const el = $("source");
  el.className = "pill source " + p.kind;
  el.querySelector("span").textContent = p.label;
  el.dataset.kind = p.kind;
  el.title = (p.kinds || []).map((k) => `${KIND_NAMES[k] || k}: ${(p.symbols[k] || []).join(", ")}`)
    .concat(p.sources && p.sources.length ? [`bar sources: ${p.sources.join(", ")}`] : [])
    .join("\n") || "no bars yet";
}

function renderStatus() {
  const st = S.status || {};
  const k = st.kill_switch;
  if (k) {
    $("kill").className = "pill " + (k.engaged ? "bad" : "ok");
    $("kill").querySelector("span").textContent = k.engaged ? `KILL SWITCH ENGAGED` : "trading enabled";
    $("kill").title = k.engaged ? `${k.reason} (since ${k.since}${k.by ? ", by " + k.by : ""})` : `kill switch off (${k.path})`;
  }
  const f = st.flink;
  if (f) {
    const job = (f.jobs || [])[0];
    const state = !f.up ? "cluster down" : job ? `${job.state}` : "no job";
    $("flink").className = "pill " + (job && job.state === "RUNNING" ? "ok" : f.up ? "wait" : "bad");
    $("flink").querySelector("span").textContent = `Flink: ${state}`;
    $("flink").title = job ? `${job.name} (${job.id})` : f.url;
  }
  $("flink-link").href = (f && f.url) || S.config.flink_url || "#";
  if (st.feed) {
    const topics = Object.entries(st.feed);
    const bad = topics.filter(([, h]) => !h.alive).map(([t]) => t);
    const rate = Object.values(st.rates || {}).reduce((a, b) => a + b, 0);
    $("feed").className = "pill quiet " + (bad.length ? "bad" : "");
    $("feed").querySelector("span").textContent = bad.length ? `feed down: ${bad.join(", ")}`
      : `${topics.length} topics · ${num(rate, 1)} rec/s`;
  }
  let latest = 0;
  for (const arr of Object.values(S.bars)) if (arr.length) latest = Math.max(latest, arr[arr.length - 1].t);
  $("asof").querySelector("span").textContent = latest ? `bars to ${etFull.format(new Date(latest * 1000))} ET` : "no bars yet";
}

function renderSummary() {
  const sum = S.summary[S.window];
  const body = $("summary").tBodies[0];
  if (!sum) { body.innerHTML = `<tr><td colspan="11" class="muted">waiting for data…</td></tr>`; return; }
  body.innerHTML = Object.entries(sum.symbols).map(([sym, x]) => `
    <tr data-symbol="${esc(sym)}" class="${sym === S.selected ? "sel" : ""}">
      <td class="sym">${esc(sym)}</td>
      <td>${num(x.last)}</td>
      <td class="${cls(x.change)}">${signed(x.change)} <small>${x.change_pct === null ? "" : signed(x.change_pct) + "%"}</small></td>
      <td>${num(x.high)}</td><td>${num(x.low)}</td><td>${vol(x.volume)}</td><td>${num(x.vwap)}</td>
      <td><span class="pos">${x.signals.buy}</span> / <span class="neg">${x.signals.sell}</span></td>
      <td>${x.position.qty ? num(x.position.qty, 0) + " @ " + num(x.position.avg_price) : "—"}</td>
      <td class="${cls(x.realized_pnl)}">${signed(x.realized_pnl)}</td>
      <td class="${cls(x.unrealized_pnl)}">${signed(x.unrealized_pnl)}</td>
    </tr>`).join("");
  const t = sum.totals;
  $("totals").innerHTML = `signals <b class="pos">${t.buy_signals}</b>/<b class="neg">${t.sell_signals}</b>
    · realised <b class="${cls(t.realized_pnl)}">${signed(t.realized_pnl)}</b>
    · unrealised <b class="${cls(t.unrealized_pnl)}">${signed(t.unrealized_pnl)}</b>`;
}

function renderTabs() {
  $("tabs").innerHTML = S.symbols.map((s) =>
    `<button data-symbol="${esc(s)}" class="${s === S.selected ? "on" : ""}">${esc(s)}</button>`).join("");
}

// The chart is redrawn only when its bars, signals, orders or symbol changed, not on every
// status or summary update (the library keeps the zoom, the scroll and the crosshair).
let drawn = { rev: -1, symbol: null };
function renderChart() {
  const sym = S.selected;
  const bars = (sym && S.bars[sym]) || [];
  if (!TFChart.api()) TFChart.create($("price"), $("hover"), $("to-latest"));
  if (!S.config.indicators) return;  // no snapshot yet: nothing to draw, no periods to draw with
  if (drawn.rev !== S.chartRev || drawn.symbol !== sym) {
    const sigs = [...S.signals.values()].filter((s) => s.symbol === sym);
    const orders = [...S.orders.values()].filter((o) => o.symbol === sym);
    const r = TFChart.draw(sym, bars, sigs, orders, S.config.indicators);
    S.stats.candles = r.candles; S.stats.markers = r.markers; S.stats.fills = r.fills;
    drawn = { rev: S.chartRev, symbol: sym };
  }
  const x = S.summary.session && S.summary.session.symbols[sym];
  const last = bars[bars.length - 1];
  $("quote").innerHTML = !last ? "" : `<span class="qsym">${esc(sym)}</span>
    <span class="qpx">${num(last.c)}</span>
    ${x ? `<span class="${cls(x.change)}">${signed(x.change)} (${signed(x.change_pct)}%)</span>
    <span class="muted">session H ${num(x.high)} · L ${num(x.low)} · VWAP ${num(x.vwap)} · vol ${vol(x.volume)}</span>` : ""}`;
}

function sentBar(v) {
  if (v === null || v === undefined) return `<span class="muted">no recent news</span>`;
  const pct = Math.round((v + 1) * 50);
  return `<div class="gauge"><i style="left:${pct}%"></i></div><b class="${cls(v)}">${signed(v, 2)}</b>`;
}

function renderSentiment() {
  const sym = S.selected;
  $("sent-sym").textContent = sym ? "· " + sym : "";
  const s = (sym && S.sentiment[sym]) || {};
  $("sentiment").innerHTML = `
    <div class="srow"><span>Flink job (decayed, from latest signal)</span>${sentBar(s.signal)}</div>
    <div class="srow"><span>Recent headlines (${s.headline_count || 0}, mean)</span>${sentBar(s.headlines)}</div>`;
  const hl = ((sym && S.headlines[sym]) || []).slice().reverse().slice(0, 6);
  $("headlines").innerHTML = hl.length ? hl.map((n) => `
    <li><span class="score ${cls(n.score)}">${n.score === null ? "·" : signed(n.score, 2)}</span>
      <span class="time">${et(n.t)}</span> ${esc(n.headline)}</li>`).join("")
    : `<li class="muted">no headlines for ${esc(sym || "")} yet</li>`;
}

function renderSignals() {
  const list = [...S.signals.values()].sort((a, b) => b.t - a.t);
  $("sig-count").textContent = `${list.length} shown`;
  $("signals").innerHTML = list.slice(0, 40).map((s) => {
    const ind = Object.entries(s.indicators || {}).filter(([, v]) => v !== null)
      .map(([k, v]) => `${k}=${Number(v).toFixed(2)}`).join("  ");
    return `<li title="${esc(ind)}" data-symbol="${esc(s.symbol)}">
      <span class="badge ${s.action === "BUY" ? "buy" : "sell"}">${s.action}</span>
      <b>${esc(s.symbol)}</b> <span class="num">${num(s.price)}</span>
      <span class="muted">${et(s.t)} · ${s.strength.toLowerCase()} · conf ${num(s.confidence, 2)}</span>
      <div class="reason">${esc(s.reason)}</div></li>`;
  }).join("") || `<li class="muted">no signals yet</li>`;
}

// Orders on the bars' clock, as the chart and the signal feed: each at the bar it was decided
// on (bar_t), and the bar it filled in (fill_t) when that is another one. The wall-clock times
// (submitted, last update) are only in the row's tooltip: in a simulated or replayed run they
// are hours or years away from the bars.
function orderKey(o) { return o.bar_t === null || o.bar_t === undefined ? -Infinity : o.bar_t; }
function orderTitle(o) {
  const bar = (t) => `${etFull.format(new Date(t * 1000))} ET`;
  return [o.bar_t != null ? `decided on the bar ending ${bar(o.bar_t)}` : "bar not known yet",
    o.fill_t != null ? `filled in the bar ending ${bar(o.fill_t)}` : null,
    `wall clock: submitted ${o.submitted_at}, updated ${o.updated_at}`]
    .filter(Boolean).join("\n");
}
function renderOrders() {
  const list = [...S.orders.values()].sort((a, b) => orderKey(b) - orderKey(a) || b.t - a.t);
  $("ord-count").textContent = `${list.length} shown`;
  $("orders").tBodies[0].innerHTML = list.slice(0, 8).map((o) => `
    <tr data-coid="${esc(o.client_order_id)}"><td class="otime" title="${esc(orderTitle(o))}">
      <span class="bar-t">${o.bar_t != null ? et(o.bar_t) : "—"}</span>${
        o.fill_t != null && o.fill_t !== o.bar_t ? `<small class="fill-t">fill ${et(o.fill_t)}</small>` : ""}</td>
      <td class="sym">${esc(o.symbol)}</td>
      <td class="${o.side === "buy" ? "pos" : "neg"}">${o.side}${o.exit_reason
        ? ` <small class="exit" title="why the position closed">${esc(o.exit_reason.replace("_", " "))}</small>` : ""}</td>
      <td>${num(o.qty, 0)}</td>
      <td><span class="status ${esc(o.status)}">${esc(o.status)}</span></td>
      <td>${o.filled_avg_price ? num(o.filled_qty, 0) + " @ " + num(o.filled_avg_price) : "—"}</td>
      <td class="muted">${esc(o.broker)}</td></tr>`).join("")
    || `<tr><td colspan="7" class="muted">no orders yet</td></tr>`;
}

function renderPositions() {
  const sum = S.summary.session;
  const rows = sum ? Object.entries(sum.symbols).filter(([, x]) => x.position.qty || x.realized_pnl) : [];
  $("positions").tBodies[0].innerHTML = rows.map(([sym, x]) => `
    <tr><td class="sym">${esc(sym)}</td><td>${num(x.position.qty, 0)}</td>
      <td>${num(x.position.avg_price)}</td><td>${num(x.last)}</td>
      <td class="${cls(x.unrealized_pnl)}">${signed(x.unrealized_pnl)}</td>
      <td class="${cls(x.realized_pnl)}">${signed(x.realized_pnl)}</td></tr>`).join("")
    || `<tr><td colspan="6" class="muted">flat</td></tr>`;
  const a = (S.status || {}).account;
  $("acct").innerHTML = a ? `paper account: equity <b>${num(a.equity)}</b> · cash ${num(a.cash)}
    · realised <b class="${cls(a.realized_pnl)}">${signed(a.realized_pnl)}</b>` : "";
}

// --- interaction ----------------------------------------------------------------------------
document.addEventListener("click", (ev) => {
  const w = ev.target.closest("#windows button");
  if (w) { S.window = w.dataset.w; renderWindows(); dirty(); return; }
  const row = ev.target.closest("[data-symbol]");
  if (row && !ev.target.closest("a")) {
    S.selected = row.dataset.symbol;
    history.replaceState(null, "", "#" + encodeURIComponent(S.selected));
    dirty();
  }
});
window.addEventListener("resize", () => { if (TFChart.api()) TFChart.placePaneLabels(); });
connect();
