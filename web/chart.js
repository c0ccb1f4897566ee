// chart.js — a small line chart on a <canvas>, written for the sale dashboard (no chart library): time on the x
// axis, one or more series on a y axis from 0, axis labels, tick labels, a legend, gaps where a value is null, and a
// text equivalent for screen readers (a sentence per series in a separate element, words via i18n.js). Limits: at most maxPoints points
// (older ones are dropped, so memory stays bounded however long the page is open); redraws are cheap (one path per
// series). The canvas exposes its point count as data-points (tests read it).
//
// const c = lineChart(canvas, {series: [{label: () => 'Waiting', color: '#1f5fbf', dash: []}],
//                              yLabel: () => 'people', xLabel: () => 'time', text: el, maxPoints: 600});
// c.push(Date.now(), [12]);   c.redraw();   c.clear();

import { addStrings, t, lang } from '/static/i18n.js';

const MARGIN = { top: 30, right: 14, bottom: 38, left: 62 };
const MIN_SPAN_MS = 30000; // the x axis spans at least 30 s, so the first seconds do not fill the width

function niceStep(max, ticks) {
  const raw = max / ticks;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function locale() {
  return lang() === 'ko' ? 'ko-KR' : 'en-GB';
}

addStrings({
  en: {
    'chart.none': 'No data yet.',
    'chart.seriesNone': '{label}: no data yet.',
    'chart.series': '{label}: now {now}, lowest {lo}, highest {hi}.',
    'chart.summary': '{parts} Over the last {span} ({n} points, one a second).',
    'chart.minSec': '{m} min {s} s',
    'chart.sec': '{s} s',
  },
  ko: {
    'chart.none': '아직 자료가 없습니다.',
    'chart.seriesNone': '{label}: 아직 자료가 없습니다.',
    'chart.series': '{label}: 현재 {now}, 최저 {lo}, 최고 {hi}.',
    'chart.summary': '{parts} 최근 {span} 동안 ({n}개 지점, 1초마다).',
    'chart.minSec': '{m}분 {s}초',
    'chart.sec': '{s}초',
  },
});

export function lineChart(canvas, opts) {
  const maxPoints = opts.maxPoints || 600;
  const series = opts.series;
  let points = []; // {t: ms, v: [number|null per series]}

  function fmt(n) {
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(n);
  }

  function draw() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(200, canvas.clientWidth), h = Math.max(120, canvas.clientHeight);
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const style = getComputedStyle(canvas);
    const fg = style.color || '#1b1f24';
    const grid = '#d9dee4';
    ctx.font = '12px ' + (style.fontFamily || 'sans-serif');
    // the legend's layout first: it wraps onto more lines on a narrow canvas and pushes the plot down
    const legend = [];
    let lx = MARGIN.left, line = 0;
    for (const s of series) {
      const label = s.label();
      const iw = 28 + ctx.measureText(label).width;
      if (legend.length && lx + iw > w - MARGIN.right) { line++; lx = MARGIN.left; }
      legend.push({ s, label, x: lx, y: 12 + line * 17 });
      lx += iw + 18;
    }
    const top = MARGIN.top + line * 17;
    const pw = w - MARGIN.left - MARGIN.right, ph = h - top - MARGIN.bottom;

    // y range: 0 .. a nice value above the largest point
    let ymax = 0;
    for (const p of points) for (const v of p.v) if (v !== null && v > ymax) ymax = v;
    const step = niceStep(Math.max(ymax, 1) * 1.1, 4);
    const ytop = Math.max(step * Math.ceil((Math.max(ymax, 1) * 1.05) / step), step);
    // x range: first point .. max(last point, first + a minute)
    const now = Date.now();
    const t0 = points.length ? points[0].t : now - MIN_SPAN_MS;
    const t1 = Math.max(points.length ? points[points.length - 1].t : now, t0 + MIN_SPAN_MS);
    const X = (t) => MARGIN.left + ((t - t0) / (t1 - t0)) * pw;
    const Y = (v) => top + ph - (v / ytop) * ph;

    // grid and y ticks
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = fg;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let v = 0; v <= ytop + step / 2; v += step) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(MARGIN.left, y); ctx.lineTo(MARGIN.left + pw, y); ctx.stroke();
      ctx.fillText(fmt(v), MARGIN.left - 6, y);
    }
    // x ticks: four clock times
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const tf = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    const nt = pw < 300 ? 1 : pw < 480 ? 2 : 4;
    for (let i = 0; i <= nt; i++) {
      const t = t0 + ((t1 - t0) * i) / nt;
      const x = X(t);
      ctx.beginPath(); ctx.moveTo(x, top + ph); ctx.lineTo(x, top + ph + 4); ctx.stroke();
      ctx.textAlign = i === 0 ? 'left' : i === nt ? 'right' : 'center';
      ctx.fillText(tf.format(new Date(t)), x, top + ph + 6);
    }
    // axes
    ctx.strokeStyle = fg;
    ctx.beginPath();
    ctx.moveTo(MARGIN.left + 0.5, top); ctx.lineTo(MARGIN.left + 0.5, top + ph + 0.5);
    ctx.lineTo(MARGIN.left + pw, top + ph + 0.5);
    ctx.stroke();
    // axis labels
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.fillText(opts.xLabel(), MARGIN.left + pw / 2, h - 2);
    ctx.save();
    ctx.translate(12, top + ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle';
    ctx.fillText(opts.yLabel(), 0, 0);
    ctx.restore();

    // series
    series.forEach((s, k) => {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      let open = false, drawn = 0, lastX = 0, lastY = 0;
      for (const p of points) {
        const v = p.v[k];
        if (v === null || v === undefined) { open = false; continue; }
        const x = X(p.t), y = Y(v);
        if (open) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        open = true; drawn++; lastX = x; lastY = y;
      }
      ctx.stroke();
      ctx.setLineDash([]);
      if (drawn) { ctx.beginPath(); ctx.arc(lastX, lastY, 3, 0, 2 * Math.PI); ctx.fill(); }
    });

    // legend, top left
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    for (const it of legend) {
      ctx.strokeStyle = it.s.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(it.s.dash || []);
      ctx.beginPath(); ctx.moveTo(it.x, it.y); ctx.lineTo(it.x + 22, it.y); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = fg;
      ctx.fillText(it.label, it.x + 28, it.y);
    }

    canvas.dataset.points = String(points.length);
    if (opts.text) opts.text.textContent = describe();
  }

  // "Waiting: now 6, lowest 0, highest 8. …, over the last 2 min 10 s (130 points)." in the page's language.
  function describe() {
    if (!points.length) return t('chart.none');
    const parts = series.map((s, k) => {
      const vals = points.map((p) => p.v[k]).filter((v) => v !== null && v !== undefined);
      if (!vals.length) return t('chart.seriesNone', { label: s.label() });
      return t('chart.series', { label: s.label(), now: fmt(vals[vals.length - 1]), lo: fmt(Math.min(...vals)),
        hi: fmt(Math.max(...vals)) });
    });
    const secs = Math.round((points[points.length - 1].t - points[0].t) / 1000);
    const span = secs >= 60 ? t('chart.minSec', { m: Math.floor(secs / 60), s: secs % 60 }) : t('chart.sec', { s: secs });
    return t('chart.summary', { parts: parts.join(' '), span, n: points.length });
  }

  if (typeof ResizeObserver === 'function') new ResizeObserver(() => draw()).observe(canvas);

  return {
    push(t, values) {
      points.push({ t, v: values });
      if (points.length > maxPoints) points = points.slice(points.length - maxPoints);
    },
    clear() { points = []; draw(); },
    redraw: draw,
    count() { return points.length; },
  };
}
