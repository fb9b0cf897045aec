// Status line of the msem_nb panel (anywidget front end).
//
// Traits: `state` ("idle", "fitting", "ok", "warn", "error"), `message`
// (one line) and `detail` (several lines, e.g. a syntax error with a caret
// under the offending token). All text goes in through textContent.

const STYLE = `
.msem-status{font:13px/1.4 var(--jp-ui-font-family,sans-serif);padding:4px 8px;border-radius:4px;
  border:1px solid #ddd;background:#fafafa;margin:2px 0 6px}
.msem-status .msem-dot{display:inline-block;width:10px;height:10px;border-radius:50%;
  margin-right:6px;vertical-align:-1px;background:#999}
.msem-status[data-state=fitting] .msem-dot{background:#4c78a8;animation:msem-pulse 1s infinite}
.msem-status[data-state=ok] .msem-dot{background:#3c9a3c}
.msem-status[data-state=warn] .msem-dot{background:#e0a000}
.msem-status[data-state=error]{border-color:#d9a0a0;background:#fff4f4}
.msem-status[data-state=error] .msem-dot{background:#c03030}
.msem-status pre{margin:4px 0 0;font:12px/1.35 var(--jp-code-font-family,monospace);
  white-space:pre-wrap;color:#7a1f1f}
.msem-status pre:empty{display:none}
@keyframes msem-pulse{50%{opacity:.3}}
`;

const STATES = new Set(["idle", "fitting", "ok", "warn", "error"]);

/** The state to show; anything unknown is shown as idle. */
export function normalState(state) {
  return STATES.has(state) ? state : "idle";
}

/** Text read out by screen readers for a state. */
export function stateLabel(state) {
  return { idle: "Idle", fitting: "Fitting", ok: "Fitted", warn: "Warning", error: "Error" }[
    normalState(state)];
}

export function draw(doc, root, state, message, detail) {
  let box = root.querySelector(".msem-status");
  if (!box) {
    const style = doc.createElement("style");
    style.textContent = STYLE;
    box = doc.createElement("div");
    box.className = "msem-status";
    box.setAttribute("role", "status");
    const dot = doc.createElement("span");
    dot.className = "msem-dot";
    const msg = doc.createElement("span");
    msg.className = "msem-message";
    const pre = doc.createElement("pre");
    pre.className = "msem-detail";
    box.append(dot, msg, pre);
    root.replaceChildren(style, box);
  }
  const st = normalState(state);
  box.dataset.state = st;
  box.querySelector(".msem-dot").title = stateLabel(st);
  box.querySelector(".msem-message").textContent = message || "";
  box.querySelector(".msem-detail").textContent = detail || "";
}

function render({ model, el }) {
  const redraw = () =>
    draw(el.ownerDocument, el, model.get("state"), model.get("message"), model.get("detail"));
  redraw();
  for (const t of ["state", "message", "detail"]) model.on(`change:${t}`, redraw);
  return () => {
    for (const t of ["state", "message", "detail"]) model.off(`change:${t}`, redraw);
  };
}

export default { render };
