//! Dockerfile lexing: the escape directive, comments and line
//! continuations, folded into one `Instruction` per keyword.

use anyhow::{Result, bail};

use super::Instruction;
use crate::text::excerpt;

/// Parses a Dockerfile into logical instructions.
pub(crate) fn parse(text: &str) -> Result<Vec<Instruction>> {
    let escape = escape_directive(text);
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim_start();
        if trimmed.starts_with('#') || (pending.is_none() && trimmed.trim().is_empty()) {
            continue;
        }
        let (content, continues) = match trimmed.trim_end().strip_suffix(escape) {
            Some(stripped) => (stripped.trim_end().to_string(), true),
            None => (trimmed.trim_end().to_string(), false),
        };
        let current = match pending.take() {
            Some((start, mut acc)) => {
                acc.push(' ');
                acc.push_str(content.trim());
                (start, acc)
            }
            None => (line_no, content),
        };
        if continues {
            pending = Some(current);
        } else {
            out.push(split_keyword(current.0, &current.1)?);
        }
    }
    if let Some((start, acc)) = pending {
        out.push(split_keyword(start, &acc)?);
    }
    Ok(out)
}

fn escape_directive(text: &str) -> char {
    for line in text.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        if let Some((key, value)) = directive.split_once('=')
            && key.trim().eq_ignore_ascii_case("escape")
            && let Some(c) = value.trim().chars().next()
        {
            return c;
        }
    }
    '\\'
}

fn split_keyword(line: usize, text: &str) -> Result<Instruction> {
    let text = text.trim();
    let (keyword, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    if keyword.is_empty() || !keyword.chars().all(|c| c.is_ascii_alphabetic()) {
        bail!("line {line}: expected an instruction, found {}", excerpt(text));
    }
    Ok(Instruction { line, keyword: keyword.to_ascii_uppercase(), args: args.trim().to_string() })
}
