//! `expect_sequence`: packets that must appear on the wire in a given order (e.g. the R2 7.3.3
//! teardown: a CONNECT with Clean Session = 1, then a DISCONNECT, then a CONNECT with Clean
//! Session = 0), read from the gatekeeper trace like the other trace steps.
//!
//! Each element is a packet pattern (sender, direction, packet type, fields). The sequence is
//! found when every element matches a packet later in the trace than the packet the element
//! before it matched; other packets may come in between. Each element takes the earliest
//! packet that fits, which finds the sequence whenever the trace holds one. When it is not
//! found in time, the evidence shows the packets that matched, the element where the
//! sequence broke, and — when that element's packet was seen but too early — where it was.

use super::{dir_matches, from_client, sut, PACKETS};
use crate::matcher::{check_fields, describe, FieldExpectations};
use crate::steps::case_run::CaseRun;
use crate::steps::default_step_timeout_ms;
use crate::steps::evidence::packet_json;
use crate::steps::failure::{StepFailure, StepResult};
use m2mspec_mqtt::trace::{EventKind, TraceEvent};
use m2mspec_reports::Evidence;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// Expect packets in this order in the trace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectSequence {
    /// The default sender of the elements: "sut" (default) or an entity alias.
    #[serde(default = "sut")]
    from: String,
    /// The packet patterns, in the order they must appear.
    packets: Vec<Element>,
    /// Search the whole trace (true) or only since the case started (false).
    #[serde(default)]
    whole_trace: bool,
    /// Wait this long for the whole sequence.
    #[serde(default = "default_step_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    pub(super) setup: bool,
}

/// One packet pattern of a sequence.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Element {
    /// Its sender, when not the sequence's `from`.
    from: Option<String>,
    /// `from_client` (default) or `to_client`, as for `expect_count`.
    #[serde(default = "from_client")]
    direction: String,
    /// One of the packets `expect_count` knows (not `carriage`).
    packet: String,
    #[serde(default)]
    fields: FieldExpectations,
}

/// An element with its templates expanded.
struct Pattern<'e> {
    from: &'e str,
    to_client: bool,
    packet: &'e str,
    fields: Vec<(String, Value)>,
}

impl Pattern<'_> {
    fn describe(&self) -> String {
        let mut s = format!("{} ", self.packet.to_uppercase());
        s.push_str(if self.to_client { "to " } else { "from " });
        s.push_str(self.from);
        if !self.fields.is_empty() {
            s.push_str(" with ");
            s.push_str(&describe(self.fields.iter().map(|(k, v)| (k, v))));
        }
        s
    }
}

/// Where a search of the sequence got to: the events the leading elements matched, and, when
/// it broke, the element that found no packet after them.
#[derive(Debug, PartialEq)]
struct Found {
    matched: Vec<usize>,
    broke_at: Option<usize>,
}

/// Find the sequence in `events`: each element takes the earliest event after the one the
/// element before it took that `fits(element, event)`. Greedy earliest matching finds the
/// sequence whenever `events` holds one (an earlier choice never leaves fewer events for the
/// rest).
fn find<T>(events: &[T], elements: usize, fits: impl Fn(usize, &T) -> bool) -> Found {
    let mut matched = Vec::with_capacity(elements);
    let mut at = 0;
    for i in 0..elements {
        match events[at..].iter().position(|e| fits(i, e)) {
            Some(k) => {
                matched.push(at + k);
                at += k + 1;
            }
            None => {
                return Found {
                    matched,
                    broke_at: Some(i),
                }
            }
        }
    }
    Found {
        matched,
        broke_at: None,
    }
}

impl ExpectSequence {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.packets.is_empty() {
            return Err("expect_sequence: packets is empty".into());
        }
        for (i, e) in self.packets.iter().enumerate() {
            if e.packet == "carriage" || !PACKETS.contains(&e.packet.as_str()) {
                return Err(format!(
                    "expect_sequence: packet {} names unknown packet {:?}",
                    i + 1,
                    e.packet
                ));
            }
            if !matches!(e.direction.as_str(), "from_client" | "to_client") {
                return Err(format!(
                    "expect_sequence: packet {}: direction {:?} (from_client or to_client)",
                    i + 1,
                    e.direction
                ));
            }
        }
        Ok(())
    }

    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let mut patterns = Vec::with_capacity(self.packets.len());
        for e in &self.packets {
            patterns.push(Pattern {
                from: e.from.as_deref().unwrap_or(&self.from),
                to_client: e.direction == "to_client",
                packet: &e.packet,
                fields: run.expand_fields(&e.fields)?,
            });
        }
        let since = if self.whole_trace { 0 } else { run.start_seq };
        let fits = |run: &CaseRun<'_>, p: &Pattern<'_>, e: &TraceEvent| {
            dir_matches(p.to_client, e)
                && run.is_from(p.from, e)
                && match &e.kind {
                    EventKind::Packet(pk) => {
                        let (name, data) = packet_json(pk);
                        name == p.packet
                            && check_fields(&data, p.fields.iter().map(|(k, v)| (k, v))).is_empty()
                    }
                    _ => false,
                }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.timeout_ms);
        loop {
            let next = run.tb.trace().next_seq();
            let events = run.tb.trace().since(since);
            let found = find(&events, patterns.len(), |i, e| fits(run, &patterns[i], e));
            let Some(broke) = found.broke_at else {
                return Ok(());
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !left.is_zero()
                && run
                    .tb
                    .trace()
                    .wait_for(next, left, |_| true)
                    .await
                    .is_some()
            {
                continue;
            }
            return Err(self.broken(run, &patterns, &events, &found, broke, &fits));
        }
    }

    /// The evidence of a sequence that broke at element `broke`.
    fn broken(
        &self,
        run: &CaseRun<'_>,
        patterns: &[Pattern<'_>],
        events: &[TraceEvent],
        found: &Found,
        broke: usize,
        fits: &impl Fn(&CaseRun<'_>, &Pattern<'_>, &TraceEvent) -> bool,
    ) -> StepFailure {
        let n = patterns.len();
        let mut lines: Vec<String> = found
            .matched
            .iter()
            .enumerate()
            .map(|(i, &k)| format!("{}/{n} matched: {}", i + 1, events[k].summary()))
            .collect();
        let after = found.matched.last().map(|&k| events[k].seq);
        let pattern = &patterns[broke];
        // The broken element's packets seen before the packet it had to follow.
        let early: Vec<&TraceEvent> = match found.matched.last() {
            Some(&k) => events[..k]
                .iter()
                .filter(|e| fits(run, pattern, e))
                .collect(),
            None => Vec::new(),
        };
        for e in &early {
            lines.push(format!(
                "{}/{n} seen only before packet {broke}/{n}: {}",
                broke + 1,
                e.summary()
            ));
        }
        // What the element's sender sent of its kind after that point, and why it did not fit.
        let start = found.matched.last().map_or(0, |&k| k + 1);
        let candidates: Vec<String> = events[start..]
            .iter()
            .filter(|e| dir_matches(pattern.to_client, e) && run.is_from(pattern.from, e))
            .filter_map(|e| match &e.kind {
                EventKind::Packet(pk) if packet_json(pk).0 == pattern.packet => {
                    let m = check_fields(
                        &packet_json(pk).1,
                        pattern.fields.iter().map(|(k, v)| (k, v)),
                    );
                    let why: Vec<String> = m.iter().map(ToString::to_string).collect();
                    Some(format!("{} — {}", e.summary(), why.join("; ")))
                }
                _ => None,
            })
            .collect();
        let shown = candidates.len().min(10);
        lines.extend(
            candidates[candidates.len() - shown..]
                .iter()
                .map(|c| format!("{}/{n} not matched: {c}", broke + 1)),
        );
        let position = match after {
            Some(seq) => format!(" after #{seq} (packet {broke}/{n})"),
            None => String::new(),
        };
        let mut message = format!(
            "the sequence broke at packet {}/{n}: no {}{position} within {} ms",
            broke + 1,
            pattern.describe(),
            self.timeout_ms
        );
        if !early.is_empty() {
            message.push_str(&format!(
                "; such a packet was seen only earlier, before packet {broke}/{n}"
            ));
        }
        StepFailure::Check(Evidence {
            message,
            expected: Some(
                patterns
                    .iter()
                    .enumerate()
                    .map(|(i, p)| format!("{}. {}", i + 1, p.describe()))
                    .collect::<Vec<_>>()
                    .join(", then "),
            ),
            observed: Some(if broke == 0 {
                format!("packet 1 of {n} not found")
            } else {
                format!(
                    "packets 1 to {broke} of {n} in order, packet {} missing",
                    broke + 1
                )
            }),
            packets: if lines.is_empty() {
                run.recent_packets(20)
            } else {
                lines
            },
            data: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    /// Elements and events as letters: an element fits an event of the same letter.
    fn found(events: &str, elements: &str) -> Found {
        let ev: Vec<char> = events.chars().collect();
        let el: Vec<char> = elements.chars().collect();
        find(&ev, el.len(), |i, e| el[i] == *e)
    }

    #[rstest]
    #[case::in_order("abc", "abc", vec![0, 1, 2], None)]
    #[case::others_between("xaxbxxc", "abc", vec![1, 3, 6], None)]
    #[case::earliest_taken("aabbc", "abc", vec![0, 2, 4], None)]
    #[case::repeated_element("abab", "aab", vec![0, 2, 3], None)]
    #[case::out_of_order("bac", "abc", vec![1], Some(1))]
    #[case::missing_first("bc", "abc", vec![], Some(0))]
    #[case::missing_last("ab", "abc", vec![0, 1], Some(2))]
    #[case::empty_trace("", "a", vec![], Some(0))]
    fn finds_the_sequence_or_where_it_broke(
        #[case] events: &str,
        #[case] elements: &str,
        #[case] matched: Vec<usize>,
        #[case] broke_at: Option<usize>,
    ) {
        assert_eq!(found(events, elements), Found { matched, broke_at });
    }

    /// Is `sub` a subsequence of `s` (the reference definition)?
    fn is_subsequence(sub: &[char], s: &[char]) -> bool {
        let mut it = s.iter();
        sub.iter().all(|c| it.any(|x| x == c))
    }

    proptest! {
        /// The search finds the sequence exactly when the trace holds it as a subsequence, the
        /// matched events are in increasing order and each fits its element.
        #[test]
        fn agrees_with_the_subsequence_definition(events in "[abc]{0,12}", elements in "[abc]{1,4}") {
            let ev: Vec<char> = events.chars().collect();
            let el: Vec<char> = elements.chars().collect();
            let f = find(&ev, el.len(), |i, e| el[i] == *e);
            prop_assert_eq!(f.broke_at.is_none(), is_subsequence(&el, &ev));
            prop_assert!(f.matched.windows(2).all(|w| w[0] < w[1]));
            for (i, &k) in f.matched.iter().enumerate() {
                prop_assert_eq!(ev[k], el[i]);
            }
            prop_assert_eq!(f.matched.len(), f.broke_at.unwrap_or(el.len()));
        }
    }
}
