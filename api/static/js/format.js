// Formatting of times, durations, counts and rates for display.

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/** Milliseconds since the epoch of an RFC 3339 time, keeping the sub-millisecond digits. */
export function parseTime(text) {
  if (!text) return null;
  const match = RFC3339.exec(text);
  if (!match) return Date.parse(text);
  const whole = Date.parse(match[1] + match[3]);
  const fraction = match[2] ? Number(`0.${match[2]}`) * 1000 : 0;
  return whole + fraction;
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (ms < 0) ms = 0;
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** A duration for an axis label: no trailing zeros ("5 s", "2.5 s", "250 ms"). */
export function formatAxisDuration(ms) {
  if (!ms) return "0";
  return formatDuration(ms)
    .replace(/\.0+ /, " ")
    .replace(/(\.\d*?)0+ /, "$1 ");
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

export function formatCount(value) {
  if (value === null || value === undefined) return "–";
  return integer.format(value);
}

export function formatCompact(value) {
  if (value === null || value === undefined) return "–";
  return Math.abs(value) < 10000 ? integer.format(value) : compact.format(value);
}

/** A rate in [0, 1] as a percentage with one decimal, "–" when there is none. */
export function formatPercent(rate) {
  if (rate === null || rate === undefined) return "–";
  return `${(rate * 100).toFixed(1)}%`;
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

export function formatDateTime(ms) {
  return ms === null || ms === undefined ? "–" : dateTime.format(new Date(ms));
}

/** A short label for a chart axis, given the span of the axis. */
export function formatAxisTime(ms, spanMs) {
  const date = new Date(ms);
  if (spanMs <= 36 * 3600 * 1000) return timeOnly.format(date);
  return dayAndTime.format(date);
}

export function formatRelative(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "–";
  const seconds = Math.round((now - ms) / 1000);
  if (seconds < 0) return "just now";
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

/** "1 tool call", "3 tool calls". */
export function plural(count, one, many = `${one}s`) {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

export function shortId(id, length = 8) {
  return id ? id.slice(-length) : "";
}

export function excerpt(text, length = 120) {
  if (!text) return "";
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  return decimal.format(value);
}

const dollars = new Intl.NumberFormat(undefined, {
  style: "currency",
  currency: "USD",
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const cents = new Intl.NumberFormat(undefined, {
  style: "currency",
  currency: "USD",
  minimumFractionDigits: 0,
  maximumSignificantDigits: 3,
});

/** A cost in USD: "$12.34" from a dollar on, else three significant digits ("$0.000123"). */
export function formatCost(usd) {
  if (usd === null || usd === undefined) return "–";
  return Math.abs(usd) >= 1 ? dollars.format(usd) : cents.format(usd);
}

/**
 * What a cost cell says: the cost, "unpriced" when LLM calls could not be priced and none
 * was, "–" when there is nothing to price. `unpriced` is the count of unpriced LLM calls.
 */
export function costText(cost, unpriced) {
  if (cost === null || cost === undefined) return unpriced ? "unpriced" : "–";
  return formatCost(cost);
}
