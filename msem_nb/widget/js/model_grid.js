// Switch grids of the msem_nb panel's Model screen (anywidget front end).
//
// Python (msem_nb/widget/gridspec.py) sends the trait `spec`: per level the
// variables, a hint, and which paths, variances, covariances and random
// slopes are on. This module only draws it and reports clicks as messages
// {type: "toggle", kind, level, a, b}; Python changes the model and sends a
// new spec. Names reach the page through textContent and attributes only,
// never as HTML.
//
// Keyboard: all grids together are one tab stop (a roving tabindex). Arrow
// keys move between switches (left/right within a row, up/down within a
// column, across the grids), Home/End to the ends of a row, Page Up/Down to
// the previous/next grid; Space or Enter switches. Every switch has
// aria-pressed and a title and name that say what it is and whether it is on.
// A new spec with the same variables only updates the switches' states in place
// (the focus, the scroll position and the page's layout stay); otherwise the
// grids are drawn again and the switch that had the focus (or the tab stop) has
// it again.

const STYLE = `
.msem-grid{font:12px/1.3 var(--jp-ui-font-family,sans-serif);color:var(--jp-ui-font-color1,#222);
  display:inline-block;max-width:100%;vertical-align:top}
.msem-grid .msem-grid-scroll{max-height:min(70vh,calc(100vh - 180px));overflow:auto;padding:2px 6px 2px 2px;
  contain:content}
.msem-grid h4{margin:6px 0 2px;font-size:13px;white-space:nowrap}
.msem-grid .msem-hint,.msem-grid .msem-keys{color:#555;margin:0 0 4px;width:0;min-width:100%}
.msem-grid .msem-keys{color:#666;font-size:11px}
.msem-grid p.msem-wide{width:auto;min-width:0;max-width:36em}
.msem-grid table{border-collapse:collapse;margin:2px 0 8px}
.msem-grid th{font-weight:normal;padding:1px 4px;white-space:nowrap}
.msem-grid th.msem-col{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;height:auto}
.msem-grid th.msem-row{text-align:right}
.msem-grid .msem-latent{font-style:italic}
.msem-grid .msem-slope{color:#a34f00}
.msem-grid td{padding:0;white-space:nowrap}
.msem-grid button{font:inherit;cursor:pointer}
.msem-grid button.msem-cell{width:26px;height:24px;margin:1px;padding:0;border:1px solid #999;
  border-radius:3px;background:#fff;color:#222;font-size:11px;line-height:22px;vertical-align:middle}
.msem-grid button.msem-cell:hover{border-color:#222}
.msem-grid button:focus-visible{outline:2px solid #1a5fb4;outline-offset:1px}
.msem-grid button.msem-cell[data-state=on]{background:#35679c;border-color:#254a70;color:#fff}
.msem-grid button.msem-cell[data-state=slope]{background:#c25f00;border-color:#8a4300;color:#fff}
.msem-grid button.msem-cell[data-kind=var]{background:#f0f0f0}
.msem-grid button.msem-cell[data-kind=var][data-state=on]{background:#666;color:#fff}
.msem-grid button.msem-pending{opacity:.6}
.msem-grid button.msem-slopebtn{width:22px;height:24px;margin:1px 2px 1px 0;padding:0;
  vertical-align:middle;font-size:11px;font-weight:600;line-height:22px;border:1px dashed #a35a14;
  border-radius:3px;background:#fff7ef;color:#8a4300}
.msem-grid button.msem-slopebtn[data-state=on]{background:#c25f00;color:#fff;border-style:solid}
`;

const KEYS_HELP = "Keyboard: Tab reaches these switches; arrow keys move, Space or Enter " +
  "switches, Page Up/Down jumps between grids.";

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

function where(lv) {
  return lv ? ` (${lv} level)` : "";
}

/**
 * The cell of the path grid in row `y` (outcome) and column `x` (predictor).
 * Returns {kind, state, text, title, pressed, slope, slopeOk}.
 */
export function pathCell(level, idx, y, x) {
  const lv = level.level;
  if (y === x) {
    const on = idx.variances.has(y);
    return { kind: "var", state: on ? "on" : "off", text: on ? "v" : "", pressed: on,
      title: `${y} ~~ ${y}: (residual) variance of ${y}${where(lv)}: ${on ? "on" : "off"}`,
      slope: null, slopeOk: false };
  }
  const slope = idx.slopes.get(pairKey(y, x)) || null;
  const on = idx.paths.has(pairKey(y, x)) || Boolean(slope);
  const state = slope ? "slope" : on ? "on" : "off";
  const slopeOk = Boolean(slope) || (idx.slopeY.has(y) && idx.slopeX.has(x));
  let title = `${y} ~ ${x}: regression of ${y} on ${x}${where(lv)}: ${on ? "on" : "off"}`;
  if (slope) title += `, random slope ${slope}`;
  return { kind: "path", state, text: slope ? slope : on ? "\u25CF" : "", pressed: on, title,
    slope, slopeOk };
}

/** The cell of the covariance grid for a and b (a below the diagonal). */
export function covCell(level, idx, a, b) {
  const on = idx.covs.has(pairKey(a, b));
  return { kind: "cov", state: on ? "on" : "off", text: on ? "\u25CF" : "", pressed: on,
    title: `${a} ~~ ${b}: (residual) covariance of ${a} and ${b}${where(level.level)}: ` +
      (on ? "on" : "off") };
}

/** The F/R switch of a path that can have a random slope. */
export function slopeCell(cell, y, x) {
  const on = Boolean(cell.slope);
  return { kind: "slope", state: on ? "on" : "off", text: on ? "R" : "F", pressed: on,
    title: on
      ? `random slope ${cell.slope} of ${y} on ${x}: on (varies across clusters); ` +
        "press to make the path fixed"
      : `random slope of ${y} on ${x}: off (fixed path); press to let it vary across clusters` };
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

/** Identity of a switch across redraws. */
export function switchKey(btn) {
  const d = btn.dataset;
  return [d.kind, d.level, d.a, d.b].join("\u0000");
}

/**
 * Where an arrow (or Home/End/Page) key moves the focus in `rows` (an array of
 * rows, each an array of {col, table} for its switches in order) from
 * position {r, i}. Returns the new {r, i} (the same when it cannot move).
 */
export function navigate(rows, pos, key) {
  const { r, i } = pos;
  const row = rows[r] || [];
  const col = (row[i] || { col: 0 }).col;
  const inRow = (rr, c) => {
    const cand = rows[rr];
    let best = 0;
    cand.forEach((s, k) => { if (s.col <= c) best = k; });
    return { r: rr, i: best };
  };
  switch (key) {
    case "ArrowRight": return { r, i: Math.min(i + 1, row.length - 1) };
    case "ArrowLeft": return { r, i: Math.max(i - 1, 0) };
    case "Home": return { r, i: 0 };
    case "End": return { r, i: row.length - 1 };
    case "ArrowDown": return r + 1 < rows.length ? inRow(r + 1, col) : pos;
    case "ArrowUp": return r > 0 ? inRow(r - 1, col) : pos;
    case "PageDown": {
      const t = (row[i] || {}).table;
      const next = rows.findIndex((rw, k) => k > r && rw[0].table !== t);
      return next >= 0 ? { r: next, i: 0 } : pos;
    }
    case "PageUp": {
      const t = (row[i] || {}).table;
      let k = r;
      while (k > 0 && rows[k][0].table === t) k--;
      if (rows[k][0].table === t) return pos;
      const tt = rows[k][0].table;
      while (k > 0 && rows[k - 1][0].table === tt) k--;
      return { r: k, i: 0 };
    }
    default: return pos;
  }
}

function labelClass(kind) {
  return kind === "latent" ? "msem-latent" : kind === "slope" ? "msem-slope" : "";
}

function headerCell(doc, v, cls) {
  const th = doc.createElement("th");
  th.className = `${cls} ${labelClass(v.kind)}`.trim();
  th.textContent = v.name;
  th.title = `${v.name} (${v.kind === "slope" ? "random slope" : v.kind} variable)`;
  return th;
}

function switchButton(doc, cell, cls, level, a, b, send) {
  const btn = doc.createElement("button");
  btn.className = cls;
  btn.type = "button";
  btn.tabIndex = -1;
  btn.textContent = cell.text;
  btn.title = cell.title;
  btn.setAttribute("aria-label", cell.title);
  btn.setAttribute("aria-pressed", cell.pressed ? "true" : "false");
  btn.dataset.kind = cell.kind;
  btn.dataset.state = cell.state;
  btn.dataset.level = level;
  btn.dataset.a = a;
  btn.dataset.b = b;
  btn.addEventListener("click", () => {
    // a panel whose kernel is gone takes no clicks (the status line says why)
    if (btn.closest && btn.closest(".msem-disconnected")) return;
    btn.dataset.state = optimisticState(cell.kind, btn.dataset.state);
    btn.setAttribute("aria-pressed", btn.dataset.state === "off" ? "false" : "true");
    btn.classList.add("msem-pending");
    send(toggleMessage(cell.kind, level, a, b));
  });
  return btn;
}

function pathTable(doc, level, idx, send) {
  const vars = level.vars || [];
  const table = doc.createElement("table");
  table.className = "msem-paths";
  table.dataset.level = level.level;
  table.setAttribute("aria-label", `${level.title}: regressions (row on column) and variances`);
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
      td.appendChild(switchButton(doc, cell, "msem-cell", level.level, row.name, col.name, send));
      if (cell.kind === "path" && cell.slopeOk) {
        // there for every path that may be random; shown while the path is on
        const sb = switchButton(doc, slopeCell(cell, row.name, col.name), "msem-slopebtn",
          level.level, row.name, col.name, send);
        sb.hidden = cell.state === "off";
        td.appendChild(sb);
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
  table.setAttribute("aria-label", `${level.title}: (residual) covariances`);
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
      td.appendChild(switchButton(doc, cell, "msem-cell", level.level, row.name, vars[j].name,
        send));
      tr.appendChild(td);
    }
    table.appendChild(tr);
  });
  return table;
}

/** The switches of a drawn grid, row by row: [[{btn, col, table}, ...], ...]. */
export function switchRows(box) {
  const rows = [];
  const tables = box.findAll ? box.findAll((n) => n.tagName === "TABLE")
    : Array.from(box.querySelectorAll("table"));
  tables.forEach((table, t) => {
    for (const tr of table.children) {
      if (tr.tagName !== "TR") continue;
      const row = [];
      let col = 0;
      for (const td of tr.children) {
        if (td.tagName === "TD") {
          for (const btn of td.children) {
            if (btn.tagName === "BUTTON" && !btn.hidden) row.push({ btn, col, table: t });
          }
        }
        col++;
      }
      if (row.length) rows.push(row);
    }
  });
  return rows;
}

/** Give the tab stop (tabindex 0) to `btn` alone. */
export function setTabStop(rows, btn) {
  for (const row of rows) for (const s of row) s.btn.tabIndex = s.btn === btn ? 0 : -1;
}

/**
 * Draw the grids of every level of `spec` into `root` (replacing its content).
 * `keep` is the switch key that should hold the tab stop. Returns the rows.
 */
export function draw(doc, root, spec, send, keep = null) {
  // the style sheet is added once: adding it again would restyle the whole page
  let style = root.querySelector(".msem-grid-style");
  if (!style) {
    style = doc.createElement("style");
    style.className = "msem-grid-style";
    style.textContent = STYLE;
  }
  const box = doc.createElement("div");
  box.className = "msem-grid";
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", "Model switches");
  box.dataset.structure = structureKey(spec);
  root.replaceChildren(style, box);
  const levels = (spec && spec.levels) || [];
  if (spec && spec.loading) {
    const p = doc.createElement("p");
    p.className = "msem-hint";
    p.setAttribute("role", "status");
    p.textContent = spec.loading;
    box.appendChild(p);
    return [];
  }
  if (!levels.length || levels.every((l) => !(l.vars || []).length)) {
    const p = doc.createElement("p");
    p.className = "msem-hint msem-wide";
    p.textContent = "Choose variables on the Data screen to switch paths on and off here.";
    box.appendChild(p);
    return [];
  }
  const keys = doc.createElement("p");
  keys.className = "msem-keys";
  keys.textContent = KEYS_HELP;
  box.appendChild(keys);
  const scroll = doc.createElement("div");
  scroll.className = "msem-grid-scroll";
  box.appendChild(scroll);
  for (const level of levels) {
    const sec = doc.createElement("section");
    sec.dataset.level = level.level;
    const h = doc.createElement("h4");
    h.textContent = level.title;
    sec.appendChild(h);
    const hint = doc.createElement("p");
    hint.className = "msem-hint";
    hint.textContent = level.hint || "";
    sec.appendChild(hint);
    const idx = indexLevel(level);
    sec.appendChild(pathTable(doc, level, idx, send));
    if ((level.vars || []).length > 1) sec.appendChild(covTable(doc, level, idx, send));
    scroll.appendChild(sec);
  }
  const rows = switchRows(scroll);
  let stop = rows.length ? rows[0][0].btn : null;
  if (keep) {
    for (const row of rows) for (const s of row) if (switchKey(s.btn) === keep) stop = s.btn;
  }
  if (stop) setTabStop(rows, stop);
  return rows;
}

/** What decides the grid's buttons; a spec with the same key only changes their states. */
export function structureKey(spec) {
  const levels = (spec && spec.levels) || [];
  return JSON.stringify([spec && spec.loading, levels.map((l) => [l.level, l.title, l.hint,
    l.vars, l.slope_y, l.slope_x, (l.slopes || []).map((x) => x.slice(0, 2))])]);
}

function setIfChanged(btn, cell) {
  if (btn.dataset.state !== cell.state) btn.dataset.state = cell.state;
  if (btn.textContent !== cell.text) btn.textContent = cell.text;
  if (btn.title !== cell.title) {
    btn.title = cell.title;
    btn.setAttribute("aria-label", cell.title);
  }
  const pressed = cell.pressed ? "true" : "false";
  if (btn.getAttribute("aria-pressed") !== pressed) btn.setAttribute("aria-pressed", pressed);
  btn.classList.remove("msem-pending");
}

/**
 * Show the switch states of `spec` on the buttons already drawn (same structure):
 * only what changed is touched, so the focus, the scroll position and the page's
 * layout stay as they are. Returns false when the structure differs (draw again).
 */
export function update(root, spec) {
  const box = root.querySelector(".msem-grid");
  if (!box || box.dataset.structure !== structureKey(spec)) return false;
  const byLevel = new Map(((spec && spec.levels) || []).map((l) => [l.level, l]));
  const buttons = box.findAll ? box.findAll((n) => n.tagName === "BUTTON")
    : Array.from(box.querySelectorAll("button"));
  const idx = new Map();
  for (const btn of buttons) {
    const d = btn.dataset;
    const level = byLevel.get(d.level);
    if (!level) continue;
    if (!idx.has(d.level)) idx.set(d.level, indexLevel(level));
    const ix = idx.get(d.level);
    if (d.kind === "cov") {
      setIfChanged(btn, covCell(level, ix, d.a, d.b));
    } else if (btn.classList.contains("msem-slopebtn")) {
      const path = pathCell(level, ix, d.a, d.b);
      setIfChanged(btn, slopeCell(path, d.a, d.b));
      const hide = path.state === "off";
      if (btn.hidden !== hide) btn.hidden = hide;
    } else {
      setIfChanged(btn, pathCell(level, ix, d.a, d.b));
    }
  }
  return true;
}

function position(rows, btn) {
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r].findIndex((s) => s.btn === btn);
    if (i >= 0) return { r, i };
  }
  return null;
}

function render({ model, el }) {
  const doc = el.ownerDocument;
  const send = (msg) => model.send(msg);
  let rows = [];
  let keep = null;        // key of the switch that holds the tab stop
  const redraw = () => {
    const active = doc.activeElement;
    const hadFocus = Boolean(active && el.contains(active) && active.tagName === "BUTTON");
    if (hadFocus) keep = switchKey(active);
    const spec = model.get("spec");
    if (update(el, spec)) {
      // the same buttons, new states: the tab stop may have been hidden (a slope switch)
      rows = switchRows(el.querySelector(".msem-grid-scroll") || el);
      const all = rows.flat();
      if (all.length && !all.some((s) => s.btn.tabIndex === 0)) {
        const kept = all.find((s) => switchKey(s.btn) === keep) || all[0];
        setTabStop(rows, kept.btn);
      }
      if (hadFocus && active.hidden) {
        const target = all.find((s) => s.btn.tabIndex === 0);
        if (target) target.btn.focus({ preventScroll: true });
      }
      return;
    }
    const scroller = el.querySelector(".msem-grid-scroll");
    const top = scroller ? scroller.scrollTop : 0;
    const left = scroller ? scroller.scrollLeft : 0;
    rows = draw(doc, el, spec, send, keep);
    const again = el.querySelector(".msem-grid-scroll");
    if (again) {
      again.scrollTop = top;
      again.scrollLeft = left;
    }
    if (hadFocus) {
      const target = rows.flat().find((s) => s.btn.tabIndex === 0);
      if (target) target.btn.focus({ preventScroll: true });
    }
  };
  const onKey = (ev) => {
    const btn = ev.target;
    if (!btn || btn.tagName !== "BUTTON") return;
    const pos = position(rows, btn);
    if (!pos) return;
    const next = navigate(rows.map((r) => r.map((s) => ({ col: s.col, table: s.table }))), pos,
      ev.key);
    if (next.r === pos.r && next.i === pos.i) {
      if (ev.key.startsWith("Arrow") || ev.key.startsWith("Page")) ev.preventDefault();
      return;
    }
    ev.preventDefault();
    const target = rows[next.r][next.i].btn;
    setTabStop(rows, target);
    keep = switchKey(target);
    target.focus();
    if (target.scrollIntoView) target.scrollIntoView({ block: "nearest", inline: "nearest" });
  };
  const onFocus = (ev) => {
    const btn = ev.target;
    if (btn && btn.tagName === "BUTTON" && position(rows, btn)) {
      setTabStop(rows, btn);
      keep = switchKey(btn);
    }
  };
  el.addEventListener("keydown", onKey);
  el.addEventListener("focusin", onFocus);
  redraw();
  model.on("change:spec", redraw);
  return () => {
    model.off("change:spec", redraw);
    el.removeEventListener("keydown", onKey);
    el.removeEventListener("focusin", onFocus);
  };
}

export default { render };
