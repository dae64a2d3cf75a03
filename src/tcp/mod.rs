//! TCP stream reassembly: segments in, per-direction ordered byte streams with explicit gaps out.
//!
//! [`Table`] is the entry point: feed it [`crate::packet::Segment`]s in capture order and it pushes
//! [`StreamEvent`]s into a [`StreamSink`]. See [`stream`] for the guarantees of one direction.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod assembler;
pub mod community_id;
pub mod event;
pub mod flow;
mod history;
pub mod seq;
mod stream;
pub mod table;
mod timers;

pub use community_id::CommunityId;
pub use event::{
    Anomaly, CloseReason, ConnInfo, DirStats, GapReason, PacketRef, StreamEvent, StreamSink,
};
pub use flow::{ConnId, Direction, FlowKey, RoleSource};
pub use history::ReadBack;
pub(crate) use stream::Origin;
pub use table::{SweepClock, Table, TableStats};

#[cfg(test)]
mod tests;
