/**
 * Owners' access controls: personal invites (a link for one person, or a few,
 * valid for a while), the list of invites and of the people who hold access,
 * and revoking any of them.
 *
 * The server makes the invite (`invite`, answered by `done` with its token)
 * and keeps who redeemed it; `access` lists both; `revoke` takes a person, an
 * invite or a token back, and closes whoever it concerns (close 4405). After
 * each of those every owner hears an `admin` frame: the open dialog then asks
 * for the list again. The link is this page's own address with
 * `#session=…&token=…`, which the join form reads (ui/join.js).
 *
 * Revoking asks for a second click ("Confirm revoke", for a few seconds)
 * rather than a native confirm(): see {@link Confirmer}.
 *
 * @module ui/access
 */

import { LIMITS, ROLES, SERVER_TYPES } from "../protocol.js";
import { h } from "./dom.js";

/** How long an invite may be valid, as the dialog offers it (seconds). */
export const VALID_FOR = Object.freeze([
  { seconds: 3600, label: "1 hour" },
  { seconds: 86400, label: "1 day" },
  { seconds: 7 * 86400, label: "7 days" },
  { seconds: 30 * 86400, label: "30 days" },
]);
export const DEFAULT_VALID_FOR = 7 * 86400;
/** People one invite may let in, at most (the server's MAX_INVITE_USES). */
export const MAX_USES = 1000;
/** How long a revoke button waits for its confirming click (ms). */
export const CONFIRM_MS = 4000;
/** `admin` actions after which the access list changed. */
const ACCESS_ACTIONS = new Set(["invite", "redeem", "revoke"]);

/**
 * The link that joins `session` with `token`: this page's address with the
 * fragment `#session=…&token=…` (never the query string: a fragment is not
 * sent to servers, their logs or a Referer).
 */
export function inviteLink(session, token, href = globalThis.location.href) {
  const url = new URL(href);
  url.hash = new URLSearchParams({ session, token }).toString();
  return url.toString();
}

/** Copy the text of a (read-only) field: the Clipboard API when there is one, else the selection. */
export async function copyField(field) {
  field.focus();
  field.select();
  try {
    if (globalThis.navigator?.clipboard?.writeText) {
      await navigator.clipboard.writeText(field.value);
      return true;
    }
  } catch {
    // not allowed here (an insecure page, no focus): the old way below
  }
  field.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

/** A unix time (seconds) as a local date and time. */
export function localDate(unixSeconds) {
  if (typeof unixSeconds !== "number") return "never";
  return new Date(unixSeconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/**
 * Buttons that act on a second click: the first turns one into "Confirm
 * revoke" for {@link CONFIRM_MS}. The armed state is kept by key, so a button
 * drawn again meanwhile (a list re-rendered) is still armed.
 */
export class Confirmer {
  constructor(ms = CONFIRM_MS) {
    this.ms = ms;
    /** @type {Map<string, number>} armed keys, until when (performance.now()) */
    this.armed = new Map();
  }

  /**
   * @param {{key: string, label?: string, confirm?: string, title?: string, className?: string, act: () => void}} options
   */
  button({ key, label = "Revoke", confirm = "Confirm revoke", title = "", className = "revoke", act }) {
    const button = h("button", { type: "button", class: className, title, "data-confirm-key": key }, label);
    let timer = null;
    const disarm = () => {
      clearTimeout(timer);
      button.textContent = label;
      button.classList.remove("armed");
      button.removeAttribute("aria-describedby");
    };
    const arm = (left) => {
      button.textContent = confirm;
      button.classList.add("armed");
      timer = setTimeout(() => {
        if ((this.armed.get(key) ?? 0) <= performance.now()) this.armed.delete(key);
        disarm();
      }, left);
    };
    button.addEventListener("click", () => {
      const until = this.armed.get(key) ?? 0;
      if (until > performance.now()) {
        this.armed.delete(key);
        disarm();
        act();
      } else {
        this.armed.set(key, performance.now() + this.ms);
        arm(this.ms);
      }
    });
    const left = (this.armed.get(key) ?? 0) - performance.now();
    if (left > 0) arm(left);
    return button;
  }
}

/** Replace a list's items, keeping the focus on the control of the same key if it had it. */
function replaceKeepingFocus(list, items) {
  const focused = document.activeElement;
  const key = list.contains(focused) ? focused?.getAttribute?.("data-confirm-key") : null;
  list.replaceChildren(...items);
  if (key) list.querySelector(`[data-confirm-key="${CSS.escape(key)}"]`)?.focus();
}

/**
 * The invite dialog: a new invite (role, for whom, how many people, how
 * long), its link to copy, the session's invites and the people who hold
 * access, each with a Revoke button.
 */
export class AccessDialog {
  /**
   * @param {HTMLElement} root where the <dialog> lives (it shows in the top layer)
   * @param {import("../net.js").Session} session
   * @param {{toast: (text: string, kind?: string) => void, admin: (promise: Promise<any>, done?: string) => Promise<any>, confirmer: Confirmer}} where
   */
  constructor(root, session, where) {
    this.session = session;
    this.where = where;
    this.asked = 0; // access lists asked for: only the latest is drawn
    this.refreshTimer = null;
    const close = h("button", { type: "button", class: "dialog-close", "aria-label": "Close", onclick: () => this.close() }, "×");
    const field = (label, input) => h("label", { class: "invite-field" }, h("span", {}, label), input);
    this.role = h("select", { name: "invite-role", autofocus: true }, // where the dialog puts the focus
      [ROLES.EDITOR, ROLES.VIEWER, ROLES.OWNER].map((r) => h("option", { value: r, selected: r === ROLES.EDITOR }, r)));
    this.name = h("input", { name: "invite-name", type: "text", maxlength: LIMITS.max_name_len, placeholder: "optional", autocomplete: "off" });
    this.uses = h("input", { name: "invite-uses", type: "number", required: true, min: 1, max: MAX_USES, step: 1, value: "1" });
    this.validFor = h("select", { name: "invite-valid-for" },
      VALID_FOR.map((v) => h("option", { value: String(v.seconds), selected: v.seconds === DEFAULT_VALID_FOR }, v.label)));
    this.create = h("button", { type: "submit", class: "primary invite-create" }, "Create");
    this.form = h("form", { class: "invite-form", onsubmit: (e) => this.submit(e) },
      field("Role", this.role), field("For", this.name), field("People it lets in", this.uses),
      field("Valid for", this.validFor), h("div", { class: "invite-actions" }, this.create));
    this.link = h("input", { class: "invite-link", type: "text", readonly: true, "aria-label": "Invite link", spellcheck: "false" });
    this.copy = h("button", { type: "button", class: "invite-copy", onclick: () => this.copyLink() }, "Copy");
    this.made = h("p", { class: "hint invite-made" });
    this.result = h("div", { class: "invite-result", hidden: true },
      h("div", { class: "row invite-link-row" }, this.link, this.copy), this.made);
    this.invites = h("ul", { class: "access-list access-invites", "aria-label": "Invites" });
    this.people = h("ul", { class: "access-list access-people", "aria-label": "People with access" });
    this.status = h("p", { class: "hint access-status", role: "status" });
    this.dialog = h("dialog", { class: "shortcuts-dialog invite-dialog", "aria-labelledby": "invite-title" }, h("div", { class: "dialog-body" },
      h("div", { class: "dialog-head" }, h("h2", { id: "invite-title" }, "Invite people"), close),
      h("p", { class: "hint" }, "A personal link: it lets in as many people as you say, for as long as you say; revoke it, or someone who came in with it, at any time."),
      this.form, this.result,
      h("h3", {}, "Invites"), this.invites,
      h("h3", {}, "People with access"), this.people, this.status,
    ));
    this.dialog.addEventListener("click", (e) => {
      if (e.target === this.dialog) this.close(); // the backdrop
    });
    // the page's shortcuts (app.js) must not act behind the dialog; Esc still closes it
    this.dialog.addEventListener("keydown", (e) => e.stopPropagation());
    root.append(this.dialog);
    this.unsubscribe = [
      session.on(SERVER_TYPES.ADMIN, (m) => { if (ACCESS_ACTIONS.has(m.action)) this.refreshSoon(); }),
      session.on("peers", () => this.peersChanged()),
    ];
    this.online = "";
  }

  get open() {
    return this.dialog.open;
  }

  show() {
    if (!this.dialog.open) this.dialog.showModal();
    this.refresh();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  remove() {
    clearTimeout(this.refreshTimer);
    for (const off of this.unsubscribe) off();
    this.dialog.remove();
  }

  async submit(e) {
    e.preventDefault();
    const uses = Number(this.uses.value);
    if (!Number.isInteger(uses) || uses < 1 || uses > MAX_USES) { // the field's own checks say why
      this.uses.reportValidity();
      return;
    }
    this.create.disabled = true;
    try {
      const made = await this.where.admin(this.session.invite({
        role: this.role.value,
        name: this.name.value.trim(),
        expiresIn: Number(this.validFor.value),
        uses,
      }));
      if (made) this.showMade(made);
    } finally {
      this.create.disabled = false;
    }
  }

  showMade(made) {
    // the server's public address when it has one (--public-url), else this page's
    this.link.value = made.link || inviteLink(this.session.options.session, made.token);
    const people = made.uses === 1 ? "1 person" : `${made.uses} people`;
    this.made.textContent = `${made.name ? `For ${made.name}: ` : ""}${made.role}, lets ${people} in, valid until ${localDate(made.expires)}.`;
    this.result.hidden = false;
    this.link.focus();
    // all of it selected, the caret at its start: the field shows where the link begins
    this.link.setSelectionRange(0, this.link.value.length, "backward");
    this.link.scrollLeft = 0;
    this.refresh();
  }

  async copyLink() {
    if (!this.link.value) return;
    if (await copyField(this.link)) this.where.toast("Link copied");
    else this.where.toast("Could not copy: the link is selected, copy it with Ctrl/Cmd-C", "error");
  }

  /** Who is online changed (not just a cursor or a level): the list says who is. */
  peersChanged() {
    const online = this.session.peerList().map((p) => `${p.client}:${p.role}`).sort().join(",");
    if (online === this.online) return;
    this.online = online;
    this.refreshSoon();
  }

  /** Ask for the list again soon (several changes at once: one request). */
  refreshSoon() {
    if (!this.dialog.open || this.refreshTimer !== null) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refresh();
    }, 100);
  }

  async refresh() {
    if (!this.dialog.open) return;
    const asked = ++this.asked;
    let answer;
    try {
      answer = await this.session.access();
    } catch (error) {
      if (asked === this.asked) this.status.textContent = `Could not list access (${error.code ?? "error"}): ${error.message}`;
      return;
    }
    if (asked !== this.asked) return; // a later answer is coming
    this.status.textContent = "";
    this.render(answer);
  }

  render({ invites, people }) {
    const confirmer = this.where.confirmer;
    const now = Date.now() / 1000;
    const newest = [...invites].sort((a, b) => (b.created ?? 0) - (a.created ?? 0));
    replaceKeepingFocus(this.invites, newest.length ? newest.map((i) => {
      const expired = typeof i.expires === "number" && i.expires <= now;
      const state = i.revoked ? "revoked" : expired ? "expired" : i.used >= i.uses ? "used up" : "";
      const label = i.name || "(no name)";
      return h("li", { class: `access-row${i.revoked ? " revoked" : ""}`, "data-invite": i.id },
        h("span", { class: "access-name" }, label),
        h("span", { class: "access-role" }, i.role),
        h("span", { class: "access-used", title: "used / people it lets in" }, `${i.used}/${i.uses} used`),
        h("span", { class: "access-expires", title: `valid until ${localDate(i.expires)}` }, expired ? `expired ${localDate(i.expires)}` : `until ${localDate(i.expires)}`),
        state ? h("span", { class: `access-state state-${state.replace(" ", "-")}` }, state) : null,
        i.revoked ? null : confirmer.button({
          key: `invite:${i.id}`,
          title: `Revoke the invite ${label}: its link stops working and whoever came in with it is closed`,
          act: () => this.where.admin(this.session.revoke({ invite: i.id }), `Invite ${label} revoked`),
        }));
    }) : [h("li", { class: "hint" }, "No invites yet.")]);
    const byId = new Map(invites.map((i) => [i.id, i]));
    const rank = (p) => (p.revoked ? 2 : p.online ? 0 : 1);
    const others = people.filter((p) => p.client !== this.session.clientId)
      .sort((a, b) => rank(a) - rank(b) || String(a.name ?? "").localeCompare(String(b.name ?? "")));
    replaceKeepingFocus(this.people, others.length ? others.map((p) => {
      const state = p.revoked ? "revoked" : p.online ? "online" : "offline";
      const name = p.name || p.client;
      return h("li", { class: `access-row${p.revoked ? " revoked" : ""}`, "data-client": p.client },
        h("span", { class: "access-name" }, name),
        h("span", { class: "access-role" }, p.role ?? byId.get(p.invite)?.role ?? ""), // offline: the invite's
        h("span", { class: `access-state state-${state}` }, state),
        p.invite ? h("span", { class: "access-via hint", title: `came in with invite ${p.invite}` }, "invite") : null,
        p.revoked ? null : confirmer.button({
          key: `client:${p.client}`,
          title: `Revoke ${name}'s access: closed now, refused from now on`,
          act: () => this.where.admin(this.session.revoke({ client: p.client }), `${name}'s access was revoked`),
        }));
    }) : [h("li", { class: "hint" }, "Nobody else yet.")]);
  }
}
