//! Reading REPORT lines, and writing a tuning run as a terminal table, Power-Tuning-compatible JSON and
//! an HTML page with the cost-vs-duration chart.

use std::fmt::Write;

use base64::Engine;
use lambda_emulator::sandbox::Report;
use serde_json::{json, Value};

use super::chart::{self, Point, Series};
use super::cost::Arch;
use super::{SettingResult, StartMode, TuneReport};

/// Parses a Lambda REPORT line (tab-separated fields in any order, as AWS and the emulator write them).
pub fn parse_report_line(line: &str) -> Option<Report> {
    let rest = line.trim_start().strip_prefix("REPORT RequestId:")?;
    let mut r = Report {
        duration_ms: f64::NAN,
        billed_ms: 0,
        memory_mb: 0,
        max_memory_used_mb: 0,
        init_duration_ms: None,
        status: None,
        error_type: None,
    };
    let num = |v: &str, unit: &str| v.trim().strip_suffix(unit).map(str::trim).and_then(|n| n.parse::<f64>().ok());
    for field in rest.split('\t').skip(1) {
        let Some((k, v)) = field.split_once(':') else { continue };
        match k.trim() {
            "Duration" => r.duration_ms = num(v, "ms")?,
            "Billed Duration" => r.billed_ms = num(v, "ms")? as u64,
            "Memory Size" => r.memory_mb = num(v, "MB")? as u32,
            "Max Memory Used" => r.max_memory_used_mb = num(v, "MB")? as u64,
            "Init Duration" => r.init_duration_ms = Some(num(v, "ms")?),
            "Status" => {
                r.status = match v.trim() {
                    "timeout" => Some("timeout"),
                    "error" => Some("error"),
                    _ => None,
                }
            }
            "Error Type" => r.error_type = Some(v.trim().to_string()),
            _ => {}
        }
    }
    (!r.duration_ms.is_nan()).then_some(r)
}

fn outcome_cell(s: &SettingResult) -> String {
    format!("{}/{}/{}/{}", s.ok, s.errors, s.timeouts, s.ooms)
}

/// The headline warning when CPU was not shaped.
pub fn cpu_warning(r: &TuneReport) -> Option<&'static str> {
    (!r.cpu_shaped).then_some(
        "WARNING: CPU NOT SHAPED — every memory size ran at host speed; durations are not comparable to AWS Lambda",
    )
}

/// The terminal table plus recommendations.
pub fn table(r: &TuneReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "hslambda bench tune — workload {}, {} invocations per setting, {}",
        r.workload, r.invocations, r.target
    );
    if let Some(w) = cpu_warning(r) {
        let _ = writeln!(s, "{w}");
    }
    for l in &r.limits {
        let _ = writeln!(s, "  {l}");
    }
    match &r.s3_model {
        Some(m) => {
            let _ = writeln!(s, "  {}", m.describe());
        }
        None => {
            let _ = writeln!(s, "  S3 latency model: none (local disk speed)");
        }
    }
    let _ = writeln!(
        s,
        "{:>6} {:>5} {:>4} | {:>9} {:>9} {:>9} | {:>8} {:>8} | {:>6} | {:>11} | {:>10} {:>10}",
        "MB",
        "tmo s",
        "mode",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "billed",
        "init",
        "maxMB",
        "ok/err/t/oom",
        "x86 $/M",
        "arm $/M"
    );
    for st in &r.settings {
        let init = st.init_ms.map(|i| format!("{:.1}", i.p50)).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "{:>6} {:>5} {:>4} | {:>9.2} {:>9.2} {:>9.2} | {:>8.1} {:>8} | {:>6} | {:>11} | {:>10.4} {:>10.4}",
            st.memory_mb,
            st.timeout_s,
            st.mode.name(),
            st.duration_ms.p50,
            st.duration_ms.p95,
            st.duration_ms.p99,
            st.billed_ms.mean,
            init,
            st.max_memory_used_mb,
            outcome_cell(st),
            st.cost_of(Arch::X86_64).per_million,
            st.cost_of(Arch::Arm64).per_million,
        );
    }
    for rec in &r.recommendations {
        let d = |i: usize| {
            let st = &r.settings[i];
            format!("{} MB/{} s", st.memory_mb, st.timeout_s)
        };
        let _ = writeln!(
            s,
            "recommended ({}, {}): cheapest {}, fastest {}, balanced {}",
            rec.arch.name(),
            rec.mode.name(),
            d(rec.picks.cheapest),
            d(rec.picks.fastest),
            d(rec.picks.balanced)
        );
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    let _ = writeln!(s, "setup {:.1} s, total {:.1} s", r.setup_s, r.elapsed_s);
    s
}

/// Power Tuning's visualization URL hash: base64 of Int16 powers, Float32 durations, Float32 costs (little endian).
pub fn visualization_hash(powers: &[u32], durations: &[f64], costs: &[f64]) -> String {
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let p: Vec<u8> = powers.iter().flat_map(|v| (*v as i16).to_le_bytes()).collect();
    let d: Vec<u8> = durations.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
    let c: Vec<u8> = costs.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
    format!("{};{};{}", b64(p), b64(d), b64(c))
}

/// Power Tuning's Analyzer output for one arch, mode and timeout: `power, cost, duration, stateMachine, stats`.
fn power_tuning_view(r: &TuneReport, arch: Arch, mode: StartMode, timeout: u64) -> Option<Value> {
    let mut rows: Vec<&SettingResult> =
        r.settings.iter().filter(|s| s.mode == mode && s.timeout_s == timeout).collect();
    rows.sort_by_key(|s| s.memory_mb);
    if rows.is_empty() {
        return None;
    }
    let stats: Vec<Value> = rows
        .iter()
        .map(|s| {
            let price = s.cost_of(arch).duration_only;
            json!({
                "value": s.memory_mb,
                "averagePrice": price,
                "averageDuration": s.compared_duration(),
                "totalCost": price * s.duration_ms.n as f64,
            })
        })
        .collect();
    let rec = r.recommendations.iter().find(|x| x.arch == arch && x.mode == mode);
    let best = rec.map(|x| &r.settings[x.picks.balanced]).filter(|s| s.timeout_s == timeout).unwrap_or(rows[0]);
    let lambda_cost: f64 = rows.iter().map(|s| s.cost_of(arch).per_invocation * s.duration_ms.n as f64).sum();
    let hash = visualization_hash(
        &rows.iter().map(|s| s.memory_mb).collect::<Vec<_>>(),
        &rows.iter().map(|s| s.compared_duration()).collect::<Vec<_>>(),
        &rows.iter().map(|s| s.cost_of(arch).duration_only).collect::<Vec<_>>(),
    );
    Some(json!({
        "power": best.memory_mb,
        "cost": best.cost_of(arch).duration_only,
        "duration": best.compared_duration(),
        "stateMachine": {
            "executionCost": 0.0,
            "lambdaCost": lambda_cost,
            "visualization": format!("https://lambda-power-tuning.show/#{hash}"),
        },
        "stats": stats,
        "arch": arch.name(),
        "mode": mode.name(),
        "timeout": timeout,
    }))
}

/// The JSON document: Power Tuning's top-level fields (x86_64, warm if measured, first timeout, balanced
/// pick) and an `hslambda` object with every view and the full per-setting data.
pub fn json(r: &TuneReport) -> Value {
    let mut views = Vec::new();
    let mut timeouts: Vec<u64> = r.settings.iter().map(|s| s.timeout_s).collect();
    timeouts.dedup();
    for arch in Arch::ALL {
        for mode in [StartMode::Warm, StartMode::Cold] {
            for &t in &timeouts {
                if let Some(v) = power_tuning_view(r, arch, mode, t) {
                    views.push(v);
                }
            }
        }
    }
    let mut doc = views.first().cloned().unwrap_or_else(|| json!({}));
    let recs: Vec<Value> = r
        .recommendations
        .iter()
        .map(|rec| {
            let s = |i: usize| json!({"memory_mb": r.settings[i].memory_mb, "timeout_s": r.settings[i].timeout_s});
            json!({"arch": rec.arch.name(), "mode": rec.mode.name(),
                   "cheapest": s(rec.picks.cheapest), "fastest": s(rec.picks.fastest), "balanced": s(rec.picks.balanced)})
        })
        .collect();
    doc["hslambda"] = json!({
        "workload": r.workload,
        "invocations": r.invocations,
        "target": r.target,
        "cpu_shaped": r.cpu_shaped,
        "limits": r.limits,
        "s3_model": r.s3_model,
        "prices": r.prices,
        "balanced_weight": r.balanced_weight,
        "notes": r.notes,
        "recommendations": recs,
        "settings": r.settings,
        "views": views,
        "setup_s": r.setup_s,
        "elapsed_s": r.elapsed_s,
    });
    doc
}

/// A status line plus a script that counts the chart's laid-out points (what the headless-browser test reads).
const CHART_PROBE: &str = "<p id=\"chart-status\">chart not rendered (JavaScript disabled)</p><script>(function(){\
var s=document.getElementById('cost-duration-chart');var p=s?s.querySelectorAll('circle.point'):[];var n=0;\
for(var i=0;i<p.length;i++){var b=p[i].getBoundingClientRect();if(b.width>0&&b.height>0)n++;}\
var r=s&&s.getBBox?s.getBoundingClientRect():null;document.getElementById('chart-status').textContent=\
'chart rendered: '+n+' points, '+(r?Math.round(r.width)+'x'+Math.round(r.height):'no svg');})();</script>";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The chart's series: one per arch × mode (first timeout), points in memory order.
pub fn chart_series(r: &TuneReport) -> Vec<Series> {
    let first_timeout = r.settings.first().map(|s| s.timeout_s).unwrap_or(0);
    let mut out = Vec::new();
    for arch in Arch::ALL {
        for mode in [StartMode::Warm, StartMode::Cold] {
            let mut rows: Vec<&SettingResult> =
                r.settings.iter().filter(|s| s.mode == mode && s.timeout_s == first_timeout).collect();
            rows.sort_by_key(|s| s.memory_mb);
            if rows.is_empty() {
                continue;
            }
            out.push(Series {
                name: format!("{} {}", arch.name(), mode.name()),
                points: rows
                    .iter()
                    .map(|s| Point {
                        duration_ms: s.compared_duration(),
                        cost_per_million: s.cost_of(arch).per_million,
                        label: format!("{} MB", s.memory_mb),
                    })
                    .collect(),
            });
        }
    }
    out
}

/// A self-contained HTML report: headline, limits, chart (inline SVG), table, recommendations.
pub fn html(r: &TuneReport) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>hslambda bench tune: {}</title><style>\
         body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         .warn{{background:#fee;border:2px solid #c00;padding:8px;font-weight:bold}} .rec{{background:#efe}}</style></head><body>",
        esc(&r.workload)
    );
    let _ = write!(
        s,
        "<h1>Tuning: workload <code>{}</code></h1><p>{} measured invocations per setting, {}.</p>",
        esc(&r.workload),
        r.invocations,
        esc(&r.target)
    );
    if let Some(w) = cpu_warning(r) {
        let _ = write!(s, "<p class=\"warn\" id=\"cpu-warning\">{}</p>", esc(w));
    }
    s.push_str("<ul>");
    for l in &r.limits {
        let _ = write!(s, "<li>{}</li>", esc(l));
    }
    match &r.s3_model {
        Some(m) => {
            let _ = write!(s, "<li>{}</li>", esc(&m.describe()));
        }
        None => s.push_str("<li>S3 latency model: none (local disk speed)</li>"),
    }
    let p = &r.prices;
    let _ = write!(
        s,
        "<li>prices: x86_64 ${}/GB-s, arm64 ${}/GB-s, ${} per million requests; INIT billed on cold starts</li></ul>",
        p.x86_64_gb_s, p.arm64_gb_s, p.per_million_requests
    );
    s.push_str(&chart::svg(&format!("cost vs duration — {}", r.workload), &chart_series(r)));
    // Filled in by the browser: how many points were laid out, and the chart's rendered size (tests read it).
    s.push_str(CHART_PROBE);
    let header_note = if r.cpu_shaped { "" } else { " (CPU NOT shaped: not comparable to AWS)" };
    let _ = write!(
        s,
        "<table id=\"settings\"><thead><tr><th>memory MB</th><th>timeout s</th><th>mode</th><th>p50 ms{header_note}</th>\
         <th>p95 ms</th><th>p99 ms</th><th>billed ms (mean)</th><th>init ms (p50)</th><th>max memory MB</th><th>ok</th>\
         <th>errors</th><th>timeouts</th><th>OOMs</th><th>x86_64 $/invocation</th><th>x86_64 $/M</th><th>arm64 $/invocation</th>\
         <th>arm64 $/M</th></tr></thead><tbody>"
    );
    for st in &r.settings {
        let init = st.init_ms.map(|i| format!("{:.1}", i.p50)).unwrap_or_else(|| "-".into());
        let (x, a) = (st.cost_of(Arch::X86_64), st.cost_of(Arch::Arm64));
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3e}</td><td>{:.4}</td><td>{:.3e}</td><td>{:.4}</td></tr>",
            st.memory_mb,
            st.timeout_s,
            st.mode.name(),
            st.duration_ms.p50,
            st.duration_ms.p95,
            st.duration_ms.p99,
            st.billed_ms.mean,
            init,
            st.max_memory_used_mb,
            st.ok,
            st.errors,
            st.timeouts,
            st.ooms,
            x.per_invocation,
            x.per_million,
            a.per_invocation,
            a.per_million
        );
    }
    s.push_str("</tbody></table><h2>Recommendations</h2><ul>");
    for rec in &r.recommendations {
        let d = |i: usize| format!("{} MB / {} s", r.settings[i].memory_mb, r.settings[i].timeout_s);
        let _ = write!(
            s,
            "<li class=\"rec\">{} {}: cheapest {}, fastest {}, balanced {}</li>",
            rec.arch.name(),
            rec.mode.name(),
            d(rec.picks.cheapest),
            d(rec.picks.fastest),
            d(rec.picks.balanced)
        );
    }
    s.push_str("</ul>");
    for n in &r.notes {
        let _ = write!(s, "<p>note: {}</p>", esc(n));
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_round_trip() {
        let r = Report {
            duration_ms: 12.34,
            billed_ms: 58,
            memory_mb: 1024,
            max_memory_used_mb: 31,
            init_duration_ms: Some(45.5),
            status: Some("error"),
            error_type: Some("Runtime.OutOfMemory".into()),
        };
        assert_eq!(parse_report_line(&r.line("abc")), Some(r));
        // AWS's own shape (trailing tab, no status).
        let aws = "REPORT RequestId: x\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t";
        let p = parse_report_line(aws).unwrap();
        assert_eq!((p.duration_ms, p.billed_ms, p.memory_mb, p.max_memory_used_mb), (2.5, 3, 128, 20));
        assert_eq!(p.init_duration_ms, None);
        assert!(parse_report_line("END RequestId: x").is_none());
    }

    #[test]
    fn visualization_hash_matches_power_tuning() {
        // The vectors of Power Tuning's own unit test (lambda/utils.js buildVisualizationURL).
        let h = visualization_hash(&[1, 2, 3], &[2.0, 2.0, 1.0], &[3.0, 2.0, 2.0]);
        let parts: Vec<&str> = h.split(';').collect();
        assert!(parts[0].contains("AQACAAMA"));
        assert!(parts[1].contains("AAAAQAAAAEAAAIA"));
        assert!(parts[2].contains("AABAQAAAAEAAAABA"));
    }
}
