//! Memory and CPU limits for function processes, as far as the OS lets the emulator apply them.
//!
//! Preferred: a cgroup v2 per instance under the emulator's own cgroup, with `memory.max` = the
//! function's memory size and `cpu.max` = memory / 1769 MB of one CPU (Lambda's ratio). When the
//! unified hierarchy is not mounted at `/sys/fs/cgroup` or is not writable, memory is enforced by
//! polling the process's RSS (kill → `Runtime.OutOfMemory`) and CPU is not shaped; [`Limits::describe`]
//! says which was applied.

use std::path::{Path, PathBuf};

/// Lambda gives one full vCPU at this memory size; CPU share is proportional below and above it.
pub const MB_PER_VCPU: f64 = 1769.0;

/// How the memory limit is enforced.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryLimit {
    /// Kernel-enforced through a cgroup v2 `memory.max`.
    Cgroup,
    /// Enforced by polling `/proc/<pid>/status` VmRSS and killing the process above the limit.
    RssPolling {
        /// Why no cgroup could be used (shown in the banner).
        why_not_cgroup: String,
    },
}

/// How the function's CPU share is shaped.
#[derive(Debug, Clone, PartialEq)]
pub enum CpuLimit {
    /// `cpu.max` in the instance's cgroup.
    Cgroup {
        /// CPU time the instance may use per period, in microseconds.
        quota_us: u64,
        /// The CFS period, in microseconds.
        period_us: u64,
    },
    /// Not shaped: the function runs at host speed.
    NotApplied {
        /// Why the CPU is not shaped (shown in the banner).
        why: String,
    },
}

/// The limits plan for one stack.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The function's memory size in MB.
    pub memory_mb: u32,
    /// How memory is limited.
    pub memory: MemoryLimit,
    /// How CPU is limited.
    pub cpu: CpuLimit,
    /// Parent cgroup of the instances' cgroups, when cgroups are used.
    parent: Option<PathBuf>,
}

/// CPU quota for `memory_mb` per 100 ms period: `memory_mb / 1769` of one CPU (at least 1 ms).
pub fn cpu_quota_us(memory_mb: u32, period_us: u64) -> u64 {
    ((memory_mb as f64 / MB_PER_VCPU) * period_us as f64).round().max(1000.0) as u64
}

fn own_cgroup() -> Result<PathBuf, String> {
    let root = Path::new("/sys/fs/cgroup");
    if !root.join("cgroup.controllers").exists() {
        return Err("cgroup v2 (unified hierarchy) is not mounted at /sys/fs/cgroup".into());
    }
    let text = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("reading /proc/self/cgroup: {e}"))?;
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| "this process is not in a cgroup v2".to_string())?;
    Ok(root.join(rel.trim_start_matches('/')))
}

fn has_controllers(file: &Path) -> bool {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    ["memory", "cpu"].iter().all(|c| text.split_whitespace().any(|x| x == *c))
}

/// Prepares `<own cgroup>/hslambda-fns-<pid>` with the memory and cpu controllers delegated to its children.
///
/// cgroup v2 only lets a cgroup without processes hand controllers to its children, so when the
/// emulator's own cgroup lacks them in `cgroup.subtree_control`, the emulator first moves itself
/// into a leaf `<own>/hslambda-self` (this only works in a cgroup delegated to the user, e.g. a
/// `systemd-run --user -p Delegate=yes` scope, or as root).
fn try_cgroup_parent() -> Result<PathBuf, String> {
    let own = own_cgroup()?;
    if !has_controllers(&own.join("cgroup.controllers")) {
        return Err(format!("the memory and cpu controllers are not both available in {}", own.display()));
    }
    if !has_controllers(&own.join("cgroup.subtree_control")) {
        let leaf = own.join("hslambda-self");
        std::fs::create_dir_all(&leaf).map_err(|e| format!("{} is not writable: {e}", own.display()))?;
        std::fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())
            .map_err(|e| format!("cannot move the emulator into {}: {e}", leaf.display()))?;
        std::fs::write(own.join("cgroup.subtree_control"), "+memory +cpu")
            .map_err(|e| format!("cannot delegate memory/cpu controllers below {}: {e}", own.display()))?;
    }
    let parent = own.join(format!("hslambda-fns-{}", std::process::id()));
    std::fs::create_dir_all(&parent).map_err(|e| format!("{} is not writable: {e}", own.display()))?;
    if let Err(e) = std::fs::write(parent.join("cgroup.subtree_control"), "+memory +cpu") {
        let _ = std::fs::remove_dir(&parent);
        return Err(format!("cannot delegate memory/cpu controllers below {}: {e}", parent.display()));
    }
    Ok(parent)
}

impl Limits {
    /// Works out what can be applied on this host.
    pub fn detect(memory_mb: u32) -> Limits {
        match try_cgroup_parent() {
            Ok(parent) => Limits {
                memory_mb,
                memory: MemoryLimit::Cgroup,
                cpu: CpuLimit::Cgroup { quota_us: cpu_quota_us(memory_mb, 100_000), period_us: 100_000 },
                parent: Some(parent),
            },
            Err(why) => Limits {
                memory_mb,
                memory: MemoryLimit::RssPolling { why_not_cgroup: why.clone() },
                cpu: CpuLimit::NotApplied { why },
                parent: None,
            },
        }
    }

    /// A plan that uses no cgroups (RSS polling only), e.g. for tests.
    pub fn polling_only(memory_mb: u32, why: &str) -> Limits {
        Limits {
            memory_mb,
            memory: MemoryLimit::RssPolling { why_not_cgroup: why.into() },
            cpu: CpuLimit::NotApplied { why: why.into() },
            parent: None,
        }
    }

    /// One line per limit saying what is applied and, if not, why.
    pub fn describe(&self) -> Vec<String> {
        let mem = match &self.memory {
            MemoryLimit::Cgroup => format!("memory limit {} MB: applied (cgroup v2 memory.max)", self.memory_mb),
            MemoryLimit::RssPolling { why_not_cgroup } => format!(
                "memory limit {} MB: enforced by polling RSS every 10 ms (no cgroup: {why_not_cgroup}); \
                 a process above it is killed → Runtime.OutOfMemory",
                self.memory_mb
            ),
        };
        let cpu = match &self.cpu {
            CpuLimit::Cgroup { quota_us, period_us } => format!(
                "CPU share {:.2} vCPU: applied (cgroup v2 cpu.max {quota_us} {period_us})",
                *quota_us as f64 / *period_us as f64
            ),
            CpuLimit::NotApplied { why } => format!(
                "CPU share {:.2} vCPU (memory/1769 MB): NOT applied, functions run at host speed ({why})",
                self.memory_mb as f64 / MB_PER_VCPU
            ),
        };
        vec![mem, cpu]
    }

    /// Whether the emulator must poll RSS itself.
    pub fn polls_rss(&self) -> bool {
        matches!(self.memory, MemoryLimit::RssPolling { .. })
    }

    /// Puts process `pid` (instance `id`) into its own limited cgroup; returns the cgroup directory.
    pub fn apply(&self, id: u64, pid: u32) -> Option<PathBuf> {
        let parent = self.parent.as_ref()?;
        let dir = parent.join(format!("fn-{id}"));
        let result = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("memory.max"), format!("{}", u64::from(self.memory_mb) * 1024 * 1024))?;
            std::fs::write(dir.join("memory.swap.max"), "0").or(Ok::<(), std::io::Error>(()))?;
            if let CpuLimit::Cgroup { quota_us, period_us } = &self.cpu {
                std::fs::write(dir.join("cpu.max"), format!("{quota_us} {period_us}"))?;
            }
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())
        })();
        match result {
            Ok(()) => Some(dir),
            Err(e) => {
                tracing::warn!("could not put function process {pid} in cgroup {}: {e}", dir.display());
                None
            }
        }
    }

    /// Removes the cgroups this plan created (they must hold no processes any more).
    pub fn cleanup(&self) {
        if let Some(parent) = &self.parent {
            if let Ok(entries) = std::fs::read_dir(parent) {
                for e in entries.flatten() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Reads `VmRSS` and `VmHWM` (kB) of a process from `/proc/<pid>/status`.
pub fn rss_and_peak_kb(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quota_is_proportional_to_memory() {
        assert_eq!(cpu_quota_us(1769, 100_000), 100_000);
        assert_eq!(cpu_quota_us(3538, 100_000), 200_000);
        assert_eq!(cpu_quota_us(128, 100_000), 7236);
    }

    #[test]
    fn reads_own_memory() {
        let (rss, peak) = rss_and_peak_kb(std::process::id()).unwrap();
        assert!(rss > 0 && peak >= rss);
    }
}
