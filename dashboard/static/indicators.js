// Display indicators computed from the bars the page holds. Same definitions as the Flink job
// (SMA; EMA seeded with the SMA of its first n values; Bollinger with the population standard
// deviation; Wilder's RSI; MACD = fast EMA - slow EMA with an EMA signal line), with the job's
// periods (the server's config), but over a shorter history, so the first values after the left
// edge are an approximation.
"use strict";

const TFInd = (() => {
  function sma(xs, n) {
    const out = new Array(xs.length).fill(null);
    let sum = 0;
    for (let i = 0; i < xs.length; i++) {
      sum += xs[i];
      if (i >= n) sum -= xs[i - n];
      if (i >= n - 1) out[i] = sum / n;
    }
    return out;
  }

  function ema(xs, n) {
    const out = new Array(xs.length).fill(null);
    const k = 2 / (n + 1);
    let prev = null, seed = 0, count = 0;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i];
      if (x === null || x === undefined) continue;
      if (prev === null) {
        seed += x; count++;
        if (count === n) { prev = seed / n; out[i] = prev; }
        continue;
      }
      prev = x * k + prev * (1 - k);
      out[i] = prev;
    }
    return out;
  }

  function bollinger(xs, n, width) {
    const mid = sma(xs, n);
    const upper = new Array(xs.length).fill(null), lower = new Array(xs.length).fill(null);
    for (let i = n - 1; i < xs.length; i++) {
      let v = 0;
      for (let j = i - n + 1; j <= i; j++) v += (xs[j] - mid[i]) ** 2;
      const sd = Math.sqrt(v / n);
      upper[i] = mid[i] + width * sd;
      lower[i] = mid[i] - width * sd;
    }
    return { mid, upper, lower };
  }

  function rsi(xs, n) {
    const out = new Array(xs.length).fill(null);
    let gain = 0, loss = 0;
    for (let i = 1; i < xs.length; i++) {
      const d = xs[i] - xs[i - 1];
      const g = Math.max(d, 0), l = Math.max(-d, 0);
      if (i <= n) {
        gain += g; loss += l;
        if (i === n) { gain /= n; loss /= n; }
        else continue;
      } else {
        gain = (gain * (n - 1) + g) / n;
        loss = (loss * (n - 1) + l) / n;
      }
      out[i] = loss === 0 ? (gain === 0 ? 50 : 100) : 100 - 100 / (1 + gain / loss);
    }
    return out;
  }

  function macd(xs, fast, slow, signal) {
    const f = ema(xs, fast), s = ema(xs, slow);
    const line = xs.map((_, i) => (f[i] === null || s[i] === null ? null : f[i] - s[i]));
    const sig = ema(line, signal);
    const hist = line.map((v, i) => (v === null || sig[i] === null ? null : v - sig[i]));
    return { line, signal: sig, hist };
  }

  return { sma, ema, bollinger, rsi, macd };
})();
