//! TLS: records in, plaintext out, from key material given as data (RFC 8446, RFC 5246,
//! RFC 9850).
//!
//! The layer between TCP and HTTP/WebSocket (docs/ARCHITECTURE.md): [`TlsLayer`] takes each
//! direction's TCP bytes and gaps and gives the plaintext of application data records at its
//! offset in the direction's plaintext stream, plaintext gaps, and findings. Without keys it
//! still reads the hellos (SNI, ALPN, version, cipher suite) and counts records, so a connection
//! is reported for what it is.
//!
//! Key material reaches this module as bytes ([`KeyStore::add_text`]); nothing here opens a
//! file, and no secret is ever written to an output.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod hello;
pub mod keylog;
pub mod keys;
pub mod layer;
pub mod suite;

pub use keylog::{KeyLog, KeyStore, ParseStats};
pub use layer::{Decryption, Out, Summary, TlsConfig, TlsLayer, looks_like_record};

/// A protocol version as people write it (`TLS 1.3`), or its number in hex.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        _ => format!("0x{v:04x}"),
    }
}
