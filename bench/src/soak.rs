//! `hslambda soak`: mixed reads, writes and deletes from concurrent clients while the emulator's S3 injects
//! faults (503 SlowDown, 500 InternalError, latency spikes, dropped connections, writes applied then
//! failed) and the emulator kills function instances at random points of their invocations, then a
//! verification pass with the faults and kills off. Every acknowledged write must be intact, every
//! acknowledged delete done, every object's JSON must parse, every chunk must decode, every hard link must
//! lead to a readable group or be answered 404 as HSDS answers a dangling link, no link or attribute may
//! be listed twice, and every request must have ended in a success or a clean 5xx (a JSON error body) —
//! never a hang, a 4xx the client did not cause, or a malformed answer.
//!
//! The bookkeeping is exact: each client owns a region of the dataset's elements, so for every element
//! the soak knows the value of the last acknowledged write and the values of later writes that failed
//! (a failed write may or may not have landed; a multi-chunk write that failed may have landed in part).
//! The final value must be one of those. Links, groups and attributes that were acknowledged must exist
//! with the acknowledged content. Reads during the soak are checked against the same model.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_emulator::faults::{FaultCounts, FaultRule};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::report::{verdict, Latency};
use crate::rest_client::{Reply, RestClient};
use crate::stack::{BenchStack, BENCH_PASSWORD, BENCH_USER};

/// Elements of the dataset each client owns (not a multiple of [`CHUNK`], so neighbours share chunks).
const REGION: usize = 100;
/// Chunk length of the soak dataset: small, so writes straddle chunks.
const CHUNK: usize = 8;
/// Longest slab one write sets.
const MAX_SLAB: usize = 12;
/// Groups the clients add links, attributes and sub-groups to (shared, so clients contend on them).
const SHARED_GROUPS: usize = 4;

/// How hard and how long to soak.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Concurrent clients (also the function's concurrency).
    pub clients: usize,
    /// How long the faulty phase runs.
    pub duration: Duration,
    /// Fault tables applied in turn, each for `phase`; one table means a fixed fault set.
    pub phases: Vec<Vec<FaultRule>>,
    /// How long each fault table stays in force.
    pub phase: Duration,
    /// Function memory in MB.
    pub memory_mb: u32,
    /// Function timeout (the deadline the handler's S3 retries must fit in).
    pub timeout: Duration,
    /// Seed of the clients' random choices, of the S3 fault dice and of the instance killer's dice.
    pub seed: u64,
    /// Fraction (0..=1) of invocations whose instance is killed at a random point while it runs.
    pub kill_rate: f64,
}

impl SoakOptions {
    /// The default instance kill rate: 2 % of invocations killed at a random point.
    pub const DEFAULT_KILL_RATE: f64 = 0.02;

    /// The default fault phases: 5 % SlowDown, then 5 % InternalError, each with 2 % dropped connections,
    /// 2 % latency spikes of 400 ms and 2 % ambiguous writes (applied, then failed), on every key.
    pub fn default_phases() -> Vec<Vec<FaultRule>> {
        [503, 500]
            .into_iter()
            .map(|status| {
                vec![FaultRule {
                    latency_ms: 400,
                    latency_rate: 0.02,
                    error_rate: 0.05,
                    status,
                    drop_rate: 0.02,
                    after_rate: 0.02,
                    ..FaultRule::default()
                }]
            })
            .collect()
    }
}

/// What a soak did and found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SoakReport {
    /// Requests sent during the faulty phase.
    pub requests: u64,
    /// Requests answered 2xx.
    pub ok: u64,
    /// Non-2xx answers by status (5xx are clean errors; anything else is a failure).
    pub errors_by_status: BTreeMap<u16, u64>,
    /// Answers whose body was not the JSON expected (success or error).
    pub malformed: u64,
    /// Requests with no answer within the client timeout.
    pub hung: u64,
    /// Requests whose connection failed (no HTTP answer at all).
    pub transport_errors: u64,
    /// Faults the S3 server injected.
    pub faults: FaultCounts,
    /// Function instances killed (SIGKILL) in the middle of an invocation.
    pub kills: u64,
    /// Writes acknowledged (2xx).
    pub acknowledged_writes: u64,
    /// Acknowledged writes (and deletes) not found intact by the verification pass.
    pub lost_writes: u64,
    /// Objects whose JSON does not parse, chunks that do not decode, hard links whose target answers
    /// neither 200 nor HSDS's 404 for a dangling link.
    pub unreadable: u64,
    /// Links or attributes listed more than once under the same name (a write applied twice).
    pub duplicates: u64,
    /// Successful reads during the soak that contradicted the acknowledged state.
    pub bad_reads: u64,
    /// Up to ten examples of what went wrong.
    pub problems: Vec<String>,
    /// Latency of all requests in the faulty phase.
    pub latency: Latency,
    /// Wall time of the faulty phase in seconds.
    pub seconds: f64,
}

impl SoakReport {
    /// Requests that ended in neither success nor a clean 5xx.
    pub fn unclean(&self) -> u64 {
        let not_5xx: u64 = self.errors_by_status.iter().filter(|(s, _)| !(500..600).contains(*s)).map(|(_, n)| n).sum();
        not_5xx + self.malformed + self.hung + self.transport_errors
    }

    /// True when nothing was lost, unreadable, duplicated or read wrong, and every request ended cleanly.
    pub fn passed(&self) -> bool {
        self.lost_writes == 0
            && self.unreadable == 0
            && self.duplicates == 0
            && self.bad_reads == 0
            && self.unclean() == 0
    }

    /// The report for the terminal.
    pub fn format(&self) -> String {
        let errors: Vec<String> = self.errors_by_status.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        let f = &self.faults;
        let mut s = format!(
            "requests        {} in {:.1} s ({:.0}/s), ok {}\n\
             errors          {}\n\
             unclean         {} (malformed {}, hung {}, no answer {})\n\
             faults injected {} (503 SlowDown {}, 500 InternalError {}, dropped connections {}, latency spikes {}, \
             writes applied then failed {})\n\
             instance kills  {}\n\
             writes          {} acknowledged, LOST {}, unreadable {}, duplicates {}\n\
             reads           {} contradicted acknowledged writes\n\
             {}",
            self.requests,
            self.seconds,
            self.requests as f64 / self.seconds.max(1e-9),
            self.ok,
            if errors.is_empty() { "none".to_string() } else { errors.join(", ") },
            self.unclean(),
            self.malformed,
            self.hung,
            self.transport_errors,
            f.total(),
            f.slow_down_503,
            f.internal_500,
            f.dropped,
            f.delayed,
            f.applied_then_failed,
            self.kills,
            self.acknowledged_writes,
            self.lost_writes,
            self.unreadable,
            self.duplicates,
            self.bad_reads,
            self.latency.line(),
        );
        s += &verdict(&self.problems, self.passed());
        s
    }
}

/// Is `reply` a well-formed answer: JSON for successes and errors alike?
fn well_formed(r: &Reply) -> bool {
    r.json.is_object() || (r.ok() && r.bytes.is_empty())
}

/// The shared objects of one soak.
struct Target {
    client: RestClient,
    dataset: String,
    groups: Vec<String>,
}

/// Acknowledged state of one element: the last acknowledged value and the values of later failed writes.
#[derive(Debug, Clone, Default)]
struct Cell {
    acked: Option<i32>,
    maybe: Vec<i32>,
}

impl Cell {
    fn allows(&self, v: i64) -> bool {
        let fill_ok = self.acked.is_none() && v == 0;
        fill_ok || self.acked.map(i64::from) == Some(v) || self.maybe.iter().any(|m| i64::from(*m) == v)
    }
}

/// An acknowledged metadata write (or, for `Gone`, an acknowledged delete).
#[derive(Debug, Clone)]
enum Meta {
    /// A link or attribute `name` of group `group` whose delete was acknowledged.
    Gone { group: usize, name: String, attribute: bool },
    /// A soft link `name` in group `group`.
    Link { group: usize, name: String },
    /// A new group linked as `name` in group `group`, with this id.
    Group { group: usize, name: String, id: String },
    /// An int attribute on group `group`.
    Attr { group: usize, name: String, value: i64 },
}

/// What one client did.
#[derive(Default)]
struct ClientLog {
    report: SoakReport,
    latencies: Vec<Duration>,
    cells: Vec<Cell>,
    meta: Vec<Meta>,
}

impl ClientLog {
    fn problem(&mut self, p: String) {
        if self.report.problems.len() < 10 {
            self.report.problems.push(p);
        }
    }

    /// Counts one request; true when it was acknowledged (2xx, well formed).
    fn record(&mut self, what: &str, reply: &anyhow::Result<Reply>) -> bool {
        self.report.requests += 1;
        match reply {
            Ok(r) => {
                self.latencies.push(r.elapsed);
                if !well_formed(r) {
                    self.report.malformed += 1;
                    let body = String::from_utf8_lossy(&r.bytes[..r.bytes.len().min(120)]).into_owned();
                    self.problem(format!("{what}: malformed {} answer {body:?}", r.status));
                    return false;
                }
                if r.ok() {
                    self.report.ok += 1;
                    return true;
                }
                *self.report.errors_by_status.entry(r.status).or_default() += 1;
                if r.status < 500 {
                    self.problem(format!("{what}: {} {}", r.status, r.json));
                }
                false
            }
            Err(e) => {
                let timed_out = e.downcast_ref::<reqwest::Error>().is_some_and(|e| e.is_timeout());
                if timed_out {
                    self.report.hung += 1;
                } else {
                    self.report.transport_errors += 1;
                }
                self.problem(format!("{what}: no answer: {e:#}"));
                false
            }
        }
    }
}

async fn setup(client: &RestClient, clients: usize) -> anyhow::Result<Target> {
    let root = client.create_domain().await?;
    let spec = json!({"type": "H5T_STD_I32LE", "shape": [clients * REGION],
        "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [CHUNK]},
            "filters": [{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]}});
    let dataset = client.create_dataset(&root, "elements", spec).await?;
    let mut groups = Vec::new();
    for g in 0..SHARED_GROUPS {
        let r = client.post("/groups", &[], json!({"link": {"id": root, "name": format!("shared{g}")}})).await?;
        anyhow::ensure!(r.status == 201, "creating group shared{g} failed: {} {}", r.status, r.json);
        groups.push(r.json["id"].as_str().unwrap_or_default().to_string());
    }
    Ok(Target { client: client.clone(), dataset, groups })
}

/// One client's loop until `until`: a random mix of chunk writes, metadata writes and checked reads.
async fn run_client(t: Arc<Target>, me: usize, until: Instant, seed: u64) -> ClientLog {
    let mut rng = StdRng::seed_from_u64(seed ^ (me as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut log = ClientLog { cells: vec![Cell::default(); REGION], ..Default::default() };
    let c = &t.client;
    let base = me * REGION;
    let value_path = format!("/datasets/{}/value", t.dataset);
    let mut n: i32 = 0;
    while Instant::now() < until {
        n += 1;
        let g = rng.random_range(0..t.groups.len());
        let gid = &t.groups[g];
        match rng.random_range(0..100) {
            0..30 => {
                let start = rng.random_range(0..REGION);
                let len = rng.random_range(1..=MAX_SLAB).min(REGION - start);
                let values: Vec<i32> = (0..len).map(|j| n * 16 + j as i32 + 1).collect();
                let sel = format!("[{}:{}]", base + start, base + start + len);
                let reply = c.put(&value_path, &[("select", sel)], json!({ "value": values })).await;
                let acked = log.record("write values", &reply);
                for (j, v) in values.iter().enumerate() {
                    let cell = &mut log.cells[start + j];
                    if acked {
                        *cell = Cell { acked: Some(*v), maybe: Vec::new() };
                    } else {
                        cell.maybe.push(*v);
                    }
                }
                log.report.acknowledged_writes += u64::from(acked);
            }
            30..40 => {
                let name = format!("c{me}_g{n}");
                let reply = c.post("/groups", &[], json!({"link": {"id": gid, "name": name}})).await;
                if log.record("create group", &reply) {
                    let id = reply.as_ref().map(|r| r.json["id"].as_str().unwrap_or_default().to_string());
                    log.meta.push(Meta::Group { group: g, name, id: id.unwrap_or_default() });
                    log.report.acknowledged_writes += 1;
                }
            }
            40..55 => {
                let name = format!("c{me}_a{n}");
                let body = json!({"type": "H5T_STD_I64LE", "value": n});
                let reply = c.put(&format!("/groups/{gid}/attributes/{name}"), &[], body).await;
                if log.record("put attribute", &reply) {
                    log.meta.push(Meta::Attr { group: g, name, value: i64::from(n) });
                    log.report.acknowledged_writes += 1;
                }
            }
            55..65 => {
                let name = format!("c{me}_l{n}");
                let reply = c.put(&format!("/groups/{gid}/links/{name}"), &[], json!({"h5path": "/elsewhere"})).await;
                if log.record("put link", &reply) {
                    log.meta.push(Meta::Link { group: g, name });
                    log.report.acknowledged_writes += 1;
                }
            }
            85..92 => {
                // Delete one of this client's acknowledged links or attributes.
                let mine: Vec<usize> = (0..log.meta.len())
                    .filter(|i| matches!(log.meta[*i], Meta::Link { .. } | Meta::Attr { .. }))
                    .collect();
                let Some(&i) = mine.get(rng.random_range(0..mine.len().max(1))) else { continue };
                let (group, name, attribute) = match log.meta.swap_remove(i) {
                    Meta::Attr { group, name, .. } => (group, name, true),
                    Meta::Link { group, name } => (group, name, false),
                    _ => unreachable!("only links and attributes are picked"),
                };
                let kind = if attribute { "attributes" } else { "links" };
                let reply = c.delete(&format!("/groups/{}/{kind}/{name}", t.groups[group]), &[]).await;
                // An unacknowledged delete may or may not have happened: the name is no longer checked.
                if log.record("delete", &reply) {
                    log.meta.push(Meta::Gone { group, name, attribute });
                    log.report.acknowledged_writes += 1;
                }
            }
            65..85 => {
                let start = rng.random_range(0..REGION);
                let len = rng.random_range(1..=MAX_SLAB * 2).min(REGION - start);
                let sel = format!("[{}:{}]", base + start, base + start + len);
                let reply = c.get(&value_path, &[("select", sel.clone())]).await;
                if log.record("read values", &reply) {
                    let got = reply.as_ref().map(|r| r.json["value"].clone()).unwrap_or_default();
                    let bad = match got.as_array().filter(|a| a.len() == len) {
                        None => Some(format!("read {sel}: expected {len} values, got {got}")),
                        Some(vals) => vals.iter().enumerate().find_map(|(j, v)| {
                            let v = v.as_i64().unwrap_or(i64::MIN);
                            (!log.cells[start + j].allows(v)).then(|| {
                                format!(
                                    "read {sel}: element {} is {v}, state {:?}",
                                    base + start + j,
                                    log.cells[start + j]
                                )
                            })
                        }),
                    };
                    if let Some(p) = bad {
                        log.report.bad_reads += 1;
                        log.problem(p);
                    }
                }
            }
            _ => {
                let reply = match rng.random_range(0..3) {
                    0 => c.get(&format!("/groups/{gid}"), &[]).await,
                    1 => c.get(&format!("/groups/{gid}/links"), &[("Limit", "50".into())]).await,
                    _ => c.get("/", &[]).await,
                };
                log.record("read metadata", &reply);
            }
        }
    }
    log
}

/// Names (and ids / values) the final state shows in one group: links and attributes, and the names
/// listed more than once.
struct GroupState {
    links: BTreeMap<String, Value>,
    attrs: BTreeMap<String, Value>,
    duplicates: Vec<String>,
}

async fn group_state(c: &RestClient, gid: &str) -> anyhow::Result<GroupState> {
    let links = c.get(&format!("/groups/{gid}/links"), &[]).await?;
    let attrs = c.get(&format!("/groups/{gid}/attributes"), &[("IncludeData", "1".into())]).await?;
    anyhow::ensure!(
        links.ok() && attrs.ok(),
        "reading group {gid}: {} {} / {} {}",
        links.status,
        links.json,
        attrs.status,
        attrs.json
    );
    let mut duplicates = Vec::new();
    let mut by = |v: &Value, list: &str, key: &str| -> BTreeMap<String, Value> {
        let mut named = BTreeMap::new();
        for e in v[list].as_array().into_iter().flatten() {
            let name = e[key].as_str().unwrap_or_default().to_string();
            if named.insert(name.clone(), e.clone()).is_some() {
                duplicates.push(format!("{list} of group {gid}: {name} listed twice"));
            }
        }
        named
    };
    let (links, attrs) = (by(&links.json, "links", "title"), by(&attrs.json, "attributes", "name"));
    Ok(GroupState { links, attrs, duplicates })
}

/// The dataset's values, chunk by chunk when reading them all at once fails: `None` for the elements of a
/// chunk that does not read back, and what went wrong with each such chunk.
async fn read_values(c: &RestClient, path: &str, total: usize) -> anyhow::Result<(Vec<Option<i64>>, Vec<String>)> {
    let read = |start: usize, end: usize| async move {
        let r = c.get(path, &[("select", format!("[{start}:{end}]"))]).await?;
        let vals = r.json["value"].as_array().filter(|a| r.ok() && a.len() == end - start);
        let vals = vals.map(|a| a.iter().map(Value::as_i64).collect::<Vec<_>>());
        anyhow::Ok(vals.ok_or_else(|| format!("elements [{start}:{end}] read {} {}", r.status, r.json)))
    };
    if let Ok(all) = read(0, total).await? {
        return Ok((all, Vec::new()));
    }
    let (mut vals, mut bad) = (Vec::with_capacity(total), Vec::new());
    for start in (0..total).step_by(CHUNK) {
        let end = (start + CHUNK).min(total);
        match read(start, end).await? {
            Ok(chunk) => vals.extend(chunk),
            Err(problem) => {
                bad.push(problem);
                vals.extend(std::iter::repeat_n(None, end - start));
            }
        }
    }
    Ok((vals, bad))
}

/// HSDS's JSON objects (domains, groups, datasets, datatypes) under `bucket_dir` whose text does not parse.
pub fn unparsable_objects(bucket_dir: &Path) -> Vec<String> {
    const NAMES: [&str; 4] = [".domain.json", ".group.json", ".dataset.json", ".datatype.json"];
    let mut bad = Vec::new();
    let mut dirs = vec![bucket_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|f| NAMES.iter().any(|n| f == *n)) {
                let ok = std::fs::read(&path).is_ok_and(|b| serde_json::from_slice::<Value>(&b).is_ok());
                if !ok {
                    bad.push(format!("{} does not parse as JSON", path.display()));
                }
            }
        }
    }
    bad
}

/// The verification pass (faults and kills off): every acknowledged write intact and acknowledged delete
/// done, every object's JSON parses, every chunk decodes, every hard link leads to a readable group or to
/// HSDS's 404 for a dangling link, no name listed twice.
async fn verify(t: &Target, logs: &[ClientLog], bucket_dir: &Path, report: &mut SoakReport) -> anyhow::Result<()> {
    let c = &t.client;
    let total = logs.len() * REGION;
    let path = format!("/datasets/{}/value", t.dataset);
    let mut unreadable = unparsable_objects(bucket_dir);
    // Reading the whole dataset decodes every chunk; a corrupt one fails the request.
    let (vals, bad_chunks) = read_values(c, &path, total).await?;
    unreadable.extend(bad_chunks);
    let mut lost = Vec::new();
    for (me, log) in logs.iter().enumerate() {
        for (j, cell) in log.cells.iter().enumerate() {
            let Some(v) = vals[me * REGION + j] else { continue };
            if cell.acked.is_some() && !cell.allows(v) {
                lost.push(format!("element {} is {v}, acknowledged state {cell:?}", me * REGION + j));
            } else if !cell.allows(v) {
                report.bad_reads += 1;
                lost.push(format!("element {} is {v}, never written with it (state {cell:?})", me * REGION + j));
            }
        }
    }
    let mut groups = Vec::new();
    for gid in &t.groups {
        groups.push(group_state(c, gid).await?);
    }
    // Every hard link, acknowledged or not: its group reads, or is missing as HSDS reports a dangling link.
    for link in groups.iter().flat_map(|g| g.links.values()) {
        if let Some(id) = link["id"].as_str() {
            let r = c.get(&format!("/groups/{id}"), &[]).await?;
            if !(r.ok() || r.status == 404) {
                unreadable.push(format!("link {} to group {id} reads {} {}", link["title"], r.status, r.json));
            }
        }
    }
    for m in logs.iter().flat_map(|l| &l.meta) {
        let problem = match m {
            Meta::Link { group, name } => {
                (!groups[*group].links.contains_key(name)).then(|| format!("link {name} missing"))
            }
            Meta::Group { group, name, id } => match groups[*group].links.get(name) {
                Some(l) if l["id"].as_str() == Some(id) => {
                    let r = c.get(&format!("/groups/{id}"), &[]).await?;
                    (!r.ok()).then(|| format!("group {name} ({id}) is linked but reads {} {}", r.status, r.json))
                }
                other => Some(format!("group {name} ({id}): link is {other:?}")),
            },
            Meta::Attr { group, name, value } => match groups[*group].attrs.get(name) {
                Some(a) if a["value"].as_i64() == Some(*value) => None,
                other => Some(format!("attribute {name} = {value}: found {other:?}")),
            },
            Meta::Gone { group, name, attribute } => {
                let g = &groups[*group];
                let present = if *attribute { g.attrs.contains_key(name) } else { g.links.contains_key(name) };
                present.then(|| format!("{name} was deleted (acknowledged) but is still there"))
            }
        };
        lost.extend(problem);
    }
    let duplicates: Vec<String> = groups.iter().flat_map(|g| g.duplicates.iter().cloned()).collect();
    report.lost_writes = lost.len() as u64;
    report.unreadable = unreadable.len() as u64;
    report.duplicates = duplicates.len() as u64;
    let found = lost.into_iter().chain(unreadable).chain(duplicates);
    for p in found.take(10usize.saturating_sub(report.problems.len())) {
        report.problems.push(format!("verify: {p}"));
    }
    Ok(())
}

/// Runs a soak on a private stack running `bootstrap`: setup without faults, `clients` concurrent clients
/// for `duration` with the fault phases rotating, then verification without faults.
pub async fn run_soak(bootstrap: crate::stack::FunctionExe, opts: &SoakOptions) -> anyhow::Result<SoakReport> {
    let mut function = BenchStack::function(bootstrap, opts.memory_mb, opts.clients, Vec::new());
    function.timeout = opts.timeout;
    let bench = BenchStack::start(function).await?;
    let domain = format!("{}/soak-{}.h5", bench.folder, uuid::Uuid::new_v4().simple());
    let client = RestClient::new(&bench.endpoint, BENCH_USER, BENCH_PASSWORD, &domain)
        .with_timeout(opts.timeout * 2 + Duration::from_secs(5));
    let target = Arc::new(setup(&client, opts.clients).await?);

    let faults = bench.stack.faults.clone();
    faults.reseed(opts.seed); // the seed fixes the fault dice as well as the clients' choices
    let kills = bench.stack.sandbox.kills().clone();
    kills.reseed(opts.seed);
    kills.set_rate(opts.kill_rate);
    let started = Instant::now();
    let until = started + opts.duration;
    let rotate = {
        let (faults, phases, phase) = (faults.clone(), opts.phases.clone(), opts.phase);
        tokio::spawn(async move {
            for rules in phases.iter().cycle() {
                faults.set(rules.clone()).await;
                if phases.len() <= 1 {
                    break;
                }
                tokio::time::sleep(phase).await;
            }
        })
    };
    let tasks: Vec<_> =
        (0..opts.clients).map(|me| tokio::spawn(run_client(target.clone(), me, until, opts.seed))).collect();
    let mut logs = Vec::new();
    for t in tasks {
        logs.push(t.await?);
    }
    rotate.abort();
    let _ = rotate.await;
    faults.set(Vec::new()).await;
    kills.set_rate(0.0);
    let seconds = started.elapsed().as_secs_f64();

    let mut report = SoakReport { faults: faults.counts(), kills: kills.count(), seconds, ..Default::default() };
    let mut latencies = Vec::new();
    for log in &mut logs {
        let r = &log.report;
        report.requests += r.requests;
        report.ok += r.ok;
        report.malformed += r.malformed;
        report.hung += r.hung;
        report.transport_errors += r.transport_errors;
        report.acknowledged_writes += r.acknowledged_writes;
        report.bad_reads += r.bad_reads;
        for (s, n) in &r.errors_by_status {
            *report.errors_by_status.entry(*s).or_default() += n;
        }
        for p in &r.problems {
            if report.problems.len() < 10 {
                report.problems.push(p.clone());
            }
        }
        latencies.append(&mut log.latencies);
    }
    report.latency = Latency::of(&mut latencies);
    let bucket_dir = bench.stack.config.data_dir.join(&bench.stack.config.bucket);
    verify(&target, &logs, &bucket_dir, &mut report).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_allows_its_acknowledged_value_and_later_failed_writes_only() {
        let fresh = Cell::default();
        assert!(fresh.allows(0) && !fresh.allows(7));
        let cell = Cell { acked: Some(5), maybe: vec![9] };
        assert!(cell.allows(5) && cell.allows(9));
        assert!(!cell.allows(0), "an acknowledged element must not read as fill");
        assert!(!cell.allows(4));
    }

    #[test]
    fn a_report_fails_on_loss_bad_reads_and_unclean_answers() {
        let mut r = SoakReport::default();
        r.errors_by_status.insert(503, 3);
        assert!(r.passed(), "clean 503s are allowed");
        r.errors_by_status.insert(409, 1);
        assert!(!r.passed(), "a 4xx under faults is a bug");
        let lost = SoakReport { lost_writes: 1, ..Default::default() };
        assert!(!lost.passed());
        let hung = SoakReport { hung: 1, ..Default::default() };
        assert!(!hung.passed());
        let unreadable = SoakReport { unreadable: 1, ..Default::default() };
        assert!(!unreadable.passed());
        let duplicated = SoakReport { duplicates: 1, ..Default::default() };
        assert!(!duplicated.passed());
    }

    #[test]
    fn default_phases_alternate_slow_down_and_internal_errors_with_drops_and_spikes() {
        let phases = SoakOptions::default_phases();
        let statuses: Vec<u16> = phases.iter().map(|p| p[0].status).collect();
        assert_eq!(statuses, [503, 500]);
        assert!(phases
            .iter()
            .flatten()
            .all(|r| r.validate().is_ok() && r.drop_rate > 0.0 && r.after_rate > 0.0 && r.latency_rate < 1.0));
    }
}
