//! Dockerfiles that only install a `uv.lock`, recognised so that they are
//! built natively: dg's scaffolded Dockerfile (a uv builder stage, `uv sync
//! --frozen --no-install-project --no-dev`, `ADD . /app`, `uv sync --frozen
//! --no-dev --package X`, then `COPY --from=builder /app /app` into
//! `python:X.Y-slim-bookworm`) and the single-stage form on a uv or Python
//! image (`COPY . .` and `RUN uv sync --frozen`). Anything else with RUN is
//! left to a container builder.

use anyhow::Result;

use super::lock::SyncRequest;
use crate::image::dockerfile::{Instruction, StepKind, parse_step};
use crate::image::words::shell_words;

/// What a recognised Dockerfile asks for.
#[derive(Clone, Debug)]
pub(crate) struct UvSyncRecipe {
    /// The final stage's base image (raw `FROM` word).
    pub(crate) base: String,
    /// The project's directory in the image (the `uv sync` working directory).
    pub(crate) app_dir: String,
    pub(crate) sync: SyncRequest,
    /// Whether the project itself is installed (a `uv sync` without
    /// `--no-install-project`).
    pub(crate) install_project: bool,
    /// The line of the `uv sync` that installs the most.
    pub(crate) line: usize,
    /// The final stage's config steps (ENV, LABEL, CMD…), in order.
    pub(crate) steps: Vec<StepKind>,
    /// Settings the native build does not do, to say once (`UV_COMPILE_BYTECODE`).
    pub(crate) skipped: Vec<String>,
    /// A package the Dockerfile checks is installed (`dagster-cloud --version`).
    pub(crate) checks: Vec<String>,
}

/// Recognises a uv Dockerfile; `Err(reason)` names the first instruction
/// that is something else.
pub(crate) fn recognize(instructions: &[Instruction]) -> Result<UvSyncRecipe, String> {
    let mut stages: Vec<(Option<String>, Vec<&Instruction>)> = Vec::new();
    for ins in instructions {
        if ins.keyword == "FROM" {
            let words: Vec<&str> = ins.args.split_whitespace().filter(|w| !w.starts_with("--platform")).collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                _ => return Err(format!("line {}: FROM {}", ins.line, ins.args)),
            };
            stages.push((name, vec![ins]));
        } else if let Some((_, stage)) = stages.last_mut() {
            stage.push(ins);
        } else if ins.keyword != "ARG" {
            return Err(format!("line {}: {} before FROM", ins.line, ins.keyword));
        }
    }
    let Some((_, last)) = stages.last() else { return Err("no FROM".into()) };
    let builders: Vec<&str> = stages[..stages.len() - 1].iter().filter_map(|(n, _)| n.as_deref()).collect();
    if builders.len() + 1 != stages.len() {
        return Err("an unnamed stage before the last".into());
    }
    let mut recipe = UvSyncRecipe {
        base: last[0].args.split_whitespace().find(|w| !w.starts_with("--")).unwrap_or("").to_string(),
        app_dir: String::new(),
        sync: SyncRequest::default(),
        install_project: false,
        line: 0,
        steps: Vec::new(),
        skipped: Vec::new(),
        checks: Vec::new(),
    };
    for (i, (_, stage)) in stages.iter().enumerate() {
        let final_stage = i + 1 == stages.len();
        let mut workdir = String::from("/");
        for ins in &stage[1..] {
            walk(ins, final_stage, &builders, &mut workdir, &mut recipe)?;
        }
        if final_stage && recipe.app_dir.is_empty() {
            recipe.app_dir = workdir;
        }
    }
    if recipe.line == 0 {
        return Err("no uv sync".into());
    }
    Ok(recipe)
}

/// One instruction of a stage.
fn walk(
    ins: &Instruction,
    final_stage: bool,
    builders: &[&str],
    workdir: &mut String,
    recipe: &mut UvSyncRecipe,
) -> Result<(), String> {
    let at = |what: &str| format!("line {}: {what}", ins.line);
    match ins.keyword.as_str() {
        "RUN" => run(ins, workdir, recipe),
        "WORKDIR" => {
            let dir = ins.args.trim();
            *workdir =
                if dir.starts_with('/') { dir.to_string() } else { format!("{}/{dir}", workdir.trim_end_matches('/')) };
            if final_stage {
                recipe.steps.push(StepKind::Workdir(dir.to_string()));
            }
            Ok(())
        }
        "COPY" | "ADD" => copy(ins, builders, workdir, recipe),
        "ENV" => {
            let Ok(Ok(StepKind::Env(pairs))) = parse_step(ins) else { return Err(at("ENV")) };
            for (key, _) in pairs.iter().filter(|(k, _)| k.starts_with("UV_")) {
                match key.as_str() {
                    "UV_COMPILE_BYTECODE" => {
                        recipe.skipped.push("UV_COMPILE_BYTECODE (bytecode is compiled on first import)".into())
                    }
                    "UV_LINK_MODE" | "UV_PYTHON_DOWNLOADS" | "UV_FROZEN" | "UV_NO_CACHE" | "UV_CACHE_DIR" => {}
                    other => return Err(at(&format!("ENV {other}, a uv setting the native build does not follow"))),
                }
            }
            if final_stage {
                recipe.steps.push(StepKind::Env(pairs));
            }
            Ok(())
        }
        "ARG" => Ok(()),
        _ if !final_stage => Err(at(&format!("{} in a builder stage", ins.keyword))),
        _ => match parse_step(ins) {
            Ok(Ok(step)) => {
                recipe.steps.push(step);
                Ok(())
            }
            _ => Err(at(&ins.keyword)),
        },
    }
}

/// COPY/ADD: the project (`.`) or its lock files into the app directory,
/// the uv binary from uv's image, or the builder's app directory.
fn copy(ins: &Instruction, builders: &[&str], workdir: &str, recipe: &mut UvSyncRecipe) -> Result<(), String> {
    let words = shell_words(&ins.args).map_err(|e| format!("line {}: {e}", ins.line))?;
    let (flags, operands): (Vec<&String>, Vec<&String>) = words.iter().partition(|w| w.starts_with("--"));
    let from = flags.iter().find_map(|f| f.strip_prefix("--from="));
    let other_flags = flags.iter().any(|f| !f.starts_with("--from=") && !f.starts_with("--link"));
    let Some((dest, sources)) = operands.split_last() else {
        return Err(format!("line {}: {}", ins.line, ins.keyword));
    };
    let dest =
        if dest.starts_with('/') { dest.to_string() } else { format!("{}/{dest}", workdir.trim_end_matches('/')) };
    let dest = dest.trim_end_matches(['/', '.']).to_string();
    let dest = if dest.is_empty() { "/".to_string() } else { dest };
    let lock_files = ["pyproject.toml", "uv.lock", "README.md", ".python-version"];
    let ok = match from {
        _ if other_flags => false,
        Some(image) if image.contains("astral-sh/uv") => true,
        Some(stage) => builders.contains(&stage) && sources.iter().all(|s| s.trim_end_matches('/') == dest),
        None => {
            let project = sources.iter().all(|s| matches!(s.as_str(), "." | "./"));
            if project && recipe.app_dir.is_empty() {
                recipe.app_dir = dest.clone();
            }
            (project && recipe.app_dir == dest) || sources.iter().all(|s| lock_files.contains(&s.as_str()))
        }
    };
    if ok { Ok(()) } else { Err(format!("line {}: {} {}", ins.line, ins.keyword, ins.args)) }
}

/// RUN: `uv sync` (with cache and lock-file bind mounts), or the check
/// dg's Dockerfile makes that dagster-cloud is installed.
fn run(ins: &Instruction, workdir: &str, recipe: &mut UvSyncRecipe) -> Result<(), String> {
    let not_uv = || format!("line {}: RUN {}", ins.line, crate::text::shorten(&ins.args, 80));
    if ins.args.contains("dagster-cloud --version") && ins.args.trim_start().starts_with("if ") {
        recipe.checks.push("dagster-cloud".into());
        return Ok(());
    }
    let words = shell_words(&ins.args).map_err(|_| not_uv())?;
    let mut rest = words.as_slice();
    while let Some((flag, tail)) = rest.split_first().filter(|(f, _)| f.starts_with("--mount=")) {
        let allowed = flag.contains("type=cache")
            || (flag.contains("type=bind")
                && ["uv.lock", "pyproject.toml"].iter().any(|f| flag.contains(&format!("source={f}"))));
        if !allowed {
            return Err(not_uv());
        }
        rest = tail;
    }
    let [uv, sync, flags @ ..] = rest else { return Err(not_uv()) };
    if uv != "uv" || sync != "sync" {
        return Err(not_uv());
    }
    let mut install_project = true;
    let mut dev = true;
    let mut package = None;
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        match flag.as_str() {
            "--frozen" | "--locked" | "--no-cache" | "--quiet" | "-q" => {}
            "--compile-bytecode" => {
                recipe.skipped.push("--compile-bytecode (bytecode is compiled on first import)".into())
            }
            "--no-editable" => recipe.skipped.push(
                "--no-editable: the project is installed editable, its code at the same place in the image".into(),
            ),
            "--no-install-project" => install_project = false,
            "--no-dev" => dev = false,
            "--package" => package = Some(flags.next().ok_or_else(not_uv)?.clone()),
            other => match other.strip_prefix("--package=") {
                Some(p) => package = Some(p.to_string()),
                None => {
                    return Err(format!(
                        "line {}: uv sync {other}, an option the native build does not follow",
                        ins.line
                    ));
                }
            },
        }
    }
    if recipe.line == 0 || install_project {
        recipe.line = ins.line;
    }
    recipe.install_project |= install_project;
    recipe.sync.groups = if dev { vec!["dev".into()] } else { Vec::new() };
    if package.is_some() {
        recipe.sync.package = package;
    }
    if recipe.app_dir.is_empty() {
        recipe.app_dir = workdir.to_string();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::dockerfile::parse;

    /// dg's scaffolded Dockerfile (dagster-dg-cli's deploy_uv_Dockerfile.jinja),
    /// rendered for Python 3.12 and the package jaffle-platform.
    const DG: &str = "FROM ghcr.io/astral-sh/uv:python3.12-bookworm-slim AS builder\n\
        ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy\nENV UV_PYTHON_DOWNLOADS=0\nWORKDIR /app\n\
        RUN --mount=type=cache,target=/root/.cache/uv \\\n    --mount=type=bind,source=uv.lock,target=uv.lock \\\n    \
        --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\\n    uv sync --frozen --no-install-project --no-dev\n\
        ADD . /app\nRUN --mount=type=cache,target=/root/.cache/uv \\\n    uv sync --frozen --no-dev --package jaffle-platform\n\n\
        FROM python:3.12-slim-bookworm\nCOPY --from=builder /app /app\nENV PATH=\"/app/.venv/bin:$PATH\"\nWORKDIR /app\n\
        RUN if ! dagster-cloud --version; then \\\n        echo \"Could not find the dagster-cloud package.\"; \\\n        exit 1; \\\n    fi\n";

    /// hooli's single-stage form.
    const SINGLE: &str = "FROM ghcr.io/astral-sh/uv:python3.12-bookworm-slim\nWORKDIR /opt/dagster/app\n\
        COPY pyproject.toml uv.lock ./\nRUN uv sync --frozen --no-install-project\nCOPY . .\nRUN uv sync --frozen\n\
        ENV PATH=\"/opt/dagster/app/.venv/bin:$PATH\"\n";

    fn recognized(text: &str) -> Result<UvSyncRecipe, String> {
        recognize(&parse(text).unwrap())
    }

    #[test]
    fn dgs_scaffolded_dockerfile_is_recognised() {
        let r = recognized(DG).unwrap();
        assert_eq!(r.base, "python:3.12-slim-bookworm");
        assert_eq!(r.app_dir, "/app");
        assert_eq!(r.sync.package.as_deref(), Some("jaffle-platform"));
        assert!(r.sync.groups.is_empty() && r.install_project);
        assert_eq!(r.line, 10);
        assert_eq!(r.checks, ["dagster-cloud"]);
        assert_eq!(r.skipped.len(), 1);
        assert!(matches!(&r.steps[0], StepKind::Env(pairs) if pairs[0].0 == "PATH"));
    }

    #[test]
    fn the_single_stage_form_is_recognised_with_its_dev_group() {
        let r = recognized(SINGLE).unwrap();
        assert_eq!(
            (r.base.as_str(), r.app_dir.as_str()),
            ("ghcr.io/astral-sh/uv:python3.12-bookworm-slim", "/opt/dagster/app")
        );
        assert_eq!(r.sync.groups, ["dev"], "uv sync without --no-dev installs the dev group");
        assert_eq!(r.line, 6);
    }

    #[test]
    fn anything_else_is_left_to_a_builder_with_its_line() {
        let apt = SINGLE.replace("RUN uv sync --frozen\n", "RUN apt-get update && apt-get install -y git\n");
        assert!(recognized(&apt).unwrap_err().starts_with("line 6: RUN apt-get"));
        let src = SINGLE.replace("COPY . .", "COPY src/ /elsewhere/");
        assert!(recognized(&src).unwrap_err().contains("line 5: COPY"));
        let all_extras = SINGLE.replace("RUN uv sync --frozen\n", "RUN uv sync --frozen --all-extras\n");
        assert!(recognized(&all_extras).unwrap_err().contains("--all-extras"));
        let env = SINGLE.replace("WORKDIR", "ENV UV_PROJECT_ENVIRONMENT=/usr/local\nWORKDIR");
        assert!(recognized(&env).unwrap_err().contains("UV_PROJECT_ENVIRONMENT"));
        assert_eq!(recognized("FROM python:3.12\nCOPY . /app\n").unwrap_err(), "no uv sync");
    }
}
