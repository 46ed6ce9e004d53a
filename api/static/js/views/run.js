// One run: its header, the step waterfall and the selected step's payloads.

import { api, isAbort } from "../api.js";
import { copyButton, errorNotice, fact, loadingState, statusBadge, wideFact } from "../components.js";
import { h } from "../dom.js";
import {
  costText,
  formatCost,
  formatCount,
  formatDateTime,
  formatDuration,
  parseTime,
  plural,
  shortId,
} from "../format.js";
import { href, replaceParams } from "../router.js";
import { scoresPanel } from "../scores.js";
import { runDetail, stepDetail } from "../step-detail.js";
import { failureNote, similarRunsPanel } from "../triage.js";
import { RunNode, Waterfall } from "../waterfall.js";

const STEP_PAGE = 25;
const AUTO_EXPAND_CHILD_RUNS = 12;
const AUTO_EXPAND_MAX_STEPS = 5000;
const RUNNING_REFRESH_MS = 3000;
const KINDS_IN_LEGEND = ["agent", "llm", "tool", "retriever", "other"];

function legend() {
  return h(
    "ul",
    { class: "legend", "aria-label": "Colours" },
    KINDS_IN_LEGEND.map((kind) =>
      h("li", null, h("span", { class: `kind-dot kind-${kind}`, "aria-hidden": "true" }), kind),
    ),
    h("li", null, h("span", { class: "legend-failed", "aria-hidden": "true" }), "failed"),
    h("li", null, h("span", { class: "legend-running", "aria-hidden": "true" }), "running"),
  );
}

/** The run's cost: its own LLM calls, with its sub-runs' when they add any, and what is unpriced. */
function costFact(run) {
  const unpriced = run.unpriced_llm_calls;
  if (run.cost === null && !unpriced && run.cost_with_sub_runs === null) return null;
  const withSubRuns =
    run.cost_with_sub_runs !== null && run.cost_with_sub_runs !== run.cost
      ? ` · ${formatCost(run.cost_with_sub_runs)} with sub-runs`
      : "";
  return fact(
    "Cost",
    h(
      "span",
      {
        class: `run-cost${run.cost === null && unpriced ? " unpriced" : ""}`,
        dataset: { cost: run.cost === null ? "" : String(run.cost) },
        title: run.price_versions.length ? `prices: ${run.price_versions.join(", ")}` : "",
      },
      costText(run.cost, unpriced),
    ),
    withSubRuns,
    run.cost !== null && unpriced
      ? h("span", { class: "unpriced" }, ` · ${plural(unpriced, "LLM call")} unpriced`)
      : null,
  );
}

function runHeader(run) {
  const started = parseTime(run.started_at);
  const duration =
    run.duration_ms === null
      ? h(
          "span",
          { class: "live-duration", dataset: { start: String(started) } },
          `${formatDuration(Date.now() - started)} so far`,
        )
      : formatDuration(run.duration_ms);
  const rawLink = `/v1/traces/${run.trace_id}`;
  const steps = [
    plural(run.step_count, "step"),
    plural(run.tool_call_count, "tool call"),
    plural(run.llm_call_count, "LLM call"),
  ];
  return h(
    "header",
    { class: "run-header panel" },
    h(
      "div",
      { class: "run-title" },
      h("h1", null, run.agent.name),
      statusBadge(run.status),
      h("span", { class: "muted run-name" }, run.name),
    ),
    h(
      "dl",
      { class: "facts facts-grid" },
      fact("Started", h("span", { title: run.started_at }, formatDateTime(started))),
      fact(
        "Finished",
        run.finished_at
          ? h("span", { title: run.finished_at }, formatDateTime(parseTime(run.finished_at)))
          : "not yet",
      ),
      fact("Duration", duration),
      fact(
        "Steps",
        steps.join(" · "),
        run.failed_step_count
          ? h("span", { class: "failed-count" }, ` · ${run.failed_step_count} failed`)
          : null,
      ),
      fact(
        "Tokens",
        `${formatCount(run.total_tokens)} (${formatCount(run.input_tokens)} in · ${formatCount(run.output_tokens)} out)`,
      ),
      costFact(run),
      run.models.length ? fact("Models", run.models.join(", ")) : null,
      run.session_id
        ? fact("Session", h("a", { href: `#/sessions/${encodeURIComponent(run.session_id)}` }, run.session_id))
        : null,
      run.user_id
        ? fact("User", h("a", { href: href("/runs", { user_id: run.user_id }) }, run.user_id))
        : null,
      run.service_name ? fact("Service", run.service_name) : null,
      run.parent_run_id
        ? fact(
            "Invoked by",
            h("a", { href: href(`/runs/${run.parent_run_id}`) }, `run ${shortId(run.parent_run_id)}`),
          )
        : null,
      wideFact(
        "Trace id",
        h("code", { class: "mono trace-id" }, run.trace_id),
        " ",
        copyButton(run.trace_id, "Copy the trace id"),
        " ",
        h(
          "a",
          { href: rawLink, target: "_blank", rel: "noopener", class: "button button-small button-quiet" },
          "Raw spans",
        ),
        " ",
        h(
          "a",
          { href: href("/runs", { trace_id: run.trace_id }), class: "button button-small button-quiet" },
          "Runs of this trace",
        ),
      ),
    ),
    run.error
      ? h(
          "div",
          { class: "notice notice-error run-error", role: "note" },
          h("strong", null, run.error.type || "Error"),
          run.error.message ? `: ${run.error.message}` : "",
        )
      : null,
  );
}

export function mountRun(container, route) {
  const runId = route.parts[1].toLowerCase();
  const traceId = runId.slice(0, 32);
  const controller = new AbortController();
  const stepPages = new Map();
  let waterfall = null;
  let rootNode = null;
  let detailToken = 0;
  let refreshTimer = null;
  let tickTimer = null;

  const page = h("section", { class: "page page-run" });
  const detail = h("aside", {
    class: "panel detail-panel",
    "aria-label": "Selected step",
    "aria-live": "polite",
  });
  container.append(page);
  page.append(
    h(
      "nav",
      { class: "breadcrumb", "aria-label": "Breadcrumb" },
      h("a", { href: "#/runs" }, "Runs"),
      h("span", { "aria-hidden": "true" }, " / "),
      h("span", { class: "mono" }, shortId(runId, 16)),
    ),
    loadingState("Loading the run…"),
  );

  const loadNode = async (id) =>
    new RunNode(await api.timeline(id, { signal: controller.signal }), rootNode.startMs);

  function stepKey(row) {
    return row.step ? `${row.node.id}:${row.step.index}` : "run";
  }

  function urlFor(row) {
    if (!row || !row.step) return {};
    const params = { step: row.step.index };
    if (row.node.id !== runId) params.in = row.node.id.slice(32);
    return params;
  }

  async function fullStep(node, index) {
    const start = Math.floor(index / STEP_PAGE) * STEP_PAGE;
    const key = `${node.id}:${start}`;
    if (!stepPages.has(key)) {
      const request = api.steps(node.id, start, STEP_PAGE, { signal: controller.signal });
      stepPages.set(key, request);
      request.catch(() => stepPages.delete(key));
    }
    const pageOfSteps = await stepPages.get(key);
    return pageOfSteps.items.find((step) => step.index === index) || null;
  }

  async function showDetail(row) {
    const token = ++detailToken;
    replaceParams(`/runs/${runId}`, urlFor(row));
    const rawLink = `/v1/traces/${traceId}`;
    if (!row.step) {
      detail.replaceChildren(runDetail(row.node.timeline, { rawLink }));
      return;
    }
    detail.replaceChildren(loadingState("Loading the step…"));
    try {
      const step = await fullStep(row.node, row.step.index);
      if (token !== detailToken) return;
      detail.replaceChildren(
        step
          ? stepDetail(step, {
              runStartMs: rootNode.startMs,
              rawLink,
              rootRunId: runId,
              nestedRun: row.node.id === runId ? null : row.node.timeline,
            })
          : errorNotice("This step is no longer stored."),
      );
    } catch (error) {
      if (!isAbort(error) && token === detailToken) detail.replaceChildren(errorNotice(error.message));
    }
  }

  /** Expands the nested runs on the way to `nodeId`, returning its RunNode (or null). */
  async function revealRun(nodeId) {
    if (nodeId === runId) return rootNode;
    const chain = [];
    let current = waterfall.nodes.get(nodeId) || (await loadNode(nodeId));
    waterfall.nodes.set(current.id, current);
    while (current.id !== runId) {
      chain.unshift(current);
      const parentId = current.timeline.parent_run_id;
      if (!parentId) return null;
      current = waterfall.nodes.get(parentId) || (await loadNode(parentId));
      waterfall.nodes.set(current.id, current);
    }
    for (const node of chain) {
      const parent = waterfall.nodes.get(node.timeline.parent_run_id);
      const agentStep = parent.steps.find((step) => step.child_run_id === node.id);
      if (agentStep) await waterfall.expand(`${parent.id}:${agentStep.index}`);
    }
    return waterfall.nodes.get(nodeId);
  }

  /** The first failing step, followed down into the nested run it invoked when that failed. */
  async function firstFailure() {
    let node = rootNode;
    let key = null;
    for (let depth = 0; depth < 16; depth += 1) {
      const failed = node.steps.find((step) => step.status === "FAILED");
      if (!failed) break;
      key = `${node.id}:${failed.index}`;
      const childId = failed.child_run_id;
      if (!childId || childId === node.id) break;
      await waterfall.expand(key);
      const child = waterfall.nodes.get(childId);
      if (!child || !child.steps.some((step) => step.status === "FAILED")) break;
      node = child;
    }
    return key;
  }

  async function selectFromRoute(params) {
    const index = params.get("step");
    if (index !== null && /^\d+$/.test(index)) {
      const inRun = params.get("in");
      const nodeId = inRun && /^[0-9a-f]{16}$/i.test(inRun) ? traceId + inRun.toLowerCase() : runId;
      try {
        const node = await revealRun(nodeId);
        if (node && waterfall.select(`${node.id}:${Number(index)}`)) return;
      } catch (error) {
        if (isAbort(error)) return;
      }
    }
    if (rootNode.timeline.status === "FAILED" || rootNode.timeline.failed_step_count > 0) {
      const key = await firstFailure();
      if (key && waterfall.select(key)) return;
    }
    waterfall.select(`run:${runId}`);
  }

  async function autoExpandChildren() {
    const agentSteps = rootNode.steps.filter((step) => step.child_run_id && step.child_run_id !== runId);
    if (
      !agentSteps.length ||
      agentSteps.length > AUTO_EXPAND_CHILD_RUNS ||
      rootNode.steps.length > AUTO_EXPAND_MAX_STEPS
    )
      return;
    await Promise.all(agentSteps.map((step) => waterfall.expand(`${runId}:${step.index}`).catch(() => {})));
  }

  function render(timeline) {
    rootNode = new RunNode(timeline, parseTime(timeline.started_at));
    const nextFailure = h(
      "button",
      { type: "button", class: "button button-small", disabled: !(timeline.failed_step_count > 0) },
      "Next failure",
    );
    waterfall = new Waterfall({ root: rootNode, loadChildRun: loadNode, onSelect: showDetail });
    nextFailure.addEventListener("click", () => {
      waterfall.selectNextFailure();
      waterfall.viewport.focus();
    });
    page.replaceChildren(
      h(
        "nav",
        { class: "breadcrumb", "aria-label": "Breadcrumb" },
        h("a", { href: "#/runs" }, "Runs"),
        h("span", { "aria-hidden": "true" }, " / "),
        h("a", { href: href("/runs", { agent: timeline.agent.name }) }, timeline.agent.name),
        h("span", { "aria-hidden": "true" }, " / "),
        h("span", { class: "mono" }, shortId(runId, 16)),
      ),
      runHeader(timeline),
      failureNote(timeline, { signal: controller.signal }),
      scoresPanel(timeline, { signal: controller.signal }),
      h(
        "div",
        { class: "run-body" },
        h(
          "section",
          { class: "panel waterfall-panel", "aria-labelledby": "timeline-title" },
          h(
            "div",
            { class: "panel-head" },
            h("h2", { id: "timeline-title" }, "Timeline"),
            legend(),
            nextFailure,
          ),
          waterfall.element,
          h("p", { class: "hint muted" }, "↑ ↓ to move, → ← to expand and collapse, Enter to toggle."),
        ),
        detail,
      ),
      similarRunsPanel(timeline, { signal: controller.signal }),
    );
  }

  async function load() {
    try {
      const timeline = await api.timeline(runId, { signal: controller.signal });
      performance.mark("agentguide:timeline-loaded");
      render(timeline);
      await autoExpandChildren();
      await selectFromRoute(route.params);
      if (timeline.status === "RUNNING" || timeline.status === "PENDING") startLiveUpdates();
    } catch (error) {
      if (isAbort(error)) return;
      const message = error.status === 404 ? `There is no run ${runId}.` : error.message;
      page.replaceChildren(
        h("nav", { class: "breadcrumb" }, h("a", { href: "#/runs" }, "Runs")),
        errorNotice(message),
      );
    }
  }

  function startLiveUpdates() {
    tickTimer = setInterval(() => {
      if (waterfall) waterfall.tick();
      for (const element of page.querySelectorAll(".live-duration")) {
        element.textContent = `${formatDuration(Date.now() - Number(element.dataset.start))} so far`;
      }
    }, 1000);
    refreshTimer = setInterval(async () => {
      if (document.hidden) return;
      try {
        const timeline = await api.timeline(runId, { signal: controller.signal });
        if (timeline.status !== "RUNNING" && timeline.status !== "PENDING") {
          clearInterval(refreshTimer);
          clearInterval(tickTimer);
        }
        if (timeline.steps.count === rootNode.steps.length && timeline.status === rootNode.timeline.status)
          return;
        const selected = waterfall.selectedRow();
        const keep = selected ? stepKey(selected) : null;
        waterfall.destroy();
        stepPages.clear();
        render(timeline);
        if (keep && keep !== "run") waterfall.select(keep);
        else waterfall.select(`run:${runId}`);
      } catch (error) {
        if (!isAbort(error)) clearInterval(refreshTimer);
      }
    }, RUNNING_REFRESH_MS);
  }

  load();

  return {
    update(next) {
      if (!waterfall) return;
      const current = waterfall.selectedRow();
      const wanted = next.params.get("step");
      const currentIndex = current && current.step ? String(current.step.index) : null;
      if (wanted !== currentIndex) selectFromRoute(next.params);
    },
    destroy() {
      controller.abort();
      clearInterval(refreshTimer);
      clearInterval(tickTimer);
      if (waterfall) waterfall.destroy();
    },
  };
}
