// The model syntax editor of the msem_nb panel (anywidget front end).
//
// A labelled textarea with line numbers. Typing sets the trait `value`
// (Python parses it and refits); Python writes `value` when a switch changes
// the model, and `error` ({line, col, message}) when the text cannot be
// fitted: the message is shown right under the editor (role "alert") and the
// line is marked in the gutter and with a band behind the text. Everything
// reaches the page as text.

const STYLE = `
.msem-editor{font:12px/1.4 var(--jp-ui-font-family,sans-serif);color:var(--jp-ui-font-color1,#222);
  width:100%;min-width:0}
.msem-editor label{font-weight:600;display:inline-block;margin:2px 6px 2px 0}
.msem-editor .msem-editor-hint{color:#666}
.msem-editor .msem-editor-body{position:relative;display:flex;border:1px solid #bbb;border-radius:3px;
  background:#fff;overflow:hidden}
.msem-editor .msem-editor-body:focus-within{border-color:#4c78a8;box-shadow:0 0 0 1px #4c78a8}
.msem-editor .msem-gutter{margin:0;padding:4px 6px 4px 4px;text-align:right;color:#999;
  background:#f6f6f6;border-right:1px solid #e3e3e3;user-select:none;overflow:hidden;
  font:12px/18px var(--jp-code-font-family,monospace);min-width:2.4em}
.msem-editor .msem-gutter span{display:block}
.msem-editor .msem-gutter span.msem-bad{color:#fff;background:#c03030;border-radius:2px}
.msem-editor .msem-area{position:relative;flex:1;min-width:0}
.msem-editor .msem-band{position:absolute;left:0;right:0;height:18px;background:#fde2e2;
  border-top:1px solid #f2b8b8;border-bottom:1px solid #f2b8b8;display:none;pointer-events:none}
.msem-editor textarea{position:relative;display:block;width:100%;box-sizing:border-box;border:0;
  outline:0;resize:vertical;padding:4px 6px;margin:0;background:transparent;white-space:pre;
  overflow:auto;font:12px/18px var(--jp-code-font-family,monospace);color:inherit;tab-size:2}
.msem-editor .msem-editor-error{margin:4px 0 0;padding:3px 6px;border-left:3px solid #c03030;
  background:#fff4f4;color:#7a1f1f;white-space:pre-wrap}
.msem-editor .msem-editor-error:empty{display:none}
`;

const LINE = 18;   // px per line (the gutter, the band and the textarea agree on it)
const PAD = 4;     // px of top padding in the textarea and the gutter


/** An id no other element of the page has (each widget loads this module afresh). */
export function uniqueId(prefix) {
  const rnd = globalThis.crypto && globalThis.crypto.randomUUID
    ? globalThis.crypto.randomUUID() : Math.random().toString(36).slice(2);
  return `${prefix}-${rnd}`;
}

/** Line numbers of a text, as strings (at least `rows` of them). */
export function lineNumbers(text, rows = 1) {
  const n = Math.max(String(text || "").split("\n").length, rows);
  return Array.from({ length: n }, (_, i) => String(i + 1));
}

/** The error to show: {line, col, message} with a positive line, or null. */
export function errorOf(error) {
  if (!error || !error.message) return null;
  const line = Number(error.line) || 0;
  return { line: line > 0 ? line : 0, col: Number(error.col) || 0, message: String(error.message) };
}

/** Top of the band that marks `line` (1-based), given the textarea's scroll. */
export function bandTop(line, scrollTop) {
  return PAD + (line - 1) * LINE - (scrollTop || 0);
}

export function build(doc, root, id) {
  root.replaceChildren();
  const style = doc.createElement("style");
  style.textContent = STYLE;
  const box = doc.createElement("div");
  box.className = "msem-editor";
  const label = doc.createElement("label");
  label.setAttribute("for", id);
  const hint = doc.createElement("span");
  hint.className = "msem-editor-hint";
  hint.id = `${id}-hint`;
  const body = doc.createElement("div");
  body.className = "msem-editor-body";
  const gutter = doc.createElement("pre");
  gutter.className = "msem-gutter";
  gutter.setAttribute("aria-hidden", "true");
  const area = doc.createElement("div");
  area.className = "msem-area";
  const band = doc.createElement("div");
  band.className = "msem-band";
  const ta = doc.createElement("textarea");
  ta.id = id;
  ta.className = "msem-syntax-input";
  ta.spellcheck = false;
  ta.setAttribute("wrap", "off");
  ta.setAttribute("autocomplete", "off");
  ta.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
  area.append(band, ta);
  body.append(gutter, area);
  const err = doc.createElement("div");
  err.className = "msem-editor-error";
  err.id = `${id}-error`;
  err.setAttribute("role", "alert");
  box.append(label, hint, body, err);
  root.append(style, box);
  return { box, label, hint, gutter, band, ta, err };
}

/** Draw the gutter, the error band and the message for `text` and `error`. */
export function mark(doc, parts, text, error, rows) {
  const e = errorOf(error);
  const nums = lineNumbers(text, rows);
  parts.gutter.replaceChildren();
  nums.forEach((n, i) => {
    const s = doc.createElement("span");
    s.textContent = n;
    if (e && e.line === i + 1) {
      s.className = "msem-bad";
      s.title = e.message;
    }
    parts.gutter.appendChild(s);
  });
  parts.err.textContent = e ? e.message : "";
  parts.ta.setAttribute("aria-invalid", e ? "true" : "false");
  parts.box.dataset.errorLine = e ? String(e.line) : "";
  if (e && e.line) {
    parts.band.style.display = "block";
    parts.band.style.top = `${bandTop(e.line, parts.ta.scrollTop)}px`;
  } else {
    parts.band.style.display = "none";
  }
}

function render({ model, el }) {
  const doc = el.ownerDocument;
  const parts = build(doc, el, uniqueId("msem-syntax"));
  const rows = () => model.get("rows") || 12;
  const redraw = () => {
    parts.label.textContent = model.get("label") || "Model syntax";
    parts.hint.textContent = model.get("hint") || "";
    parts.ta.placeholder = model.get("placeholder") || "";
    parts.ta.rows = rows();
    const v = model.get("value") || "";
    // a write from Python (a switch); typing already matches and keeps the caret
    if (parts.ta.value !== v) parts.ta.value = v;
    mark(doc, parts, parts.ta.value, model.get("error"), rows());
  };
  const onInput = () => {
    model.set("value", parts.ta.value);
    model.save_changes();
    mark(doc, parts, parts.ta.value, model.get("error"), rows());
  };
  const onScroll = () => {
    parts.gutter.scrollTop = parts.ta.scrollTop;
    mark(doc, parts, parts.ta.value, model.get("error"), rows());
  };
  parts.ta.addEventListener("input", onInput);
  parts.ta.addEventListener("scroll", onScroll);
  const traits = ["value", "error", "label", "hint", "placeholder", "rows"];
  for (const t of traits) model.on(`change:${t}`, redraw);
  redraw();
  return () => {
    for (const t of traits) model.off(`change:${t}`, redraw);
  };
}

export default { render };
