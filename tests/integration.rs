//! Integration tests, one binary: fixture-driven tests over the captures in `testdata/`.

mod capture_loss;
mod ci;
mod cli;
mod crafted;
mod fidelity;
mod field_truth;
#[allow(dead_code)]
#[path = "../testdata/scripts/gen_bulk.rs"]
mod gen_bulk;
mod hostile;
mod json_contract;
mod live;
mod messages;
mod real;
mod redaction;
mod regression;
mod resumed;
mod safety;
mod tls;
mod tshark_diff;
mod tui;
mod util;
