// Modification indices and the comparison with the previous fit, on the msem_nb
// panel's Results screen (anywidget front end).
//
// Python (msem_nb/widget/modindex.py and checks.py) sends two traits, every number
// already formatted:
//   `modindices` {state, message, header, rows: [{id, name, why, cells}], freed: [{id, name}]}
//   `comparison` {state, message, title, header, rows, notes}
// This module only draws them and reports clicks as messages: {type: "free", id},
// {type: "unfree", id} and {type: "compare"}; Python changes the model, refits and
// sends new traits. A row without an id cannot be freed in this model and says why.
// Names reach the page through textContent and attributes only, never as HTML.

const STYLE = `
.msem-checks{font:12px/1.4 var(--jp-ui-font-family,sans-serif);color:var(--jp-ui-font-color1,#222);
  max-width:100%}
.msem-checks h4{margin:8px 0 2px;font-size:13px}
.msem-checks p{margin:2px 0 4px;max-width:60em}
.msem-checks [data-state=unavailable],.msem-checks [data-state=error]{color:#9a3b00}
.msem-checks [data-state=running]{color:#4c78a8}
.msem-checks table{border-collapse:collapse;margin:2px 0 6px}
.msem-checks th,.msem-checks td{padding:2px 8px;border-bottom:1px solid #e3e3e3;text-align:left;
  vertical-align:top}
.msem-checks th{font-weight:600;border-bottom:1px solid #999}
.msem-checks td.num,.msem-checks th.num{text-align:right;font-variant-numeric:tabular-nums}
.msem-checks button{font:inherit;cursor:pointer;padding:1px 8px;border:1px solid #35679c;
  border-radius:3px;background:#fff;color:#254a70}
.msem-checks button:hover{background:#eef4fb}
.msem-checks button:focus-visible{outline:2px solid #1a5fb4;outline-offset:1px}
.msem-checks button:disabled{cursor:default;opacity:.6}
.msem-checks button.msem-compare-prev{background:#35679c;color:#fff;padding:3px 10px}
.msem-checks .msem-why{color:#666;max-width:28em}
.msem-checks .msem-why summary{cursor:pointer}
.msem-checks .msem-freed{margin:2px 0 6px}
.msem-checks .msem-freed span{margin-right:6px}
`;

/** The message of a click on "Free" (on) or "Undo" (off). */
export function freeMessage(id, on) {
  return { type: on ? "free" : "unfree", id: String(id) };
}

/** The message of the "Compare with previous fit" button. */
export function compareMessage() {
  return { type: "compare" };
}

/** Columns drawn right-aligned: the numbers of the index table. */
export const NUMERIC = new Set([2, 3, 4]);

function el(doc, tag, cls, text) {
  const n = doc.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

function button(doc, cls, text, label, onClick) {
  const b = el(doc, "button", cls, text);
  b.type = "button";
  if (label) {
    b.setAttribute("aria-label", label);
    b.title = label;
  }
  b.addEventListener("click", () => { if (!b.disabled) onClick(b); });
  return b;
}

/** Mark a clicked button as waiting for the kernel (the next drawing replaces it). */
export function setPending(btn, text) {
  btn.disabled = true;
  btn.classList.add("msem-pending");
  btn.textContent = text;
}

function table(doc, cls, header, numeric) {
  const t = el(doc, "table", cls);
  const tr = el(doc, "tr");
  header.forEach((h, k) => tr.appendChild(el(doc, "th", numeric(k) ? "num" : "", h)));
  const thead = el(doc, "thead");
  thead.appendChild(tr);
  const tbody = el(doc, "tbody");
  t.append(thead, tbody);
  return [t, tbody];
}

/** Draw the modification indices into `box`; `send` gets the click messages. */
export function drawModindices(doc, box, spec, send) {
  spec = spec || {};
  box.replaceChildren();
  box.appendChild(el(doc, "h4", "", "Modification indices"));
  const msg = el(doc, "p", "msem-mi-msg", spec.message || "The indices appear once the model is fitted.");
  msg.dataset.state = spec.state || "waiting";
  box.appendChild(msg);
  const freed = spec.freed || [];
  if (freed.length) {
    const div = el(doc, "div", "msem-freed");
    div.appendChild(el(doc, "b", "", "Freed from this list: "));
    for (const f of freed) {
      const span = el(doc, "span", "msem-freed-item");
      span.dataset.id = f.id;
      span.appendChild(el(doc, "span", "", f.name));
      span.appendChild(button(doc, "msem-unfree", "Undo", `Undo: fix ${f.name} again and refit`,
        (b) => { setPending(b, "Undoing\u2026"); send(freeMessage(f.id, false)); }));
      div.appendChild(span);
    }
    box.appendChild(div);
  }
  const rows = spec.rows || [];
  if (!rows.length) return box;
  const [t, tbody] = table(doc, "msem-mi-table", spec.header || [], (k) => NUMERIC.has(k));
  for (const r of rows) {
    const tr = el(doc, "tr");
    if (r.id) tr.dataset.id = r.id;
    (r.cells || []).forEach((c, k) => tr.appendChild(el(doc, "td", NUMERIC.has(k) ? "num" : "", c)));
    const td = el(doc, "td");
    if (r.id) {
      td.appendChild(button(doc, "msem-free", "Free", `Free ${r.name} and refit`,
        (b) => {
          setPending(b, "Freeing\u2026");
          send(freeMessage(r.id, true));
        }));
    } else {
      const why = el(doc, "details", "msem-why");
      why.appendChild(el(doc, "summary", "", "cannot free here"));
      why.appendChild(el(doc, "span", "", r.why || ""));
      td.appendChild(why);
    }
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
  box.appendChild(t);
  return box;
}

/** Draw the comparison with the previous fit, with its button, into `box`. */
export function drawComparison(doc, box, spec, send) {
  spec = spec || {};
  box.replaceChildren();
  box.appendChild(el(doc, "h4", "", "Compare with the previous fit"));
  const btn = button(doc, "msem-compare-prev", "Compare with previous fit",
    "Compare with previous fit: likelihood-ratio test, AIC and BIC",
    (b) => { setPending(b, "Comparing\u2026"); send(compareMessage()); });
  if (spec.state === "running") setPending(btn, "Comparing\u2026");
  box.appendChild(btn);
  const msg = el(doc, "p", "msem-lrt-msg", spec.message || "");
  msg.dataset.state = spec.state || "idle";
  msg.setAttribute("role", "status");
  msg.setAttribute("aria-live", "polite");
  if (spec.title) box.appendChild(el(doc, "p", "msem-lrt-title", spec.title));
  const rows = spec.rows || [];
  if (rows.length) {
    const [t, tbody] = table(doc, "msem-lrt-table", spec.header || [], (k) => k > 0);
    for (const r of rows) {
      const tr = el(doc, "tr");
      r.forEach((c, k) => tr.appendChild(el(doc, k === 0 ? "th" : "td", k > 0 ? "num" : "", c)));
      tbody.appendChild(tr);
    }
    box.appendChild(t);
  }
  box.appendChild(msg);
  for (const n of spec.notes || []) box.appendChild(el(doc, "p", "msem-lrt-note", `Note: ${n}`));
  return box;
}

function render({ model, el: root }) {
  const doc = root.ownerDocument || document;
  const style = el(doc, "style", "", STYLE);
  const mi = el(doc, "div", "msem-mi");
  const lrt = el(doc, "div", "msem-lrt");
  const box = el(doc, "div", "msem-checks");
  box.append(mi, lrt);
  root.replaceChildren(style, box);
  const send = (m) => model.send(m);
  const drawMi = () => drawModindices(doc, mi, model.get("modindices"), send);
  const drawLrt = () => drawComparison(doc, lrt, model.get("comparison"), send);
  drawMi();
  drawLrt();
  model.on("change:modindices", drawMi);
  model.on("change:comparison", drawLrt);
  return () => {
    model.off("change:modindices", drawMi);
    model.off("change:comparison", drawLrt);
  };
}

export default { render };
