// The Results screen's modification indices and comparison (issue 16, item 6), with the
// fake DOM: what is drawn, what a click sends, and that names stay text.
import test from "node:test";
import assert from "node:assert/strict";
import { drawModindices, drawComparison, freeMessage, compareMessage, setPending, NUMERIC } from
  "../msem_nb/widget/js/model_checks.js";
import { fakeDocument } from "./fake_dom.mjs";

const EVIL = "<img src=x onerror=alert(1)>";
const SPEC = {
  state: "ok",
  message: "The 2 modification indices of at least 3.84: ...",
  header: ["parameter", "level", "MI", "EPC", "std. EPC", ""],
  rows: [
    { id: '["cov", "between", "y1", "y2"]', name: "y1 ~~ y2 (between level)", why: "",
      cells: ["y1 ~~ y2", "between", "114.99", "0.541", "0.998"] },
    { id: "", name: `${EVIL} ~~ x8`, why: `The model text fixes ${EVIL} ~~ x8 at 0: remove it.`,
      cells: [`${EVIL} ~~ x8`, "", "34.15", "0.536", "0.859"] },
  ],
  freed: [{ id: '["cov", "within", "a&b", "y4"]', name: "a&b ~~ y4 (within level)" }],
};

function imgs(root) {
  return root.findAll((n) => n.tagName === "IMG").length;
}

function byClass(root, cls) {
  return root.findAll((n) => n.className.split(" ").includes(cls));
}

test("messages of the buttons", () => {
  assert.deepEqual(freeMessage("k", true), { type: "free", id: "k" });
  assert.deepEqual(freeMessage("k", false), { type: "unfree", id: "k" });
  assert.deepEqual(compareMessage(), { type: "compare" });
  assert.deepEqual([...NUMERIC], [2, 3, 4]);
});

test("the index table: one row per index, Free buttons, reasons, numbers right-aligned", () => {
  const doc = fakeDocument();
  const box = doc.createElement("div");
  const sent = [];
  drawModindices(doc, box, SPEC, (m) => sent.push(m));
  const msg = byClass(box, "msem-mi-msg")[0];
  assert.equal(msg.textContent, SPEC.message);
  assert.equal(msg.dataset.state, "ok");
  const rows = box.findAll((n) => n.tagName === "TR");
  assert.equal(rows.length, 3);                          // the header and two indices
  assert.deepEqual(rows[0].children.map((c) => c.textContent), SPEC.header);
  const cells = rows[1].children.map((c) => c.textContent);
  assert.deepEqual(cells.slice(0, 5), SPEC.rows[0].cells);
  assert.equal(rows[1].children[2].className, "num");
  assert.equal(rows[1].children[0].className, "");
  assert.equal(rows[1].dataset.id, SPEC.rows[0].id);
  // the first can be freed: one click sends its id and marks it pending
  const free = byClass(rows[1], "msem-free");
  assert.equal(free.length, 1);
  assert.equal(free[0].getAttribute("aria-label"), "Free y1 ~~ y2 (between level) and refit");
  free[0].click();
  assert.deepEqual(sent, [{ type: "free", id: SPEC.rows[0].id }]);
  assert.ok(free[0].disabled && free[0].classList.contains("msem-pending"));
  free[0].click();                                       // a second click sends nothing
  assert.equal(sent.length, 1);
  // the second cannot: no button, the reason as text
  assert.equal(byClass(rows[2], "msem-free").length, 0);
  assert.equal(rows[2].dataset.id, undefined);
  assert.match(byClass(rows[2], "msem-why")[0].textContent, /The model text fixes <img/);
});

test("parameters freed from the list have an Undo", () => {
  const doc = fakeDocument();
  const box = doc.createElement("div");
  const sent = [];
  drawModindices(doc, box, SPEC, (m) => sent.push(m));
  const item = byClass(box, "msem-freed-item");
  assert.equal(item.length, 1);
  assert.match(item[0].textContent, /^a&b ~~ y4 \(within level\)Undo$/);
  byClass(item[0], "msem-unfree")[0].click();
  assert.deepEqual(sent, [{ type: "unfree", id: SPEC.freed[0].id }]);
});

test("user-supplied names are text, never HTML", () => {
  const doc = fakeDocument();
  const box = doc.createElement("div");
  drawModindices(doc, box, SPEC, () => {});
  drawComparison(doc, box.appendChild(doc.createElement("div")), {
    state: "error", message: `Cannot compare with the previous fit: '${EVIL}' differs`,
  }, () => {});
  assert.equal(imgs(box), 0);
  assert.ok(box.textContent.includes(`${EVIL} ~~ x8`));
  assert.ok(box.textContent.includes(`'${EVIL}' differs`));
});

test("unavailable indices say why and draw no table", () => {
  const doc = fakeDocument();
  const box = doc.createElement("div");
  drawModindices(doc, box, { state: "unavailable", message: "not available: improper",
    rows: [], freed: [] }, () => {});
  assert.equal(box.findAll((n) => n.tagName === "TABLE").length, 0);
  const msg = byClass(box, "msem-mi-msg")[0];
  assert.equal(msg.dataset.state, "unavailable");
  assert.equal(msg.textContent, "not available: improper");
  // before the first indices: a placeholder
  drawModindices(doc, box, {}, () => {});
  assert.match(byClass(box, "msem-mi-msg")[0].textContent, /once the model is fitted/);
});

test("the comparison: a button, the table of the test, the verdict and notes", () => {
  const doc = fakeDocument();
  const box = doc.createElement("div");
  const sent = [];
  const spec = {
    state: "ok", title: "Likelihood-ratio test", message: "The current fit fits better.",
    header: ["fit", "parameters", "df", "\u03c7\u00b2", "\u0394\u03c7\u00b2", "\u0394df", "p",
      "AIC", "BIC"],
    rows: [["current fit", "31", "17", "178.127", "", "", "", "48164.9", "48345.4"],
      ["previous fit", "30", "18", "318.552", "140.425", "1", "<.001", "48303.3", "48478.0"]],
    notes: ["a note"],
  };
  drawComparison(doc, box, spec, (m) => sent.push(m));
  const btn = byClass(box, "msem-compare-prev")[0];
  assert.equal(btn.textContent, "Compare with previous fit");
  btn.click();
  assert.deepEqual(sent, [{ type: "compare" }]);
  assert.ok(btn.disabled);
  const rows = byClass(box, "msem-lrt-table")[0].findAll((n) => n.tagName === "TR");
  assert.equal(rows.length, 3);
  assert.equal(rows[2].children[0].tagName, "TH");       // the row's name heads it
  assert.deepEqual(rows[2].children.map((c) => c.textContent), spec.rows[1]);
  assert.equal(rows[2].children[4].className, "num");
  assert.equal(byClass(box, "msem-lrt-msg")[0].textContent, spec.message);
  assert.equal(byClass(box, "msem-lrt-msg")[0].getAttribute("role"), "status");
  assert.equal(byClass(box, "msem-lrt-note")[0].textContent, "Note: a note");
  // running: the button waits; an error is a message, with no table
  drawComparison(doc, box, { state: "running", message: "Comparing" }, () => {});
  assert.ok(byClass(box, "msem-compare-prev")[0].disabled);
  drawComparison(doc, box, { state: "error", message: "not nested" }, () => {});
  assert.equal(byClass(box, "msem-lrt-table").length, 0);
  assert.equal(byClass(box, "msem-lrt-msg")[0].dataset.state, "error");
  assert.ok(!byClass(box, "msem-compare-prev")[0].disabled);
});

test("a pending button says what it waits for", () => {
  const doc = fakeDocument();
  const b = doc.createElement("button");
  setPending(b, "Freeing\u2026");
  assert.equal(b.textContent, "Freeing\u2026");
  assert.ok(b.disabled && b.classList.contains("msem-pending"));
});
