//! cargo-fuzz target: see `../checks/value.rs` for what it checks (the stable corpus replay runs the same code).
#![no_main]

#[path = "../checks/value.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
