//! Dockerfile parsing and classification: which Dockerfiles this tool builds
//! natively (metadata and COPY of local files on top of a base image) and
//! which need a container builder (RUN, multi-stage, ADD of URLs…), with the
//! line that decided it.
//!
//! Words are kept raw here; variables (`$VAR`, `${VAR:-default}`) are
//! expanded when the recipe is applied, since the base image's `Env` is in
//! scope for them.

mod lex;
mod steps;

pub(crate) use lex::parse;

use anyhow::{Context, Result, bail};

use super::words::shell_words;
use crate::text::excerpt;
pub(crate) use steps::parse_step;

/// One logical instruction (continuations joined).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Instruction {
    /// 1-based line where the instruction starts.
    pub(crate) line: usize,
    /// Upper-cased keyword (`COPY`).
    pub(crate) keyword: String,
    /// Everything after the keyword, continuations joined.
    pub(crate) args: String,
}

impl Instruction {
    /// The instruction as written (one line), for history entries.
    pub(crate) fn text(&self) -> String {
        format!("{} {}", self.keyword, self.args)
    }
}

/// How a Dockerfile gets built.
#[derive(Clone, Debug)]
pub(crate) enum BuildPath {
    /// Natively, by this tool.
    Native(Recipe),
    /// By an external container builder, and why.
    External {
        /// The first thing the native path cannot do, with its line.
        reason: String,
    },
}

/// A Dockerfile the native path can build.
#[derive(Clone, Debug)]
pub(crate) struct Recipe {
    /// `ARG`s declared before `FROM`, with their defaults.
    pub(crate) global_args: Vec<(String, Option<String>)>,
    /// The raw `FROM` image word (`scratch` for an empty base).
    pub(crate) from: String,
    /// The instructions after `FROM`, in order.
    pub(crate) steps: Vec<Step>,
}

/// A step after `FROM`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Step {
    pub(crate) instruction: Instruction,
    /// Its parsed flags and operands.
    pub(crate) kind: StepKind,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StepKind {
    /// `ARG name[=default]`.
    Arg(String, Option<String>),
    /// `ENV k=v…` (raw words).
    Env(Vec<(String, String)>),
    /// `LABEL k=v…` (raw words).
    Label(Vec<(String, String)>),
    /// `WORKDIR path` (raw).
    Workdir(String),
    /// `USER user[:group]` (raw).
    User(String),
    /// `EXPOSE port[/proto]…` (raw).
    Expose(Vec<String>),
    /// `VOLUME path…` (raw).
    Volume(Vec<String>),
    /// `STOPSIGNAL sig` (raw).
    StopSignal(String),
    /// `ENTRYPOINT`: exec form words, or the shell-form string.
    Entrypoint(Command),
    /// `CMD`: exec form words, or the shell-form string.
    Cmd(Command),
    /// `SHELL ["…"]`.
    Shell(Vec<String>),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `COPY`/`ADD` of local files.
    Copy(CopyStep),
}

/// ENTRYPOINT/CMD operand.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Command {
    /// `["a", "b"]`.
    Exec(Vec<String>),
    /// `a b`, run through the SHELL.
    Shell(String),
}

/// `HEALTHCHECK`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Healthcheck {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [options] CMD …`.
    Check {
        /// `--interval` etc., as nanoseconds, and `--retries`.
        options: Vec<(String, i64)>,
        command: Command,
    },
}

/// COPY/ADD of local files.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CopyStep {
    /// Source words (raw).
    pub(crate) sources: Vec<String>,
    /// Destination word (raw).
    pub(crate) dest: String,
    /// `--chmod=0755`.
    pub(crate) chmod: Option<u32>,
    /// `--chown=uid[:gid]` (numeric only).
    pub(crate) chown: Option<(u64, u64)>,
}

/// Decides whether the native path can build these instructions.
pub(crate) fn classify(instructions: &[Instruction]) -> Result<BuildPath> {
    let mut global_args = Vec::new();
    let mut from: Option<String> = None;
    let mut steps = Vec::new();
    for ins in instructions {
        let external = |what: &str| Ok(BuildPath::External { reason: format!("line {}: {what}", ins.line) });
        match (ins.keyword.as_str(), &from) {
            ("ARG", None) => global_args.push(parse_arg(ins)?),
            ("FROM", None) => match parse_from(ins)? {
                Some((_, Some(platform))) if !matches!(platform.as_str(), "$TARGETPLATFORM" | "${TARGETPLATFORM}") => {
                    return external("FROM --platform picks a platform other than the one being built");
                }
                Some((image, _)) => from = Some(image),
                None => return external("FROM … AS names a build stage (multi-stage build)"),
            },
            ("FROM", Some(_)) => {
                return external("a second FROM starts another stage (multi-stage build)");
            }
            (_, None) => bail!("line {}: {} before FROM; a Dockerfile must start with FROM", ins.line, ins.keyword),
            ("RUN", _) => return external("RUN needs a container to run the command"),
            ("ONBUILD", _) => return external("ONBUILD is not supported by the native build"),
            (keyword, _) => match parse_step(ins).with_context(|| format!("line {}: {keyword}", ins.line))? {
                Ok(kind) => steps.push(Step { instruction: ins.clone(), kind }),
                Err(why) => return external(&why),
            },
        }
    }
    let Some(from) = from else { bail!("the Dockerfile has no FROM instruction") };
    Ok(BuildPath::Native(Recipe { global_args, from, steps }))
}

/// `FROM [--platform=p] image` → Some((image, platform)); `AS name` → None.
fn parse_from(ins: &Instruction) -> Result<Option<(String, Option<String>)>> {
    let mut words = ins.args.split_whitespace();
    let mut platform = None;
    let mut image = None;
    for w in words.by_ref() {
        if let Some(p) = w.strip_prefix("--platform=") {
            platform = Some(p.to_string());
        } else if w.starts_with("--") {
            bail!("line {}: unknown FROM flag {}", ins.line, excerpt(w));
        } else {
            image = Some(w.to_string());
            break;
        }
    }
    let Some(image) = image else { bail!("line {}: FROM needs an image", ins.line) };
    if words.next().is_some() {
        return Ok(None);
    }
    Ok(Some((image, platform)))
}

pub(super) fn parse_arg(ins: &Instruction) -> Result<(String, Option<String>)> {
    let words = shell_words(&ins.args)?;
    let [word] = words.as_slice() else { bail!("line {}: ARG takes one name[=default]", ins.line) };
    Ok(match word.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (word.clone(), None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::words::expand;

    #[test]
    fn a_from_platform_other_than_the_target_goes_external() {
        assert!(external("FROM --platform=linux/arm64 python:3.12\nCOPY . /app\n").contains("FROM --platform"));
        native("FROM --platform=$TARGETPLATFORM python:3.12\nCOPY . /app\n");
    }

    #[test]
    fn copy_keeps_variables_for_later_expansion() {
        let recipe = native("FROM scratch\nENV D=/etc/x\nCOPY f $D\nCOPY \"g h\" ${D}/\n");
        let copies: Vec<&CopyStep> = recipe
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Copy(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(copies[0].dest, "$D");
        assert_eq!(copies[1].sources, ["\"g h\""]);
        assert_eq!(expand(&copies[1].dest, &|_| Some("/etc/x".into())).unwrap(), "/etc/x/");
    }

    fn native(text: &str) -> Recipe {
        match classify(&parse(text).unwrap()).unwrap() {
            BuildPath::Native(r) => r,
            BuildPath::External { reason } => panic!("expected native, got external: {reason}"),
        }
    }

    fn external(text: &str) -> String {
        match classify(&parse(text).unwrap()).unwrap() {
            BuildPath::Native(_) => panic!("expected external"),
            BuildPath::External { reason } => reason,
        }
    }

    #[test]
    fn continuations_and_comments_join_into_one_instruction() {
        let ins = parse("FROM a\n# comment\nENV A=1 \\\n  # inside\n  B=2\nCMD [\"x\"]\n").unwrap();
        assert_eq!(ins.len(), 3);
        assert_eq!(ins[1], Instruction { line: 3, keyword: "ENV".into(), args: "A=1 B=2".into() });
        assert_eq!(ins[2].line, 6);
    }

    #[test]
    fn escape_directive_changes_the_continuation_character() {
        let ins = parse("# escape=`\nFROM a\nCOPY x `\n  C:\\app\\\n").unwrap();
        assert_eq!(ins[1].args, "x C:\\app\\");
    }

    #[test]
    fn a_code_only_dockerfile_is_native() {
        let r = native(
            "ARG BASE=python:3.12-slim\nFROM $BASE\nENV PYTHONUNBUFFERED=1 APP=\"my app\"\nWORKDIR /opt/dagster/app\n\
             COPY --chmod=0755 --chown=1000:1000 . .\nLABEL a=b\nUSER 1000\nEXPOSE 4000\n\
             ENTRYPOINT [\"dagster\"]\nCMD api grpc\nHEALTHCHECK --interval=30s --retries=3 CMD [\"true\"]\n",
        );
        assert_eq!(r.from, "$BASE");
        assert_eq!(r.global_args, vec![("BASE".into(), Some("python:3.12-slim".into()))]);
        assert_eq!(r.steps.len(), 9);
        assert_eq!(
            r.steps[0].kind,
            StepKind::Env(vec![("PYTHONUNBUFFERED".into(), "1".into()), ("APP".into(), "\"my app\"".into())])
        );
        let StepKind::Copy(c) = &r.steps[2].kind else { panic!() };
        assert_eq!((c.chmod, c.chown), (Some(0o755), Some((1000, 1000))));
        assert_eq!(c.sources, vec![".".to_string()]);
        let StepKind::Healthcheck(Healthcheck::Check { options, .. }) = &r.steps[8].kind else { panic!() };
        assert_eq!(options, &vec![("interval".to_string(), 30_000_000_000), ("retries".to_string(), 3)]);
    }

    #[test]
    fn what_needs_a_container_is_external_with_its_line() {
        assert_eq!(
            external("FROM a\nCOPY . .\nRUN pip install .\n"),
            "line 3: RUN needs a container to run the command"
        );
        assert!(external("FROM a AS build\nCOPY . .\n").contains("multi-stage"));
        assert!(external("FROM a\nFROM b\n").contains("line 2"));
        assert!(external("FROM a\nCOPY --from=build /x /y\n").contains("--from"));
        assert!(external("FROM a\nADD https://example.com/x /x\n").contains("URL"));
        assert!(external("FROM a\nADD deps.tar.gz /x\n").contains("archive"));
        assert!(external("FROM a\nCOPY --chown=app:app . .\n").contains("user by name"));
        assert!(external("FROM a\nCOPY <<EOF /x\nhi\nEOF\n").contains("heredoc"));
    }

    #[test]
    fn malformed_dockerfiles_name_the_line() {
        let err = classify(&parse("COPY . .\n").unwrap()).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("before FROM"), "{err}");
        let err = format!("{:#}", classify(&parse("FROM a\nCOPY --chmod=9z . .\n").unwrap()).unwrap_err());
        assert!(err.contains("line 2") && err.contains("octal"), "{err}");
        assert!(classify(&parse("# only a comment\n").unwrap()).is_err());
    }

    #[test]
    fn expansion_follows_dockerfile_rules() {
        let vars = |name: &str| match name {
            "HOME" => Some("/root".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand("$HOME/app", &vars).unwrap(), "/root/app");
        assert_eq!(expand("${HOME}x", &vars).unwrap(), "/rootx");
        assert_eq!(expand("${EMPTY:-def}", &vars).unwrap(), "def");
        assert_eq!(expand("${HOME:+set}", &vars).unwrap(), "set");
        assert_eq!(expand("'$HOME'", &vars).unwrap(), "$HOME");
        assert_eq!(expand("\"$HOME dir\"", &vars).unwrap(), "/root dir");
        assert_eq!(expand("\\$HOME", &vars).unwrap(), "$HOME");
        assert!(expand("${HOME#x}", &vars).is_err());
    }
}
