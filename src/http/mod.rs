//! HTTP/1.1 Upgrade detection and opening-handshake validation (RFC 6455 §4, RFC 7692 §7.1).
//!
//! Pure functions over byte slices: no I/O, never panics on input.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod types;

pub use types::{DeflateParams, Extension, Negotiated, RequestInfo, ResponseInfo, Violation};
