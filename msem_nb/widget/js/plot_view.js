// A Plotly figure of the msem_nb panel (anywidget front end).
//
// Python sends the figure as JSON (trait `figure`); this module draws it with
// Plotly.react, at the width of its container (and, for diagrams, a height
// that keeps the figure's shape within the window, with text scaled down when
// the diagram is drawn narrower than designed). plotly.js is not part of
// this module: the first view on a page asks Python for it once (message
// {type: "need_plotly"}, answered with the library as a binary buffer) and
// every later figure on the page, of any panel, reuses it. Until then, and
// while there is no figure, a placeholder says what is coming.
//
// Accessibility: the graph has role "img", the trait `label` as its name and
// the trait `description` (a text version of the figure) as its description;
// the text version is also shown, collapsed, under the figure.

const STYLE = `
.msem-plotview{width:100%;min-width:0;contain:layout style}
.msem-plotview .msem-plot-wait{color:#666;font:12px var(--jp-ui-font-family,sans-serif);
  padding:12px 4px;min-height:40px}
.msem-plotview details.msem-plot-text{font:12px/1.4 var(--jp-ui-font-family,sans-serif);
  color:#444;margin:2px 0 6px}
.msem-plotview details.msem-plot-text pre{white-space:pre-wrap;margin:4px 0;font:inherit}
`;

const LIB_KEY = "__msemPlotlyPromise";
// a few tools (each is a tab stop): save as PNG, zoom in and out, reset; no
// selection tools, no cloud
export const CONFIG = { displaylogo: false, responsive: false,
  modeBarButtonsToRemove: ["sendDataToCloud", "zoom2d", "pan2d", "select2d", "lasso2d",
    "autoScale2d", "hoverClosestCartesian", "hoverCompareCartesian", "toggleSpikelines"] };


/** An id no other element of the page has (each widget loads this module afresh). */
export function uniqueId(prefix) {
  const rnd = globalThis.crypto && globalThis.crypto.randomUUID
    ? globalThis.crypto.randomUUID() : Math.random().toString(36).slice(2);
  return `${prefix}-${rnd}`;
}

/**
 * The figure's size in a container `avail` px wide, in a window `viewH` px high,
 * and the factor its text is scaled by. A diagram (`keepAspect`) scales with the
 * width, not taller than the window leaves below the panel's tabs and toolbar
 * (about 280 px); drawn narrower than designed, its text shrinks too (to no less
 * than 60%), so that labels keep to their boxes.
 */
export function fitSize(layout, avail, viewH, keepAspect) {
  const w0 = Number(layout && layout.width) || 0;
  const h0 = Number(layout && layout.height) || 450;
  const width = Math.max(200, Math.floor(avail));
  if (!keepAspect || !(w0 > 0)) return { width, height: h0, scale: 1 };
  const cap = Math.max(240, Math.round((viewH || h0) - 280));
  const height = Math.round(Math.min(Math.max(width * (h0 / w0), 220), Math.max(cap, 220)));
  const scale = Math.min(1, Math.max(0.6, width / w0, height / h0));
  return { width, height, scale };
}

/** A copy of `layout` with every font `scale` times its size (at least 7 px). */
export function scaleFonts(layout, scale) {
  if (!(scale < 1)) return layout;
  const base = (layout.font && layout.font.size) || 12;
  const f = (font, size) => Object.assign({}, font || {},
    { size: Math.max(7, Math.round(((font && font.size) || size) * scale * 10) / 10) });
  const out = Object.assign({}, layout, { font: f(layout.font, 12) });
  if (layout.title && typeof layout.title === "object") {
    out.title = Object.assign({}, layout.title, { font: f(layout.title.font, base * 1.4) });
  }
  if (Array.isArray(layout.annotations)) {
    out.annotations = layout.annotations.map((a) => Object.assign({}, a, { font: f(a.font, base) }));
  }
  return out;
}

/** Evaluate plotly.js source text; resolves with the Plotly object. */
export async function evaluatePlotly(text) {
  // the bundle is a UMD module: given a `module` it fills module.exports
  const src = "const module = {exports: {}};\n" + text +
    "\nexport default (module.exports && module.exports.react) ? module.exports : globalThis.Plotly;";
  const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
  try {
    const mod = await import(/* webpackIgnore: true */ url);
    return mod.default;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Plotly for this page: already there, being fetched, or asked for through `model`. */
export function loadPlotly(model, scope = globalThis) {
  if (scope.Plotly && typeof scope.Plotly.react === "function") {
    return Promise.resolve(scope.Plotly);
  }
  if (scope[LIB_KEY]) return scope[LIB_KEY];
  const p = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      model.off("msg:custom", onMsg);
      reject(new Error("no answer from the kernel"));
    }, 120000);
    const onMsg = (msg, buffers) => {
      if (!msg || msg.type !== "plotly_js") return;
      clearTimeout(timer);
      model.off("msg:custom", onMsg);
      if (msg.error || !buffers || !buffers.length) {
        reject(new Error(msg.error || "no plotly.js received"));
        return;
      }
      const b = buffers[0];
      const bytes = b.buffer ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : b;
      evaluatePlotly(new TextDecoder().decode(bytes)).then(resolve, reject);
    };
    model.on("msg:custom", onMsg);
    model.send({ type: "need_plotly" });
  });
  scope[LIB_KEY] = p;
  // a failed fetch may be retried by the next figure
  p.catch(() => { if (scope[LIB_KEY] === p) scope[LIB_KEY] = null; });
  return p;
}

/** The parts of a view (placeholder, graph, text version), built once. */
export function build(doc, root, id) {
  root.replaceChildren();
  const style = doc.createElement("style");
  style.textContent = STYLE;
  const box = doc.createElement("div");
  box.className = "msem-plotview";
  const wait = doc.createElement("div");
  wait.className = "msem-plot-wait";
  wait.setAttribute("role", "status");
  const gd = doc.createElement("div");
  gd.setAttribute("role", "img");
  const details = doc.createElement("details");
  details.className = "msem-plot-text";
  const summary = doc.createElement("summary");
  summary.textContent = "Text version";
  const pre = doc.createElement("pre");
  pre.id = id;
  details.append(summary, pre);
  gd.setAttribute("aria-describedby", id);
  box.append(wait, gd, details);
  root.append(style, box);
  return { box, wait, gd, details, pre };
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setDisplay(node, shown) {
  const v = shown ? "" : "none";
  if (node.style.display !== v) node.style.display = v;
}

/** Write the text traits into the parts (all as text; only what changed is touched). */
export function label(parts, cls, name, description, waiting) {
  for (const c of ["msem-plot", cls]) if (c && !parts.gd.classList.contains(c)) parts.gd.classList.add(c);
  if (parts.gd.getAttribute("aria-label") !== (name || "figure")) {
    parts.gd.setAttribute("aria-label", name || "figure");
  }
  setText(parts.pre, description || "");
  setDisplay(parts.details, Boolean(description));
  setText(parts.wait, waiting || "");
  setDisplay(parts.wait, Boolean(waiting));
}

function render({ model, el }) {
  const doc = el.ownerDocument;
  const parts = build(doc, el, uniqueId("msem-plot-text"));
  let Plotly = null;
  let failed = "";
  let lastWidth = 0;
  let dirty = false;     // a figure waits to be drawn (its tab was hidden)

  const draw = () => {
    const json = model.get("figure");
    const cls = model.get("css_class");
    const hasFigure = Boolean(json);
    let waiting = hasFigure ? "" : model.get("placeholder");
    if (hasFigure && !Plotly) waiting = failed || "Loading the plotting library\u2026";
    label(parts, cls, model.get("label"), model.get("description"), waiting);
    if (!hasFigure) {
      if (Plotly && parts.gd.layout) Plotly.purge(parts.gd);
      setDisplay(parts.gd, false);
      return;
    }
    setDisplay(parts.gd, true);
    const width = parts.box.clientWidth;
    if (!Plotly || !width) {            // a hidden tab: drawn when it is shown
      dirty = true;
      return;
    }
    dirty = false;
    lastWidth = width;
    const fig = JSON.parse(json);
    const size = fitSize(fig.layout || {}, width, doc.defaultView ? doc.defaultView.innerHeight : 0,
      model.get("keep_aspect"));
    const layout = Object.assign(scaleFonts(fig.layout || {}, size.scale),
      { width: size.width, height: size.height, autosize: false });
    Plotly.react(parts.gd, fig.data || [], layout, Object.assign({}, CONFIG, fig.config || {}));
  };

  // one message can change several traits: draw once for all of them
  let queued = false;
  const schedule = () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => { queued = false; draw(); });
  };
  const names = ["figure", "css_class", "label", "description", "placeholder", "keep_aspect"];
  for (const t of names) model.on(`change:${t}`, schedule);
  const resize = new ResizeObserver(() => {
    if (dirty || parts.box.clientWidth !== lastWidth) schedule();
  });
  resize.observe(parts.box);
  draw();
  loadPlotly(model).then((P) => { Plotly = P; draw(); },
    (e) => { failed = `The figure cannot be drawn: ${e.message}`; draw(); });
  return () => {
    for (const t of names) model.off(`change:${t}`, schedule);
    resize.disconnect();
    if (Plotly) Plotly.purge(parts.gd);
  };
}

export default { render };
