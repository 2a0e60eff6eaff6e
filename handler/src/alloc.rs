//! Allocator settings for processes that move multi-megabyte buffers on every request.
//!
//! glibc serves allocations above its mmap threshold with fresh `mmap`s and gives freed memory at the top of
//! the heap back to the kernel (`M_TRIM_THRESHOLD`). A binary response of 625 KB passes through several such
//! buffers (the bytes, their base64, the JSON payload), so every request paid page faults, page zeroing and
//! `munmap` for each — 13-16 % of the function's and the emulator's CPU in `perf` on a warm
//! `[0:250,0:25,0:25]` read. Keeping freed memory for reuse removes that; it does not raise the peak (memory
//! is reused, not added), it only stops the process from shrinking back between requests, as Lambda never
//! reclaims an instance's memory between invocations anyway.

/// Raises glibc's mmap threshold to its 32 MB maximum and its trim threshold to 256 MB. A no-op elsewhere.
/// The crate's one `unsafe`: a call into libc.
#[allow(unsafe_code)]
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is safe to call at any time, from any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}
