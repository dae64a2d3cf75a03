//! HTTP/1.1 Upgrade detection and opening-handshake validation (RFC 6455 §4, RFC 7692 §7.1).
//!
//! Pure functions over byte slices: no I/O, never panics on input.
//!
//! | module | role |
//! |---|---|
//! | [`parse`] | incremental request/response heads (httparse), header helpers |
//! | [`lenient`] | a forgiving reading of heads httparse refuses, so malformed upgrades are followed |
//! | [`body`] | body framing (RFC 9112 §6.3) and a sans-IO body skipper for keep-alive |
//! | [`accept`] | `Sec-WebSocket-Accept` from a key (RFC 6455 §1.3) |
//! | [`extensions`] | `Sec-WebSocket-Extensions` grammar, permessage-deflate negotiation |
//! | [`validate`] | request/response facts and every handshake rule, as [`Violation`]s |

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod accept;
pub mod body;
mod error;
pub mod extensions;
pub mod lenient;
pub mod parse;
mod types;
pub mod validate;

pub use accept::accept_for;
pub use body::{BodyKind, BodySkipper, SkipProgress, request_body, response_body};
pub use error::HttpError;
pub use extensions::{check_offers, negotiate_deflate, parse_extensions};
pub use parse::{
    Parsed, RequestHead, ResponseHead, has_token, header, headers_all, looks_like_request_start,
    parse_request, parse_response,
};
pub use types::{DeflateParams, Extension, Negotiated, RequestInfo, ResponseInfo, Violation};
pub use validate::{
    assumed_request, check_request, check_response, is_interim, is_upgrade_request, request_info,
    response_info, upgrade_request,
};
