//! PEP 508 environment markers, parsed and evaluated for one target:
//! `python_full_version >= '3.10' and sys_platform != 'win32'`, `extra ==
//! 'aws'`. Version variables compare as PEP 440 versions, the rest as
//! strings; `in` and `not in` test substrings.

use crate::text::shorten;
use anyhow::{Result, bail};

use super::version::Version;

/// The values the marker variables have on the target.
pub(crate) trait MarkerEnv {
    /// The value of a variable (`python_version`), `None` if unknown.
    fn value(&self, variable: &str) -> Option<String>;
    /// Whether `extra` (normalized) is requested.
    fn has_extra(&self, extra: &str) -> bool;
}

/// Evaluates a marker expression.
pub(crate) fn evaluate(marker: &str, env: &dyn MarkerEnv) -> Result<bool> {
    let tokens = tokenize(marker)?;
    let mut parser = Parser { tokens: &tokens, at: 0, env };
    let value = parser.or()?;
    if parser.at != tokens.len() {
        bail!("marker {}: unexpected {}", shorten(marker, 80), shorten(&format!("{:?}", tokens[parser.at]), 40));
    }
    Ok(value)
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '\'' | '"' => {
                let end = text[i + 1..].find(c).map(|e| i + 1 + e);
                let Some(end) = end else { bail!("marker {}: unclosed quote", shorten(text, 80)) };
                tokens.push(Token::Quoted(text[i + 1..end].to_string()));
                while chars.peek().is_some_and(|(j, _)| *j <= end) {
                    chars.next();
                }
            }
            '=' | '!' | '<' | '>' | '~' => {
                let mut op = c.to_string();
                while let Some((_, n)) = chars.peek().filter(|(_, n)| matches!(n, '=' | '<' | '>')) {
                    op.push(*n);
                    chars.next();
                }
                tokens.push(Token::Op(op));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' => {
                let mut word = c.to_string();
                while let Some((_, n)) =
                    chars.peek().filter(|(_, n)| n.is_ascii_alphanumeric() || matches!(n, '_' | '.'))
                {
                    word.push(*n);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            other => bail!("marker {}: unexpected character {other:?}", shorten(text, 80)),
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    env: &'a dyn MarkerEnv,
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w == word)
    }

    fn or(&mut self) -> Result<bool> {
        let mut value = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            value |= self.and()?;
        }
        Ok(value)
    }

    fn and(&mut self) -> Result<bool> {
        let mut value = self.atom()?;
        while self.peek_word("and") {
            self.at += 1;
            value &= self.atom()?;
        }
        Ok(value)
    }

    fn atom(&mut self) -> Result<bool> {
        if self.tokens.get(self.at) == Some(&Token::Open) {
            self.at += 1;
            let value = self.or()?;
            if self.tokens.get(self.at) != Some(&Token::Close) {
                bail!("a marker has an unclosed parenthesis");
            }
            self.at += 1;
            return Ok(value);
        }
        let left = self.operand()?;
        let op = match self.tokens.get(self.at) {
            Some(Token::Op(op)) => op.clone(),
            Some(Token::Word(w)) if w == "in" => "in".to_string(),
            Some(Token::Word(w))
                if w == "not" && matches!(self.tokens.get(self.at + 1), Some(Token::Word(n)) if n == "in") =>
            {
                self.at += 1;
                "not in".to_string()
            }
            other => bail!("a marker expects an operator, found {}", shorten(&format!("{other:?}"), 40)),
        };
        self.at += 1;
        let right = self.operand()?;
        self.compare(&left, &op, &right)
    }

    fn operand(&mut self) -> Result<Operand> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        match token {
            Some(Token::Quoted(s)) => Ok(Operand::Literal(s)),
            Some(Token::Word(w)) => Ok(Operand::Variable(w)),
            other => {
                bail!("a marker expects a variable or a quoted value, found {}", shorten(&format!("{other:?}"), 40))
            }
        }
    }

    fn compare(&self, left: &Operand, op: &str, right: &Operand) -> Result<bool> {
        // `extra == 'x'` asks about the requested extras, not one value.
        if let (Operand::Variable(v), Operand::Literal(extra)) | (Operand::Literal(extra), Operand::Variable(v)) =
            (left, right)
            && v == "extra"
        {
            let has = self.env.has_extra(&normalize(extra));
            return match op {
                "==" => Ok(has),
                "!=" => Ok(!has),
                _ => bail!("extra can only be compared with == or !="),
            };
        }
        let version_like = [left, right].iter().any(|o| matches!(o, Operand::Variable(v) if is_version_variable(v)));
        let (l, r) = (self.resolve(left), self.resolve(right));
        let (Some(l), Some(r)) = (l, r) else { return Ok(false) };
        if version_like && let (Some(lv), Some(rv)) = (Version::parse(&l), Version::parse(r.trim_end_matches(".*"))) {
            return compare_versions(&lv, op, &rv, r.ends_with(".*"));
        }
        Ok(match op {
            "==" | "===" => l == r,
            "!=" => l != r,
            "<" => l < r,
            "<=" => l <= r,
            ">" => l > r,
            ">=" => l >= r,
            "in" => r.contains(&l),
            "not in" => !r.contains(&l),
            _ => bail!("the operator {} compares versions, not {}", shorten(op, 10), shorten(&l, 40)),
        })
    }

    fn resolve(&self, operand: &Operand) -> Option<String> {
        match operand {
            Operand::Literal(s) => Some(s.clone()),
            Operand::Variable(v) => self.env.value(v),
        }
    }
}

enum Operand {
    Literal(String),
    Variable(String),
}

fn is_version_variable(name: &str) -> bool {
    matches!(name, "python_version" | "python_full_version" | "implementation_version")
}

fn compare_versions(left: &Version, op: &str, right: &Version, wildcard: bool) -> Result<bool> {
    Ok(match op {
        "==" if wildcard => left.matches_prefix(right),
        "!=" if wildcard => !left.matches_prefix(right),
        "==" | "===" => left == right,
        "!=" => left != right,
        "<" => left < right,
        "<=" => left <= right,
        ">" => left > right,
        ">=" => left >= right,
        "~=" => {
            let release = right.release();
            if release.len() < 2 {
                bail!("~= needs at least two release segments");
            }
            let prefix = Version::parse(&join(&release[..release.len() - 1]))
                .ok_or_else(|| anyhow::anyhow!("a ~= version is malformed"))?;
            left >= right && left.matches_prefix(&prefix)
        }
        other => bail!("unknown marker operator {}", shorten(other, 10)),
    })
}

fn join(release: &[u64]) -> String {
    release.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// PEP 503 name normalization (`Foo_Bar.baz` → `foo-bar-baz`), also used
/// for extras.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
        } else {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Linux311;

    impl MarkerEnv for Linux311 {
        fn value(&self, variable: &str) -> Option<String> {
            Some(
                match variable {
                    "python_version" => "3.11",
                    "python_full_version" => "3.11.7",
                    "sys_platform" => "linux",
                    "platform_system" => "Linux",
                    "platform_machine" => "x86_64",
                    "implementation_name" => "cpython",
                    "platform_python_implementation" => "CPython",
                    "os_name" => "posix",
                    _ => return None,
                }
                .to_string(),
            )
        }
        fn has_extra(&self, extra: &str) -> bool {
            extra == "aws"
        }
    }

    fn eval(m: &str) -> bool {
        evaluate(m, &Linux311).unwrap()
    }

    #[test]
    fn the_markers_uv_writes_evaluate_for_linux() {
        assert!(eval("python_full_version >= '3.10'"));
        assert!(!eval("python_full_version < '3.11'"));
        assert!(eval("python_full_version >= '3.11' and implementation_name != 'PyPy'"));
        assert!(!eval("python_full_version == '3.10.*'"));
        assert!(eval(
            "python_full_version != '3.10.*' and (platform_machine == 'AMD64' or platform_machine == 'x86_64')"
        ));
        assert!(!eval("sys_platform == 'win32'"));
        assert!(eval(
            "platform_python_implementation != 'PyPy' and sys_platform != 'cygwin' and sys_platform != 'win32'"
        ));
        assert!(eval("python_version > '3.9'"), "3.11 > 3.9 as versions, not strings");
        assert!(eval("extra == 'aws'") && !eval("extra == 'gcp'"));
        assert!(eval("'linux' in sys_platform") && eval("python_version ~= '3.8'"));
    }

    #[test]
    fn malformed_markers_are_errors() {
        for bad in ["python_version >=", "(sys_platform == 'linux'", "sys_platform == 'linux", "os_name @ 'x'"] {
            assert!(evaluate(bad, &Linux311).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_normalize() {
        assert_eq!(normalize("Foo_Bar.baz"), "foo-bar-baz");
        assert_eq!(normalize("typing-extensions"), "typing-extensions");
    }
}
