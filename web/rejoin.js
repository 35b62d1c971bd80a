/**
 * What a reload needs to rejoin a session without the invite.
 *
 * The invite's token leaves the address bar as soon as the page has joined
 * (it would end up in history, bookmarks and screenshots), so the page keeps
 * it here instead, per session:
 *
 * - `localStorage["backline.join.<session>"]` = `{token, name, color}`: a
 *   reload, and a new tab of the same session (`#session=<session>`), join
 *   again by themselves. "Leave" and a refused token forget it.
 * - `sessionStorage["backline.identity.<session>"]` = `{client, resume}`: the
 *   identity this *tab* had (its undo history, its op ids). It survives a
 *   reload of the tab but is not shared with other tabs: two tabs on one
 *   identity would replace each other (close 4009). A tab copied with its
 *   storage (Chromium's "Duplicate") is caught by a Web Lock on the identity,
 *   where the browser has Web Locks (secure contexts: https, localhost).
 *
 * The token is as powerful as the invite itself; anyone who can run script
 * in this origin could read it, which is why the page loads no third-party
 * code. Storage that throws (disabled, full) just means no rejoin.
 *
 * @module rejoin
 */

const JOIN = "backline.join.";
const IDENTITY = "backline.identity.";
/** How long a reloaded tab waits for its previous document to let go of the identity (ms). */
const LOCK_WAIT_MS = 1500;

function read(storage, key) {
  try {
    const value = JSON.parse(storage.getItem(key) ?? "null");
    return value !== null && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    // no storage: this page simply will not rejoin by itself
  }
}

/** The stored join of `session`: `{token, name, color}` or null. */
export function storedJoin(session) {
  const value = read(localStorage, JOIN + session);
  return value && typeof value.token === "string" && value.token ? value : null;
}

/** Remember how this page joined `session` (token, name, colour). */
export function rememberJoin(session, { token, name, color }) {
  write(localStorage, JOIN + session, { token, name, color });
}

/** The identity this tab had in `session`: `{client, resume}` or null. */
export function storedIdentity(session) {
  const value = read(sessionStorage, IDENTITY + session);
  return value && typeof value.client === "string" && typeof value.resume === "string" && value.resume ? value : null;
}

/** Remember this tab's identity in `session` (from its welcome). */
export function rememberIdentity(session, client, resume) {
  if (client && resume) write(sessionStorage, IDENTITY + session, { client, resume });
}

/** Forget the identity only (it could not be resumed: a new one is made). */
export function forgetIdentity(session) {
  write(sessionStorage, IDENTITY + session, null);
}

/** Forget everything kept for `session` ("Leave", or the token was refused). */
export function forget(session) {
  write(localStorage, JOIN + session, null);
  forgetIdentity(session);
}

/**
 * Hold a lock on `client` in `session` for as long as this page lives.
 * Resolves true when this page holds it (or the browser has no Web Locks),
 * false when another live tab holds that identity: then join as a new one.
 * @param {string} session
 * @param {string} client
 * @returns {Promise<boolean>}
 */
export function claimIdentity(session, client) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return Promise.resolve(true);
  return new Promise((resolve) => {
    locks
      .request(`backline.identity.${session}.${client}`, { signal: AbortSignal.timeout(LOCK_WAIT_MS) }, () => {
        resolve(true);
        return new Promise(() => {}); // held until the page goes away
      })
      .catch(() => resolve(false)); // timed out: someone else has it
  });
}
