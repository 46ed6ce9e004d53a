// Hash routing: "#/runs/<id>?step=3" is {view: "run", parts: ["runs", "<id>"], params}.

export function currentRoute() {
  const hash = location.hash.replace(/^#/, "") || "/runs";
  const [path, query = ""] = hash.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  let view = parts[0] || "runs";
  if (view === "runs" && parts.length > 1) view = "run";
  return { view, parts, params };
}

export function href(path, params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "" && value !== false) {
      search.set(key, String(value));
    }
  }
  const query = search.toString();
  return `#${path}${query ? `?${query}` : ""}`;
}

/** Go to a view: a new history entry, and the hashchange handler renders it. */
export function navigate(path, params) {
  location.hash = href(path, params).slice(1);
}

/** Change the current URL (filters of the shown view) without rendering anew. */
export function replaceParams(path, params) {
  history.replaceState(history.state, "", href(path, params));
}
