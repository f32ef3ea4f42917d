//! How a step goes wrong: a failed check (the SUT did not do what the requirement says) or a
//! harness error (the harness could not carry the step out), each with its evidence.

use crate::matcher::Mismatch;
use m2mspec_reports::Evidence;
use serde_json::Value;

/// How a step went wrong.
#[derive(Debug)]
pub enum StepFailure {
    /// The SUT did not do what the requirement says.
    Check(Evidence),
    /// The harness could not carry out the step.
    Error(Evidence),
    /// The step could not reach the SUT's behaviour (its upper tester was unreachable or did
    /// not answer): the case is `inconclusive` wherever the step stands.
    Unreached(Evidence),
    /// The SUT broke a MUST of the transport protocol (e.g. an MQTT server closing the
    /// connection where MQTT 3.1.1 requires a SUBACK): `fail`, even in a setup step, since the
    /// SUT's answer is what stopped the case.
    Violation(Evidence),
}

pub type StepResult = Result<(), StepFailure>;

/// Evidence that is only a message.
pub(crate) fn ev(message: impl Into<String>) -> Evidence {
    Evidence {
        message: message.into(),
        expected: None,
        observed: None,
        packets: Vec::new(),
        data: None,
    }
}

/// The harness could not act: the case is `error`, not `fail`.
pub(crate) fn harness_error(message: impl Into<String>) -> StepFailure {
    StepFailure::Error(ev(message))
}

/// A failed check listing every field that differs, what was expected and what was seen.
pub(crate) fn mismatch_evidence(
    what: &str,
    mismatches: &[Mismatch],
    packets: Vec<String>,
    data: Option<Value>,
) -> StepFailure {
    StepFailure::Check(Evidence {
        message: format!(
            "{what}: {}",
            mismatches
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        expected: Some(
            mismatches
                .iter()
                .map(|m| format!("{} = {}", m.path, m.expected))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        observed: Some(
            mismatches
                .iter()
                .map(|m| format!("{} = {}", m.path, m.observed))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        packets,
        data,
    })
}
