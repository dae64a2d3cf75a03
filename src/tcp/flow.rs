//! Connection identity: endpoints, canonical flow keys, connection ids and directions.

use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;

/// Which way bytes travel on a connection.
///
/// The client is the endpoint that sent the SYN; without a SYN it is decided by the heuristics in
/// [`crate::tcp::table`] and reported through [`RoleSource`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema,
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
}

/// The two endpoints of a TCP connection in canonical order, so both directions of a
/// connection map to the same key.
///
/// Invariant: `lo <= hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: SocketAddr,
    hi: SocketAddr,
}

impl FlowKey {
    /// The key of the connection carrying a packet from `src` to `dst`.
    pub fn new(src: SocketAddr, dst: SocketAddr) -> Self {
        if src <= dst { FlowKey { lo: src, hi: dst } } else { FlowKey { lo: dst, hi: src } }
    }

    /// A hash of the connection, the same for both directions and on every machine (it does not
    /// depend on a random seed or the platform): which worker (`--threads`) or which share
    /// (`--shard`) analyses the connection.
    pub fn shard_hash(&self) -> u64 {
        let mut h = 0x9e37_79b9_7f4a_7c15u64;
        for a in [self.lo, self.hi] {
            let ip = match a.ip() {
                std::net::IpAddr::V4(v4) => u128::from(v4.to_bits()),
                std::net::IpAddr::V6(v6) => v6.to_bits(),
            };
            for word in [ip as u64, (ip >> 64) as u64, u64::from(a.port())] {
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
