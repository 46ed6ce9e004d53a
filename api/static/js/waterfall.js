// The step waterfall of a run: a virtualised tree of rows, one bar per step positioned by its
// start and length. Only the rows in view exist in the DOM, so a run of tens of thousands of
// steps scrolls as smoothly as a run of ten. Nested runs are loaded when first expanded.

import { kindClass } from "./components.js";
import { h } from "./dom.js";
import { formatAxisDuration, formatCost, formatDuration, parseTime } from "./format.js";

export const ROW_HEIGHT = 30;
const OVERSCAN = 12;
const INDENT_PX = 14;
const MAX_INDENT_LEVELS = 24;
const EMPTY = Object.freeze([]);

/** The timeline's column-wise steps as one object per step. */
function stepsFromColumns(columns) {
  const steps = new Array(columns.count);
  for (let i = 0; i < columns.count; i += 1) {
    steps[i] = {
      index: columns.index[i],
      kind: columns.kind[i],
      name: columns.name[i],
      status: columns.status[i],
      offset_ms: columns.offset_ms[i],
      duration_ms: columns.duration_ms[i],
      parent_index: columns.parent_index[i],
      child_run_id: columns.child_run_id[i],
      error_type: columns.error_type[i],
      cost: columns.cost ? columns.cost[i] : null,
    };
  }
  return steps;
}

/** One run's timeline, indexed for the tree: children of each step by position. */
export class RunNode {
  constructor(timeline, rootStartMs) {
    this.id = timeline.id;
    this.timeline = timeline;
    this.steps = stepsFromColumns(timeline.steps);
    this.startMs = parseTime(timeline.started_at);
    this.baseMs = this.startMs - rootStartMs;
    const positionOf = new Map();
    this.steps.forEach((step, position) => positionOf.set(step.index, position));
    this.children = new Map();
    this.roots = [];
    this.steps.forEach((step, position) => {
      const parent = step.parent_index === null ? undefined : positionOf.get(step.parent_index);
      if (parent === undefined || parent === position) {
        this.roots.push(position);
      } else {
        let siblings = this.children.get(parent);
        if (!siblings) this.children.set(parent, (siblings = []));
        siblings.push(position);
      }
    });
    this.positionOf = positionOf;
    this.adoptUnreachable();
  }

  /** Steps whose parents form a cycle (malformed input) are shown at the top level too. */
  adoptUnreachable() {
    const reached = new Uint8Array(this.steps.length);
    const stack = [...this.roots];
    while (stack.length) {
      const position = stack.pop();
      if (reached[position]) continue;
      reached[position] = 1;
      for (const child of this.children.get(position) || EMPTY) stack.push(child);
    }
    for (let position = 0; position < this.steps.length; position += 1) {
      if (reached[position]) continue;
      this.roots.push(position);
      const stackOfCycle = [position];
      while (stackOfCycle.length) {
        const next = stackOfCycle.pop();
        if (reached[next]) continue;
        reached[next] = 1;
        for (const child of this.children.get(next) || EMPTY) stackOfCycle.push(child);
      }
    }
  }

  runDurationMs(now) {
    const duration = this.timeline.duration_ms;
    return duration === null ? Math.max(0, now - this.startMs) : duration;
  }
}

/** One visible line of the waterfall: the run itself (position -1) or one of its steps. */
class Row {
  constructor(node, position, depth, hasChildren, expanded, childId, loading) {
    this.node = node;
    this.position = position;
    this.depth = depth;
    this.hasChildren = hasChildren;
    this.expanded = expanded;
    this.childId = childId;
    this.loading = loading;
  }

  get step() {
    return this.position < 0 ? null : this.node.steps[this.position];
  }

  get key() {
    return this.position < 0
      ? `run:${this.node.id}`
      : `${this.node.id}:${this.node.steps[this.position].index}`;
  }
}

function niceStep(raw) {
  if (raw <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 2.5, 5, 10]) if (raw <= factor * power) return factor * power;
  return 10 * power;
}

export class Waterfall {
  /**
   * root: the RunNode of the run shown; loadChildRun(runId) resolves to the RunNode of a nested
   * run; onSelect(row) is called when the selection changes.
   */
  constructor({ root, loadChildRun, onSelect }) {
    this.root = root;
    this.loadChildRun = loadChildRun;
    this.onSelect = onSelect;
    this.nodes = new Map([[root.id, root]]);
    this.loading = new Set();
    this.collapsed = new Set();
    this.rows = [];
    this.selectedKey = null;
    this.totalMs = 1;
    this.pool = [];
    this.frame = 0;
    this.painted = false;

    this.axis = h("div", { class: "wf-axis", "aria-hidden": "true" });
    this.grid = h("div", { class: "wf-grid", "aria-hidden": "true" });
    this.spacer = h("div", { class: "wf-spacer" }, this.grid);
    this.viewport = h(
      "div",
      { class: "wf-viewport", role: "tree", tabindex: "0", "aria-label": "Steps of the run, as a timeline" },
      this.spacer,
    );
    this.element = h("div", { class: "waterfall" }, this.axis, this.viewport);

    this.viewport.addEventListener("scroll", () => this.scheduleRender());
    this.viewport.addEventListener("keydown", (event) => this.onKey(event));
    this.viewport.addEventListener("click", (event) => this.onClick(event));
    this.viewport.addEventListener("dblclick", (event) => {
      const row = this.rowAt(event);
      if (row) this.toggle(row.key);
    });
    this.resizeObserver = new ResizeObserver(() => this.scheduleRender());
    this.resizeObserver.observe(this.viewport);
    this.rebuild();
  }

  destroy() {
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
  }

  // ---- the tree, flattened into rows ----

  rebuild() {
    const rows = [];
    const root = this.root;
    const shownRuns = new Set([root.id]);
    for (const node of this.nodes.values()) node.rowOf = null;
    const rootExpanded = root.steps.length > 0 && !this.collapsed.has(`run:${root.id}`);
    rows.push(new Row(root, -1, 0, root.steps.length > 0, rootExpanded, null, false));
    const stack = [];
    const pushAll = (node, positions, depth) => {
      if (!node.rowOf) node.rowOf = new Int32Array(node.steps.length).fill(-1);
      for (let i = positions.length - 1; i >= 0; i -= 1) stack.push(node, positions[i], depth);
    };
    if (rootExpanded) pushAll(root, root.roots, 1);
    while (stack.length) {
      const depth = stack.pop();
      const position = stack.pop();
      const node = stack.pop();
      const step = node.steps[position];
      const within = node.children.get(position) || EMPTY;
      const childId = step.child_run_id && step.child_run_id !== node.id ? step.child_run_id : null;
      const hasChildren = within.length > 0 || childId !== null;
      let expanded = false;
      let childRun = null;
      if (hasChildren && !this.collapsed.has(`${node.id}:${step.index}`)) {
        childRun = childId && !shownRuns.has(childId) ? this.nodes.get(childId) || null : null;
        expanded = within.length > 0 || childRun !== null;
      }
      node.rowOf[position] = rows.length;
      rows.push(
        new Row(
          node,
          position,
          depth,
          hasChildren,
          expanded,
          childId,
          childId !== null && this.loading.has(childId),
        ),
      );
      if (!expanded) continue;
      pushAll(node, within, depth + 1);
      if (childRun) {
        shownRuns.add(childRun.id);
        pushAll(childRun, childRun.roots, depth + 1);
      }
    }
    this.rows = rows;
    this.measure();
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    this.drawAxis();
    this.scheduleRender();
  }

  /** The position of the row with `key` in the rows, or undefined when it is not shown. */
  indexOf(key) {
    if (!key) return undefined;
    if (key.startsWith("run:")) return key.slice(4) === this.root.id ? 0 : undefined;
    const separator = key.lastIndexOf(":");
    const node = this.nodes.get(key.slice(0, separator));
    if (!node || !node.rowOf) return undefined;
    const position = node.positionOf.get(Number(key.slice(separator + 1)));
    if (position === undefined) return undefined;
    const index = node.rowOf[position];
    return index < 0 ? undefined : index;
  }

  measure() {
    const now = Date.now();
    let total = this.root.runDurationMs(now);
    for (const node of this.nodes.values()) {
      const runEnd = node.baseMs + node.runDurationMs(now);
      if (runEnd > total) total = runEnd;
      for (const step of node.steps) {
        const end = node.baseMs + step.offset_ms + (step.duration_ms ?? 0);
        if (end > total) total = end;
      }
    }
    this.totalMs = Math.max(total, 0.001);
  }

  timing(row, now) {
    const node = row.node;
    if (!row.step)
      return {
        start: node.baseMs,
        duration: node.runDurationMs(now),
        running: node.timeline.duration_ms === null,
      };
    const start = node.baseMs + row.step.offset_ms;
    const running = row.step.duration_ms === null;
    const duration = running ? Math.max(0, now - node.startMs - row.step.offset_ms) : row.step.duration_ms;
    return { start, duration, running };
  }

  // ---- rendering ----

  drawAxis() {
    const step = niceStep(this.totalMs / 5);
    const ticks = [];
    for (let t = 0; t <= this.totalMs + 1e-9; t += step) ticks.push(t);
    const label = h("div", { class: "wf-axis-label" }, `${this.rows.length.toLocaleString()} rows`);
    const track = h("div", { class: "wf-axis-track" });
    this.grid.replaceChildren();
    for (const t of ticks) {
      const left = `${(t / this.totalMs) * 100}%`;
      track.append(h("span", { class: "wf-tick", style: { left } }, formatAxisDuration(t)));
      this.grid.append(h("span", { class: "wf-gridline", style: { left } }));
    }
    this.axis.replaceChildren(label, track);
  }

  scheduleRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  makeRowElement() {
    const toggle = h("span", { class: "wf-toggle", "aria-hidden": "true" });
    const dot = h("span", { class: "kind-dot", "aria-hidden": "true" });
    const name = h("span", { class: "wf-name" });
    const mark = h("span", { class: "wf-mark" });
    const label = h("div", { class: "wf-label" }, toggle, dot, name, mark);
    const bar = h("div", { class: "wf-bar" });
    const duration = h("span", { class: "wf-duration" });
    const track = h("div", { class: "wf-track" }, bar, duration);
    const element = h("div", { class: "wf-row", role: "treeitem" }, label, track);
    element.parts = { toggle, dot, name, mark, label, bar, duration };
    return element;
  }

  render() {
    const rows = this.rows;
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const needed = last - first;
    while (this.pool.length < needed) {
      const element = this.makeRowElement();
      this.pool.push(element);
      this.spacer.append(element);
    }
    const now = Date.now();
    for (let i = 0; i < this.pool.length; i += 1) {
      const element = this.pool[i];
      if (i >= needed) {
        element.hidden = true;
        element.removeAttribute("id");
        continue;
      }
      element.hidden = false;
      this.fillRow(element, rows[first + i], first + i, now);
    }
    if (!this.painted && needed > 0) {
      this.painted = true;
      // Read by bench/bench_viewer.py: when the first rows of the waterfall were in the DOM.
      performance.mark("agentguide:waterfall-rows");
    }
    const selected = this.indexOf(this.selectedKey);
    if (selected !== undefined && selected >= first && selected < last) {
      this.viewport.setAttribute("aria-activedescendant", `wf-row-${selected}`);
    } else {
      this.viewport.removeAttribute("aria-activedescendant");
    }
  }

  fillRow(element, row, index, now) {
    const { toggle, dot, name, mark, label, bar, duration } = element.parts;
    const step = row.step;
    const kind = step ? step.kind : "agent";
    const status = step ? step.status : this.root.timeline.status;
    const key = row.key;
    const selected = key === this.selectedKey;
    element.id = `wf-row-${index}`;
    element.dataset.key = key;
    element.dataset.index = String(index);
    element.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    element.setAttribute("aria-level", String(row.depth + 1));
    element.setAttribute("aria-selected", String(selected));
    if (row.hasChildren) element.setAttribute("aria-expanded", String(row.expanded));
    else element.removeAttribute("aria-expanded");
    element.className = `wf-row status-${status.toLowerCase()}${selected ? " selected" : ""}${step ? "" : " wf-run-row"}`;

    const levels = Math.min(row.depth, MAX_INDENT_LEVELS);
    label.style.paddingLeft = `${6 + levels * INDENT_PX}px`;
    toggle.textContent = row.loading ? "…" : row.hasChildren ? (row.expanded ? "▾" : "▸") : "";
    toggle.classList.toggle("has-children", row.hasChildren);
    dot.className = `kind-dot kind-${kindClass(kind)}`;
    const text = step ? step.name : this.root.timeline.agent.name;
    name.textContent = row.depth > MAX_INDENT_LEVELS ? `[${row.depth}] ${text}` : text;
    name.title = step ? `${step.kind} · ${step.name}` : this.root.timeline.name;
    mark.textContent = status === "FAILED" ? "✕" : "";
    mark.title = status === "FAILED" ? "failed" : "";

    const { start, duration: length, running } = this.timing(row, now);
    const left = Math.max(0, Math.min(1, start / this.totalMs));
    const width = Math.max(0, Math.min(1 - left, length / this.totalMs));
    bar.className = `wf-bar kind-${kindClass(kind)} status-${status.toLowerCase()}${running ? " running" : ""}`;
    bar.style.left = `${left * 100}%`;
    bar.style.width = `${width * 100}%`;
    const errorType =
      status === "FAILED"
        ? step
          ? step.error_type
          : this.root.timeline.error && this.root.timeline.error.type
        : null;
    duration.textContent = `${formatDuration(length)}${running ? "…" : ""}${this.costLabel(row)}${errorType ? ` · ${errorType}` : ""}`;
    duration.classList.toggle("is-error", Boolean(errorType));
    // Beside the bar where there is room: after it, else before it, else inside its end.
    const after = left + width;
    const place = after <= 0.72 ? "after" : left >= 0.3 ? "before" : "inside";
    duration.dataset.place = place;
    duration.style.left = place === "after" ? `calc(${after * 100}% + 6px)` : "";
    duration.style.right =
      place === "before"
        ? `calc(${(1 - left) * 100}% + 6px)`
        : place === "inside"
          ? `calc(${(1 - after) * 100}% + 6px)`
          : "";
  }

  /** " · $0.0012" for a priced LLM call (or a run's own calls), " · unpriced" for one that is not. */
  costLabel(row) {
    if (!row.step) {
      const run = this.root.timeline;
      if (run.cost !== null && run.cost !== undefined) return ` · ${formatCost(run.cost)}`;
      return run.unpriced_llm_calls ? " · unpriced" : "";
    }
    if (row.step.kind !== "llm" || row.step.status === "RUNNING") return "";
    return row.step.cost === null ? " · unpriced" : ` · ${formatCost(row.step.cost)}`;
  }

  // ---- selection and expansion ----

  rowAt(event) {
    const element = event.target.closest(".wf-row");
    return element ? this.rows[Number(element.dataset.index)] : null;
  }

  onClick(event) {
    const row = this.rowAt(event);
    if (!row) return;
    if (event.target.closest(".wf-toggle") && row.hasChildren) this.toggle(row.key);
    this.select(row.key, { jump: false });
  }

  /** Select a row; `jump` centres it (a far move), otherwise it is scrolled just into view. */
  select(key, { scroll = true, notify = true, jump = true } = {}) {
    if (this.indexOf(key) === undefined) return false;
    this.selectedKey = key;
    if (scroll) this.scrollToKey(key, jump);
    this.scheduleRender();
    if (notify && this.onSelect) this.onSelect(this.rows[this.indexOf(key)]);
    return true;
  }

  selectedRow() {
    const index = this.indexOf(this.selectedKey);
    return index === undefined ? null : this.rows[index];
  }

  scrollToKey(key, jump) {
    const index = this.indexOf(key);
    if (index === undefined) return;
    const top = index * ROW_HEIGHT;
    const view = this.viewport;
    const visible = top >= view.scrollTop && top + ROW_HEIGHT <= view.scrollTop + view.clientHeight;
    if (jump && !visible) view.scrollTop = Math.max(0, top - Math.floor(view.clientHeight / 3));
    else if (top < view.scrollTop) view.scrollTop = top;
    else if (top + ROW_HEIGHT > view.scrollTop + view.clientHeight) {
      view.scrollTop = top + ROW_HEIGHT - view.clientHeight + ROW_HEIGHT * 2;
    }
  }

  async expand(key) {
    const index = this.indexOf(key);
    if (index === undefined) return;
    const row = this.rows[index];
    this.collapsed.delete(key);
    if (row.childId && !this.nodes.has(row.childId) && !this.loading.has(row.childId)) {
      this.loading.add(row.childId);
      this.rebuild();
      try {
        const node = await this.loadChildRun(row.childId);
        this.nodes.set(node.id, node);
      } finally {
        this.loading.delete(row.childId);
      }
    }
    this.rebuild();
  }

  collapse(key) {
    this.collapsed.add(key);
    this.rebuild();
  }

  toggle(key) {
    const row = this.rows[this.indexOf(key)];
    if (!row || !row.hasChildren) return;
    if (row.expanded) this.collapse(key);
    else this.expand(key);
  }

  moveBy(delta) {
    const current = this.indexOf(this.selectedKey) ?? -1;
    const next = Math.max(0, Math.min(this.rows.length - 1, current + delta));
    this.select(this.rows[next].key, { jump: false });
  }

  /** The next failed row after the selection, wrapping around; false when none is shown. */
  selectNextFailure() {
    const start = (this.indexOf(this.selectedKey) ?? -1) + 1;
    const count = this.rows.length;
    for (let offset = 0; offset < count; offset += 1) {
      const row = this.rows[(start + offset) % count];
      if (row.step && row.step.status === "FAILED") return this.select(row.key);
    }
    return false;
  }

  onKey(event) {
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_HEIGHT) - 1);
    const row = this.selectedRow();
    const keys = {
      ArrowDown: () => this.moveBy(1),
      ArrowUp: () => this.moveBy(-1),
      PageDown: () => this.moveBy(page),
      PageUp: () => this.moveBy(-page),
      Home: () => this.moveBy(-this.rows.length),
      End: () => this.moveBy(this.rows.length),
      ArrowRight: () => {
        if (!row) return this.moveBy(1);
        if (row.hasChildren && !row.expanded) return this.expand(row.key);
        return this.moveBy(1);
      },
      ArrowLeft: () => {
        if (!row) return undefined;
        if (row.expanded) return this.collapse(row.key);
        const index = this.indexOf(row.key);
        for (let i = index - 1; i >= 0; i -= 1) {
          if (this.rows[i].depth < row.depth) return this.select(this.rows[i].key, { jump: false });
        }
        return undefined;
      },
      Enter: () => row && this.toggle(row.key),
      " ": () => row && this.toggle(row.key),
    };
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    if (!row && event.key !== "ArrowLeft") {
      this.select(this.rows[0].key);
      return;
    }
    action();
  }

  /** Re-measure and redraw: for running runs whose bars grow with the clock. */
  tick() {
    this.measure();
    this.drawAxis();
    this.render();
  }
}
