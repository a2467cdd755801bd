import type { ReactNode } from "react";

export type Tone = "ok" | "bad" | "pending";

interface Props {
  label: string;
  tone: Tone;
  testId: string;
  children: ReactNode;
}

/** One dashboard tile; the value element carries the test id so tests read the text. */
export function StatusCard({ label, tone, testId, children }: Props) {
  return (
    <section className={`card status-${tone}`}>
      <h3>{label}</h3>
      <div className="card-value" data-testid={testId} data-tone={tone}>
        {children}
      </div>
    </section>
  );
}
