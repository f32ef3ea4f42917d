//! Service level objectives given on the command line (`--slo p99=50ms,errors=0.1%`), checked
//! against a run or against each step of the knee search. Latency keys: `p50`, `p90`, `p99`,
//! `p999`, `max` (units `us`, `ms`, `s`); `errors` as a percentage of the requests sent (every
//! error kind of [`crate::metrics::Counts::errors`] counts).

use crate::error::SimError;
use crate::metrics::HistogramData;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// (percentile name, bound in µs).
    pub latency: Vec<(String, u64)>,
    /// Highest error ratio, percent.
    pub errors_pct: Option<f64>,
    pub text: String,
}

/// One objective's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloCheck {
    pub objective: String,
    pub observed: String,
    pub met: bool,
}

impl Slo {
    pub fn parse(s: &str) -> Result<Slo, SimError> {
        let err = |d: String| SimError::Slo(s.to_string(), d);
        let mut slo = Slo {
            latency: Vec::new(),
            errors_pct: None,
            text: s.to_string(),
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err(format!("{part:?}: expected <key>=<value>")))?;
            let (k, v) = (k.trim(), v.trim());
            match k {
                "p50" | "p90" | "p99" | "p999" | "max" => slo
                    .latency
                    .push((k.to_string(), parse_duration_us(v).map_err(err)?)),
                "errors" => {
                    let pct = v
                        .strip_suffix('%')
                        .ok_or_else(|| err(format!("errors={v}: give a percentage, e.g. 0.1%")))?
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| err(format!("errors={v}: not a number")))?;
                    if !(0.0..=100.0).contains(&pct) {
                        return Err(err(format!("errors={v}: use 0%..100%")));
                    }
                    slo.errors_pct = Some(pct);
                }
                other => {
                    return Err(err(format!(
                        "unknown key {other:?}; use p50, p90, p99, p999, max, errors"
                    )))
                }
            }
        }
        if slo.latency.is_empty() && slo.errors_pct.is_none() {
            return Err(err("no objective given".into()));
        }
        Ok(slo)
    }

    /// Check the objectives against round trips `h`, `errors` out of `sent` requests.
    pub fn check(&self, h: &HistogramData, sent: u64, errors: u64) -> Vec<SloCheck> {
        let mut out = Vec::new();
        for (k, bound) in &self.latency {
            let v = match k.as_str() {
                "p50" => h.p50_us,
                "p90" => h.p90_us,
                "p99" => h.p99_us,
                "p999" => h.p999_us,
                _ => h.max_us,
            };
            out.push(SloCheck {
                objective: format!("{k} <= {}", fmt_us(*bound)),
                observed: fmt_us(v),
                // No round trip at all cannot meet a latency objective.
                met: h.count > 0 && v <= *bound,
            });
        }
        if let Some(max) = self.errors_pct {
            let pct = if sent == 0 {
                100.0
            } else {
                errors as f64 * 100.0 / sent as f64
            };
            out.push(SloCheck {
                objective: format!("errors <= {max}%"),
                observed: format!("{pct:.3}% ({errors} of {sent})"),
                met: sent > 0 && pct <= max,
            });
        }
        out
    }
}

/// `50ms`, `1.5s`, `800us` → microseconds.
pub fn parse_duration_us(v: &str) -> Result<u64, String> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        return Err(format!("{v:?}: give a unit (us, ms or s)"));
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{v:?}: not a number"))?;
    if !(x.is_finite() && x > 0.0) {
        return Err(format!("{v:?}: must be positive"));
    }
    Ok((x * scale).round() as u64)
}

/// A latency for people: `850us`, `12.3ms`, `1.20s`.
pub fn fmt_us(us: u64) -> String {
    if us < 1000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn parses_latency_and_errors() {
        let s = Slo::parse("p99=50ms, errors=0.1%,p50=800us,max=2s").unwrap();
        assert_eq!(
            s.latency,
            vec![
                ("p99".into(), 50_000),
                ("p50".into(), 800),
                ("max".into(), 2_000_000)
            ]
        );
        assert_eq!(s.errors_pct, Some(0.1));
    }

    #[rstest]
    #[case("p99")]
    #[case("p99=50")]
    #[case("p97=5ms")]
    #[case("errors=5")]
    #[case("errors=150%")]
    #[case("p99=-3ms")]
    #[case("")]
    fn bad_slos_are_usage_errors(#[case] s: &str) {
        let e = Slo::parse(s).unwrap_err();
        assert!(e.is_usage());
        assert!(e.to_string().contains("--slo"));
    }

    #[test]
    fn checks_say_what_was_observed() {
        let mut h = crate::metrics::new_histogram();
        for v in [100u64, 200, 300, 40_000] {
            h.saturating_record(v);
        }
        let d = HistogramData::of(&h);
        let s = Slo::parse("p50=1ms,max=10ms,errors=1%").unwrap();
        let c = s.check(&d, 1000, 5);
        assert!(c[0].met, "{c:?}");
        assert!(!c[1].met, "max 40ms > 10ms");
        assert!(c[2].met, "0.5% <= 1%");
        let c = s.check(&d, 1000, 20);
        assert!(!c[2].met);
        let empty = HistogramData::of(&crate::metrics::new_histogram());
        assert!(
            s.check(&empty, 0, 0).iter().all(|c| !c.met),
            "nothing measured meets nothing"
        );
    }

    #[test]
    fn durations_format() {
        assert_eq!(fmt_us(850), "850us");
        assert_eq!(fmt_us(12_300), "12.30ms");
        assert_eq!(fmt_us(1_200_000), "1.20s");
    }
}
