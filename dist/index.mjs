// The GitHub Action's launcher: turns the action's inputs into the
// environment dagster-branch-deploy reads, runs the native binary that
// matches the runner, and passes its exit status on. No dependencies: the
// runner does no npm install. Arguments given to it go to the binary
// (default: deploy), so `node dist/index.mjs --version` works as a check.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const NATIVE = { "Linux X64": join(here, "dagster-branch-deploy-x86_64-linux") };

// Input → variable. The runner exports input `foo-bar` as INPUT_FOO-BAR.
const VARIABLES = {
  "dagster-cloud-api-token": "DAGSTER_CLOUD_API_TOKEN",
  organization: "DAGSTER_CLOUD_ORGANIZATION",
  "dagster-cloud-url": "DAGSTER_CLOUD_URL",
  deployment: "DAGSTER_CLOUD_DEPLOYMENT",
  "base-deployment-name": "DAGSTER_CLOUD_BASE_DEPLOYMENT_NAME",
  "project-dir": "DAGSTER_PROJECT_DIR",
  locations: "DAGSTER_LOCATIONS",
  "github-token": "GITHUB_TOKEN",
  "location-load-timeout": "DAGSTER_CLOUD_LOCATION_LOAD_TIMEOUT",
};
// Boolean input → [variable, the value of the input that sets it].
const SWITCHES = {
  comment: ["DAGSTER_NO_COMMENT", "false"],
  wait: ["DAGSTER_NO_WAIT", "false"],
  "delete-on-close": ["DAGSTER_DELETE_ON_CLOSE", "true"],
  "dry-run": ["DAGSTER_DRY_RUN", "true"],
};

function fail(message) {
  console.log(`::error title=dagster-branch-deploy::${message.replace(/%/g, "%25").replace(/\n/g, "%0A")}`);
  process.exit(1);
}

function input(name) {
  return (process.env[`INPUT_${name.toUpperCase()}`] ?? "").trim();
}

function environment() {
  const env = { ...process.env };
  for (const [name, variable] of Object.entries(VARIABLES)) {
    const value = input(name);
    if (value !== "") env[variable] = value;
  }
  for (const [name, [variable, when]] of Object.entries(SWITCHES)) {
    const value = input(name).toLowerCase();
    if (value === "") continue;
    if (value !== "true" && value !== "false") fail(`the input ${name} must be true or false, not "${input(name)}"`);
    if (value === when) env[variable] = "true";
  }
  return env;
}

function platform() {
  const os = process.env.RUNNER_OS || { linux: "Linux", darwin: "macOS", win32: "Windows" }[process.platform] || process.platform;
  const arch = process.env.RUNNER_ARCH || { x64: "X64", arm64: "ARM64", ia32: "X86", arm: "ARM" }[process.arch] || process.arch;
  return `${os} ${arch}`;
}

const runner = platform();
const binary = NATIVE[runner];
if (!binary) {
  fail(`dagster-branch-deploy runs on Linux x64 runners; this runner is ${runner}. Use runs-on: ubuntu-latest for this job.`);
}
if (!existsSync(binary)) {
  fail(
    `${binary} is missing: this ref of the action has no release build. ` +
      "Use a release tag (uses: <owner>/dagster-branch-deploy@v1), or build it with `cargo xtask dist`.",
  );
}
const args = process.argv.slice(2);
const result = spawnSync(binary, args.length > 0 ? args : ["deploy"], { stdio: "inherit", env: environment() });
if (result.error) fail(`could not start ${binary}: ${result.error.message}`);
process.exit(result.status ?? 1);
