// The viewer's entry point: picks the view for the URL and swaps it in.

import { clear, h } from "./dom.js";
import { currentRoute } from "./router.js";
import { mountAgents } from "./views/agents.js";
import { mountDashboard } from "./views/dashboard.js";
import { mountRun } from "./views/run.js";
import { mountRuns } from "./views/runs.js";
import { mountTools } from "./views/tools.js";

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
      h("p", null, `There is no view called “${route.view}”. `, h("a", { href: "#/runs" }, "See the runs"), "."),
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

window.addEventListener("hashchange", render);
render();
