//! Known survivors: faults the self-test does not kill yet, each with the reason, so that the
//! CI gate fails on a *new* survivor (a change that lets a fault survive) while the known ones
//! are worked off. The file is plain text, one fault id per line, `#` starts a comment (the
//! reason): `refcse:some_switch  # no case checks what it breaks yet`.
//! A listed fault that is now killed is reported so the list can shrink.

use m2mspec_reports::MutationMatrix;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("cannot read the known survivors {path}: {source}")]
pub struct KnownError {
    path: String,
    source: std::io::Error,
}

/// The fault ids of a known-survivors file.
pub fn load(path: &Path) -> Result<Vec<String>, KnownError> {
    let text = std::fs::read_to_string(path).map_err(|source| KnownError {
        path: path.display().to_string(),
        source,
    })?;
    Ok(parse(&text))
}

pub fn parse(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// What the matrix says against the known survivors.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Judged {
    /// Surviving faults the list does not name: these fail the gate.
    pub new: Vec<String>,
    /// Listed faults that were killed: remove them from the list.
    pub killed: Vec<String>,
}

pub fn judge(m: &MutationMatrix, known: &[String]) -> Judged {
    let new = m
        .surviving()
        .iter()
        .filter(|f| !known.contains(&f.id))
        .map(|f| f.id.clone())
        .collect();
    let killed = m
        .faults
        .iter()
        .filter(|f| f.killed() && known.contains(&f.id))
        .map(|f| f.id.clone())
        .collect();
    Judged { new, killed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2mspec_reports::mutation::FaultRun;

    #[test]
    fn new_survivors_fail_and_killed_known_ones_are_named() {
        let known = parse("# header\nrefcse:a  # why\n\n refcse:b\n");
        assert_eq!(known, ["refcse:a", "refcse:b"]);
        let fault = |id: &str, killed: bool| FaultRun {
            id: id.into(),
            killed_by: if killed {
                vec!["x (fail)".into()]
            } else {
                vec![]
            },
            ..FaultRun::default()
        };
        let m = MutationMatrix {
            faults: vec![
                fault("refcse:a", false),
                fault("refcse:b", true),
                fault("refcse:c", false),
            ],
            ..MutationMatrix::default()
        };
        assert_eq!(
            judge(&m, &known),
            Judged {
                new: vec!["refcse:c".into()],
                killed: vec!["refcse:b".into()],
            }
        );
    }
}
