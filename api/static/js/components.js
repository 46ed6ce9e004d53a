// Small pieces shared by the views: badges, form controls, notices.

import { copyText, h, uniqueId } from "./dom.js";
import { formatPercent } from "./format.js";

export const RUN_STATUSES = ["RUNNING", "SUCCESS", "FAILED", "CANCELLED", "PENDING"];

const STATUS_LABELS = {
  RUNNING: "Running",
  SUCCESS: "Success",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
  PENDING: "Pending",
};

export function statusBadge(status) {
  const label = STATUS_LABELS[status] || status;
  return h(
    "span",
    { class: `badge status-${String(status).toLowerCase()}`, dataset: { status } },
    status === "RUNNING" ? h("span", { class: "spinner", "aria-hidden": "true" }) : null,
    label,
  );
}

export function kindChip(kind) {
  return h("span", { class: `kind-chip kind-${kindClass(kind)}` }, kind);
}

const KNOWN_KINDS = new Set([
  "llm",
  "tool",
  "agent",
  "retriever",
  "embedding",
  "reranker",
  "guardrail",
  "evaluator",
  "memory",
  "planning",
  "task",
]);

export function kindClass(kind) {
  return KNOWN_KINDS.has(kind) ? kind : "other";
}

export function pageHeader(title, ...extra) {
  return h("div", { class: "page-header" }, h("h1", null, title), ...extra);
}

export function errorNotice(message) {
  return h("div", { class: "notice notice-error", role: "alert" }, message);
}

export function emptyState(title, ...body) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), ...body);
}

export function loadingState(text = "Loading…") {
  return h(
    "div",
    { class: "loading", role: "status" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    text,
  );
}

/** A labelled <select>; options are [value, label] pairs. */
export function selectField(label, name, options, value, onChange) {
  const id = uniqueId(name);
  const select = h(
    "select",
    { id, name, onchange: (event) => onChange && onChange(event.target.value) },
    options.map(([optionValue, optionLabel]) =>
      h("option", { value: optionValue, selected: optionValue === value }, optionLabel),
    ),
  );
  return { element: h("div", { class: "field" }, h("label", { for: id }, label), select), control: select };
}

/** The agent picker: holds `current` at once, and every known agent once they are loaded. */
export function agentField(current, onChange) {
  const field = selectField(
    "Agent",
    "agent",
    [["", "All agents"], ...(current ? [[current, current]] : [])],
    current || "",
    onChange,
  );
  field.fill = (names) => {
    const known = new Set(Array.from(field.control.options, (option) => option.value));
    const options = names
      .filter((name) => !known.has(name))
      .map((name) => h("option", { value: name }, name));
    field.control.append(...options);
    const sorted = Array.from(field.control.options)
      .slice(1)
      .sort((a, b) => a.value.localeCompare(b.value));
    field.control.append(...sorted);
  };
  field.set = (value) => {
    if (value) field.fill([value]);
    field.control.value = value || "";
  };
  return field;
}

export function textField(label, name, value, attributes = {}) {
  const id = uniqueId(name);
  const input = h("input", {
    id,
    name,
    type: "text",
    value: value || "",
    autocomplete: "off",
    spellcheck: "false",
    ...attributes,
  });
  return { element: h("div", { class: "field" }, h("label", { for: id }, label), input), control: input };
}

export function copyButton(text, label) {
  const button = h(
    "button",
    { type: "button", class: "button button-small", "aria-label": label, title: label },
    "Copy",
  );
  button.addEventListener("click", async () => {
    try {
      await copyText(text);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => {
      button.textContent = "Copy";
    }, 1500);
  });
  return button;
}

/** A "label: value" pair in a description list. */
export function fact(label, ...value) {
  return h("div", { class: "fact" }, h("dt", null, label), h("dd", null, ...value));
}

export function wideFact(label, ...value) {
  const element = fact(label, ...value);
  element.classList.add("fact-wide");
  return element;
}

/** A rate in [0, 1] as a small bar and a percentage. */
export function rateBar(rate) {
  return h(
    "span",
    { class: "rate" },
    h(
      "span",
      { class: "rate-track", "aria-hidden": "true" },
      h("span", { class: "rate-fill", style: { width: `${Math.min(100, rate * 100)}%` } }),
    ),
    h("span", { class: "rate-text" }, formatPercent(rate)),
  );
}
