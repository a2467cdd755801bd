import { useEffect, useRef, useState } from "react";

export interface LogLine {
  seq: number;
  stream: string;
  chunk: string;
  created_at?: string;
}

export type LogState = "connecting" | "live" | "ended" | "reconnecting";

const CACHE_LIMIT = 5_000;
const cacheKey = (runId: string) => `tunix-rt:logs:${runId}`;

function loadCache(runId: string): LogLine[] {
  try {
    const raw = sessionStorage.getItem(cacheKey(runId));
    const lines = raw ? (JSON.parse(raw) as LogLine[]) : [];
    return Array.isArray(lines) ? lines : [];
  } catch {
    return [];
  }
}

function saveCache(runId: string, lines: LogLine[]) {
  try {
    if (lines.length <= CACHE_LIMIT) sessionStorage.setItem(cacheKey(runId), JSON.stringify(lines));
    else sessionStorage.removeItem(cacheKey(runId));
  } catch {
    // storage full or disabled: the next load simply replays the log from the start
  }
}

/**
 * Follows a run's log over Server-Sent Events. Lines already seen (kept in sessionStorage,
 * so a reload keeps them) are not asked for again: the stream re-attaches with `since_seq`
 * (and the browser's own reconnects send `Last-Event-ID`); a line is kept once per `seq`.
 */
export function useRunLogs(runId: string) {
  const [lines, setLines] = useState<LogLine[]>(() => loadCache(runId));
  const [state, setState] = useState<LogState>("connecting");
  const [finalStatus, setFinalStatus] = useState<string | null>(null);
  const [serverError, setServerError] = useState<string | null>(null);
  const lastSeq = useRef<number>(-1);

  useEffect(() => {
    const cached = loadCache(runId);
    setLines(cached);
    lastSeq.current = cached.length ? Math.max(...cached.map((l) => l.seq)) : -1;
    setFinalStatus(null);
    setServerError(null);

    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    let pending: LogLine[] = [];
    let flush: ReturnType<typeof setTimeout> | undefined;

    const commit = () => {
      flush = undefined;
      const batch = pending;
      pending = [];
      if (!batch.length) return;
      setLines((prev) => {
        const next = [...prev, ...batch];
        saveCache(runId, next);
        return next;
      });
    };

    const connect = () => {
      const url = lastSeq.current >= 0
        ? `/api/tunix/runs/${encodeURIComponent(runId)}/logs?since_seq=${lastSeq.current}`
        : `/api/tunix/runs/${encodeURIComponent(runId)}/logs`;
      setState((prev) => (prev === "live" ? "reconnecting" : prev));
      source = new EventSource(url);
      source.onopen = () => setState("live");
      source.addEventListener("log", (event) => {
        const line = JSON.parse((event as MessageEvent<string>).data) as LogLine;
        if (typeof line.seq !== "number" || line.seq <= lastSeq.current) return; // seen
        lastSeq.current = line.seq;
        pending.push(line);
        flush ??= setTimeout(commit, 50);
      });
      source.addEventListener("status", (event) => {
        const body = JSON.parse((event as MessageEvent<string>).data) as { status?: string };
        setFinalStatus(body.status ?? null);
        closed = true;
        source?.close();
        commit();
        setState("ended");
      });
      source.addEventListener("error", (event) => {
        // A server-sent `error` event carries data; a dropped connection does not.
        const data = (event as MessageEvent<string>).data;
        if (data) {
          try {
            const body = JSON.parse(data) as { message?: string; detail?: string };
            setServerError(body.message ?? body.detail ?? data);
          } catch {
            setServerError(data);
          }
          closed = true;
          source?.close();
          setState("ended");
          return;
        }
        if (closed) return;
        if (source?.readyState === EventSource.CLOSED) {
          // The browser gave up (e.g. a 4xx/5xx): re-attach ourselves from the last seq.
          setState("reconnecting");
          retry = setTimeout(connect, 1_000);
        } else {
          setState("reconnecting");
        }
      });
    };

    connect();
    return () => {
      closed = true;
      source?.close();
      if (retry) clearTimeout(retry);
      if (flush) clearTimeout(flush);
      commit();
    };
  }, [runId]);

  return { lines, state, finalStatus, serverError };
}
