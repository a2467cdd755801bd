import { useSyncExternalStore } from "react";
import { authStore, type AuthState } from "../lib/authToken";
import { ApiError, api, unwrap, type Schemas } from "./client";

export type AuthSession = Schemas["AuthSession"];

/** The sign-in state: the token held (if any) and whether the API asked for one. */
export function useAuth(): AuthState {
  return useSyncExternalStore(authStore.subscribe, authStore.get);
}

/**
 * Check a token with the server and keep it for this tab. The server also sets an HttpOnly
 * cookie: the log stream (EventSource) and download links cannot send a header, so they
 * send that cookie instead.
 */
export async function signIn(token: string): Promise<AuthSession> {
  const session = await unwrap(api.POST("/api/auth/session", {
    headers: { Authorization: `Bearer ${token}` },
  }));
  const identity = session.name && session.scope
    ? { name: session.name, scope: session.scope }
    : null;
  authStore.signedIn(token, identity);
  return session;
}

/** On load: a token kept from before gets its cookie again, or is dropped if refused. */
export async function renewSession(): Promise<void> {
  const token = authStore.token();
  if (!token) return;
  try {
    await signIn(token);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) authStore.forget(true);
  }
}

/** Forget the token here and the cookie on the server; the sign-in box shows again. */
export async function signOut(): Promise<void> {
  try {
    await api.DELETE("/api/auth/session");
  } finally {
    authStore.forget(true);
  }
}
