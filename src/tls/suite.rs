//! The cipher suites wsscope can decrypt, and what each needs (RFC 8446 §B.4, RFC 5288,
//! RFC 5289, RFC 7905, RFC 5246 §A.5).

/// The hash of a suite's PRF or key schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

impl Hash {
    /// Output length in bytes.
    pub fn size(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// The record protection of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// AES-GCM with a 16- or 32-byte key.
    AesGcm {
        /// Key length in bytes.
        key: usize,
    },
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305,
    /// AES-CBC with HMAC (TLS 1.2 and below).
    AesCbc {
        /// Key length in bytes.
        key: usize,
        /// The HMAC's hash.
        mac: Mac,
    },
}

/// The HMAC of a CBC suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mac {
    /// HMAC-SHA1.
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA384.
    Sha384,
}

impl Mac {
    /// MAC (and MAC key) length in bytes.
    pub fn size(self) -> usize {
        match self {
            Mac::Sha1 => 20,
            Mac::Sha256 => 32,
            Mac::Sha384 => 48,
        }
    }
}

/// What decrypting a suite takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    /// The IANA id.
    pub id: u16,
    /// TLS 1.3 suite (key schedule) or TLS 1.2 (PRF).
    pub tls13: bool,
    /// PRF / HKDF hash.
    pub hash: Hash,
    /// Record protection.
    pub cipher: Cipher,
}

/// The suite with IANA id `id`, when wsscope can decrypt it.
pub fn find(id: u16) -> Option<Suite> {
    use Cipher::*;
    use Hash::*;
    let gcm128 = AesGcm { key: 16 };
    let gcm256 = AesGcm { key: 32 };
    let cbc = |key, mac| AesCbc { key, mac };
    let (tls13, hash, cipher) = match id {
        0x1301 => (true, Sha256, gcm128),
        0x1302 => (true, Sha384, gcm256),
        0x1303 => (true, Sha256, ChaCha20Poly1305),
        // TLS 1.2 AEAD (RFC 5288, RFC 5289, RFC 7905).
        0xc02b | 0xc02f | 0x009c | 0x009e => (false, Sha256, gcm128),
        0xc02c | 0xc030 | 0x009d | 0x009f => (false, Sha384, gcm256),
        0xcca8..=0xccaa => (false, Sha256, ChaCha20Poly1305),
        // TLS 1.2 CBC with HMAC (the PRF is SHA-256 unless the suite names SHA-384).
        0xc013 | 0xc009 | 0x002f | 0x0033 => (false, Sha256, cbc(16, Mac::Sha1)),
        0xc014 | 0xc00a | 0x0035 | 0x0039 => (false, Sha256, cbc(32, Mac::Sha1)),
        0xc027 | 0xc023 | 0x003c | 0x0067 => (false, Sha256, cbc(16, Mac::Sha256)),
        0x003d | 0x006b => (false, Sha256, cbc(32, Mac::Sha256)),
        0xc028 | 0xc024 => (false, Sha384, cbc(32, Mac::Sha384)),
        _ => return None,
    };
    Some(Suite { id, tls13, hash, cipher })
}

/// The IANA name of cipher suite `id` (`TLS_AES_128_GCM_SHA256`), or its number in hex.
pub fn name(id: u16) -> String {
    match tls_parser::TlsCipherSuite::from_id(id) {
        Some(s) => s.name.to_string(),
        None => format!("0x{id:04x}"),
    }
}
