//! The verdict of one case, shared by the run report and the mutation matrix.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Outcome of one case.
///
/// `NonStrict` is a failed SHOULD/MAY check outside strict mode: a warning the
/// vendor should see, not a gate failure. `Inconclusive` means the case could not
/// reach its checks (e.g. a setup step was rejected), so no conformance statement
/// is made either way.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    NonStrict,
    Inconclusive,
    Error,
    Skipped,
}

impl Verdict {
    /// Every verdict, in the order renderers list them.
    pub const ALL: [Verdict; 6] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::NonStrict,
        Verdict::Inconclusive,
        Verdict::Error,
        Verdict::Skipped,
    ];

    /// The serialized spelling (`"non-strict"` etc.), also used as CSS class and JUnit type.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NonStrict => "non-strict",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }

    /// Whether this verdict makes a run fail: fail and error always, non-strict only in strict mode.
    pub fn is_failure(self, strict: bool) -> bool {
        match self {
            Verdict::Fail | Verdict::Error => true,
            Verdict::NonStrict => strict,
            Verdict::Pass | Verdict::Inconclusive | Verdict::Skipped => false,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
