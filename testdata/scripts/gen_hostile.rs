//! Writes the hostile corpus (issue 13, `hostile.rs`) to a directory: one `<capture>.pcap` per
//! capture and `cases.txt`, a line per case with the command `tests/hostile.rs` runs on it.
//!
//! ```text
//! cargo run --example gen_hostile -- /tmp/hostile
//! ```
//!
//! The captures are not committed: `cargo test` builds them into a temporary directory. They
//! take about 70 MB; see `docs/hostile.md`.

#[path = "hostile.rs"]
mod hostile;

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args_os().nth(1).context("usage: gen_hostile DIR")?);
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    for c in hostile::captures() {
        let path = dir.join(format!("{}.pcap", c.name));
        let bytes = hostile::build(c);
        std::fs::write(&path, &bytes).with_context(|| path.display().to_string())?;
        println!("{:>12} {}", bytes.len(), path.display());
    }
    let mut list = String::new();
    for case in hostile::CASES {
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| a.replace("{in}", &format!("{}.pcap", case.capture.name)))
            .collect();
        writeln!(list, "{}\twsscope {}\t{}", case.name, args.join(" "), case.attack)?;
    }
    std::fs::write(dir.join("cases.txt"), list)?;
    Ok(())
}
