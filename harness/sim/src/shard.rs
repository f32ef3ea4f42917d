//! Shards: `--shard I/N` (or `JOB_COMPLETION_INDEX` of a Kubernetes Indexed Job with
//! `--shards N`) gives each simulator process a disjoint slice of the AE index space; the
//! slices of all N shards together are the whole population. `m2mspec load merge` combines
//! the shards' reports (see [`crate::report::merge`]).

use crate::error::SimError;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The environment variable Kubernetes sets in each pod of an Indexed Job.
pub const JOB_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    pub fn new(index: u64, count: u64) -> Result<Shard, SimError> {
        let text = format!("{index}/{count}");
        if count == 0 {
            return Err(SimError::Shard(
                text,
                "the shard count must be at least 1".into(),
            ));
        }
        if index >= count {
            return Err(SimError::Shard(
                text,
                format!(
                    "the index is out of range: shards are numbered 0..={}",
                    count - 1
                ),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parse `I/N`.
    pub fn parse(s: &str) -> Result<Shard, SimError> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| SimError::Shard(s.into(), "expected I/N, e.g. 0/4".into()))?;
        let num = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| SimError::Shard(s.into(), format!("{t:?} is not a whole number")))
        };
        let (index, count) = (num(i)?, num(n)?);
        Shard::new(index, count).map_err(|e| match e {
            SimError::Shard(_, d) => SimError::Shard(s.into(), d),
            other => other,
        })
    }

    /// The shard of this process: `--shard I/N`, else `--shards N` with the index from
    /// `JOB_COMPLETION_INDEX` (`job_index`), else the whole population.
    pub fn resolve(
        flag: Option<&str>,
        shards: Option<u64>,
        job_index: Option<&str>,
    ) -> Result<Shard, SimError> {
        match (flag, shards, job_index) {
            (Some(f), _, _) => Shard::parse(f),
            (None, Some(n), Some(i)) => {
                let index = i.trim().parse::<u64>().map_err(|_| {
                    SimError::Shard(
                        format!("{JOB_INDEX_VAR}={i}"),
                        "not a whole number".into(),
                    )
                })?;
                Shard::new(index, n)
            }
            (None, Some(n), None) if n > 1 => Err(SimError::Shard(
                format!("--shards {n}"),
                format!("give --shard I/{n}, or run as a Kubernetes Indexed Job ({JOB_INDEX_VAR} is not set)"),
            )),
            _ => Ok(Shard::default()),
        }
    }

    /// The AE indices of this shard among `total`: contiguous, disjoint across shards, and
    /// together exactly `0..total` (sizes differ by at most one).
    pub fn slice(&self, total: u64) -> Range<u64> {
        let start = split_point(total, self.index, self.count);
        let end = split_point(total, self.index + 1, self.count);
        start..end
    }

    /// This shard's part of a population-wide quantity (a rate): proportional to its slice.
    pub fn share(&self, total_aes: u64, whole: f64) -> f64 {
        if total_aes == 0 {
            return 0.0;
        }
        whole * (self.slice(total_aes).count() as f64) / (total_aes as f64)
    }

    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.count)
    }
}

fn split_point(total: u64, k: u64, n: u64) -> u64 {
    // floor(total * k / n) without overflow for the sizes used here.
    ((total as u128 * k as u128) / n as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("0/1", 0, 1)]
    #[case("3/4", 3, 4)]
    #[case(" 1 / 2 ", 1, 2)]
    fn parses(#[case] s: &str, #[case] i: u64, #[case] n: u64) {
        assert_eq!(Shard::parse(s).unwrap(), Shard { index: i, count: n });
    }

    #[rstest]
    #[case("2/2", "out of range")]
    #[case("5/3", "out of range")]
    #[case("0/0", "at least 1")]
    #[case("1", "expected I/N")]
    #[case("a/2", "not a whole number")]
    #[case("-1/2", "not a whole number")]
    fn bad_shards_are_usage_errors(#[case] s: &str, #[case] needle: &str) {
        let e = Shard::parse(s).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
        assert!(e.is_usage());
    }

    #[test]
    fn the_job_index_selects_the_shard() {
        assert_eq!(
            Shard::resolve(None, Some(4), Some("2")).unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert!(Shard::resolve(None, Some(4), Some("4")).is_err());
        assert!(Shard::resolve(None, Some(4), None).is_err());
        assert_eq!(
            Shard::resolve(None, None, Some("3")).unwrap(),
            Shard::default()
        );
        assert_eq!(
            Shard::resolve(Some("1/2"), Some(9), Some("7")).unwrap(),
            Shard { index: 1, count: 2 }
        );
    }

    proptest! {
        #[test]
        fn slices_are_disjoint_and_complete(total in 0u64..100_000, count in 1u64..64) {
            let mut next = 0;
            let mut sizes = Vec::new();
            for index in 0..count {
                let r = Shard { index, count }.slice(total);
                prop_assert_eq!(r.start, next, "contiguous and disjoint");
                next = r.end;
                sizes.push(r.end - r.start);
            }
            prop_assert_eq!(next, total, "complete");
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            prop_assert!(max - min <= 1, "balanced: {:?}", sizes);
        }

        #[test]
        fn shares_add_up(total in 1u64..10_000, count in 1u64..16, rate in 1.0f64..1e5) {
            let sum: f64 = (0..count).map(|index| Shard { index, count }.share(total, rate)).sum();
            prop_assert!((sum - rate).abs() < 1e-6 * rate);
        }
    }
}
