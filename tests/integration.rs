//! Integration tests, one binary: fixture-driven tests over the captures in `testdata/`.

mod crafted;
mod live;
mod real;
mod util;
