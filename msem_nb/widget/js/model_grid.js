// Switch grids of the msem_nb panel's Model screen (anywidget front end).
//
// Python (msem_nb/widget/gridspec.py) sends the trait `spec`: per level the
// variables and which paths, variances, covariances and random slopes are on.
// This module only draws it and reports clicks as messages
// {type: "toggle", kind, level, a, b}; Python changes the model and sends a
// new spec. Names reach the page through textContent and attributes only,
// never as HTML.

const STYLE = `
.msem-grid{font:12px/1.3 var(--jp-ui-font-family,sans-serif);color:var(--jp-ui-font-color1,#222)}
.msem-grid h4{margin:6px 0 2px;font-size:13px}
.msem-grid .msem-hint{color:#666;margin:0 0 4px}
.msem-grid table{border-collapse:collapse;margin:2px 0 8px}
.msem-grid th{font-weight:normal;padding:1px 4px;white-space:nowrap}
.msem-grid th.msem-col{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;height:auto}
.msem-grid th.msem-row{text-align:right}
.msem-grid .msem-latent{font-style:italic}
.msem-grid .msem-slope{color:#b35900}
.msem-grid td{padding:0}
.msem-grid button.msem-cell{width:24px;height:22px;margin:1px;padding:0;border:1px solid #bbb;
  border-radius:3px;background:#fff;cursor:pointer;font-size:10px;line-height:20px;position:relative}
.msem-grid button.msem-cell:hover{border-color:#333}
.msem-grid button.msem-cell[data-state=on]{background:#4c78a8;border-color:#35597f;color:#fff}
.msem-grid button.msem-cell[data-state=slope]{background:#f58518;border-color:#b35900;color:#fff}
.msem-grid button.msem-cell[data-kind=var]{background:#f3f3f3}
.msem-grid button.msem-cell[data-kind=var][data-state=on]{background:#888;color:#fff}
.msem-grid button.msem-cell.msem-pending{opacity:.55}
.msem-grid td.msem-has-slope{position:relative}
.msem-grid button.msem-slopebtn{position:absolute;right:-3px;bottom:-3px;width:15px;height:12px;
  margin:0;padding:0;font-size:8px;line-height:10px;border:1px dashed #d08a3c;border-radius:3px;
  background:#fff7ef;color:#b35900;cursor:pointer;z-index:1}
.msem-grid button.msem-slopebtn[data-state=on]{background:#f58518;color:#fff;border-style:solid}
`;

/** Key of an ordered pair. Variable names are identifiers, so "|" cannot clash. */
export function pairKey(a, b) {
  return `${a}|${b}`;
}

/** Index a level spec for quick look-ups. */
export function indexLevel(level) {
  const paths = new Set((level.paths || []).map(([y, x]) => pairKey(y, x)));
  const covs = new Set();
  for (const [a, b] of level.covs || []) {
    covs.add(pairKey(a, b));
    covs.add(pairKey(b, a));
  }
  const variances = new Set(level.variances || []);
  const slopes = new Map((level.slopes || []).map(([y, x, s]) => [pairKey(y, x), s]));
  const slopeY = new Set(level.slope_y || []);
  const slopeX = new Set(level.slope_x || []);
  return { paths, covs, variances, slopes, slopeY, slopeX };
}

/**
 * The cell of the path grid in row `y` (outcome) and column `x` (predictor).
 * Returns {kind, state, text, title, slope, slopeOk}.
 */
export function pathCell(level, idx, y, x) {
  const lv = level.level;
  if (y === x) {
    const on = idx.variances.has(y);
    return { kind: "var", state: on ? "on" : "off", text: on ? "v" : "",
      title: `${y} ~~ ${y}: ${lv ? lv + " " : ""}(residual) variance of ${y}` +
        (on ? " (on)" : " (off; click to add)"),
      slope: null, slopeOk: false };
  }
  const slope = idx.slopes.get(pairKey(y, x)) || null;
  const on = idx.paths.has(pairKey(y, x));
  const state = slope ? "slope" : on ? "on" : "off";
  const slopeOk = Boolean(slope) || (idx.slopeY.has(y) && idx.slopeX.has(x));
  let title = `${y} ~ ${x}: regression of ${y} on ${x} (${x} \u2192 ${y})`;
  if (slope) title += `, random slope ${slope}`;
  return { kind: "path", state, text: slope ? slope : on ? "\u25CF" : "", title, slope, slopeOk };
}

/** The cell of the covariance grid for a and b (a below the diagonal). */
export function covCell(level, idx, a, b) {
  const on = idx.covs.has(pairKey(a, b));
  return { kind: "cov", state: on ? "on" : "off", text: on ? "\u25CF" : "",
    title: `${a} ~~ ${b}: (residual) covariance` + (on ? " (on)" : " (off)") };
}

/** The message that a click on a switch sends to Python. */
export function toggleMessage(kind, level, a, b) {
  return { type: "toggle", kind, level, a, b };
}

/** The state a switch shows right after a click, before Python answers. */
export function optimisticState(kind, state) {
  if (kind === "slope") return state === "on" ? "off" : "on";
  return state === "off" ? "on" : "off";
}

function labelClass(kind) {
  return kind === "latent" ? "msem-latent" : kind === "slope" ? "msem-slope" : "";
}

function headerCell(doc, v, cls) {
  const th = doc.createElement("th");
  th.className = `${cls} ${labelClass(v.kind)}`.trim();
  th.textContent = v.name;
  th.title = `${v.name} (${v.kind})`;
  return th;
}

function cellButton(doc, cell, level, a, b, send) {
  const btn = doc.createElement("button");
  btn.className = "msem-cell";
  btn.type = "button";
  btn.textContent = cell.text;
  btn.title = cell.title;
  btn.dataset.kind = cell.kind;
  btn.dataset.state = cell.state;
  btn.dataset.level = level;
  btn.dataset.a = a;
  btn.dataset.b = b;
  btn.addEventListener("click", () => {
    btn.dataset.state = optimisticState(cell.kind, btn.dataset.state);
    btn.classList.add("msem-pending");
    send(toggleMessage(cell.kind, level, a, b));
  });
  return btn;
}

function slopeButton(doc, cell, level, y, x, send) {
  const btn = doc.createElement("button");
  btn.className = "msem-slopebtn";
  btn.type = "button";
  btn.textContent = cell.slope ? "R" : "F";
  btn.title = cell.slope
    ? `random slope ${cell.slope} of ${y} on ${x}; click to make it a fixed path`
    : `fixed path ${y} ~ ${x}; click to make it a random slope (varies between clusters)`;
  btn.dataset.kind = "slope";
  btn.dataset.state = cell.slope ? "on" : "off";
  btn.dataset.level = level;
  btn.dataset.a = y;
  btn.dataset.b = x;
  btn.addEventListener("click", () => {
    btn.classList.add("msem-pending");
    send(toggleMessage("slope", level, y, x));
  });
  return btn;
}

function pathTable(doc, level, idx, send) {
  const vars = level.vars || [];
  const table = doc.createElement("table");
  table.className = "msem-paths";
  table.dataset.level = level.level;
  const head = doc.createElement("tr");
  const corner = doc.createElement("th");
  corner.textContent = "outcome \u2190 predictor";
  head.appendChild(corner);
  for (const v of vars) head.appendChild(headerCell(doc, v, "msem-col"));
  table.appendChild(head);
  for (const row of vars) {
    const tr = doc.createElement("tr");
    tr.appendChild(headerCell(doc, row, "msem-row"));
    for (const col of vars) {
      const td = doc.createElement("td");
      const cell = pathCell(level, idx, row.name, col.name);
      td.appendChild(cellButton(doc, cell, level.level, row.name, col.name, send));
      if (cell.kind === "path" && cell.slopeOk && cell.state !== "off") {
        td.classList.add("msem-has-slope");
        td.appendChild(slopeButton(doc, cell, level.level, row.name, col.name, send));
      }
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  return table;
}

function covTable(doc, level, idx, send) {
  const vars = level.vars || [];
  const table = doc.createElement("table");
  table.className = "msem-covs";
  table.dataset.level = level.level;
  const head = doc.createElement("tr");
  const corner = doc.createElement("th");
  corner.textContent = "covariances";
  head.appendChild(corner);
  for (const v of vars.slice(0, -1)) head.appendChild(headerCell(doc, v, "msem-col"));
  table.appendChild(head);
  vars.forEach((row, i) => {
    if (i === 0) return;
    const tr = doc.createElement("tr");
    tr.appendChild(headerCell(doc, row, "msem-row"));
    for (let j = 0; j < i; j++) {
      const td = doc.createElement("td");
      const cell = covCell(level, idx, row.name, vars[j].name);
      td.appendChild(cellButton(doc, cell, level.level, row.name, vars[j].name, send));
      tr.appendChild(td);
    }
    table.appendChild(tr);
  });
  return table;
}

/** Draw the grids of every level of `spec` into `root` (replacing its content). */
export function draw(doc, root, spec, send) {
  root.replaceChildren();
  const style = doc.createElement("style");
  style.textContent = STYLE;
  root.appendChild(style);
  const box = doc.createElement("div");
  box.className = "msem-grid";
  root.appendChild(box);
  const levels = (spec && spec.levels) || [];
  if (!levels.length || levels.every((l) => !(l.vars || []).length)) {
    const p = doc.createElement("p");
    p.className = "msem-hint";
    p.textContent = "Choose variables on the Data screen to switch paths on and off here.";
    box.appendChild(p);
    return;
  }
  for (const level of levels) {
    const sec = doc.createElement("section");
    sec.dataset.level = level.level;
    const h = doc.createElement("h4");
    h.textContent = level.title;
    sec.appendChild(h);
    const hint = doc.createElement("p");
    hint.className = "msem-hint";
    hint.textContent = level.level === "within"
      ? "Row \u2190 column: regression. Diagonal: variance. Under a switched-on path, " +
        "the small F/R corner switch makes its slope fixed or random (varying across clusters)."
      : "Row \u2190 column: regression. Diagonal: variance (for a variable with a " +
        "between part: its random intercept).";
    sec.appendChild(hint);
    const idx = indexLevel(level);
    sec.appendChild(pathTable(doc, level, idx, send));
    if ((level.vars || []).length > 1) sec.appendChild(covTable(doc, level, idx, send));
    box.appendChild(sec);
  }
}

function render({ model, el }) {
  const send = (msg) => model.send(msg);
  const redraw = () => draw(el.ownerDocument, el, model.get("spec"), send);
  redraw();
  model.on("change:spec", redraw);
  return () => model.off("change:spec", redraw);
}

export default { render };
