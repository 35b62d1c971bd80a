/**
 * The join form, and the screen a reload shows while it joins again by itself.
 *
 * The join link the server prints carries session and token in the fragment
 * (`#session=…&token=…`), which browsers never send to a server, its logs or
 * a Referer; never from the query string. A name and colour are remembered in
 * localStorage.
 *
 * @module ui/join
 */

import { LIMITS, PEOPLE_COLORS } from "../protocol.js";
import { checkId } from "../ops.js";
import { h } from "./dom.js";

/** What the address bar's fragment and this browser say about joining. */
export function joinParams() {
  const params = new URLSearchParams(location.hash.slice(1));
  return {
    session: params.get("session") ?? "",
    token: params.get("token") ?? "",
    name: params.get("name") ?? localStorage.getItem("backline.name") ?? "",
    // a colour only when one was chosen (here, or in the link): otherwise the session
    // hands out one nobody else wears
    color: params.get("color") ?? localStorage.getItem("backline.color") ?? "",
  };
}

/**
 * The join form, filled from `params`; `message` is shown where errors go.
 * On submit it calls `join({session, token, name, color}, status)`, whose
 * rejection is shown in the form, which stays usable.
 * @param {{session: string, token: string, name: string, color: string}} params
 * @param {string} message
 * @param {(options: object, status: (text: string) => void) => Promise<unknown>} join
 */
export function joinForm(params, message, join) {
  const field = (label, input) => h("label", { class: "join-field" }, h("span", {}, label), input);
  const session = h("input", { name: "session", required: true, value: params.session, autocomplete: "off" });
  // a session name is an id: the protocol's own check (characters and length) says why not
  const checkSession = () => {
    try {
      if (session.value.trim()) checkId(session.value.trim(), "session");
      session.setCustomValidity("");
    } catch (err) {
      session.setCustomValidity(err.message);
    }
  };
  session.addEventListener("input", checkSession);
  checkSession();
  const token = h("input", { name: "token", type: "password", required: true, value: params.token, autocomplete: "off" });
  const name = h("input", { name: "name", required: true, maxlength: LIMITS.max_name_len, value: params.name, autocomplete: "nickname" });
  let picked = Boolean(params.color);
  const color = h("input", {
    name: "color", type: "color", value: params.color || PEOPLE_COLORS[0],
    title: "Leave it and the session gives you a colour nobody else wears",
    oninput: () => { picked = true; color.dataset.picked = ""; },
  });
  if (picked) color.dataset.picked = "";
  const error = h("p", { class: "join-error", role: "alert" }, message);
  const button = h("button", { type: "submit", class: "primary" }, "Join session");
  const form = h("form", { class: "join", "aria-labelledby": "join-title" },
    h("h1", { id: "join-title" }, "Backline"),
    h("p", { class: "lede" }, "Make music together, live. Join a session with the link you were sent, or paste its name and token."),
    field("Session", session), field("Token", token), field("Your name", name), field("Your colour", color),
    button, error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.textContent = "";
    localStorage.setItem("backline.name", name.value);
    if (picked) localStorage.setItem("backline.color", color.value);
    const status = (text) => { error.textContent = text; };
    try {
      await join({ session: session.value.trim(), token: token.value.trim(), name: name.value.trim(), color: picked ? color.value : "" }, status);
    } catch (err) {
      error.textContent = `Could not join: ${err.message}`;
      button.disabled = false;
    }
  });
  // focus goes where the form wants input: after connecting the element is in the page
  queueMicrotask(() => (params.session && params.token ? name : params.session ? token : session).focus());
  return form;
}

/**
 * While a reload joins again by itself: who it joins as, its progress, and a
 * way out to the form.
 * @param {string} session
 * @param {string} name
 * @param {() => void} onOther
 */
export function rejoinScreen(session, name, onOther) {
  const status = h("p", { class: "hint", role: "status" }, `Rejoining ${session} as ${name}…`);
  const other = h("button", { type: "button", onclick: onOther }, "Use another invite");
  return {
    el: h("div", { class: "join rejoin" }, h("h1", {}, "Backline"), status, other),
    status: (text) => { status.textContent = text; },
  };
}
