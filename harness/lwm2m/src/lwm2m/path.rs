//! LWM2M paths: `/{Object ID}/{Object Instance ID}/{Resource ID}/{Resource Instance ID}`,
//! each part optional from the right (LWM2M 1.0 6.1 resource model; 1.1 Core 6.1 adds the
//! resource instance level). IDs are 16-bit; 65535 is reserved (1.1 Core 6.1, "MAX_ID"
//! 65534). The empty path `/` (the root) is allowed: LWM2M 1.1 uses it (e.g. Bootstrap-Delete).
//!
//! Paths travel as Uri-Path options, one ID per segment (RFC 7252 6.4). Parsing is strict: a
//! decimal ID without sign or leading zero, no empty segment, at most four levels.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// The largest usable ID (65535 is reserved).
pub const MAX_ID: u16 = 65534;

/// A path that is not an LWM2M path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("path {0:?} does not start with '/'")]
    NoLeadingSlash(String),
    #[error("path has an empty segment")]
    EmptySegment,
    #[error("path segment {0:?} is not a decimal ID (digits, no leading zero)")]
    NotAnId(String),
    #[error("path segment {0:?} exceeds the largest ID 65534")]
    IdOutOfRange(String),
    #[error(
        "path has {0} levels; LWM2M has at most 4 (object/instance/resource/resource instance)"
    )]
    TooDeep(usize),
}

/// An LWM2M path of 0–4 IDs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Path {
    ids: Vec<u16>,
}

impl Path {
    /// `/`.
    pub fn root() -> Path {
        Path::default()
    }
    /// `/{object}`.
    pub fn object(object: u16) -> Path {
        Path { ids: vec![object] }
    }
    /// `/{object}/{instance}`.
    pub fn instance(object: u16, instance: u16) -> Path {
        Path {
            ids: vec![object, instance],
        }
    }
    /// `/{object}/{instance}/{resource}`.
    pub fn resource(object: u16, instance: u16, resource: u16) -> Path {
        Path {
            ids: vec![object, instance, resource],
        }
    }
    /// `/{object}/{instance}/{resource}/{resource instance}`.
    pub fn resource_instance(object: u16, instance: u16, resource: u16, ri: u16) -> Path {
        Path {
            ids: vec![object, instance, resource, ri],
        }
    }

    /// Parse Uri-Path segments.
    pub fn from_segments<S: AsRef<str>>(segments: &[S]) -> Result<Path, PathError> {
        if segments.len() > 4 {
            return Err(PathError::TooDeep(segments.len()));
        }
        let ids = segments
            .iter()
            .map(|s| parse_id(s.as_ref()))
            .collect::<Result<Vec<u16>, PathError>>()?;
        Ok(Path { ids })
    }

    /// The IDs, outermost first.
    pub fn ids(&self) -> &[u16] {
        &self.ids
    }
    /// Object ID, if any.
    pub fn object_id(&self) -> Option<u16> {
        self.ids.first().copied()
    }
    /// Object Instance ID, if any.
    pub fn instance_id(&self) -> Option<u16> {
        self.ids.get(1).copied()
    }
    /// Resource ID, if any.
    pub fn resource_id(&self) -> Option<u16> {
        self.ids.get(2).copied()
    }
    /// Resource Instance ID, if any.
    pub fn resource_instance_id(&self) -> Option<u16> {
        self.ids.get(3).copied()
    }
    /// Uri-Path segments.
    pub fn segments(&self) -> Vec<String> {
        self.ids.iter().map(u16::to_string).collect()
    }
    /// True if `self` is `other` or lies under it.
    pub fn starts_with(&self, other: &Path) -> bool {
        self.ids.starts_with(&other.ids)
    }
}

fn parse_id(segment: &str) -> Result<u16, PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if !segment.bytes().all(|b| b.is_ascii_digit())
        || (segment.len() > 1 && segment.starts_with('0'))
    {
        return Err(PathError::NotAnId(segment.to_string()));
    }
    segment
        .parse::<u32>()
        .ok()
        .filter(|v| *v <= u32::from(MAX_ID))
        .map(|v| v as u16)
        .ok_or_else(|| PathError::IdOutOfRange(segment.to_string()))
}

impl FromStr for Path {
    type Err = PathError;

    /// `/`, `/3`, `/3/0`, `/3/0/1`, `/3/0/7/1`.
    fn from_str(s: &str) -> Result<Path, PathError> {
        let rest = s
            .strip_prefix('/')
            .ok_or_else(|| PathError::NoLeadingSlash(s.to_string()))?;
        if rest.is_empty() {
            return Ok(Path::root());
        }
        let segments: Vec<&str> = rest.split('/').collect();
        Path::from_segments(&segments)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ids.is_empty() {
            return f.write_str("/");
        }
        for id in &self.ids {
            write!(f, "/{id}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("/", Path::root())]
    #[case("/3", Path::object(3))]
    #[case("/3/0", Path::instance(3, 0))]
    #[case("/3/0/1", Path::resource(3, 0, 1))]
    #[case("/3/0/7/1", Path::resource_instance(3, 0, 7, 1))]
    #[case("/65534/65534", Path::instance(65534, 65534))]
    fn valid_paths(#[case] text: &str, #[case] path: Path) {
        assert_eq!(text.parse::<Path>().unwrap(), path);
        assert_eq!(path.to_string(), text);
    }

    #[rstest]
    #[case("3/0", PathError::NoLeadingSlash("3/0".into()))]
    #[case("/3//1", PathError::EmptySegment)]
    #[case("/3/0/", PathError::EmptySegment)]
    #[case("/3/x", PathError::NotAnId("x".into()))]
    #[case("/3/+1", PathError::NotAnId("+1".into()))]
    #[case("/03", PathError::NotAnId("03".into()))]
    #[case("/65535", PathError::IdOutOfRange("65535".into()))]
    #[case("/99999999999", PathError::IdOutOfRange("99999999999".into()))]
    #[case("/1/2/3/4/5", PathError::TooDeep(5))]
    fn invalid_paths(#[case] text: &str, #[case] error: PathError) {
        assert_eq!(text.parse::<Path>(), Err(error));
    }

    #[test]
    fn accessors_and_segments() {
        let p = Path::resource(5, 0, 1);
        assert_eq!(p.object_id(), Some(5));
        assert_eq!(p.instance_id(), Some(0));
        assert_eq!(p.resource_id(), Some(1));
        assert_eq!(p.resource_instance_id(), None);
        assert_eq!(p.segments(), vec!["5", "0", "1"]);
        assert_eq!(Path::from_segments(&p.segments()).unwrap(), p);
        assert!(p.starts_with(&Path::object(5)));
        assert!(!p.starts_with(&Path::instance(5, 1)));
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(ids in proptest::collection::vec(0..=MAX_ID, 0..=4)) {
            let p = Path::from_segments(&ids.iter().map(u16::to_string).collect::<Vec<_>>()).unwrap();
            prop_assert_eq!(p.to_string().parse::<Path>().unwrap(), p);
        }
    }
}
