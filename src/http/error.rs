//! Why an HTTP message could not be framed: the direction can no longer be followed as HTTP.
//!
//! An [`HttpError`] is not a finding about a peer; it means wsscope lost the message boundary.
//! The session turns it into a `http_malformed` finding and stops decoding that direction.

/// An HTTP head or body that cannot be framed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// httparse rejected the head.
    #[error("malformed HTTP head: {0}")]
    Malformed(httparse::Error),
    /// The head is longer than the limit (without, or before, its blank line).
    #[error("HTTP head longer than {limit} bytes")]
    HeadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The head has more header fields than wsscope parses.
    #[error("HTTP head has more than {max} header fields")]
    TooManyHeaders {
        /// How many fields are parsed at most.
        max: usize,
    },
    /// A Content-Length value that is not a decimal number (RFC 9110 §8.6).
    #[error("invalid Content-Length {0:?}")]
    InvalidContentLength(String),
    /// Content-Length given several times with different values (RFC 9110 §8.6, RFC 9112 §6.3 (5)).
    #[error("conflicting Content-Length values {0:?}")]
    ConflictingContentLength(Vec<String>),
    /// A request whose final transfer coding is not chunked (RFC 9112 §6.3 (4)).
    #[error(
        "request Transfer-Encoding {0:?} does not end with chunked; its length cannot be determined"
    )]
    RequestNotChunked(String),
    /// An HTTP/1.0 request with Transfer-Encoding (RFC 9112 §6.1: the framing is faulty).
    #[error("HTTP/1.0 request with Transfer-Encoding {0:?}; its framing is faulty")]
    TransferEncodingInHttp10(String),
    /// A chunk-size line that is not `1*HEXDIG [ chunk-ext ] CRLF` (RFC 9112 §7.1).
    #[error("invalid chunk-size line {0:?}")]
    InvalidChunkSize(String),
    /// A chunk-size line longer than the buffer kept for it.
    #[error("chunk-size line longer than {limit} bytes")]
    ChunkLineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// Chunk data not followed by CRLF (RFC 9112 §7.1).
    #[error("chunk data not followed by CRLF (found byte 0x{0:02x})")]
    MissingChunkCrlf(u8),
}

impl From<httparse::Error> for HttpError {
    fn from(e: httparse::Error) -> Self {
        match e {
            httparse::Error::TooManyHeaders => {
                HttpError::TooManyHeaders { max: super::parse::MAX_HEADERS }
            }
            other => HttpError::Malformed(other),
        }
    }
}
