//! `m2mspec load merge`: shard reports into one. Counters add up; histograms are added
//! whole (exact merged percentiles); per-second counts add up by wall-clock second (a
//! second's percentiles become the highest of the shards', noted as a bound); steps merge by
//! number and are checked again against the SLO when one is given.

use super::{Knee, LoadReport, Resources, SloOutcome, StepResult};
use crate::error::SimError;
use crate::metrics::{merge_timelines, Counts, HistogramData};
use crate::slo::Slo;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn bad(path: &Path, detail: String) -> SimError {
    SimError::Merge {
        path: path.into(),
        detail,
    }
}

/// Read and merge the shard reports at `paths` (each a `load.json` or a directory holding one).
pub fn merge_files(
    paths: &[std::path::PathBuf],
    slo: Option<&Slo>,
) -> Result<LoadReport, SimError> {
    if paths.is_empty() {
        return Err(SimError::Invalid(
            "load merge needs at least one shard report".into(),
        ));
    }
    let mut reports = Vec::new();
    for p in paths {
        let file = if p.is_dir() {
            p.join("load.json")
        } else {
            p.clone()
        };
        reports.push((file.display().to_string(), LoadReport::read_json(&file)?));
    }
    merge(&reports, slo)
}

/// Merge reports (with the names they came from).
pub fn merge(reports: &[(String, LoadReport)], slo: Option<&Slo>) -> Result<LoadReport, SimError> {
    let Some((first_name, first)) = reports.first() else {
        return Err(SimError::Invalid("nothing to merge".into()));
    };
    let mut notes = Vec::new();
    let mut seen = BTreeSet::new();
    let mut counts_of_shards = BTreeSet::new();
    for (name, r) in reports {
        if r.mode != first.mode {
            return Err(bad(
                Path::new(name),
                format!(
                    "mode {} differs from {}'s {}",
                    r.mode, first_name, first.mode
                ),
            ));
        }
        if r.format != super::FORMAT {
            return Err(bad(
                Path::new(name),
                format!("format {} (expected {})", r.format, super::FORMAT),
            ));
        }
        if let Some(s) = r.shard {
            if !seen.insert(s.index) {
                return Err(bad(
                    Path::new(name),
                    format!(
                        "shard {} appears twice: its AEs would be counted twice",
                        s.label()
                    ),
                ));
            }
            counts_of_shards.insert(s.count);
        }
    }
    if let Some(&n) = counts_of_shards.iter().next() {
        if counts_of_shards.len() > 1 {
            notes.push(format!(
                "the shards disagree on the shard count: {counts_of_shards:?}"
            ));
        } else if seen.len() as u64 != n {
            let missing: Vec<u64> = (0..n).filter(|i| !seen.contains(i)).collect();
            notes.push(format!(
                "shards missing from the merge (of {n}): {missing:?}"
            ));
        }
    }
    let hist = |f: &dyn Fn(&LoadReport) -> &HistogramData| {
        HistogramData::merge(reports.iter().map(|(_, r)| f(r)))
            .map_err(|e| SimError::Invalid(format!("merging histograms: {e}")))
    };
    let mut ops: BTreeMap<String, Vec<&HistogramData>> = BTreeMap::new();
    for (_, r) in reports {
        for (k, h) in &r.histograms.ops {
            ops.entry(k.clone()).or_default().push(h);
        }
    }
    let mut merged_ops = BTreeMap::new();
    for (k, hs) in ops {
        merged_ops.insert(
            k,
            HistogramData::merge(hs)
                .map_err(|e| SimError::Invalid(format!("merging histograms: {e}")))?,
        );
    }
    let mut counts = Counts::default();
    for (_, r) in reports {
        counts.add(&r.counts);
    }
    let timelines: Vec<&[crate::metrics::Second]> =
        reports.iter().map(|(_, r)| r.timeline.as_slice()).collect();
    let steps = merge_steps(reports, slo)?;
    let knee = (!steps.is_empty()).then(|| knee_of(&steps));
    let sum = |f: &dyn Fn(&LoadReport) -> f64| reports.iter().map(|(_, r)| f(r)).sum::<f64>();
    let max =
        |f: &dyn Fn(&LoadReport) -> f64| reports.iter().map(|(_, r)| f(r)).fold(0.0, f64::max);
    let all = hist(&|r| &r.histograms.all)?;
    let slo_outcome = slo.map(|s| {
        let checks = s.check(&all, counts.sent, counts.errors());
        SloOutcome {
            slo: s.text.clone(),
            met: checks.iter().all(|c| c.met),
            checks,
        }
    });
    if reports.len() > 1 {
        notes.push("per-second percentiles of the timeline are the highest of the shards' (counts and every histogram are exact)".into());
    }
    let interrupted: Vec<String> = reports
        .iter()
        .filter_map(|(n, r)| r.interrupted.as_ref().map(|i| format!("{n}: {i}")))
        .collect();
    Ok(LoadReport {
        format: super::FORMAT,
        tool: first.tool.clone(),
        command: format!(
            "m2mspec load merge {}",
            reports
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        started: reports
            .iter()
            .map(|(_, r)| r.started.clone())
            .min()
            .unwrap_or_default(),
        mode: first.mode.clone(),
        target: first.target.clone(),
        shard: None,
        merged_from: reports.iter().map(|(n, _)| n.clone()).collect(),
        aes: reports.iter().map(|(_, r)| r.aes).sum(),
        connected: reports.iter().map(|(_, r)| r.connected).sum(),
        registered: reports.iter().map(|(_, r)| r.registered).sum(),
        phases: super::Phases {
            connect_s: max(&|r| r.phases.connect_s),
            registration_s: max(&|r| r.phases.registration_s),
            workload_s: max(&|r| r.phases.workload_s),
            stop_s: max(&|r| r.phases.stop_s),
        },
        offered_rate: sum(&|r| r.offered_rate),
        achieved_rate: sum(&|r| r.achieved_rate),
        histograms: super::Histograms {
            connect: hist(&|r| &r.histograms.connect)?,
            registration: hist(&|r| &r.histograms.registration)?,
            ops: merged_ops,
            all,
            delivery: hist(&|r| &r.histograms.delivery)?,
        },
        counts,
        timeline: merge_timelines(&timelines),
        steps,
        knee,
        slo: slo_outcome,
        resources: Resources {
            rss_peak_bytes: reports
                .iter()
                .map(|(_, r)| r.resources.rss_peak_bytes)
                .max()
                .unwrap_or(0),
            rss_per_client_bytes: reports
                .iter()
                .map(|(_, r)| r.resources.rss_per_client_bytes)
                .max()
                .unwrap_or(0),
            cpu_seconds: sum(&|r| r.resources.cpu_seconds),
            cpu_per_wall_second: sum(&|r| r.resources.cpu_per_wall_second),
            cse_handled: reports
                .iter()
                .map(|(_, r)| r.resources.cse_handled)
                .try_fold(0u64, |acc, h| h.map(|h| acc + h)),
            target_in_process: reports.iter().any(|(_, r)| r.resources.target_in_process),
        },
        interrupted: (!interrupted.is_empty()).then(|| interrupted.join("; ")),
        notes: notes
            .into_iter()
            .chain(
                reports
                    .iter()
                    .flat_map(|(n, r)| r.notes.iter().map(move |x| format!("{n}: {x}"))),
            )
            .collect(),
    })
}

fn merge_steps(
    reports: &[(String, LoadReport)],
    slo: Option<&Slo>,
) -> Result<Vec<StepResult>, SimError> {
    let mut by: BTreeMap<usize, Vec<&StepResult>> = BTreeMap::new();
    for (_, r) in reports {
        for s in &r.steps {
            by.entry(s.step).or_default().push(s);
        }
    }
    let mut out = Vec::new();
    for (step, parts) in by {
        let round_trip = HistogramData::merge(parts.iter().map(|s| &s.round_trip))
            .map_err(|e| SimError::Invalid(format!("merging step histograms: {e}")))?;
        let sent = parts.iter().map(|s| s.sent).sum();
        let errors = parts.iter().map(|s| s.errors).sum();
        let (checks, met) = match slo {
            Some(s) => {
                let c = s.check(&round_trip, sent, errors);
                let met = c.iter().all(|c| c.met);
                (c, met)
            }
            None => (Vec::new(), parts.iter().all(|s| s.met)),
        };
        out.push(StepResult {
            step,
            offered_rate: parts.iter().map(|s| s.offered_rate).sum(),
            achieved_rate: parts.iter().map(|s| s.achieved_rate).sum(),
            sent,
            completed: parts.iter().map(|s| s.completed).sum(),
            errors,
            duration_s: parts.iter().map(|s| s.duration_s).fold(0.0, f64::max),
            round_trip,
            checks,
            met,
        });
    }
    Ok(out)
}

/// The knee of a step sequence: the last rate before the first step that broke the SLO.
pub fn knee_of(steps: &[StepResult]) -> Knee {
    let first_break = steps.iter().position(|s| !s.met);
    let upto = first_break.unwrap_or(steps.len());
    Knee {
        highest_sustainable_rate: steps[..upto].last().map(|s| s.offered_rate),
        first_breaking_rate: first_break.map(|i| steps[i].offered_rate),
    }
}
