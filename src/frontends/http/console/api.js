// Every call the console makes to the server goes through here. Once signed in, each carries
// `Authorization: Bearer <user>:<password>` (docs/HTTP.md §9); a 401 asks for signing in
// again, with the server's reason. The token lives in this module's memory only: never in
// storage, a cookie, a URL, the page or the log, so a reload (or Sign out) forgets it.

let token = null;
let user = null;
/** Told of each change: `{ signedIn: true, user }`, or `{ signedIn: false, message }` when the server asks for a user. */
const listeners = new Set();
let waiting = [];

export function onSignInChange(listener) {
  listeners.add(listener);
}

function tell(state) {
  for (const f of listeners) f(state);
}

/** fetch() of one of the server's routes, signed in when the page is. A 401 to the token in use forgets it and asks for signing in. */
export async function api(path, init = {}) {
  const sent = token;
  const headers = new Headers(init.headers);
  if (sent !== null) headers.set('Authorization', `Bearer ${sent}`);
  const res = await fetch(path, { cache: 'no-store', ...init, headers });
  // A 401 to a token already replaced (a call made before signing in) says nothing of the new one.
  if (res.status === 401 && sent === token) {
    token = null;
    user = null;
    tell({ signedIn: false, message: await errorText(res.clone()) });
  }
  return res;
}

/** Resolves when the page is signed in (at once if it is). */
export function whenSignedIn() {
  return token !== null ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve));
}

/** The user signed in as, or null. */
export const signedInAs = () => user;

/**
 * Checks a user and password with the server (a listing of one key, which any user may
 * read) and keeps them for the calls to come when they are right. An empty user name is
 * the `default` user (`Bearer <password>`). Says why not when they are not.
 */
export async function signIn(name, password) {
  if (password === '') return { ok: false, message: 'Type the password.' };
  if (name.includes(':')) return { ok: false, message: 'A user name has no colon in it.' };
  // A header carries Latin-1 at best, and the server compares bytes: printable ASCII is what travels unchanged.
  if (!/^[\x20-\x7e]*$/.test(name + password)) return { ok: false, message: 'The user name and password must be printable ASCII to travel in an HTTP header.' };
  const candidate = name === '' ? password : `${name}:${password}`;
  let res;
  try {
    res = await fetch('/v1/kv?prefix=&limit=1', { cache: 'no-store', headers: { Authorization: `Bearer ${candidate}` } });
  } catch {
    return { ok: false, message: 'Cannot reach the server.' };
  }
  if (res.status === 401) return { ok: false, message: await errorText(res) };
  await res.arrayBuffer();
  token = candidate;
  user = name === '' ? 'default' : name;
  tell({ signedIn: true, user });
  const w = waiting;
  waiting = [];
  for (const resolve of w) resolve();
  return { ok: true };
}

export function signOut() {
  token = null;
  user = null;
}

/** What an error answer says, for a person: the server's code and message; a write refused to a read-only user in plain words. */
export async function errorText(res) {
  let error = null;
  try {
    ({ error } = await res.json());
  } catch {
    // Not the API's JSON error: the status says what there is to say.
  }
  if (res.status === 403 && error?.code === 'NO_PERM') return 'this user may only read (NO_PERM)';
  return typeof error?.code === 'string' ? `${error.code}: ${error.message}` : `the server answered ${res.status}`;
}
