// A tiny stand-in for the DOM, enough for the panel's drawing code under node.
// It has no HTML parser on purpose: the modules must build nodes and set
// textContent, and a test that finds no <img> node proves nothing was parsed.

class FakeNode {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.dataset = {};
    this.attributes = {};
    this.style = {};
    this.className = "";
    this.title = "";
    this.type = "";
    this._text = "";
    this._listeners = {};
    const self = this;
    this.classList = {
      add(...c) { const s = new Set(self.className.split(" ").filter(Boolean)); c.forEach((x) => s.add(x)); self.className = [...s].join(" "); },
      remove(...c) { self.className = self.className.split(" ").filter((x) => !c.includes(x)).join(" "); },
      contains(c) { return self.className.split(" ").includes(c); },
    };
  }
  set textContent(t) { this.children = []; this._text = String(t); }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  textContentDeep() { return this.textContent; }
  appendChild(n) { this.children.push(n); n.parentNode = this; return n; }
  append(...ns) { for (const n of ns) this.appendChild(typeof n === "string" ? textNode(n) : n); }
  replaceChildren(...ns) { this.children = []; this._text = ""; this.append(...ns); }
  remove() { if (this.parentNode) this.parentNode.children = this.parentNode.children.filter((c) => c !== this); }
  setAttribute(k, v) { this.attributes[k] = String(v); }
  getAttribute(k) { return k in this.attributes ? this.attributes[k] : null; }
  removeAttribute(k) { delete this.attributes[k]; }
  contains(n) {
    for (let x = n; x; x = x.parentNode) if (x === this) return true;
    return false;
  }
  closest(sel) {
    const cls = sel.replace(/^\./, "");
    for (let x = this; x; x = x.parentNode) {
      if (x.classList && x.classList.contains(cls)) return x;
    }
    return null;
  }
  focus() { this.ownerDocument && (this.ownerDocument.activeElement = this); }
  addEventListener(type, fn) { (this._listeners[type] ||= []).push(fn); }
  click() { for (const fn of this._listeners.click || []) fn({ type: "click" }); }
  findAll(pred) {
    const out = [];
    const walk = (n) => { if (pred(n)) out.push(n); n.children.forEach(walk); };
    this.children.forEach(walk);
    return out;
  }
  querySelector(sel) {
    // class selectors only (".a"), which is all the modules use
    const cls = sel.replace(/^\./, "");
    return this.findAll((n) => n.className.split(" ").includes(cls))[0] || null;
  }
}

function textNode(t) {
  const n = new FakeNode("#text");
  n._text = t;
  return n;
}

export function fakeDocument() {
  const doc = {
    createElement: (tag) => { const n = new FakeNode(tag); n.ownerDocument = doc; return n; },
    body: new FakeNode("body"),
    activeElement: null,
  };
  return doc;
}
