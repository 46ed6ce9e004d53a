// Two runs side by side: their steps aligned, what changed, and where they first diverge.

import { api, isAbort } from "../api.js";
import { emptyState, errorNotice, kindChip, loadingState, pageHeader, statusBadge } from "../components.js";
import { h } from "../dom.js";
import { formatCount, formatDateTime, formatDuration, formatNumber, parseTime, shortId } from "../format.js";
import { href, navigate } from "../router.js";

const ROWS_AT_ONCE = 400;
const LONG_VALUE = 160;
const OPERATION_LABELS = {
  match: "same call",
  substitute: "other call",
  insert: "only in B",
  delete: "only in A",
};
const FIELD_LABELS = {
  status: "Status",
  input: "Input",
  output: "Output",
  error_type: "Error type",
  error_message: "Error",
  duration_ms: "Duration",
  tokens: "Tokens",
  cost: "Cost",
};

function idForm(a, b) {
  const field = (name, label, value) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: `compare-${name}` }, label),
      h("input", {
        id: `compare-${name}`,
        name,
        type: "text",
        value: value || "",
        pattern: "[0-9a-fA-F]{48}",
        title: "48 hexadecimal characters",
        required: true,
        autocomplete: "off",
        spellcheck: "false",
      }),
    );
  const form = h(
    "form",
    { class: "filters", "aria-label": "Runs to compare" },
    field("a", "Run A", a),
    field("b", "Run B", b),
    h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "button button-primary" }, "Compare")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    navigate("/compare", { a: form.elements.a.value.trim().toLowerCase(), b: form.elements.b.value.trim().toLowerCase() });
  });
  return form;
}

function formatMeasure(field, value) {
  if (value === null || value === undefined) return "–";
  if (field === "duration_ms") return formatDuration(value);
  if (field === "tokens") return formatCount(value);
  if (field === "cost") return `$${value !== 0 && Math.abs(value) < 0.01 ? Number(value.toPrecision(2)) : formatNumber(value)}`;
  return String(value);
}

function formatDelta(field, delta) {
  if (delta === null || delta === undefined) return "";
  const sign = delta > 0 ? "+" : delta < 0 ? "−" : "±";
  return `${sign}${formatMeasure(field, Math.abs(delta))}`;
}

function runCard(label, run) {
  const error = run.error ? [run.error.type, run.error.message].filter(Boolean).join(": ") : null;
  return h(
    "div",
    { class: "panel compare-run", dataset: { side: label.toLowerCase().slice(-1) } },
    h(
      "div",
      { class: "compare-run-title" },
      h("span", { class: "compare-side" }, label),
      h("a", { href: href(`/runs/${run.id}`), class: "run-link" }, run.agent.name),
      statusBadge(run.status),
      h("span", { class: "mono muted small" }, shortId(run.id, 12)),
    ),
    h(
      "p",
      { class: "muted small" },
      `${formatDateTime(parseTime(run.started_at))} · ${formatDuration(run.duration_ms)} · ${formatCount(run.step_count)} steps · ${formatCount(run.total_tokens)} tokens`,
    ),
    error ? h("p", { class: "compare-error" }, error) : null,
  );
}

function stepCell(runId, step, side) {
  if (!step) return h("td", { class: "compare-step compare-empty", dataset: { label: `Run ${side}` } }, "—");
  return h(
    "td",
    { class: `compare-step${step.status === "FAILED" ? " step-failed" : ""}`, dataset: { label: `Run ${side}` } },
    h(
      "div",
      { class: "step-line" },
      h("span", { class: "step-index muted small" }, `#${step.index}`),
      kindChip(step.kind),
      h("a", { href: href(`/runs/${runId}`, { step: step.index }), class: "step-name" }, step.name),
      step.status === "FAILED" ? statusBadge("FAILED") : null,
      h("span", { class: "muted small" }, formatDuration(step.duration_ms)),
    ),
  );
}

function valueView(value) {
  const text = value === null || value === undefined ? "(none)" : String(value);
  if (text.length <= LONG_VALUE) return h("code", { class: "change-value" }, text);
  return h(
    "details",
    { class: "change-value-long" },
    h("summary", null, h("code", { class: "change-value" }, `${text.slice(0, LONG_VALUE)}…`)),
    h("pre", { class: "prewrap change-value-full" }, text),
  );
}

function changeItem(change) {
  const label = FIELD_LABELS[change.field] || change.field;
  if (["duration_ms", "tokens", "cost"].includes(change.field)) {
    return h(
      "li",
      { class: "change change-measure", dataset: { field: change.field } },
      h("span", { class: "change-field" }, label),
      ` ${formatMeasure(change.field, change.a)} → ${formatMeasure(change.field, change.b)} `,
      h("span", { class: "change-delta" }, formatDelta(change.field, change.delta)),
    );
  }
  return h(
    "li",
    { class: "change change-behaviour", dataset: { field: change.field } },
    h("span", { class: "change-field" }, label),
    h(
      "div",
      { class: "change-sides" },
      h("div", { class: "change-side" }, h("span", { class: "compare-side small" }, "A"), valueView(change.a)),
      h("div", { class: "change-side" }, h("span", { class: "compare-side small" }, "B"), valueView(change.b)),
    ),
    change.truncated ? h("span", { class: "muted small" }, "cut for display: the step has it whole") : null,
  );
}

function pairRow(answer, pair, position) {
  const first = position === answer.first_divergence;
  const row = h(
    "tr",
    {
      class: `pair pair-${pair.operation}${pair.diverges ? " pair-diverges" : ""}${first ? " pair-first-divergence" : ""}`,
      dataset: { operation: pair.operation, position: String(position) },
      id: first ? "first-divergence" : null,
    },
    stepCell(answer.a.id, pair.a, "A"),
    h(
      "td",
      { class: "pair-operation", dataset: { label: "Alignment" } },
      h(
        "div",
        null,
        OPERATION_LABELS[pair.operation],
        first ? h("div", { class: "divergence-marker" }, "first divergence") : null,
      ),
    ),
    stepCell(answer.b.id, pair.b, "B"),
    h(
      "td",
      { class: "pair-changes", dataset: { label: "Differences" } },
      pair.changes.length ? h("ul", { class: "changes" }, pair.changes.map(changeItem)) : h("span", { class: "muted" }, "no difference"),
    ),
  );
  return row;
}

function totalsTable(answer) {
  return h(
    "table",
    { class: "data-table compare-totals" },
    h("caption", { class: "visually-hidden" }, "Totals over the steps"),
    h("thead", null, h("tr", null, ["", "Run A", "Run B", "B − A"].map((title) => h("th", { scope: "col", class: title ? "num" : null }, title)))),
    h(
      "tbody",
      null,
      answer.totals.map((total) =>
        h(
          "tr",
          { dataset: { field: total.field } },
          h("th", { scope: "row" }, FIELD_LABELS[total.field]),
          h("td", { class: "num", dataset: { label: "Run A" } }, formatMeasure(total.field, total.a)),
          h("td", { class: "num", dataset: { label: "Run B" } }, formatMeasure(total.field, total.b)),
          h("td", { class: "num", dataset: { label: "B − A" } }, formatDelta(total.field, total.delta)),
        ),
      ),
    ),
  );
}

function summaryLine(answer) {
  const parts = [
    `${formatCount(answer.matches)} aligned`,
    `${formatCount(answer.substitutions)} other calls`,
    `${formatCount(answer.deletions)} only in A`,
    `${formatCount(answer.insertions)} only in B`,
  ];
  const divergence =
    answer.first_divergence === null
      ? "The runs did the same thing."
      : `They first diverge at aligned step ${answer.first_divergence + 1}.`;
  return `${parts.join(" · ")}. ${divergence}${answer.truncated ? " Only the first steps of a very long run were compared." : ""}`;
}

export function mountCompare(container, route) {
  const controller = new AbortController();
  const a = (route.params.get("a") || "").toLowerCase();
  const b = (route.params.get("b") || "").toLowerCase();
  const body = h("div", { class: "compare-body" });
  container.append(h("section", { class: "page page-compare" }, pageHeader("Compare runs"), idForm(a, b), body));
  if (!a || !b) {
    body.append(emptyState("Pick two runs.", h("p", null, "Paste two run ids, or use “Compare” on a run's similar runs.")));
    return { destroy() {} };
  }
  body.append(loadingState("Comparing…"));

  (async () => {
    try {
      const answer = await api.compare(a, b, { signal: controller.signal });
      const rows = h("tbody", null);
      let shown = 0;
      const more = h("button", { type: "button", class: "button show-more" }, "Show more steps");
      const onlyChanged = h("input", { type: "checkbox", id: "compare-only-changed" });
      const table = h(
        "table",
        { class: "data-table compare-table" },
        h("caption", { class: "visually-hidden" }, "Aligned steps"),
        h(
          "thead",
          null,
          h("tr", null, ["Run A", "", "Run B", "Differences"].map((title) => h("th", { scope: "col" }, title))),
        ),
        rows,
      );
      const showUntil = (count) => {
        const end = Math.min(answer.pairs.length, count);
        for (; shown < end; shown += 1) rows.append(pairRow(answer, answer.pairs[shown], shown));
        more.hidden = shown >= answer.pairs.length;
        more.textContent = `Show more steps (${formatCount(answer.pairs.length - shown)} left)`;
      };
      more.addEventListener("click", () => showUntil(shown + ROWS_AT_ONCE));
      onlyChanged.addEventListener("change", () => table.classList.toggle("only-changed", onlyChanged.checked));
      const jump = h(
        "button",
        { type: "button", class: "button button-small", disabled: answer.first_divergence === null },
        "Go to the first divergence",
      );
      jump.addEventListener("click", () => {
        showUntil(Math.max(shown, answer.first_divergence + 1));
        const target = document.getElementById("first-divergence");
        if (target) {
          target.scrollIntoView({ block: "center" });
          target.classList.add("flash");
        }
      });
      showUntil(Math.max(ROWS_AT_ONCE, (answer.first_divergence ?? 0) + 1));
      body.replaceChildren(
        h("div", { class: "compare-runs" }, runCard("Run A", answer.a), runCard("Run B", answer.b)),
        h("p", { class: "compare-summary" }, summaryLine(answer)),
        h("div", { class: "compare-tools" }, jump, h("div", { class: "field field-check" }, onlyChanged, h("label", { for: "compare-only-changed" }, "Differences only"))),
        totalsTable(answer),
        h("div", { class: "table-wrap" }, table),
        more,
      );
    } catch (error) {
      if (!isAbort(error)) body.replaceChildren(errorNotice(error.message));
    }
  })();

  return {
    destroy() {
      controller.abort();
    },
  };
}
