// Users: the user ids runs carry, latest activity first, with their runs, sessions and failures.

import { getJSON, isAbort } from "../api.js";
import { agentField, emptyState, errorNotice, loadingState, pageHeader, selectField } from "../components.js";
import { h } from "../dom.js";
import { costText, excerpt, formatCount, formatDateTime, formatRelative } from "../format.js";
import { RANGES, windowFromParams } from "../ranges.js";
import { href, navigate } from "../router.js";

const PAGE_SIZE = 50;

export function mountUsers(container, route) {
  const params = route.params;
  let controller = null;
  const agentSelect = agentField(params.get("agent") || "", () => apply());
  const rangeField = selectField(
    "Time range",
    "range",
    [["", "Any time"], ...RANGES.map((range) => [range.value, range.label])],
    params.get("range") || "",
    () => apply(),
  );
  const results = h("div", null);
  const more = h("div", { class: "pager" });
  container.append(
    h(
      "section",
      { class: "page page-users" },
      pageHeader(
        "Users",
        h(
          "form",
          { class: "filters inline", "aria-label": "User filters" },
          agentSelect.element,
          rangeField.element,
        ),
      ),
      results,
      more,
    ),
  );

  function apply() {
    navigate("/users", {
      agent: agentSelect.control.value || undefined,
      range: rangeField.control.value || undefined,
    });
  }

  function row(user) {
    const last = Date.parse(user.last_activity_at);
    return h(
      "tr",
      { dataset: { user: user.id } },
      h(
        "td",
        { dataset: { label: "User" } },
        h("a", { href: href("/runs", { user_id: user.id }), class: "run-link mono" }, excerpt(user.id, 40)),
      ),
      h("td", { dataset: { label: "Last activity" }, title: formatDateTime(last) }, formatRelative(last)),
      h("td", { class: "num", dataset: { label: "Runs" } }, formatCount(user.run_count)),
      h(
        "td",
        { class: "num", dataset: { label: "Sessions" } },
        user.session_count
          ? h("a", { href: href("/sessions", { user: user.id }) }, formatCount(user.session_count))
          : "0",
      ),
      h(
        "td",
        { class: "num", dataset: { label: "Failed" } },
        user.failed_run_count
          ? h("a", { href: href("/runs", { user_id: user.id, status: "FAILED" }) }, formatCount(user.failed_run_count))
          : "0",
      ),
      h("td", { class: "num", dataset: { label: "Tokens" } }, formatCount(user.total_tokens)),
      h("td", { class: "num", dataset: { label: "Cost" } }, costText(user.cost, 0)),
      h("td", { dataset: { label: "Agents" } }, user.agents.join(", ")),
    );
  }

  async function load(cursor) {
    if (controller) controller.abort();
    controller = new AbortController();
    if (!cursor) results.replaceChildren(loadingState("Loading users…"));
    more.replaceChildren();
    const { since, until } = windowFromParams(params, null);
    try {
      const page = await getJSON(
        "/v1/users",
        { agent: params.get("agent") || undefined, since, until, limit: PAGE_SIZE, cursor: cursor || undefined },
        { signal: controller.signal },
      );
      if (!cursor && !page.items.length) {
        results.replaceChildren(emptyState("No runs name a user here (user.id, …)."));
        return;
      }
      let body = results.querySelector("tbody");
      if (!cursor || !body) {
        body = h("tbody", null);
        const titles = ["User", "Last activity", "Runs", "Sessions", "Failed", "Tokens", "Cost", "Agents"];
        results.replaceChildren(
          h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "data-table users-table" },
              h("caption", { class: "visually-hidden" }, "Users, latest activity first"),
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  titles.map((title) =>
                    h(
                      "th",
                      { scope: "col", class: ["Runs", "Sessions", "Failed", "Tokens", "Cost"].includes(title) ? "num" : null },
                      title,
                    ),
                  ),
                ),
              ),
              body,
            ),
          ),
        );
      }
      body.append(...page.items.map(row));
      if (page.next_cursor) {
        more.append(h("button", { type: "button", class: "button", onclick: () => load(page.next_cursor) }, "Load more"));
      }
    } catch (error) {
      if (!isAbort(error)) results.replaceChildren(errorNotice(error.message));
    }
  }

  (async () => {
    try {
      const agents = await getJSON("/v1/agents");
      agentSelect.fill(agents.items.map((agent) => agent.name));
    } catch {
      // optional
    }
  })();
  load(null);
  return {
    destroy() {
      if (controller) controller.abort();
    },
  };
}
