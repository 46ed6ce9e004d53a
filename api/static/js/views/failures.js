// Failure signatures: the ways runs failed in a time range, newest-growing first, with a trend.

import { api, isAbort } from "../api.js";
import {
  agentField,
  emptyState,
  errorNotice,
  kindChip,
  loadingState,
  pageHeader,
  selectField,
} from "../components.js";
import { h, s } from "../dom.js";
import { formatCount, formatDateTime, formatRelative, parseTime, shortId } from "../format.js";
import { RANGES, findRange } from "../ranges.js";
import { href, navigate } from "../router.js";

const DEFAULT_RANGE = "24h";
const ORDERS = [
  ["growing", "Newest and growing first"],
  ["count", "Most failures first"],
  ["recent", "Most recently seen first"],
];
const SPARK_WIDTH = 120;
const SPARK_HEIGHT = 28;

/** A small bar chart of failures per trend bucket. */
export function sparkline(trend, label) {
  const max = Math.max(1, ...trend);
  const width = SPARK_WIDTH / Math.max(1, trend.length);
  return s(
    "svg",
    {
      class: "sparkline",
      width: SPARK_WIDTH,
      height: SPARK_HEIGHT,
      viewBox: `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`,
      role: "img",
      "aria-label": label,
    },
    trend.map((count, index) => {
      const height = count ? Math.max(2, (count / max) * (SPARK_HEIGHT - 2)) : 0;
      return s(
        "rect",
        {
          x: (index * width + 0.5).toFixed(2),
          y: (SPARK_HEIGHT - height).toFixed(2),
          width: Math.max(1, width - 1).toFixed(2),
          height: height.toFixed(2),
        },
        s("title", null, `${count}`),
      );
    }),
  );
}

const GROWTH_TITLE = "failures in the later half of the range less those in the earlier half";

function growthBadge(item) {
  if (item.growth > 0) {
    return h("span", { class: "growth growth-up", title: GROWTH_TITLE }, `+${formatCount(item.growth)}`);
  }
  if (item.growth < 0) {
    return h("span", { class: "growth growth-down", title: GROWTH_TITLE }, `−${formatCount(-item.growth)}`);
  }
  return h("span", { class: "growth muted", title: GROWTH_TITLE }, "steady");
}

function failureRow(item, agent) {
  const last = parseTime(item.last_seen);
  const first = parseTime(item.first_seen);
  const runsLink = href("/runs", { signature: item.signature, status: "FAILED", agent });
  return h(
    "tr",
    { class: "failure-row", dataset: { signature: item.signature } },
    h(
      "td",
      { dataset: { label: "Failure" } },
      h(
        "div",
        { class: "failure-title" },
        item.kind ? kindChip(item.kind) : null,
        h("a", { href: runsLink, class: "run-link failure-link" }, item.title),
      ),
      item.sample_error && item.sample_error.message
        ? h("div", { class: "muted small failure-sample", title: "the newest run's error, as reported" }, item.sample_error.message)
        : null,
      h("div", { class: "muted small mono" }, `signature ${item.signature}`),
    ),
    h(
      "td",
      { class: "num", dataset: { label: "Runs" } },
      h("a", { href: runsLink, class: "failure-count" }, formatCount(item.count)),
    ),
    h(
      "td",
      { dataset: { label: "Trend" } },
      sparkline(item.trend, `failures per bucket: ${item.trend.join(", ")}`),
      " ",
      growthBadge(item),
    ),
    h(
      "td",
      { dataset: { label: "Agents" } },
      item.agents.map((entry) =>
        h(
          "a",
          { href: href("/runs", { agent: entry.name, signature: item.signature }), class: "tag agent-tag" },
          `${entry.name} · ${formatCount(entry.count)}`,
        ),
      ),
    ),
    h(
      "td",
      { dataset: { label: "First seen" }, title: formatDateTime(first) },
      first === null ? "–" : formatRelative(first),
    ),
    h(
      "td",
      { dataset: { label: "Last seen" }, title: formatDateTime(last) },
      last === null ? "–" : formatRelative(last),
    ),
    h(
      "td",
      { dataset: { label: "Sample" } },
      item.sample_run_id
        ? h("a", { href: href(`/runs/${item.sample_run_id}`), class: "mono sample-run" }, shortId(item.sample_run_id))
        : "–",
    ),
  );
}

export function mountFailures(container, route) {
  let params = route.params;
  let controller = null;
  const agentSelect = agentField(params.get("agent") || "", () => apply());
  const rangeField = selectField(
    "Time range",
    "range",
    RANGES.map((range) => [range.value, range.label]),
    params.get("range") || DEFAULT_RANGE,
    () => apply(),
  );
  const orderField = selectField("Order", "order", ORDERS, params.get("order") || "growing", () => apply());
  const summary = h("p", { class: "muted failures-summary" });
  const body = h("div", null);
  container.append(
    h(
      "section",
      { class: "page page-failures" },
      pageHeader(
        "Failures",
        h(
          "form",
          { class: "filters inline", "aria-label": "Failure filters" },
          agentSelect.element,
          rangeField.element,
          orderField.element,
        ),
      ),
      summary,
      body,
    ),
  );

  function apply() {
    navigate("/failures", {
      agent: agentSelect.control.value || undefined,
      range: rangeField.control.value === DEFAULT_RANGE ? undefined : rangeField.control.value,
      order: orderField.control.value === "growing" ? undefined : orderField.control.value,
    });
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    body.replaceChildren(loadingState("Loading failures…"));
    summary.replaceChildren();
    const range = findRange(params.get("range") || DEFAULT_RANGE) || findRange(DEFAULT_RANGE);
    const agent = params.get("agent") || undefined;
    const since = new Date(Date.now() - range.ms).toISOString();
    try {
      const answer = await api.failures(
        { agent, since, order: params.get("order") || undefined, limit: 100 },
        { signal: controller.signal },
      );
      if (!answer.items.length) {
        body.replaceChildren(
          emptyState(
            "No failed runs in this range.",
            h("p", null, "Runs that fail are grouped here by how they failed: the failing step, its error type and its message."),
          ),
        );
        return;
      }
      const runs = answer.items.reduce((total, item) => total + item.count, 0);
      summary.replaceChildren(
        `${formatCount(runs)} failed runs in ${formatCount(answer.total)} ways of failing, ${range.label.toLowerCase()}` +
          (answer.total > answer.items.length ? ` (the first ${answer.items.length} shown)` : "") +
          `. Trend bars: ${formatBucket(answer.trend_bucket_ms)} each.`,
      );
      body.replaceChildren(
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data-table failures-table" },
            h("caption", { class: "visually-hidden" }, "Failure signatures"),
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                ["Failure", "Runs", "Trend", "Agents", "First seen", "Last seen", "Sample"].map((title) =>
                  h("th", { scope: "col", class: title === "Runs" ? "num" : null }, title),
                ),
              ),
            ),
            h("tbody", null, answer.items.map((item) => failureRow(item, agent))),
          ),
        ),
      );
    } catch (error) {
      if (!isAbort(error)) body.replaceChildren(errorNotice(error.message));
    }
  }

  (async () => {
    try {
      const agents = await api.agents();
      agentSelect.fill(agents.items.map((item) => item.name));
    } catch {
      // optional
    }
  })();
  load();

  return {
    update(next) {
      params = next.params;
      agentSelect.set(params.get("agent"));
      rangeField.control.value = params.get("range") || DEFAULT_RANGE;
      orderField.control.value = params.get("order") || "growing";
      load();
    },
    destroy() {
      if (controller) controller.abort();
    },
  };
}

function formatBucket(ms) {
  if (ms % 86400e3 === 0) return `${ms / 86400e3} d`;
  if (ms % 3600e3 === 0) return `${ms / 3600e3} h`;
  return `${ms / 60e3} min`;
}
