//! The cost-vs-duration chart as inline SVG.
//!
//! Hand-written rather than `plotters`: the chart is one scatter with a few labelled series, and writing
//! its ~40 SVG elements directly keeps the build free of plotters' dependency tree (fonts, image
//! backends) on a 2-core machine, and the output deterministic and small enough to embed and test.

use std::fmt::Write;

/// One point: x = duration (ms), y = cost per million invocations (USD), labelled with its memory size.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Duration in ms.
    pub duration_ms: f64,
    /// Cost per million invocations.
    pub cost_per_million: f64,
    /// Label (memory size).
    pub label: String,
}

/// A series of points drawn in one colour and joined in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points in memory order.
    pub points: Vec<Point>,
}

const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
/// Height of a point label (font size 10) for the overlap check.
const LABEL_H: f64 = 11.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Five "nice" tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(f64::EPSILON);
    let raw = span / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(raw);
    let start = (lo / step).floor() * step;
    (0..=6).map(|i| start + i as f64 * step).filter(|t| *t <= hi + step * 0.5).collect()
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Renders the chart; `title` goes on top. Every point is a `<circle class="point">`.
pub fn svg(title: &str, series: &[Series]) -> String {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x_hi, mut y_hi) = (0f64, 0f64);
    for p in pts {
        x_hi = x_hi.max(p.duration_ms);
        y_hi = y_hi.max(p.cost_per_million);
    }
    let (x_hi, y_hi) = (if x_hi > 0.0 { x_hi * 1.08 } else { 1.0 }, if y_hi > 0.0 { y_hi * 1.08 } else { 1.0 });
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sx = |x: f64| LEFT + x / x_hi * pw;
    let sy = |y: f64| TOP + ph - y / y_hi * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="cost-duration-chart" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect x="0" y="0" width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(s, r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#, W / 2.0, esc(title));
    for t in ticks(0.0, x_hi).into_iter().filter(|t| *t <= x_hi) {
        let x = sx(t);
        let _ = write!(s, r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/>"##, TOP + ph);
        let _ = write!(s, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, TOP + ph + 18.0, fmt_num(t));
    }
    for t in ticks(0.0, y_hi).into_iter().filter(|t| *t <= y_hi) {
        let y = sy(t);
        let _ = write!(s, r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/>"##, LEFT + pw);
        let _ = write!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, LEFT - 6.0, y + 4.0, fmt_num(t));
    }
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/><text x="{:.1}" y="{:.1}" text-anchor="middle">duration (ms)</text><text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">USD per million invocations</text>"##,
        LEFT + pw / 2.0,
        H - 14.0,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    // Label boxes already drawn: a label that would overlap one is left out (its point keeps its tooltip),
    // so a cluster of close points stays readable.
    let mut placed: Vec<(f64, f64, f64)> = Vec::new();
    for (i, ser) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let path: Vec<String> =
            ser.points.iter().map(|p| format!("{:.1},{:.1}", sx(p.duration_ms), sy(p.cost_per_million))).collect();
        if path.len() > 1 {
            let _ = write!(s, r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="1.5"/>"#, path.join(" "));
        }
        for p in &ser.points {
            let (x, y) = (sx(p.duration_ms), sy(p.cost_per_million));
            let _ = write!(
                s,
                r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="4" fill="{c}"><title>{}: {} MB, {:.2} ms, ${:.4}/M</title></circle>"#,
                esc(&ser.name),
                esc(&p.label),
                p.duration_ms,
                p.cost_per_million,
            );
            let (lx, ly, lw) = (x + 6.0, y - 6.0, 6.0 * p.label.chars().count() as f64);
            let overlaps = placed.iter().any(|&(px, py, pw)| lx < px + pw && px < lx + lw && (ly - py).abs() < LABEL_H);
            if !overlaps {
                placed.push((lx, ly, lw));
                let _ = write!(s, r#"<text x="{lx:.1}" y="{ly:.1}" font-size="10">{}</text>"#, esc(&p.label));
            }
        }
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = W - RIGHT + 15.0;
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{:.1}" width="12" height="12" fill="{c}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ly - 10.0,
            lx + 18.0,
            ly,
            esc(&ser.name)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_land_inside_the_plot() {
        let series = vec![Series {
            name: "x86_64 warm".into(),
            points: vec![
                Point { duration_ms: 10.0, cost_per_million: 1.0, label: "128".into() },
                Point { duration_ms: 5.0, cost_per_million: 2.0, label: "256".into() },
            ],
        }];
        let svg = svg("t <&>", &series);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="point""#).count(), 2);
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert!(svg.contains("<polyline"));
        // The slower point is further right than the faster one.
        let xs: Vec<f64> =
            svg.split(r#"class="point" cx=""#).skip(1).map(|r| r.split('"').next().unwrap().parse().unwrap()).collect();
        assert!(xs[0] > xs[1] && xs.iter().all(|x| (LEFT..=W - RIGHT).contains(x)));
    }

    /// Labels of points on top of each other are drawn once; every point keeps its tooltip.
    #[test]
    fn overlapping_labels_are_left_out() {
        let at = |d: f64, label: &str| Point { duration_ms: d, cost_per_million: 1.0, label: label.into() };
        let series =
            vec![Series { name: "warm".into(), points: vec![at(100.0, "512"), at(100.5, "1024"), at(1000.0, "128")] }];
        let svg = svg("t", &series);
        assert_eq!(svg.matches(r#"class="point""#).count(), 3);
        assert_eq!(svg.matches(r#"font-size="10">"#).count(), 2, "{svg}");
        assert!(svg.contains(">512</text>") && svg.contains(">128</text>") && !svg.contains(">1024</text>"));
    }

    #[test]
    fn nice_ticks() {
        assert_eq!(ticks(0.0, 100.0), vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        assert!(ticks(0.0, 0.003).len() >= 3);
    }
}
