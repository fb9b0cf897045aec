import test from "node:test";
import assert from "node:assert/strict";
import { normalState, stateLabel, draw, watchConnection } from "../msem_nb/widget/js/status_line.js";
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


function signal() {
  const slots = new Set();
  return {
    connect: (f) => slots.add(f),
    disconnect: (f) => slots.delete(f),
    emit: (sender, value) => [...slots].forEach((f) => f(sender, value)),
    size: () => slots.size,
  };
}

test("a message from another kernel process (a new session id) means the kernel was restarted", () => {
  const kernel = { status: "idle", statusChanged: signal(), iopubMessage: signal() };
  const model = { widget_manager: { kernel }, get: () => null };
  const seen = [];
  const stop = watchConnection(model, (live) => seen.push(live));
  kernel.iopubMessage.emit(kernel, { header: { session: "a" } });
  kernel.statusChanged.emit(kernel, "busy");
  kernel.iopubMessage.emit(kernel, { header: { session: "a" } });
  kernel.statusChanged.emit(kernel, "idle");
  assert.deepEqual(seen, []);
  // no "restarting" or "starting" status reached the page, only the new process's messages
  kernel.iopubMessage.emit(kernel, { header: { session: "b" } });
  kernel.iopubMessage.emit(kernel, { header: { session: "c" } });
  assert.deepEqual(seen, [false]);
  stop();
  assert.equal(kernel.iopubMessage.size(), 0);
  assert.equal(kernel.statusChanged.size(), 0);
});
