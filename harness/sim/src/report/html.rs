//! `load.html`: one self-contained page — inline SVG plots (throughput and latency
//! percentiles over time, the latency distribution, the knee search's steps) and the tables
//! of the report. No script, no stylesheet or font fetched from anywhere.

use super::LoadReport;
use crate::metrics::HistogramData;
use crate::slo::fmt_us;
use std::fmt::Write;

fn esc(s: &str) -> String {
    html_escape::encode_text(s).to_string()
}

const W: f64 = 720.0;
const H: f64 = 220.0;
const PAD: f64 = 48.0;

/// A line chart of several series over the same x values.
fn line_chart(
    title: &str,
    xs: &[f64],
    series: &[(&str, &str, Vec<f64>)],
    y_label: &str,
    log_x: bool,
) -> String {
    let mut s = String::new();
    let _ = write!(s, "<figure><figcaption>{}</figcaption>", esc(title));
    let _ = write!(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\">");
    if xs.is_empty() || series.iter().all(|(_, _, v)| v.is_empty()) {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\">no data</text></svg></figure>",
            W / 2.0 - 30.0,
            H / 2.0
        );
        return s;
    }
    let fx = |x: f64| if log_x { (x.max(1e-9)).log10() } else { x };
    let (x0, x1) = xs.iter().fold((f64::MAX, f64::MIN), |(a, b), x| {
        (a.min(fx(*x)), b.max(fx(*x)))
    });
    let ymax = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let sx = |x: f64| PAD + (fx(x) - x0) / (x1 - x0).max(1e-9) * (W - 2.0 * PAD);
    let sy = |y: f64| H - PAD + 10.0 - y / ymax * (H - PAD - 20.0);
    let _ = write!(
        s,
        "<line x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/><line x1=\"{PAD}\" y1=\"10\" x2=\"{PAD}\" y2=\"{}\" stroke=\"#888\"/>",
        H - PAD + 10.0,
        W - PAD,
        H - PAD + 10.0,
        H - PAD + 10.0
    );
    for i in 0..=4 {
        let y = ymax * f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<text x=\"2\" y=\"{:.1}\" font-size=\"10\">{}</text>",
            sy(y) + 3.0,
            esc(&short(y))
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"10\">{}</text>",
        W - PAD - 80.0,
        H - 4.0,
        esc(y_label)
    );
    for (i, (name, colour, ys)) in series.iter().enumerate() {
        let pts: Vec<String> = xs
            .iter()
            .zip(ys)
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            pts.join(" ")
        );
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{colour}\">{}</text>",
            PAD + 10.0 + 120.0 * i as f64,
            22.0,
            esc(name)
        );
    }
    s.push_str("</svg></figure>");
    s
}

fn short(y: f64) -> String {
    if y >= 1e6 {
        format!("{:.1}M", y / 1e6)
    } else if y >= 1e3 {
        format!("{:.1}k", y / 1e3)
    } else {
        format!("{y:.1}")
    }
}

/// A latency row; `reports/check-html.sh` counts these (`class="case"`) against the root's
/// `data-total`.
fn hist_row(name: &str, h: &HistogramData) -> String {
    format!(
        "<tr class=\"case\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(name),
        h.count,
        fmt_us(h.p50_us),
        fmt_us(h.p90_us),
        fmt_us(h.p99_us),
        fmt_us(h.p999_us),
        fmt_us(h.max_us)
    )
}

/// The percentile curve of a histogram: (percentile, latency ms) at 0..99.999.
fn percentile_curve(h: &HistogramData) -> (Vec<f64>, Vec<f64>) {
    let Ok(hist) = h.histogram() else {
        return (Vec::new(), Vec::new());
    };
    if hist.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let qs = [
        0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999,
    ];
    // x: "nines" (1/(1-q)) on a log axis, the usual HdrHistogram plot.
    let xs = qs.iter().map(|q| 1.0 / (1.0 - q / 100.0)).collect();
    let ys = qs
        .iter()
        .map(|q| hist.value_at_quantile(q / 100.0) as f64 / 1000.0)
        .collect();
    (xs, ys)
}

pub fn render(r: &LoadReport) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>m2mspec load report</title>");
    s.push_str("<style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.bad{color:#b00;font-weight:bold}.ok{color:#070}figure{margin:1em 0}figcaption{font-weight:bold}</style></head><body>");
    // The root that reports/check-html.sh looks for: data-total = the latency rows below, and
    // data-ready set by the page's only (inline) script once it has run.
    let rows = 4 + r.histograms.ops.len() + usize::from(r.histograms.delivery.count > 0);
    let _ = write!(s, "<main id=\"m2mspec-report\" data-total=\"{rows}\">");
    let _ = write!(
        s,
        "<h1>m2mspec load report</h1><p>{} against {}</p>",
        esc(&r.mode),
        esc(&r.target)
    );
    let _ = write!(
        s,
        "<p><code>{}</code><br>started {}</p>",
        esc(&r.command),
        esc(&r.started)
    );
    if let Some(i) = &r.interrupted {
        let _ = write!(s, "<p class=\"bad\">Interrupted: {}</p>", esc(i));
    }
    if let Some(slo) = &r.slo {
        let _ = write!(
            s,
            "<p class=\"{}\">SLO {}: {}</p><ul>",
            if slo.met { "ok" } else { "bad" },
            esc(&slo.slo),
            if slo.met { "met" } else { "MISSED" }
        );
        for c in &slo.checks {
            let _ = write!(
                s,
                "<li>{} — observed {} ({})</li>",
                esc(&c.objective),
                esc(&c.observed),
                if c.met { "ok" } else { "missed" }
            );
        }
        s.push_str("</ul>");
    }
    let c = &r.counts;
    s.push_str("<h2>Summary</h2><table>");
    let rows: Vec<(&str, String)> = vec![
        ("clients", r.aes.to_string()),
        ("connected", r.connected.to_string()),
        ("registered", r.registered.to_string()),
        ("offered rate /s", format!("{:.0}", r.offered_rate)),
        ("achieved rate /s", format!("{:.0}", r.achieved_rate)),
        ("sent", c.sent.to_string()),
        ("matched responses", c.matched.to_string()),
        ("2xxx", c.ok.to_string()),
        (
            "received (plain: messages; LWM2M: notifications at the server)",
            c.received.to_string(),
        ),
        ("notifications sent (LWM2M)", c.notifications.to_string()),
        (
            "notify without an observation (LWM2M)",
            c.unobserved.to_string(),
        ),
        ("lost (timeout)", c.lost.to_string()),
        ("late", c.late.to_string()),
        ("duplicate", c.duplicates.to_string()),
        ("mismatched", c.mismatched.to_string()),
        ("backlog (not sent)", c.backlog.to_string()),
        ("connections refused", c.connect_refused.to_string()),
        ("connections failed", c.connect_failed.to_string()),
        ("connections lost", c.disconnects.to_string()),
        ("registration failed", c.registration_failed.to_string()),
        ("teardown failed", c.teardown_failed.to_string()),
        (
            "responses checked against the binding",
            c.checked.to_string(),
        ),
        (
            "peak RSS (MiB)",
            format!("{:.1}", r.resources.rss_peak_bytes as f64 / 1_048_576.0),
        ),
        (
            "RSS per client (KiB)",
            format!("{:.1}", r.resources.rss_per_client_bytes as f64 / 1024.0),
        ),
        (
            "simulator CPU (cores)",
            format!("{:.2}", r.resources.cpu_per_wall_second),
        ),
    ];
    for (k, v) in rows {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(&v));
    }
    s.push_str("</table>");
    if !c.lost_named.is_empty() {
        let _ = write!(
            s,
            "<h2>Lost requests</h2><p>{} lost; {}:</p><ul>",
            c.lost,
            if (c.lost_named.len() as u64) < c.lost {
                "the first"
            } else {
                "all"
            }
        );
        for n in &c.lost_named {
            let _ = write!(s, "<li><code>{}</code></li>", esc(n));
        }
        s.push_str("</ul>");
    }
    if !c.non_2xxx.is_empty() || !c.violations.is_empty() {
        s.push_str(
            "<h2>Errors and binding violations</h2><table><tr><th>kind</th><th>count</th></tr>",
        );
        for (k, v) in &c.non_2xxx {
            let _ = write!(s, "<tr><td>rsc {}</td><td>{v}</td></tr>", esc(k));
        }
        for (k, v) in &c.violations {
            let _ = write!(s, "<tr><td class=\"bad\">{}</td><td>{v}</td></tr>", esc(k));
        }
        s.push_str("</table>");
    }
    s.push_str("<h2>Latency</h2><table><tr><th>what</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>");
    s.push_str(&hist_row(
        "connect (CONNECT..SUBACK)",
        &r.histograms.connect,
    ));
    s.push_str(&hist_row("registration", &r.histograms.registration));
    s.push_str(&hist_row(
        "round trips of the last step",
        &r.steps
            .last()
            .map(|x| x.round_trip.clone())
            .unwrap_or_else(|| r.histograms.all.clone()),
    ));
    for (k, h) in &r.histograms.ops {
        s.push_str(&hist_row(k, h));
    }
    s.push_str(&hist_row("all operations", &r.histograms.all));
    if r.histograms.delivery.count > 0 {
        s.push_str(&hist_row("delivery (plain)", &r.histograms.delivery));
    }
    s.push_str("</table>");
    let t0 = r.timeline.first().map_or(0, |x| x.unix);
    let xs: Vec<f64> = r.timeline.iter().map(|x| (x.unix - t0) as f64).collect();
    s.push_str(&line_chart(
        "Throughput per second",
        &xs,
        &[
            (
                "sent",
                "#1f77b4",
                r.timeline.iter().map(|x| x.sent as f64).collect(),
            ),
            (
                "completed",
                "#2ca02c",
                r.timeline.iter().map(|x| x.completed as f64).collect(),
            ),
            (
                "errors",
                "#d62728",
                r.timeline.iter().map(|x| x.errors as f64).collect(),
            ),
        ],
        "per second vs s",
        false,
    ));
    s.push_str(&line_chart(
        "Round-trip latency per second (ms)",
        &xs,
        &[
            (
                "p50",
                "#2ca02c",
                r.timeline
                    .iter()
                    .map(|x| x.p50_us as f64 / 1000.0)
                    .collect(),
            ),
            (
                "p99",
                "#ff7f0e",
                r.timeline
                    .iter()
                    .map(|x| x.p99_us as f64 / 1000.0)
                    .collect(),
            ),
            (
                "max",
                "#d62728",
                r.timeline
                    .iter()
                    .map(|x| x.max_us as f64 / 1000.0)
                    .collect(),
            ),
        ],
        "ms vs s",
        false,
    ));
    let (px, py) = percentile_curve(&r.histograms.all);
    s.push_str(&line_chart(
        "Latency by percentile (x: 1/(1-q), log; p50 at 2, p99 at 100, p99.9 at 1000)",
        &px,
        &[("all operations (ms)", "#9467bd", py)],
        "ms",
        true,
    ));
    if !r.steps.is_empty() {
        let xs: Vec<f64> = r.steps.iter().map(|x| x.offered_rate).collect();
        s.push_str(&line_chart(
            "Knee search: p50 / p99 (ms) by offered rate",
            &xs,
            &[
                (
                    "p50",
                    "#2ca02c",
                    r.steps
                        .iter()
                        .map(|x| x.round_trip.p50_us as f64 / 1000.0)
                        .collect(),
                ),
                (
                    "p99",
                    "#ff7f0e",
                    r.steps
                        .iter()
                        .map(|x| x.round_trip.p99_us as f64 / 1000.0)
                        .collect(),
                ),
            ],
            "ms vs offered /s",
            false,
        ));
        s.push_str("<table><tr><th>step</th><th>offered /s</th><th>achieved /s</th><th>sent</th><th>completed</th><th>errors</th><th>p50</th><th>p99</th><th>SLO</th></tr>");
        for st in &r.steps {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                st.step + 1,
                st.offered_rate,
                st.achieved_rate,
                st.sent,
                st.completed,
                st.errors,
                fmt_us(st.round_trip.p50_us),
                fmt_us(st.round_trip.p99_us),
                if st.met { "ok" } else { "bad" },
                if st.met { "met" } else { "broken" }
            );
        }
        s.push_str("</table>");
        if let Some(k) = &r.knee {
            let _ = write!(
                s,
                "<p>Highest sustainable rate: <b>{}</b>; first breaking rate: {}</p>",
                k.highest_sustainable_rate
                    .map_or("none".into(), |x| format!("{x:.0}/s")),
                k.first_breaking_rate
                    .map_or("none".into(), |x| format!("{x:.0}/s"))
            );
        }
    }
    if !r.notes.is_empty() {
        s.push_str("<h2>Notes</h2><ul>");
        for n in &r.notes {
            let _ = write!(s, "<li>{}</li>", esc(n));
        }
        s.push_str("</ul>");
    }
    s.push_str("</main><script>document.getElementById('m2mspec-report').setAttribute('data-ready','1');</script></body></html>\n");
    s
}
