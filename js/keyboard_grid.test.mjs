// The switch grid with a keyboard and a screen reader (issue 13, item 8), and its
// in-place updates: one tab stop, arrow keys, aria-pressed, on/off in every name.
import test from "node:test";
import assert from "node:assert/strict";
import {
  pathCell, covCell, slopeCell, indexLevel, draw, update, navigate, switchRows, structureKey,
  switchKey,
} from "../msem_nb/widget/js/model_grid.js";
import { fakeDocument } from "./fake_dom.mjs";

const within = {
  level: "within",
  title: "Within",
  hint: "Row \u2190 column: regression.",
  vars: [{ name: "y1", kind: "observed" }, { name: "x1", kind: "observed" },
    { name: "x2", kind: "observed" }],
  paths: [["y1", "x1"]],
  covs: [],
  variances: ["y1"],
  slopes: [],
  slope_y: ["y1"],
  slope_x: ["x1", "x2"],
};
const between = { ...within, level: "between", title: "Between", hint: "Between hint.",
  slopes: [], slope_y: [], slope_x: [], paths: [], variances: [] };

function buttons(root) {
  return root.findAll((n) => n.tagName === "BUTTON");
}

test("every switch says what it is and whether it is on", () => {
  const idx = indexLevel(within);
  const on = pathCell(within, idx, "y1", "x1");
  assert.equal(on.pressed, true);
  assert.match(on.title, /regression of y1 on x1 \(within level\): on/);
  const off = pathCell(within, idx, "x1", "y1");
  assert.equal(off.pressed, false);
  assert.match(off.title, /: off$/);
  assert.match(pathCell(within, idx, "y1", "y1").title, /variance of y1 \(within level\): on/);
  assert.match(covCell(within, idx, "x2", "x1").title, /covariance of x2 and x1.*: off/);
  const slope = slopeCell(on, "y1", "x1");
  assert.equal(slope.pressed, false);
  assert.match(slope.title, /random slope of y1 on x1: off \(fixed path\)/);
});

test("the grid is one tab stop; every switch has aria-pressed and a name", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  draw(doc, root, { levels: [within, between] }, () => {});
  const all = buttons(root);
  assert.equal(all.filter((b) => b.tabIndex === 0).length, 1);
  assert.ok(all.every((b) => b.tabIndex === 0 || b.tabIndex === -1));
  for (const b of all) {
    assert.ok(["true", "false"].includes(b.getAttribute("aria-pressed")));
    assert.equal(b.getAttribute("aria-label"), b.title);
    assert.match(b.title, /: (on|off)/);
  }
  // the hints come from Python (per level), not from the page
  assert.ok(root.findAll((n) => n.textContent === "Between hint.").length === 1);
});

test("a path that may be random has its F/R switch, shown only while the path is on", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  draw(doc, root, { levels: [within] }, () => {});
  const slopes = buttons(root).filter((b) => b.className === "msem-slopebtn");
  // y1 on x1 and y1 on x2 may be random; only y1 ~ x1 is on
  assert.deepEqual(slopes.map((b) => [b.dataset.a, b.dataset.b, b.hidden]),
    [["y1", "x1", false], ["y1", "x2", true]]);
  // hidden switches are not in the keyboard order
  const rows = switchRows(root.querySelector(".msem-grid-scroll"));
  assert.ok(rows.flat().every((s) => !s.btn.hidden));
});

test("arrow keys move within a row, along a column, and Page keys between grids", () => {
  const rows = [
    [{ col: 1, table: 0 }, { col: 2, table: 0 }, { col: 3, table: 0 }],
    [{ col: 1, table: 0 }, { col: 2, table: 0 }, { col: 2, table: 0 }, { col: 3, table: 0 }],
    [{ col: 1, table: 1 }],
    [{ col: 1, table: 1 }, { col: 2, table: 1 }],
  ];
  assert.deepEqual(navigate(rows, { r: 0, i: 0 }, "ArrowRight"), { r: 0, i: 1 });
  assert.deepEqual(navigate(rows, { r: 0, i: 2 }, "ArrowRight"), { r: 0, i: 2 });
  assert.deepEqual(navigate(rows, { r: 0, i: 0 }, "ArrowLeft"), { r: 0, i: 0 });
  assert.deepEqual(navigate(rows, { r: 0, i: 2 }, "ArrowDown"), { r: 1, i: 3 });
  assert.deepEqual(navigate(rows, { r: 1, i: 3 }, "ArrowDown"), { r: 2, i: 0 });
  assert.deepEqual(navigate(rows, { r: 1, i: 1 }, "ArrowUp"), { r: 0, i: 1 });
  assert.deepEqual(navigate(rows, { r: 0, i: 1 }, "ArrowUp"), { r: 0, i: 1 });
  assert.deepEqual(navigate(rows, { r: 1, i: 2 }, "Home"), { r: 1, i: 0 });
  assert.deepEqual(navigate(rows, { r: 1, i: 0 }, "End"), { r: 1, i: 3 });
  assert.deepEqual(navigate(rows, { r: 0, i: 1 }, "PageDown"), { r: 2, i: 0 });
  assert.deepEqual(navigate(rows, { r: 3, i: 1 }, "PageUp"), { r: 0, i: 0 });
  assert.deepEqual(navigate(rows, { r: 3, i: 1 }, "PageDown"), { r: 3, i: 1 });
  assert.deepEqual(navigate(rows, { r: 1, i: 1 }, "x"), { r: 1, i: 1 });
});

test("a new spec with the same variables updates the switches in place", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  draw(doc, root, { levels: [within] }, () => {});
  const before = buttons(root);
  const cell = before.find((b) => b.dataset.a === "x1" && b.dataset.b === "x2");
  cell.classList.add("msem-pending");
  const spec = { levels: [{ ...within, paths: [["y1", "x1"], ["x1", "x2"]] }] };
  assert.equal(structureKey(spec), structureKey({ levels: [within] }));
  assert.equal(update(root, spec), true);
  const after = buttons(root);
  assert.equal(after.length, before.length);
  assert.ok(after.every((b, i) => b === before[i]));       // the same nodes: focus stays
  assert.equal(cell.dataset.state, "on");
  assert.equal(cell.getAttribute("aria-pressed"), "true");
  assert.match(cell.title, /: on$/);
  assert.equal(cell.classList.contains("msem-pending"), false);
  // switching y1 ~ x1 off hides its F/R switch
  update(root, { levels: [{ ...within, paths: [] }] });
  const slope = after.find((b) => b.className === "msem-slopebtn" && b.dataset.b === "x1");
  assert.equal(slope.hidden, true);
  // other variables: a new drawing is needed
  assert.equal(update(root, { levels: [{ ...within, vars: within.vars.slice(0, 2) }] }), false);
});

test("the tab stop survives a full redraw", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  draw(doc, root, { levels: [within] }, () => {});
  const target = buttons(root).find((b) => b.dataset.a === "x2" && b.dataset.b === "x1");
  const key = switchKey(target);
  draw(doc, root, { levels: [within, between] }, () => {}, key);
  const stop = buttons(root).filter((b) => b.tabIndex === 0);
  assert.equal(stop.length, 1);
  assert.equal(switchKey(stop[0]), key);
});

test("while loading, the grid says so", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  draw(doc, root, { levels: [], loading: "Loading the variables\u2026" }, () => {});
  assert.match(root.textContentDeep(), /Loading the variables/);
  assert.equal(buttons(root).length, 0);
});

test("a panel that lost its kernel takes no clicks", () => {
  const doc = fakeDocument();
  const panel = doc.createElement("div");
  panel.className = "msem-panel msem-disconnected";
  const root = doc.createElement("div");
  panel.appendChild(root);
  const sent = [];
  draw(doc, root, { levels: [within] }, (m) => sent.push(m));
  const b = buttons(root).find((x) => x.dataset.a === "x1" && x.dataset.b === "x2");
  b.click();
  assert.deepEqual(sent, []);
  assert.equal(b.dataset.state, "off");
  panel.classList.remove("msem-disconnected");
  b.click();
  assert.equal(sent.length, 1);
});
