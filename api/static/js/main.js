// The viewer's entry point: picks the view for the URL and swaps it in.

import { prefetch } from "./api.js";
import { currentRoute } from "./router.js";

// A large run's timeline is the slowest request: start it before the views' code has loaded.
const first = currentRoute();
if (first.view === "run" && /^[0-9a-f]{48}$/i.test(first.parts[1] || "")) {
  prefetch(`/v1/runs/${first.parts[1].toLowerCase()}/timeline`);
}

const [{ clear, h }, { mountAgents }, { mountDashboard }, { mountRun }, { mountRuns }, { mountTools }] =
  await Promise.all([
    import("./dom.js"),
    import("./views/agents.js"),
    import("./views/dashboard.js"),
    import("./views/run.js"),
    import("./views/runs.js"),
    import("./views/tools.js"),
  ]);

const VIEWS = {
  runs: { mount: mountRuns, nav: "runs", title: "Runs" },
  run: { mount: mountRun, nav: "runs", title: "Run" },
  dashboard: { mount: mountDashboard, nav: "dashboard", title: "Dashboard" },
  agents: { mount: mountAgents, nav: "agents", title: "Agents" },
  tools: { mount: mountTools, nav: "tools", title: "Tools" },
};

const main = document.getElementById("main");
let active = null; // {name, key, instance}

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

function render() {
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
render();
