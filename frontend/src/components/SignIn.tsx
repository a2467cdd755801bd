import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { renewSession, signIn, signOut, useAuth } from "../api/auth";
import { ApiError } from "../api/client";

/** Asks for an API token when the API answered 401 (docs/security.md). */
export function SignInDialog() {
  const auth = useAuth();
  const client = useQueryClient();
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    void renewSession();
  }, []);

  if (!auth.needed) return null;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(token.trim());
      setToken("");
      await client.resetQueries();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401
        ? "This token is not valid (or it was revoked)."
        : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="signin-backdrop">
      <form className="card signin" role="dialog" aria-modal="true" aria-labelledby="signin-title"
        onSubmit={submit} data-testid="auth:dialog">
        <h2 id="signin-title">Sign in</h2>
        <p className="hint">
          This server asks for an API token. An admin creates one with{" "}
          <code>tunix-rt tokens create --name NAME --scope read|write|admin</code>.
          It is kept in this tab only, until you sign out or close it.
        </p>
        <label className="field">
          API token
          <input type="password" autoComplete="off" spellCheck={false} value={token}
            onChange={(e) => setToken(e.target.value)} placeholder="trt_…" autoFocus
            data-testid="auth:token" />
        </label>
        {error && <p className="error" role="alert" data-testid="auth:error">{error}</p>}
        <div className="row">
          <button type="submit" disabled={busy || !token.trim()} data-testid="auth:submit">
            {busy ? "Checking…" : "Sign in"}
          </button>
        </div>
      </form>
    </div>
  );
}

/** Who is signed in, and the way out (only shown while a token is held). */
export function AuthControl() {
  const auth = useAuth();
  const client = useQueryClient();
  if (!auth.token) return null;
  const leave = async () => {
    await signOut();
    await client.resetQueries();
  };
  return (
    <div className="auth-control">
      {auth.identity && (
        <span data-testid="auth:who">{auth.identity.name} ({auth.identity.scope})</span>
      )}
      <button type="button" className="secondary" onClick={() => void leave()}
        data-testid="auth:sign-out">
        Sign out
      </button>
    </div>
  );
}
