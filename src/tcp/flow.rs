//! Connection identity: endpoints, canonical flow keys, connection ids and directions.

use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;

/// Which way bytes travel on a connection.
///
/// The client is the endpoint that sent the SYN; without a SYN it is decided by the heuristics in
/// [`crate::tcp::table`] and reported through [`RoleSource`].
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Bytes sent by the client.
    ClientToServer,
    /// Bytes sent by the server.
    ServerToClient,
}

impl Direction {
    /// Both directions, client to server first.
    pub const BOTH: [Direction; 2] = [Direction::ClientToServer, Direction::ServerToClient];

    /// The other direction.
    pub fn opposite(self) -> Direction {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }

    /// 0 for client-to-server, 1 for server-to-client (for per-direction arrays).
    pub fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }

    /// The snake_case name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client_to_server",
            Direction::ServerToClient => "server_to_client",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection's number: 1 for the first connection seen in a capture, increasing in order of
/// first packet. Stable for a given capture and set of options.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How the engine decided which endpoint is the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleSource {
    /// The client sent a SYN that was captured.
    Syn,
    /// Only the server's SYN-ACK was captured.
    SynAck,
    /// No handshake was captured: the endpoint with the higher (ephemeral-looking) port is taken
    /// as the client, or the sender of the first packet when the ports are equal.
    Guess,
    /// The connection stopped being followed (it sent nothing for longer than
    /// `--idle-timeout`, or was evicted to stay under the memory budget) and was picked up
    /// again without a SYN: roles as before, frames searched for from here on.
    Resumed,
}

/// The two endpoints of a TCP connection in canonical order, so both directions of a
/// connection map to the same key.
///
/// Compact (40 bytes instead of two 32-byte `SocketAddr`s) and hashed as five words: the
/// connection table looks one up for every segment. The order of the endpoints is
/// `SocketAddr`'s (address, then port), which [`FlowKey::shard_hash`] depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// The lower endpoint's address (an IPv4 address as its 32 bits), high half first, then
    /// the higher endpoint's.
    ips: [u64; 4],
    /// The lower endpoint's port, then the higher's.
    ports: [u16; 2],
    v6: bool,
}

impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for w in self.ips {
            state.write_u64(w);
        }
        let tail = u64::from(self.ports[0]) << 32 | u64::from(self.ports[1]) << 16;
        state.write_u64(tail | u64::from(self.v6));
    }
}

/// An endpoint as (address bits, port); IPv4 addresses as their 32 bits.
fn endpoint(a: SocketAddr) -> (u128, u16) {
    let ip = match a {
        SocketAddr::V4(v4) => u128::from(v4.ip().to_bits()),
        SocketAddr::V6(v6) => v6.ip().to_bits(),
    };
    (ip, a.port())
}

impl FlowKey {
    /// The key of the connection carrying a packet from `src` to `dst`.
    pub fn new(src: SocketAddr, dst: SocketAddr) -> Self {
        let (s, d) = (endpoint(src), endpoint(dst));
        // Both endpoints of a packet are of one family, so this is `SocketAddr`'s order.
        let (lo, hi) = if s <= d { (s, d) } else { (d, s) };
        FlowKey {
            ips: [(lo.0 >> 64) as u64, lo.0 as u64, (hi.0 >> 64) as u64, hi.0 as u64],
            ports: [lo.1, hi.1],
            v6: src.is_ipv6(),
        }
    }

    /// A hash of the connection, the same for both directions and on every machine (it does not
    /// depend on a random seed or the platform): which worker (`--threads`) or which share
    /// (`--shard`) analyses the connection.
    pub fn shard_hash(&self) -> u64 {
        let mut h = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..2 {
            for word in [self.ips[2 * i + 1], self.ips[2 * i], u64::from(self.ports[i])] {
                h = mix(h ^ word);
            }
        }
        h
    }
}

/// splitmix64's finaliser: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_hash_is_symmetric_and_fixed() {
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:8080".parse().unwrap();
        assert_eq!(FlowKey::new(a, b).shard_hash(), FlowKey::new(b, a).shard_hash());
        // The same on every machine and run: `--shard` splits an archive across machines.
        assert_eq!(FlowKey::new(a, b).shard_hash(), 0x310b_cfd3_6c7a_dfc2);
        let c: SocketAddr = "10.0.0.2:8081".parse().unwrap();
        assert_ne!(FlowKey::new(a, b).shard_hash(), FlowKey::new(a, c).shard_hash());
    }

    /// The compact key keeps `SocketAddr`'s order of the endpoints, which the shard hash (and
    /// so which share analyses a connection, across versions) depends on.
    #[test]
    fn the_shard_hash_is_that_of_the_endpoints_in_socket_addr_order() {
        fn reference(x: SocketAddr, y: SocketAddr) -> u64 {
            let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
            let mut h = 0x9e37_79b9_7f4a_7c15u64;
            for a in [lo, hi] {
                let (ip, port) = endpoint(a);
                for word in [ip as u64, (ip >> 64) as u64, u64::from(port)] {
                    h = mix(h ^ word);
                }
            }
            h
        }
        let pairs = [
            ("10.0.0.1:40000", "10.0.0.2:8080"),
            ("10.0.0.2:1", "10.0.0.1:65535"),
            ("10.0.0.1:443", "10.0.0.1:80"),
            ("[2001:db8::1]:40000", "[2001:db8::2]:80"),
            ("[2001:db8::2]:1", "[2001:db8::1]:2"),
            ("[::ffff:10.0.0.1]:5", "[::1]:5"),
        ];
        for (x, y) in pairs {
            let (x, y): (SocketAddr, SocketAddr) = (x.parse().unwrap(), y.parse().unwrap());
            assert_eq!(FlowKey::new(x, y).shard_hash(), reference(x, y), "{x} {y}");
            assert_eq!(FlowKey::new(x, y), FlowKey::new(y, x));
        }
        let v4: SocketAddr = "0.0.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        assert_ne!(FlowKey::new(v4, v4), FlowKey::new(v6, v6), "families differ");
        assert!(size_of::<FlowKey>() <= 40);
    }

    #[test]
    fn flow_key_is_the_same_for_both_directions() {
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        assert_eq!(FlowKey::new(a, b), FlowKey::new(b, a));
    }

    #[test]
    fn ipv6_endpoints_use_brackets() {
        // Every output writes endpoints with `SocketAddr`'s Display: `ip:port`, IPv6 in brackets.
        let a: SocketAddr = "[::1]:9001".parse().unwrap();
        assert_eq!(a.to_string(), "[::1]:9001");
    }
}
