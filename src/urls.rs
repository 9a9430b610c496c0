//! URL text helpers: percent-encoding a query component and resolving a
//! `Location` header against the request URL, as registries return
//! absolute, host-relative and path-relative forms.

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://authority` of an absolute URL.
pub(crate) fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Resolves `location` against `base` (RFC 3986 reference resolution for
/// the forms registries and package indexes use, `..` segments included).
pub(crate) fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if location.starts_with("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{}{}", origin(base), remove_dot_segments(location))
    } else {
        let path = base.split(['?', '#']).next().unwrap_or(base);
        let dir = &path[..path.rfind('/').map_or(path.len(), |i| i + 1)];
        let origin = origin(dir);
        format!("{origin}{}", remove_dot_segments(&format!("{}{location}", &dir[origin.len()..])))
    }
}

/// RFC 3986 section 5.2.4 for a path (its query kept as is): `.` and `..`
/// segments go, never above the root.
fn remove_dot_segments(path: &str) -> String {
    let (path, query) = match path.find(['?', '#']) {
        Some(i) => path.split_at(i),
        None => (path, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("{}{query}", out.join("/"))
}

/// Appends `name=value` (value encoded) to a URL's query.
pub(crate) fn with_query(url: &str, name: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{name}={}", encode_component(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_like_a_browser() {
        let base = "http://127.0.0.1:5000/v2/app/blobs/uploads/";
        assert_eq!(resolve(base, "http://other/x?_state=1"), "http://other/x?_state=1");
        assert_eq!(
            resolve(base, "/v2/app/blobs/uploads/u1?_state=a"),
            "http://127.0.0.1:5000/v2/app/blobs/uploads/u1?_state=a"
        );
        assert_eq!(resolve(base, "u2"), "http://127.0.0.1:5000/v2/app/blobs/uploads/u2");
        assert_eq!(resolve("https://h/a/b?q", "//cdn/x"), "https://cdn/x");
        let page = "http://127.0.0.1:1/simple/demo/";
        assert_eq!(resolve(page, "../../files/demo.whl"), "http://127.0.0.1:1/files/demo.whl");
        assert_eq!(resolve(page, "../../../../x.whl#sha256=1"), "http://127.0.0.1:1/x.whl#sha256=1");
        assert_eq!(resolve(page, "./a/./b"), "http://127.0.0.1:1/simple/demo/a/b");
    }

    #[test]
    fn queries_are_appended_and_encoded() {
        assert_eq!(with_query("http://h/u?_state=x", "digest", "sha256:ab"), "http://h/u?_state=x&digest=sha256%3Aab");
        assert_eq!(
            with_query("http://h/u", "scope", "repository:a/b:pull,push"),
            "http://h/u?scope=repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(origin("https://h:1/x/y"), "https://h:1");
    }
}
