// Asks for an API key when the server requires one, checks it, and keeps it.

import { authStatus } from "../api.js";
import { saveKey } from "../credentials.js";
import { h, uniqueId } from "../dom.js";

const READ_SCOPES = new Set(["read", "admin"]);

export function mountSignIn(container, { reason, onSignedIn }) {
  const keyId = uniqueId("api-key");
  const rememberId = uniqueId("remember");
  const input = h("input", {
    id: keyId,
    name: "api_key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  const remember = h("input", { id: rememberId, type: "checkbox" });
  const problem = h("p", { class: "notice notice-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "button button-primary" }, "Continue");
  const form = h(
    "form",
    { class: "sign-in panel", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "An API key is needed"),
    h(
      "p",
      { class: "muted" },
      "This AgentGuide server answers only requests with an API key. Paste a key with the read or ",
      "admin scope (",
      h("code", null, "agentguide keys create --scope read"),
      "). The viewer shows the runs of the key's project.",
    ),
    reason ? h("p", { class: "muted" }, `The server said: ${reason}`) : null,
    h("div", { class: "field" }, h("label", { for: keyId }, "API key"), input),
    h(
      "div",
      { class: "field-check" },
      remember,
      h("label", { for: rememberId }, "Remember on this device (otherwise, for this tab only)"),
    ),
    problem,
    h("div", { class: "filter-actions" }, submit),
  );

  function fail(message) {
    problem.textContent = message;
    problem.hidden = false;
    submit.disabled = false;
    input.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    submit.disabled = true;
    problem.hidden = true;
    let status;
    try {
      status = await authStatus(key);
    } catch (error) {
      fail(`The server cannot check the key: ${error.message}`);
      return;
    }
    if (!status.auth_required) {
      onSignedIn();
    } else if (status.key_valid !== true) {
      fail("This key is not valid: it is unknown or was revoked.");
    } else if (!READ_SCOPES.has(status.scope)) {
      fail(`This key has the ${status.scope} scope. The viewer needs a key with the read or admin scope.`);
    } else {
      saveKey(key, status.project, remember.checked);
      onSignedIn();
    }
  });

  container.append(h("section", { class: "page page-sign-in" }, form));
  input.focus();
  return { destroy() {} };
}
