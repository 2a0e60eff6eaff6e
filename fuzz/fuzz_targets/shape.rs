//! cargo-fuzz target: see `../checks/shape.rs` for what it checks (the stable corpus replay runs the same code).
#![no_main]

#[path = "../checks/shape.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
