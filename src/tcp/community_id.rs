//! Community ID v1: the flow hash Zeek, Suricata, Wireshark and others log, so one connection
//! can be found in every tool's output (<https://github.com/corelight/community-id-spec>).
//!
//! `1:` followed by the base64 of the SHA-1 of
//! `seed (u16 BE) ‖ addr_lo ‖ addr_hi ‖ protocol (u8) ‖ 0 (u8) ‖ port_lo (u16 BE) ‖ port_hi (u16 BE)`,
//! where `lo` is the endpoint with the smaller (address bytes, port): both directions of a flow
//! get the same value, whichever side is called the client. Pure: no I/O, no allocation.

use serde::{Serialize, Serializer};
use sha1::{Digest, Sha1};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// IANA protocol number of TCP.
const PROTO_TCP: u8 = 6;

/// The spec's version prefix.
const VERSION: &str = "1:";

/// A flow's Community ID (version 1): the SHA-1 digest, shown as `1:<base64>` everywhere
/// (`Display`, JSON).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommunityId([u8; 20]);

impl CommunityId {
    /// The Community ID of the TCP connection between `a` and `b` (in either order) with `seed`
    /// (0 unless the tools being joined were configured otherwise).
    ///
    /// Both endpoints come from one IP header, so they are of one family; a mixed pair is still
    /// hashed (address bytes as they are, compared as byte strings) so the function is total.
    pub fn tcp(a: SocketAddr, b: SocketAddr, seed: u16) -> Self {
        Self::flow(seed, PROTO_TCP, (a.ip(), a.port()), (b.ip(), b.port()))
    }

    /// The ID of a flow of any protocol with ports (TCP, UDP, SCTP).
    fn flow(seed: u16, proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> Self {
        let bytes = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => Octets::V4(v4.octets()),
            IpAddr::V6(v6) => Octets::V6(v6.octets()),
        };
        let (a, b) = ((bytes(a.0), a.1), (bytes(b.0), b.1));
        let (lo, hi) = if (a.0.as_slice(), a.1) <= (b.0.as_slice(), b.1) { (a, b) } else { (b, a) };
        let mut h = Sha1::new();
        h.update(seed.to_be_bytes());
        h.update(lo.0.as_slice());
        h.update(hi.0.as_slice());
        h.update([proto, 0]);
        h.update(lo.1.to_be_bytes());
        h.update(hi.1.to_be_bytes());
        CommunityId(h.finalize().into())
    }
}

/// An address's bytes in network order, on the stack.
enum Octets {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Octets {
    fn as_slice(&self) -> &[u8] {
        match self {
            Octets::V4(b) => b,
            Octets::V6(b) => b,
        }
    }
}

impl fmt::Display for CommunityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine;
        // 20 bytes are 28 base64 characters (one `=` of padding).
        let mut buf = [0u8; 28];
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(self.0, &mut buf)
            .map_err(|_| fmt::Error)?;
        let b64 = buf.get(..n).and_then(|b| std::str::from_utf8(b).ok()).ok_or(fmt::Error)?;
        f.write_str(VERSION)?;
        f.write_str(b64)
    }
}

impl fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommunityId({self})")
    }
}

impl Serialize for CommunityId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for CommunityId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CommunityId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Community ID v1 of the TCP connection (the flow hash of Zeek's and Suricata's community_id), with the seed of --community-id-seed (default 0)",
            "pattern": "^1:[A-Za-z0-9+/]{27}=$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(a: &str, b: &str, seed: u16) -> String {
        CommunityId::tcp(a.parse().unwrap(), b.parse().unwrap(), seed).to_string()
    }

    // Vectors from the spec's baseline (baseline/baseline_deflt.json, baseline_seed1.json).

    #[test]
    fn tcp_ipv4_seed_0_matches_the_spec_baseline() {
        let want = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
        assert_eq!(id("128.232.110.120:34855", "66.35.250.204:80", 0), want);
        assert_eq!(id("66.35.250.204:80", "128.232.110.120:34855", 0), want);
    }

    #[test]
    fn tcp_ipv6_seed_0_matches_the_spec_baseline() {
        let (a, b) =
            ("[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943", "[2607:f8b0:400c:c03::1a]:25");
        assert_eq!(id(a, b, 0), "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=");
        assert_eq!(id(b, a, 0), "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=");
    }

    #[test]
    fn tcp_seed_1_matches_the_spec_baseline() {
        assert_eq!(
            id("128.232.110.120:34855", "66.35.250.204:80", 1),
            "1:3V71V58M3Ksw/yuFALMcW0LAHvc="
        );
        assert_eq!(
            id("[2607:f8b0:400c:c03::1a]:25", "[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943", 1),
            "1:eJYTW6AOzFLlSUoESovMjnu7rMw="
        );
    }

    #[test]
    fn udp_and_sctp_put_the_protocol_number_in_the_hash() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let udp = CommunityId::flow(0, 17, (ip("192.168.1.52"), 54585), (ip("8.8.8.8"), 53));
        assert_eq!(udp.to_string(), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=");
        // Equal ports: the addresses alone order the endpoints.
        let sctp = CommunityId::flow(0, 132, (ip("192.168.170.56"), 7), (ip("192.168.170.8"), 7));
        assert_eq!(sctp.to_string(), "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=");
    }

    #[test]
    fn equal_addresses_are_ordered_by_port() {
        // Loopback: tshark 4.0 (communityid) gives this for testdata/captures/real/bad-accept.pcap.
        let want = "1:xnAIz8LXUtpO/Cty/bemER4Xyr8=";
        assert_eq!(id("127.0.0.1:48058", "127.0.0.1:19014", 0), want);
        assert_eq!(id("127.0.0.1:19014", "127.0.0.1:48058", 0), want);
    }

    #[test]
    fn serialises_as_its_display_string() {
        let c = CommunityId::tcp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap(), 0);
        assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        assert_eq!(c.to_string().len(), 30);
    }
}
