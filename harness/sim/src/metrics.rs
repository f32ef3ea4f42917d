//! What a load run measures: HDR histograms (microseconds, 3 significant digits) of connect,
//! registration and each operation's round trip; requests sent and completed per second with
//! that second's latency percentiles; errors by kind; and the correctness counters of
//! [`crate::correlate`]. The histograms are kept whole in the report (HdrHistogram V2
//! encoding, base64), so that merging shard reports gives exact percentiles.

use crate::scenario::Op;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Largest latency recorded: 60 s (a longer one is recorded as 60 s, and is a timeout anyway).
pub const MAX_US: u64 = 60_000_000;

/// An empty latency histogram: 1 µs .. 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("3 sigfig"))
}

/// Record `d` (clamped to 1 µs..60 s).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = (d.as_micros() as u64).clamp(1, MAX_US);
    h.saturating_record(us);
}

/// A histogram as the report keeps it: summary figures plus the raw histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramData {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// HdrHistogram V2 encoding, base64 (`m2mspec load merge` adds these up).
    pub hdr: String,
}

/// A histogram that cannot be read back from a report.
#[derive(Debug, thiserror::Error)]
#[error("histogram data: {0}")]
pub struct HistogramError(String);

impl HistogramData {
    pub fn of(h: &Histogram<u64>) -> HistogramData {
        let mut bytes = Vec::new();
        let hdr = match V2Serializer::new().serialize(h, &mut bytes) {
            Ok(_) => base64::engine::general_purpose::STANDARD.encode(&bytes),
            Err(e) => {
                tracing::warn!(error = ?e, "histogram not serialized");
                String::new()
            }
        };
        let empty = h.is_empty();
        HistogramData {
            count: h.len(),
            min_us: if empty { 0 } else { h.min() },
            mean_us: if empty { 0.0 } else { h.mean() },
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            hdr,
        }
    }

    pub fn histogram(&self) -> Result<Histogram<u64>, HistogramError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.hdr)
            .map_err(|e| HistogramError(e.to_string()))?;
        Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| HistogramError(format!("{e:?}")))
    }

    /// The exact sum of several histograms.
    pub fn merge<'a>(
        parts: impl IntoIterator<Item = &'a HistogramData>,
    ) -> Result<HistogramData, HistogramError> {
        let mut sum = new_histogram();
        for p in parts {
            sum.add(p.histogram()?)
                .map_err(|e| HistogramError(format!("{e:?}")))?;
        }
        Ok(HistogramData::of(&sum))
    }
}

/// Counters of everything that went wrong or was checked; none is ever left out of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Requests published (workload).
    pub sent: u64,
    /// Responses matched to a request of the same AE by rqi on the AE's response topic.
    pub matched: u64,
    /// Matched responses with a 2xxx rsc.
    pub ok: u64,
    /// Matched responses with another rsc, by rsc.
    pub non_2xxx: BTreeMap<String, u64>,
    /// Requests with no response within the timeout (lost).
    pub lost: u64,
    /// Responses that came after their request had been counted lost.
    pub late: u64,
    /// A second (or later) response to an answered request.
    pub duplicates: u64,
    /// Responses that answer no request of the AE that got them (unknown or foreign rqi,
    /// no rqi, undecodable payload).
    pub mismatched: u64,
    /// Requests the offered rate asked for but the AE did not send, because too many of its
    /// requests were awaiting responses (`workload.max_outstanding`).
    pub backlog: u64,
    /// Connections refused by the broker (CONNACK return code ≠ 0).
    pub connect_refused: u64,
    /// Connections that failed otherwise (no CONNACK/SUBACK within the bound, reset).
    pub connect_failed: u64,
    /// Established connections lost during the run (each session reconnects by itself).
    pub disconnects: u64,
    /// Registrations that failed (non-2001 rsc, no response, no AE-ID).
    pub registration_failed: u64,
    /// Teardowns (DELETE `<AE>` answered 2002, then the leave sequence) that failed.
    pub teardown_failed: u64,
    /// Responses given the full binding check (a sample).
    pub checked: u64,
    /// Plain MQTT mode: messages received by subscribers. LWM2M: notifications the
    /// harness-played server received.
    pub received: u64,
    /// LWM2M: notifications (NON 2.05) the devices sent.
    #[serde(default)]
    pub notifications: u64,
    /// LWM2M: notifications the mix asked of a device that no server observed (not sent).
    #[serde(default)]
    pub unobserved: u64,
    /// The first lost requests, by name: `<rqi> (<what it was>)` (at most [`LOST_NAMED`]).
    #[serde(default)]
    pub lost_named: Vec<String>,
    /// Binding rules broken by checked responses, by rule.
    pub violations: BTreeMap<String, u64>,
}

/// How many lost requests a report names.
pub const LOST_NAMED: usize = 20;

impl Counts {
    /// Name a lost request (the first [`LOST_NAMED`] only).
    pub fn name_lost(&mut self, rqi: &str, purpose: crate::correlate::Purpose) {
        let what = match purpose {
            crate::correlate::Purpose::Registration => "registration",
            crate::correlate::Purpose::Setup => "setup (container)",
            crate::correlate::Purpose::Work(op) => op.name(),
            crate::correlate::Purpose::Teardown => "teardown (DELETE <AE>)",
        };
        self.name_lost_as(rqi, what);
    }

    /// Name a lost request `name` (what identifies it) as `what` it was, while there is room.
    pub fn name_lost_as(&mut self, name: &str, what: &str) {
        if self.lost_named.len() < LOST_NAMED {
            self.lost_named.push(format!("{name} ({what})"));
        }
    }

    pub fn errors(&self) -> u64 {
        self.non_2xxx.values().sum::<u64>()
            + self.lost
            + self.duplicates
            + self.mismatched
            + self.backlog
            + self.unobserved
            + self.violations.values().sum::<u64>()
    }

    /// Add another shard's counters.
    pub fn add(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.matched += o.matched;
        self.ok += o.ok;
        for (k, v) in &o.non_2xxx {
            *self.non_2xxx.entry(k.clone()).or_default() += v;
        }
        self.lost += o.lost;
        self.late += o.late;
        self.duplicates += o.duplicates;
        self.mismatched += o.mismatched;
        self.backlog += o.backlog;
        self.connect_refused += o.connect_refused;
        self.connect_failed += o.connect_failed;
        self.disconnects += o.disconnects;
        self.registration_failed += o.registration_failed;
        self.teardown_failed += o.teardown_failed;
        self.checked += o.checked;
        self.received += o.received;
        self.notifications += o.notifications;
        self.unobserved += o.unobserved;
        for n in &o.lost_named {
            if self.lost_named.len() < LOST_NAMED {
                self.lost_named.push(n.clone());
            }
        }
        for (k, v) in &o.violations {
            *self.violations.entry(k.clone()).or_default() += v;
        }
    }
}

/// One second of the workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the Unix epoch (shards align on it).
    pub unix: u64,
    pub sent: u64,
    pub completed: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// The live measurements of a run (behind one mutex; each event holds it for a record).
pub struct Metrics {
    pub connect: Histogram<u64>,
    pub registration: Histogram<u64>,
    pub ops: BTreeMap<Op, Histogram<u64>>,
    /// Every round trip of the current step.
    pub step: Histogram<u64>,
    /// Plain MQTT mode: publish-to-receive latency of the messages subscribers got.
    pub delivery: Histogram<u64>,
    pub counts: Counts,
    interval: Histogram<u64>,
    interval_sent: u64,
    interval_completed: u64,
    interval_errors: u64,
    pub timeline: Vec<Second>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connect: new_histogram(),
            registration: new_histogram(),
            ops: BTreeMap::new(),
            step: new_histogram(),
            delivery: new_histogram(),
            counts: Counts::default(),
            interval: new_histogram(),
            interval_sent: 0,
            interval_completed: 0,
            interval_errors: 0,
            timeline: Vec::new(),
        }
    }
}

impl Metrics {
    pub fn sent(&mut self) {
        self.counts.sent += 1;
        self.interval_sent += 1;
    }

    /// A matched response of `op` after `rt` (from the intended send time in open loop).
    pub fn round_trip(&mut self, op: Op, rt: Duration, rsc: Option<i64>) {
        let failure = match rsc {
            Some(c) if (2000..3000).contains(&c) => None,
            other => Some(other.map_or_else(|| "none".to_string(), |c| c.to_string())),
        };
        self.answered(op, rt, failure);
    }

    /// A matched response of `op` after `rt`; `failure`: the code it carried when that is not
    /// a success (a oneM2M rsc, a CoAP code such as `4.04`), counted under `non_2xxx`.
    pub fn answered(&mut self, op: Op, rt: Duration, failure: Option<String>) {
        self.counts.matched += 1;
        self.interval_completed += 1;
        match failure {
            None => self.counts.ok += 1,
            Some(key) => {
                *self.counts.non_2xxx.entry(key).or_default() += 1;
                self.interval_errors += 1;
            }
        }
        record(self.ops.entry(op).or_insert_with(new_histogram), rt);
        record(&mut self.step, rt);
        record(&mut self.interval, rt);
    }

    /// Plain MQTT mode: a message received `latency` after it was published.
    pub fn delivered(&mut self, latency: Duration) {
        self.counts.received += 1;
        self.interval_completed += 1;
        record(&mut self.delivery, latency);
        record(&mut self.step, latency);
        record(&mut self.interval, latency);
    }

    pub fn error(&mut self) {
        self.interval_errors += 1;
    }

    /// Close the current second (called once a second while the workload runs).
    pub fn roll(&mut self, unix: u64) {
        let h = &self.interval;
        self.timeline.push(Second {
            unix,
            sent: self.interval_sent,
            completed: self.interval_completed,
            errors: self.interval_errors,
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        });
        self.interval.reset();
        self.interval_sent = 0;
        self.interval_completed = 0;
        self.interval_errors = 0;
    }

    /// Every operation's round trips in one histogram.
    pub fn all_ops(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for h in self.ops.values() {
            let _ = all.add(h);
        }
        all
    }
}

/// Merge shards' timelines: counts add up per second; a second's percentiles are the highest
/// of the shards' (a bound, marked as such in the report: only whole histograms merge exactly).
pub fn merge_timelines(parts: &[&[Second]]) -> Vec<Second> {
    let mut by: BTreeMap<u64, Second> = BTreeMap::new();
    for part in parts {
        for s in *part {
            let e = by.entry(s.unix).or_insert_with(|| Second {
                unix: s.unix,
                ..Second::default()
            });
            e.sent += s.sent;
            e.completed += s.completed;
            e.errors += s.errors;
            e.p50_us = e.p50_us.max(s.p50_us);
            e.p99_us = e.p99_us.max(s.p99_us);
            e.max_us = e.max_us.max(s.max_us);
        }
    }
    by.into_values().collect()
}

/// Resident set size of this process now and at its peak, in bytes (Linux `/proc`).
pub fn rss_bytes() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) this process has used, in seconds.
pub fn cpu_seconds() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr()) };
    if r != 0 {
        return 0.0;
    }
    // SAFETY: getrusage succeeded, so the struct is initialised.
    let u = unsafe { u.assume_init() };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in values {
            h.saturating_record(*v);
        }
        h
    }

    #[test]
    fn a_histogram_survives_the_report() {
        let h = hist(&[10, 20, 30, 4000, 1_000_000]);
        let d = HistogramData::of(&h);
        assert_eq!(d.count, 5);
        let back = d.histogram().unwrap();
        assert_eq!(back, h);
        let json = serde_json::to_string(&d).unwrap();
        let again: HistogramData = serde_json::from_str(&json).unwrap();
        assert_eq!(again, d);
    }

    proptest! {
        #[test]
        fn merged_percentiles_are_exact(
            a in proptest::collection::vec(1u64..MAX_US, 0..300),
            b in proptest::collection::vec(1u64..MAX_US, 0..300),
        ) {
            // Merging the shards' serialized histograms gives the histogram of all values
            // recorded in one place: every percentile is the same.
            let merged = HistogramData::merge([&HistogramData::of(&hist(&a)), &HistogramData::of(&hist(&b))]).unwrap();
            let all: Vec<u64> = a.iter().chain(&b).copied().collect();
            let whole = HistogramData::of(&hist(&all));
            prop_assert_eq!(merged.count, whole.count);
            prop_assert_eq!(merged.p50_us, whole.p50_us);
            prop_assert_eq!(merged.p99_us, whole.p99_us);
            prop_assert_eq!(merged.p999_us, whole.p999_us);
            prop_assert_eq!(merged.max_us, whole.max_us);
            prop_assert_eq!(merged.min_us, whole.min_us);
            prop_assert_eq!(merged.histogram().unwrap(), hist(&all));
        }
    }

    #[test]
    fn rsc_classes_are_counted() {
        let mut m = Metrics::default();
        m.round_trip(Op::Retrieve, Duration::from_micros(100), Some(2000));
        m.round_trip(Op::Retrieve, Duration::from_micros(100), Some(4004));
        m.round_trip(Op::CreateContainer, Duration::from_micros(100), None);
        assert_eq!(m.counts.ok, 1);
        assert_eq!(m.counts.non_2xxx.get("4004"), Some(&1));
        assert_eq!(m.counts.non_2xxx.get("none"), Some(&1));
        assert_eq!(m.all_ops().len(), 3);
        m.roll(7);
        assert_eq!(m.timeline[0].completed, 3);
        assert_eq!(m.timeline[0].errors, 2);
    }

    #[test]
    fn timelines_add_up_per_second() {
        let a = [Second {
            unix: 1,
            sent: 3,
            completed: 2,
            errors: 0,
            p50_us: 5,
            p99_us: 9,
            max_us: 9,
        }];
        let b = [
            Second {
                unix: 1,
                sent: 1,
                completed: 1,
                errors: 1,
                p50_us: 7,
                p99_us: 8,
                max_us: 12,
            },
            Second {
                unix: 2,
                sent: 4,
                ..Second::default()
            },
        ];
        let m = merge_timelines(&[&a, &b]);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].sent, m[0].completed, m[0].errors), (4, 3, 1));
        assert_eq!((m[0].p50_us, m[0].p99_us, m[0].max_us), (7, 9, 12));
        assert_eq!(m[1].sent, 4);
    }

    #[test]
    fn rss_and_cpu_are_read() {
        let (rss, peak) = rss_bytes();
        assert!(rss > 0 && peak >= rss);
        assert!(cpu_seconds() >= 0.0);
    }
}
