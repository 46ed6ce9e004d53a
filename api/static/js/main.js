// The viewer's entry point: picks the view for the URL and swaps it in.

import { UNAUTHORIZED_EVENT, prefetch } from "./api.js";
import { apiKey, forgetKey, projectName } from "./credentials.js";
import { currentRoute } from "./router.js";

// Refusals can arrive before the views' code has loaded: keep the first until it has.
let refusal = null;
let onRefusal = null;
window.addEventListener(UNAUTHORIZED_EVENT, (event) => {
  if (onRefusal) onRefusal(event.detail);
  else refusal = refusal || event.detail;
});

// A large run's timeline is the slowest request: start it before the views' code has loaded.
const first = currentRoute();
if (first.view === "run" && /^[0-9a-f]{48}$/i.test(first.parts[1] || "")) {
  prefetch(`/v1/runs/${first.parts[1].toLowerCase()}/timeline`);
}

const [
  { clear, h },
  { mountAgents },
  { mountDashboard },
  { mountRun },
  { mountRuns },
  { mountSignIn },
  { mountTools },
  { mountFailures },
  { mountCompare },
  { mountSessions },
  { mountUsers },
] = await Promise.all([
  import("./dom.js"),
  import("./views/agents.js"),
  import("./views/dashboard.js"),
  import("./views/run.js"),
  import("./views/runs.js"),
  import("./views/sign-in.js"),
  import("./views/tools.js"),
  import("./views/failures.js"),
  import("./views/compare.js"),
  import("./views/sessions.js"),
  import("./views/users.js"),
]);

const VIEWS = {
  runs: { mount: mountRuns, nav: "runs", title: "Runs" },
  run: { mount: mountRun, nav: "runs", title: "Run" },
  dashboard: { mount: mountDashboard, nav: "dashboard", title: "Dashboard" },
  agents: { mount: mountAgents, nav: "agents", title: "Agents" },
  tools: { mount: mountTools, nav: "tools", title: "Tools" },
  failures: { mount: mountFailures, nav: "failures", title: "Failures" },
  compare: { mount: mountCompare, nav: "runs", title: "Compare runs" },
  sessions: { mount: mountSessions, nav: "sessions", title: "Sessions" },
  users: { mount: mountUsers, nav: "users", title: "Users" },
};

const main = document.getElementById("main");
const session = document.getElementById("session");
let active = null; // {name, key, instance}
let signingIn = false;

function highlightNav(name) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function notFound(container, route) {
  container.append(
    h(
      "section",
      { class: "page" },
      h("h1", null, "Page not found"),
      h(
        "p",
        null,
        `There is no view called “${route.view}”. `,
        h("a", { href: "#/runs" }, "See the runs"),
        ".",
      ),
    ),
  );
  return { destroy() {} };
}

/** The project and a way to forget the key, in the top bar, while a key is kept. */
function showSession() {
  if (!apiKey()) {
    session.replaceChildren();
    return;
  }
  const forget = h("button", { type: "button", class: "link-button" }, "Forget key");
  forget.addEventListener("click", () => {
    forgetKey();
    showSession();
    if (active) active.instance.destroy();
    active = null;
    render();
  });
  const project = projectName();
  session.replaceChildren(
    project ? h("span", { class: "tag", title: "the key's project" }, project) : "",
    forget,
  );
}

function signIn(detail) {
  if (signingIn) return;
  signingIn = true;
  if (active) active.instance.destroy();
  active = null;
  clear(main);
  highlightNav(null);
  document.title = "API key · AgentGuide";
  // A refused kept key is dropped, so that the next one starts afresh; the reason is shown.
  const refusedKey = Boolean(apiKey());
  if (refusedKey) forgetKey();
  showSession();
  mountSignIn(main, {
    reason: refusedKey && detail ? detail.message : null,
    onSignedIn: () => {
      signingIn = false;
      showSession();
      render();
    },
  });
}

function render() {
  if (signingIn) return;
  const route = currentRoute();
  const view = VIEWS[route.view];
  // A run view stays mounted while only its selection (the query string) changes.
  const key = route.view === "run" ? `run:${route.parts[1]}` : route.view;
  if (active && active.key === key && active.instance.update) {
    active.instance.update(route);
    return;
  }
  if (active) active.instance.destroy();
  clear(main);
  highlightNav(view ? view.nav : null);
  document.title = view ? `${view.title} · AgentGuide` : "AgentGuide";
  const instance = view ? view.mount(main, route) : notFound(main, route);
  active = { key, instance };
}

// The skip link must not change the hash: that would be a route.
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", render);
showSession();
onRefusal = signIn;
if (refusal) signIn(refusal);
else render();
