import test from "node:test";
import assert from "node:assert/strict";
import {
  build, draw, progressText, progressShare, buttonStates, cellText, FIELDS,
} from "../msem_nb/widget/js/plan_form.js";
import { fakeDocument } from "./fake_dom.mjs";

function traits(over) {
  const t = {
    parameters: ["math ~ motw [within]", "math ~ motb [between]"],
    parameter: "math ~ motb [between]", effect: "", estimate: 0.66, clusters: "20,40",
    sizes: "10", reps: 100, seed: 1, state: "idle", done: 0, total: 0, message: "",
    rows: [], code: "",
  };
  return Object.assign(t, over || {});
}

test("progress text and share", () => {
  assert.equal(progressText("running", 30, 200), "30 of 200 replications");
  assert.equal(progressText("running", 0, 0), "Starting\u2026");
  assert.equal(progressText("cancelled", 40, 200), "Stopped after 40 of 200 replications");
  assert.equal(progressText("done", 200, 200), "");
  assert.equal(progressShare(50, 200), 0.25);
  assert.equal(progressShare(5, 0), 0);
  assert.equal(progressShare(300, 200), 1);
});

test("buttons follow the state", () => {
  assert.deepEqual(buttonStates("running", true, true), { run: false, cancel: true, code: false });
  assert.deepEqual(buttonStates("done", true, true), { run: true, cancel: false, code: true });
  assert.deepEqual(buttonStates("idle", false, false), { run: false, cancel: false, code: false });
});

test("cells: fixed decimals, empty for missing values", () => {
  assert.equal(cellText(0.81234, 3), "0.812");
  assert.equal(cellText(null, 3), "");
  assert.equal(cellText(NaN, 3), "");
  assert.equal(cellText("5-15", null), "5-15");
});

test("the form shows the traits as text and reuses its inputs", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  const parts = build(doc, root);
  assert.equal(Object.keys(parts.inputs).length, FIELDS.length + 1);
  const t = traits({ message: "<img src=x onerror=alert(1)>", state: "running", done: 50,
    total: 200 });
  draw(doc, parts, (k) => t[k]);
  const select = parts.inputs.parameter;
  assert.deepEqual(select.children.map((o) => o.textContent), t.parameters);
  assert.equal(select.value, "math ~ motb [between]");
  assert.equal(parts.inputs.clusters.value, "20,40");
  assert.equal(parts.inputs.reps.value, "100");
  assert.match(parts.inputs.hint.textContent, /0\.6600/);
  assert.equal(parts.msg.textContent, "<img src=x onerror=alert(1)>");
  assert.equal(root.findAll((n) => n.tagName === "IMG").length, 0);
  assert.equal(parts.fill.style.width, "25.0%");
  assert.equal(parts.run.disabled, true);
  assert.equal(parts.cancel.disabled, false);
  const options = select.children;
  draw(doc, parts, (k) => t[k]);
  assert.equal(select.children[0], options[0]);   // same names: the options are kept
});

test("results: a row per design and the code, as text", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  const parts = build(doc, root);
  const t = traits({ state: "done", rows: [
    { n_clusters: 20, cluster_size: "10", power: 0.5, rel_bias: -0.01, se_sd_ratio: 0.98,
      coverage: 0.94, converged: 1 },
    { n_clusters: 40, cluster_size: "10", power: 0.81, rel_bias: null, se_sd_ratio: 1.01,
      coverage: 0.95, converged: 1 }], code: "import msem_nb as ms\n<b>" });
  draw(doc, parts, (k) => t[k]);
  const rows = parts.table.children;
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[2].children.map((c) => c.textContent),
    ["40", "10", "0.810", "", "1.010", "0.950", "1.000"]);
  assert.equal(parts.pre.textContent, "import msem_nb as ms\n<b>");
  assert.equal(root.findAll((n) => n.tagName === "B").length, 0);
  assert.equal(parts.fill.style.width, "100.0%");
  assert.equal(parts.code.disabled, false);
});
