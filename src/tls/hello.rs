//! The handshake messages a passive decoder needs: ClientHello, ServerHello (and
//! HelloRetryRequest), EncryptedExtensions, read with `tls-parser`; and a bounded reassembler of
//! handshake messages, which may span records and records may hold several (RFC 8446 §5.1).

use tls_parser::{TlsExtension, TlsMessage, TlsMessageHandshake};

/// What a ClientHello offered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The 32-byte random that names the connection in a key log.
    pub random: [u8; 32],
    /// server_name (SNI), when sent as a host name.
    pub sni: Option<String>,
    /// ALPN protocols offered.
    pub alpn: Vec<String>,
    /// The highest version offered (supported_versions, else the legacy field).
    pub max_version: u16,
    /// early_data (0-RTT) offered.
    pub early_data: bool,
    /// A pre-shared key (TLS 1.3 resumption) or a session ticket offered.
    pub resumption: bool,
    /// The legacy session id (TLS 1.2 resumption by id).
    pub session_id: Vec<u8>,
}

/// What a ServerHello chose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// The server random.
    pub random: [u8; 32],
    /// The negotiated version (supported_versions, else the legacy field).
    pub version: u16,
    /// The chosen cipher suite.
    pub cipher: u16,
    /// ALPN protocol chosen (TLS 1.2; TLS 1.3 sends it in EncryptedExtensions).
    pub alpn: Option<String>,
    /// encrypt_then_mac accepted (RFC 7366).
    pub encrypt_then_mac: bool,
    /// A HelloRetryRequest (RFC 8446 §4.1.3: a ServerHello with a fixed random).
    pub retry: bool,
    /// The server accepted a pre-shared key (TLS 1.3 resumption).
    pub psk: bool,
    /// The legacy session id echoed.
    pub session_id: Vec<u8>,
}

/// The random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

fn text(b: &[u8]) -> String {
    // Names shown to users: printable ASCII only, the rest escaped.
    b.iter().flat_map(|c| std::ascii::escape_default(*c)).map(char::from).collect()
}

fn highest(versions: &[tls_parser::TlsVersion]) -> Option<u16> {
    // GREASE values (0x?a?a) are not versions.
    versions.iter().map(|v| v.0).filter(|v| v & 0x0f0f != 0x0a0a).max()
}

/// Each extension of an extensions block (type, length and data), one by one: tls-parser's list
/// parsers stop at the first extension whose content they cannot read, and would hide every
/// extension after it (OpenSSL's ServerHello puts renegotiation_info first).
fn each_extension(mut block: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_be_bytes([*block.get(2)?, *block.get(3)?]));
        let (ext, rest) = block.split_at_checked(4 + len)?;
        block = rest;
        Some(ext)
    })
}

/// Reads a ClientHello from a whole handshake message (4-byte header included).
pub fn client_hello(msg: &[u8]) -> Option<ClientHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
        tls_parser::parse_tls_message_handshake(msg)
    else {
        return None;
    };
    let mut out = ClientHello {
        random: ch.random.try_into().ok()?,
        max_version: ch.version.0,
        session_id: ch.session_id.unwrap_or_default().to_vec(),
        ..Default::default()
    };
    let exts = each_extension(ch.ext.unwrap_or_default())
        .filter_map(|e| tls_parser::parse_tls_client_hello_extension(e).ok().map(|(_, x)| x));
    for e in exts {
        match e {
            TlsExtension::SNI(names) => {
                out.sni = names.iter().find(|(t, _)| t.0 == 0).map(|(_, n)| text(n));
            }
            TlsExtension::ALPN(list) => out.alpn = list.iter().map(|p| text(p)).collect(),
            TlsExtension::SupportedVersions(v) => {
                if let Some(h) = highest(&v) {
                    out.max_version = h;
                }
            }
            TlsExtension::EarlyData(_) => out.early_data = true,
            TlsExtension::PreSharedKey(_) => out.resumption = true,
            TlsExtension::SessionTicket(t) if !t.is_empty() => out.resumption = true,
            _ => {}
        }
    }
    Some(out)
}

/// Reads a ServerHello (or HelloRetryRequest) from a whole handshake message.
pub fn server_hello(msg: &[u8]) -> Option<ServerHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) =
        tls_parser::parse_tls_message_handshake(msg)
    else {
        return None;
    };
    let random: [u8; 32] = sh.random.try_into().ok()?;
    let mut out = ServerHello {
        random,
        version: sh.version.0,
        cipher: sh.cipher.0,
        retry: random == HRR_RANDOM,
        session_id: sh.session_id.unwrap_or_default().to_vec(),
        ..Default::default()
    };
    let exts = sh.ext.unwrap_or_default();
    // Known by its type alone (tls-parser reads it too, but see `each_extension`).
    out.encrypt_then_mac = each_extension(exts).any(|e| e.starts_with(&[0, 22]));
    let exts = each_extension(exts)
        .filter_map(|e| tls_parser::parse_tls_server_hello_extension(e).ok().map(|(_, x)| x));
    for e in exts {
        match e {
            TlsExtension::SupportedVersions(v) => {
                if let Some(h) = highest(&v) {
                    out.version = h;
                }
            }
            TlsExtension::ALPN(list) => out.alpn = list.first().map(|p| text(p)),
            TlsExtension::EncryptThenMac => out.encrypt_then_mac = true,
            TlsExtension::PreSharedKey(_) => out.psk = true,
            _ => {}
        }
    }
    Some(out)
}

/// The ALPN protocol in an EncryptedExtensions message (TLS 1.3), if any.
pub fn encrypted_extensions_alpn(msg: &[u8]) -> Option<String> {
    // type(1) length(3) extensions_length(2) extensions…
    let body = msg.get(4..)?;
    let len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let exts = body.get(2..2 + len)?;
    each_extension(exts).find_map(|e| match tls_parser::parse_tls_extension(e) {
        Ok((_, TlsExtension::ALPN(l))) => l.first().map(|p| text(p)),
        _ => None,
    })
}

/// Handshake message types this decoder acts on.
pub mod kind {
    /// ClientHello.
    pub const CLIENT_HELLO: u8 = 1;
    /// ServerHello (and HelloRetryRequest).
    pub const SERVER_HELLO: u8 = 2;
    /// NewSessionTicket.
    pub const NEW_SESSION_TICKET: u8 = 4;
    /// EndOfEarlyData.
    pub const END_OF_EARLY_DATA: u8 = 5;
    /// EncryptedExtensions.
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    /// Finished.
    pub const FINISHED: u8 = 20;
    /// KeyUpdate.
    pub const KEY_UPDATE: u8 = 24;
}

/// Reassembles handshake messages from the content of handshake records.
///
/// Invariant: `buf` holds at most `MAX_MESSAGE` bytes plus one record's content; a message
/// declared longer than `MAX_MESSAGE` is skipped (its bytes are dropped as they come).
#[derive(Debug, Default)]
pub struct Messages {
    buf: Vec<u8>,
    /// Bytes still to drop of a message too long to keep.
    skip: usize,
}

/// Longest handshake message kept (certificate chains are skipped past this; the messages read
/// here are far shorter).
pub const MAX_MESSAGE: usize = 64 * 1024;

impl Messages {
    /// Adds a handshake record's content and calls `each` with every complete message (header
    /// included).
    pub fn push(&mut self, mut data: &[u8], each: &mut impl FnMut(&[u8])) {
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        self.buf.extend_from_slice(data);
        let mut at = 0;
        while let Some(h) = self.buf.get(at..at + 4) {
            let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            if len > MAX_MESSAGE {
                let have = self.buf.len() - at - 4;
                if have >= len {
                    at += 4 + len;
                    continue;
                }
                self.skip = len - have;
                at = self.buf.len();
                break;
            }
            let Some(msg) = self.buf.get(at..at + 4 + len) else { break };
            each(msg);
            at += 4 + len;
        }
        self.buf.drain(..at);
    }

    /// Heap bytes held.
    pub fn footprint(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_and_joined_across_records() {
        let m1 = [1u8, 0, 0, 3, 9, 9, 9];
        let m2 = [20u8, 0, 0, 1, 7];
        let all = [m1.as_slice(), &m2].concat();
        for cut in 0..=all.len() {
            let mut r = Messages::default();
            let mut got = Vec::new();
            r.push(&all[..cut], &mut |m| got.push(m.to_vec()));
            r.push(&all[cut..], &mut |m| got.push(m.to_vec()));
            assert_eq!(got, vec![m1.to_vec(), m2.to_vec()], "cut {cut}");
        }
    }

    #[test]
    fn an_oversized_message_is_skipped_not_kept() {
        let mut r = Messages::default();
        let mut got = Vec::new();
        let len = MAX_MESSAGE + 10;
        let mut big = vec![11u8, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        big.extend(vec![0u8; 1000]);
        r.push(&big, &mut |m| got.push(m.to_vec()));
        assert!(r.footprint() < 4096 || r.buf.is_empty());
        r.push(&vec![0u8; len - 1000], &mut |m| got.push(m.to_vec()));
        r.push(&[20, 0, 0, 0], &mut |m| got.push(m.to_vec()));
        assert_eq!(got, vec![vec![20, 0, 0, 0]]);
    }

    /// OpenSSL 3.0's TLS 1.2 ServerHello (from a capture): renegotiation_info first, then
    /// ec_point_formats, session_ticket, encrypt_then_mac, extended_master_secret. Every one is
    /// read, whatever tls-parser makes of the ones before it.
    #[test]
    fn every_server_hello_extension_is_read() {
        let hex = "020000410303a1bb3de0990e142758a55d925a2411e0ad33f39eb15b4756f2fd9c5242850f5800\
                   c009000019ff01000100000b000403000102002300000016000000170000";
        let msg: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let sh = server_hello(&msg).unwrap();
        assert_eq!(sh.cipher, 0xc009);
        assert_eq!(sh.version, 0x0303);
        assert!(sh.encrypt_then_mac);
        assert!(!sh.retry);
    }

    #[test]
    fn reads_a_client_hello() {
        // A minimal TLS 1.3 ClientHello: SNI example.com, ALPN http/1.1, supported_versions 1.3.
        let mut ext = Vec::new();
        let host = b"example.com";
        let sni_list = [&[0u8][..], &(host.len() as u16).to_be_bytes(), host].concat();
        ext.extend([0, 0]);
        ext.extend(((sni_list.len() + 2) as u16).to_be_bytes());
        ext.extend((sni_list.len() as u16).to_be_bytes());
        ext.extend(&sni_list);
        let alpn = [&[8u8][..], b"http/1.1"].concat();
        ext.extend([0, 16]);
        ext.extend(((alpn.len() + 2) as u16).to_be_bytes());
        ext.extend((alpn.len() as u16).to_be_bytes());
        ext.extend(&alpn);
        ext.extend([0, 43, 0, 5, 4, 0x7a, 0x7a, 3, 4]);
        let mut body = vec![3, 3];
        body.extend([0x11; 32]);
        body.push(0); // session id
        body.extend([0, 2, 0x13, 0x01]);
        body.extend([1, 0]);
        body.extend((ext.len() as u16).to_be_bytes());
        body.extend(&ext);
        let msg = [&[1u8, 0, (body.len() >> 8) as u8, body.len() as u8][..], &body].concat();
        let ch = client_hello(&msg).unwrap();
        assert_eq!(ch.random, [0x11; 32]);
        assert_eq!(ch.sni.as_deref(), Some("example.com"));
        assert_eq!(ch.alpn, vec!["http/1.1"]);
        assert_eq!(ch.max_version, 0x0304);
        assert!(server_hello(&msg).is_none());
    }
}
