//! Replays `corpus/pipeline_large/*` and `regressions/pipeline_large/*` through
//! `wsscope_fuzz::pipeline_large::run` with the counting allocator installed, one input at a
//! time (the counters are process-wide, so this binary holds nothing else that runs at once),
//! and shows that the memory and time bounds can fail.
//!
//! ```sh
//! cargo test --manifest-path fuzz/Cargo.toml --test large
//! ```

use std::path::Path;
use wsscope_fuzz::alloc_count::Counting;
use wsscope_fuzz::pipeline_large::{self, MAX_CAPTURE, MEM_FIXED, MEM_PER_BYTE};

#[global_allocator]
static ALLOC: Counting = Counting;

/// One test, so nothing else allocates while an input is measured.
#[test]
fn corpus_and_bounds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = ["corpus", "regressions"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d).join("pipeline_large")).ok())
        .flatten()
        .map(|e| e.expect("a readable directory").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no committed input for pipeline_large");
    let mut largest = 0;
    for path in &files {
        let data = std::fs::read(path).expect("readable input");
        let name = path.file_name().expect("a file").to_string_lossy();
        match std::panic::catch_unwind(|| pipeline_large::run_measured(&data)) {
            Ok(Ok((n, peak, t))) => {
                eprintln!(
                    "{name}: {n} bytes, peak heap {peak} ({:.2}/byte), {t:?}",
                    peak as f64 / n.max(1) as f64
                );
                largest = largest.max(n);
            }
            Ok(Err(bound)) => panic!("pipeline_large: {}: {bound}", path.display()),
            Err(_) => panic!("pipeline_large: {} panicked", path.display()),
        }
    }
    // The corpus reaches the sizes the target is for.
    assert!(largest >= MAX_CAPTURE / 2, "largest capture built: {largest} bytes");

    // The bounds are real: a run holding more than they allow, or taking longer, fails them.
    let n = 1 << 20;
    let hog = || {
        let v = vec![1u8; MEM_PER_BYTE * n + MEM_FIXED + 1];
        std::hint::black_box(&v);
    };
    let err = pipeline_large::measured(n, hog).expect_err("over the memory bound");
    assert!(err.starts_with("peak heap"), "{err}");
    let fits = || {
        let v = vec![1u8; MEM_PER_BYTE * n];
        std::hint::black_box(&v);
    };
    pipeline_large::measured(n, fits).expect("within the memory bound");
    let slow = || {
        let v = vec![1u8; 64];
        std::thread::sleep(pipeline_large::TIME_FIXED + std::time::Duration::from_millis(50));
        std::hint::black_box(&v);
    };
    let err = pipeline_large::measured(0, slow).expect_err("over the time bound");
    assert!(err.contains("bound"), "{err}");
}
