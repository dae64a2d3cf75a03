//! The analyzer: per-connection WebSocket sessions on top of the stream engine.

pub mod checks;
