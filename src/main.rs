//! The `dagster-branch-deploy` executable: everything is in the library.

fn main() {
    std::process::exit(dagster_branch_deploy::cli::run(std::env::args_os()));
}
