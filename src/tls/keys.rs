//! Key derivation and record protection: TLS 1.3's key schedule (RFC 8446 §7.1, §7.3, §5.2,
//! §5.3, §4.6.3), TLS 1.2's PRF and key block (RFC 5246 §5, §6.3) with AES-GCM (RFC 5288),
//! ChaCha20-Poly1305 (RFC 7905) and AES-CBC with HMAC (RFC 5246 §6.2.3.2, RFC 7366).
//!
//! Every primitive comes from RustCrypto (`aes-gcm`, `chacha20poly1305`, `aes`, `cbc`, `hkdf`,
//! `hmac`, `sha1`, `sha2`); nothing here is hand-written cryptography. Opening a record either
//! authenticates it and returns its plaintext, or returns `None`: bytes that fail authentication
//! never come out as plaintext.

use super::suite::{Cipher, Hash, Mac, Suite};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;

/// HKDF-Expand-Label (RFC 8446 §7.1).
pub fn expand_label(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let full_len = 6 + label.len();
    let mut info = Vec::with_capacity(4 + full_len + context.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(u8::try_from(full_len).ok()?);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(u8::try_from(context.len()).ok()?);
    info.extend_from_slice(context);
    let mut out = vec![0; len];
    match hash {
        Hash::Sha256 => {
            hkdf::Hkdf::<sha2::Sha256>::from_prk(secret).ok()?.expand(&info, &mut out).ok()?
        }
        Hash::Sha384 => {
            hkdf::Hkdf::<sha2::Sha384>::from_prk(secret).ok()?.expand(&info, &mut out).ok()?
        }
    }
    Some(out)
}

/// The TLS 1.2 PRF, P_<hash>(secret, label + seed) (RFC 5246 §5).
pub fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    fn p_hash<M: hmac::Mac + hmac::digest::KeyInit + Clone>(
        secret: &[u8],
        seed: &[u8],
        len: usize,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 64);
        let Ok(base) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else { return out };
        // A(1) = HMAC(secret, seed); A(i) = HMAC(secret, A(i-1)).
        let mut a = base.clone().chain_update(seed).finalize().into_bytes().to_vec();
        while out.len() < len {
            out.extend_from_slice(
                &base.clone().chain_update(&a).chain_update(seed).finalize().into_bytes(),
            );
            a = base.clone().chain_update(&a).finalize().into_bytes().to_vec();
        }
        out.truncate(len);
        out
    }
    let mut full = Vec::with_capacity(label.len() + seed.len());
    full.extend_from_slice(label);
    full.extend_from_slice(seed);
    match hash {
        Hash::Sha256 => p_hash::<hmac::Hmac<sha2::Sha256>>(secret, &full, len),
        Hash::Sha384 => p_hash::<hmac::Hmac<sha2::Sha384>>(secret, &full, len),
    }
}

enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Aead {
    fn new(cipher: Cipher, key: &[u8]) -> Option<Aead> {
        Some(match cipher {
            Cipher::AesGcm { key: 16 } => {
                Aead::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?))
            }
            Cipher::AesGcm { key: 32 } => {
                Aead::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?))
            }
            Cipher::ChaCha20Poly1305 => {
                Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
            _ => return None,
        })
    }

    /// Decrypts `buf` (ciphertext then 16-byte tag) in place; the plaintext is `buf[..len - 16]`.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<usize> {
        let n = buf.len().checked_sub(16)?;
        let (data, tag) = buf.split_at_mut(n);
        let tag = aes_gcm::Tag::from_slice(tag);
        let nonce = aes_gcm::Nonce::from_slice(nonce);
        let ok = match self {
            Aead::Aes128(a) => a.decrypt_in_place_detached(nonce, aad, data, tag),
            Aead::Aes256(a) => a.decrypt_in_place_detached(nonce, aad, data, tag),
            Aead::ChaCha(a) => a.decrypt_in_place_detached(nonce, aad, data, tag),
        };
        ok.ok().map(|()| n)
    }
}

enum Protection {
    /// TLS 1.3 (RFC 8446 §5.2): nonce = iv XOR seq; the content type is inside.
    Tls13 { aead: Aead, iv: [u8; 12] },
    /// TLS 1.2 AES-GCM (RFC 5288 §3): nonce = 4-byte salt + the record's 8-byte explicit part.
    Tls12Gcm { aead: Aead, salt: [u8; 4] },
    /// TLS 1.2 ChaCha20-Poly1305 (RFC 7905 §2): nonce = iv XOR seq.
    Tls12ChaCha { aead: Aead, iv: [u8; 12] },
    /// TLS 1.1/1.2 CBC with an explicit IV per record (RFC 5246 §6.2.3.2), MAC-then-encrypt or
    /// encrypt-then-MAC (RFC 7366).
    Tls12Cbc { key: Vec<u8>, mac: Mac, mac_key: Vec<u8>, etm: bool },
}

/// The keys protecting one direction of a connection, from one key change to the next.
pub struct DirKeys {
    prot: Protection,
    /// TLS 1.3: the traffic secret these keys come from (for KeyUpdate) and its hash.
    secret: Option<(Hash, Vec<u8>)>,
}

impl std::fmt::Debug for DirKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirKeys(..)") // never the keys
    }
}

/// A record's content type and plaintext.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    /// The (inner, for TLS 1.3) content type.
    pub content_type: u8,
    /// The plaintext.
    pub data: Vec<u8>,
}

fn seq_nonce(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv;
    for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    n
}

impl DirKeys {
    /// TLS 1.3 keys from a traffic secret (RFC 8446 §7.3).
    pub fn tls13(suite: Suite, secret: &[u8]) -> Option<DirKeys> {
        let key_len = match suite.cipher {
            Cipher::AesGcm { key } => key,
            Cipher::ChaCha20Poly1305 => 32,
            Cipher::AesCbc { .. } => return None,
        };
        let key = expand_label(suite.hash, secret, b"key", b"", key_len)?;
        let iv: [u8; 12] = expand_label(suite.hash, secret, b"iv", b"", 12)?.try_into().ok()?;
        Some(DirKeys {
            prot: Protection::Tls13 { aead: Aead::new(suite.cipher, &key)?, iv },
            secret: Some((suite.hash, secret.to_vec())),
        })
    }

    /// The keys after a KeyUpdate (RFC 8446 §7.2: the next application traffic secret).
    pub fn updated(&self, suite: Suite) -> Option<DirKeys> {
        let (hash, secret) = self.secret.as_ref()?;
        let next = expand_label(*hash, secret, b"traffic upd", b"", hash.size())?;
        DirKeys::tls13(suite, &next)
    }

    /// TLS 1.2 keys of the client's (`client`) or the server's writes, from the master secret
    /// (RFC 5246 §6.3: key_block = PRF(master, "key expansion", server_random + client_random)).
    pub fn tls12(
        suite: Suite,
        master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        client: bool,
        encrypt_then_mac: bool,
    ) -> Option<DirKeys> {
        let (mac_len, key_len, iv_len) = match suite.cipher {
            Cipher::AesGcm { key } => (0, key, 4),
            Cipher::ChaCha20Poly1305 => (0, 32, 12),
            Cipher::AesCbc { key, mac } => (mac.size(), key, 0),
        };
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(server_random);
        seed[32..].copy_from_slice(client_random);
        let block =
            prf(suite.hash, master, b"key expansion", &seed, 2 * (mac_len + key_len + iv_len));
        // client MAC key, server MAC key, client key, server key, client IV, server IV.
        let pick = |start: usize, len: usize, second: bool| -> Vec<u8> {
            let s = start + if second { len } else { 0 };
            block.get(s..s + len).map(<[u8]>::to_vec).unwrap_or_default()
        };
        let mac_key = pick(0, mac_len, !client);
        let key = pick(2 * mac_len, key_len, !client);
        let iv = pick(2 * (mac_len + key_len), iv_len, !client);
        let prot = match suite.cipher {
            Cipher::AesGcm { .. } => Protection::Tls12Gcm {
                aead: Aead::new(suite.cipher, &key)?,
                salt: iv.try_into().ok()?,
            },
            Cipher::ChaCha20Poly1305 => Protection::Tls12ChaCha {
                aead: Aead::new(suite.cipher, &key)?,
                iv: iv.try_into().ok()?,
            },
            Cipher::AesCbc { mac, .. } => {
                Protection::Tls12Cbc { key, mac, mac_key, etm: encrypt_then_mac }
            }
        };
        Some(DirKeys { prot, secret: None })
    }

    /// Bytes a record of `plain` plaintext bytes takes beyond them on the wire, header included
    /// (without TLS 1.3 padding or CBC padding).
    /// Whether a record's plaintext length follows exactly from its length (not CBC, whose
    /// padding varies).
    pub fn exact_length(&self) -> bool {
        !matches!(self.prot, Protection::Tls12Cbc { .. })
    }

    pub fn overhead(&self) -> usize {
        match &self.prot {
            Protection::Tls13 { .. } => 5 + 1 + 16,
            Protection::Tls12Gcm { .. } => 5 + 8 + 16,
            Protection::Tls12ChaCha { .. } => 5 + 16,
            Protection::Tls12Cbc { mac, .. } => 5 + 16 + mac.size() + 1,
        }
    }

    /// Authenticates and decrypts the record with header `header` and body `body`, sent with
    /// sequence number `seq`. `None`: it does not authenticate under these keys and number.
    pub fn open(&self, seq: u64, header: &[u8; 5], body: &[u8]) -> Option<Opened> {
        match &self.prot {
            Protection::Tls13 { aead, iv } => {
                let mut buf = body.to_vec();
                let n = aead.open(&seq_nonce(iv, seq), header, &mut buf)?;
                buf.truncate(n);
                // TLSInnerPlaintext: content, the real type, zero padding (RFC 8446 §5.2).
                let end = buf.iter().rposition(|b| *b != 0)?;
                let content_type = buf[end];
                buf.truncate(end);
                Some(Opened { content_type, data: buf })
            }
            Protection::Tls12Gcm { aead, salt } => {
                let explicit = body.get(..8)?;
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(explicit);
                let mut buf = body[8..].to_vec();
                let aad = aad12(seq, header, buf.len().checked_sub(16)?);
                let n = aead.open(&nonce, &aad, &mut buf)?;
                buf.truncate(n);
                Some(Opened { content_type: header[0], data: buf })
            }
            Protection::Tls12ChaCha { aead, iv } => {
                let mut buf = body.to_vec();
                let aad = aad12(seq, header, buf.len().checked_sub(16)?);
                let n = aead.open(&seq_nonce(iv, seq), &aad, &mut buf)?;
                buf.truncate(n);
                Some(Opened { content_type: header[0], data: buf })
            }
            Protection::Tls12Cbc { key, mac, mac_key, etm } => {
                open_cbc(key, *mac, mac_key, *etm, seq, header, body)
                    .map(|data| Opened { content_type: header[0], data })
            }
        }
    }
}

#[cfg(test)]
impl Aead {
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) {
        let nonce = aes_gcm::Nonce::from_slice(nonce);
        let tag = match self {
            Aead::Aes128(a) => a.encrypt_in_place_detached(nonce, aad, buf),
            Aead::Aes256(a) => a.encrypt_in_place_detached(nonce, aad, buf),
            Aead::ChaCha(a) => a.encrypt_in_place_detached(nonce, aad, buf),
        };
        buf.extend_from_slice(&tag.unwrap());
    }
}

#[cfg(test)]
impl DirKeys {
    /// A whole record as a peer with these keys sends it (tests only; AEAD suites).
    pub fn seal(&self, seq: u64, content_type: u8, data: &[u8]) -> Vec<u8> {
        match &self.prot {
            Protection::Tls13 { aead, iv } => {
                let mut buf = data.to_vec();
                buf.push(content_type);
                let len = (buf.len() + 16) as u16;
                let header = [23, 3, 3, (len >> 8) as u8, len as u8];
                aead.seal(&seq_nonce(iv, seq), &header, &mut buf);
                [header.to_vec(), buf].concat()
            }
            Protection::Tls12Gcm { aead, salt } => {
                let explicit = seq.wrapping_mul(7).to_be_bytes();
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(&explicit);
                let len = (data.len() + 24) as u16;
                let header = [content_type, 3, 3, (len >> 8) as u8, len as u8];
                let mut buf = data.to_vec();
                aead.seal(&nonce, &aad12(seq, &header, data.len()), &mut buf);
                [header.to_vec(), explicit.to_vec(), buf].concat()
            }
            Protection::Tls12ChaCha { aead, iv } => {
                let len = (data.len() + 16) as u16;
                let header = [content_type, 3, 3, (len >> 8) as u8, len as u8];
                let mut buf = data.to_vec();
                aead.seal(&seq_nonce(iv, seq), &aad12(seq, &header, data.len()), &mut buf);
                [header.to_vec(), buf].concat()
            }
            Protection::Tls12Cbc { .. } => unimplemented!("CBC is sealed by hand in its test"),
        }
    }
}

/// TLS 1.2's additional data: seq_num + type + version + length (RFC 5246 §6.2.3.3).
fn aad12(seq: u64, header: &[u8; 5], len: usize) -> [u8; 13] {
    let mut aad = [0u8; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8..11].copy_from_slice(&header[..3]);
    aad[11..].copy_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    aad
}

fn hmac_of(mac: Mac, key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<M: hmac::Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).ok()?;
        for p in parts {
            m.update(p);
        }
        Some(m.finalize().into_bytes().to_vec())
    }
    match mac {
        Mac::Sha1 => run::<hmac::Hmac<sha1::Sha1>>(key, parts),
        Mac::Sha256 => run::<hmac::Hmac<sha2::Sha256>>(key, parts),
        Mac::Sha384 => run::<hmac::Hmac<sha2::Sha384>>(key, parts),
    }
}

fn open_cbc(
    key: &[u8],
    mac: Mac,
    mac_key: &[u8],
    etm: bool,
    seq: u64,
    header: &[u8; 5],
    body: &[u8],
) -> Option<Vec<u8>> {
    use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::NoPadding};
    let m = mac.size();
    let seq = seq.to_be_bytes();
    let (enc, tag) = if etm { body.split_at(body.len().checked_sub(m)?) } else { (body, &[][..]) };
    if etm {
        // RFC 7366 §3: the MAC covers the IV and ciphertext.
        let len = u16::try_from(enc.len()).ok()?.to_be_bytes();
        if hmac_of(mac, mac_key, &[&seq, &header[..3], &len, enc])? != tag {
            return None;
        }
    }
    if enc.len() < 32 || enc.len() % 16 != 0 {
        return None;
    }
    let (iv, ct) = enc.split_at(16);
    let mut buf = ct.to_vec();
    let plain = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .ok()?
            .len(),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .ok()?
            .len(),
        _ => return None,
    };
    buf.truncate(plain);
    // padding_length bytes, each equal to padding_length, then the length byte itself.
    let pad = usize::from(*buf.last()?);
    let start = buf.len().checked_sub(pad + 1)?;
    if buf[start..].iter().any(|b| usize::from(*b) != pad) {
        return None;
    }
    buf.truncate(start);
    if !etm {
        let content = buf.len().checked_sub(m)?;
        let len = u16::try_from(content).ok()?.to_be_bytes();
        if hmac_of(mac, mac_key, &[&seq, &header[..3], &len, &buf[..content]])? != buf[content..] {
            return None;
        }
        buf.truncate(content);
    }
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::suite;

    fn hx(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    fn split(record: &[u8]) -> ([u8; 5], &[u8]) {
        (record[..5].try_into().unwrap(), &record[5..])
    }

    // RFC 8448 §3 (simple 1-RTT handshake, TLS_AES_128_GCM_SHA256).
    const SERVER_HS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
    const CLIENT_AP: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
    const SERVER_AP: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

    #[test]
    fn rfc8448_traffic_keys() {
        let s = hx(SERVER_HS);
        assert_eq!(
            expand_label(Hash::Sha256, &s, b"key", b"", 16).unwrap(),
            hx("3fce516009c21727d0f2e4e86ee403bc")
        );
        assert_eq!(
            expand_label(Hash::Sha256, &s, b"iv", b"", 12).unwrap(),
            hx("5d313eb2671276ee13000b30")
        );
        let c = hx(CLIENT_AP);
        assert_eq!(
            expand_label(Hash::Sha256, &c, b"key", b"", 16).unwrap(),
            hx("17422dda596ed5d9acd890e3c63f5051")
        );
        assert_eq!(
            expand_label(Hash::Sha256, &c, b"iv", b"", 12).unwrap(),
            hx("5b78923dee08579033e523d9")
        );
        let sa = hx(SERVER_AP);
        assert_eq!(
            expand_label(Hash::Sha256, &sa, b"key", b"", 16).unwrap(),
            hx("9f02283b6c9c07efc26bb9f2ac92e356")
        );
        assert_eq!(
            expand_label(Hash::Sha256, &sa, b"iv", b"", 12).unwrap(),
            hx("cf782b88dd83549aadf1e984")
        );
    }

    #[test]
    fn rfc8448_application_records_open() {
        let suite = suite::find(0x1301).unwrap();
        let payload: Vec<u8> = (0u8..=0x31).collect();
        // {client} send application_data record, sequence 0.
        let client = DirKeys::tls13(suite, &hx(CLIENT_AP)).unwrap();
        let rec = hx(
            "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4",
        );
        let (h, b) = split(&rec);
        assert_eq!(client.open(0, &h, b), Some(Opened { content_type: 23, data: payload.clone() }));
        // The wrong sequence number, or one flipped bit, does not authenticate.
        assert_eq!(client.open(1, &h, b), None);
        let mut bad = rec.clone();
        bad[20] ^= 1;
        let (h2, b2) = split(&bad);
        assert_eq!(client.open(0, &h2, b2), None);
        // {server} application data: its second record (sequence 1, after NewSessionTicket).
        let server = DirKeys::tls13(suite, &hx(SERVER_AP)).unwrap();
        let rec = hx(
            "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d",
        );
        let (h, b) = split(&rec);
        assert_eq!(server.open(1, &h, b), Some(Opened { content_type: 23, data: payload }));
        // {client} close_notify alert, sequence 1.
        let rec = hx("1703030013c9872760655666b74d7ff1153efd6db6d0b0e3");
        let (h, b) = split(&rec);
        assert_eq!(client.open(1, &h, b), Some(Opened { content_type: 21, data: vec![1, 0] }));
    }

    /// RFC 8448 §4 (resumed 0-RTT handshake): the early traffic keys and the client's early
    /// data record, "ABCDEF".
    #[test]
    fn rfc8448_resumed_early_data_record_opens() {
        let early = hx("3fbbe6a60deb66c30a32795aba0eff7eaa10105586e7be5c09678d63b6caab62");
        assert_eq!(
            expand_label(Hash::Sha256, &early, b"key", b"", 16).unwrap(),
            hx("920205a5b7bf2115e6fc5c2942834f54")
        );
        assert_eq!(
            expand_label(Hash::Sha256, &early, b"iv", b"", 12).unwrap(),
            hx("6d475f0993c8e564610db2b9")
        );
        let keys = DirKeys::tls13(suite::find(0x1301).unwrap(), &early).unwrap();
        let rec = hx("1703030017ab1df420e75c457a7cc5d2844f76d5aee4b4edbf049be0");
        let (h, b) = split(&rec);
        assert_eq!(
            keys.open(0, &h, b),
            Some(Opened { content_type: 23, data: b"ABCDEF".to_vec() })
        );
    }

    #[test]
    fn tls12_prf_vector() {
        // The P_SHA256 vector from the IETF TLS WG list (msg03416).
        let out = prf(
            Hash::Sha256,
            &hx("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &hx("a0ba9f936cda311827a6f796ffd5198c"),
            100,
        );
        assert_eq!(
            out,
            hx(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66"
            )
        );
    }

    /// Seals with the same crate the way a TLS 1.2 peer does, and opens with `DirKeys`.
    #[test]
    fn tls12_aead_round_trips() {
        let master = [7u8; 48];
        let (cr, sr) = ([1u8; 32], [2u8; 32]);
        for id in [0xc02f, 0xc030, 0xcca8] {
            let suite = suite::find(id).unwrap();
            let (mac_len, key_len, iv_len) = match suite.cipher {
                Cipher::AesGcm { key } => (0, key, 4),
                _ => (0, 32, 12),
            };
            let mut seed = [0u8; 64];
            seed[..32].copy_from_slice(&sr);
            seed[32..].copy_from_slice(&cr);
            let block =
                prf(suite.hash, &master, b"key expansion", &seed, 2 * (mac_len + key_len + iv_len));
            // The server's write key and IV.
            let key = &block[key_len..2 * key_len];
            let iv = &block[2 * key_len + iv_len..2 * key_len + 2 * iv_len];
            let plain = b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec();
            let seq = 3u64;
            let header = [23u8, 3, 3, 0, 0];
            let aad = aad12(seq, &header, plain.len());
            let mut buf = plain.clone();
            let (nonce, explicit): ([u8; 12], Vec<u8>) = match suite.cipher {
                Cipher::AesGcm { .. } => {
                    let mut n = [0u8; 12];
                    n[..4].copy_from_slice(iv);
                    n[4..].copy_from_slice(&[9u8; 8]);
                    (n, vec![9u8; 8])
                }
                _ => (seq_nonce(iv.try_into().unwrap(), seq), Vec::new()),
            };
            let aead = Aead::new(suite.cipher, key).unwrap();
            let tag = match &aead {
                Aead::Aes128(a) => {
                    a.encrypt_in_place_detached((&nonce).into(), &aad, &mut buf).unwrap()
                }
                Aead::Aes256(a) => {
                    a.encrypt_in_place_detached((&nonce).into(), &aad, &mut buf).unwrap()
                }
                Aead::ChaCha(a) => {
                    a.encrypt_in_place_detached((&nonce).into(), &aad, &mut buf).unwrap()
                }
            };
            let body = [explicit, buf, tag.to_vec()].concat();
            let keys = DirKeys::tls12(suite, &master, &cr, &sr, false, false).unwrap();
            let opened = keys.open(seq, &header, &body).unwrap();
            assert_eq!(opened.data, plain, "suite {id:04x}");
            assert!(keys.open(seq + 1, &header, &body).is_none());
            // The client's keys are not the server's.
            let client = DirKeys::tls12(suite, &master, &cr, &sr, true, false).unwrap();
            assert!(client.open(seq, &header, &body).is_none());
        }
    }

    #[test]
    fn tls12_cbc_round_trips_both_mac_orders() {
        use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
        let master = [5u8; 48];
        let (cr, sr) = ([3u8; 32], [4u8; 32]);
        for etm in [false, true] {
            let suite = suite::find(0xc013).unwrap();
            let mut seed = [0u8; 64];
            seed[..32].copy_from_slice(&sr);
            seed[32..].copy_from_slice(&cr);
            let block = prf(suite.hash, &master, b"key expansion", &seed, 2 * (20 + 16));
            let (mac_key, key) = (&block[..20], &block[40..56]); // the client's
            let seq = 1u64.to_be_bytes();
            let header = [23u8, 3, 3, 0, 0];
            let plain = b"GET / HTTP/1.1\r\n".to_vec();
            let iv = [0x42u8; 16];
            let mut inner = plain.clone();
            if !etm {
                let len = (plain.len() as u16).to_be_bytes();
                inner.extend(
                    hmac_of(Mac::Sha1, mac_key, &[&seq, &header[..3], &len, &plain]).unwrap(),
                );
            }
            let pad = 15 - inner.len() % 16;
            inner.extend(std::iter::repeat_n(pad as u8, pad + 1));
            let n = inner.len();
            cbc::Encryptor::<aes::Aes128>::new_from_slices(key, &iv)
                .unwrap()
                .encrypt_padded_mut::<NoPadding>(&mut inner, n)
                .unwrap();
            let mut body = [iv.to_vec(), inner].concat();
            if etm {
                let len = (body.len() as u16).to_be_bytes();
                body.extend(
                    hmac_of(Mac::Sha1, mac_key, &[&seq, &header[..3], &len, &body]).unwrap(),
                );
            }
            let keys = DirKeys::tls12(suite, &master, &cr, &sr, true, etm).unwrap();
            assert_eq!(keys.open(1, &header, &body).unwrap().data, plain, "etm {etm}");
            assert!(keys.open(2, &header, &body).is_none());
        }
    }

    #[test]
    fn key_update_derives_the_next_secret() {
        let suite = suite::find(0x1301).unwrap();
        let k0 = DirKeys::tls13(suite, &hx(CLIENT_AP)).unwrap();
        let k1 = k0.updated(suite).unwrap();
        let next = expand_label(Hash::Sha256, &hx(CLIENT_AP), b"traffic upd", b"", 32).unwrap();
        assert_eq!(k1.secret.as_ref().unwrap().1, next);
        // A record sealed under the next keys opens with k1, not k0.
        let key = expand_label(Hash::Sha256, &next, b"key", b"", 16).unwrap();
        let iv: [u8; 12] =
            expand_label(Hash::Sha256, &next, b"iv", b"", 12).unwrap().try_into().unwrap();
        let mut buf = b"hi\x17".to_vec();
        let header = [23u8, 3, 3, 0, 19];
        let tag = Aes128Gcm::new_from_slice(&key)
            .unwrap()
            .encrypt_in_place_detached((&seq_nonce(&iv, 0)).into(), &header, &mut buf)
            .unwrap();
        let body = [buf, tag.to_vec()].concat();
        assert_eq!(k1.open(0, &header, &body).unwrap().data, b"hi");
        assert!(k0.open(0, &header, &body).is_none());
    }
}
