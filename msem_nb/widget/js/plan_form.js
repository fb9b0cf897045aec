// Plan tab of the msem_nb panel (anywidget front end): a power study of the current model.
//
// Traits (state): `parameters` (names offered), `parameter`, `effect` (text; "" keeps the
// estimate), `estimate` (the fitted value, a hint), `clusters` ("20,40,80"), `sizes`
// ("10", "5-15" or "10,20"), `reps`, `seed`, `state` ("idle", "running", "done", "error",
// "cancelled"), `done` and `total` (replications), `message`, `rows` (the table: one
// object per design) and `code` (the study as Python). The inputs write their trait;
// the buttons send commands as messages: {type: "run"}, {type: "cancel"},
// {type: "insert_code"}. Nothing statistical happens here, and every text goes in
// through textContent.

const STYLE = `
.msem-plan{font:13px/1.4 var(--jp-ui-font-family,sans-serif);color:#222}
.msem-plan .msem-plan-fields{display:grid;grid-template-columns:max-content 16em;gap:4px 8px;
  align-items:center;margin:4px 0}
.msem-plan input,.msem-plan select{font:inherit;padding:1px 4px}
.msem-plan .msem-plan-hint{color:#666;font-size:12px;grid-column:2}
.msem-plan .msem-plan-buttons button{margin:4px 6px 4px 0}
.msem-plan .msem-plan-bar{height:8px;background:#eee;border-radius:4px;overflow:hidden;
  width:24em;margin:4px 0}
.msem-plan .msem-plan-bar span{display:block;height:100%;background:#4c78a8;width:0}
.msem-plan .msem-plan-msg[data-state=error]{color:#b00}
.msem-plan .msem-plan-msg[data-state=done]{color:#2d7a2d}
.msem-plan table{border-collapse:collapse;margin:6px 0}
.msem-plan td,.msem-plan th{border:1px solid #ddd;padding:1px 6px;text-align:right}
.msem-plan pre{background:#f6f6f6;padding:6px;font:12px/1.35 var(--jp-code-font-family,monospace);
  white-space:pre-wrap}
.msem-plan pre:empty{display:none}
`;

/** The inputs: trait, label, kind. */
export const FIELDS = [
  { trait: "parameter", label: "Parameter of interest", kind: "select" },
  { trait: "effect", label: "Population value", kind: "text" },
  { trait: "clusters", label: "Numbers of clusters J", kind: "text" },
  { trait: "sizes", label: "Cluster size(s)", kind: "text" },
  { trait: "reps", label: "Replications per design", kind: "number" },
  { trait: "seed", label: "Seed", kind: "number" },
];

/** Table columns: key, header, digits (null: as text). */
export const COLUMNS = [
  ["n_clusters", "J", null], ["cluster_size", "cluster size", null], ["power", "power", 3],
  ["rel_bias", "relative bias", 3], ["se_sd_ratio", "SE/SD", 3], ["coverage", "coverage", 3],
  ["converged", "converged", 3],
];

/** What the progress line says. */
export function progressText(state, done, total) {
  if (state === "running") {
    return total > 0 ? `${done} of ${total} replications` : "Starting\u2026";
  }
  if (state === "cancelled") return `Stopped after ${done} of ${total} replications`;
  return "";
}

/** Share of the bar to fill, in [0, 1]. */
export function progressShare(done, total) {
  if (!(total > 0)) return 0;
  return Math.min(1, Math.max(0, done / total));
}

/** Which buttons can be pressed in `state` (and whether code exists). */
export function buttonStates(state, hasCode, hasParameters) {
  const running = state === "running";
  return { run: !running && hasParameters, cancel: running, code: !running && hasCode };
}

/** A number as table text: `digits` decimals, "" for null or NaN. */
export function cellText(v, digits) {
  if (v === null || v === undefined) return "";
  if (digits === null) return String(v);
  const x = Number(v);
  return Number.isFinite(x) ? x.toFixed(digits) : "";
}

/** The form's nodes, made once. */
export function build(doc, el) {
  const style = doc.createElement("style");
  style.textContent = STYLE;
  const box = doc.createElement("div");
  box.className = "msem-plan";
  const fields = doc.createElement("div");
  fields.className = "msem-plan-fields";
  const inputs = {};
  for (const f of FIELDS) {
    const label = doc.createElement("label");
    label.textContent = f.label;
    const input = doc.createElement(f.kind === "select" ? "select" : "input");
    if (f.kind !== "select") input.type = f.kind === "number" ? "number" : "text";
    input.className = `msem-plan-${f.trait}`;
    input.setAttribute("aria-label", f.label);
    fields.append(label, input);
    inputs[f.trait] = input;
    if (f.trait === "effect") {
      const hint = doc.createElement("div");
      hint.className = "msem-plan-hint";
      fields.append(hint);
      inputs.hint = hint;
    }
  }
  const buttons = doc.createElement("div");
  buttons.className = "msem-plan-buttons";
  const mk = (cls, text) => {
    const b = doc.createElement("button");
    b.className = cls;
    b.textContent = text;
    b.type = "button";
    buttons.append(b);
    return b;
  };
  const run = mk("msem-plan-run", "Run the study");
  const cancel = mk("msem-plan-cancel", "Stop");
  const code = mk("msem-plan-code", "Insert the study's code below");
  const bar = doc.createElement("div");
  bar.className = "msem-plan-bar";
  bar.setAttribute("role", "progressbar");
  const fill = doc.createElement("span");
  bar.append(fill);
  const progress = doc.createElement("div");
  progress.className = "msem-plan-progress";
  const msg = doc.createElement("div");
  msg.className = "msem-plan-msg";
  msg.setAttribute("role", "status");
  const table = doc.createElement("table");
  table.className = "msem-plan-table";
  const pre = doc.createElement("pre");
  pre.className = "msem-plan-codetext";
  box.append(fields, buttons, bar, progress, msg, table, pre);
  el.replaceChildren(style, box);
  return { box, inputs, run, cancel, code, bar, fill, progress, msg, table, pre };
}

function drawOptions(doc, select, names, value) {
  const now = Array.from(select.children).map((o) => o.value);
  if (now.length !== names.length || now.some((v, i) => v !== names[i])) {
    select.replaceChildren();
    for (const n of names) {
      const o = doc.createElement("option");
      o.value = n;
      o.textContent = n;
      select.append(o);
    }
  }
  select.value = value;
}

function drawTable(doc, table, rows) {
  table.replaceChildren();
  if (!rows || !rows.length) return;
  const head = doc.createElement("tr");
  for (const [, title] of COLUMNS) {
    const th = doc.createElement("th");
    th.textContent = title;
    head.append(th);
  }
  table.append(head);
  for (const r of rows) {
    const tr = doc.createElement("tr");
    for (const [key, , digits] of COLUMNS) {
      const td = doc.createElement("td");
      td.textContent = cellText(r[key], digits);
      tr.append(td);
    }
    table.append(tr);
  }
}

/** Show the traits (`get(name)`) in the form's nodes. */
export function draw(doc, parts, get) {
  const names = get("parameters") || [];
  drawOptions(doc, parts.inputs.parameter, names, get("parameter") || "");
  for (const t of ["effect", "clusters", "sizes", "reps", "seed"]) {
    const input = parts.inputs[t];
    const v = get(t);
    const text = v === null || v === undefined ? "" : String(v);
    // a write from Python; what the user is typing already matches
    if (input.value !== text && doc.activeElement !== input) input.value = text;
  }
  const est = get("estimate");
  parts.inputs.hint.textContent = est === null || est === undefined || !Number.isFinite(est)
    ? "empty: the fitted value" : `empty: the fitted value, ${est.toPrecision(4)}`;
  const state = get("state") || "idle";
  parts.box.dataset.state = state;
  const ok = buttonStates(state, Boolean(get("code")), names.length > 0);
  parts.run.disabled = !ok.run;
  parts.cancel.disabled = !ok.cancel;
  parts.code.disabled = !ok.code;
  const share = state === "running" || state === "cancelled"
    ? progressShare(get("done"), get("total")) : state === "done" ? 1 : 0;
  parts.fill.style.width = `${(100 * share).toFixed(1)}%`;
  parts.bar.setAttribute("aria-valuenow", String(Math.round(100 * share)));
  parts.progress.textContent = progressText(state, get("done") || 0, get("total") || 0);
  parts.msg.dataset.state = state;
  parts.msg.textContent = get("message") || "";
  drawTable(doc, parts.table, get("rows"));
  parts.pre.textContent = get("code") || "";
}

const TRAITS = ["parameters", "parameter", "effect", "estimate", "clusters", "sizes", "reps",
  "seed", "state", "done", "total", "message", "rows", "code"];

function render({ model, el }) {
  const doc = el.ownerDocument;
  const parts = build(doc, el);
  const get = (t) => model.get(t);
  const redraw = () => draw(doc, parts, get);
  const write = (trait, kind) => () => {
    const raw = parts.inputs[trait].value;
    const v = kind === "number" ? Number.parseInt(raw, 10) : raw;
    if (kind === "number" && !Number.isFinite(v)) return;
    model.set(trait, v);
    model.save_changes();
  };
  for (const f of FIELDS) {
    parts.inputs[f.trait].addEventListener(f.kind === "select" ? "change" : "input",
      write(f.trait, f.kind));
  }
  parts.run.addEventListener("click", () => model.send({ type: "run" }));
  parts.cancel.addEventListener("click", () => model.send({ type: "cancel" }));
  parts.code.addEventListener("click", () => model.send({ type: "insert_code" }));
  for (const t of TRAITS) model.on(`change:${t}`, redraw);
  redraw();
  return () => {
    for (const t of TRAITS) model.off(`change:${t}`, redraw);
  };
}

export default { render };
