//! One test per rule, on events built in memory.

use super::*;
use crate::analyzer::checks::{CheckId, Severity};
use crate::event::{CloseFrameInfo, HandshakeOutcome, Position};
use crate::tcp::{CloseReason, Direction};
use crate::ws::{CloseCode, OpCode};

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.aBcD3fGh1jKlMn0pQrStUvWxYz";
const OPAQUE: &str = "q2Vx8ZtLm4PwR7yNc1Hs0KdJ";

fn defaults() -> Redactor {
    Redactor::with_additions(&Additions::default()).unwrap()
}

fn h(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

fn handshake(request: RequestInfo, response: ResponseInfo) -> Event {
    Event::Handshake {
        connection: ConnId(1),
        seen: true,
        request: Some(Box::new(request)),
        response: Some(Box::new(response)),
        accept_valid: Some(true),
        outcome: HandshakeOutcome::Upgraded,
    }
}

fn parts(e: Event) -> (RequestInfo, ResponseInfo) {
    match e {
        Event::Handshake { request: Some(q), response: Some(r), .. } => (*q, *r),
        other => panic!("{other:?}"),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    &headers.iter().find(|(n, _)| n == name).unwrap().1
}

fn message(opcode: OpCode, payload: Payload) -> Event {
    Event::Message {
        connection: ConnId(1),
        direction: Direction::ClientToServer,
        opcode,
        complete: true,
        length: Some(99),
        captured_length: 99,
        missing: Some(0),
        wire_length: 99,
        compressed: false,
        fragments: 1,
        first: Position::default(),
        last: Position::default(),
        end: Position::default(),
        payload,
        truncated: false,
        close: None,
        rtt: None,
    }
}

fn payload_of(e: &Event) -> (&Payload, bool) {
    match e {
        Event::Message { payload, truncated, .. } => (payload, *truncated),
        other => panic!("{other:?}"),
    }
}

fn finding(message: &str) -> Event {
    Event::Finding {
        connection: ConnId(1),
        code: CheckId::SubprotocolNotOffered,
        severity: Severity::Error,
        rfc: "RFC 6455 §4.1",
        direction: None,
        at: Position::default(),
        message: message.to_string(),
    }
}

/// Connection 1 ended.
fn end_of_connection_1() -> Event {
    Event::End {
        connection: ConnId(1),
        reason: CloseReason::Fin,
        closed_first_by: None,
        clean: true,
        ts: Default::default(),
    }
}

fn finding_message(e: &Event) -> &str {
    match e {
        Event::Finding { message, .. } => message,
        other => panic!("{other:?}"),
    }
}

#[test]
fn header_values_named_or_containing_a_word_are_redacted_and_the_websocket_key_is_kept() {
    let mut r = defaults();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let req = RequestInfo {
        path: "/chat".into(),
        host: Some("example.com".into()),
        key: Some(key.into()),
        headers: vec![
            h("Host", "example.com"),
            h("Authorization", "Bearer abc123"),
            h("Cookie", "sid=s1; theme=dark"),
            h("X-Api-Key", "k-1"),
            h("X-Session-Id", "42"),
            h("Sec-WebSocket-Key", key),
            h("Referer", "https://example.com/app?tab=2&access_token=t0k3n"),
            h("User-Agent", "test/1.0"),
        ],
        ..Default::default()
    };
    let resp = ResponseInfo {
        status: 101,
        accept: Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into()),
        headers: vec![h("Set-Cookie", "sid=s2; Path=/; HttpOnly")],
        ..Default::default()
    };
    let mut e = handshake(req, resp);
    r.apply(&mut e);
    let (q, s) = parts(e);
    assert_eq!(header(&q.headers, "Host"), "example.com");
    assert_eq!(header(&q.headers, "Authorization"), "Bearer <redacted:6 bytes>");
    assert_eq!(header(&q.headers, "Cookie"), "sid=<redacted:2 bytes>; theme=<redacted:4 bytes>");
    assert_eq!(header(&q.headers, "X-Api-Key"), "<redacted:3 bytes>");
    assert_eq!(header(&q.headers, "X-Session-Id"), "<redacted:2 bytes>");
    // A nonce: kept, and so is the field that mirrors it, so accept_valid can be checked.
    assert_eq!(header(&q.headers, "Sec-WebSocket-Key"), key);
    assert_eq!(q.key.as_deref(), Some(key));
    assert_eq!(
        header(&q.headers, "Referer"),
        "https://example.com/app?tab=2&access_token=<redacted:5 bytes>"
    );
    assert_eq!(header(&q.headers, "User-Agent"), "test/1.0");
    assert_eq!(header(&s.headers, "Set-Cookie"), "sid=<redacted:2 bytes>; Path=/; HttpOnly");
    assert_eq!(s.accept.as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

#[test]
fn query_values_with_secret_names_are_redacted_in_the_request_target() {
    let mut r = defaults();
    let req = RequestInfo {
        path: "/ws?room=lobby&api_key=AKIA1234&X-Amz-Signature=ab12&code=xyz&keyword=hi".into(),
        ..Default::default()
    };
    let mut e = handshake(req, ResponseInfo::default());
    r.apply(&mut e);
    let (q, _) = parts(e);
    // `keyword` contains `key`: over-redaction is the safe side (`--redact-keep keyword`).
    assert_eq!(
        q.path,
        "/ws?room=lobby&api_key=<redacted:8 bytes>&X-Amz-Signature=<redacted:4 bytes>\
         &code=<redacted:3 bytes>&keyword=<redacted:2 bytes>"
    );
}

#[test]
fn subprotocol_credentials_are_redacted_everywhere_the_same_way() {
    let mut r = defaults();
    let offered = ["graphql-transport-ws", "access_token", OPAQUE, JWT];
    let req = RequestInfo {
        protocols: offered.iter().map(|s| s.to_string()).collect(),
        headers: vec![
            h("Sec-WebSocket-Protocol", "graphql-transport-ws, access_token"),
            h("Sec-WebSocket-Protocol", &format!("{OPAQUE},{JWT}")),
        ],
        ..Default::default()
    };
    // The server echoes the token, as it must when the token was the only protocol offered.
    let resp = ResponseInfo {
        protocol: Some(JWT.into()),
        headers: vec![h("Sec-WebSocket-Protocol", JWT)],
        ..Default::default()
    };
    let mut e = handshake(req, resp);
    r.apply(&mut e);
    let (q, s) = parts(e);
    let jwt = marker(JWT.len());
    let opaque = marker(OPAQUE.len());
    assert_eq!(q.protocols, ["graphql-transport-ws", "access_token", &opaque, &jwt]);
    assert_eq!(q.headers[0].1, "graphql-transport-ws, access_token");
    assert_eq!(q.headers[1].1, format!("{opaque},{jwt}"));
    assert_eq!(s.protocol.as_deref(), Some(jwt.as_str()));
    assert_eq!(s.headers[0].1, jwt);
}

#[test]
fn a_short_token_after_a_marker_is_redacted_and_a_random_run_only_in_part() {
    let mut r = defaults();
    let k8s =
        "base64url.bearer.authorization.k8s.io.ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNkltOTNOamsifQ";
    let req = RequestInfo {
        protocols: vec!["Bearer".into(), "abc".into(), "v4.channel.k8s.io".into(), k8s.into()],
        ..Default::default()
    };
    let mut e = handshake(req, ResponseInfo::default());
    r.apply(&mut e);
    let (q, _) = parts(e);
    assert_eq!(
        q.protocols,
        [
            "Bearer",
            "<redacted:3 bytes>",
            "v4.channel.k8s.io",
            "base64url.bearer.authorization.k8s.io.<redacted:50 bytes>"
        ]
    );
}

/// Subprotocol decisions are remembered; a remembered decision gives the same replacement and
/// teaches the connection the same secrets as a fresh one.
#[test]
fn remembered_subprotocol_decisions_redact_and_teach_as_fresh_ones() {
    let mut r = defaults();
    let protocols: Vec<String> = ["graphql-ws", "Bearer", "abcd1234", "chat", JWT, "abcd1234"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // The server selects a token that was not offered: decided on its own (a hex run).
    let selected = "v1.3f9a7c2e8b1d4f6a0c5e9b7d2a4f8c1e";
    let mut seen = Vec::new();
    for conn in 1..=3 {
        let req = RequestInfo { protocols: protocols.clone(), ..Default::default() };
        let resp = ResponseInfo { protocol: Some(selected.into()), ..Default::default() };
        let mut e = handshake(req, resp);
        if let Event::Handshake { connection, .. } = &mut e {
            *connection = ConnId(conn);
        }
        r.apply(&mut e);
        let (q, s) = parts(e);
        let mut f = finding(&format!("the server selected {selected:?}, offered abcd1234"));
        if let Event::Finding { connection, .. } = &mut f {
            *connection = ConnId(conn);
        }
        r.apply(&mut f);
        seen.push((q.protocols, s.protocol, finding_message(&f).to_string()));
    }
    let (q, s, f) = &seen[0];
    assert_eq!(
        q,
        // Redacted after the marker, so wherever the handshake has it.
        &[
            "graphql-ws",
            "Bearer",
            "<redacted:8 bytes>",
            "chat",
            &marker(JWT.len()),
            "<redacted:8 bytes>"
        ]
    );
    assert_eq!(s.as_deref(), Some("v1.<redacted:32 bytes>"));
    assert_eq!(f, "the server selected \"v1.<redacted:32 bytes>\", offered <redacted:8 bytes>");
    assert!(seen.iter().all(|x| x == &seen[0]), "{seen:#?}");
    // A token is remembered apart and after a marker; long ones (the JWT) are not remembered.
    let remembered = r.protocols.borrow();
    assert!(remembered[1].contains_key("abcd1234") && remembered[0].contains_key("abcd1234"));
    assert!(remembered[0].contains_key(selected));
    assert!(!remembered.iter().any(|m| m.contains_key(JWT)));
    drop(remembered);
    let many: Vec<String> = (0..MAX_REMEMBERED_NAMES + 100).map(|i| format!("p{i}")).collect();
    let mut e =
        handshake(RequestInfo { protocols: many, ..Default::default() }, ResponseInfo::default());
    r.apply(&mut e);
    assert!(r.protocols.borrow().iter().all(|m| m.len() <= MAX_REMEMBERED_NAMES));
}

#[test]
fn findings_of_the_connection_no_longer_quote_its_secrets_and_end_forgets_them() {
    let mut r = defaults();
    let req = RequestInfo { protocols: vec![JWT.into()], ..Default::default() };
    let resp = ResponseInfo { protocol: Some(OPAQUE.into()), ..Default::default() };
    let mut e = handshake(req, resp);
    r.apply(&mut e);
    // As validate.rs words it, with Rust's quoting.
    let mut f = finding(&format!("the server selected {OPAQUE:?}; offered: {JWT:?}"));
    r.apply(&mut f);
    let m = finding_message(&f);
    assert!(!m.contains(OPAQUE) && !m.contains(JWT), "{m}");
    assert_eq!(
        m,
        format!(
            "the server selected \"{}\"; offered: \"{}\"",
            marker(OPAQUE.len()),
            marker(JWT.len())
        )
    );
    r.apply(&mut end_of_connection_1());
    assert!(r.learned.is_empty());
}

/// A keep-alive connection may carry any number of refused upgrades, each with secrets of its
/// own: what is remembered stays bounded, the latest handshake's are always scrubbed, and the
/// bytes held are what the memory budget is charged.
#[test]
fn secrets_remembered_per_connection_are_bounded_and_the_latest_always_kept() {
    let mut r = defaults();
    let memory = crate::memory::Memory::new(1 << 30);
    let mut charge = crate::memory::Charge::new(&memory);
    let token = |i: usize| format!("Bearer {i:04}{}", "x".repeat(4000));
    for i in 0..500 {
        let req = RequestInfo {
            headers: vec![h("Authorization", &token(i)), h("Authorization", &token(i))],
            ..Default::default()
        };
        let mut e = handshake(req, ResponseInfo::default());
        r.apply(&mut e);
        charge.set(r.learned_bytes());
        let known = &r.learned[&ConnId(1)];
        assert!(known.len() <= MAX_LEARNED + 1, "{}", known.len());
        let bytes: usize = known.iter().map(Learned::size).sum();
        assert_eq!(bytes, r.learned_bytes());
        assert!(bytes <= MAX_LEARNED_BYTES + 2 * 4200, "{bytes}");
    }
    assert_eq!(memory.used(), r.learned_bytes());
    let mut f = finding(&format!("the request said {:?}", token(499)));
    r.apply(&mut f);
    assert!(!finding_message(&f).contains("x".repeat(4000).as_str()), "{}", finding_message(&f));
    r.apply(&mut end_of_connection_1());
    assert_eq!(r.learned_bytes(), 0);
}

#[test]
fn json_members_of_text_payloads_are_redacted() {
    let mut r = defaults();
    let mut e = message(
        OpCode::Text,
        Payload::Text(
            r#"{"type":"auth","accessToken":"t0k","user":{"password":"pw","name":"ü"}}"#.into(),
        ),
    );
    r.apply(&mut e);
    assert_eq!(
        payload_of(&e),
        (
            &Payload::Text(
                r#"{"type":"auth","accessToken":"<redacted:3 bytes>","user":{"password":"<redacted:2 bytes>","name":"ü"}}"#
                    .into()
            ),
            false
        )
    );
}

#[test]
fn binary_payloads_are_left_alone_unless_they_are_utf8_text() {
    let mut r = defaults();
    let raw = vec![0x82, 0xa5, b't', b'o', b'k', b'e', b'n', 0xa3, b'a', b'b', b'c', 0xff];
    let mut e = message(OpCode::Binary, Payload::Bytes(raw.clone()));
    r.apply(&mut e);
    assert_eq!(payload_of(&e), (&Payload::Bytes(raw), false));
    let mut e = message(OpCode::Binary, Payload::Bytes(br#"{"token":"abc"}"#.to_vec()));
    r.apply(&mut e);
    assert_eq!(payload_of(&e).0, &Payload::Bytes(br#"{"token":"<redacted:3 bytes>"}"#.to_vec()));
}

#[test]
fn default_patterns_find_jwts_bearer_tokens_and_credential_assignments_in_any_text() {
    let mut r = defaults();
    let stomp =
        format!("CONNECT\nlogin:alice\npasscode:s3cret\nAuthorization:Bearer {OPAQUE}\n\n\0");
    let mut e = message(OpCode::Text, Payload::Text(stomp));
    r.apply(&mut e);
    assert_eq!(
        payload_of(&e).0,
        &Payload::Text(format!(
            "CONNECT\nlogin:alice\npasscode:<redacted:6 bytes>\nAuthorization:Bearer {}\n\n\0",
            marker(OPAQUE.len())
        ))
    );
    let mut e = message(OpCode::Text, Payload::Text(format!("hello {JWT}!")));
    r.apply(&mut e);
    assert_eq!(payload_of(&e).0, &Payload::Text(format!("hello {}!", marker(JWT.len()))));
}

#[test]
fn close_reasons_get_the_text_rules() {
    let mut r = defaults();
    let mut e = message(OpCode::Close, Payload::Bytes(vec![0x03, 0xe8]));
    if let Event::Message { close, .. } = &mut e {
        *close = Some(CloseFrameInfo {
            code: Some(CloseCode(4001)),
            reason: format!("expired {JWT}"),
            at: Position::default(),
        });
    }
    r.apply(&mut e);
    let Event::Message { close: Some(c), .. } = &e else { panic!() };
    assert_eq!(c.reason, format!("expired {}", marker(JWT.len())));
}

#[test]
fn redact_payloads_drops_every_payload_and_keeps_lengths() {
    let mut r =
        Redactor::with_additions(&Additions { payloads: true, ..Default::default() }).unwrap();
    let mut e = message(OpCode::Text, Payload::Text("hello ✓".into()));
    r.apply(&mut e);
    assert_eq!(payload_of(&e), (&Payload::Text("<redacted:9 bytes>".into()), true));
    let mut e = message(OpCode::Binary, Payload::Bytes(vec![1, 2, 3]));
    r.apply(&mut e);
    assert_eq!(payload_of(&e), (&Payload::Bytes(vec![]), true));
    assert!(matches!(e, Event::Message { captured_length: 99, length: Some(99), .. }));
    let mut e = message(OpCode::Text, Payload::Unavailable);
    r.apply(&mut e);
    assert_eq!(payload_of(&e), (&Payload::Unavailable, false));
}

#[test]
fn naming_a_header_redacts_it_even_a_websocket_one_and_its_mirrored_field() {
    let add = Additions {
        headers: vec![
            "Sec-WebSocket-Key".into(),
            "Sec-WebSocket-Protocol".into(),
            "Origin".into(),
            "Sec-WebSocket-Extensions".into(),
        ],
        ..Default::default()
    };
    let mut r = Redactor::with_additions(&add).unwrap();
    assert_eq!(r.rules().subprotocols, SubprotocolRule::All);
    let req = RequestInfo {
        key: Some("dGhlIHNhbXBsZSBub25jZQ==".into()),
        origin: Some("https://intranet.example".into()),
        protocols: vec!["chat".into()],
        extensions: vec![crate::http::Extension {
            name: "x-auth-ext".into(),
            params: vec![("tenant".into(), Some("acme".into())), ("flag".into(), None)],
        }],
        headers: vec![
            h("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            h("Sec-WebSocket-Protocol", "chat"),
        ],
        ..Default::default()
    };
    let mut e =
        handshake(req, ResponseInfo { protocol: Some("chat".into()), ..Default::default() });
    r.apply(&mut e);
    let (q, s) = parts(e);
    assert_eq!(q.key.as_deref(), Some("<redacted:24 bytes>"));
    assert_eq!(q.origin.as_deref(), Some("<redacted:24 bytes>"));
    assert_eq!(
        q.extensions[0].params,
        [
            ("tenant".to_string(), Some("<redacted:4 bytes>".to_string())),
            ("flag".to_string(), None)
        ]
    );
    assert_eq!(q.protocols, ["<redacted:4 bytes>"]);
    assert_eq!(q.headers[1].1, "<redacted:4 bytes>");
    assert_eq!(s.protocol.as_deref(), Some("<redacted:4 bytes>"));
}

#[test]
fn kept_names_and_tokens_are_not_redacted_by_words_or_heuristics() {
    let add = Additions {
        keep: vec!["x-session-id".into(), "keyword".into(), OPAQUE.into()],
        ..Default::default()
    };
    let mut r = Redactor::with_additions(&add).unwrap();
    let req = RequestInfo {
        path: "/ws?keyword=hi".into(),
        protocols: vec![OPAQUE.into()],
        headers: vec![h("X-Session-Id", "42")],
        ..Default::default()
    };
    let mut e = handshake(req, ResponseInfo::default());
    r.apply(&mut e);
    let (q, _) = parts(e);
    assert_eq!(
        (q.path.as_str(), q.protocols[0].as_str(), q.headers[0].1.as_str()),
        ("/ws?keyword=hi", OPAQUE, "42")
    );
    // A kept name is kept from the credential assignment pattern too (before, `--redact-keep
    // access_token` kept the query parameter from the word rule and the pattern redacted it
    // anyway); other names the pattern knows are still redacted.
    let add = Additions { keep: vec!["access_token".into()], ..Default::default() };
    let mut r = Redactor::with_additions(&add).unwrap();
    let req = RequestInfo {
        path: "/ws?access_token=abc123&password=hunter2".into(),
        ..Default::default()
    };
    let mut e = handshake(req.clone(), ResponseInfo::default());
    r.apply(&mut e);
    assert_eq!(parts(e).0.path, "/ws?access_token=abc123&password=<redacted:7 bytes>");
    let mut e = handshake(req, ResponseInfo::default());
    defaults().apply(&mut e);
    assert_eq!(parts(e).0.path, "/ws?access_token=<redacted:6 bytes>&password=<redacted:7 bytes>");
    let clash =
        Additions { keep: vec!["pin".into()], fields: vec!["PIN".into()], ..Default::default() };
    assert!(Redactor::with_additions(&clash).unwrap_err().contains("--redact-keep"));
}

#[test]
fn user_fields_queries_and_patterns_extend_the_defaults() {
    let add = Additions {
        fields: vec!["iban".into()],
        query: vec!["room".into()],
        patterns: vec![r"acct-(\d+)".into(), r"\d+".into()],
        ..Default::default()
    };
    let mut r = Redactor::with_additions(&add).unwrap();
    let mut e =
        message(OpCode::Text, Payload::Text(r#"{"iban":"DE89","note":"acct-7788"}"#.into()));
    r.apply(&mut e);
    // The second pattern (`\d+`) does not touch the markers the first rules wrote.
    assert_eq!(
        payload_of(&e).0,
        &Payload::Text(r#"{"iban":"<redacted:4 bytes>","note":"acct-<redacted:4 bytes>"}"#.into())
    );
    let mut e = handshake(
        RequestInfo { path: "/?room=a".into(), ..Default::default() },
        ResponseInfo::default(),
    );
    r.apply(&mut e);
    assert_eq!(parts(e).0.path, "/?room=<redacted:1 byte>");
    let bad = Additions { patterns: vec!["(".into()], ..Default::default() };
    assert!(Redactor::with_additions(&bad).unwrap_err().contains("is not a regex"));
}

#[test]
fn every_default_pattern_compiles_and_the_listing_names_every_rule() {
    let r = defaults();
    assert_eq!(r.patterns.len(), Rules::defaults().patterns.len());
    let listing = r.rules().describe();
    for name in
        r.rules().headers.names.iter().chain(&r.rules().query.names).chain(&r.rules().fields.names)
    {
        assert!(listing.contains(name.as_str()), "{name}");
    }
}

#[test]
fn remembered_names_are_bounded_in_number_and_length() {
    let mut r = defaults();
    let keys: Vec<String> = (0..2000).map(|i| format!("\"k{i}\":1")).collect();
    let long = format!("\"{}\":1", "x".repeat(MAX_REMEMBERED_NAME_LEN + 1));
    let mut e = message(OpCode::Text, Payload::Text(format!("{{{long},{}}}", keys.join(","))));
    r.apply(&mut e);
    assert_eq!(r.field_names.borrow().len(), MAX_REMEMBERED_NAMES);
    assert!(r.field_names.borrow().keys().all(|k| k.len() <= MAX_REMEMBERED_NAME_LEN));
    for i in 0..MAX_REMEMBERED_CLEAN + 10 {
        let mut e = message(OpCode::Text, Payload::Text(format!("heartbeat {i}")));
        r.apply(&mut e);
    }
    let mut e = message(OpCode::Text, Payload::Text("x".repeat(MAX_REMEMBERED_CLEAN_LEN + 1)));
    r.apply(&mut e);
    assert!(r.clean.borrow().len() <= MAX_REMEMBERED_CLEAN);
    assert!(r.clean.borrow().iter().all(|t| t.len() <= MAX_REMEMBERED_CLEAN_LEN));
}

/// A field that mirrors a header line takes what the line became; without its line (or with a
/// line of another value) the field is redacted on its own, by the same rules.
#[test]
fn mirrored_fields_become_what_their_header_line_became() {
    let add = Additions { headers: vec!["Origin".into()], ..Default::default() };
    let mut r = Redactor::with_additions(&add).unwrap();
    let ua = format!("client/1.0 bearer {OPAQUE}");
    let request = |lines: Vec<(String, String)>| RequestInfo {
        origin: Some("https://app.example.com".into()),
        user_agent: Some(ua.clone()),
        key: Some("dGhlIHNhbXBsZSBub25jZQ==".into()),
        headers: lines,
        ..Default::default()
    };
    let response = ResponseInfo {
        accept: Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into()),
        headers: vec![h("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")],
        ..Default::default()
    };
    let with_lines = vec![
        h("ORIGIN", "https://app.example.com"),
        h("User-Agent", &ua),
        h("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let mut e = handshake(request(with_lines), response.clone());
    r.apply(&mut e);
    let (q, p) = parts(e);
    assert_eq!(q.origin.as_deref(), Some(header(&q.headers, "ORIGIN")));
    assert_eq!(q.origin.as_deref(), Some("<redacted:23 bytes>"));
    assert_eq!(q.user_agent.as_deref(), Some(header(&q.headers, "User-Agent")));
    assert!(!q.user_agent.as_ref().unwrap().contains(OPAQUE), "{q:?}");
    assert_eq!(q.key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(p.accept.as_deref(), Some(header(&p.headers, "sec-websocket-accept")));
    // No lines, or lines saying something else: each field on its own, the same way.
    for lines in [vec![], vec![h("Origin", "https://other.example"), h("User-Agent", "curl")]] {
        let mut e = handshake(request(lines.clone()), response.clone());
        r.apply(&mut e);
        let (q, _) = parts(e);
        assert_eq!(q.origin.as_deref(), Some("<redacted:23 bytes>"), "{lines:?}");
        let agent = q.user_agent.unwrap();
        assert!(agent.starts_with("client/1.0 bearer <redacted:"), "{agent}");
        if let Some((_, v)) = q.headers.iter().find(|(n, _)| n == "User-Agent") {
            assert_eq!(v, "curl");
        }
    }
}

/// Patterns each accepted alone are accepted together, even when together they are too large
/// for the one automaton that tells whether any matches (each is then tried on its own).
#[test]
fn patterns_too_large_together_for_one_automaton_still_redact() {
    let big = [r"\w{150}z", r"\w{151}q"];
    for p in big {
        let one = Additions { patterns: vec![p.into()], ..Default::default() };
        assert!(Redactor::with_additions(&one).is_ok(), "{p}");
    }
    let both = Additions { patterns: big.map(String::from).to_vec(), ..Default::default() };
    let mut r = Redactor::with_additions(&both).unwrap();
    assert!(r.any_pattern.is_none(), "the fixture no longer exceeds the automaton's limit");
    let secret = format!("{}q", "a".repeat(151));
    let mut e = finding(&format!("saw {secret} here"));
    r.apply(&mut e);
    let Event::Finding { message, .. } = e else { unreachable!() };
    assert_eq!(message, "saw <redacted:152 bytes> here");
}
