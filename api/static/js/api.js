// The query API, as the viewer calls it.

import { apiKey } from "./credentials.js";

/** Fired on window when the server refuses the viewer's key (or the lack of one). */
export const UNAUTHORIZED_EVENT = "agentguide:unauthorized";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// Requests started before the views' code has loaded, taken by the first getJSON of the same URL.
const prefetched = new Map();

export function prefetch(path, params) {
  const url = path + queryString(params);
  if (prefetched.has(url)) return;
  const early = request(url, undefined);
  early.catch(() => {}); // its taker sees the failure; nobody may take it
  prefetched.set(url, early);
}

export function getJSON(path, params, { signal } = {}) {
  const url = path + queryString(params);
  const early = prefetched.get(url);
  if (early) {
    prefetched.delete(url);
    return early;
  }
  return request(url, signal);
}

function headers(key) {
  const result = { Accept: "application/json" };
  if (key) result.Authorization = `Bearer ${key}`;
  return result;
}

async function request(url, signal) {
  let response;
  try {
    response = await fetch(url, { headers: headers(apiKey()), signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The AgentGuide server cannot be reached.");
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch {
      // not JSON: keep the status line
    }
    if (response.status === 401 || response.status === 403) {
      prefetched.clear(); // asked without the key that is coming
      window.dispatchEvent(
        new CustomEvent(UNAUTHORIZED_EVENT, { detail: { status: response.status, message } }),
      );
    }
    throw new ApiError(response.status, message);
  }
  return response.json();
}

/** What GET /v1/auth/status says of `key` (no key: whether one is needed). */
export async function authStatus(key) {
  const response = await fetch("/v1/auth/status", { headers: headers(key) });
  if (!response.ok) throw new ApiError(response.status, `${response.status} ${response.statusText}`);
  return response.json();
}

export const api = {
  runs: (params, options) => getJSON("/v1/runs", params, options),
  timeline: (runId, options) => getJSON(`/v1/runs/${encodeURIComponent(runId)}/timeline`, null, options),
  steps: (runId, offset, limit, options) =>
    getJSON(`/v1/runs/${encodeURIComponent(runId)}/steps`, { offset, limit }, options),
  scores: (runId, params, options) =>
    getJSON(`/v1/runs/${encodeURIComponent(runId)}/scores`, params, options),
  agents: (options) => getJSON("/v1/agents", null, options),
  tools: (params, options) => getJSON("/v1/tools", params, options),
  summary: (params, options) => getJSON("/v1/metrics/summary", params, options),
  timeseries: (params, options) => getJSON("/v1/metrics/timeseries", params, options),
  failures: (params, options) => getJSON("/v1/failures", params, options),
  runFailure: (runId, options) => getJSON(`/v1/runs/${encodeURIComponent(runId)}/failure`, null, options),
  similarStatus: (options) => getJSON("/v1/similar/status", null, options),
  similar: (runId, params, options) =>
    getJSON(`/v1/runs/${encodeURIComponent(runId)}/similar`, params, options),
  compare: (a, b, options) => getJSON("/v1/runs/compare", { a, b }, options),
  traceLogs: (traceId, spanId, options) =>
    getJSON(`/v1/traces/${encodeURIComponent(traceId)}/logs`, { span_id: spanId }, options),
};

export function isAbort(error) {
  return error && error.name === "AbortError";
}
