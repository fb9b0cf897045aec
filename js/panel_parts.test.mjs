// The syntax editor, the figure view and the status line's watch on the kernel
// (issue 13, items 2, 3, 8, 9 and 10), with the fake DOM.
import test from "node:test";
import assert from "node:assert/strict";
import { lineNumbers, errorOf, bandTop, build as buildEditor, mark } from
  "../msem_nb/widget/js/syntax_editor.js";
import { fitSize, scaleFonts, loadPlotly, build as buildPlot, label } from
  "../msem_nb/widget/js/plot_view.js";
import { draw as drawStatus, stateLabel, normalState, setPanelInert, watchConnection,
  DISCONNECTED_MESSAGE } from "../msem_nb/widget/js/status_line.js";
import { fakeDocument } from "./fake_dom.mjs";

test("the editor numbers its lines and marks the line of an error", () => {
  assert.deepEqual(lineNumbers("a\nb", 1), ["1", "2"]);
  assert.equal(lineNumbers("", 4).length, 4);
  assert.equal(errorOf({}), null);
  assert.deepEqual(errorOf({ line: 2, col: 5, message: "bad" }), { line: 2, col: 5, message: "bad" });
  assert.equal(bandTop(3, 10), 4 + 2 * 18 - 10);
  const doc = fakeDocument();
  const root = doc.createElement("div");
  const parts = buildEditor(doc, root, "ed1");
  // the label names the text box; the error is announced and tied to it
  assert.equal(parts.label.getAttribute("for"), "ed1");
  assert.equal(parts.ta.id, "ed1");
  assert.match(parts.ta.getAttribute("aria-describedby"), /ed1-error/);
  assert.equal(parts.err.getAttribute("role"), "alert");
  const evil = "unknown '<img src=x>' \u2014 did you mean 'ses'?";
  mark(doc, parts, "y ~ x\ny ~ sess\n", { line: 2, col: 5, message: evil }, 3);
  const bad = parts.gutter.children.filter((s) => s.className === "msem-bad");
  assert.equal(bad.length, 1);
  assert.equal(bad[0].textContent, "2");
  assert.equal(parts.err.textContent, evil);                   // text, never HTML
  assert.equal(root.findAll((n) => n.tagName === "IMG").length, 0);
  assert.equal(parts.ta.getAttribute("aria-invalid"), "true");
  assert.equal(parts.band.style.display, "block");
  mark(doc, parts, "y ~ x\n", {}, 3);
  assert.equal(parts.err.textContent, "");
  assert.equal(parts.ta.getAttribute("aria-invalid"), "false");
  assert.equal(parts.band.style.display, "none");
});

test("figures take the width they are given; diagrams keep their shape within the window", () => {
  assert.deepEqual(fitSize({ width: 700, height: 500 }, 1200, 1000, false),
    { width: 1200, height: 500, scale: 1 });
  // a diagram grows with the width, but not beyond what the window leaves below the tabs
  assert.deepEqual(fitSize({ width: 700, height: 500 }, 1400, 1080, true),
    { width: 1400, height: 800, scale: 1 });
  // narrower than designed: smaller, and its text shrinks with it (not below 60%)
  assert.deepEqual(fitSize({ width: 800, height: 600 }, 700, 1000, true),
    { width: 700, height: 525, scale: 0.875 });
  assert.deepEqual(fitSize({ width: 1000, height: 800 }, 400, 1000, true),
    { width: 400, height: 320, scale: 0.6 });
  assert.equal(fitSize({}, 50, 800, true).width, 200);
});

test("text scales with a narrow diagram, never below 7 px", () => {
  const layout = { font: { family: "Arial" }, title: { text: "T", font: { size: 15 } },
    annotations: [{ text: "a", font: { size: 12 } }, { text: "b" }, { text: "c", font: { size: 10 } }] };
  assert.equal(scaleFonts(layout, 1), layout);
  const out = scaleFonts(layout, 0.6);
  assert.equal(out.font.size, 7.2);
  assert.equal(out.title.font.size, 9);
  assert.deepEqual(out.annotations.map((a) => a.font.size), [7.2, 7.2, 7]);
  assert.equal(out.font.family, "Arial");
  assert.equal(layout.annotations[1].font, undefined);          // the original is untouched
});

test("plotly.js is asked for once per page, and a page that has it uses it", async () => {
  const sent = [];
  const handlers = [];
  const model = { send: (m) => sent.push(m), on: (n, f) => handlers.push(f), off: () => {} };
  const scope = {};
  const p1 = loadPlotly(model, scope);
  const p2 = loadPlotly(model, scope);
  assert.equal(p1, p2);
  assert.deepEqual(sent, [{ type: "need_plotly" }]);
  // an error from Python rejects, and the next figure may ask again
  handlers[0]({ type: "plotly_js", error: "no plotly" }, []);
  await assert.rejects(p1, /no plotly/);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(scope.__msemPlotlyPromise, null);
  const fake = { react() {} };
  assert.equal(await loadPlotly(model, { Plotly: fake }), fake);
});

test("a figure is an image with a name and a text version", () => {
  const doc = fakeDocument();
  const root = doc.createElement("div");
  const parts = buildPlot(doc, root, "pt1");
  label(parts, "msem-diagram", "Path diagram", "Within level: y on x (0.50).", "");
  assert.equal(parts.gd.getAttribute("role"), "img");
  assert.equal(parts.gd.getAttribute("aria-label"), "Path diagram");
  assert.equal(parts.gd.getAttribute("aria-describedby"), "pt1");
  assert.equal(parts.pre.id, "pt1");
  assert.equal(parts.pre.textContent, "Within level: y on x (0.50).");
  assert.ok(parts.gd.classList.contains("msem-diagram"));
  assert.equal(parts.wait.style.display, "none");
  label(parts, "msem-diagram", "Path diagram", "", "Loading\u2026");
  assert.equal(parts.wait.textContent, "Loading\u2026");
  assert.equal(parts.details.style.display, "none");
});

test("the status line has a loading and a disconnected state", () => {
  assert.equal(normalState("loading"), "loading");
  assert.equal(stateLabel("disconnected"), "Disconnected");
  assert.equal(stateLabel("warn"), "Check");
  const doc = fakeDocument();
  const root = doc.createElement("div");
  drawStatus(doc, root, "disconnected", DISCONNECTED_MESSAGE, "");
  assert.equal(root.querySelector(".msem-status").dataset.state, "disconnected");
  assert.match(root.textContentDeep(), /Run the cell again/);
});

test("a dead kernel makes the rest of the panel inert", () => {
  const doc = fakeDocument();
  const panel = doc.createElement("div");
  panel.className = "msem-panel";
  const header = doc.createElement("div");
  const statusHost = doc.createElement("div");
  const tabs = doc.createElement("div");
  panel.append(header, statusHost, tabs);
  const el = doc.createElement("div");
  statusHost.appendChild(el);
  setPanelInert(el, true);
  assert.ok(panel.classList.contains("msem-disconnected"));
  assert.equal(tabs.getAttribute("inert"), "");
  assert.equal(header.getAttribute("inert"), "");
  assert.equal(statusHost.getAttribute("inert"), null);      // the status line stays readable
  setPanelInert(el, false);
  assert.equal(tabs.getAttribute("inert"), null);
  assert.ok(!panel.classList.contains("msem-disconnected"));
});

function signal() {
  const fns = [];
  return { connect: (f) => fns.push(f), disconnect: (f) => fns.splice(fns.indexOf(f), 1),
    emit: (...a) => fns.slice().forEach((f) => f(...a)), fns };
}

test("the watch sees a restart, a dead kernel and a closed comm", async () => {
  for (const status of ["restarting", "dead", "autorestarting"]) {
    const kernel = { status: "idle", statusChanged: signal(), disposed: signal() };
    const calls = [];
    const model = { widget_manager: { kernel }, get: () => "" };
    const stop = watchConnection(model, (live) => calls.push(live));
    kernel.statusChanged.emit(kernel, "busy");
    assert.deepEqual(calls, []);
    kernel.statusChanged.emit(kernel, status);
    kernel.statusChanged.emit(kernel, status);
    assert.deepEqual(calls, [false]);                  // said once
    stop();
    assert.equal(kernel.statusChanged.fns.length, 0);
  }
  // a restart through the server's API: from running straight to "starting"
  const kernel = { status: "idle", statusChanged: signal() };
  const seen = [];
  const stop0 = watchConnection({ widget_manager: { kernel }, get: () => "" }, (l) => seen.push(l));
  kernel.statusChanged.emit(kernel, "busy");
  kernel.statusChanged.emit(kernel, "starting");
  assert.deepEqual(seen, [false]);
  stop0();
  // but a kernel still starting when the panel is drawn is not a restart
  const young = { status: "starting", statusChanged: signal() };
  const none0 = [];
  const stop1 = watchConnection({ widget_manager: { kernel: young }, get: () => "" },
    (l) => none0.push(l));
  young.statusChanged.emit(young, "starting");
  assert.deepEqual(none0, []);
  young.statusChanged.emit(young, "idle");
  young.statusChanged.emit(young, "starting");            // now it is a restart
  assert.deepEqual(none0, [false]);
  stop1();
  // the widget's own comm: ipywidgets clears comm_live when the kernel goes
  const listeners = {};
  const real = { comm_live: true, on: (n, f) => { listeners[n] = f; }, off: () => {} };
  const calls = [];
  const model = { widget_manager: { get_model: async () => real }, get: () => "id1" };
  const stop = watchConnection(model, (live) => calls.push(live));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(calls, []);
  real.comm_live = false;
  listeners.comm_live_update();
  assert.deepEqual(calls, [false]);
  stop();
  // elsewhere (no widget manager kernel) nothing is claimed
  const none = [];
  watchConnection({ widget_manager: null, get: () => "" }, (l) => none.push(l))();
  assert.deepEqual(none, []);
});
