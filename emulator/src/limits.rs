//! Memory and CPU limits for function processes, as Lambda applies them, on cgroup v1 or v2.
//!
//! Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB) and kills it at its memory
//! size. Per instance the emulator makes a cgroup under its **own** cgroup in each hierarchy that has the
//! controller (never moving a process out of the cgroup it was started in): `cpu` gets a CFS quota of
//! memory / 1,769 MB of one CPU per 100 ms period (capped by the host's CPUs), `memory` a limit equal to the
//! memory size. A controller is taken from the unified (v2) hierarchy when it is delegated there, else from
//! its v1 hierarchy (`/sys/fs/cgroup/<controller>/`, as on this machine kind). Max Memory Used comes from
//! the cgroup's peak (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`), OOM kills from its counters
//! (`oom_kill` in v1 `memory.oom_control` / v2 `memory.events`). Where neither hierarchy is usable, memory is
//! enforced by polling RSS and CPU is not shaped; [`Limits::describe`] says which was applied, and why.
//!
//! Cgroups are removed when their instance ends, at shutdown, and — for an emulator that crashed — by the
//! next emulator that starts under the same cgroup.

use std::path::{Path, PathBuf};

/// Lambda gives one full vCPU at this memory size; CPU share is proportional below and above it.
pub const MB_PER_VCPU: f64 = 1769.0;

/// The CFS period every instance's quota is given in.
pub const PERIOD_US: u64 = 100_000;

/// Lambda's memory range in MB; sizes outside it are refused.
pub const MEMORY_RANGE_MB: std::ops::RangeInclusive<u32> = 128..=10240;

/// Which cgroup hierarchy a controller lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// A per-controller v1 hierarchy (`/sys/fs/cgroup/<controller>/`).
    V1,
    /// The unified v2 hierarchy.
    V2,
}

impl CgroupVersion {
    /// `v1` or `v2`.
    pub fn name(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        }
    }
}

/// How the memory limit is enforced.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryLimit {
    /// Kernel-enforced through the instance's memory cgroup.
    Cgroup {
        /// The hierarchy it is in.
        version: CgroupVersion,
    },
    /// Enforced by polling `/proc/<pid>/status` VmRSS and killing the process above the limit.
    RssPolling {
        /// Why no cgroup could be used (shown in the banner).
        why_not_cgroup: String,
    },
}

/// How the function's CPU share is shaped.
#[derive(Debug, Clone, PartialEq)]
pub enum CpuLimit {
    /// A CFS quota in the instance's cpu cgroup.
    Cgroup {
        /// The hierarchy it is in.
        version: CgroupVersion,
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

/// One controller the emulator can use: its hierarchy and the emulator's own cgroup directory in it.
#[derive(Debug, Clone)]
struct Controller {
    version: CgroupVersion,
    /// `<mount>/<the emulator's cgroup>/hslambda-<pid>-<n>`: the parent of the instances' cgroups.
    parent: PathBuf,
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
    /// vCPUs the memory size asks for, when that is more than the host has (the quota is capped).
    pub capped_from_vcpus: Option<f64>,
    memory_cg: Option<Controller>,
    cpu_cg: Option<Controller>,
}

/// CPU quota for `memory_mb` per `period_us`: `memory_mb / 1769` of one CPU (at least 1 ms), at most `host_cpus`.
pub fn cpu_quota_us(memory_mb: u32, period_us: u64, host_cpus: usize) -> u64 {
    let vcpus = (f64::from(memory_mb) / MB_PER_VCPU).min(host_cpus as f64);
    (vcpus * period_us as f64).round().max(1000.0) as u64
}

/// A memory size Lambda accepts, or a message saying why not.
pub fn check_memory_mb(memory_mb: u32) -> Result<u32, String> {
    if MEMORY_RANGE_MB.contains(&memory_mb) {
        Ok(memory_mb)
    } else {
        Err(format!(
            "memory size {memory_mb} MB is outside Lambda's range ({}-{} MB)",
            MEMORY_RANGE_MB.start(),
            MEMORY_RANGE_MB.end()
        ))
    }
}

/// A mounted cgroup hierarchy: where, which version, and (v1) which controllers.
struct Mount {
    dir: PathBuf,
    version: CgroupVersion,
    controllers: Vec<String>,
}

fn mounts(mounts_text: &str) -> Vec<Mount> {
    mounts_text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dir, fstype, opts) = (f.get(1)?, f.get(2)?, f.get(3)?);
            let version = match *fstype {
                "cgroup2" => CgroupVersion::V2,
                "cgroup" => CgroupVersion::V1,
                _ => return None,
            };
            let controllers = opts.split(',').map(str::to_string).collect();
            Some(Mount { dir: PathBuf::from(dir), version, controllers })
        })
        .collect()
}

/// The emulator's own cgroup directory for `controller`, and the hierarchy's version: the v2 hierarchy when the
/// controller is enabled for children of our cgroup there, else its v1 hierarchy.
fn own_dir(controller: &str, mounts: &[Mount], self_cgroup: &str) -> Result<(CgroupVersion, PathBuf), String> {
    let mut why = Vec::new();
    if let Some(m) = mounts.iter().find(|m| m.version == CgroupVersion::V2) {
        let rel = self_cgroup.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/");
        let own = m.dir.join(rel.trim_start_matches('/'));
        let enabled = std::fs::read_to_string(own.join("cgroup.subtree_control")).unwrap_or_default();
        if enabled.split_whitespace().any(|c| c == controller) {
            return Ok((CgroupVersion::V2, own));
        }
        why.push(format!("v2: {controller} is not delegated below {}", own.display()));
    }
    let v1 = mounts.iter().find(|m| m.version == CgroupVersion::V1 && m.controllers.iter().any(|c| c == controller));
    match v1 {
        Some(m) => {
            let rel = self_cgroup
                .lines()
                .find_map(|l| {
                    let mut parts = l.splitn(3, ':');
                    let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
                    list.split(',').any(|c| c == controller).then_some(path)
                })
                .ok_or_else(|| format!("v1: this process is in no {controller} cgroup"))?;
            Ok((CgroupVersion::V1, m.dir.join(rel.trim_start_matches('/'))))
        }
        None => {
            why.push(format!("v1: no {controller} hierarchy is mounted"));
            Err(why.join("; "))
        }
    }
}

/// Prepares `<own>/hslambda-<pid>-<n>` (the n-th stack of this process) for one controller, after removing
/// what crashed emulators left there.
fn controller(name: &str, mounts: &[Mount], self_cgroup: &str, n: u64) -> Result<Controller, String> {
    let (version, own) = own_dir(name, mounts, self_cgroup)?;
    remove_stale(&own);
    let parent = own.join(format!("hslambda-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&parent)
        .map_err(|e| format!("{}: {} is not writable: {e}", version.name(), own.display()))?;
    if version == CgroupVersion::V2 {
        if let Err(e) = std::fs::write(parent.join("cgroup.subtree_control"), format!("+{name}")) {
            let _ = std::fs::remove_dir(&parent);
            return Err(format!("v2: cannot enable {name} below {}: {e}", parent.display()));
        }
    }
    Ok(Controller { version, parent })
}

/// Removes `hslambda-<pid>-<n>` cgroups under `own` whose emulator is gone (a crash or SIGKILL skipped cleanup).
fn remove_stale(own: &Path) {
    let Ok(entries) = std::fs::read_dir(own) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix("hslambda-").and_then(|p| p.split('-').next()).and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            remove_tree(&e.path());
        }
    }
}

/// Kills what is left in `dir`'s cgroups (children first) and removes them.
fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    remove_cgroup(dir);
}

/// SIGKILLs every process in cgroup `dir` and removes it once empty (waits up to 2 s for killed processes to leave).
fn remove_cgroup(dir: &Path) {
    for _ in 0..200 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|p| p.trim().parse::<u32>().ok()) {
            crate::signal::sigkill(pid);
        }
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    tracing::warn!("could not remove cgroup {}", dir.display());
}

/// The cgroups of one function instance. Dropping it does not remove them: [`InstanceCgroup::remove`] does,
/// once the process has ended.
#[derive(Debug, Clone)]
pub struct InstanceCgroup {
    memory: Option<(CgroupVersion, PathBuf)>,
    cpu: Option<PathBuf>,
}

impl InstanceCgroup {
    /// The `cgroup.procs` files a new process must join (before it execs `bootstrap`).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.memory.iter().map(|(_, d)| d).chain(&self.cpu).map(|d| d.join("cgroup.procs")).collect()
    }

    /// Whether the kernel limits the instance's memory (else the emulator polls its RSS).
    pub fn limits_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// Peak memory use of the instance's cgroup in bytes (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`).
    pub fn peak_bytes(&self) -> Option<u64> {
        let (version, dir) = self.memory.as_ref()?;
        let file = match version {
            CgroupVersion::V1 => "memory.max_usage_in_bytes",
            CgroupVersion::V2 => "memory.peak",
        };
        std::fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
    }

    /// Whether the kernel OOM-killed a process of this cgroup (`oom_kill` in v1 `memory.oom_control`,
    /// v2 `memory.events`; on kernels without the counter, v1's `under_oom`/failcnt).
    pub fn oom_killed(&self) -> bool {
        let Some((version, dir)) = &self.memory else { return false };
        let file = match version {
            CgroupVersion::V1 => "memory.oom_control",
            CgroupVersion::V2 => "memory.events",
        };
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let counter =
            |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<u64>().ok());
        match counter("oom_kill ") {
            Some(n) => n > 0,
            None => {
                *version == CgroupVersion::V1
                    && std::fs::read_to_string(dir.join("memory.failcnt"))
                        .ok()
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
            }
        }
    }

    /// Kills whatever is still in the instance's cgroups (a process the function forked, say) and removes them.
    pub fn remove(&self) {
        for dir in self.memory.iter().map(|(_, d)| d).chain(&self.cpu) {
            remove_cgroup(dir);
        }
    }
}

impl Limits {
    /// Works out what can be applied on this host: per controller the v2 hierarchy if delegated, else v1.
    pub fn detect(memory_mb: u32) -> Limits {
        let mounts_text = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let self_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let found = mounts(&mounts_text);
        let host_cpus = std::thread::available_parallelism().map_or(1, usize::from);
        static STACKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STACKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let memory_cg = controller("memory", &found, &self_cgroup, n);
        let cpu_cg = controller("cpu", &found, &self_cgroup, n);
        let asked = f64::from(memory_mb) / MB_PER_VCPU;
        let memory = match &memory_cg {
            Ok(c) => MemoryLimit::Cgroup { version: c.version },
            Err(why) => MemoryLimit::RssPolling { why_not_cgroup: why.clone() },
        };
        let cpu = match &cpu_cg {
            Ok(c) => CpuLimit::Cgroup {
                version: c.version,
                quota_us: cpu_quota_us(memory_mb, PERIOD_US, host_cpus),
                period_us: PERIOD_US,
            },
            Err(why) => CpuLimit::NotApplied { why: why.clone() },
        };
        let capped_from_vcpus = (cpu_cg.is_ok() && asked > host_cpus as f64).then_some(asked);
        Limits { memory_mb, memory, cpu, capped_from_vcpus, memory_cg: memory_cg.ok(), cpu_cg: cpu_cg.ok() }
    }

    /// A plan that uses no cgroups (RSS polling only), e.g. for tests.
    pub fn polling_only(memory_mb: u32, why: &str) -> Limits {
        Limits {
            memory_mb,
            memory: MemoryLimit::RssPolling { why_not_cgroup: why.into() },
            cpu: CpuLimit::NotApplied { why: why.into() },
            capped_from_vcpus: None,
            memory_cg: None,
            cpu_cg: None,
        }
    }

    /// One line per limit saying what is applied and, if not, why.
    pub fn describe(&self) -> Vec<String> {
        let mem = match &self.memory {
            MemoryLimit::Cgroup { version } => {
                let file = if *version == CgroupVersion::V1 { "memory.limit_in_bytes" } else { "memory.max" };
                format!("memory limit {} MB: applied (cgroup {} {file})", self.memory_mb, version.name())
            }
            MemoryLimit::RssPolling { why_not_cgroup } => format!(
                "memory limit {} MB: enforced by polling RSS every 10 ms (no cgroup: {why_not_cgroup}); \
                 a process above it is killed → Runtime.OutOfMemory",
                self.memory_mb
            ),
        };
        let cpu = match &self.cpu {
            CpuLimit::Cgroup { version, quota_us, period_us } => {
                let files = if *version == CgroupVersion::V1 {
                    format!("cpu.cfs_quota_us {quota_us}, cpu.cfs_period_us {period_us}")
                } else {
                    format!("cpu.max {quota_us} {period_us}")
                };
                let mut line = format!(
                    "CPU share {:.2} vCPU: applied (cgroup {} {files})",
                    *quota_us as f64 / *period_us as f64,
                    version.name()
                );
                if let Some(asked) = self.capped_from_vcpus {
                    line.push_str(&format!(
                        "; {} MB asks for {asked:.2} vCPUs, more than this host's {:.0}: capped",
                        self.memory_mb,
                        *quota_us as f64 / *period_us as f64
                    ));
                }
                line
            }
            CpuLimit::NotApplied { why } => format!(
                "CPU share {:.2} vCPU (memory/1769 MB): NOT applied, functions run at host speed ({why})",
                f64::from(self.memory_mb) / MB_PER_VCPU
            ),
        };
        vec![mem, cpu]
    }

    /// Whether CPU is shaped in proportion to memory.
    pub fn cpu_shaped(&self) -> bool {
        matches!(self.cpu, CpuLimit::Cgroup { .. })
    }

    /// Whether the emulator must poll RSS itself for every instance.
    pub fn polls_rss(&self) -> bool {
        matches!(self.memory, MemoryLimit::RssPolling { .. })
    }

    /// Creates instance `id`'s cgroups with their limits, ready for a process to join. `Ok(None)` when this plan
    /// uses no cgroups; an error when creating them failed (the caller falls back to RSS polling and says so).
    pub fn instance_cgroup(&self, id: u64) -> Result<Option<InstanceCgroup>, String> {
        if self.memory_cg.is_none() && self.cpu_cg.is_none() {
            return Ok(None);
        }
        let name = format!("fn-{id}");
        let mut cg = InstanceCgroup { memory: None, cpu: None };
        let result = (|| -> std::io::Result<()> {
            if let Some(c) = &self.memory_cg {
                let dir = c.parent.join(&name);
                std::fs::create_dir_all(&dir)?;
                cg.memory = Some((c.version, dir.clone()));
                let bytes = (u64::from(self.memory_mb) * 1024 * 1024).to_string();
                match c.version {
                    CgroupVersion::V1 => {
                        std::fs::write(dir.join("memory.limit_in_bytes"), &bytes)?;
                        // No swap beyond the limit, where the kernel accounts swap at all.
                        let _ = std::fs::write(dir.join("memory.memsw.limit_in_bytes"), &bytes);
                    }
                    CgroupVersion::V2 => {
                        std::fs::write(dir.join("memory.max"), &bytes)?;
                        let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                    }
                }
            }
            if let (Some(c), CpuLimit::Cgroup { quota_us, period_us, .. }) = (&self.cpu_cg, &self.cpu) {
                let dir = c.parent.join(&name);
                std::fs::create_dir_all(&dir)?;
                cg.cpu = Some(dir.clone());
                match c.version {
                    CgroupVersion::V1 => {
                        std::fs::write(dir.join("cpu.cfs_period_us"), period_us.to_string())?;
                        std::fs::write(dir.join("cpu.cfs_quota_us"), quota_us.to_string())?;
                    }
                    CgroupVersion::V2 => std::fs::write(dir.join("cpu.max"), format!("{quota_us} {period_us}"))?,
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(Some(cg)),
            Err(e) => {
                cg.remove();
                Err(format!("creating cgroup {name}: {e}"))
            }
        }
    }

    /// Removes every cgroup this plan created, killing what is still in them.
    pub fn cleanup(&self) {
        for c in self.memory_cg.iter().chain(&self.cpu_cg) {
            remove_tree(&c.parent);
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
    fn cpu_quota_is_proportional_to_memory_and_capped_by_the_host() {
        assert_eq!(cpu_quota_us(1769, 100_000, 2), 100_000);
        assert_eq!(cpu_quota_us(3538, 100_000, 2), 200_000);
        assert_eq!(cpu_quota_us(128, 100_000, 2), 7236);
        assert_eq!(cpu_quota_us(10240, 100_000, 2), 200_000, "6 vCPUs asked, 2 on the host");
        assert_eq!(cpu_quota_us(10240, 100_000, 8), 578_858);
    }

    #[test]
    fn memory_sizes_outside_lambdas_range_are_refused() {
        assert!(check_memory_mb(128).is_ok() && check_memory_mb(10240).is_ok());
        let e = check_memory_mb(64).unwrap_err();
        assert!(e.contains("64 MB") && e.contains("128-10240"), "{e}");
        assert!(check_memory_mb(10241).is_err());
    }

    const V1_MOUNTS: &str = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n\
        cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n\
        cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n\
        cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
    const V1_SELF: &str = "4:memory:/process_api/abc\n1:cpu:/\n0::/\n";

    #[test]
    fn v1_controllers_are_found_under_the_process_own_cgroup() {
        let m = mounts(V1_MOUNTS);
        assert_eq!(m.len(), 3);
        // The unified hierarchy here delegates nothing (its subtree_control is unreadable), so v1 is used.
        let (v, dir) = own_dir("memory", &m, V1_SELF).unwrap();
        assert_eq!((v, dir), (CgroupVersion::V1, PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")));
        let (v, dir) = own_dir("cpu", &m, V1_SELF).unwrap();
        assert_eq!((v, dir), (CgroupVersion::V1, PathBuf::from("/sys/fs/cgroup/cpu")));
        let e = own_dir("pids", &m, V1_SELF).unwrap_err();
        assert!(e.contains("no pids hierarchy"), "{e}");
    }

    #[test]
    fn reads_own_memory() {
        let (rss, peak) = rss_and_peak_kb(std::process::id()).unwrap();
        assert!(rss > 0 && peak >= rss);
    }
}
