// The panel beside the waterfall: everything about the selected step (or the run itself).

import { fact, kindChip, statusBadge } from "./components.js";
import { h } from "./dom.js";
import {
  formatCost,
  formatCount,
  formatDateTime,
  formatDuration,
  formatNumber,
  parseTime,
} from "./format.js";
import { href } from "./router.js";
import { stepLogs } from "./step-logs.js";
import { valueView } from "./value-view.js";

function section(title, ...body) {
  return h("section", { class: "detail-section" }, h("h3", null, title), ...body);
}

function errorBox(error) {
  if (!error) return null;
  return h(
    "div",
    { class: "error-box", role: "note", "aria-label": "Error" },
    h("div", { class: "error-type" }, error.type || "Error"),
    error.message ? h("div", { class: "error-message prewrap" }, error.message) : null,
  );
}

function tokens(item) {
  if (item.total_tokens === null || item.total_tokens === undefined) return null;
  const parts = [`${formatCount(item.total_tokens)} total`];
  if (item.input_tokens !== null && item.input_tokens !== undefined)
    parts.push(`${formatCount(item.input_tokens)} in`);
  if (item.output_tokens !== null && item.output_tokens !== undefined)
    parts.push(`${formatCount(item.output_tokens)} out`);
  if (item.cache_read_tokens) parts.push(`${formatCount(item.cache_read_tokens)} read from cache`);
  if (item.cache_write_tokens) parts.push(`${formatCount(item.cache_write_tokens)} written to cache`);
  if (item.reasoning_tokens) parts.push(`${formatCount(item.reasoning_tokens)} reasoning`);
  return parts.join(" · ");
}

const COST_SOURCES = {
  reported: "reported by the span",
  computed: "computed from the tokens",
};

/** An LLM call's cost and where it came from; null for other steps. */
function stepCost(step) {
  if (!step.cost_source) return null;
  if (step.cost === null) {
    return fact(
      "Cost",
      h(
        "span",
        { class: "step-cost unpriced", dataset: { cost: "", costSource: step.cost_source } },
        "unpriced",
      ),
      step.unpriced_reason ? h("span", { class: "muted" }, ` (${step.unpriced_reason})`) : null,
    );
  }
  const source = [COST_SOURCES[step.cost_source] || step.cost_source, step.price_version]
    .filter(Boolean)
    .join(", ");
  return fact(
    "Cost",
    h(
      "span",
      { class: "step-cost", dataset: { cost: String(step.cost), costSource: step.cost_source } },
      formatCost(step.cost),
    ),
    h("span", { class: "muted" }, ` (${source})`),
  );
}

function artifactList(artifacts, rawLink) {
  if (!artifacts.length) return null;
  return section(
    `Artifacts (${artifacts.length})`,
    h(
      "ul",
      { class: "artifacts" },
      artifacts.map((artifact) =>
        h(
          "li",
          { class: "artifact" },
          h(
            "div",
            { class: "artifact-head" },
            h("span", { class: "tag" }, artifact.type),
            artifact.name ? h("strong", null, artifact.name) : null,
            artifact.time ? h("span", { class: "muted" }, formatDateTime(parseTime(artifact.time))) : null,
          ),
          artifact.url
            ? h("a", { href: artifact.url, rel: "noopener noreferrer", target: "_blank" }, artifact.url)
            : null,
          artifact.content ? valueView(artifact.content, { truncated: artifact.truncated, rawLink }) : null,
        ),
      ),
    ),
  );
}

/** The selected step: `step` is the full step from GET /v1/runs/{id}/steps. */
export function stepDetail(step, { runStartMs, rawLink, rootRunId, nestedRun = null }) {
  const started = parseTime(step.started_at);
  const facts = [
    fact("Status", statusBadge(step.status)),
    fact("Kind", kindChip(step.kind)),
    step.tool_name
      ? fact("Tool", h("a", { href: href("/runs", { tool: step.tool_name }) }, step.tool_name))
      : null,
    step.model ? fact("Model", step.model) : null,
    fact(
      "Started",
      formatDateTime(started),
      h("span", { class: "muted" }, ` (+${formatDuration(started - runStartMs)})`),
    ),
    fact("Duration", step.duration_ms === null ? "still running" : formatDuration(step.duration_ms)),
    tokens(step) ? fact("Tokens", tokens(step)) : null,
    stepCost(step),
    nestedRun
      ? fact(
          "In run",
          h("a", { href: href(`/runs/${nestedRun.id}`) }, nestedRun.agent.name),
          h("span", { class: "muted" }, " (nested)"),
        )
      : null,
    fact("Step", `#${step.index}`, h("span", { class: "muted mono" }, ` span ${step.span_id}`)),
    step.child_run_id && step.child_run_id !== rootRunId
      ? fact("Nested run", h("a", { href: href(`/runs/${step.child_run_id}`) }, "Open the run it invoked"))
      : null,
  ];
  return h(
    "div",
    { class: "detail", dataset: { stepIndex: String(step.index), stepStatus: step.status } },
    h("h2", { class: "detail-title" }, step.name),
    errorBox(step.error),
    h("dl", { class: "facts" }, facts),
    section("Input", valueView(step.input, { truncated: step.input_truncated, rawLink })),
    section("Output", valueView(step.output, { truncated: step.output_truncated, rawLink })),
    artifactList(step.artifacts, rawLink),
    stepLogs(step.id),
  );
}

/** The run itself, when its row is selected. */
export function runDetail(run, { rawLink }) {
  const metrics = run.metrics.filter(
    (metric) =>
      Object.keys(metric.tags).length ||
      ![
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "step_count",
        "tool_call_count",
        "llm_call_count",
        "failed_step_count",
      ].includes(metric.name),
  );
  return h(
    "div",
    { class: "detail", dataset: { stepIndex: "run" } },
    h("h2", { class: "detail-title" }, run.name),
    errorBox(run.error),
    section("Input", valueView(run.input, { truncated: run.input_truncated, rawLink })),
    section("Output", valueView(run.output, { truncated: run.output_truncated, rawLink })),
    metrics.length
      ? section(
          "Metrics",
          h(
            "table",
            { class: "data-table compact" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                h("th", { scope: "col" }, "Name"),
                h("th", { scope: "col", class: "num" }, "Value"),
                h("th", { scope: "col" }, "Tags"),
              ),
            ),
            h(
              "tbody",
              null,
              metrics.map((metric) =>
                h(
                  "tr",
                  null,
                  h("td", { class: "mono" }, metric.name),
                  h("td", { class: "num" }, formatNumber(metric.value)),
                  h(
                    "td",
                    { class: "mono muted" },
                    Object.keys(metric.tags).length ? JSON.stringify(metric.tags) : "",
                  ),
                ),
              ),
            ),
          ),
        )
      : null,
    artifactList(run.artifacts, rawLink),
  );
}
