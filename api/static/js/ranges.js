// Time ranges offered by the filters, and the since/until they stand for.

export const RANGES = [
  { value: "15m", label: "Last 15 minutes", ms: 15 * 60e3, bucket: "1m" },
  { value: "1h", label: "Last hour", ms: 3600e3, bucket: "1m" },
  { value: "6h", label: "Last 6 hours", ms: 6 * 3600e3, bucket: "5m" },
  { value: "24h", label: "Last 24 hours", ms: 24 * 3600e3, bucket: "1h" },
  { value: "7d", label: "Last 7 days", ms: 7 * 24 * 3600e3, bucket: "1h" },
  { value: "30d", label: "Last 30 days", ms: 30 * 24 * 3600e3, bucket: "1d" },
];

export const BUCKET_MS = { "1m": 60e3, "5m": 300e3, "1h": 3600e3, "1d": 86400e3 };

export function findRange(value) {
  return RANGES.find((range) => range.value === value) || null;
}

/**
 * The window a view's params select: explicit since/until win over a relative range.
 * Returns {since, until} as API parameter strings (either may be undefined) and the range.
 */
export function windowFromParams(params, defaultRange, now = Date.now()) {
  const since = params.get("since") || undefined;
  const until = params.get("until") || undefined;
  if (since || until) return { since, until, range: null };
  const range = findRange(params.get("range") || defaultRange);
  if (!range) return { since: undefined, until: undefined, range: null };
  return { since: new Date(now - range.ms).toISOString(), until: undefined, range };
}

/** A bucket width giving a readable number of bars for a window of `spanMs`. */
export function bucketFor(spanMs) {
  if (spanMs <= 2 * 3600e3) return "1m";
  if (spanMs <= 12 * 3600e3) return "5m";
  if (spanMs <= 10 * 24 * 3600e3) return "1h";
  return "1d";
}
