//! The string surgery behind redaction: markers, JSON members found in any text, URL query
//! values, cookie values, credentials behind an HTTP authentication scheme, and subprotocol tokens
//! that look like credentials.
//!
//! Every function is pure and total: it takes any string (not necessarily valid JSON, a URL or
//! a cookie), never panics, and returns `None` when it changed nothing. Each replaced span is
//! pushed to `found` so that the caller can scrub the same secret where wsscope quotes it
//! (finding messages).

use std::borrow::Cow;

/// What replaces a secret: its length in bytes as written, nothing else. A length marker keeps
/// outputs deterministic (runs diff cleanly, `--threads` stays byte-identical) and gives no
/// oracle: a hash, even a short one, would let anyone holding a guess confirm a password or PIN.
pub fn marker(len: usize) -> String {
    if len == 1 { "<redacted:1 byte>".to_string() } else { format!("<redacted:{len} bytes>") }
}

/// Spans of markers already in `s` (`<redacted:N byte(s)>`), so that rules applied later leave
/// them alone.
pub fn marker_spans(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(i) = s[from..].find("<redacted:").map(|i| from + i) {
        let rest = &s[i + "<redacted:".len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &rest[digits..];
        let unit = [" bytes>", " byte>"].into_iter().find(|u| tail.starts_with(u));
        match unit {
            Some(u) if digits > 0 => {
                let end = i + "<redacted:".len() + digits + u.len();
                spans.push((i, end));
                from = end;
            }
            _ => from = i + 1,
        }
    }
    spans
}

/// A name as rules compare it: lower case, without `-`, `_`, `.` and spaces, so that
/// `access_token`, `Access-Token` and `accessToken` are one name.
pub fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// [`normalize`] into `buf`, without allocating, for an ASCII name that fits; `None` otherwise.
pub fn normalize_ascii<'a>(name: &str, buf: &'a mut [u8; 64]) -> Option<&'a [u8]> {
    let mut len = 0;
    for &c in name.as_bytes() {
        if !c.is_ascii() {
            return None;
        }
        if matches!(c, b'-' | b'_' | b'.' | b' ') {
            continue;
        }
        *buf.get_mut(len)? = c.to_ascii_lowercase();
        len += 1;
    }
    Some(&buf[..len])
}

/// `f` of [`normalize`]`(name)`: on the stack for an ASCII name that fits in 64 bytes (every
/// header, parameter and subprotocol name of every handshake comes through here), else
/// allocated.
pub fn with_normalized<R>(name: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut buf = [0u8; 64];
    match normalize_ascii(name, &mut buf) {
        Some(n) => f(n),
        None => f(normalize(name).as_bytes()),
    }
}

/// Replaces `value` whole, remembering it.
fn whole(value: &str, found: &mut Vec<String>) -> String {
    found.push(value.to_string());
    marker(value.len())
}

// ── JSON members ─────────────────────────────────────────────────────────────────────────────

/// Replaces the value of every JSON member whose key `is_secret` accepts, anywhere in `text`:
/// a whole JSON document, JSON after a prefix (Socket.IO's `42["auth",{…}]`), several
/// documents, or a document cut short (by `--max-message-size`: an unterminated value is
/// replaced to the end). The value — string, number, literal, object or array — becomes the
/// string `"<redacted:N bytes>"`, N being its length as written (a string's without its quotes),
/// so a valid document stays valid.
///
/// This is a scanner, not a parser: strings are skipped whole (escapes included), and a string
/// followed by `:` is a key. Text that is not JSON is left alone unless it contains
/// `"name": value` with a secret name — which is then redacted, the safe side.
pub fn json_members(
    text: &str,
    is_secret: impl Fn(&str) -> bool,
    found: &mut Vec<String>,
) -> Option<String> {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let Some(end) = string_end(b, i) else { break };
        let colon = skip_ws(b, end);
        if b.get(colon) == Some(&b':') {
            let raw = &text[i + 1..end - 1];
            let key =
                if raw.contains('\\') { Cow::Owned(unescape(raw)) } else { Cow::Borrowed(raw) };
            let start = skip_ws(b, colon + 1);
            if start < b.len() && is_secret(&key) {
                let stop = value_end(b, start);
                // Delimiters are ASCII: every index here is a char boundary.
                let inner = match (b[start], string_end(b, start)) {
                    (b'"', Some(end)) => &text[start + 1..end - 1],
                    (b'"', None) => &text[start + 1..],
                    _ => &text[start..stop],
                };
                found.push(inner.to_string());
                out.push_str(&text[copied..start]);
                out.push('"');
                out.push_str(&marker(inner.len()));
                out.push('"');
                copied = stop;
                i = stop;
                continue;
            }
        }
        i = end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// The index after the string starting with the quote at `at`, or `None` when it is not
/// terminated.
fn string_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// The index after the JSON value starting at `at` (the end of `b` when it is cut short).
fn value_end(b: &[u8], at: usize) -> usize {
    match b[at] {
        b'"' => string_end(b, at).unwrap_or(b.len()),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i).unwrap_or(b.len());
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        _ => {
            let mut i = at;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
            {
                i += 1;
            }
            i
        }
    }
}

/// A JSON string's content with its escapes resolved (for comparing keys); an invalid escape is
/// kept as written.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let unit = u32::from_str_radix(&hex, 16).ok();
                // A surrogate pair is two escapes; a lone surrogate stays as written.
                let ch = match unit {
                    Some(hi @ 0xD800..=0xDBFF) => {
                        let rest = chars.as_str();
                        let lo = rest
                            .strip_prefix("\\u")
                            .and_then(|r| r.get(..4))
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .filter(|lo| (0xDC00..=0xDFFF).contains(lo));
                        lo.and_then(|lo| {
                            chars = rest[6..].chars();
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        })
                    }
                    Some(u) => char::from_u32(u),
                    None => None,
                };
                match ch {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

// ── URLs ─────────────────────────────────────────────────────────────────────────────────────

/// Replaces the values of query parameters whose (percent-decoded) name `is_secret` accepts, in
/// a request target (`/path?a=1&token=…`) or any URL. The path, the names and the other values
/// are kept.
pub fn query_values(
    url: &str,
    is_secret: impl Fn(&str) -> bool,
    found: &mut Vec<String>,
) -> Option<String> {
    let q = url.find('?')?;
    let end = url[q..].find('#').map_or(url.len(), |f| q + f);
    // Written only once a value is replaced: most targets have none to replace.
    let mut out: Option<String> = None;
    let (mut copied, mut at) = (0, q + 1);
    for part in url[q + 1..end].split('&') {
        let start = at;
        at += part.len() + 1;
        if let Some((name, value)) = part.split_once('=')
            && !value.is_empty()
            && is_secret(&percent_decode(name))
        {
            let o = out.get_or_insert_with(|| String::with_capacity(url.len() + 16));
            let value_at = start + name.len() + 1;
            o.push_str(&url[copied..value_at]);
            o.push_str(&whole(value, found));
            copied = value_at + value.len();
        }
    }
    out.map(|mut o| {
        o.push_str(&url[copied..]);
        o
    })
}

/// `%XX` and `+` decoded (lossy: invalid UTF-8 becomes U+FFFD), for comparing names.
fn percent_decode(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || c == b'+') {
        return s.into();
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned().into()
}

// ── Header values ────────────────────────────────────────────────────────────────────────────

/// HTTP authentication schemes kept in front of a redacted credential (`Bearer <redacted:…>`):
/// which scheme a client used is what one debugs, and it is not a secret.
const AUTH_SCHEMES: &[&str] = &[
    "basic",
    "bearer",
    "digest",
    "negotiate",
    "ntlm",
    "aws4-hmac-sha256",
    "token",
    "dpop",
    "hoba",
    "mutual",
    "scram-sha-1",
    "scram-sha-256",
    "vapid",
];

/// The value of a header a rule names, redacted keeping what is not secret: cookie names
/// (`Cookie: a=<…>; b=<…>`), a `Set-Cookie`'s attributes (`id=<…>; Path=/; HttpOnly`), an
/// authentication scheme (`Bearer <…>`). Any other value is replaced whole.
pub fn header_value(normalized_name: &str, value: &str, found: &mut Vec<String>) -> String {
    if value.is_empty() {
        return String::new();
    }
    match normalized_name {
        "cookie" => {
            value.split(';').map(|pair| cookie_pair(pair, found)).collect::<Vec<_>>().join(";")
        }
        "setcookie" | "setcookie2" => {
            let (first, attributes) = value.split_once(';').unwrap_or((value, ""));
            let mut out = cookie_pair(first, found);
            if value.contains(';') {
                out.push(';');
                out.push_str(attributes);
            }
            out
        }
        _ => match value.split_once(' ') {
            Some((scheme, rest))
                if !rest.trim().is_empty()
                    && AUTH_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)) =>
            {
                let lead = rest.len() - rest.trim_start().len();
                format!("{scheme} {}{}", &rest[..lead], whole(rest.trim_start(), found))
            }
            _ => whole(value, found),
        },
    }
}

/// ` name=value` → ` name=<redacted:…>`; a part without `=` is replaced whole.
fn cookie_pair(pair: &str, found: &mut Vec<String>) -> String {
    let lead = pair.len() - pair.trim_start().len();
    let (space, pair) = pair.split_at(lead);
    match pair.split_once('=') {
        Some((name, value)) if !value.trim().is_empty() => {
            format!("{space}{name}={}", whole(value, found))
        }
        Some(_) => format!("{space}{pair}"),
        None if pair.trim().is_empty() => format!("{space}{pair}"),
        None => format!("{space}{}", whole(pair, found)),
    }
}

// ── Subprotocol tokens ───────────────────────────────────────────────────────────────────────

/// Subprotocol tokens that announce a credential in the next token, as in
/// `new WebSocket(url, ["access_token", token])` (compared normalized; any name containing
/// `token` counts too).
pub const PROTOCOL_MARKERS: &[&str] = &["bearer", "authorization", "auth", "jwt", "apikey"];

/// Whether a subprotocol token announces a credential in the token after it.
pub fn is_protocol_marker(token: &str) -> bool {
    with_normalized(token, |n| {
        n.windows(5).any(|w| w == b"token") || PROTOCOL_MARKERS.iter().any(|m| m.as_bytes() == n)
    })
}

/// Whether `s` holds a JSON Web Token: `eyJ` (base64url of `{"`) then two to four more
/// dot-separated base64url segments (JWS has three, JWE five).
pub fn contains_jwt(s: &str) -> bool {
    let b = s.as_bytes();
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let mut from = 0;
    while let Some(i) = s[from..].find("eyJ").map(|i| from + i) {
        let head = b[i..].iter().take_while(|c| b64(**c)).count();
        let mut j = i + head;
        let mut dots = 0;
        while j < b.len() && b[j] == b'.' {
            dots += 1;
            j += 1 + b[j + 1..].iter().take_while(|c| b64(**c)).count();
        }
        if head >= 10 && (2..=4).contains(&dots) {
            return true;
        }
        from = i + 1;
    }
    false
}

/// Characters of the runs [`random_runs`] looks at: the base64, base64url, hex and UUID
/// alphabets.
fn run_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-')
}

/// Spans of `token` that look like generated credentials: runs of at least 20 characters of
/// the base64, base64url, hex and UUID alphabets, holding letters and digits, in which at least
/// 1 in 5 neighbouring letters and digits change class — a digit next to a letter, or a lower
/// case letter followed by an upper case one. Random strings do (base64 about 4.5 in 10, hex
/// about 5: 99% of 32-byte base64url tokens, of hex and of UUIDs are found); names made of
/// words mostly do not, whatever their case and separators (`Hyper-V-Console-Protocol-v2`: 1 in
/// 20; `VeryLongProtocolName2024Edition`: 1 in 6). A heuristic: `--redact-keep` keeps a name
/// it takes for a credential.
pub fn random_runs(token: &str) -> Vec<(usize, usize)> {
    let b = token.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !run_char(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && run_char(b[i]) {
            i += 1;
        }
        if looks_random(&b[start..i]) {
            spans.push((start, i));
        }
    }
    spans
}

fn looks_random(run: &[u8]) -> bool {
    if run.len() < 20
        || !run.iter().any(u8::is_ascii_digit)
        || !run.iter().any(u8::is_ascii_alphabetic)
    {
        return false;
    }
    let (mut pairs, mut changes) = (0usize, 0usize);
    for w in run.windows(2) {
        let (a, b) = (w[0], w[1]);
        if !a.is_ascii_alphanumeric() || !b.is_ascii_alphanumeric() {
            continue;
        }
        pairs += 1;
        // An upper case letter then a lower case one starts a word: not a change.
        let change = a.is_ascii_digit() != b.is_ascii_digit()
            || a.is_ascii_lowercase() && b.is_ascii_uppercase();
        changes += usize::from(change);
    }
    changes * 5 >= pairs
}

/// `token` with its random-looking runs replaced (`base64url.bearer.authorization.k8s.io.<…>`),
/// or `None` when it has none.
pub fn redact_random_runs(token: &str, found: &mut Vec<String>) -> Option<String> {
    let spans = random_runs(token);
    if spans.is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut copied = 0;
    for (s, e) in spans {
        out.push_str(&token[copied..s]);
        out.push_str(&whole(&token[s..e], found));
        copied = e;
    }
    out.push_str(&token[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_key(k: &str) -> bool {
        matches!(k, "password" | "token" | "pässwort")
    }

    fn fields(text: &str) -> (Option<String>, Vec<String>) {
        let mut found = Vec::new();
        (json_members(text, secret_key, &mut found), found)
    }

    #[test]
    fn markers_say_the_length_only() {
        assert_eq!(marker(1), "<redacted:1 byte>");
        assert_eq!(marker(12), "<redacted:12 bytes>");
        let s = format!("a{}b{}<redacted:x bytes>", marker(3), marker(1));
        assert_eq!(marker_spans(&s), vec![(1, 19), (20, 37)]);
    }

    #[test]
    fn names_compare_without_case_or_separators() {
        assert_eq!(normalize("Access-Token"), "accesstoken");
        assert_eq!(normalize("access_token"), normalize("accessToken"));
        let mut buf = [0u8; 64];
        for name in ["X-Api-Key", "access_token", "Sec.WebSocket Key", ""] {
            let fast = normalize_ascii(name, &mut buf).map(|n| n.to_vec());
            assert_eq!(fast, Some(normalize(name).into_bytes()), "{name}");
        }
        assert_eq!(normalize_ascii("pässwort", &mut buf), None);
        assert_eq!(normalize_ascii(&"a".repeat(65), &mut buf), None);
    }

    #[test]
    fn json_member_values_of_secret_keys_are_replaced_keeping_the_document_valid() {
        let (out, found) = fields(r#"{"user":"alice","password":"hunter2","n":1}"#);
        let out = out.unwrap();
        assert_eq!(out, r#"{"user":"alice","password":"<redacted:7 bytes>","n":1}"#);
        assert_eq!(found, ["hunter2"]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }

    #[test]
    fn json_member_values_of_any_type_and_at_any_depth_are_replaced() {
        let (out, _) = fields(
            r#"[{"a":{"token" : 12345,"x":[{"password":{"nested":"obj"}}]}},{"token":null}]"#,
        );
        assert_eq!(
            out.unwrap(),
            r#"[{"a":{"token" : "<redacted:5 bytes>","x":[{"password":"<redacted:16 bytes>"}]}},{"token":"<redacted:4 bytes>"}]"#
        );
    }

    #[test]
    fn json_after_a_prefix_and_several_documents_are_scanned() {
        // Socket.IO event, then two NDJSON lines.
        let (out, _) = fields("42[\"auth\",{\"token\":\"abc\"}]");
        assert_eq!(out.unwrap(), "42[\"auth\",{\"token\":\"<redacted:3 bytes>\"}]");
        let (out, _) = fields("{\"token\":\"a\"}\n{\"token\":\"bc\"}");
        assert_eq!(
            out.unwrap(),
            "{\"token\":\"<redacted:1 byte>\"}\n{\"token\":\"<redacted:2 bytes>\"}"
        );
    }

    #[test]
    fn a_document_cut_short_is_redacted_to_its_end() {
        // --max-message-size cut the message inside the secret.
        let (out, found) = fields(r#"{"user":"a","password":"hunt"#);
        assert_eq!(out.unwrap(), r#"{"user":"a","password":"<redacted:4 bytes>""#);
        assert_eq!(found, ["hunt"]);
        let (out, _) = fields(r#"{"token":{"a":[1,2"#);
        assert_eq!(out.unwrap(), r#"{"token":"<redacted:9 bytes>""#);
        // Cut before the value: nothing to hide.
        assert_eq!(fields(r#"{"password":"#).0, None);
        assert_eq!(fields(r#"{"password"#).0, None);
    }

    #[test]
    fn escaped_quotes_and_escaped_keys_do_not_fool_the_scanner() {
        let (out, _) = fields(r#"{"note":"say \"token\": yes","p\u0061ssword":"x\"y"}"#);
        assert_eq!(
            out.unwrap(),
            r#"{"note":"say \"token\": yes","p\u0061ssword":"<redacted:4 bytes>"}"#
        );
    }

    #[test]
    fn unicode_keys_and_values_keep_char_boundaries() {
        let (out, found) = fields(r#"{"pässwort":"€uro ✓","ok":"ü"}"#);
        assert_eq!(out.unwrap(), r#"{"pässwort":"<redacted:10 bytes>","ok":"ü"}"#);
        assert_eq!(found, ["€uro ✓"]);
        // A key given as a surrogate-pair escape.
        assert_eq!(unescape(r"\ud83d\ude00-\u00e4"), "😀-ä");
        assert_eq!(unescape(r"\ud83d"), r"\ud83d");
    }

    #[test]
    fn text_that_is_not_json_is_left_alone() {
        for t in ["hello", "a \"quoted\" word", "\"unterminated", "{\"a\":", "", "\"token\""] {
            assert_eq!(fields(t).0, None, "{t}");
        }
    }

    #[test]
    fn query_values_of_secret_names_are_replaced() {
        let secret = |n: &str| n == "token" || n == "api key";
        let mut found = Vec::new();
        let out = query_values("/ws?room=1&token=abc&flag&api+key=xyz#frag", secret, &mut found);
        assert_eq!(
            out.unwrap(),
            "/ws?room=1&token=<redacted:3 bytes>&flag&api+key=<redacted:3 bytes>#frag"
        );
        assert_eq!(found, ["abc", "xyz"]);
        let out = query_values("/ws?%74oken=s3cr3t", secret, &mut found);
        assert_eq!(out.unwrap(), "/ws?%74oken=<redacted:6 bytes>");
        assert_eq!(query_values("/ws?token=", secret, &mut found), None);
        assert_eq!(query_values("/ws", secret, &mut found), None);
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    /// [`query_values`] as it was, writing every part out: the oracle for the one that writes
    /// only once something is replaced.
    fn query_values_copying(
        url: &str,
        is_secret: impl Fn(&str) -> bool,
        found: &mut Vec<String>,
    ) -> Option<String> {
        let q = url.find('?')?;
        let end = url[q..].find('#').map_or(url.len(), |f| q + f);
        let mut out = url[..=q].to_string();
        let mut changed = false;
        for (n, part) in url[q + 1..end].split('&').enumerate() {
            if n > 0 {
                out.push('&');
            }
            match part.split_once('=') {
                Some((name, value)) if !value.is_empty() && is_secret(&percent_decode(name)) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(&whole(value, found));
                    changed = true;
                }
                _ => out.push_str(part),
            }
        }
        out.push_str(&url[end..]);
        changed.then_some(out)
    }

    proptest::proptest! {
        #[test]
        fn query_values_are_what_copying_every_part_gave(url in "[/a-z?&=#%+4é]{0,40}") {
            let secret = |n: &str| n.contains('a') || n == "+";
            let (mut f1, mut f2) = (Vec::new(), Vec::new());
            let got = query_values(&url, secret, &mut f1);
            proptest::prop_assert_eq!(got, query_values_copying(&url, secret, &mut f2));
            proptest::prop_assert_eq!(f1, f2);
        }
    }

    #[test]
    fn header_values_keep_cookie_names_attributes_and_the_auth_scheme() {
        let mut found = Vec::new();
        assert_eq!(
            header_value("authorization", "Bearer abc.def", &mut found),
            "Bearer <redacted:7 bytes>"
        );
        assert_eq!(header_value("authorization", "opaque", &mut found), "<redacted:6 bytes>");
        assert_eq!(
            header_value("cookie", "sid=123; theme=dark;flag", &mut found),
            "sid=<redacted:3 bytes>; theme=<redacted:4 bytes>;<redacted:4 bytes>"
        );
        assert_eq!(
            header_value("setcookie", "sid=123; Path=/; HttpOnly", &mut found),
            "sid=<redacted:3 bytes>; Path=/; HttpOnly"
        );
        assert_eq!(found, ["abc.def", "opaque", "123", "dark", "flag", "123"]);
        assert_eq!(header_value("xapikey", "", &mut found), "");
    }

    #[test]
    fn jwts_are_recognised_by_shape() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert!(contains_jwt(jwt));
        assert!(contains_jwt(&format!("x {jwt} y")));
        assert!(contains_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.")); // alg none
        assert!(!contains_jwt("eyJhbGciOiJub25lIn0"));
        assert!(!contains_jwt("chat.example.com"));
        assert!(!contains_jwt("eyJ.a.b"));
    }

    #[test]
    fn registered_and_common_subprotocol_names_do_not_look_random() {
        for name in [
            "graphql-transport-ws",
            "graphql-ws",
            "v12.stomp",
            "mqtt",
            "mqttv3.1",
            "wamp.2.msgpack",
            "ocpp2.0.1",
            "v4.channel.k8s.io",
            "base64.channel.k8s.io",
            "actioncable-v1-json",
            "json.webpubsub.azure.v1",
            "mqtt-v311-websocket-protocol",
            "com.example.chat-protocol-2024",
            "x-kaazing-handshake",
            "Hyper-V-Console-Protocol-v2",
            "VeryLongProtocolName2024Edition",
            "xmppOverWebsocketsV2Protocol",
        ] {
            assert_eq!(random_runs(name), vec![], "{name}");
        }
    }

    #[test]
    fn generated_credentials_look_random() {
        for token in [
            "d41d8cd98f00b204e9800998ecf8427e",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "q2Vx8ZtLm4PwR7yNc1Hs0KdJfBg9AeUo3TiW5vXz6Y=",
            "sk_live_51H8xYzAbC3dEfGh1JkLmNoPq",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        ] {
            assert_eq!(random_runs(token), vec![(0, token.len())], "{token}");
        }
    }

    /// Tokens as servers generate them, from a fixed xorshift stream: at least 99 in 100 found.
    #[test]
    fn random_base64url_hex_and_uuid_tokens_are_found_99_times_in_100() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut bytes = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 32) as u8
                })
                .collect()
        };
        use base64::Engine;
        let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02x}")).collect::<String>();
        for kind in ["base64url", "hex", "uuid"] {
            let found = (0..1000)
                .filter(|_| {
                    let token = match kind {
                        "base64url" => {
                            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes(32))
                        }
                        "hex" => hex(&bytes(16)),
                        _ => {
                            let h = hex(&bytes(16));
                            let p = |a: usize, b: usize| &h[a..b];
                            format!(
                                "{}-{}-{}-{}-{}",
                                p(0, 8),
                                p(8, 12),
                                p(12, 16),
                                p(16, 20),
                                p(20, 32)
                            )
                        }
                    };
                    !random_runs(&token).is_empty()
                })
                .count();
            assert!(found >= 990, "{kind}: {found} of 1000");
        }
    }

    #[test]
    fn only_the_random_part_of_a_token_is_replaced() {
        let mut found = Vec::new();
        let k8s = "base64url.bearer.authorization.k8s.io.ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNkltOTNOamsifQ";
        assert_eq!(
            redact_random_runs(k8s, &mut found).unwrap(),
            "base64url.bearer.authorization.k8s.io.<redacted:50 bytes>"
        );
        assert_eq!(redact_random_runs("graphql-ws", &mut found), None);
    }

    #[test]
    fn protocol_markers() {
        for m in ["access_token", "Bearer", "authorization", "X-Auth-Token", "jwt", "api-key"] {
            assert!(is_protocol_marker(m), "{m}");
        }
        assert!(!is_protocol_marker("graphql-ws"));
        // Names longer than 64 bytes and names that are not ASCII are normalized the long way.
        let long = format!("{}-token", "x".repeat(70));
        assert!(is_protocol_marker(&long));
        assert!(is_protocol_marker("Ä-Token"));
        for not in ["authx", "bearers", "tokn", "", &"x".repeat(70), "Ä-auth"] {
            assert!(!is_protocol_marker(not), "{not}");
        }
    }
}
