// KPIs and charts for a chosen agent and time range.

import { api, isAbort } from "../api.js";
import { agentField, emptyState, errorNotice, loadingState, pageHeader, selectField } from "../components.js";
import { h } from "../dom.js";
import { lineChart, horizontalBars, stackedBarChart } from "../charts.js";
import {
  costText,
  formatCompact,
  formatCost,
  formatCount,
  formatDuration,
  formatNumber,
  formatPercent,
  parseTime,
  plural,
} from "../format.js";
import { BUCKET_MS, RANGES, bucketFor, findRange } from "../ranges.js";
import { href, navigate } from "../router.js";
import { scoresTable, topScoreMeans } from "../scores.js";

const DEFAULT_RANGE = "24h";

function card(id, title, value, sub, attributes = {}) {
  return h(
    "div",
    { class: "kpi", dataset: { kpi: id }, ...attributes },
    h("div", { class: "kpi-title" }, title),
    h("div", { class: "kpi-value" }, value),
    h("div", { class: "kpi-sub muted" }, sub || "\u00a0"),
  );
}

/** Total cost, and the share of LLM calls it leaves out because they could not be priced. */
function costCard(cost) {
  const share = cost.unpriced_share;
  const sub = cost.llm_calls
    ? cost.unpriced_llm_calls
      ? `${formatPercent(share)} of ${formatCount(cost.llm_calls)} LLM calls unpriced`
      : `all ${formatCount(cost.llm_calls)} LLM calls priced`
    : "no LLM calls";
  return card("cost", "Cost", costText(cost.total, cost.unpriced_llm_calls), sub, {
    dataset: {
      kpi: "cost",
      value: cost.total === null ? "" : String(cost.total),
      unpricedShare: share === null ? "" : String(share),
    },
    title: cost.unpriced_llm_calls
      ? "A lower bound: the cost of the LLM calls that could be priced (unknown models and calls without token counts are left out)"
      : "",
  });
}

function modelNote(model) {
  const calls = `${plural(model.calls, "call")} · ${formatCompact(model.input_tokens)} in · ${formatCompact(model.output_tokens)} out`;
  const cached = model.cache_read_tokens ? ` · ${formatCompact(model.cache_read_tokens)} cached` : "";
  const unpriced = model.unpriced_calls
    ? model.unpriced_calls === model.calls
      ? " · unpriced"
      : ` · ${formatCount(model.unpriced_calls)} unpriced`
    : "";
  return calls + cached + unpriced;
}

function tone(rate) {
  if (rate === null) return "none";
  return rate >= 0.95 ? "good" : rate >= 0.8 ? "fair" : "poor";
}

function chartPanel(title, body, extra) {
  return h(
    "section",
    { class: "panel chart-panel" },
    h("div", { class: "panel-head" }, h("h2", null, title), extra || null),
    body,
  );
}

/** The window to show: since/until from the link, else the last `range` up to now. */
function windowOf(params) {
  const until = params.get("until") ? parseTime(params.get("until")) : Date.now();
  if (params.get("since")) {
    const since = parseTime(params.get("since"));
    return { since, until, range: null, bucket: bucketFor(until - since) };
  }
  const range = findRange(params.get("range")) || findRange(DEFAULT_RANGE);
  return { since: until - range.ms, until, range, bucket: range.bucket };
}

/** Scores per name and the most frequent one's mean per bucket, when the runs have scores. */
function scorePanels(summary, series, runsLink, bucketMs) {
  if (!summary.scores.length) return [];
  const panels = [chartPanel("Scores", h("div", { class: "scores-summary" }, scoresTable(summary.scores, runsLink)))];
  const means = topScoreMeans(summary, series);
  if (means) {
    const chart = lineChart({
      label: `Mean ${means.name} per ${series.bucket}`,
      points: means.points,
      bucketMs,
      className: "line-score",
      formatValue: formatNumber,
    });
    panels.push(chartPanel(`Mean ${means.name} per ${series.bucket}`, h("div", { class: "score-means" }, chart)));
  }
  return panels;
}

export function mountDashboard(container, route) {
  let params = route.params;
  let controller = null;
  const agent = params.get("agent") || "";
  const agentSelect = agentField(agent, () => apply());
  const custom = params.get("since") || params.get("until");
  const rangeOptions = RANGES.map((range) => [range.value, range.label]);
  if (custom) rangeOptions.push(["custom", "Custom (from the link)"]);
  const rangeField = selectField(
    "Time range",
    "range",
    rangeOptions,
    custom ? "custom" : params.get("range") || DEFAULT_RANGE,
    () => apply(),
  );
  const refresh = h("button", { type: "button", class: "button" }, "Refresh");
  refresh.addEventListener("click", () => load());
  const body = h("div", { class: "dashboard-body" });
  const root = h(
    "section",
    { class: "page page-dashboard" },
    pageHeader(
      "Dashboard",
      h(
        "form",
        { class: "filters inline", "aria-label": "Dashboard filters" },
        agentSelect.element,
        rangeField.element,
        h("div", { class: "filter-actions" }, refresh),
      ),
    ),
    body,
  );
  container.append(root);

  function apply() {
    const next = { agent: agentSelect.control.value || undefined };
    const range = rangeField.control.value;
    if (range === "custom") {
      next.since = params.get("since") || undefined;
      next.until = params.get("until") || undefined;
    } else next.range = range;
    navigate("/dashboard", next);
  }

  function render(summary, series, window) {
    const selectedAgent = params.get("agent") || "";
    root.dataset.since = new Date(window.since).toISOString();
    root.dataset.until = new Date(window.until).toISOString();
    root.dataset.agent = selectedAgent;
    const runs = summary.runs;
    const finished = runs.by_status.SUCCESS + runs.by_status.FAILED + runs.by_status.CANCELLED;
    const runsLink = (extra) =>
      href("/runs", {
        agent: selectedAgent || undefined,
        since: root.dataset.since,
        until: root.dataset.until,
        ...extra,
      });
    const kpis = h(
      "div",
      { class: "kpis" },
      card(
        "runs",
        "Runs",
        h("a", { href: runsLink({}) }, formatCount(runs.total)),
        runs.by_status.RUNNING
          ? `${formatCount(runs.by_status.RUNNING)} running now`
          : `${formatCount(finished)} finished`,
      ),
      card(
        "success-rate",
        "Success rate",
        formatPercent(summary.success_rate),
        runs.by_status.FAILED
          ? h("a", { href: runsLink({ status: "FAILED" }) }, `${formatCount(runs.by_status.FAILED)} failed`)
          : "no failures",
        {
          dataset: {
            kpi: "success-rate",
            tone: tone(summary.success_rate),
            value: summary.success_rate === null ? "" : String(summary.success_rate),
          },
        },
      ),
      card(
        "p50",
        "Duration p50",
        formatDuration(summary.duration_ms.p50),
        `average ${formatDuration(summary.duration_ms.avg)}`,
      ),
      card(
        "p95",
        "Duration p95",
        formatDuration(summary.duration_ms.p95),
        `p99 ${formatDuration(summary.duration_ms.p99)}`,
      ),
      card(
        "tokens",
        "Tokens",
        formatCompact(summary.tokens.total),
        `${formatCompact(summary.tokens.input)} in · ${formatCompact(summary.tokens.output)} out`,
      ),
      costCard(summary.cost),
      card(
        "steps",
        "Steps per run",
        formatNumber(
          summary.steps_per_run.avg === null ? null : Math.round(summary.steps_per_run.avg * 10) / 10,
        ),
        `p95 ${formatNumber(summary.steps_per_run.p95)}`,
      ),
    );
    const bucketMs = BUCKET_MS[series.bucket];
    const buckets = series.buckets.map((bucket) => ({
      time: parseTime(bucket.start),
      values: [bucket.runs - bucket.failures, bucket.failures],
    }));
    const runsChart = stackedBarChart({
      label: `Runs and failures per ${series.bucket}`,
      buckets,
      bucketMs,
      series: [
        { name: "not failed", className: "series-ok" },
        { name: "failed", className: "series-failed" },
      ],
    });
    const p95Chart = lineChart({
      label: `p95 run duration per ${series.bucket}`,
      points: series.buckets.map((bucket) => ({
        time: parseTime(bucket.start),
        value: bucket.p95_duration_ms,
      })),
      bucketMs,
    });
    const costChart = lineChart({
      label: `Cost per ${series.bucket}`,
      points: series.buckets.map((bucket) => ({ time: parseTime(bucket.start), value: bucket.cost })),
      bucketMs,
      className: "line-cost",
      formatValue: formatCost,
    });
    const models = summary.cost.by_model.length
      ? horizontalBars({
          label: "Models by cost",
          items: summary.cost.by_model.map((model) => ({
            label: model.model || "(no model name)",
            value: model.cost,
            note: modelNote(model),
          })),
          formatValue: (value) => (value === null ? "unpriced" : formatCost(value)),
          atLeast: 0,
        })
      : emptyState("No LLM calls in this range.");
    const tools = summary.top_failing_tools.length
      ? horizontalBars({
          label: "Tools with the most failed calls",
          items: summary.top_failing_tools.map((tool) => ({
            label: tool.tool,
            value: tool.failures,
            note: `${formatCount(tool.failures)} of ${formatCount(tool.calls)} calls failed (${formatPercent(tool.failure_rate)})`,
          })),
          formatValue: (value) => `${formatCount(value)} failed`,
        })
      : emptyState("No failed tool calls in this range.");
    const errors = summary.top_errors.length
      ? h(
          "ol",
          { class: "error-list" },
          summary.top_errors.map((error) =>
            h(
              "li",
              null,
              h("span", { class: "error-count" }, formatCount(error.count)),
              h("span", { class: "error-type" }, error.type || "Error"),
              h("span", { class: "error-text", title: error.message || "" }, error.message || ""),
            ),
          ),
        )
      : emptyState("No failed runs in this range.");
    const legend = h(
      "ul",
      { class: "legend" },
      h("li", null, h("span", { class: "swatch series-ok", "aria-hidden": "true" }), "not failed"),
      h("li", null, h("span", { class: "swatch series-failed", "aria-hidden": "true" }), "failed"),
    );
    body.replaceChildren(
      kpis,
      ...(runs.total === 0
        ? [emptyState("No runs in this range.", h("p", null, "Pick a longer time range, or another agent."))]
        : []),
      h(
        "div",
        { class: "charts" },
        chartPanel(`Runs and failures per ${series.bucket}`, runsChart, legend),
        chartPanel(`p95 duration per ${series.bucket}`, p95Chart),
        chartPanel(`Cost per ${series.bucket}`, costChart),
        chartPanel("Top models by cost", h("div", { class: "models-by-cost" }, models)),
        chartPanel(
          "Top failing tools",
          h("div", { class: "failing-tools" }, tools),
          h("a", { href: href("/tools", { agent: selectedAgent || undefined }) }, "All tools"),
        ),
        chartPanel("Most frequent errors", errors),
        ...scorePanels(summary, series, runsLink, bucketMs),
      ),
    );
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const window = windowOf(params);
    const query = {
      agent: params.get("agent") || undefined,
      since: new Date(window.since).toISOString(),
      until: new Date(window.until).toISOString(),
    };
    if (!body.childElementCount) body.append(loadingState("Loading the dashboard…"));
    try {
      const [summary, series] = await Promise.all([
        api.summary(query, { signal: controller.signal }),
        api.timeseries({ ...query, bucket: window.bucket }, { signal: controller.signal }),
      ]);
      render(summary, series, window);
    } catch (error) {
      if (!isAbort(error)) body.replaceChildren(errorNotice(error.message));
    }
  }

  async function loadAgents() {
    try {
      const agents = await api.agents();
      agentSelect.fill(agents.items.map((item) => item.name));
    } catch {
      // the agent list is a convenience
    }
  }

  loadAgents();
  load();
  return {
    update(next) {
      params = next.params;
      agentSelect.set(params.get("agent"));
      if (!params.get("since") && !params.get("until"))
        rangeField.control.value = params.get("range") || DEFAULT_RANGE;
      load();
    },
    destroy() {
      if (controller) controller.abort();
    },
  };
}
