// Search on the runs page: attribute filters as removable chips (in the URL as
// attr.<key>=<condition>, docs/search.md), a form to add one, and a run's match with the
// searched words highlighted.

import { h, uniqueId } from "./dom.js";

export const ATTRIBUTE_PREFIX = "attr.";

/** The attr.<key> parameters of a URL's query, as [name, value] pairs. */
export function attributeParams(params) {
  const found = [];
  for (const [name, value] of params.entries()) {
    if (name.startsWith(ATTRIBUTE_PREFIX) && name.length > ATTRIBUTE_PREFIX.length && value) {
      found.push([name, value]);
    }
  }
  return found;
}

function conditionText(value) {
  if (value === "*") return "exists";
  const numeric = /^(gte|gt|lte|lt):(.*)$/.exec(value);
  if (numeric) {
    const sign = { gt: ">", gte: "≥", lt: "<", lte: "≤" }[numeric[1]];
    return `${sign} ${numeric[2]}`;
  }
  return `= ${value.startsWith("eq:") ? value.slice(3) : value}`;
}

/** The chips of the attribute filters; onRemove(name) when one's × is pressed. */
export function attributeChips(filters, onRemove) {
  const names = Object.keys(filters).filter((name) => name.startsWith(ATTRIBUTE_PREFIX));
  if (!names.length) return null;
  return h(
    "ul",
    { class: "attribute-chips", "aria-label": "Attribute filters" },
    names.map((name) => {
      const key = name.slice(ATTRIBUTE_PREFIX.length);
      const text = `${key} ${conditionText(filters[name])}`;
      const remove = h(
        "button",
        { type: "button", class: "chip-remove", "aria-label": `Remove the filter ${text}`, title: "Remove" },
        "×",
      );
      remove.addEventListener("click", () => onRemove(name));
      return h(
        "li",
        { class: "attribute-chip", dataset: { param: name } },
        h("span", { class: "chip-key mono" }, key),
        " ",
        h("span", { class: "chip-condition" }, conditionText(filters[name])),
        remove,
      );
    }),
  );
}

/** A small form adding an attribute filter; onAdd(name, value). */
export function attributeAdder(onAdd) {
  const keyId = uniqueId("attr-key");
  const valueId = uniqueId("attr-value");
  const key = h("input", {
    id: keyId,
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "e.g. deployment.environment",
  });
  const value = h("input", {
    id: valueId,
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "value, * (exists), gt:5, lte:0.5",
    title: "a value; * for 'exists'; gt:, gte:, lt:, lte: and a number",
  });
  const form = h(
    "form",
    { class: "attribute-adder", "aria-label": "Add an attribute filter" },
    h("div", { class: "field" }, h("label", { for: keyId }, "Attribute"), key),
    h("div", { class: "field" }, h("label", { for: valueId }, "Condition"), value),
    h("button", { type: "submit", class: "button" }, "Add filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = key.value.trim();
    if (!name) {
      key.focus();
      return;
    }
    onAdd(ATTRIBUTE_PREFIX + name, value.value.trim() || "*");
  });
  return form;
}

const FIELD_NAMES = { input: "input", output: "output", error: "error" };

/** Where a run's searched words were found: the step and the snippet, matches marked. */
export function matchSnippet(match) {
  if (!match || !match.fragments.length) return null;
  const where = [match.name, FIELD_NAMES[match.field] || match.field].filter(Boolean).join(" · ");
  return h(
    "div",
    { class: "run-match", dataset: { stepId: match.step_id || "" } },
    where ? h("span", { class: "match-where" }, where) : null,
    h(
      "span",
      { class: "match-text" },
      match.fragments.map((fragment) => (fragment.match ? h("mark", null, fragment.text) : fragment.text)),
    ),
  );
}
