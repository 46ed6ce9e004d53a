// Reading GenAI message lists (gen_ai.input.messages and the like) for short previews.

function partText(part) {
  if (!part || typeof part !== "object") return "";
  if (typeof part.content === "string") return part.content;
  if (typeof part.text === "string") return part.text;
  return "";
}

/** The text a person would recognise in a run's input: the last user message, else the raw text. */
export function previewText(value) {
  if (!value) return "";
  let parsed;
  try {
    parsed = JSON.parse(value);
  } catch {
    return value;
  }
  if (typeof parsed === "string") return parsed;
  if (Array.isArray(parsed)) {
    const users = parsed.filter((message) => message && message.role === "user");
    const message = users.length ? users[users.length - 1] : parsed[parsed.length - 1];
    if (message && Array.isArray(message.parts)) {
      const text = message.parts.map(partText).filter(Boolean).join(" ");
      if (text) return text;
    }
    if (message && typeof message.content === "string") return message.content;
  }
  return value;
}
