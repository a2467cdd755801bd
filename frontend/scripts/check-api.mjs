// CI guard: the committed client must be what the generator makes of the committed schema,
// and (where the backend is installed) the committed schema must be the backend's own.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backendSchema, frontendDir } from "./backend-schema.mjs";

const schemaPath = join(frontendDir, "openapi.json");
const clientPath = join(frontendDir, "src", "api", "schema.d.ts");
const cli = join(frontendDir, "node_modules", "openapi-typescript", "bin", "cli.js");

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

function checkSchemaMatchesBackend() {
  let live;
  try {
    live = backendSchema();
  } catch (err) {
    fail(`could not read the backend's OpenAPI schema: ${err.message}`);
  }
  if (live === null) {
    console.warn("note: no backend Python found (../.venv or $TUNIX_RT_PYTHON); "
      + "skipped comparing openapi.json with the backend");
    return;
  }
  if (live !== readFileSync(schemaPath, "utf8")) {
    fail("frontend/openapi.json is stale: run npm run gen:openapi && npm run gen:api");
  }
}

function checkClientMatchesSchema() {
  const dir = mkdtempSync(join(tmpdir(), "tunix-rt-api-"));
  try {
    const fresh = join(dir, "schema.d.ts");
    execFileSync(process.execPath, [cli, schemaPath, "-o", fresh], { stdio: "pipe" });
    if (!existsSync(clientPath) || readFileSync(fresh, "utf8") !== readFileSync(clientPath, "utf8")) {
      fail("generated API client is stale: run npm run gen:api");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

checkSchemaMatchesBackend();
checkClientMatchesSchema();
console.log("API client is up to date");
