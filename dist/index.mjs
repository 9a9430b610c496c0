#!/usr/bin/env node
// The GitHub Action's launcher: turns the action's inputs into the
// environment dagster-branch-deploy reads, runs the native binary where it
// matches the runner (Linux x64) and the WebAssembly build everywhere else,
// or when the native binary cannot start, and passes the exit status on.
// No dependencies: the runner does no npm install. Arguments given to it go
// to the program (default: deploy), so `node dist/index.mjs --version`
// works as a check. Both builds report the program's exit status.
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

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
  "base-image": "DAGSTER_BASE_IMAGE",
  "require-label": "DAGSTER_REQUIRE_LABEL",
  "idle-days": "DAGSTER_IDLE_DAYS",
};
// Boolean input → [variable, the value of the input that sets it].
const SWITCHES = {
  comment: ["DAGSTER_NO_COMMENT", "false"],
  wait: ["DAGSTER_NO_WAIT", "false"],
  "delete-on-close": ["DAGSTER_DELETE_ON_CLOSE", "true"],
  "dry-run": ["DAGSTER_DRY_RUN", "true"],
  "allow-fork": ["DAGSTER_ALLOW_FORK", "true"],
  "external-build": ["DAGSTER_EXTERNAL_BUILD", "true"],
  "redeploy-all": ["DAGSTER_REDEPLOY_ALL", "true"],
  "github-deployment": ["DAGSTER_NO_GITHUB_DEPLOYMENT", "false"],
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

/// What the WebAssembly build cannot ask git itself: the launcher runs the
/// same commands (at once, while the program loads) and passes their
/// output (see src/io/git.rs).
async function gitFacts(dir) {
  const git = (...args) =>
    new Promise((done) =>
      execFile("git", ["-C", dir, ...args], { encoding: "utf8" }, (error, stdout) =>
        done(error ? "" : stdout.replace(/\n$/, "")),
      ),
    );
  const [head, branch, defaultBranch, origin] = await Promise.all([
    git("log", "-1", "HEAD", "--format=%H%n%ct%n%an%n%ae%n%s", "--"),
    git("rev-parse", "--abbrev-ref", "HEAD"),
    git("symbolic-ref", "--short", "refs/remotes/origin/HEAD"),
    git("config", "--get", "remote.origin.url"),
  ]);
  return {
    DAGSTER_GIT_HEAD: head,
    DAGSTER_GIT_BRANCH: branch,
    DAGSTER_GIT_DEFAULT_BRANCH: defaultBranch.replace(/^origin\//, ""),
    DAGSTER_GIT_ORIGIN: origin,
  };
}

/// The host directories the program may reach, each at the same path.
function preopens(env) {
  const dirs = [
    process.cwd(),
    env.GITHUB_WORKSPACE,
    env.RUNNER_TEMP,
    env.TMPDIR,
    env.DAGSTER_PROJECT_DIR && resolve(env.DAGSTER_PROJECT_DIR),
    env.DAGSTER_OUTPUT_DIR && resolve(env.DAGSTER_OUTPUT_DIR),
    env.GITHUB_EVENT_PATH && dirname(env.GITHUB_EVENT_PATH),
    env.GITHUB_OUTPUT && dirname(env.GITHUB_OUTPUT),
    env.GITHUB_STEP_SUMMARY && dirname(env.GITHUB_STEP_SUMMARY),
    env.DOCKER_CONFIG || (env.HOME && join(env.HOME, ".docker")),
    env.REGISTRY_AUTH_FILE && dirname(env.REGISTRY_AUTH_FILE),
  ];
  return [...new Set(dirs.filter((d) => d && existsSync(d)).map((d) => resolve(d)))];
}

/// Node reads extra CA certificates at start-up only: when SSL_CERT_FILE
/// names some, run this launcher once more with Node told to trust them, so
/// the WebAssembly build's requests (made by Node) trust them as the native
/// binary does. (Proxies need nothing: the HTTP worker's agents read
/// HTTPS_PROXY/NO_PROXY; see wasm/http-worker.mjs.)
function rerunWithNetworkSettings(args, env) {
  if (!env.SSL_CERT_FILE || env.NODE_EXTRA_CA_CERTS) return;
  const launcher = fileURLToPath(import.meta.url);
  const extra = { NODE_EXTRA_CA_CERTS: env.SSL_CERT_FILE };
  const result = spawnSync(process.execPath, [launcher, ...args], { stdio: "inherit", env: { ...process.env, ...extra } });
  process.exit(result.status ?? 1);
}

async function runWasm(args, env) {
  rerunWithNetworkSettings(args, env);
  const entry = join(here, "wasm", "dbd.mjs");
  if (!existsSync(entry)) {
    fail(
      `${entry} is missing: this ref of the action has no release build (this runner, ${platform()}, ` +
        "needs its WebAssembly build). Use a release tag (uses: <owner>/dagster-branch-deploy@v1), or build it with " +
        "`cargo xtask dist`.",
    );
  }
  const scratch = mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), "dagster-branch-deploy-"));
  process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
  const projectDir = resolve(env.DAGSTER_PROJECT_DIR || ".");
  const { load, run } = await import(pathToFileURL(entry).href);
  const facts = gitFacts(projectDir);
  let status;
  try {
    const program = load();
    const wasmEnv = { ...env, ...(await facts), PWD: process.cwd(), TMPDIR: scratch };
    // Empty means unset to the program; the WebAssembly build cannot remove
    // variables itself.
    for (const [name, value] of Object.entries(wasmEnv)) if (value === "") delete wasmEnv[name];
    status = await run(program, { args, env: wasmEnv, preopens: preopens(wasmEnv) });
  } catch (error) {
    // A damaged bundle, a trap (the program aborted; it said why above) or
    // the HTTP worker lost.
    fail(`the WebAssembly build stopped: ${error.message}`);
  }
  process.exit(status);
}

// What the `command` input may run.
const COMMANDS = ["deploy", "close", "sweep"];

function command() {
  const name = input("command") || "deploy";
  if (!COMMANDS.includes(name)) fail(`the input command must be one of ${COMMANDS.join(", ")}, not "${name}"`);
  return [name];
}

const env = environment();
const args = process.argv.slice(2).length > 0 ? process.argv.slice(2) : command();
const binary = NATIVE[platform()];
if (binary && existsSync(binary)) {
  const result = spawnSync(binary, args, { stdio: "inherit", env });
  if (!result.error) process.exit(result.status ?? 1);
  console.log(`::notice::the native binary could not start (${result.error.message}); running the WebAssembly build`);
}
await runWasm(args, env);
