// The runs table: filters in the URL, keyset paging, refreshing itself while runs arrive.

import { api, isAbort } from "../api.js";
import {
  RUN_STATUSES,
  agentField,
  emptyState,
  errorNotice,
  loadingState,
  pageHeader,
  selectField,
  statusBadge,
  textField,
} from "../components.js";
import { clear, h, uniqueId } from "../dom.js";
import {
  costText,
  excerpt,
  formatCompact,
  formatDateTime,
  formatDuration,
  formatRelative,
  parseTime,
  shortId,
} from "../format.js";
import { previewText } from "../messages.js";
import { RANGES, windowFromParams } from "../ranges.js";
import { href, navigate } from "../router.js";

const PAGE_SIZE = 50;
const REFRESH_MS = 5000;
const TEXT_FILTERS = [
  [
    "trace_id",
    "Trace id",
    { pattern: "[0-9a-fA-F]{32}", title: "32 hexadecimal characters", placeholder: "32 hex characters" },
  ],
  ["session_id", "Session id", {}],
  ["user_id", "User id", {}],
  ["tool", "Tool", { list: "tool-names" }],
  [
    "min_cost",
    "Min cost (USD)",
    { inputmode: "decimal", pattern: "[0-9]*[.]?[0-9]*", title: "a cost in USD, e.g. 0.05", placeholder: "e.g. 0.05" },
  ],
  [
    "signature",
    "Failure signature",
    { pattern: "[0-9a-f]{16}", title: "16 hexadecimal characters", placeholder: "16 hex characters" },
  ],
  ["score", "Score", { title: "runs with a score of this name", placeholder: "e.g. relevance" }],
  [
    "score_min",
    "Score at least",
    { inputmode: "decimal", pattern: "-?[0-9]*[.]?[0-9]*", title: "with Score: a value at least this" },
  ],
  [
    "score_max",
    "Score at most",
    { inputmode: "decimal", pattern: "-?[0-9]*[.]?[0-9]*", title: "with Score: a value at most this" },
  ],
  ["score_label", "Score label", { title: "with Score: this label, e.g. pass" }],
];
const FILTER_KEYS = [
  "agent",
  "status",
  "range",
  "since",
  "until",
  "has_error",
  "sort",
  ...TEXT_FILTERS.map(([key]) => key),
];

function filtersFrom(params) {
  const filters = {};
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    if (value) filters[key] = value;
  }
  return filters;
}

function apiParams(filters, cursor) {
  const { since, until } = windowFromParams(new URLSearchParams(filters), null);
  const params = { ...filters, since, until, limit: PAGE_SIZE, cursor };
  delete params.range;
  return params;
}

function runErrorText(run) {
  if (!run.error) return "";
  return [run.error.type, run.error.message].filter(Boolean).join(": ");
}

function durationCell(run) {
  if (run.status === "RUNNING" || run.finished_at === null) {
    const start = parseTime(run.started_at);
    return h(
      "td",
      { class: "num running-duration", dataset: { label: "Duration", start: String(start) } },
      `${formatDuration(Date.now() - start)}…`,
    );
  }
  return h("td", { class: "num", dataset: { label: "Duration" } }, formatDuration(run.duration_ms));
}

function costCell(run) {
  const unpriced = run.unpriced_llm_calls;
  const title =
    run.cost === null
      ? unpriced
        ? `${unpriced} LLM call(s) could not be priced`
        : "no LLM call"
      : `$${run.cost} for the run's own LLM calls${unpriced ? `; ${unpriced} more could not be priced` : ""}`;
  return h(
    "td",
    {
      class: "num cost-cell",
      dataset: { label: "Cost", cost: run.cost === null ? "" : String(run.cost), unpriced: String(unpriced) },
      title,
    },
    h("span", { class: run.cost === null && unpriced ? "unpriced" : null }, costText(run.cost, unpriced)),
    run.cost !== null && unpriced ? h("div", { class: "unpriced small" }, `+${unpriced} unpriced`) : null,
  );
}

function runRow(run, fresh) {
  const started = parseTime(run.started_at);
  const link = href(`/runs/${run.id}`);
  const preview = excerpt(previewText(run.input), 140);
  const row = h(
    "tr",
    {
      class: `run-row${fresh ? " fresh" : ""}${run.status === "RUNNING" ? " is-running" : ""}`,
      dataset: { runId: run.id, status: run.status },
    },
    h("td", { dataset: { label: "Status" } }, statusBadge(run.status)),
    h(
      "td",
      { class: "run-cell", dataset: { label: "Run" } },
      h("a", { href: link, class: "run-link" }, run.agent.name),
      run.parent_run_id ? h("span", { class: "tag", title: "invoked by another run" }, "nested") : null,
      h("span", { class: "mono muted id-hint", title: run.id }, shortId(run.id)),
      preview ? h("div", { class: "run-preview", title: preview }, preview) : null,
    ),
    h("td", { dataset: { label: "Started" }, title: formatDateTime(started) }, formatRelative(started)),
    durationCell(run),
    h(
      "td",
      { class: "num", dataset: { label: "Steps" } },
      String(run.step_count),
      run.failed_step_count
        ? h("div", { class: "failed-count small" }, `${run.failed_step_count} failed`)
        : null,
    ),
    h(
      "td",
      {
        class: "num",
        dataset: { label: "Tokens" },
        title: `${run.input_tokens} in / ${run.output_tokens} out`,
      },
      formatCompact(run.total_tokens),
    ),
    costCell(run),
    h(
      "td",
      { class: "error-cell", dataset: { label: "Error" }, title: runErrorText(run) },
      excerpt(runErrorText(run), 90),
    ),
  );
  row.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;
    location.hash = link.slice(1);
  });
  return row;
}

export function mountRuns(container, route) {
  let filters = filtersFrom(route.params);
  let cursor = route.params.get("cursor") || null;
  let cursorStack = [];
  let controller = null;
  let seen = null;
  let refreshTimer = null;
  let tickTimer = null;
  let autoRefresh = true;

  const status = h("span", { class: "muted refresh-status", "aria-live": "polite" });
  const autoId = uniqueId("auto-refresh");
  const autoBox = h("input", { type: "checkbox", id: autoId, checked: true });
  autoBox.addEventListener("change", () => {
    autoRefresh = autoBox.checked;
  });
  const refreshButton = h("button", { type: "button", class: "button" }, "Refresh");
  refreshButton.addEventListener("click", () => load({ quiet: false }));

  const agentSelect = agentField(filters.agent);
  const statusField = selectField(
    "Status",
    "status",
    [["", "Any status"], ...RUN_STATUSES.map((value) => [value, value[0] + value.slice(1).toLowerCase()])],
    filters.status || "",
  );
  const rangeOptions = [["", "Any time"], ...RANGES.map((range) => [range.value, range.label])];
  if (filters.since || filters.until) rangeOptions.push(["custom", "Custom (from the link)"]);
  const rangeField = selectField(
    "Started",
    "range",
    rangeOptions,
    filters.since || filters.until ? "custom" : filters.range || "",
  );
  const sortField = selectField(
    "Order",
    "sort",
    [
      ["", "Newest first"],
      ["cost", "Most expensive first"],
    ],
    filters.sort || "",
  );
  const textFields = TEXT_FILTERS.map(([key, label, attributes]) => [
    key,
    textField(label, key, filters[key], attributes),
  ]);
  const errorsId = uniqueId("has-error");
  const errorsBox = h("input", {
    type: "checkbox",
    id: errorsId,
    name: "has_error",
    checked: filters.has_error === "true",
  });
  const toolList = h("datalist", { id: "tool-names" });
  // On a phone the rarer filters fold away behind a button unless one of them is set.
  const moreId = uniqueId("more-filters");
  const moreOpen = textFields.slice(1).some(([key]) => filters[key]);
  const moreFilters = h(
    "div",
    { class: `more-filters${moreOpen ? " is-open" : ""}`, id: moreId },
    textFields.slice(1).map(([, field]) => field.element),
  );
  const moreToggle = h(
    "button",
    {
      type: "button",
      class: "link-button more-toggle",
      "aria-expanded": String(moreOpen),
      "aria-controls": moreId,
    },
    "More filters",
  );
  moreToggle.addEventListener("click", () => {
    const open = moreFilters.classList.toggle("is-open");
    moreToggle.setAttribute("aria-expanded", String(open));
  });

  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter runs" },
    agentSelect.element,
    statusField.element,
    rangeField.element,
    sortField.element,
    textFields[0][1].element,
    moreToggle,
    moreFilters,
    h("div", { class: "field field-check" }, errorsBox, h("label", { for: errorsId }, "With errors only")),
    h(
      "div",
      { class: "filter-actions" },
      h("button", { type: "submit", class: "button button-primary" }, "Apply"),
      h("a", { href: "#/runs", class: "button button-quiet" }, "Clear"),
    ),
    toolList,
  );

  function readForm() {
    const next = {};
    if (agentSelect.control.value) next.agent = agentSelect.control.value;
    if (statusField.control.value) next.status = statusField.control.value;
    const range = rangeField.control.value;
    if (range === "custom") {
      if (filters.since) next.since = filters.since;
      if (filters.until) next.until = filters.until;
    } else if (range) next.range = range;
    if (sortField.control.value) next.sort = sortField.control.value;
    for (const [key, field] of textFields) {
      const value = field.control.value.trim();
      if (value) next[key] = value;
    }
    if (errorsBox.checked) next.has_error = "true";
    return next;
  }

  function applyForm() {
    if (!form.reportValidity()) return;
    navigate("/runs", readForm());
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    applyForm();
  });
  for (const control of [agentSelect.control, statusField.control, rangeField.control, sortField.control, errorsBox]) {
    control.addEventListener("change", applyForm);
  }

  const results = h("div", { class: "results" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages of runs" });

  container.append(
    h(
      "section",
      { class: "page page-runs" },
      pageHeader(
        "Runs",
        h(
          "div",
          { class: "header-tools" },
          status,
          h("div", { class: "field-check" }, autoBox, h("label", { for: autoId }, "Auto-refresh")),
          refreshButton,
        ),
      ),
      form,
      results,
      pager,
    ),
  );

  function renderPager(nextCursor) {
    clear(pager);
    const page = cursorStack.length + 1;
    const byCost = filters.sort === "cost";
    const newer = h("button", { type: "button", class: "button", disabled: !cursor }, byCost ? "← Previous" : "← Newer");
    newer.addEventListener("click", () => {
      const previous = cursorStack.pop() || null;
      navigate("/runs", { ...filters, cursor: previous });
    });
    const older = h(
      "button",
      { type: "button", class: "button", disabled: !nextCursor },
      byCost ? "Next →" : "Older →",
    );
    older.addEventListener("click", () => {
      cursorStack.push(cursor);
      navigate("/runs", { ...filters, cursor: nextCursor });
    });
    pager.append(
      newer,
      h(
        "span",
        { class: "muted" },
        cursor && !cursorStack.length && page === 1 ? (byCost ? "Further runs" : "Older runs") : `Page ${page}`,
      ),
      older,
    );
  }

  function renderTable(items) {
    const fresh = new Set();
    if (seen) for (const run of items) if (!seen.has(run.id)) fresh.add(run.id);
    seen = new Set(items.map((run) => run.id));
    if (!items.length) {
      const filtered = Object.keys(filters).length > 0;
      clear(results).append(
        filtered
          ? emptyState("No runs match these filters.", h("a", { href: "#/runs" }, "Clear the filters"))
          : emptyState(
              "No runs yet.",
              h(
                "p",
                null,
                "Point an OpenTelemetry exporter at this server (OTLP on ports 4317 and 4318), or try ",
                h("code", null, "agentguide simulate"),
                ".",
              ),
            ),
      );
      return;
    }
    const table = h(
      "table",
      { class: "data-table runs-table" },
      h(
        "caption",
        { class: "visually-hidden" },
        filters.sort === "cost" ? "Runs, most expensive first" : "Runs, newest first",
      ),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["Status", "Run", "Started", "Duration", "Steps", "Tokens", "Cost", "Error"].map((title) =>
            h(
              "th",
              { scope: "col", class: ["Duration", "Steps", "Tokens", "Cost"].includes(title) ? "num" : null },
              title,
            ),
          ),
        ),
      ),
      h(
        "tbody",
        null,
        items.map((run) => runRow(run, fresh.has(run.id))),
      ),
    );
    clear(results).append(h("div", { class: "table-wrap" }, table));
  }

  async function load({ quiet }) {
    if (controller) controller.abort();
    controller = new AbortController();
    if (!quiet) clear(results).append(loadingState("Loading runs…"));
    try {
      const page = await api.runs(apiParams(filters, cursor), { signal: controller.signal });
      renderTable(page.items);
      renderPager(page.next_cursor);
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (isAbort(error)) return;
      clear(results).append(errorNotice(error.message));
    }
  }

  async function loadChoices() {
    try {
      const [agents, tools] = await Promise.all([api.agents(), api.tools({})]);
      agentSelect.fill(agents.items.map((agent) => agent.name));
      toolList.replaceChildren(...tools.items.map((tool) => h("option", { value: tool.tool })));
    } catch {
      // the filters still work as free text
    }
  }

  function tick() {
    for (const cell of results.querySelectorAll(".running-duration")) {
      cell.textContent = `${formatDuration(Date.now() - Number(cell.dataset.start))}…`;
    }
  }

  refreshTimer = setInterval(() => {
    if (autoRefresh && !document.hidden) load({ quiet: true });
  }, REFRESH_MS);
  tickTimer = setInterval(tick, 1000);
  loadChoices();
  load({ quiet: false });

  return {
    update(next) {
      const nextCursor = next.params.get("cursor") || null;
      const nextFilters = filtersFrom(next.params);
      if (JSON.stringify(nextFilters) !== JSON.stringify(filters)) cursorStack = [];
      filters = nextFilters;
      cursor = nextCursor;
      if (!cursor) cursorStack = [];
      seen = null;
      agentSelect.set(filters.agent);
      statusField.control.value = filters.status || "";
      const custom = Boolean(filters.since || filters.until);
      if (custom && !rangeField.control.querySelector('option[value="custom"]')) {
        rangeField.control.append(h("option", { value: "custom" }, "Custom (from the link)"));
      }
      rangeField.control.value = custom ? "custom" : filters.range || "";
      sortField.control.value = filters.sort || "";
      for (const [key, field] of textFields) field.control.value = filters[key] || "";
      errorsBox.checked = filters.has_error === "true";
      load({ quiet: false });
    },
    destroy() {
      clearInterval(refreshTimer);
      clearInterval(tickTimer);
      if (controller) controller.abort();
    },
  };
}
