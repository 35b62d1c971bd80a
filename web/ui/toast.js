/**
 * Short messages at the bottom of the screen, announced to screen readers.
 * @module ui/toast
 */

import { h } from "./dom.js";

export class Toasts {
  constructor(root) {
    this.el = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    root.append(this.el);
  }

  /** Show `text` for a few seconds; kind: info | error. */
  show(text, kind = "info") {
    const toast = h("div", { class: `toast toast-${kind}` }, text);
    this.el.append(toast);
    setTimeout(() => toast.remove(), kind === "error" ? 6000 : 3000);
    while (this.el.children.length > 4) this.el.firstChild.remove();
    return toast;
  }
}
