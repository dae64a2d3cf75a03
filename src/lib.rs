//! wsscope: a passive WebSocket protocol analyzer.
//!
//! Module map (the core does no I/O; the edges own libpcap, files and the terminal):
//!
//! | module | role |
//! |---|---|
//! | [`capture`] | edge: pcap/pcapng files, standard input and live interfaces via libpcap |
//! | [`packet`] | core: one packet → one TCP segment view (etherparse), IPv4 defragmentation |
//! | [`tcp`] | core: connection table and per-direction reassembly → ordered bytes, gaps, FIN/RST |
//! | [`limits`] | core: every resource limit with its default |
//! | [`memory`] | core: the global memory budget: one meter, and the steps taken as it fills |
//! | [`time`] | core: packet timestamps, the only clock of the core |
//! | [`http`] | core: HTTP/1.1 upgrade detection, handshake validation (httparse) |
//! | [`ws`] | core: RFC 6455 frames and messages, RFC 7692 permessage-deflate |
//! | [`analyzer`] | core: per-connection sessions; the only producer of [`event::Event`]s; the check catalogue |
//! | [`event`] | core: the one event type every output consumes |
//! | [`sink`] | edge: text, NDJSON, JSON, report, JUnit — formatting only |
//! | [`redact`] | edge: `--redact` — events rewritten for sharing, after the analysis, before any output |
//! | [`policy`] | edge: `report`'s policy: allowed and re-graded checks, CI thresholds |
//! | [`pipeline`], [`run`] | edge: source → stream engine → analyzer → sinks; exit status |
//! | [`streams`] | edge: the `streams` command — per-connection reassembly summary and byte dumps |
//! | [`cli`], [`config`], [`error`] | edge: command line, validated configuration, tool errors |
//! | [`privileges`] | edge: `-Z USER`: give up root (or capabilities) once the capture is open |
//! | [`signals`] | edge: SIGINT, SIGTERM, SIGHUP end a run like the end of its input |
//! | [`outfile`] | edge: every file wsscope writes: never over an input, never through a link, `--force` replaces atomically |
//! | [`term`] | edge: the one escaping function for strings from the input shown on a terminal |
//!
//! No `unwrap`, `expect` or `panic!` outside tests, in any module (the lint below, repeated at
//! the top of each module directory and edge file so that it moves with them): input never
//! panics the tool, and a failure of the system (a thread refused) is an [`error::Error`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod analyzer;
pub mod capture;
pub mod cli;
pub mod config;
pub mod cpu;
pub mod display_filter;
pub mod error;
pub mod event;
pub mod http;
pub mod jsontext;
pub mod keyfile;
pub mod limits;
pub mod memory;
pub mod merge;
pub mod outfile;
pub mod packet;
pub mod pipeline;
pub mod policy;
pub mod privileges;
pub mod redact;
pub mod run;
pub mod shard;
pub mod signals;
pub mod sink;
pub mod streams;
pub mod tcp;
pub mod term;
pub mod time;
pub mod timefmt;
pub mod tls;
pub mod ui;
pub mod ws;
