//! Signals to function processes: the one place the emulator calls `kill(2)`.

/// Sends SIGKILL to `pid`. Callers pass only function processes: children this process spawned and has not
/// reaped, or processes listed in an instance's own cgroup (what a function forked).
#[allow(unsafe_code)]
pub(crate) fn sigkill(pid: u32) {
    // SAFETY: kill(2) takes no pointers; the worst outcome for a wrong pid is ESRCH, which we ignore.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}
