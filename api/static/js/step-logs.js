// The log records a step's span wrote (GET /v1/traces/{id}/logs?span_id=), in its panel.
// Records with an event name are the span's events (messages, choices, evaluations): they show
// as the step's input, output and artifacts already, so only the other records are listed.

import { api } from "./api.js";
import { h } from "./dom.js";
import { formatDateTime } from "./format.js";
import { valueView } from "./value-view.js";

const SEVERITIES = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

function severityOf(record) {
  if (record.severity_text) return record.severity_text;
  const number = record.severity_number;
  if (!number) return "LOG";
  return SEVERITIES[Math.min(SEVERITIES.length - 1, Math.floor((number - 1) / 4))];
}

function logItem(record) {
  const level = severityOf(record);
  const ms = (record.time_ns || record.observed_time_ns) / 1e6;
  const body = record.body === null || typeof record.body === "string"
    ? record.body
    : JSON.stringify(record.body);
  const attributes = Object.keys(record.attributes).length ? record.attributes : null;
  return h(
    "li",
    { class: "artifact log-record", dataset: { severity: level } },
    h(
      "div",
      { class: "artifact-head" },
      h("span", { class: `tag severity severity-${level.toLowerCase()}` }, level),
      ms ? h("span", { class: "muted" }, formatDateTime(ms)) : null,
    ),
    valueView(body),
    attributes ? valueView(JSON.stringify(attributes)) : null,
  );
}

/** A "Logs" section filled once the records arrive; it stays empty (hidden) when there are
 * none. `stepId` is the step's id: its trace id then its span id, in hex. */
export function stepLogs(stepId) {
  const section = h("section", { class: "detail-section step-logs", hidden: true });
  const traceId = stepId.slice(0, 32);
  const spanId = stepId.slice(32);
  api
    .traceLogs(traceId, spanId)
    .then((answer) => {
      const records = answer.logs.filter((record) => !record.event_name);
      if (!records.length) return;
      const more = answer.truncated ? " (the first 1,000 of the trace)" : "";
      section.replaceChildren(
        h("h3", null, `Logs (${records.length})${more}`),
        h("ul", { class: "artifacts" }, records.map(logItem)),
      );
      section.hidden = false;
    })
    .catch(() => {
      section.replaceChildren(
        h("h3", null, "Logs"),
        h("p", { class: "muted" }, "The step's log records could not be read."),
      );
      section.hidden = false;
    });
  return section;
}
