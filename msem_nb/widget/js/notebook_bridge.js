// The msem_nb panel's link to the notebook it lives in (anywidget front end).
//
// Python sends commands as messages:
//   {type: "insert_cell", request_id, cell}   put `cell` (nbformat JSON) below the
//                                               cell that shows the panel
//   {type: "download", request_id, filename, mime, b64}   save a file
// and gets {type: "result", request_id, ok, how | reason, index} back.
//
// Inserting a cell needs JupyterLab's notebook model, which no public
// anywidget API offers. The widget manager of a JupyterLab (or Notebook 7)
// notebook holds its document context, whose shared model is the notebook
// itself (@jupyter/ydoc): `model.widget_manager.context.model.sharedModel`.
// The panel's cell is found by the widget model id in its outputs, which also
// works when cells outside the view are not in the DOM (windowed notebooks).
// Elsewhere (VS Code, Colab, old Notebook) the reply says why it failed and
// the Export screen offers the code to copy.

const WIDGET_MIME = "application/vnd.jupyter.widget-view+json";

/** Index of the first code cell that displays widget `hostId`, or -1. */
export function hostCellIndex(cells, hostId) {
  if (!hostId) return -1;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (!c || c.cell_type !== "code") continue;
    for (const out of c.outputs || []) {
      const data = out && out.data;
      const view = data && data[WIDGET_MIME];
      if (view && view.model_id === hostId) return i;
    }
  }
  return -1;
}

/** A data: URL holding base64 content. */
export function dataUrl(mime, b64) {
  return `data:${mime || "application/octet-stream"};base64,${b64}`;
}

/** A cell in nbformat 4 JSON, with defaults for what is left out. */
export function normalCell(cell) {
  const type = cell.cell_type || "code";
  const out = { cell_type: type, source: cell.source || "", metadata: cell.metadata || {} };
  if (type === "code") {
    out.outputs = cell.outputs || [];
    out.execution_count = null;
  }
  return out;
}

/** The notebook's shared model reachable from a widget manager, or null. */
export function notebookOf(widgetManager) {
  try {
    const ctx = widgetManager && widgetManager.context;
    const nb = ctx && ctx.model;
    const shared = nb && nb.sharedModel;
    if (shared && typeof shared.insertCell === "function" && shared.cells) {
      return { model: nb, shared };
    }
  } catch (e) {
    // a manager without a document context (e.g. an output-only renderer)
  }
  return null;
}

function cellSummaries(shared) {
  return shared.cells.map((c) => ({
    cell_type: c.cell_type,
    outputs: c.cell_type === "code" && typeof c.getOutputs === "function" ? c.getOutputs() : [],
  }));
}

/** Insert `cell` below the panel's cell; returns {ok, index, how} or {ok: false, reason}. */
export function insertBelowHost(widgetManager, hostId, cell) {
  const nb = notebookOf(widgetManager);
  if (!nb) {
    return { ok: false, reason: "this front end does not let widgets reach the notebook " +
      "(JupyterLab 4 or Notebook 7 does); copy the code from the Export screen instead" };
  }
  const cells = cellSummaries(nb.shared);
  const host = hostCellIndex(cells, hostId);
  const index = host >= 0 ? host + 1 : cells.length;
  nb.shared.insertCell(index, normalCell(cell));
  try {
    // outputs written by the panel (the static report) are ours: show them
    // with scripts, as if the cell had run here
    const m = nb.model.cells && nb.model.cells.get(index);
    if (m && cell.trusted && "trusted" in m) m.trusted = true;
  } catch (e) {
    // trust is cosmetic here; nbconvert ignores it
  }
  return { ok: true, index, how: host >= 0 ? "below the panel" : "at the end of the notebook" };
}

/** Start a download of base64 content through a data: URL link. */
export function download(doc, filename, mime, b64) {
  const a = doc.createElement("a");
  a.href = dataUrl(mime, b64);
  a.download = filename;
  a.style.display = "none";
  doc.body.appendChild(a);
  a.click();
  a.remove();
  return a.href;
}

const links = new Map();   // host id -> {filename, href} of the last download
const viewsByHost = new Map();   // host id -> Set of redraw functions

function initialize({ model }) {
  const onMsg = (msg) => {
    if (!msg || typeof msg !== "object") return;
    const hostId = model.get("host_model_id");
    const reply = (r) => model.send(Object.assign({ type: "result", request_id: msg.request_id }, r));
    try {
      if (msg.type === "insert_cell") {
        reply(insertBelowHost(model.widget_manager, hostId, msg.cell || {}));
      } else if (msg.type === "download") {
        const href = download(document, msg.filename, msg.mime, msg.b64);
        links.set(hostId, { filename: msg.filename, href });
        for (const redraw of viewsByHost.get(hostId) || []) redraw();
        reply({ ok: true, how: "download started" });
      }
    } catch (e) {
      reply({ ok: false, reason: String((e && e.message) || e) });
    }
  };
  model.on("msg:custom", onMsg);
  return () => model.off("msg:custom", onMsg);
}

function render({ model, el }) {
  const hostId = model.get("host_model_id");
  const redraw = () => {
    el.replaceChildren();
    const last = links.get(hostId);
    if (!last) return;
    const p = document.createElement("p");
    p.style.margin = "4px 0";
    p.append("Last download: ");
    const a = document.createElement("a");
    a.href = last.href;
    a.download = last.filename;
    a.textContent = last.filename;
    a.className = "msem-download-link";
    p.appendChild(a);
    el.appendChild(p);
  };
  if (!viewsByHost.has(hostId)) viewsByHost.set(hostId, new Set());
  viewsByHost.get(hostId).add(redraw);
  redraw();
  return () => viewsByHost.get(hostId).delete(redraw);
}

export default { initialize, render };
