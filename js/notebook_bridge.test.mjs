import test from "node:test";
import assert from "node:assert/strict";
import {
  hostCellIndex, dataUrl, normalCell, notebookOf, insertBelowHost, download,
} from "../msem_nb/widget/js/notebook_bridge.js";
import { fakeDocument } from "./fake_dom.mjs";

const MIME = "application/vnd.jupyter.widget-view+json";
const widgetOut = (id) => ({ output_type: "display_data", data: { [MIME]: { model_id: id } } });

test("the host cell is the code cell whose output shows the panel", () => {
  const cells = [
    { cell_type: "markdown" },
    { cell_type: "code", outputs: [{ output_type: "stream", text: "hi" }] },
    { cell_type: "code", outputs: [widgetOut("other"), widgetOut("abc")] },
    { cell_type: "code", outputs: [widgetOut("abc")] },
  ];
  assert.equal(hostCellIndex(cells, "abc"), 2);
  assert.equal(hostCellIndex(cells, "nope"), -1);
  assert.equal(hostCellIndex(cells, ""), -1);
});

test("data URLs carry the mime type and base64 content", () => {
  assert.equal(dataUrl("text/html", "PGI+"), "data:text/html;base64,PGI+");
  assert.equal(dataUrl("", "AA=="), "data:application/octet-stream;base64,AA==");
});

test("cells are completed to nbformat 4", () => {
  assert.deepEqual(normalCell({ source: "x = 1" }),
    { cell_type: "code", source: "x = 1", metadata: {}, outputs: [], execution_count: null });
});

function fakeNotebook(cells) {
  const shared = {
    cells: cells.map((c) => ({ cell_type: c.cell_type, getOutputs: () => c.outputs || [] })),
    inserted: [],
    insertCell(i, cell) { this.inserted.push([i, cell]); },
  };
  const models = [];
  return { context: { model: { sharedModel: shared, cells: { get: (i) => (models[i] ||= { trusted: false }) } } }, shared, models };
}

test("no notebook context means a clear refusal, not an exception", () => {
  assert.equal(notebookOf(undefined), null);
  assert.equal(notebookOf({}), null);
  const r = insertBelowHost({}, "abc", { source: "x" });
  assert.equal(r.ok, false);
  assert.match(r.reason, /copy the code/);
});

test("a new cell goes right below the panel's cell, trusted when asked", () => {
  const nb = fakeNotebook([{ cell_type: "code", outputs: [] },
    { cell_type: "code", outputs: [widgetOut("abc")] }, { cell_type: "code" }]);
  const r = insertBelowHost(nb, "abc", { source: "fit", trusted: true });
  assert.deepEqual(r, { ok: true, index: 2, how: "below the panel" });
  assert.equal(nb.shared.inserted[0][0], 2);
  assert.equal(nb.shared.inserted[0][1].source, "fit");
  assert.equal(nb.models[2].trusted, true);
});

test("without the panel's cell the new cell goes at the end", () => {
  const nb = fakeNotebook([{ cell_type: "code" }]);
  const r = insertBelowHost(nb, "abc", { source: "fit" });
  assert.equal(r.index, 1);
  assert.match(r.how, /end/);
});

test("a download clicks a hidden data: link", () => {
  const doc = fakeDocument();
  let clicked = null;
  const orig = doc.createElement;
  doc.createElement = (tag) => {
    const n = orig(tag);
    if (tag === "a") n.addEventListener("click", () => { clicked = n; });
    return n;
  };
  const href = download(doc, "r.html", "text/html", "PGI+");
  assert.equal(href, "data:text/html;base64,PGI+");
  assert.equal(clicked.download, "r.html");
  assert.equal(doc.body.children.length, 0);
});
