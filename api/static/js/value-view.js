// Pretty-printing of span payloads: JSON as a foldable tree, GenAI messages as a conversation,
// long strings and long lists folded behind a button. Everything is rendered as text.

import { copyText, h } from "./dom.js";
import { formatCount } from "./format.js";

const FOLD_CHARS = 280;
const FOLD_LINES = 8;
const FOLD_ITEMS = 40;
const OPEN_DEPTH = 2;
const MAX_DEPTH = 40;

function parseJSON(text) {
  const trimmed = text.trim();
  if (!(trimmed.startsWith("{") || trimmed.startsWith("["))) return undefined;
  try {
    return JSON.parse(trimmed);
  } catch {
    return undefined;
  }
}

/** A string shown in full when short, otherwise its head and a button to show all of it. */
export function foldedText(text, className = "value-string") {
  const lines = text.split("\n");
  const long = text.length > FOLD_CHARS || lines.length > FOLD_LINES;
  const body = h("span", { class: `${className} prewrap` });
  if (!long) {
    body.textContent = text;
    return body;
  }
  const head = lines.length > FOLD_LINES ? lines.slice(0, FOLD_LINES).join("\n") : text;
  body.textContent = head.length > FOLD_CHARS ? head.slice(0, FOLD_CHARS) : head;
  const more = h(
    "button",
    { type: "button", class: "link-button fold-toggle", "aria-expanded": "false" },
    `… show all ${formatCount(text.length)} characters`,
  );
  more.addEventListener("click", () => {
    const expanded = more.getAttribute("aria-expanded") === "true";
    body.textContent = expanded ? (head.length > FOLD_CHARS ? head.slice(0, FOLD_CHARS) : head) : text;
    more.setAttribute("aria-expanded", String(!expanded));
    more.textContent = expanded ? `… show all ${formatCount(text.length)} characters` : "show less";
  });
  return h("span", { class: "folded" }, body, more);
}

function primitive(value) {
  if (value === null) return h("span", { class: "value-null" }, "null");
  switch (typeof value) {
    case "string":
      return foldedText(value);
    case "number":
      return h("span", { class: "value-number" }, String(value));
    case "boolean":
      return h("span", { class: "value-bool" }, String(value));
    default:
      return h("span", null, String(value));
  }
}

function summaryOf(value) {
  if (Array.isArray(value)) return `[ ${value.length} item${value.length === 1 ? "" : "s"} ]`;
  const count = Object.keys(value).length;
  return `{ ${count} key${count === 1 ? "" : "s"} }`;
}

function entriesOf(value) {
  return Array.isArray(value) ? value.map((item, index) => [String(index), item]) : Object.entries(value);
}

function entryList(entries, depth) {
  const list = h("ul", { class: "tree" });
  const shown = entries.slice(0, FOLD_ITEMS);
  for (const [key, item] of shown) list.append(treeEntry(key, item, depth));
  if (entries.length > FOLD_ITEMS) {
    const more = h(
      "button",
      { type: "button", class: "link-button" },
      `show ${formatCount(entries.length - FOLD_ITEMS)} more`,
    );
    const holder = h("li", null, more);
    more.addEventListener("click", () => {
      holder.remove();
      for (const [key, item] of entries.slice(FOLD_ITEMS)) list.append(treeEntry(key, item, depth));
    });
    list.append(holder);
  }
  return list;
}

function treeEntry(key, value, depth) {
  const label = h("span", { class: "tree-key" }, key);
  if (value === null || typeof value !== "object") {
    return h("li", null, label, h("span", { class: "tree-sep" }, ": "), primitive(value));
  }
  const entries = entriesOf(value);
  if (!entries.length)
    return h("li", null, label, ": ", h("span", { class: "value-null" }, Array.isArray(value) ? "[]" : "{}"));
  return h("li", null, jsonBlock(value, depth + 1, label));
}

function jsonBlock(value, depth, label) {
  if (depth > MAX_DEPTH) return h("span", { class: "value-string" }, JSON.stringify(value));
  const details = h(
    "details",
    { class: "tree-node", open: depth <= OPEN_DEPTH },
    h(
      "summary",
      null,
      label || null,
      label ? h("span", { class: "tree-sep" }, ": ") : null,
      h("span", { class: "muted" }, summaryOf(value)),
    ),
  );
  details.append(entryList(entriesOf(value), depth));
  return details;
}

function isMessageList(value) {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((item) => item && typeof item === "object" && typeof item.role === "string")
  );
}

function messagePart(part) {
  if (!part || typeof part !== "object") return h("div", { class: "part" }, primitive(part));
  const type = part.type || "part";
  if ((type === "text" || type === "reasoning") && typeof part.content === "string") {
    return h("div", { class: `part part-${type}` }, foldedText(part.content, "message-text"));
  }
  const title =
    type === "tool_call"
      ? `tool call ${part.name || ""}${part.id ? ` · ${part.id}` : ""}`
      : type === "tool_call_response"
        ? `tool result${part.id ? ` · ${part.id}` : ""}`
        : type;
  const rest = { ...part };
  delete rest.type;
  delete rest.name;
  delete rest.id;
  const payload =
    "arguments" in rest && Object.keys(rest).length === 1
      ? rest.arguments
      : "response" in rest && Object.keys(rest).length === 1
        ? rest.response
        : rest;
  return h(
    "div",
    {
      class: `part part-${type === "tool_call_response" ? "tool-result" : type === "tool_call" ? "tool-call" : "other"}`,
    },
    h("div", { class: "part-title" }, title),
    payload !== null && typeof payload === "object" ? jsonBlock(payload, 1) : primitive(payload),
  );
}

function messageView(messages) {
  return h(
    "ol",
    { class: "messages" },
    messages.map((message) => {
      const { role, parts, content, finish_reason: finish, ...rest } = message;
      const body = Array.isArray(parts)
        ? parts.map(messagePart)
        : typeof content === "string"
          ? [h("div", { class: "part part-text" }, foldedText(content, "message-text"))]
          : [];
      if (content !== undefined && typeof content !== "string") body.push(jsonBlock({ content }, 1));
      if (Object.keys(rest).length) body.push(jsonBlock(rest, 2));
      return h(
        "li",
        { class: `message role-${role.replace(/[^a-z_-]/gi, "")}` },
        h(
          "div",
          { class: "message-role" },
          role,
          finish ? h("span", { class: "muted" }, ` · ${finish}`) : null,
        ),
        body,
      );
    }),
  );
}

/**
 * A payload as the span carried it (usually a string holding JSON). `truncated` says that the
 * stored value was cut for display.
 */
export function valueView(text, { truncated = false, rawLink = null } = {}) {
  if (text === null || text === undefined || text === "") return h("p", { class: "muted" }, "None");
  const parsed = typeof text === "string" ? parseJSON(text) : text;
  let body;
  if (parsed === undefined) body = h("div", { class: "value-text" }, foldedText(String(text)));
  else if (isMessageList(parsed)) body = messageView(parsed);
  else if (parsed !== null && typeof parsed === "object")
    body = h("div", { class: "value-json" }, jsonBlock(parsed, 1));
  else body = h("div", { class: "value-text" }, primitive(parsed));
  const copy = h("button", { type: "button", class: "link-button copy-value" }, "Copy raw");
  copy.addEventListener("click", async () => {
    await copyText(typeof text === "string" ? text : JSON.stringify(text));
    copy.textContent = "Copied";
    setTimeout(() => {
      copy.textContent = "Copy raw";
    }, 1500);
  });
  return h(
    "div",
    { class: "value" },
    body,
    h(
      "div",
      { class: "value-foot" },
      copy,
      truncated
        ? h(
            "span",
            { class: "muted" },
            "Cut for display. ",
            rawLink
              ? h("a", { href: rawLink, target: "_blank", rel: "noopener" }, "The raw span has it all")
              : "The raw span has it all",
            ".",
          )
        : null,
    ),
  );
}
