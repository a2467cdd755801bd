import type { ReasoningTrace } from "../api/traces";

/** Prompt, numbered steps and final answer of a trace (shared by detail and compare). */
export function TraceBody({ trace }: { trace: ReasoningTrace }) {
  const steps = [...trace.steps].sort((a, b) => a.i - b.i);
  return (
    <div className="trace-body">
      <h3>Prompt</h3>
      <p className="text-block" data-testid="trace:prompt">{trace.prompt}</p>
      <h3>Steps ({steps.length})</h3>
      <ol className="steps">
        {steps.map((step) => (
          <li key={step.i} className="step" data-testid="trace:step" data-step-index={step.i}>
            <span className="step-num">{step.i}</span>
            <span className="step-type" data-testid="trace:step-type">{step.type}</span>
            <span className="text-block" data-testid="trace:step-content">{step.content}</span>
          </li>
        ))}
      </ol>
      <h3>Final answer</h3>
      <p className="text-block answer" data-testid="trace:answer">{trace.final_answer}</p>
      {trace.meta && Object.keys(trace.meta).length > 0 && (
        <>
          <h3>Meta</h3>
          <pre className="meta" data-testid="trace:meta">{JSON.stringify(trace.meta, null, 2)}</pre>
        </>
      )}
    </div>
  );
}
