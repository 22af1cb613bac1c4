//! Replays the fuzz corpus kept in the repo (`fuzz/corpus/<target>/`) through the fuzz targets'
//! own functions, so every `cargo test` checks what the fuzzers found, without cargo-fuzz or a
//! nightly toolchain.

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_targets;

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus")).join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "{target}: the corpus has {} inputs",
        files.len()
    );
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
    }
}

#[test]
fn the_model_string_corpus_holds_its_invariants() {
    replay("model_string", fuzz_targets::model_string);
}

#[test]
fn the_request_body_corpus_holds_its_invariants() {
    replay("prepare_body", fuzz_targets::prepare_body);
}
