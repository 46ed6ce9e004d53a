// The API key the viewer sends when the server requires one. Kept for the browser tab
// (sessionStorage) unless the person asks to be remembered on this device (localStorage).

const KEY = "agentguide.apiKey";
const PROJECT = "agentguide.project";

function stores() {
  return [window.sessionStorage, window.localStorage];
}

export function apiKey() {
  for (const store of stores()) {
    const key = store.getItem(KEY);
    if (key) return key;
  }
  return null;
}

export function projectName() {
  for (const store of stores()) {
    const name = store.getItem(PROJECT);
    if (name) return name;
  }
  return null;
}

export function saveKey(key, project, remember) {
  forgetKey();
  const store = remember ? window.localStorage : window.sessionStorage;
  store.setItem(KEY, key);
  if (project) store.setItem(PROJECT, project);
}

export function forgetKey() {
  for (const store of stores()) {
    store.removeItem(KEY);
    store.removeItem(PROJECT);
  }
}
