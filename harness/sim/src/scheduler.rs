//! When each AE sends its requests, and which operation each one is.
//!
//! Open loop: the population offers `rate` requests/s in total, spread evenly — AE `p` of `n`
//! sends at `start + p/rate + k·n/rate` for k = 0, 1, … — so the merged sequence of intended
//! times is one request every `1/rate` s. An intended time is a pure function of `k`: it never
//! moves because a response is slow or the sender was held up. A request sent late keeps its
//! intended time, and its latency is measured from it (no coordinated omission: a stall shows
//! up in the latencies instead of silently lowering the offered rate).
//!
//! Closed loop: each AE sends, waits for the response (or its timeout), thinks, and sends again.

use crate::scenario::Op;
use std::time::Duration;
use tokio::time::Instant;

/// The open-loop schedule of one AE.
#[derive(Debug, Clone)]
pub struct OpenLoop {
    first: Instant,
    interval: Duration,
    end: Instant,
    /// Requests this AE may send at most (its part of a request count); `u64::MAX`: no limit.
    quota: u64,
    next: u64,
}

impl OpenLoop {
    /// AE number `position` of `aes` in this process, sharing `rate` requests/s from `start`
    /// for `duration`. `total_quota` (0: none) is the request count of this process, split so
    /// that the AEs' quotas add up to it.
    pub fn new(
        start: Instant,
        rate: f64,
        aes: u64,
        position: u64,
        duration: Duration,
        total_quota: u64,
    ) -> OpenLoop {
        let aes = aes.max(1);
        let offset = Duration::from_secs_f64(position as f64 / rate);
        let quota = if total_quota == 0 {
            u64::MAX
        } else {
            total_quota / aes + u64::from(position < total_quota % aes)
        };
        OpenLoop {
            first: start + offset,
            interval: Duration::from_secs_f64(aes as f64 / rate),
            end: start + duration,
            quota,
            next: 0,
        }
    }

    /// The intended time of request `k`, or `None` past the end or the quota.
    pub fn intended(&self, k: u64) -> Option<Instant> {
        if k >= self.quota {
            return None;
        }
        // Multiply rather than accumulate: no drift over long runs.
        let at = self.first + self.interval.mul_f64(k as f64);
        (at < self.end).then_some(at)
    }

    /// The next request's intended time, without taking it.
    pub fn peek(&self) -> Option<Instant> {
        self.intended(self.next)
    }

    /// Take the next request if it is due at `now`: its number and intended time. Called in a
    /// loop, it returns every overdue request in turn (a sender that was held up catches up).
    pub fn next_due(&mut self, now: Instant) -> Option<(u64, Instant)> {
        let at = self.peek()?;
        if at > now {
            return None;
        }
        let k = self.next;
        self.next += 1;
        Some((k, at))
    }

    /// True when no request is left.
    pub fn done(&self) -> bool {
        self.peek().is_none()
    }
}

/// The operation mix: weights turned into a deterministic pick per (AE, request number).
#[derive(Debug, Clone)]
pub struct Mix {
    cumulative: Vec<(u64, Op)>,
    total: u64,
}

impl Mix {
    /// Operations with weight 0 are never picked. At least one weight must be positive
    /// (the scenario checks it); otherwise every pick is `Retrieve`.
    pub fn new(weights: &[(Op, u32)]) -> Mix {
        let mut sum = 0u64;
        let cumulative = weights
            .iter()
            .filter(|(_, w)| *w > 0)
            .map(|(op, w)| {
                sum += u64::from(*w);
                (sum, *op)
            })
            .collect();
        Mix {
            cumulative,
            total: sum,
        }
    }

    /// The operation of request `k` of AE `ae`: reproducible, and spread like the weights.
    pub fn pick(&self, ae: u64, k: u64) -> Op {
        if self.total == 0 {
            return Op::Retrieve;
        }
        let x = splitmix64(ae.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k) % self.total;
        self.cumulative
            .iter()
            .find(|(upto, _)| x < *upto)
            .map(|(_, op)| *op)
            .unwrap_or(Op::Retrieve)
    }

    pub fn ops(&self) -> Vec<Op> {
        self.cumulative.iter().map(|(_, o)| *o).collect()
    }
}

/// SplitMix64 (a public-domain mixing function): cheap, well-spread bits from a counter.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_intended(
        start: Instant,
        rate: f64,
        aes: u64,
        dur: Duration,
        quota: u64,
    ) -> Vec<Duration> {
        let mut v = Vec::new();
        for p in 0..aes {
            let s = OpenLoop::new(start, rate, aes, p, dur, quota);
            let mut k = 0;
            while let Some(t) = s.intended(k) {
                v.push(t - start);
                k += 1;
            }
        }
        v.sort();
        v
    }

    #[test]
    fn the_population_offers_one_request_every_one_over_rate() {
        let start = Instant::now();
        let v = all_intended(start, 1000.0, 10, Duration::from_secs(1), 0);
        assert_eq!(v.len(), 1000);
        for (i, t) in v.iter().enumerate() {
            let want = Duration::from_secs_f64(i as f64 / 1000.0);
            let diff = t.abs_diff(want);
            assert!(
                diff < Duration::from_micros(2),
                "request {i}: {t:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn a_late_sender_catches_up_with_the_original_intended_times() {
        // The sender is held up for 250 ms: the overdue requests come out at once, each with
        // the time it was meant to be sent at, so their latency includes the stall.
        let start = Instant::now();
        let mut s = OpenLoop::new(start, 100.0, 1, 0, Duration::from_secs(1), 0);
        let now = start + Duration::from_millis(250);
        let mut due = Vec::new();
        while let Some((k, at)) = s.next_due(now) {
            due.push((k, at - start));
        }
        assert_eq!(due.len(), 26, "requests 0..=25 are due at 250 ms");
        assert_eq!(due[0], (0, Duration::ZERO));
        assert_eq!(due[25].0, 25);
        assert!(due[25].1 <= Duration::from_millis(250));
        assert_eq!(s.next_due(now), None, "nothing more is due yet");
        assert!(s.peek().is_some_and(|t| t > now));
    }

    #[test]
    fn nothing_is_due_before_its_time_nor_after_the_end() {
        let start = Instant::now();
        let mut s = OpenLoop::new(start, 10.0, 2, 1, Duration::from_secs(1), 0);
        assert_eq!(s.next_due(start), None, "AE 1 of 2 starts 100 ms in");
        let (k, at) = s.next_due(start + Duration::from_millis(100)).unwrap();
        assert_eq!((k, at - start), (0, Duration::from_millis(100)));
        let mut n = 1;
        while s.next_due(start + Duration::from_secs(5)).is_some() {
            n += 1;
        }
        assert_eq!(n, 5, "one every 200 ms within the second");
        assert!(s.done());
    }

    proptest! {
        #[test]
        fn quotas_add_up_to_the_request_count(aes in 1u64..50, quota in 1u64..2000) {
            let start = Instant::now();
            let v = all_intended(start, 1e6, aes, Duration::from_secs(3600), quota);
            prop_assert_eq!(v.len() as u64, quota);
        }

        #[test]
        fn offered_count_matches_rate_times_duration(rate in 1.0f64..5000.0, aes in 1u64..40, ms in 100u64..3000) {
            let start = Instant::now();
            let dur = Duration::from_millis(ms);
            let n = all_intended(start, rate, aes, dur, 0).len() as f64;
            let want = rate * dur.as_secs_f64();
            prop_assert!((n - want).abs() <= aes as f64 + 1.0, "{} vs {}", n, want);
        }

        #[test]
        fn picks_follow_the_weights(w1 in 1u32..10, w2 in 1u32..10) {
            let mix = Mix::new(&[(Op::Retrieve, w1), (Op::CreateContainer, w2)]);
            let n = 20_000u64;
            let r = (0..n).filter(|k| mix.pick(k % 97, *k) == Op::Retrieve).count() as f64;
            let want = n as f64 * f64::from(w1) / f64::from(w1 + w2);
            prop_assert!((r - want).abs() < 0.05 * n as f64, "{} vs {}", r, want);
        }
    }

    #[test]
    fn zero_weights_are_never_picked() {
        let mix = Mix::new(&[(Op::Retrieve, 0), (Op::UpdateContainer, 3)]);
        assert!((0..1000).all(|k| mix.pick(1, k) == Op::UpdateContainer));
        assert_eq!(mix.ops(), vec![Op::UpdateContainer]);
    }
}
