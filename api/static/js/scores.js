// A run's scores: the judgements on the run and on its steps, as a small table under the header.

import { api, isAbort } from "./api.js";
import { h } from "./dom.js";
import { excerpt, formatCount, formatDateTime, formatNumber, parseTime } from "./format.js";
import { href } from "./router.js";

const SHOWN = 1000;

/** What a score is on: the run, or a link to the step. */
function targetCell(score, runId) {
  if (!score.step_id) return h("td", { dataset: { label: "On" } }, "run");
  const index = score.step_index;
  return h(
    "td",
    { dataset: { label: "On" } },
    index === null
      ? h("span", { class: "mono", title: "a step not derived (yet)" }, score.span_id)
      : h("a", { href: href(`/runs/${runId}`, { step: index }), class: "score-step" }, `step ${index}`),
  );
}

function scoreRow(score, runId) {
  const observed = parseTime(score.observed_at);
  return h(
    "tr",
    { class: "score-row", dataset: { name: score.name, source: score.source } },
    h(
      "td",
      { dataset: { label: "Score" } },
      h("a", { href: href("/runs", { score: score.name }), title: "Runs with this score" }, score.name),
    ),
    h(
      "td",
      { class: "num score-value", dataset: { label: "Value", value: score.value === null ? "" : String(score.value) } },
      formatNumber(score.value),
    ),
    h(
      "td",
      { dataset: { label: "Label" } },
      score.label ? h("span", { class: "score-label" }, score.label) : "–",
      score.error_type ? h("span", { class: "score-error", title: "the evaluation failed" }, ` ${score.error_type}`) : null,
    ),
    targetCell(score, runId),
    h("td", { class: "score-explanation", dataset: { label: "Why" }, title: score.explanation || "" }, excerpt(score.explanation || "", 160)),
    h("td", { class: "muted small", dataset: { label: "Source" } }, score.source),
    h("td", { class: "muted small", dataset: { label: "When" }, title: score.observed_at }, formatDateTime(observed)),
  );
}

/** The panel of a run's scores; it stays empty when the run has none. */
export function scoresPanel(run, { signal } = {}) {
  const panel = h("section", { class: "scores-panel", "aria-labelledby": "scores-title" });
  (async () => {
    try {
      const answer = await api.scores(run.id, { limit: SHOWN }, { signal });
      if (!answer.items.length) return;
      const rows = answer.items.map((score) => scoreRow(score, run.id));
      panel.classList.add("panel");
      panel.replaceChildren(
        h("div", { class: "panel-head" }, h("h2", { id: "scores-title" }, `Scores (${answer.items.length}${answer.next_offset ? "+" : ""})`)),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data-table scores-table" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                ["Score", "Value", "Label", "On", "Why", "Source", "When"].map((title) =>
                  h("th", { scope: "col", class: title === "Value" ? "num" : null }, title),
                ),
              ),
            ),
            h("tbody", null, rows),
          ),
        ),
      );
    } catch (error) {
      if (!isAbort(error)) panel.replaceChildren(); // the run view says enough without it
    }
  })();
  return panel;
}

/** The dashboard's table of scores per name: count, mean, min, max and the frequent labels. */
export function scoresTable(scores, runsLink) {
  const rows = scores.map((score) =>
    h(
      "tr",
      { class: "score-summary-row", dataset: { name: score.name } },
      h("td", { dataset: { label: "Score" } }, h("a", { href: runsLink({ score: score.name }) }, score.name)),
      h("td", { class: "num", dataset: { label: "Count" } }, formatCount(score.count)),
      h("td", { class: "num score-mean", dataset: { label: "Mean" } }, formatNumber(score.mean)),
      h("td", { class: "num", dataset: { label: "Min" } }, formatNumber(score.min)),
      h("td", { class: "num", dataset: { label: "Max" } }, formatNumber(score.max)),
      h(
        "td",
        { dataset: { label: "Labels" } },
        Object.entries(score.labels).map(([label, count]) =>
          h("span", { class: "score-label" }, `${label} ${formatCount(count)}`),
        ),
        score.error_count ? h("span", { class: "score-error" }, ` ${formatCount(score.error_count)} failed`) : null,
      ),
    ),
  );
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data-table score-summary" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["Score", "Count", "Mean", "Min", "Max", "Labels"].map((title) =>
            h("th", { scope: "col", class: ["Score", "Labels"].includes(title) ? null : "num" }, title),
          ),
        ),
      ),
      h("tbody", null, rows),
    ),
  );
}

/** The mean per bucket of the most frequent score with values, as chart points; null if none. */
export function topScoreMeans(summary, series) {
  const top = summary.scores.find((score) => score.value_count > 0);
  if (!top) return null;
  const points = series.buckets.map((bucket) => {
    const found = bucket.scores[top.name];
    return { time: parseTime(bucket.start), value: found ? found.mean : null };
  });
  if (points.some((point) => point.value !== null && point.value < 0)) return null;
  return { name: top.name, points };
}
