// Reads the OpenAPI schema straight from the installed backend, formatted exactly like
// `tunix-rt openapi` (sorted keys, two-space indent, trailing newline).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const frontendDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const DUMP = [
  "import json, sys",
  "from tunix_rt.app import create_app",
  "schema = create_app(check_schema=False).openapi()",
  "sys.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + '\\n')",
].join("\n");

/** The backend's Python interpreter: $TUNIX_RT_PYTHON, else the repository's .venv. */
export function backendPython() {
  if (process.env.TUNIX_RT_PYTHON) return process.env.TUNIX_RT_PYTHON;
  const venv = join(frontendDir, "..", ".venv", "bin", "python");
  return existsSync(venv) ? venv : null;
}

/** The schema text, or null when no backend interpreter is available. */
export function backendSchema() {
  const python = backendPython();
  if (!python) return null;
  return execFileSync(python, ["-c", DUMP], {
    cwd: join(frontendDir, ".."),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
}
