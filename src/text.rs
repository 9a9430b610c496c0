//! Outside text made safe to show. Replies, payloads and the repository's
//! files are hostile input: what reaches a message, the log or a comment is
//! one printable line, cut short, and a file's content is never quoted
//! beyond the token at fault.

/// Text as one printable line: control characters become spaces, runs of
/// white space one space.
pub(crate) fn printable(text: &str) -> String {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters of [`printable`] text, with `…` where cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    let line = printable(text);
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The first `n` characters of `text` (never splitting a character).
pub(crate) fn prefix(text: &str, n: usize) -> &str {
    text.char_indices().nth(n).map_or(text, |(cut, _)| &text[..cut])
}

/// The offending token of a line, for an error message: its first word,
/// at most 24 characters, control characters shown as `?`, in backticks.
pub(crate) fn excerpt(token: &str) -> String {
    let word = token.split_whitespace().next().unwrap_or("");
    let mut shown: String = word.chars().take(24).map(|c| if c.is_control() || c == '`' { '?' } else { c }).collect();
    if word.chars().count() > 24 {
        shown.push('…');
    }
    format!("`{shown}`")
}

/// `12.3 KB`-style sizes.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_is_one_short_printable_line() {
        assert_eq!(printable("a\n\tb\u{1b}[31m  c"), "a b [31m c");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("ab", 3), "ab");
        assert_eq!(excerpt("DAGSTER_CLOUD_API_TOKEN=secret\0GITHUB_TOKEN=x rest"), "`DAGSTER_CLOUD_API_TOKEN=…`");
        assert_eq!(excerpt("a\0b`c"), "`a?b?c`");
        assert_eq!(prefix("0123456789abcdef", 12), "0123456789ab");
        assert_eq!(prefix("ééé", 2), "éé");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(12_345), "12.3 KB");
    }
}
