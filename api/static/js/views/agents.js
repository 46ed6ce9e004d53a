// Every agent that has runs: counts, failures and when it last ran.

import { api, isAbort } from "../api.js";
import { emptyState, errorNotice, loadingState, pageHeader, rateBar } from "../components.js";
import { h } from "../dom.js";
import { costText, formatCount, formatDateTime, formatRelative, parseTime } from "../format.js";
import { href } from "../router.js";

export function mountAgents(container) {
  const controller = new AbortController();
  const body = h("div", null, loadingState("Loading agents…"));
  container.append(h("section", { class: "page page-agents" }, pageHeader("Agents"), body));

  (async () => {
    try {
      const agents = await api.agents({ signal: controller.signal });
      if (!agents.items.length) {
        body.replaceChildren(
          emptyState("No agents yet.", h("p", null, "Agents appear here once their first run arrives.")),
        );
        return;
      }
      const rows = agents.items.map((agent) => {
        const last = parseTime(agent.last_run_at);
        const rate = agent.run_count ? agent.failure_count / agent.run_count : 0;
        return h(
          "tr",
          { dataset: { agent: agent.name } },
          h(
            "td",
            { dataset: { label: "Agent" } },
            h("a", { href: href("/runs", { agent: agent.name }), class: "run-link" }, agent.name),
            agent.description ? h("div", { class: "muted small" }, agent.description) : null,
            agent.id || agent.version
              ? h(
                  "div",
                  { class: "muted small mono" },
                  [agent.id, agent.version && `v${agent.version}`].filter(Boolean).join(" · "),
                )
              : null,
          ),
          h("td", { class: "num", dataset: { label: "Runs" } }, formatCount(agent.run_count)),
          h(
            "td",
            { class: "num", dataset: { label: "Failed" } },
            agent.failure_count
              ? h(
                  "a",
                  { href: href("/runs", { agent: agent.name, status: "FAILED" }) },
                  formatCount(agent.failure_count),
                )
              : "0",
          ),
          h("td", { dataset: { label: "Failure rate" } }, rateBar(rate)),
          h(
            "td",
            {
              class: `num${agent.cost === null && agent.unpriced_llm_calls ? " unpriced" : ""}`,
              dataset: { label: "Cost", cost: agent.cost === null ? "" : String(agent.cost) },
              title: agent.unpriced_llm_calls ? `${agent.unpriced_llm_calls} LLM call(s) unpriced` : "",
            },
            costText(agent.cost, agent.unpriced_llm_calls),
          ),
          h("td", { dataset: { label: "Last run" }, title: formatDateTime(last) }, formatRelative(last)),
          h("td", { dataset: { label: "First seen" } }, formatDateTime(parseTime(agent.first_seen_at))),
          h(
            "td",
            { dataset: { label: "Links" } },
            h("a", { href: href("/dashboard", { agent: agent.name }) }, "Dashboard"),
            " · ",
            h("a", { href: href("/tools", { agent: agent.name }) }, "Tools"),
          ),
        );
      });
      body.replaceChildren(
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data-table agents-table" },
            h("caption", { class: "visually-hidden" }, "Agents"),
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                ["Agent", "Runs", "Failed", "Failure rate", "Cost", "Last run", "First seen", ""].map((title) =>
                  h(
                    "th",
                    { scope: "col", class: ["Runs", "Failed", "Cost"].includes(title) ? "num" : null },
                    title || h("span", { class: "visually-hidden" }, "Links"),
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
  })();

  return { destroy: () => controller.abort() };
}
