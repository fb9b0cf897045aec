// Status line of the msem_nb panel (anywidget front end).
//
// Traits: `state` ("idle", "loading", "fitting", "ok", "warn", "error"),
// `message` (one line) and `detail` (several lines, e.g. every warning of a
// fit). All text goes in through textContent.
//
// The status line also watches the kernel: when it restarts or dies (or the
// widget's comm closes), nothing in Python answers the panel any more. The
// line then says so ("disconnected"), and the rest of the panel is made inert
// (no clicks, no focus) and dimmed, so that switches cannot seem to work.

const STYLE = `
.msem-status{font:13px/1.4 var(--jp-ui-font-family,sans-serif);padding:4px 8px;border-radius:4px;
  border:1px solid #ddd;background:#fafafa;margin:2px 0 6px;color:#222}
.msem-status .msem-dot{display:inline-block;width:10px;height:10px;border-radius:50%;
  margin-right:6px;vertical-align:-1px;background:#999}
.msem-status[data-state=fitting] .msem-dot,.msem-status[data-state=loading] .msem-dot{
  background:#4c78a8;animation:msem-pulse 1s infinite}
.msem-status[data-state=ok] .msem-dot{background:#2f8a2f}
.msem-status[data-state=warn]{border-color:#e3c77a;background:#fffaf0}
.msem-status[data-state=warn] .msem-dot{background:#d99a00}
.msem-status[data-state=error]{border-color:#d9a0a0;background:#fff4f4}
.msem-status[data-state=error] .msem-dot{background:#c03030}
.msem-status[data-state=disconnected]{border-color:#999;background:#eee}
.msem-status[data-state=disconnected] .msem-dot{background:#555}
.msem-status .msem-label{font-weight:600;margin-right:4px}
.msem-status pre{margin:4px 0 0;font:12px/1.35 var(--jp-code-font-family,monospace);
  white-space:pre-wrap;color:#5a3b00}
.msem-status[data-state=error] pre{color:#7a1f1f}
.msem-status pre:empty{display:none}
.msem-panel.msem-disconnected .msem-inert{opacity:.45;filter:grayscale(1);pointer-events:none}
@keyframes msem-pulse{50%{opacity:.3}}
`;

const STATES = new Set(["idle", "loading", "fitting", "ok", "warn", "error", "disconnected"]);
const LABELS = { idle: "Idle", loading: "Loading", fitting: "Fitting", ok: "Fitted",
  warn: "Check", error: "Error", disconnected: "Disconnected" };
// kernel states after which this panel's Python side is gone
const GONE = new Set(["restarting", "autorestarting", "dead", "terminating"]);
const LIVE = new Set(["idle", "busy"]);

export const DISCONNECTED_MESSAGE = "Disconnected: the kernel behind this panel was " +
  "restarted or stopped, so the panel no longer responds. Run the cell again for a live panel.";

/** The state to show; anything unknown is shown as idle. */
export function normalState(state) {
  return STATES.has(state) ? state : "idle";
}

/** The word shown (and read out) before the message. */
export function stateLabel(state) {
  return LABELS[normalState(state)];
}

export function draw(doc, root, state, message, detail) {
  let box = root.querySelector(".msem-status");
  if (!box) {
    const style = doc.createElement("style");
    style.textContent = STYLE;
    box = doc.createElement("div");
    box.className = "msem-status";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    const dot = doc.createElement("span");
    dot.className = "msem-dot";
    dot.setAttribute("aria-hidden", "true");
    const label = doc.createElement("span");
    label.className = "msem-label";
    const msg = doc.createElement("span");
    msg.className = "msem-message";
    const pre = doc.createElement("pre");
    pre.className = "msem-detail";
    box.append(dot, label, msg, pre);
    root.replaceChildren(style, box);
  }
  const st = normalState(state);
  box.dataset.state = st;
  box.querySelector(".msem-label").textContent = stateLabel(st) + ":";
  box.querySelector(".msem-message").textContent = message || "";
  box.querySelector(".msem-detail").textContent = detail || "";
}

/**
 * Make the panel that holds `el` inert (or live again): every part of the
 * panel except the status line stops taking clicks and focus.
 */
export function setPanelInert(el, inert) {
  const panel = el.closest ? el.closest(".msem-panel") : null;
  if (!panel) return null;
  panel.classList[inert ? "add" : "remove"]("msem-disconnected");
  for (const child of Array.from(panel.children)) {
    if (child.contains(el)) continue;
    child.classList[inert ? "add" : "remove"]("msem-inert");
    if (inert) child.setAttribute("inert", "");
    else child.removeAttribute("inert");
  }
  return panel;
}

/**
 * Watch the connection behind `model`; calls `onChange(false)` once it is gone.
 * Uses the widget manager's kernel (its status) and the widget's own model
 * (its `comm_live` flag, which ipywidgets clears when the kernel restarts).
 * Returns a function that stops watching.
 */
export function watchConnection(model, onChange) {
  const stops = [];
  let gone = false;
  const lost = () => {
    if (!gone) {
      gone = true;
      onChange(false);
    }
  };
  let wm = null;
  try {
    wm = model.widget_manager || null;
  } catch (e) {
    wm = null;
  }
  const kernel = wm && wm.kernel;
  if (kernel && kernel.statusChanged && kernel.statusChanged.connect) {
    // a restart through the server's API goes straight to "starting": after the kernel
    // was seen running, that is a new kernel too
    let running = LIVE.has(kernel.status);
    const onStatus = (_k, status) => {
      if (GONE.has(status) || (status === "starting" && running)) lost();
      if (LIVE.has(status)) running = true;
    };
    kernel.statusChanged.connect(onStatus);
    stops.push(() => kernel.statusChanged.disconnect(onStatus));
    if (GONE.has(kernel.status)) lost();
  }
  if (kernel && kernel.iopubMessage && kernel.iopubMessage.connect) {
    // Every message a kernel process publishes carries that process's session id. A
    // restart through the server's API can reach the page with no "restarting" or
    // "starting" status (the new process's first status can be published before the
    // server listens to it), but the new process's later messages (the server's
    // kernel_info nudges) carry a new session id: that is a new kernel too.
    let session = null;
    const onIopub = (_k, msg) => {
      const s = msg && msg.header && msg.header.session;
      if (!s) return;
      if (session === null) session = s;
      else if (s !== session) lost();
    };
    kernel.iopubMessage.connect(onIopub);
    stops.push(() => kernel.iopubMessage.disconnect(onIopub));
  }
  if (kernel && kernel.disposed && kernel.disposed.connect) {
    kernel.disposed.connect(lost);
    stops.push(() => kernel.disposed.disconnect(lost));
  }
  const id = model.get("own_id");
  if (wm && id && typeof wm.get_model === "function") {
    Promise.resolve(wm.get_model(id)).then((real) => {
      if (!real) return;
      const check = () => { if (real.comm_live === false) lost(); };
      real.on("comm_live_update", check);
      stops.push(() => real.off("comm_live_update", check));
      check();
    }, () => {});
  }
  // the kernel can also be swapped for another one (Kernel > Change kernel)
  if (wm && kernel) {
    const timer = setInterval(() => { if (wm.kernel !== kernel) lost(); }, 2000);
    stops.push(() => clearInterval(timer));
  }
  return () => stops.forEach((f) => f());
}

function render({ model, el }) {
  let connected = true;
  const redraw = () => {
    if (connected) {
      draw(el.ownerDocument, el, model.get("state"), model.get("message"), model.get("detail"));
    } else {
      draw(el.ownerDocument, el, "disconnected", DISCONNECTED_MESSAGE, "");
    }
  };
  redraw();
  const traits = ["state", "message", "detail"];
  for (const t of traits) model.on(`change:${t}`, redraw);
  const stop = watchConnection(model, (live) => {
    connected = live;
    setPanelInert(el, !live);
    redraw();
  });
  return () => {
    stop();
    for (const t of traits) model.off(`change:${t}`, redraw);
  };
}

export default { render };
