//! Dockerfile words: splitting an instruction's arguments on unquoted white
//! space (quotes kept, for expansion later), and expanding `$VAR`,
//! `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}` with the ENV and
//! ARG values in force when a step is applied.

use anyhow::{Context, Result, bail};

use crate::text::excerpt;

/// Splits on whitespace, honouring quotes and backslashes, without expanding
/// variables (for the flags and keys parsed here).
pub(crate) fn shell_words(args: &str) -> Result<Vec<String>> {
    Ok(raw_words(args)?.into_iter().map(|w| unquote(&w)).collect())
}

/// Splits on unquoted whitespace, keeping quotes in the words (they matter
/// for expansion later).
pub(crate) fn raw_words(args: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', q) if q != Some('\'') => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                current.push(c);
            }
            (c, Some(q)) if c == q => {
                quote = None;
                current.push(c);
            }
            (c, None) if c.is_whitespace() => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            (c, _) => current.push(c),
        }
    }
    if quote.is_some() {
        bail!("unterminated quote in {}", excerpt(args));
    }
    if !current.is_empty() {
        words.push(current);
    }
    Ok(words)
}

fn unquote(word: &str) -> String {
    expand(word, &|_| None).unwrap_or_else(|_| word.to_string())
}

/// Expands `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}` in
/// one raw word and removes its quotes: single quotes keep `$` literal,
/// backslash escapes the next character.
pub(crate) fn expand(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::new();
    let chars: Vec<char> = word.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match (c, quote) {
            ('\'', None) | ('"', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('\\', q) if q != Some('\'') && i + 1 < chars.len() => {
                i += 1;
                out.push(chars[i]);
            }
            ('$', q) if q != Some('\'') => {
                let (value, used) = expand_variable(&chars[i + 1..], lookup)?;
                out.push_str(&value);
                i += used;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Expands the variable after a `$`; returns the value and the chars used.
fn expand_variable(rest: &[char], lookup: &dyn Fn(&str) -> Option<String>) -> Result<(String, usize)> {
    let is_name = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
    if rest.first() == Some(&'{') {
        let close = rest.iter().position(|c| *c == '}').context("unterminated ${")?;
        let inner: String = rest[1..close].iter().collect();
        let name_len = inner.chars().take_while(is_name).count();
        let (name, modifier) = inner.split_at(name_len);
        let value = lookup(name).filter(|v| !v.is_empty());
        let expanded = if let Some(default) = modifier.strip_prefix(":-") {
            value.unwrap_or_else(|| default.to_string())
        } else if let Some(alternative) = modifier.strip_prefix(":+") {
            value.map(|_| alternative.to_string()).unwrap_or_default()
        } else if modifier.is_empty() {
            value.unwrap_or_default()
        } else {
            bail!(
                "unsupported variable form {}: use ${{NAME}}, ${{NAME:-default}} or ${{NAME:+alternative}}",
                excerpt(&format!("${{{inner}}}"))
            );
        };
        return Ok((expanded, close + 1));
    }
    let name: String = rest.iter().take_while(|c| is_name(c)).collect();
    if name.is_empty() {
        return Ok(("$".to_string(), 0));
    }
    Ok((lookup(&name).unwrap_or_default(), name.chars().count()))
}

/// Expands every raw word of a step with `lookup`.
pub(crate) fn expand_all(words: &[String], lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    words.iter().map(|w| expand(w, lookup)).collect()
}
