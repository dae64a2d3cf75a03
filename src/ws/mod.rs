//! RFC 6455 frames and messages, and RFC 7692 permessage-deflate: a sans-IO decoder fed the
//! byte stream of one direction in pieces of any size.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod close;
pub mod decoder;
pub mod deflate;
pub mod direction;
pub mod encode;
pub mod header;
pub mod mask;
pub mod opcode;
pub mod resync;
pub mod utf8;

pub use header::{FrameHeader, Parsed};
pub use opcode::{CloseCode, CloseCodeClass, OpCode};

#[cfg(test)]
mod direction_tests;
