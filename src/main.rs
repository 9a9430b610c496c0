//! The `dagster-branch-deploy` executable: everything is in the library.

fn main() {
    // CI systems pass unset inputs and secrets as empty strings; the flags'
    // environment variables treat empty as unset. (In WebAssembly the
    // launcher leaves them out: removing variables there corrupts
    // wasi-libc's environment table.)
    #[cfg(not(target_os = "wasi"))]
    for (name, value) in std::env::vars_os() {
        if value.is_empty() && name.to_str().is_some_and(|n| n.starts_with("DAGSTER_")) {
            // SAFETY: nothing else runs yet; no other thread reads the environment.
            unsafe { std::env::remove_var(&name) };
        }
    }
    // WebAssembly has no working directory of its own: the launcher passes
    // the host's in PWD, and relative paths resolve against it.
    #[cfg(target_os = "wasi")]
    if let Some(pwd) = std::env::var_os("PWD") {
        let _ = std::env::set_current_dir(pwd);
    }
    std::process::exit(dagster_branch_deploy::cli::run(std::env::args_os()));
}
