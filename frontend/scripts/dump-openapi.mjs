// Writes the backend's current OpenAPI schema to openapi.json (then run `npm run gen:api`).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { backendSchema, frontendDir } from "./backend-schema.mjs";

const text = backendSchema();
if (text === null) {
  console.error("no backend Python found: create ../.venv or set TUNIX_RT_PYTHON");
  process.exit(1);
}
writeFileSync(join(frontendDir, "openapi.json"), text);
console.log("wrote openapi.json");
