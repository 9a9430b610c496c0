//! One instruction's arguments, parsed into what the step does: flags,
//! JSON or shell-form operands, `k=v` pairs, HEALTHCHECK durations, and the
//! COPY/ADD forms the native build can do (or why it cannot).

use anyhow::{Context, Result, bail};

use super::{Command, CopyStep, Healthcheck, Instruction, StepKind, parse_arg};
use crate::image::words::{raw_words, shell_words};
use crate::text::excerpt;

/// Ok(Ok(step)) natively buildable; Ok(Err(reason)) needs a builder.
pub(crate) fn parse_step(ins: &Instruction) -> Result<std::result::Result<StepKind, String>> {
    let args = ins.args.as_str();
    let kind = match ins.keyword.as_str() {
        "ARG" => {
            let (k, v) = parse_arg(ins)?;
            StepKind::Arg(k, v)
        }
        "ENV" => StepKind::Env(key_values(args, true)?),
        "LABEL" => StepKind::Label(key_values(args, false)?),
        "WORKDIR" => StepKind::Workdir(single(args, "a path")?),
        "USER" => StepKind::User(single(args, "a user")?),
        "STOPSIGNAL" => StepKind::StopSignal(single(args, "a signal")?),
        "EXPOSE" => StepKind::Expose(shell_words(args)?),
        "VOLUME" => StepKind::Volume(json_or_words(args)?),
        "ENTRYPOINT" => StepKind::Entrypoint(command(args)?),
        "CMD" => StepKind::Cmd(command(args)?),
        "SHELL" => match command(args)? {
            Command::Exec(words) if !words.is_empty() => StepKind::Shell(words),
            _ => bail!("SHELL takes a JSON array, like [\"/bin/bash\", \"-c\"]"),
        },
        "HEALTHCHECK" => StepKind::Healthcheck(healthcheck(args)?),
        "COPY" | "ADD" => match copy(ins)? {
            Ok(c) => StepKind::Copy(c),
            Err(why) => return Ok(Err(why)),
        },
        "MAINTAINER" => {
            return Ok(Err("MAINTAINER is deprecated; use LABEL maintainer=…".into()));
        }
        other => {
            return Ok(Err(format!("{other} is not an instruction the native build knows")));
        }
    };
    Ok(Ok(kind))
}

fn single(args: &str, what: &str) -> Result<String> {
    if args.is_empty() {
        bail!("needs {what}");
    }
    Ok(args.to_string())
}

fn command(args: &str) -> Result<Command> {
    if args.starts_with('[')
        && let Ok(words) = serde_json::from_str::<Vec<String>>(args)
    {
        return Ok(Command::Exec(words));
    }
    Ok(Command::Shell(args.to_string()))
}

/// A JSON array, or words split on unquoted white space with their quotes
/// and variables kept: they are expanded when the step is applied, with the
/// ENV and ARG values in force there.
fn json_or_words(args: &str) -> Result<Vec<String>> {
    match command(args)? {
        Command::Exec(words) => Ok(words),
        Command::Shell(s) => raw_words(&s),
    }
}

/// `k=v k2="v 2"`, or the legacy `ENV k v w` when `legacy_space` allows it.
fn key_values(args: &str, legacy_space: bool) -> Result<Vec<(String, String)>> {
    let first = args.split_whitespace().next().unwrap_or("");
    if legacy_space && !first.contains('=') {
        let (k, v) = args.split_once(char::is_whitespace).context("needs a name and a value")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    raw_words(args)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("expected name=value, found {}", excerpt(&w)),
        })
        .collect()
}

fn healthcheck(args: &str) -> Result<Healthcheck> {
    if args.eq_ignore_ascii_case("none") {
        return Ok(Healthcheck::None);
    }
    let mut rest = args;
    let mut options = Vec::new();
    while let Some(flag) = rest.strip_prefix("--") {
        let (word, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        let (name, value) = word.split_once('=').with_context(|| format!("{} needs =value", excerpt(word)))?;
        let parsed = match name {
            "retries" => value.parse().with_context(|| format!("--retries={} is not a number", excerpt(value)))?,
            "interval" | "timeout" | "start-period" | "start-interval" => go_duration_nanos(value)?,
            _ => bail!("unknown HEALTHCHECK option {}", excerpt(name)),
        };
        options.push((name.to_string(), parsed));
        rest = tail.trim_start();
    }
    let Some(cmd) = rest.strip_prefix("CMD").or_else(|| rest.strip_prefix("cmd")) else {
        bail!("HEALTHCHECK needs NONE or CMD <command>");
    };
    Ok(Healthcheck::Check { options, command: command(cmd.trim())? })
}

/// Parses a Go duration (`30s`, `1m30s`, `500ms`) into nanoseconds.
fn go_duration_nanos(s: &str) -> Result<i64> {
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let (num, tail) = rest.split_at(digits);
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: f64 = num.parse().with_context(|| format!("invalid duration {}", excerpt(s)))?;
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => bail!("invalid duration {}: unknown unit", excerpt(s)),
        };
        total += n * scale;
        rest = tail;
    }
    Ok(total as i64)
}

/// COPY/ADD: Ok(Ok(copy)) for local files; Ok(Err(reason)) otherwise.
fn copy(ins: &Instruction) -> Result<std::result::Result<CopyStep, String>> {
    let is_add = ins.keyword == "ADD";
    let mut rest = ins.args.as_str();
    let (mut chmod, mut chown) = (None, None);
    while let Some(flag) = rest.strip_prefix("--") {
        let (word, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        match name {
            "chmod" => {
                let mode = u32::from_str_radix(value, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .with_context(|| format!("--chmod={} is not an octal mode", excerpt(value)))?;
                chmod = Some(mode);
            }
            "chown" => match numeric_owner(value) {
                Some(owner) => chown = Some(owner),
                None => {
                    return Ok(Err(format!("{} --chown={value} names a user by name", ins.keyword)));
                }
            },
            "link" => {}
            "from" => {
                return Ok(Err(format!("{} --from copies from another stage or image", ins.keyword)));
            }
            other => {
                return Ok(Err(format!("{} --{other} is not supported by the native build", ins.keyword)));
            }
        }
        rest = tail.trim_start();
    }
    if rest.contains("<<") {
        return Ok(Err(format!("{} with a heredoc", ins.keyword)));
    }
    let mut words = json_or_words(rest)?;
    if words.len() < 2 {
        bail!("{} needs at least one source and a destination", ins.keyword);
    }
    let dest = words.pop().expect("checked above");
    if is_add {
        if let Some(w) = words.iter().find(|w| w.contains("://") || w.starts_with("git@")) {
            return Ok(Err(format!("ADD {w} downloads a URL")));
        }
        if let Some(w) = words.iter().find(|w| is_archive(w)) {
            return Ok(Err(format!("ADD {w} extracts an archive")));
        }
    }
    Ok(Ok(CopyStep { sources: words, dest, chmod, chown }))
}

fn numeric_owner(value: &str) -> Option<(u64, u64)> {
    let (user, group) = value.split_once(':').unwrap_or((value, value));
    Some((user.parse().ok()?, group.parse().ok()?))
}

fn is_archive(word: &str) -> bool {
    [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst"]
        .iter()
        .any(|ext| word.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(go_duration_nanos("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(go_duration_nanos("500ms").unwrap(), 500_000_000);
        assert!(go_duration_nanos("5x").is_err());
    }
}
