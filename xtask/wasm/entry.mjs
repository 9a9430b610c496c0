// The WebAssembly build's entry point, bundled by `cargo xtask dist` with
// the jco-transpiled component and preview2-shim (the WASI 0.2 host for
// Node) into dist/wasm/dbd.mjs. The launcher calls run() with the
// arguments, environment, working directory and the host directories the
// program may reach (each mapped to the same path inside).
import { _setArgs, _setCwd, _setEnv } from "@bytecodealliance/preview2-shim/cli";
import { _setPreopens } from "@bytecodealliance/preview2-shim/filesystem";

export async function run({ args, env, cwd, preopens }) {
  _setArgs(["dagster-branch-deploy", ...args]);
  _setEnv(env);
  _setCwd(cwd);
  _setPreopens(Object.fromEntries(preopens.map((dir) => [dir, dir])));
  const component = await import("./dbd.js");
  component.run.run();
}
