//! cargo-fuzz target: see `../checks/event.rs` for what it checks (the stable corpus replay runs the same code).
#![no_main]

#[path = "../checks/event.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
