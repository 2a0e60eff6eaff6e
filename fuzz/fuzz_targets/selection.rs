//! cargo-fuzz target: see `../checks/selection.rs` for what it checks (the stable corpus replay runs the same code).
#![no_main]

#[path = "../checks/selection.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
