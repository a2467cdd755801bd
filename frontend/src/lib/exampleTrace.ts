import type { ReasoningTrace } from "../api/traces";

/** A small valid trace for the upload form's "Load example" button. */
export const EXAMPLE_TRACE: ReasoningTrace = {
  trace_version: "1.0",
  prompt: "A train travels 180 km in 2.5 hours. What is its average speed in km/h?",
  steps: [
    { i: 0, type: "parse", content: "Distance is 180 km and time is 2.5 hours." },
    { i: 1, type: "plan", content: "Average speed is distance divided by time." },
    { i: 2, type: "compute", content: "180 / 2.5 = 72" },
    { i: 3, type: "check", content: "72 km/h × 2.5 h = 180 km, which matches." },
  ],
  final_answer: "72 km/h",
  meta: { source: "example", topic: "arithmetic" },
};
