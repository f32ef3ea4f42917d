//! Correlation and correctness under load. Every response an AE receives is matched to one of
//! its requests by rqi (R2 7.5.2: the response carries the request's Request Identifier) and
//! by topic (R2 7.4.3: the response arrives on `/oneM2M/resp/<originator>/<receiver>/<type>`);
//! what cannot be matched is counted — lost (no response within the timeout), late, duplicate,
//! mismatched —, never dropped. A sample of responses gets the full check of the binding rules
//! the suites check: response topic, rqi, rsc present and valid (R2 7.4.5, 7.5.2), and the
//! request's serialization (R2 7.5.3, 7.5.4).

use crate::scenario::Op;
use m2mspec_onem2m::serialization::decode_response;
use m2mspec_onem2m::{ResponsePrimitive, Serialization};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// What a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// CREATE `<AE>` (or reg_req).
    Registration,
    /// CREATE of the AE's own container, before the workload.
    Setup,
    Work(Op),
    /// DELETE `<AE>` at the end (R2 7.3.3 teardown).
    Teardown,
}

/// A request awaiting its response.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub purpose: Purpose,
    /// When it should have been sent (open loop) or was sent (closed loop): latency origin.
    pub intended: Instant,
}

/// What a received response turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Matched {
    /// The response to a pending request; `violations` is empty unless it was checked and
    /// broke a rule.
    Response {
        purpose: Purpose,
        latency: Duration,
        rsc: Option<i64>,
        response: Box<ResponsePrimitive>,
        violations: Vec<&'static str>,
        checked: bool,
    },
    /// The response to a request already counted as lost.
    Late,
    /// Another response to a request already answered.
    Duplicate,
    /// Answers no request of this AE.
    Mismatched(&'static str),
}

/// Binding rules a checked response can break (the report counts them by these names).
pub mod rule {
    pub const RESPONSE_TOPIC: &str =
        "R2 7.4.3 response topic /oneM2M/resp/<originator>/<receiver>/<type>";
    pub const RQI: &str = "R2 7.5.2 rqi present and equal to the request's";
    pub const RSC: &str = "R2 7.5.2 rsc present and a valid response status code";
    pub const SERIALIZATION: &str = "R2 7.5.3 response in the request's serialization";
}

/// The requests of one AE awaiting responses.
#[derive(Debug)]
pub struct Correlator {
    /// Every rqi of this AE starts with it: `<AE-ID>-`.
    prefix: String,
    serialization: Serialization,
    pending: HashMap<u64, Pending>,
    lost: HashSet<u64>,
    next: u64,
}

impl Correlator {
    pub fn new(ae_id: &str, serialization: Serialization) -> Correlator {
        Correlator {
            prefix: format!("{ae_id}-"),
            serialization,
            pending: HashMap::new(),
            lost: HashSet::new(),
            next: 0,
        }
    }

    /// A new request: its rqi, remembered as pending.
    pub fn issue(&mut self, purpose: Purpose, intended: Instant) -> String {
        let seq = self.next;
        self.next += 1;
        self.pending.insert(seq, Pending { purpose, intended });
        format!("{}{seq}", self.prefix)
    }

    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Requests older than `timeout` at `now`: removed and returned with their rqi (they
    /// are lost).
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<(String, Pending)> {
        let overdue: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.intended) >= timeout)
            .map(|(k, _)| *k)
            .collect();
        overdue
            .into_iter()
            .filter_map(|k| {
                self.lost.insert(k);
                self.pending
                    .remove(&k)
                    .map(|p| (format!("{}{k}", self.prefix), p))
            })
            .collect()
    }

    /// Everything still pending, with its rqi (at the end of a run: lost).
    pub fn drain(&mut self) -> Vec<(String, Pending)> {
        let all: Vec<(u64, Pending)> = self.pending.drain().collect();
        all.into_iter()
            .map(|(k, p)| {
                self.lost.insert(k);
                (format!("{}{k}", self.prefix), p)
            })
            .collect()
    }

    /// Match a PUBLISH received on `topic` (`expected_topic`: where this AE's responses
    /// must arrive). `check`: give it the full binding check.
    pub fn on_response(
        &mut self,
        topic: &str,
        expected_topic: &str,
        payload: &[u8],
        now: Instant,
        check: bool,
    ) -> Matched {
        let response = match decode_response(payload, self.serialization) {
            Ok(r) => r,
            Err(_) => return Matched::Mismatched("undecodable payload"),
        };
        let Some(rqi) = response.rqi.as_deref() else {
            return Matched::Mismatched("no rqi");
        };
        let Some(seq) = rqi
            .strip_prefix(self.prefix.as_str())
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return Matched::Mismatched("rqi of no request of this AE");
        };
        let Some(p) = self.pending.remove(&seq) else {
            return if self.lost.remove(&seq) {
                Matched::Late
            } else if seq < self.next {
                Matched::Duplicate
            } else {
                Matched::Mismatched("rqi of a request never sent")
            };
        };
        let mut violations = Vec::new();
        // The topic is compared for every response (cheap); the rest for the sample.
        if topic != expected_topic {
            violations.push(rule::RESPONSE_TOPIC);
        }
        if check {
            if !response.rsc.is_some_and(valid_rsc) {
                violations.push(rule::RSC);
            }
            if response.rqi.as_deref() != Some(rqi) {
                violations.push(rule::RQI);
            }
        }
        Matched::Response {
            purpose: p.purpose,
            latency: now.saturating_duration_since(p.intended),
            rsc: response.rsc,
            response: Box::new(response),
            violations,
            checked: check,
        }
    }
}

/// A response status code of TS-0004 6.6: 1xxx..6xxx.
pub fn valid_rsc(rsc: i64) -> bool {
    (1000..7000).contains(&rsc)
}

/// A payload that does not decode in the request's serialization but does in another one
/// broke R2 7.5.3; used on the sample.
pub fn wrong_serialization(payload: &[u8], expected: Serialization) -> bool {
    decode_response(payload, expected).is_err()
        && Serialization::ALL
            .into_iter()
            .filter(|s| *s != expected)
            .any(|s| decode_response(payload, s).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2mspec_onem2m::serialization::encode_response;

    const TOPIC: &str = "/oneM2M/resp/Cae000001/id-in/json";

    fn rsp(rqi: Option<&str>, rsc: Option<i64>) -> Vec<u8> {
        encode_response(
            &ResponsePrimitive {
                rsc,
                rqi: rqi.map(str::to_string),
                ..Default::default()
            },
            Serialization::Json,
        )
        .unwrap()
    }

    fn correlator() -> Correlator {
        Correlator::new("Cae000001", Serialization::Json)
    }

    #[test]
    fn a_response_matches_its_request_once() {
        let mut c = correlator();
        let t0 = Instant::now();
        let rqi = c.issue(Purpose::Work(Op::Retrieve), t0);
        assert_eq!(rqi, "Cae000001-0");
        let later = t0 + Duration::from_millis(3);
        match c.on_response(TOPIC, TOPIC, &rsp(Some(&rqi), Some(2000)), later, true) {
            Matched::Response {
                purpose,
                latency,
                rsc,
                violations,
                checked,
                ..
            } => {
                assert_eq!(purpose, Purpose::Work(Op::Retrieve));
                assert_eq!(latency, Duration::from_millis(3));
                assert_eq!(rsc, Some(2000));
                assert!(violations.is_empty());
                assert!(checked);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.on_response(TOPIC, TOPIC, &rsp(Some(&rqi), Some(2000)), later, false),
            Matched::Duplicate
        );
        assert_eq!(c.outstanding(), 0);
    }

    #[test]
    fn lost_late_and_mismatched_are_told_apart() {
        let mut c = correlator();
        let t0 = Instant::now();
        let a = c.issue(Purpose::Work(Op::Retrieve), t0);
        let _b = c.issue(Purpose::Work(Op::Retrieve), t0 + Duration::from_secs(1));
        let lost = c.expire(t0 + Duration::from_millis(1500), Duration::from_secs(1));
        assert_eq!(lost.len(), 1, "only the first is overdue");
        assert_eq!(lost[0].0, a, "a lost request is named by its rqi");
        assert_eq!(
            c.on_response(TOPIC, TOPIC, &rsp(Some(&a), Some(2000)), t0, false),
            Matched::Late
        );
        assert_eq!(
            c.on_response(
                TOPIC,
                TOPIC,
                &rsp(Some("Cae000001-99"), Some(2000)),
                t0,
                false
            ),
            Matched::Mismatched("rqi of a request never sent")
        );
        assert_eq!(
            c.on_response(TOPIC, TOPIC, &rsp(Some("Cother-0"), Some(2000)), t0, false),
            Matched::Mismatched("rqi of no request of this AE")
        );
        assert_eq!(
            c.on_response(TOPIC, TOPIC, &rsp(None, Some(2000)), t0, false),
            Matched::Mismatched("no rqi")
        );
        assert_eq!(
            c.on_response(TOPIC, TOPIC, b"not json", t0, false),
            Matched::Mismatched("undecodable payload")
        );
        assert_eq!(
            c.drain().len(),
            1,
            "the second is still pending: lost at the end"
        );
    }

    #[test]
    fn checked_responses_report_broken_rules() {
        let mut c = correlator();
        let t0 = Instant::now();
        let rqi = c.issue(Purpose::Work(Op::Retrieve), t0);
        let wrong = "/oneM2M/resp/id-in/Cae000001/json";
        match c.on_response(wrong, TOPIC, &rsp(Some(&rqi), None), t0, true) {
            Matched::Response { violations, .. } => {
                assert_eq!(violations, vec![rule::RESPONSE_TOPIC, rule::RSC]);
            }
            other => panic!("{other:?}"),
        }
        let rqi = c.issue(Purpose::Work(Op::Retrieve), t0);
        match c.on_response(TOPIC, TOPIC, &rsp(Some(&rqi), Some(99)), t0, false) {
            Matched::Response { violations, .. } => {
                assert!(violations.is_empty(), "rsc is checked only on the sample");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_serialization_is_recognised() {
        let xml = encode_response(
            &ResponsePrimitive {
                rsc: Some(2000),
                rqi: Some("x".into()),
                ..Default::default()
            },
            Serialization::Xml,
        )
        .unwrap();
        assert!(wrong_serialization(&xml, Serialization::Json));
        assert!(!wrong_serialization(&xml, Serialization::Xml));
        assert!(!wrong_serialization(b"garbage", Serialization::Json));
    }

    #[test]
    fn rsc_validity() {
        assert!(valid_rsc(2000) && valid_rsc(4004) && valid_rsc(6010));
        assert!(!valid_rsc(200) && !valid_rsc(7000) && !valid_rsc(-1));
    }
}
