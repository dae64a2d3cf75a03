//! Integration tests, one binary: fixture-driven tests over the captures in `testdata/`.

mod cli;
mod crafted;
mod live;
mod messages;
mod real;
mod util;
