//! `hslambda race`: concurrent writers against one function, then a check that every acknowledged write
//! is in the final state. HSDS on Lambda loses updates here (unsynchronised read-modify-write); hslambda
//! must not (compare-and-swap on ETags). Running the handler with `HSLAMBDA_WRITE_MODE=last-writer-wins`
//! reproduces HSDS's behaviour, so the same scenarios show the difference.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;

use crate::report::Latency;
use crate::rest_client::{Reply, RestClient};

/// A named concurrent-write scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Every writer sets its own elements of one chunk.
    ChunkElements,
    /// Writers set disjoint 7-element slabs that straddle the borders of 10-element chunks.
    ChunkBorders,
    /// Every writer creates links in the same group.
    Links,
    /// Every writer creates attributes on the same object.
    Attributes,
    /// Every writer adds ACL entries to the same domain.
    Acls,
    /// One writer extends a dataset while the others write elements of it.
    Resize,
    /// One writer deletes the dataset half-way while the others write elements of it.
    WriteVsDelete,
    /// One writer shrinks the dataset to half its length half-way while the others write elements of it.
    WriteVsShrink,
}

impl Scenario {
    /// All scenarios, in report order.
    pub const ALL: [Scenario; 8] = [
        Scenario::ChunkElements,
        Scenario::ChunkBorders,
        Scenario::Links,
        Scenario::Attributes,
        Scenario::Acls,
        Scenario::Resize,
        Scenario::WriteVsDelete,
        Scenario::WriteVsShrink,
    ];

    /// The scenario's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::ChunkElements => "chunk-elements",
            Scenario::ChunkBorders => "chunk-borders",
            Scenario::Links => "links",
            Scenario::Attributes => "attributes",
            Scenario::Acls => "acls",
            Scenario::Resize => "resize",
            Scenario::WriteVsDelete => "write-vs-delete",
            Scenario::WriteVsShrink => "write-vs-shrink",
        }
    }

    /// The statuses a write may rightly get in this scenario besides 2xx and 503: after a delete 404 (the
    /// dataset is gone) or 410 (it went while the write was in flight); after a shrink 400 (the selection
    /// is outside the new shape) or 409 (the shape shrank while the write was in flight).
    pub fn expected_refusals(self) -> &'static [u16] {
        match self {
            Scenario::WriteVsDelete => &[404, 410],
            Scenario::WriteVsShrink => &[400, 409],
            _ => &[],
        }
    }

    /// Looks a scenario up by name.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Where and how hard to race.
#[derive(Debug, Clone)]
pub struct RaceOptions {
    /// Front-door endpoint, e.g. `http://127.0.0.1:5101`.
    pub endpoint: String,
    /// User and password (needs create rights in `folder`).
    pub user: String,
    /// Password of `user`.
    pub password: String,
    /// Folder the scenario domains are created in, e.g. `/home/test_user1`.
    pub folder: String,
    /// Concurrent writers.
    pub writers: usize,
    /// Writes per writer.
    pub rounds: usize,
}

/// What one scenario did and found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RaceReport {
    /// Scenario name.
    pub scenario: &'static str,
    /// Writes attempted.
    pub attempted: usize,
    /// Writes answered 2xx (acknowledged).
    pub acknowledged: usize,
    /// Writes answered 503 (could not win the compare-and-swap in time; nothing written).
    pub unavailable: usize,
    /// Writes refused with the status their race calls for ([`Scenario::expected_refusals`]).
    pub refused: usize,
    /// Writes answered with any other error (or not answered).
    pub other_errors: usize,
    /// Acknowledged writes missing from the final state.
    pub lost: usize,
    /// Up to five examples of lost writes.
    pub lost_examples: Vec<String>,
    /// Data that must not exist but does: chunks left behind by a deleted dataset, a resurrected dataset,
    /// elements written outside a shrunk shape that reappear when it grows again.
    pub stale: usize,
    /// Up to five examples of stale data.
    pub stale_examples: Vec<String>,
    /// Write latency.
    pub latency: Latency,
}

impl RaceReport {
    /// What must never happen: lost acknowledged writes plus stale data.
    pub fn violations(&self) -> usize {
        self.lost + self.stale
    }
}

/// One write a writer performs, and what the final state must then show.
#[derive(Debug, Clone)]
enum Write {
    /// Set elements `start..start+values.len()` of the dataset.
    Values { start: usize, values: Vec<i32> },
    /// Create a soft link with this title in the root group.
    Link(String),
    /// Create an int attribute with this name and value on the root group.
    Attr(String, i32),
    /// Grant read to this user name.
    Acl(String),
    /// Extend the dataset's first dimension by this much.
    Extend(usize),
    /// Delete the dataset.
    Delete,
    /// Resize the dataset to this length.
    Shrink(usize),
}

struct Target {
    client: RestClient,
    root: String,
    dataset: Option<String>,
    /// The dataset's creation request (to re-create it under the same id after a delete).
    spec: serde_json::Value,
    initial_len: usize,
}

async fn setup(opts: &RaceOptions, scenario: Scenario) -> anyhow::Result<Target> {
    let domain = format!("{}/race-{}-{}.h5", opts.folder, scenario.name(), uuid::Uuid::new_v4().simple());
    let client = RestClient::new(&opts.endpoint, &opts.user, &opts.password, &domain);
    let root = client.create_domain().await?;
    let n = opts.writers * opts.rounds;
    let (spec, initial_len) = match scenario {
        Scenario::ChunkElements => (
            json!({"type": "H5T_STD_I32LE", "shape": [n],
                "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [n]}}}),
            n,
        ),
        Scenario::ChunkBorders => (
            json!({"type": "H5T_STD_I32LE", "shape": [n * 7 + 3],
                "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [10]}}}),
            n * 7 + 3,
        ),
        Scenario::Resize | Scenario::WriteVsDelete | Scenario::WriteVsShrink => (
            json!({"type": "H5T_STD_I32LE", "shape": [n], "maxdims": [0],
                "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [64]}}}),
            n,
        ),
        _ => (serde_json::Value::Null, 0),
    };
    let dataset = match spec.is_null() {
        true => None,
        false => Some(client.create_dataset(&root, "d", spec.clone()).await?),
    };
    Ok(Target { client, root, dataset, spec, initial_len })
}

fn plan(scenario: Scenario, writer: usize, round: usize, writers: usize, rounds: usize) -> Write {
    let k = round * writers + writer;
    let halfway = writer == 0 && round == rounds / 2;
    match scenario {
        Scenario::ChunkElements => Write::Values { start: k, values: vec![k as i32 + 1] },
        Scenario::ChunkBorders => {
            Write::Values { start: 3 + k * 7, values: (0..7).map(|j| (k * 7 + j) as i32 + 1).collect() }
        }
        Scenario::Links => Write::Link(format!("w{writer}_r{round}")),
        Scenario::Attributes => Write::Attr(format!("a{writer}_r{round}"), k as i32),
        Scenario::Acls => Write::Acl(format!("race_user_{writer}_{round}")),
        Scenario::Resize if writer == 0 => Write::Extend(3),
        Scenario::WriteVsDelete if halfway => Write::Delete,
        Scenario::WriteVsShrink if halfway => Write::Shrink(writers * rounds / 2),
        Scenario::Resize | Scenario::WriteVsDelete | Scenario::WriteVsShrink => {
            Write::Values { start: k, values: vec![k as i32 + 1] }
        }
    }
}

async fn perform(t: &Target, w: &Write) -> anyhow::Result<Reply> {
    let c = &t.client;
    match w {
        Write::Values { start, values } => {
            let path = format!("/datasets/{}/value", t.dataset.as_deref().unwrap_or_default());
            let sel = format!("[{}:{}]", start, start + values.len());
            c.put(&path, &[("select", sel)], json!({ "value": values })).await
        }
        Write::Link(title) => {
            c.put(&format!("/groups/{}/links/{title}", t.root), &[], json!({"h5path": "/nowhere"})).await
        }
        Write::Attr(name, v) => {
            c.put(&format!("/groups/{}/attributes/{name}", t.root), &[], json!({"type": "H5T_STD_I32LE", "value": v}))
                .await
        }
        Write::Acl(user) => c.put(&format!("/acls/{user}"), &[], json!({"read": true})).await,
        Write::Extend(by) => {
            let path = format!("/datasets/{}/shape", t.dataset.as_deref().unwrap_or_default());
            c.put(&path, &[], json!({"extend": by, "extend_dim": 0})).await
        }
        Write::Delete => {
            let path = format!("/datasets/{}", t.dataset.as_deref().unwrap_or_default());
            c.send(reqwest::Method::DELETE, &path, &[], None, false).await
        }
        Write::Shrink(len) => {
            let path = format!("/datasets/{}/shape", t.dataset.as_deref().unwrap_or_default());
            c.put(&path, &[], json!({ "shape": [len] })).await
        }
    }
}

/// Reads elements `from..to` of dataset `ds` as integers.
async fn read_ints(c: &RestClient, ds: &str, from: usize, to: usize) -> anyhow::Result<Vec<i64>> {
    let vals = c.get(&format!("/datasets/{ds}/value"), &[("select", format!("[{from}:{to}]"))]).await?;
    let got: Vec<i64> =
        vals.json["value"].as_array().map(|a| a.iter().map(|v| v.as_i64().unwrap_or(0)).collect()).unwrap_or_default();
    anyhow::ensure!(
        vals.ok() && got.len() == to - from,
        "reading the dataset back failed: {} {}",
        vals.status,
        vals.json
    );
    Ok(got)
}

/// Stale data after the delete or shrink of a `write-vs-*` scenario (when that write was acknowledged):
/// a deleted dataset must stay deleted and leave no chunk (checked by re-creating it under the same id,
/// which must then read as fill with no chunk), and a shrunk one must read fill beyond its new length
/// once grown back.
async fn stale_after(t: &Target, acked: &[Write]) -> anyhow::Result<Vec<String>> {
    let (c, ds) = (&t.client, t.dataset.as_deref().unwrap_or_default());
    let mut stale = Vec::new();
    if acked.iter().any(|w| matches!(w, Write::Delete)) {
        let r = c.get(&format!("/datasets/{ds}"), &[]).await?;
        // 410 Gone (its tombstone, as HSDS answers) or 404: anything else brought it back
        if r.status != 404 && r.status != 410 {
            stale.push(format!("the deleted dataset answers {} (resurrected)", r.status));
            return Ok(stale);
        }
        let mut spec = t.spec.clone();
        spec["id"] = json!(ds);
        c.create_dataset(&t.root, "recreated", spec).await?;
        let r = c.get(&format!("/datasets/{ds}"), &[("verbose", "1".into())]).await?;
        let chunks = r.json["num_chunks"].as_u64().unwrap_or(0);
        if chunks > 0 {
            stale.push(format!("{chunks} chunk(s) of the deleted dataset survived it"));
        }
        let got = read_ints(c, ds, 0, t.initial_len).await?;
        stale.extend(got.iter().enumerate().filter(|(_, v)| **v != 0).map(|(i, v)| format!("element {i} is {v}")));
    }
    if let Some(len) = acked.iter().find_map(|w| if let Write::Shrink(len) = w { Some(*len) } else { None }) {
        let r = c.put(&format!("/datasets/{ds}/shape"), &[], json!({ "shape": [t.initial_len] })).await?;
        anyhow::ensure!(r.ok(), "growing the shrunk dataset back failed: {} {}", r.status, r.json);
        let got = read_ints(c, ds, len, t.initial_len).await?;
        stale.extend(
            got.iter()
                .enumerate()
                .filter(|(_, v)| **v != 0)
                .map(|(i, v)| format!("element {} is {v} beyond the shrunk length {len}", len + i)),
        );
    }
    Ok(stale)
}

/// Reads the final state once and lists every acknowledged write it does not show.
async fn verify(t: &Target, acked: &[Write]) -> anyhow::Result<Vec<String>> {
    let c = &t.client;
    let mut lost = Vec::new();
    if acked.iter().any(|w| matches!(w, Write::Delete)) {
        return Ok(lost); // every write is gone with the dataset; `stale_after` checks that nothing remains
    }
    if let Some(ds) = &t.dataset {
        let shape = c.get(&format!("/datasets/{ds}/shape"), &[]).await?;
        let len = shape.json["shape"]["dims"][0].as_u64().unwrap_or(0) as usize;
        let extends: usize = acked.iter().map(|w| if let Write::Extend(by) = w { *by } else { 0 }).sum();
        if extends > 0 && len != t.initial_len + extends {
            lost.push(format!("shape is {len}, acknowledged extends require {}", t.initial_len + extends));
        }
        let shrunk = acked.iter().find_map(|w| if let Write::Shrink(len) = w { Some(*len) } else { None });
        if shrunk.is_some_and(|s| s != len) {
            lost.push(format!("shape is {len}, the acknowledged shrink set {}", shrunk.unwrap_or(0)));
        }
        let readable = shrunk.unwrap_or(t.initial_len);
        let got = read_ints(c, ds, 0, readable).await?;
        for w in acked {
            if let Write::Values { start, values } = w {
                if start + values.len() > readable {
                    continue; // written before the shrink, rightly discarded by it
                }
                for (j, v) in values.iter().enumerate() {
                    if got[start + j] != *v as i64 {
                        lost.push(format!(
                            "element {} is {}, an acknowledged write set {}",
                            start + j,
                            got[start + j],
                            v
                        ));
                    }
                }
            }
        }
        return Ok(lost);
    }
    let present: BTreeSet<String> = match acked.first() {
        Some(Write::Link(_)) => {
            let r = c.get(&format!("/groups/{}/links", t.root), &[]).await?;
            r.json["links"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["title"].as_str().map(String::from))
                .collect()
        }
        Some(Write::Attr(..)) => {
            let r = c.get(&format!("/groups/{}/attributes", t.root), &[]).await?;
            r.json["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["name"].as_str().map(String::from))
                .collect()
        }
        Some(Write::Acl(_)) => {
            let r = c.get("/acls", &[]).await?;
            r.json["acls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["userName"].as_str().map(String::from))
                .collect()
        }
        _ => BTreeSet::new(),
    };
    for w in acked {
        let key = match w {
            Write::Link(k) | Write::Attr(k, _) | Write::Acl(k) => k,
            _ => continue,
        };
        if !present.contains(key) {
            lost.push(format!("{key} was acknowledged but is missing"));
        }
    }
    Ok(lost)
}

/// Runs one scenario: setup, `writers` concurrent tasks of `rounds` writes each, then verification.
pub async fn run_scenario(opts: &RaceOptions, scenario: Scenario) -> anyhow::Result<RaceReport> {
    let target = Arc::new(setup(opts, scenario).await?);
    let mut tasks = Vec::new();
    for writer in 0..opts.writers {
        let (target, writers, rounds) = (target.clone(), opts.writers, opts.rounds);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(rounds);
            for round in 0..rounds {
                let w = plan(scenario, writer, round, writers, rounds);
                let reply = perform(&target, &w).await;
                out.push((w, reply));
            }
            out
        }));
    }
    let (mut acked, mut latencies, mut unavailable, mut other, mut attempted) = (Vec::new(), Vec::new(), 0, 0, 0);
    let mut refused = 0;
    let mut errors: BTreeMap<u16, usize> = BTreeMap::new();
    for t in tasks {
        for (w, reply) in t.await? {
            attempted += 1;
            match reply {
                Ok(r) => {
                    latencies.push(r.elapsed);
                    match r.status {
                        200..=299 => acked.push(w),
                        503 => unavailable += 1,
                        s if scenario.expected_refusals().contains(&s) => refused += 1,
                        s => {
                            *errors.entry(s).or_default() += 1;
                            other += 1;
                        }
                    }
                }
                Err(_) => other += 1,
            }
        }
    }
    let lost = verify(&target, &acked).await?;
    let stale = stale_after(&target, &acked).await?;
    Ok(RaceReport {
        scenario: scenario.name(),
        attempted,
        acknowledged: acked.len(),
        unavailable,
        refused,
        other_errors: other,
        lost: lost.len(),
        lost_examples: lost.into_iter().take(5).collect(),
        stale: stale.len(),
        stale_examples: stale.into_iter().take(5).collect(),
        latency: Latency::of(&mut latencies),
    })
}

/// A table of reports for the terminal.
pub fn format_table(reports: &[RaceReport]) -> String {
    let mut s = format!(
        "{:<16} {:>9} {:>9} {:>6} {:>7} {:>7} {:>6} {:>6} {:>9} {:>9} {:>9}\n",
        "scenario", "attempted", "acked", "503s", "refused", "errors", "LOST", "STALE", "p50 ms", "p95 ms", "p99 ms"
    );
    for r in reports {
        s += &format!(
            "{:<16} {:>9} {:>9} {:>6} {:>7} {:>7} {:>6} {:>6} {:>9.1} {:>9.1} {:>9.1}\n",
            r.scenario,
            r.attempted,
            r.acknowledged,
            r.unavailable,
            r.refused,
            r.other_errors,
            r.lost,
            r.stale,
            r.latency.p50_ms,
            r.latency.p95_ms,
            r.latency.p99_ms
        );
        for ex in &r.lost_examples {
            s += &format!("    lost: {ex}\n");
        }
        for ex in &r.stale_examples {
            s += &format!("    stale: {ex}\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_name(s.name()), Some(s));
        }
        assert_eq!(Scenario::from_name("nope"), None);
    }

    #[test]
    fn border_slabs_are_disjoint_and_cross_chunks() {
        let mut seen = BTreeSet::new();
        let mut crossing = 0;
        for r in 0..10 {
            for w in 0..8 {
                if let Write::Values { start, values } = plan(Scenario::ChunkBorders, w, r, 8, 10) {
                    crossing += usize::from(start / 10 != (start + values.len() - 1) / 10);
                    for j in start..start + values.len() {
                        assert!(seen.insert(j), "element {j} written twice");
                    }
                }
            }
        }
        assert!(crossing > 40, "most slabs should straddle a chunk border, {crossing} did");
    }
}
