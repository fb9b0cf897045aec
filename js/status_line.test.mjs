import test from "node:test";
import assert from "node:assert/strict";
import { normalState, stateLabel, draw } from "../msem_nb/widget/js/status_line.js";
import { fakeDocument } from "./fake_dom.mjs";

test("unknown states show as idle", () => {
  assert.equal(normalState("bogus"), "idle");
  assert.equal(normalState("error"), "error");
  assert.equal(stateLabel("fitting"), "Fitting");
});

test("the status line shows message and detail as text and reuses its nodes", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  draw(doc, root, "error", "Syntax error at line 2, column 4: <b>x</b>", "y ~ \n    ^");
  const box = root.querySelector(".msem-status");
  assert.equal(box.dataset.state, "error");
  assert.equal(root.querySelector(".msem-message").textContent,
    "Syntax error at line 2, column 4: <b>x</b>");
  assert.equal(root.findAll((n) => n.tagName === "B").length, 0);
  draw(doc, root, "ok", "Converged", "");
  assert.equal(root.querySelector(".msem-status"), box);
  assert.equal(box.dataset.state, "ok");
  assert.equal(root.querySelector(".msem-detail").textContent, "");
});
