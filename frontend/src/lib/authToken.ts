/**
 * The API token the browser is signed in with, kept in sessionStorage (this tab, until it
 * closes), and whether the API has asked for one (a 401). The typed client reads the token
 * for every call; the sign-in box listens for the 401. No imports: the client depends on it.
 */

export interface Identity {
  name: string;
  scope: string;
}

export interface AuthState {
  token: string | null;
  identity: Identity | null;
  /** The API answered 401: the UI should ask for a (new) token. */
  needed: boolean;
}

const TOKEN_KEY = "tunix-rt:token";
const IDENTITY_KEY = "tunix-rt:identity";

function read(key: string): string | null {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null; // storage disabled: the token lives in memory only
  }
}

function write(key: string, value: string | null) {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch {
    // storage disabled or full: keep the in-memory state
  }
}

function loadIdentity(): Identity | null {
  try {
    const raw = read(IDENTITY_KEY);
    return raw ? (JSON.parse(raw) as Identity) : null;
  } catch {
    return null;
  }
}

let state: AuthState = { token: read(TOKEN_KEY), identity: loadIdentity(), needed: false };
const listeners = new Set<() => void>();

function update(next: Partial<AuthState>) {
  state = { ...state, ...next };
  listeners.forEach((listener) => listener());
}

export const authStore = {
  get: (): AuthState => state,
  subscribe(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  token: (): string | null => state.token,
  /** Keep a token the server accepted. */
  signedIn(token: string, identity: Identity | null) {
    write(TOKEN_KEY, token);
    write(IDENTITY_KEY, identity ? JSON.stringify(identity) : null);
    update({ token, identity, needed: false });
  },
  /** Forget the token (sign-out, or the server refused it). */
  forget(needed: boolean) {
    write(TOKEN_KEY, null);
    write(IDENTITY_KEY, null);
    update({ token: null, identity: null, needed });
  },
  /** The API answered 401. */
  unauthorized() {
    if (!state.needed) update({ needed: true });
  },
};
