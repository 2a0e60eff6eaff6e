//! The cargo-fuzz targets' committed corpus (`fuzz/corpus/<target>/`) replayed on stable Rust through the very
//! checks the targets run (`fuzz/checks/<target>.rs`, which each `fuzz/fuzz_targets/<target>.rs` wraps), so
//! CI exercises every committed corpus file and every fuzz entry point without nightly or libFuzzer. A file added to a
//! corpus (a seed, or a minimised crash after its fix) is replayed from then on.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/checks/codec.rs"]
mod codec;
#[path = "../../fuzz/checks/datatype.rs"]
mod datatype;
#[path = "../../fuzz/checks/event.rs"]
mod event;
#[path = "../../fuzz/checks/selection.rs"]
mod selection;
#[path = "../../fuzz/checks/shape.rs"]
mod shape;
#[path = "../../fuzz/checks/value.rs"]
mod value;

/// A fuzz target's check: runs one input, panics on a finding.
type Check = fn(&[u8]);

/// Each replayed target and its check.
const TARGETS: [(&str, Check); 6] = [
    ("codec", codec::check),
    ("datatype", datatype::check),
    ("event", event::check),
    ("selection", selection::check),
    ("shape", shape::check),
    ("value", value::check),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The file names (sorted, without `.rs`) in `fuzz/<dir>`.
fn names(dir: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(fuzz_dir().join(dir))
        .unwrap_or_else(|e| panic!("fuzz/{dir}: {e}"))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .map(|n| n.trim_end_matches(".rs").to_string())
        .collect();
    out.sort();
    out
}

/// Feeds every committed file of `fuzz/corpus/<target>/` to `check` (`seed-*`: fuzz/.gitignore keeps the rest
/// of a local fuzzing run's corpus out of git, and out of this replay); returns how many there were.
fn replay(target: &str, check: Check) -> usize {
    let files: Vec<String> =
        names(&format!("corpus/{target}")).into_iter().filter(|f| f.starts_with("seed-")).collect();
    assert!(!files.is_empty(), "fuzz/corpus/{target}/ is empty: commit its seeds");
    for file in &files {
        let path = fuzz_dir().join("corpus").join(target).join(file);
        let data = std::fs::read(&path).unwrap();
        // A failing file names itself before the check's own panic message.
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "fuzz/corpus/{target}/{file} fails the {target} check (message above)");
    }
    files.len()
}

#[test]
fn every_fuzz_target_and_corpus_is_replayed() {
    let replayed: Vec<String> = TARGETS.iter().map(|(t, _)| t.to_string()).collect();
    assert_eq!(names("fuzz_targets"), replayed, "a fuzz target without a replay here (or the reverse)");
    assert_eq!(names("corpus"), replayed, "a corpus directory without a replay here (or the reverse)");
}

#[test]
fn committed_corpus_passes_every_check() {
    for (target, check) in TARGETS {
        let n = replay(target, check);
        eprintln!("fuzz/corpus/{target}: {n} files replayed");
    }
}
