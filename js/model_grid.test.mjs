// Unit tests of the Model screen's switch grid (node --test js/).
import test from "node:test";
import assert from "node:assert/strict";
import {
  pairKey, indexLevel, pathCell, covCell, toggleMessage, optimisticState, draw,
} from "../msem_nb/widget/js/model_grid.js";
import { fakeDocument } from "./fake_dom.mjs";

const within = {
  level: "within",
  title: "Within",
  vars: [{ name: "y1", kind: "observed" }, { name: "x1", kind: "observed" },
    { name: "fw", kind: "latent" }],
  paths: [["y1", "fw"]],
  covs: [["x1", "y1"]],
  variances: ["y1"],
  slopes: [["y1", "x1", "s1"]],
  slope_y: ["y1", "x1"],
  slope_x: ["x1"],
};

test("pairKey joins names with a character identifiers cannot hold", () => {
  assert.equal(pairKey("y1", "x1"), "y1|x1");
});

test("a path cell is on, off or a random slope", () => {
  const idx = indexLevel(within);
  assert.equal(pathCell(within, idx, "y1", "fw").state, "on");
  assert.equal(pathCell(within, idx, "fw", "y1").state, "off");
  const slope = pathCell(within, idx, "y1", "x1");
  assert.equal(slope.state, "slope");
  assert.equal(slope.slope, "s1");
  assert.equal(slope.text, "s1");
  assert.ok(slope.slopeOk);
});

test("random slopes are offered only for allowed outcome/covariate pairs", () => {
  const idx = indexLevel(within);
  assert.equal(pathCell(within, idx, "x1", "y1").slopeOk, false);   // y1 is no covariate
  assert.equal(pathCell(within, idx, "y1", "fw").slopeOk, false);   // latent covariate
});

test("the diagonal is the variance switch", () => {
  const idx = indexLevel(within);
  const c = pathCell(within, idx, "y1", "y1");
  assert.equal(c.kind, "var");
  assert.equal(c.state, "on");
  assert.equal(pathCell(within, idx, "x1", "x1").state, "off");
});

test("covariances are symmetric", () => {
  const idx = indexLevel(within);
  assert.equal(covCell(within, idx, "y1", "x1").state, "on");
  assert.equal(covCell(within, idx, "x1", "y1").state, "on");
  assert.equal(covCell(within, idx, "fw", "x1").state, "off");
});

test("a click sends the kind, level and both names", () => {
  assert.deepEqual(toggleMessage("path", "between", "y1", "w1"),
    { type: "toggle", kind: "path", level: "between", a: "y1", b: "w1" });
});

test("a clicked switch flips at once", () => {
  assert.equal(optimisticState("path", "off"), "on");
  assert.equal(optimisticState("path", "on"), "off");
  assert.equal(optimisticState("path", "slope"), "off");
  assert.equal(optimisticState("slope", "on"), "off");
});

test("draw builds one path table and one covariance table per level", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  const sent = [];
  draw(doc, root, { levels: [within, { ...within, level: "between", title: "Between",
    slopes: [], slope_y: [], slope_x: [] }] }, (m) => sent.push(m));
  const tables = root.findAll((n) => n.tagName === "TABLE");
  assert.equal(tables.length, 4);
  const cells = root.findAll((n) => n.tagName === "BUTTON" && n.className === "msem-cell");
  // 3x3 path cells + 3 covariance cells, per level
  assert.equal(cells.length, 2 * (9 + 3));
  const btn = cells.find((b) => b.dataset.kind === "path" && b.dataset.a === "fw" &&
    b.dataset.b === "x1" && b.dataset.level === "between");
  btn.click();
  assert.deepEqual(sent, [{ type: "toggle", kind: "path", level: "between", a: "fw", b: "x1" }]);
  assert.equal(btn.dataset.state, "on");
});

test("names are written as text, never parsed as HTML", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  const evil = "<img src=x onerror=alert(1)>";
  draw(doc, root, { levels: [{ level: "", title: "Model", vars: [{ name: evil, kind: "observed" },
    { name: "y", kind: "observed" }], paths: [], covs: [], variances: [], slopes: [] }] }, () => {});
  const headers = root.findAll((n) => n.tagName === "TH" && n.textContent === evil);
  assert.ok(headers.length >= 2);
  assert.equal(root.findAll((n) => n.tagName === "IMG").length, 0);
});

test("an empty spec asks for variables", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  draw(doc, root, { levels: [] }, () => {});
  assert.match(root.textContentDeep(), /Choose variables/);
});
