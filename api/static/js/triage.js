// What the run view adds for triage: how many other runs failed the same way, and the runs most
// like this one (with a link to compare them side by side).

import { api, isAbort } from "./api.js";
import { loadingState, statusBadge } from "./components.js";
import { h } from "./dom.js";
import { excerpt, formatCount, formatDuration, formatRelative, parseTime, shortId } from "./format.js";
import { href, navigate } from "./router.js";

const SIMILAR_SHOWN = 5;

/** "N other runs failed the same way", for a failed run; empty for any other. */
export function failureNote(run, { signal } = {}) {
  const note = h("div", { class: "failure-note", "aria-live": "polite" });
  if (run.status !== "FAILED") return note;
  (async () => {
    try {
      const failure = await api.runFailure(run.id, { signal });
      const others = failure.other_runs;
      const runsLink = href("/runs", { signature: failure.signature, status: "FAILED" });
      note.replaceChildren(
        h(
          "p",
          { class: "notice failure-summary" },
          others
            ? h(
                "a",
                { href: runsLink, class: "same-failure-link" },
                `${formatCount(others)} other ${others === 1 ? "run" : "runs"} failed the same way`,
              )
            : h("span", { class: "same-failure-link" }, "No other run failed this way"),
          ": ",
          h("span", { class: "failure-signature-title" }, failure.title),
          " ",
          h("a", { href: href("/failures"), class: "muted small" }, "All failures"),
        ),
      );
    } catch (error) {
      if (!isAbort(error)) note.replaceChildren(); // the run view says enough without it
    }
  })();
  return note;
}

function similarRow(runId, item) {
  const run = item.run;
  const started = parseTime(run.started_at);
  const error = run.error ? [run.error.type, run.error.message].filter(Boolean).join(": ") : "";
  return h(
    "li",
    { class: "similar-run", dataset: { runId: run.id } },
    h("span", { class: "similarity", title: "cosine similarity of the runs' embeddings" }, `${Math.round(item.similarity * 100)}%`),
    statusBadge(run.status),
    h("a", { href: href(`/runs/${run.id}`), class: "run-link mono" }, shortId(run.id, 12)),
    h("span", { class: "muted small", title: run.started_at }, formatRelative(started)),
    h("span", { class: "muted small" }, formatDuration(run.duration_ms)),
    h("span", { class: "similar-text" }, excerpt(error || run.input || "", 140)),
    h(
      "a",
      { href: href("/compare", { a: runId, b: run.id }), class: "button button-small button-quiet compare-link" },
      "Compare",
    ),
  );
}

function compareForm(runId) {
  const input = h("input", {
    type: "text",
    name: "other",
    placeholder: "another run's id (48 hex characters)",
    pattern: "[0-9a-fA-F]{48}",
    "aria-label": "Run to compare with",
    autocomplete: "off",
    spellcheck: "false",
  });
  const form = h(
    "form",
    { class: "compare-form" },
    input,
    h("button", { type: "submit", class: "button button-small" }, "Compare with this run"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const other = input.value.trim().toLowerCase();
    if (!other || !form.reportValidity()) return;
    navigate("/compare", { a: runId, b: other });
  });
  return form;
}

let knownStatus = null;

async function similarStatus(signal) {
  if (knownStatus && knownStatus.enabled) return knownStatus;
  knownStatus = await api.similarStatus({ signal });
  return knownStatus;
}

/** The runs of the same agent closest to this one, or why there are none. */
export function similarRunsPanel(run, { signal } = {}) {
  const body = h("div", { class: "similar-body" }, loadingState("Looking for similar runs…"));
  const panel = h(
    "section",
    { class: "panel similar-panel", "aria-labelledby": "similar-title" },
    h("div", { class: "panel-head" }, h("h2", { id: "similar-title" }, "Similar runs"), compareForm(run.id)),
    body,
  );
  (async () => {
    try {
      // Asked first so that a server without the feature causes no failed request.
      const status = await similarStatus(signal);
      if (!status.enabled) {
        body.replaceChildren(h("p", { class: "muted similar-message similar-off" }, status.message));
        return;
      }
      const answer = await api.similar(run.id, { limit: SIMILAR_SHOWN }, { signal });
      if (answer.state !== "ready") {
        body.replaceChildren(h("p", { class: "muted similar-message" }, answer.message));
        return;
      }
      if (!answer.items.length) {
        body.replaceChildren(h("p", { class: "muted similar-message" }, `No other run of ${run.agent.name} is embedded yet.`));
        return;
      }
      body.replaceChildren(
        h("ol", { class: "similar-list" }, answer.items.map((item) => similarRow(run.id, item))),
        h("p", { class: "hint muted" }, `By what the runs did and said, among ${run.agent.name}'s runs.`),
      );
    } catch (error) {
      if (isAbort(error)) return;
      body.replaceChildren(
        h("p", { class: error.status === 501 ? "muted similar-message similar-off" : "notice notice-error" }, error.message),
      );
    }
  })();
  return panel;
}
