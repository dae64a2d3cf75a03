//! `Sec-WebSocket-Extensions` parsing (RFC 6455 §9.1) and permessage-deflate negotiation checks
//! (RFC 7692 §7.1).
//!
//! Guarantees:
//! - [`parse_extensions`] accepts exactly the §9.1 grammar, with optional whitespace around
//!   separators and empty list elements ignored (RFC 9110 §5.6.1); quoted values are unescaped.
//! - [`negotiate_deflate`] never stops at a violation: it reports every one it finds and still
//!   returns the parameters to decode with (RFC 7692 §7.1 would have the client fail the
//!   connection, but an observer goes on).
//! - Extension and parameter names are compared ASCII case-insensitively, like other HTTP tokens.
//!
//! Not done: checks of extensions other than permessage-deflate (their parameters are kept, not
//! judged), and whether the extensions accepted together conflict on RSV bits beyond
//! permessage-deflate being accepted twice.

use super::types::{DeflateParams, Extension, Violation};
use crate::analyzer::checks::CheckId;
use std::fmt::Write as _;

/// The extension name of RFC 7692.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// Parses every `Sec-WebSocket-Extensions` field value, in order, into one list (RFC 6455 §9.1):
///
/// ```text
/// extension-list  = 1#extension
/// extension       = extension-token *( ";" extension-param )
/// extension-param = token [ "=" (token | quoted-string) ]
/// ```
///
/// A quoted value must be a token once unescaped (§9.1). The error says what was expected where.
pub fn parse_extensions(values: &[&str]) -> Result<Vec<Extension>, String> {
    let mut out = Vec::new();
    for value in values {
        Cursor { text: value, pos: 0 }.list(&mut out)?;
    }
    Ok(out)
}

/// Formats an extension back as `name; param=value` (quoted when the value is not a token).
pub fn format_extension(ext: &Extension) -> String {
    let mut out = ext.name.clone();
    for (name, value) in &ext.params {
        let _ = match value {
            Some(v) if is_token(v) => write!(out, "; {name}={v}"),
            Some(v) => write!(out, "; {name}={v:?}"),
            None => write!(out, "; {name}"),
        };
    }
    out
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// A position in one field value.
///
/// Invariant: `pos` is at most `text.len()` and only ever stops after ASCII bytes, so it is a
/// char boundary.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn error(&self, expected: &str) -> String {
        match self.text.get(self.pos..).and_then(|rest| rest.chars().next()) {
            Some(c) => {
                format!("expected {expected} at byte {} of {:?}, found {c:?}", self.pos, self.text)
            }
            None => format!("expected {expected} at the end of {:?}", self.text),
        }
    }

    fn token(&mut self, what: &str) -> Result<String, String> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        match self.text.get(start..self.pos) {
            Some(t) if !t.is_empty() => Ok(t.to_string()),
            _ => Err(self.error(what)),
        }
    }

    /// A quoted-string (RFC 9110 §5.6.4) whose unescaped content must be a token (RFC 6455 §9.1).
    fn quoted_token(&mut self) -> Result<String, String> {
        let start = self.pos;
        self.pos += 1; // the opening quote
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(format!(
                        "unterminated quoted-string at byte {start} of {:?}",
                        self.text
                    ));
                }
                Some(b'"') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(escaped) = self.peek() else { continue };
                    value.push(escaped);
                }
                Some(b) => value.push(b),
            }
            self.pos += 1;
        }
        self.pos += 1; // the closing quote
        let value = super::parse::lossy_string(&value);
        if is_token(&value) {
            Ok(value)
        } else {
            Err(format!(
                "quoted value {value:?} at byte {start} of {:?} is not a token (RFC 6455 §9.1)",
                self.text
            ))
        }
    }

    fn list(&mut self, out: &mut Vec<Extension>) -> Result<(), String> {
        loop {
            self.skip_ows();
            match self.peek() {
                None => return Ok(()),
                Some(b',') => {
                    self.pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            let name = self.token("an extension name")?;
            let mut params = Vec::new();
            self.skip_ows();
            while self.peek() == Some(b';') {
                self.pos += 1;
                self.skip_ows();
                let param = self.token("a parameter name")?;
                self.skip_ows();
                let mut value = None;
                if self.peek() == Some(b'=') {
                    self.pos += 1;
                    self.skip_ows();
                    value = Some(if self.peek() == Some(b'"') {
                        self.quoted_token()?
                    } else {
                        self.token("a parameter value")?
                    });
                    self.skip_ows();
                }
                params.push((param, value));
            }
            out.push(Extension { name, params });
            match self.peek() {
                None => return Ok(()),
                Some(b',') => self.pos += 1,
                Some(_) => return Err(self.error("\";\", \",\" or the end")),
            }
        }
    }
}

/// Which side sent a permessage-deflate parameter list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Offer,
    Response,
}

/// The permessage-deflate parameters of one offer or response, as understood.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Config {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// A valid `server_max_window_bits` value.
    server_max_window_bits: Option<u8>,
    /// `client_max_window_bits`: outer `Some` when present, inner `Some` when it had a valid value.
    client_max_window_bits: Option<Option<u8>>,
}

/// A window-bits value: a decimal 8..=15 without leading zeros (RFC 7692 §7.1.2.1, §7.1.2.2).
fn window_bits(value: &str) -> Option<u8> {
    match value {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => value.parse().ok(),
        _ => None,
    }
}

/// Reads the parameters of one permessage-deflate offer or response, pushing a problem (without
/// context) for every parameter that is unknown, repeated or has a bad value (RFC 7692 §7.1).
/// Bad values leave the parameter's default; flags are set even when they carry a value.
fn read_config(ext: &Extension, role: Role, problems: &mut Vec<String>) -> Config {
    const NAMES: [&str; 4] = [
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    ];
    let mut config = Config::default();
    let mut seen = [false; 4];
    for (name, value) in &ext.params {
        let Some(index) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) else {
            problems.push(format!("unknown parameter {name:?}"));
            continue;
        };
        if let Some(s) = seen.get_mut(index) {
            if *s {
                problems.push(format!("parameter {name:?} is repeated"));
                continue;
            }
            *s = true;
        }
        let bits = value.as_deref().map(window_bits);
        match (index, value, role) {
            // §7.1.1.1, §7.1.1.2: "This extension parameter has no value."
            (0 | 1, Some(v), _) => {
                problems.push(format!("parameter {name:?} takes no value, got {v:?}"))
            }
            // §7.1.2.1: the value is required in an offer and in a response.
            (2, None, _) => problems.push(format!("parameter {name:?} needs a value 8..=15")),
            // §7.1.2.2: a response carries a value; an offer may omit it.
            (3, None, Role::Response) => {
                problems.push(format!("parameter {name:?} needs a value 8..=15 in a response"))
            }
            (2 | 3, Some(v), _) if bits == Some(None) => problems.push(format!(
                "parameter {name:?} has value {v:?}, not 8..=15 without leading zeros"
            )),
            _ => {}
        }
        match index {
            0 => config.server_no_context_takeover = true,
            1 => config.client_no_context_takeover = true,
            2 => config.server_max_window_bits = bits.flatten(),
            _ => config.client_max_window_bits = Some(bits.flatten()),
        }
    }
    config
}

fn is_deflate(ext: &Extension) -> bool {
    ext.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE)
}

/// Violations in the client's permessage-deflate offers: an unknown or repeated parameter, or a
/// bad value, each of which obliges the server to decline that offer (RFC 7692 §7.1).
///
/// Parameters an offer may carry: `server_no_context_takeover` and `client_no_context_takeover`
/// without a value (§7.1.1.1, §7.1.1.2), `server_max_window_bits` with a value 8..=15
/// (§7.1.2.1), and `client_max_window_bits` with no value or a value 8..=15 (§7.1.2.2).
pub fn check_offers(offers: &[Extension]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (i, offer) in offers.iter().filter(|e| is_deflate(e)).enumerate() {
        let mut problems = Vec::new();
        read_config(offer, Role::Offer, &mut problems);
        violations.extend(problems.into_iter().map(|p| Violation {
            check: CheckId::DeflateParameterInvalid,
            detail: format!(
                "permessage-deflate offer {} {:?}: {p}",
                i + 1,
                format_extension(offer)
            ),
        }));
    }
    violations
}

/// Why the `response` cannot be the acceptance of `offer`, or `None` when it can (RFC 7692 §7.1).
fn mismatch(offer: &Config, response: &Config) -> Option<String> {
    // §7.1.1.1: a server that accepts an offer with server_no_context_takeover MUST include it.
    // (The reverse is allowed: "A server MAY include the server_no_context_takeover extension
    // parameter in an extension negotiation response even if the extension negotiation offer
    // being accepted by the extension negotiation response didn't include" it.)
    if offer.server_no_context_takeover && !response.server_no_context_takeover {
        return Some(
            "it has server_no_context_takeover, which the response must repeat (RFC 7692 §7.1.1.1)"
                .into(),
        );
    }
    // §7.1.2.1: a server accepts an offer with server_max_window_bits "by including the
    // server_max_window_bits extension parameter in the extension negotiation response ... with
    // the same or smaller value as the offer"; without it in the offer, any value is allowed.
    if let Some(offered) = offer.server_max_window_bits {
        match response.server_max_window_bits {
            None => {
                return Some(format!(
                    "it has server_max_window_bits={offered}, so the response must carry server_max_window_bits <= {offered} (RFC 7692 §7.1.2.1)"
                ));
            }
            Some(got) if got > offered => {
                return Some(format!(
                    "the response's server_max_window_bits={got} is larger than its {offered} (RFC 7692 §7.1.2.1)"
                ));
            }
            Some(_) => {}
        }
    }
    // §7.1.2.2: "If a received extension negotiation offer doesn't have the client_max_window_bits
    // extension parameter, the corresponding extension negotiation response to the offer MUST NOT
    // include the client_max_window_bits extension parameter"; with a value in the offer, the
    // response's value is "equal to or smaller than the received value".
    if let Some(got) = response.client_max_window_bits.flatten() {
        match offer.client_max_window_bits {
            None => {
                return Some(
                    "it has no client_max_window_bits, so the response must not carry one (RFC 7692 §7.1.2.2)".into(),
                );
            }
            Some(Some(offered)) if got > offered => {
                return Some(format!(
                    "the response's client_max_window_bits={got} is larger than its {offered} (RFC 7692 §7.1.2.2)"
                ));
            }
            Some(_) => {}
        }
    }
    // client_no_context_takeover in a response is always allowed (§7.1.1.2).
    None
}

/// Checks the server's acceptance of permessage-deflate against the client's offers (RFC 7692 §7.1)
/// and returns the parameters to decode with.
///
/// Violations (all [`CheckId::DeflateParameterInvalid`]):
/// - a response parameter that is unknown, repeated, or has a bad value: the no-context-takeover
///   flags take no value (§7.1.1.1, §7.1.1.2); `server_max_window_bits` and
///   `client_max_window_bits` need a value 8..=15 without leading zeros (§7.1.2.1, §7.1.2.2);
/// - a response that is the acceptance of none of the client's valid permessage-deflate offers
///   (§7.1: the client "does not support the configuration that the response represents"; invalid
///   offers must be declined, so they do not count). See `mismatch` for the rules per parameter.
///
/// When the client offered no permessage-deflate at all, no violation is reported here: that is
/// [`CheckId::ExtensionNotOffered`], reported by `check_response`.
///
/// Returns `None` only when `accepted` is not permessage-deflate. Otherwise the parameters come
/// from the response, with 15 window bits wherever the response has no valid value, so that
/// decoding can go on after a violation.
pub fn negotiate_deflate(
    offers: &[Extension],
    accepted: &Extension,
) -> (Option<DeflateParams>, Vec<Violation>) {
    if !is_deflate(accepted) {
        return (None, Vec::new());
    }
    let rendered = format_extension(accepted);
    let mut problems = Vec::new();
    let response = read_config(accepted, Role::Response, &mut problems);
    let mut violations: Vec<Violation> = problems
        .into_iter()
        .map(|p| Violation {
            check: CheckId::DeflateParameterInvalid,
            detail: format!("permessage-deflate response {rendered:?}: {p}"),
        })
        .collect();

    let mut reasons = Vec::new();
    let mut fits = false;
    let deflate_offers: Vec<&Extension> = offers.iter().filter(|e| is_deflate(e)).collect();
    for (i, offer) in deflate_offers.iter().enumerate() {
        let mut offer_problems = Vec::new();
        let config = read_config(offer, Role::Offer, &mut offer_problems);
        let reason = if offer_problems.is_empty() {
            mismatch(&config, &response)
        } else {
            Some("it is invalid, so the server must decline it (RFC 7692 §7.1)".into())
        };
        match reason {
            None => {
                fits = true;
                break;
            }
            Some(r) => reasons.push(format!("offer {} {:?}: {r}", i + 1, format_extension(offer))),
        }
    }
    if !fits && !deflate_offers.is_empty() {
        violations.push(Violation {
            check: CheckId::DeflateParameterInvalid,
            detail: format!(
                "permessage-deflate response {rendered:?} accepts no offer: {}",
                reasons.join("; ")
            ),
        });
    }

    let params = DeflateParams {
        server_no_context_takeover: response.server_no_context_takeover,
        client_no_context_takeover: response.client_no_context_takeover,
        server_max_window_bits: response.server_max_window_bits.unwrap_or(15),
        client_max_window_bits: response.client_max_window_bits.flatten().unwrap_or(15),
    };
    (Some(params), violations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(text: &str) -> Extension {
        let mut list = parse_extensions(&[text]).unwrap();
        assert_eq!(list.len(), 1, "{text}");
        list.remove(0)
    }

    fn offers(texts: &[&str]) -> Vec<Extension> {
        parse_extensions(texts).unwrap()
    }

    fn params(name: &str, params: &[(&str, Option<&str>)]) -> Extension {
        Extension {
            name: name.into(),
            params: params.iter().map(|(n, v)| (n.to_string(), v.map(str::to_string))).collect(),
        }
    }

    fn negotiate(offer: &str, response: &str) -> (Option<DeflateParams>, Vec<Violation>) {
        negotiate_deflate(&offers(&[offer]), &ext(response))
    }

    fn deflate(snct: bool, cnct: bool, smwb: u8, cmwb: u8) -> Option<DeflateParams> {
        Some(DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: smwb,
            client_max_window_bits: cmwb,
        })
    }

    /// Asserts exactly one DeflateParameterInvalid whose detail contains `needle`.
    fn assert_one_invalid(violations: &[Violation], needle: &str) {
        assert_eq!(violations.len(), 1, "{violations:#?}");
        assert_eq!(violations[0].check, CheckId::DeflateParameterInvalid);
        assert!(
            violations[0].detail.contains(needle),
            "{:?} lacks {needle:?}",
            violations[0].detail
        );
    }

    // ── §9.1 grammar ──

    #[test]
    fn chromium_offer_is_parsed() {
        assert_eq!(
            ext("permessage-deflate; client_max_window_bits"),
            params("permessage-deflate", &[("client_max_window_bits", None)])
        );
    }

    #[test]
    fn several_extensions_over_several_fields_form_one_list() {
        let list = offers(&["permessage-deflate; server_max_window_bits=10, x-foo", "x-bar;a=1;b"]);
        assert_eq!(
            list,
            vec![
                params("permessage-deflate", &[("server_max_window_bits", Some("10"))]),
                params("x-foo", &[]),
                params("x-bar", &[("a", Some("1")), ("b", None)]),
            ]
        );
    }

    #[test]
    fn whitespace_around_separators_is_tolerated() {
        assert_eq!(
            ext(" \tx-foo \t; a \t= \t1 ;b\t "),
            params("x-foo", &[("a", Some("1")), ("b", None)])
        );
    }

    #[test]
    fn empty_list_elements_are_ignored() {
        assert_eq!(offers(&[" , a,, b ,", ""]), vec![params("a", &[]), params("b", &[])]);
    }

    #[test]
    fn quoted_value_is_unquoted_and_unescaped() {
        assert_eq!(
            ext(r#"x; a="10"; b="1\2""#),
            params("x", &[("a", Some("10")), ("b", Some("12"))])
        );
    }

    #[test]
    fn quoted_value_may_hide_separators_only_if_they_make_a_token() {
        let err = parse_extensions(&[r#"x; a="1,2", y"#]).unwrap_err();
        assert!(err.contains("not a token"), "{err}");
    }

    #[test]
    fn unterminated_quoted_value_is_malformed() {
        let err = parse_extensions(&[r#"x; a="10"#]).unwrap_err();
        assert!(err.contains("unterminated"), "{err}");
    }

    #[test]
    fn missing_extension_name_is_malformed() {
        let err = parse_extensions(&["; a=1"]).unwrap_err();
        assert_eq!(err, r#"expected an extension name at byte 0 of "; a=1", found ';'"#);
    }

    #[test]
    fn missing_parameter_name_is_malformed() {
        let err = parse_extensions(&["x; =1"]).unwrap_err();
        assert!(err.contains("expected a parameter name at byte 3"), "{err}");
    }

    #[test]
    fn missing_parameter_value_is_malformed() {
        let err = parse_extensions(&["x; a="]).unwrap_err();
        assert_eq!(err, r#"expected a parameter value at the end of "x; a=""#);
    }

    #[test]
    fn space_inside_a_token_is_malformed() {
        let err = parse_extensions(&["permessage deflate"]).unwrap_err();
        assert!(err.contains("found 'd'"), "{err}");
        assert!(parse_extensions(&["x; a=1 2"]).is_err());
    }

    #[test]
    fn non_token_characters_are_malformed() {
        for bad in ["x/y", "x; a=é", "x; a:1", "x;;a"] {
            assert!(parse_extensions(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_extension_round_trips() {
        let text = "permessage-deflate; client_no_context_takeover; server_max_window_bits=10";
        assert_eq!(format_extension(&ext(text)), text);
    }

    // ── offers (§7.1) ──

    #[test]
    fn offer_with_valid_parameters_has_no_violation() {
        let list = offers(&[
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10; \
             server_no_context_takeover; client_no_context_takeover, permessage-deflate; client_max_window_bits=8",
        ]);
        assert_eq!(check_offers(&list), vec![]);
    }

    #[test]
    fn offer_unknown_parameter_is_invalid() {
        assert_one_invalid(
            &check_offers(&offers(&["permessage-deflate; mem_level=8"])),
            "unknown parameter \"mem_level\"",
        );
    }

    #[test]
    fn offer_repeated_parameter_is_invalid() {
        let v = check_offers(&offers(&[
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
        ]));
        assert_one_invalid(&v, "\"client_max_window_bits\" is repeated");
    }

    #[test]
    fn offer_server_max_window_bits_without_value_is_invalid() {
        let v = check_offers(&offers(&["permessage-deflate; server_max_window_bits"]));
        assert_one_invalid(&v, "needs a value 8..=15");
    }

    #[test]
    fn offer_client_max_window_bits_out_of_range_is_invalid() {
        for bad in ["7", "16", "08", "0", "-9", "abc"] {
            let v = check_offers(&offers(&[&format!(
                "permessage-deflate; client_max_window_bits={bad}"
            )]));
            assert_one_invalid(&v, &format!("has value \"{bad}\""));
        }
    }

    #[test]
    fn offer_no_context_takeover_with_value_is_invalid() {
        let v = check_offers(&offers(&["permessage-deflate; server_no_context_takeover=1"]));
        assert_one_invalid(&v, "takes no value, got \"1\"");
    }

    #[test]
    fn offer_detail_names_which_offer() {
        let v =
            check_offers(&offers(&["permessage-deflate, x-other; foo, permessage-deflate; foo"]));
        assert_one_invalid(&v, "offer 2 \"permessage-deflate; foo\"");
    }

    #[test]
    fn offer_of_another_extension_is_not_checked() {
        assert_eq!(check_offers(&offers(&["x-webkit-deflate-frame; whatever=1"])), vec![]);
    }

    // ── responses (§7.1) ──

    #[test]
    fn plain_response_to_plain_offer_gives_default_parameters() {
        assert_eq!(
            negotiate("permessage-deflate", "permessage-deflate"),
            (deflate(false, false, 15, 15), vec![])
        );
    }

    #[test]
    fn chromium_offer_answered_with_window_bits_is_valid() {
        let got = negotiate(
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
        );
        assert_eq!(got, (deflate(true, false, 15, 10), vec![]));
    }

    #[test]
    fn response_unknown_parameter_is_invalid() {
        let (params, v) = negotiate("permessage-deflate", "permessage-deflate; x=1");
        assert_one_invalid(&v, "unknown parameter \"x\"");
        assert_eq!(params, deflate(false, false, 15, 15));
    }

    #[test]
    fn response_repeated_parameter_is_invalid() {
        let (params, v) = negotiate(
            "permessage-deflate",
            "permessage-deflate; server_max_window_bits=9; server_max_window_bits=12",
        );
        assert_one_invalid(&v, "\"server_max_window_bits\" is repeated");
        assert_eq!(params, deflate(false, false, 9, 15));
    }

    #[test]
    fn response_server_max_window_bits_without_value_is_invalid() {
        let (_, v) = negotiate("permessage-deflate", "permessage-deflate; server_max_window_bits");
        assert_one_invalid(&v, "needs a value 8..=15");
    }

    #[test]
    fn response_window_bits_out_of_range_is_invalid() {
        for bad in ["7", "16", "08", "1O"] {
            let (params, v) = negotiate(
                "permessage-deflate",
                &format!("permessage-deflate; server_max_window_bits={bad}"),
            );
            assert_one_invalid(&v, &format!("has value \"{bad}\""));
            assert_eq!(params, deflate(false, false, 15, 15), "decoding goes on with 15 bits");
        }
    }

    #[test]
    fn response_no_context_takeover_with_value_is_invalid() {
        let (params, v) =
            negotiate("permessage-deflate", "permessage-deflate; client_no_context_takeover=true");
        assert_one_invalid(&v, "takes no value, got \"true\"");
        assert_eq!(params, deflate(false, true, 15, 15));
    }

    #[test]
    fn response_client_max_window_bits_without_value_is_invalid() {
        let (_, v) = negotiate(
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits",
        );
        assert_one_invalid(&v, "needs a value 8..=15 in a response");
    }

    #[test]
    fn response_client_max_window_bits_not_offered_is_invalid() {
        let (params, v) =
            negotiate("permessage-deflate", "permessage-deflate; client_max_window_bits=12");
        assert_one_invalid(
            &v,
            "it has no client_max_window_bits, so the response must not carry one (RFC 7692 §7.1.2.2)",
        );
        assert_eq!(params, deflate(false, false, 15, 12));
    }

    #[test]
    fn response_client_max_window_bits_larger_than_offered_is_invalid() {
        let (_, v) = negotiate(
            "permessage-deflate; client_max_window_bits=10",
            "permessage-deflate; client_max_window_bits=11",
        );
        assert_one_invalid(&v, "client_max_window_bits=11 is larger than its 10");
    }

    #[test]
    fn response_client_max_window_bits_within_offer_is_valid() {
        let got = negotiate(
            "permessage-deflate; client_max_window_bits=10",
            "permessage-deflate; client_max_window_bits=9",
        );
        assert_eq!(got, (deflate(false, false, 15, 9), vec![]));
    }

    #[test]
    fn response_server_max_window_bits_lower_than_offered_is_valid() {
        let got = negotiate(
            "permessage-deflate; server_max_window_bits=12",
            "permessage-deflate; server_max_window_bits=10",
        );
        assert_eq!(got, (deflate(false, false, 10, 15), vec![]));
    }

    #[test]
    fn response_server_max_window_bits_higher_than_offered_is_invalid() {
        let (params, v) = negotiate(
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=12",
        );
        assert_one_invalid(
            &v,
            "server_max_window_bits=12 is larger than its 10 (RFC 7692 §7.1.2.1)",
        );
        assert_eq!(params, deflate(false, false, 12, 15));
    }

    #[test]
    fn response_missing_server_max_window_bits_that_was_offered_is_invalid() {
        let (_, v) =
            negotiate("permessage-deflate; server_max_window_bits=10", "permessage-deflate");
        assert_one_invalid(&v, "must carry server_max_window_bits <= 10");
    }

    #[test]
    fn response_server_max_window_bits_not_offered_is_valid() {
        let got = negotiate("permessage-deflate", "permessage-deflate; server_max_window_bits=8");
        assert_eq!(got, (deflate(false, false, 8, 15), vec![]));
    }

    #[test]
    fn response_missing_server_no_context_takeover_that_was_offered_is_invalid() {
        let (_, v) =
            negotiate("permessage-deflate; server_no_context_takeover", "permessage-deflate");
        assert_one_invalid(&v, "must repeat (RFC 7692 §7.1.1.1)");
    }

    #[test]
    fn response_server_no_context_takeover_is_always_allowed() {
        let got = negotiate("permessage-deflate", "permessage-deflate; server_no_context_takeover");
        assert_eq!(got, (deflate(true, false, 15, 15), vec![]));
    }

    #[test]
    fn response_client_no_context_takeover_is_always_allowed() {
        let got = negotiate("permessage-deflate", "permessage-deflate; client_no_context_takeover");
        assert_eq!(got, (deflate(false, true, 15, 15), vec![]));
    }

    #[test]
    fn response_fitting_a_later_offer_is_valid() {
        let list = offers(&[
            "permessage-deflate; server_no_context_takeover; client_max_window_bits, permessage-deflate",
        ]);
        assert_eq!(
            negotiate_deflate(&list, &ext("permessage-deflate")),
            (deflate(false, false, 15, 15), vec![])
        );
    }

    #[test]
    fn response_fitting_no_offer_lists_why_for_each() {
        let list = offers(&[
            "permessage-deflate; server_no_context_takeover, permessage-deflate; server_max_window_bits=9",
        ]);
        let (_, v) =
            negotiate_deflate(&list, &ext("permessage-deflate; server_max_window_bits=10"));
        assert_one_invalid(
            &v,
            "offer 1 \"permessage-deflate; server_no_context_takeover\": it has server_no_context_takeover",
        );
        assert!(v[0].detail.contains("offer 2 \"permessage-deflate; server_max_window_bits=9\": the response's server_max_window_bits=10 is larger than its 9"));
    }

    #[test]
    fn response_to_an_invalid_offer_is_invalid() {
        let (params, v) =
            negotiate("permessage-deflate; server_max_window_bits", "permessage-deflate");
        assert_one_invalid(&v, "it is invalid, so the server must decline it");
        assert_eq!(params, deflate(false, false, 15, 15));
    }

    #[test]
    fn response_without_any_deflate_offer_is_left_to_extension_not_offered() {
        let (params, v) = negotiate_deflate(&offers(&["x-foo"]), &ext("permessage-deflate"));
        assert_eq!((params, v), (deflate(false, false, 15, 15), vec![]));
    }

    #[test]
    fn quoted_window_bits_value_is_accepted() {
        let got = negotiate(
            r#"permessage-deflate; client_max_window_bits="10""#,
            r#"permessage-deflate; client_max_window_bits="10""#,
        );
        assert_eq!(got, (deflate(false, false, 15, 10), vec![]));
    }

    #[test]
    fn names_are_compared_case_insensitively() {
        let got = negotiate(
            "PerMessage-Deflate; Client_Max_Window_Bits",
            "permessage-deflate; CLIENT_MAX_WINDOW_BITS=12",
        );
        assert_eq!(got, (deflate(false, false, 15, 12), vec![]));
    }

    #[test]
    fn several_violations_are_all_reported() {
        let (params, v) = negotiate(
            "permessage-deflate",
            "permessage-deflate; a; server_max_window_bits=99; client_no_context_takeover; client_no_context_takeover",
        );
        assert_eq!(v.len(), 3, "{v:#?}");
        assert_eq!(params, deflate(false, true, 15, 15));
    }

    #[test]
    fn other_accepted_extension_is_not_negotiated_here() {
        assert_eq!(negotiate_deflate(&offers(&["x-foo"]), &ext("x-foo")), (None, vec![]));
    }

    proptest::proptest! {
        #[test]
        fn any_field_value_parses_or_errs_without_panicking(value in "[ -~\t]{0,40}|\\PC{0,20}") {
            if let Ok(list) = parse_extensions(&[&value]) {
                for ext in &list {
                    let _ = check_offers(std::slice::from_ref(ext));
                    let _ = negotiate_deflate(&list, ext);
                }
            }
        }
    }
}
