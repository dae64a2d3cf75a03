//! JSON shown as sent: pretty-printing that re-indents the original tokens.
//!
//! Going through a JSON value type would change what the peer sent — numbers beyond f64
//! (`12345678901234567890123` → `1.2345678901234568e+22`), their spelling (`1.10` → `1.1`), escapes,
//! and duplicate keys (`{"dup": 1, "dup": 2}` keeps one). [`reindent`] never parses a number or
//! builds a map: it checks the text is JSON (with serde's `IgnoredAny`, which keeps nothing) and
//! then only moves whitespace. Invalid JSON is not "fixed": the caller shows it raw.

/// `text` pretty-printed with `indent` spaces per level, every token byte for byte as sent;
/// `None` when `text` is not a JSON object or array.
pub fn reindent(text: &str, indent: usize) -> Option<String> {
    let start = text.trim_start().as_bytes().first()?;
    if !matches!(start, b'{' | b'[') {
        return None;
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth * indent));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // A string, verbatim (escapes included).
                out.push('"');
                let mut escaped = false;
                for s in chars.by_ref() {
                    out.push(s);
                    match s {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on one line.
                while chars.peek().is_some_and(|n| n.is_ascii_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|n| matches!(n, '}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16's example: big numbers, their spelling and duplicate keys survive.
    #[test]
    fn tokens_are_kept_exactly() {
        let sent = r#"{"id": 12345678901234567890123, "amount": 1.10, "dup": 1, "dup": 2}"#;
        let shown = reindent(sent, 2).unwrap();
        assert_eq!(
            shown,
            "{\n  \"id\": 12345678901234567890123,\n  \"amount\": 1.10,\n  \"dup\": 1,\n  \"dup\": 2\n}"
        );
        // Only whitespace moved.
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        assert_eq!(squeeze(&shown), squeeze(sent));
    }

    #[test]
    fn strings_escapes_nesting_and_empty_containers() {
        let sent = r#"[{"a":"x, y: {z}","b":"q\"uo\\te\"","c":{},"d":[],"e":[1,[2,{"f":null}]],"g":"\u00e9"}]"#;
        let shown = reindent(sent, 2).unwrap();
        assert!(shown.contains(r#""a": "x, y: {z}""#), "{shown}");
        assert!(shown.contains(r#""b": "q\"uo\\te\"""#), "{shown}");
        assert!(shown.contains(r#""c": {}"#) && shown.contains(r#""d": []"#), "{shown}");
        assert!(shown.contains(r#""g": "\u00e9""#), "{shown}");
        let squeeze = |s: &str| {
            // Whitespace outside strings only: this JSON has none inside strings but ", ".
            s.replace(", y", ",y").chars().filter(|c| !c.is_whitespace()).collect::<String>()
        };
        assert_eq!(squeeze(&shown), squeeze(sent));
    }

    #[test]
    fn invalid_json_and_scalars_are_not_reindented() {
        for s in
            ["{\"a\": 1,}", "{'a': 1}", "[1 2]", "12", "\"text\"", "", "   ", "{\"a\":1} x", "NaN"]
        {
            assert_eq!(reindent(s, 2), None, "{s}");
        }
    }
}
