// Sessions: conversations (runs sharing a session id), newest activity first, and one
// conversation read turn by turn: the request as the user's bubble, the answer as the agent's.

import { getJSON, isAbort } from "../api.js";
import {
  agentField,
  emptyState,
  errorNotice,
  fact,
  loadingState,
  pageHeader,
  selectField,
  statusBadge,
  textField,
} from "../components.js";
import { h } from "../dom.js";
import {
  costText,
  excerpt,
  formatCount,
  formatDateTime,
  formatDuration,
  formatRelative,
  plural,
} from "../format.js";
import { RANGES, windowFromParams } from "../ranges.js";
import { href, navigate } from "../router.js";

const PAGE_SIZE = 50;
const TURNS_PER_PAGE = 200;

export function sessionHref(sessionId) {
  return `#/sessions/${encodeURIComponent(sessionId)}`;
}

export function mountSessions(container, route) {
  if (route.parts.length > 1) return mountConversation(container, route.parts.slice(1).join("/"));
  return mountSessionList(container, route);
}

function mountSessionList(container, route) {
  const params = route.params;
  let controller = null;
  const agentSelect = agentField(params.get("agent") || "", () => apply());
  const statusField = selectField(
    "Status",
    "status",
    [
      ["", "Any"],
      ["failed", "With a failed run"],
      ["ok", "No failed run"],
    ],
    params.get("status") || "",
    () => apply(),
  );
  const rangeField = selectField(
    "Active in",
    "range",
    [["", "Any time"], ...RANGES.map((range) => [range.value, range.label])],
    params.get("range") || "",
    () => apply(),
  );
  const userField = textField("User id", "user", params.get("user") || "");
  userField.control.addEventListener("change", () => apply());
  const results = h("div", { class: "sessions-results" });
  const more = h("div", { class: "pager" });
  container.append(
    h(
      "section",
      { class: "page page-sessions" },
      pageHeader(
        "Sessions",
        h(
          "form",
          {
            class: "filters inline",
            "aria-label": "Session filters",
            onsubmit: (event) => {
              event.preventDefault();
              apply();
            },
          },
          agentSelect.element,
          statusField.element,
          rangeField.element,
          userField.element,
        ),
      ),
      results,
      more,
    ),
  );

  function apply() {
    navigate("/sessions", {
      agent: agentSelect.control.value || undefined,
      status: statusField.control.value || undefined,
      range: rangeField.control.value || undefined,
      user: userField.control.value.trim() || undefined,
    });
  }

  function query(cursor) {
    const { since, until } = windowFromParams(params, null);
    return {
      agent: params.get("agent") || undefined,
      status: params.get("status") || undefined,
      user_id: params.get("user") || undefined,
      since,
      until,
      limit: PAGE_SIZE,
      cursor: cursor || undefined,
    };
  }

  function row(session) {
    return h(
      "tr",
      { dataset: { session: session.id } },
      h(
        "td",
        { dataset: { label: "Last activity" }, title: formatDateTime(Date.parse(session.last_activity_at)) },
        formatRelative(Date.parse(session.last_activity_at)),
      ),
      h(
        "td",
        { dataset: { label: "Session" }, class: "session-cell" },
        h("a", { href: sessionHref(session.id), class: "run-link mono" }, excerpt(session.id, 40)),
        h("div", { class: "muted session-first" }, excerpt(session.first_message || "", 90)),
      ),
      h(
        "td",
        { dataset: { label: "User" } },
        session.user_id
          ? h("a", { href: href("/sessions", { user: session.user_id }) }, excerpt(session.user_id, 24))
          : "–",
      ),
      h("td", { class: "num", dataset: { label: "Runs" } }, formatCount(session.run_count)),
      h(
        "td",
        { class: "num", dataset: { label: "Failed" } },
        session.failed_run_count ? h("span", { class: "fail-count" }, formatCount(session.failed_run_count)) : "0",
      ),
      h("td", { class: "num", dataset: { label: "Duration" } }, formatDuration(session.duration_ms)),
      h("td", { class: "num", dataset: { label: "Tokens" } }, formatCount(session.total_tokens)),
      h("td", { class: "num", dataset: { label: "Cost" } }, costText(session.cost, 0)),
      h("td", { dataset: { label: "Agents" } }, session.agents.join(", ")),
    );
  }

  async function load(cursor) {
    if (controller) controller.abort();
    controller = new AbortController();
    if (!cursor) results.replaceChildren(loadingState("Loading sessions…"));
    more.replaceChildren();
    try {
      const page = await getJSON("/v1/sessions", query(cursor), { signal: controller.signal });
      if (!cursor && !page.items.length) {
        results.replaceChildren(
          emptyState(
            "No sessions here.",
            h(
              "p",
              { class: "muted" },
              "Runs join a session when their spans carry a session id (gen_ai.conversation.id, session.id, …).",
            ),
          ),
        );
        return;
      }
      let body = results.querySelector("tbody");
      if (!cursor || !body) {
        body = h("tbody", null);
        results.replaceChildren(
          h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "data-table sessions-table" },
              h("caption", { class: "visually-hidden" }, "Sessions, newest activity first"),
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  ["Last activity", "Session", "User", "Runs", "Failed", "Duration", "Tokens", "Cost", "Agents"].map(
                    (title) =>
                      h(
                        "th",
                        { scope: "col", class: ["Runs", "Failed", "Duration", "Tokens", "Cost"].includes(title) ? "num" : null },
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
        more.append(
          h("button", { type: "button", class: "button", onclick: () => load(page.next_cursor) }, "Load more"),
        );
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
      // the other filters still work
    }
  })();
  load(null);
  return {
    destroy() {
      if (controller) controller.abort();
    },
  };
}

function bubble(role, label, text, extra) {
  return h(
    "div",
    { class: `bubble bubble-${role}`, dataset: { role } },
    h("div", { class: "bubble-label" }, label),
    h("div", { class: "bubble-text" }, text),
    extra || null,
  );
}

function turn(run, index, nested) {
  const started = Date.parse(run.started_at);
  const answer =
    run.output ||
    (run.status === "FAILED" && run.error ? `${run.error.type || "Error"}: ${run.error.message || ""}` : null);
  const meta = h(
    "div",
    { class: "turn-meta" },
    statusBadge(run.status),
    h("span", { class: "muted" }, formatDateTime(started)),
    h("span", null, formatDuration(run.duration_ms)),
    h("span", null, `${formatCount(run.total_tokens)} tokens`),
    h("span", null, costText(run.cost, run.unpriced_llm_calls)),
    h(
      "a",
      { href: `#/runs/${run.id}`, class: "turn-steps", dataset: { run: run.id } },
      `${plural(run.step_count, "step")} →`,
    ),
  );
  return h(
    "li",
    { class: `turn${nested ? " turn-nested" : ""}`, dataset: { run: run.id, status: run.status } },
    nested ? h("div", { class: "turn-nested-label muted" }, `Sub-agent ${run.agent.name}`) : null,
    run.input
      ? bubble("user", nested ? "Request" : "User", run.input, run.input_truncated ? truncatedNote(run) : null)
      : null,
    answer
      ? bubble(
          run.status === "FAILED" && !run.output ? "error" : "agent",
          run.agent.name,
          answer,
          run.output_truncated ? truncatedNote(run) : null,
        )
      : bubble("agent", run.agent.name, run.status === "RUNNING" ? "…" : "(no answer)"),
    meta,
  );
}

function truncatedNote(run) {
  return h("a", { href: `#/runs/${run.id}`, class: "bubble-more" }, "Shortened: see the whole run");
}

function mountConversation(container, sessionId) {
  let controller = new AbortController();
  const header = h("div", null);
  const turns = h("ol", { class: "conversation", "aria-label": "Turns" });
  const more = h("div", { class: "pager" });
  const runIds = new Set();
  container.append(
    h(
      "section",
      { class: "page page-session" },
      h("p", { class: "breadcrumb" }, h("a", { href: "#/sessions" }, "← Sessions")),
      header,
      turns,
      more,
    ),
  );
  header.append(loadingState("Loading the conversation…"));

  function summary(session) {
    return [
      pageHeader(`Session ${excerpt(session.id, 60)}`),
      h(
        "dl",
        { class: "facts facts-grid session-facts" },
        fact("Session id", h("span", { class: "mono" }, session.id)),
        fact(
          "User",
          session.user_id ? h("a", { href: href("/sessions", { user: session.user_id }) }, session.user_id) : "–",
        ),
        fact("Runs", formatCount(session.run_count)),
        fact("Failed", formatCount(session.failed_run_count)),
        fact("First activity", formatDateTime(Date.parse(session.first_activity_at))),
        fact("Last activity", formatDateTime(Date.parse(session.last_activity_at))),
        fact("Duration", formatDuration(session.duration_ms)),
        fact("Tokens", formatCount(session.total_tokens)),
        fact("Cost", costText(session.cost, 0)),
        fact("Agents", session.agents.join(", ")),
        fact("Runs list", h("a", { href: href("/runs", { session_id: session.id }) }, "All runs of the session")),
      ),
    ];
  }

  async function load(cursor) {
    more.replaceChildren();
    try {
      const page = await getJSON(
        `/v1/sessions/${encodeURIComponent(sessionId)}`,
        { limit: TURNS_PER_PAGE, cursor: cursor || undefined },
        { signal: controller.signal },
      );
      if (!cursor) header.replaceChildren(...summary(page.session));
      for (const run of page.runs) runIds.add(run.id);
      turns.append(
        ...page.runs.map((run, index) => turn(run, index, Boolean(run.parent_run_id && runIds.has(run.parent_run_id)))),
      );
      if (page.next_cursor) {
        more.append(
          h("button", { type: "button", class: "button", onclick: () => load(page.next_cursor) }, "Later turns"),
        );
      }
    } catch (error) {
      if (isAbort(error)) return;
      if (error.status === 404) {
        header.replaceChildren(
          emptyState(`No session “${sessionId}”.`, h("a", { href: "#/sessions" }, "See the sessions")),
        );
      } else header.replaceChildren(errorNotice(error.message));
    }
  }

  load(null);
  return {
    destroy() {
      controller.abort();
      controller = null;
    },
  };
}
