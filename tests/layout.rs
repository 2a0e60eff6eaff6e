//! docs/DESIGN.md's layout lists every Rust module of the four products: this test keeps that list true.

use std::collections::BTreeSet;
use std::path::Path;

/// The `.rs` paths named in DESIGN.md's ```text layout block: a line starting at column 0 with `dir/` opens a
/// directory; an indented line's first word is a file in it.
fn documented() -> BTreeSet<String> {
    let design = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/DESIGN.md")).unwrap();
    let block = design.split("## Layout").nth(1).and_then(|s| s.split("```text\n").nth(1)).expect("layout block");
    let block = block.split("```").next().unwrap();
    let (mut dir, mut out) = (String::new(), BTreeSet::new());
    for line in block.lines() {
        let word = line.split_whitespace().next().unwrap_or("");
        if !line.starts_with(' ') && word.ends_with('/') {
            dir = word.to_string();
        } else if word.ends_with(".rs") {
            out.insert(format!("{dir}{word}"));
        }
    }
    out
}

/// Every `.rs` file under the four products' `src/` directories.
fn on_disk() -> BTreeSet<String> {
    fn walk(root: &Path, rel: &str, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(root.join(rel)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let path = format!("{rel}{name}");
            if root.join(&path).is_dir() {
                walk(root, &format!("{path}/"), out);
            } else if name.ends_with(".rs") {
                out.insert(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = BTreeSet::new();
    for dir in ["src/", "handler/src/", "emulator/src/", "bench/src/"] {
        walk(root, dir, &mut out);
    }
    out
}

#[test]
fn design_layout_lists_every_module() {
    let (doc, disk) = (documented(), on_disk());
    let missing: Vec<_> = disk.difference(&doc).collect();
    let stale: Vec<_> = doc.difference(&disk).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/DESIGN.md's layout is out of date.\nnot in DESIGN.md: {missing:?}\nin DESIGN.md but not on disk: {stale:?}"
    );
}
