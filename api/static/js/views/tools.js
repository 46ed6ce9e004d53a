// Tool calls by tool: calls, failures and duration percentiles, for an agent and a time range.

import { api, isAbort } from "../api.js";
import {
  agentField,
  emptyState,
  errorNotice,
  loadingState,
  pageHeader,
  rateBar,
  selectField,
} from "../components.js";
import { h } from "../dom.js";
import { formatCount, formatDuration } from "../format.js";
import { RANGES, windowFromParams } from "../ranges.js";
import { href, navigate } from "../router.js";

export function mountTools(container, route) {
  let params = route.params;
  let controller = null;
  const agentSelect = agentField(params.get("agent") || "", () => apply());
  const rangeField = selectField(
    "Time range",
    "range",
    [["", "Any time"], ...RANGES.map((range) => [range.value, range.label])],
    params.get("range") || "",
    () => apply(),
  );
  const body = h("div", null);
  container.append(
    h(
      "section",
      { class: "page page-tools" },
      pageHeader(
        "Tools",
        h(
          "form",
          { class: "filters inline", "aria-label": "Tool filters" },
          agentSelect.element,
          rangeField.element,
        ),
      ),
      body,
    ),
  );

  function apply() {
    navigate("/tools", {
      agent: agentSelect.control.value || undefined,
      range: rangeField.control.value || undefined,
    });
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    body.replaceChildren(loadingState("Loading tools…"));
    const { since, until } = windowFromParams(params, null);
    const agent = params.get("agent") || undefined;
    try {
      const tools = await api.tools({ agent, since, until }, { signal: controller.signal });
      if (!tools.items.length) {
        body.replaceChildren(emptyState("No tool calls in this range."));
        return;
      }
      const rows = tools.items.map((tool) =>
        h(
          "tr",
          { dataset: { tool: tool.tool } },
          h(
            "td",
            { dataset: { label: "Tool" } },
            h("a", { href: href("/runs", { tool: tool.tool, agent }), class: "run-link mono" }, tool.tool),
          ),
          h("td", { class: "num", dataset: { label: "Calls" } }, formatCount(tool.calls)),
          h(
            "td",
            { class: "num", dataset: { label: "Failed" } },
            tool.failures
              ? h(
                  "a",
                  { href: href("/runs", { tool: tool.tool, agent, has_error: "true" }) },
                  formatCount(tool.failures),
                )
              : "0",
          ),
          h("td", { dataset: { label: "Failure rate" } }, rateBar(tool.failure_rate)),
          h("td", { class: "num", dataset: { label: "p50" } }, formatDuration(tool.duration_ms.p50)),
          h("td", { class: "num", dataset: { label: "p95" } }, formatDuration(tool.duration_ms.p95)),
          h("td", { class: "num", dataset: { label: "p99" } }, formatDuration(tool.duration_ms.p99)),
        ),
      );
      body.replaceChildren(
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data-table tools-table" },
            h("caption", { class: "visually-hidden" }, "Tools by number of calls"),
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                ["Tool", "Calls", "Failed", "Failure rate", "p50", "p95", "p99"].map((title) =>
                  h(
                    "th",
                    { scope: "col", class: ["Tool", "Failure rate"].includes(title) ? null : "num" },
                    title,
                  ),
                ),
              ),
            ),
            h("tbody", null, rows),
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
      agentSelect.fill(agents.items.map((agent) => agent.name));
    } catch {
      // optional
    }
  })();
  load();

  return {
    update(next) {
      params = next.params;
      agentSelect.set(params.get("agent"));
      rangeField.control.value = params.get("range") || "";
      load();
    },
    destroy() {
      if (controller) controller.abort();
    },
  };
}
