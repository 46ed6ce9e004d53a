// The query API, as the viewer calls it.

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

export async function getJSON(path, params, { signal } = {}) {
  let response;
  try {
    response = await fetch(path + queryString(params), {
      headers: { Accept: "application/json" },
      signal,
    });
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
    throw new ApiError(response.status, message);
  }
  return response.json();
}

export const api = {
  runs: (params, options) => getJSON("/v1/runs", params, options),
  timeline: (runId, options) =>
    getJSON(`/v1/runs/${encodeURIComponent(runId)}/timeline`, null, options),
  steps: (runId, offset, limit, options) =>
    getJSON(`/v1/runs/${encodeURIComponent(runId)}/steps`, { offset, limit }, options),
  agents: (options) => getJSON("/v1/agents", null, options),
  tools: (params, options) => getJSON("/v1/tools", params, options),
  summary: (params, options) => getJSON("/v1/metrics/summary", params, options),
  timeseries: (params, options) => getJSON("/v1/metrics/timeseries", params, options),
};

export function isAbort(error) {
  return error && error.name === "AbortError";
}
