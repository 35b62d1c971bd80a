/**
 * Who is here (colour, role, whether they send audio and how loud), and chat.
 * Owners also lock the session, change roles, kick, invite and revoke from
 * here (the invite dialog and revoking: ui/access.js).
 * @module ui/people
 */

import { CLOSE_CODES, LIMITS, ROLES } from "../protocol.js";
import { AccessDialog, Confirmer } from "./access.js";
import { h, textOn } from "./dom.js";

/** Closes by an owner that end this page's session: the panel says so until the page joins again. */
const ENDED_BY_OWNER = {
  [CLOSE_CODES.REVOKED]: "An owner revoked your access to this session. To come back, ask an owner for a new invite.",
  [CLOSE_CODES.KICKED]: "An owner removed you from the session.",
};

/**
 * When a chat message was sent, HH:MM in local time, from its `wall` stamp
 * (the server's wall clock, Unix ms): the same for everyone and for history,
 * whenever it is drawn. Nothing when a message has none (an older server).
 */
export function chatTime(message) {
  if (typeof message.wall !== "number" || !Number.isFinite(message.wall)) return "";
  const d = new Date(message.wall);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export class People {
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    this.list = h("ul", { class: "people", "aria-label": "People in the session" });
    this.log = h("ol", { class: "chat-log", "aria-live": "polite", "aria-label": "Chat messages" });
    this.input = h("input", { class: "chat-input", maxlength: LIMITS.max_chat_len, placeholder: "Message", "aria-label": "Chat message" });
    this.form = h("form", { class: "chat-form", onsubmit: (e) => this.sendChat(e) }, this.input, h("button", { type: "submit" }, "Send"));
    this.lock = h("button", { type: "button", class: "toggle lock", onclick: () => this.toggleLock() }, "Lock");
    this.inviteButton = h("button", {
      type: "button", class: "invite-open", "aria-haspopup": "dialog", hidden: true,
      title: "Invite someone with a personal link; see and revoke who holds access",
      onclick: () => this.access.show(),
    }, "Invite…");
    this.ended = h("p", { class: "people-ended", role: "alert", hidden: true });
    this.confirmer = new Confirmer();
    const panel = h("section", { class: "panel people-panel", "aria-labelledby": "people-title" },
      h("div", { class: "panel-head" }, h("h2", { id: "people-title" }, "Here now"),
        h("div", { class: "row people-actions" }, this.inviteButton, this.lock)),
      this.ended, this.list);
    // in the panel, so that it goes with the editor (a modal dialog shows in the top layer anyway)
    this.access = new AccessDialog(panel, session, {
      toast: (text, kind) => this.app.toasts.show(text, kind),
      admin: (promise, done) => this.admin(promise, done),
      confirmer: this.confirmer,
    });
    root.append(
      panel,
      h("section", { class: "panel chat", "aria-labelledby": "chat-title" },
        h("h2", { id: "chat-title" }, "Chat"), this.log, this.form),
    );
    this.shown = 0;
  }

  sendChat(e) {
    e.preventDefault();
    const text = this.input.value.trim();
    if (!text) return;
    if (this.session.chat(text)) this.input.value = "";
    else this.app.toasts.show("Not connected: the message was not sent", "error");
  }

  /** Owners: ask the server, and say so when it refuses; resolves with the answer, or null if refused. */
  admin(promise, done) {
    return promise.then((answer) => {
      if (done) this.app.toasts.show(done);
      return answer ?? {};
    }, (error) => {
      this.app.toasts.show(`Refused (${error.code}): ${error.message}`, "error");
      return null;
    });
  }

  toggleLock() {
    const locked = !this.session.locked;
    this.admin(this.session.lock(locked), locked ? "Session locked: only owners can edit" : "Session unlocked");
  }

  ownerControls(p) {
    const role = h("select", {
      class: "role-select", "aria-label": `Role of ${p.name}`,
      onchange: () => this.admin(this.session.setRole(p.client, role.value), `${p.name} is now ${role.value}`),
    }, Object.values(ROLES).map((r) => h("option", { value: r, selected: r === p.role }, r)));
    const kick = h("button", { type: "button", class: "kick", title: `Remove ${p.name} from the session (they may join again)`,
      onclick: () => this.admin(this.session.kick(p.client), `${p.name} was removed`) }, "Kick");
    const revoke = this.confirmer.button({
      key: `client:${p.client}`,
      title: `Revoke ${p.name}'s access: closed now, refused from now on`,
      act: () => this.admin(this.session.revoke({ client: p.client }), `${p.name}'s access was revoked`),
    });
    return h("span", { class: "person-controls" }, role, kick, revoke);
  }

  render() {
    const me = this.session.clientId;
    const owner = this.session.role === ROLES.OWNER;
    this.lock.hidden = !owner;
    this.inviteButton.hidden = !owner;
    if (!owner) this.access.close();
    const ended = this.session.closed ? ENDED_BY_OWNER[this.session.closeCode] : undefined;
    this.ended.hidden = ended === undefined;
    this.ended.textContent = ended ?? "";
    this.lock.textContent = this.session.locked ? "Locked" : "Lock";
    this.lock.setAttribute("aria-pressed", String(this.session.locked));
    const people = this.session.peerList();
    const signature = JSON.stringify([owner, people.map((p) => [p.client, p.name, p.color, p.role, p.audio, p.level])]);
    if (signature === this.signature) return;
    this.signature = signature;
    this.list.replaceChildren(...people.map((p) => {
      const level = typeof p.level === "number" ? Math.max(0, Math.min(1, p.level)) : null;
      return h("li", { class: "person", "data-client": p.client },
        h("span", { class: "avatar", style: { background: p.color ?? "#888", color: textOn(p.color ?? "#888888") }, "aria-hidden": "true" }, (p.name ?? "?").slice(0, 1).toUpperCase()),
        h("span", { class: "person-name" }, p.name ?? p.client, p.client === me ? " (you)" : ""),
        owner && p.client !== me ? this.ownerControls(p) : h("span", { class: "role" }, p.role ?? ""),
        p.audio ? h("span", { class: "audio-badge", title: "Sending audio" }, "🎙", h("span", { class: "visually-hidden" }, " sending audio")) : null,
        level !== null ? h("meter", { class: "level", min: 0, max: 1, value: level, "aria-label": `${p.name} level` }) : null,
      );
    }));
  }

  renderChat() {
    const history = this.session.chatHistory;
    if (history.length < this.shown) {
      this.log.replaceChildren();
      this.shown = 0;
    }
    for (const c of history.slice(this.shown)) {
      const peer = [...this.session.peerList()].find((p) => p.client === c.by);
      this.log.append(h("li", {},
        h("span", { class: "dot", style: { background: peer?.color ?? "#888" }, "aria-hidden": "true" }), " ",
        h("span", { class: "chat-name" }, c.name),
        h("time", { class: "chat-time", datetime: Number.isFinite(c.wall) ? new Date(c.wall).toISOString() : null }, chatTime(c)), " ", c.text));
    }
    this.shown = history.length;
    this.log.scrollTop = this.log.scrollHeight;
  }
}
