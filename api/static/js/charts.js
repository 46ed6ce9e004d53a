// Charts drawn as inline SVG: stacked bars over time, a line over time, horizontal bars.
// Each chart redraws itself at the width of its container.

import { h, s } from "./dom.js";
import { formatAxisDuration, formatAxisTime, formatCompact, formatDuration } from "./format.js";

const HEIGHT = 220;
const MARGIN = { top: 12, right: 12, bottom: 26, left: 40 };

const TICKS = 4;

/** A round top for an axis whose TICKS equal steps are round numbers too. */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const raw = value / TICKS;
  const power = 10 ** Math.floor(Math.log10(raw));
  const factor = [1, 2, 2.5, 5, 10].find((candidate) => raw <= candidate * power);
  return factor * power * TICKS;
}

function yTicks(max) {
  return Array.from({ length: TICKS + 1 }, (_, i) => (max * i) / TICKS);
}

/** Re-draws `draw(width)` into a figure whenever the figure's width changes. */
function responsive(label, draw) {
  const figure = h("figure", { class: "chart" });
  let lastWidth = 0;
  const redraw = () => {
    const width = Math.max(260, Math.floor(figure.clientWidth));
    if (width === lastWidth) return;
    lastWidth = width;
    const svg = draw(width);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    figure.replaceChildren(svg);
  };
  new ResizeObserver(redraw).observe(figure);
  figure.append(draw(640));
  return figure;
}

// Roughly the width of one character of an 11px axis label.
const LABEL_CHAR_PX = 6.6;

function frame(width, max, formatY, times, spanMs) {
  const ticks = yTicks(max).map((tick) => [tick, formatY(tick)]);
  const left = Math.max(MARGIN.left, 12 + LABEL_CHAR_PX * Math.max(...ticks.map(([, text]) => text.length)));
  const inner = {
    x: left,
    y: MARGIN.top,
    w: width - left - MARGIN.right,
    h: HEIGHT - MARGIN.top - MARGIN.bottom,
  };
  const group = s("g", { class: "axes" });
  for (const [tick, text] of ticks) {
    const y = inner.y + inner.h - (tick / max) * inner.h;
    group.append(
      s("line", { x1: inner.x, x2: inner.x + inner.w, y1: y, y2: y, class: "gridline" }),
      s("text", { x: inner.x - 6, y: y + 4, "text-anchor": "end", class: "axis-label" }, text),
    );
  }
  const labels = Math.max(2, Math.min(7, Math.floor(inner.w / 90)));
  const stride = Math.max(1, Math.ceil(times.length / labels));
  for (let i = 0; i < times.length; i += stride) {
    const x = inner.x + ((i + 0.5) / times.length) * inner.w;
    group.append(
      s(
        "text",
        { x, y: HEIGHT - 8, "text-anchor": "middle", class: "axis-label" },
        formatAxisTime(times[i], spanMs),
      ),
    );
  }
  return { inner, group };
}

/**
 * Stacked bars per time bucket. buckets: [{time, values: [..per series]}];
 * series: [{name, className}].
 */
export function stackedBarChart({ label, buckets, series, bucketMs }) {
  const times = buckets.map((bucket) => bucket.time);
  const spanMs = buckets.length * bucketMs;
  const max = niceMax(Math.max(1, ...buckets.map((bucket) => bucket.values.reduce((a, b) => a + b, 0))));
  return responsive(label, (width) => {
    const svg = s("svg", { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, class: "chart-svg" });
    const { inner, group } = frame(width, max, (v) => formatCompact(Math.round(v)), times, spanMs);
    svg.append(group);
    const slot = inner.w / Math.max(1, buckets.length);
    const barWidth = Math.max(1, slot * 0.72);
    buckets.forEach((bucket, i) => {
      const x = inner.x + i * slot + (slot - barWidth) / 2;
      let base = inner.y + inner.h;
      const bar = s("g", { class: "bar" });
      bucket.values.forEach((value, k) => {
        if (!value) return;
        const height = (value / max) * inner.h;
        base -= height;
        bar.append(s("rect", { x, y: base, width: barWidth, height, class: series[k].className }));
      });
      const tip = series.map((item, k) => `${item.name}: ${bucket.values[k]}`).join(", ");
      bar.append(
        s("rect", { x: inner.x + i * slot, y: inner.y, width: slot, height: inner.h, class: "hover-target" }),
        s("title", null, `${new Date(bucket.time).toLocaleString()} — ${tip}`),
      );
      svg.append(bar);
    });
    return svg;
  });
}

/** A line over time buckets; points: [{time, value|null}] (null leaves a gap). */
export function lineChart({
  label,
  points,
  bucketMs,
  className = "line-primary",
  formatValue = formatDuration,
}) {
  const times = points.map((point) => point.time);
  const spanMs = points.length * bucketMs;
  const max = niceMax(Math.max(0, ...points.map((point) => point.value ?? 0)));
  return responsive(label, (width) => {
    const svg = s("svg", { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, class: "chart-svg" });
    const { inner, group } = frame(
      width,
      max,
      formatValue === formatDuration ? formatAxisDuration : formatValue,
      times,
      spanMs,
    );
    svg.append(group);
    const slot = inner.w / Math.max(1, points.length);
    const xy = (i, value) => [inner.x + (i + 0.5) * slot, inner.y + inner.h - (value / max) * inner.h];
    let path = "";
    let area = "";
    let segment = [];
    const flush = () => {
      if (!segment.length) return;
      path += segment.map(([x, y], k) => `${k ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
      const bottom = inner.y + inner.h;
      area +=
        `M${segment[0][0].toFixed(1)},${bottom}` +
        segment.map(([x, y]) => `L${x.toFixed(1)},${y.toFixed(1)}`).join("") +
        `L${segment[segment.length - 1][0].toFixed(1)},${bottom}Z`;
      segment = [];
    };
    points.forEach((point, i) => {
      if (point.value === null || point.value === undefined) flush();
      else segment.push(xy(i, point.value));
    });
    flush();
    svg.append(
      s("path", { d: area, class: `${className} area` }),
      s("path", { d: path, class: `${className} stroke` }),
    );
    points.forEach((point, i) => {
      if (point.value === null || point.value === undefined) return;
      const [x, y] = xy(i, point.value);
      svg.append(
        s(
          "g",
          { class: "point" },
          s("circle", { cx: x, cy: y, r: points.length > 60 ? 1.5 : 3, class: `${className} dot` }),
          s("rect", {
            x: inner.x + i * slot,
            y: inner.y,
            width: slot,
            height: inner.h,
            class: "hover-target",
          }),
          s("title", null, `${new Date(point.time).toLocaleString()} — ${formatValue(point.value)}`),
        ),
      );
    });
    return svg;
  });
}

/**
 * Horizontal bars: items [{label, value, max?, note}] drawn against the largest value, or
 * against `atLeast` when that is larger (1 for counts; 0 for amounts below one).
 */
export function horizontalBars({ label, items, formatValue = formatCompact, atLeast = 1 }) {
  const max = Math.max(atLeast, ...items.map((item) => item.max ?? item.value ?? 0)) || 1;
  return h(
    "ul",
    { class: "hbars", "aria-label": label },
    items.map((item) =>
      h(
        "li",
        { class: "hbar" },
        h(
          "div",
          { class: "hbar-label" },
          h("span", { class: "hbar-name", title: item.label }, item.label),
          h("span", { class: "hbar-value" }, formatValue(item.value)),
        ),
        h(
          "div",
          { class: "hbar-track", "aria-hidden": "true" },
          item.max !== undefined
            ? h("div", { class: "hbar-fill hbar-total", style: { width: `${(item.max / max) * 100}%` } })
            : null,
          h("div", {
            class: "hbar-fill hbar-value-fill",
            style: { width: `${((item.value ?? 0) / max) * 100}%` },
          }),
        ),
        item.note ? h("div", { class: "hbar-note muted" }, item.note) : null,
      ),
    ),
  );
}
