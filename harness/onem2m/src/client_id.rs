//! MQTT client identifiers (R1 6.3: prefix `A::`/`C::`; R2 7.3.3: prefix `A:`/`C:`).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Release {
    /// oneM2M TS-0010 Release 1 (prefix `A::` / `C::`, JSON and XML only).
    R1,
    /// oneM2M TS-0010 V2.4.1 = ITU-T Y.4500.10 (prefix `A:` / `C:`, adds CBOR).
    R2,
}

/// A release name that is neither R1 nor R2 (as upper-cased), e.g. from a `--release` flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: use R1 or R2")]
pub struct UnknownRelease(pub String);

impl std::str::FromStr for Release {
    type Err = UnknownRelease;

    /// `R1` or `R2`, in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "R1" => Ok(Release::R1),
            "R2" => Ok(Release::R2),
            other => Err(UnknownRelease(other.to_string())),
        }
    }
}

impl std::fmt::Display for Release {
    /// `R1` or `R2`, as the profiles and cases spell it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Release::R1 => "R1",
            Release::R2 => "R2",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EntityKind {
    Ae,
    Cse,
}

/// A parsed client identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId {
    pub release: Release,
    pub kind: EntityKind,
    /// The AE-ID / CSE-ID after the prefix, verbatim.
    pub id: String,
}

/// The client id an entity must use: prefix + ID verbatim.
pub fn client_id(kind: EntityKind, id: &str, release: Release) -> String {
    format!("{}{id}", prefix(kind, release))
}

/// The client id prefix of `kind` under `release`: `A::`/`C::` (R1 6.3) or `A:`/`C:` (R2 7.3.3).
pub fn prefix(kind: EntityKind, release: Release) -> &'static str {
    match (release, kind) {
        (Release::R1, EntityKind::Ae) => "A::",
        (Release::R1, EntityKind::Cse) => "C::",
        (Release::R2, EntityKind::Ae) => "A:",
        (Release::R2, EntityKind::Cse) => "C:",
    }
}

/// Parse a client id carrying an R1 or R2 prefix; `None` when it has neither.
/// `A::x` parses as R1 (never as R2 with id ":x").
pub fn parse(client_id: &str) -> Option<ClientId> {
    // R1 prefixes first: "A::" also starts with the R2 prefix "A:".
    const ORDER: [(Release, EntityKind); 4] = [
        (Release::R1, EntityKind::Ae),
        (Release::R1, EntityKind::Cse),
        (Release::R2, EntityKind::Ae),
        (Release::R2, EntityKind::Cse),
    ];
    ORDER.iter().find_map(|&(release, kind)| {
        client_id
            .strip_prefix(prefix(kind, release))
            .map(|id| ClientId {
                release,
                kind,
                id: id.to_string(),
            })
    })
}

/// True when `client_id` is the id of entity `id` of `kind` under `release`. A leading "/" on
/// either side is ignored, so "C:/in-cse" and "C:in-cse" both match CSE-ID "/in-cse".
///
/// Only one leading "/" is ignored: "C:/sp/cse" matches "/sp/cse" and "sp/cse" but not the
/// absolute "//sp/cse". The prefix is compared literally, so under R2 "A::x" is AE ":x".
pub fn matches(client_id: &str, kind: EntityKind, id: &str, release: Release) -> bool {
    client_id
        .strip_prefix(prefix(kind, release))
        .is_some_and(|got| strip_one_slash(got) == strip_one_slash(id))
}

fn strip_one_slash(id: &str) -> &str {
    id.strip_prefix('/').unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_r1_and_r2_prefixes() {
        assert_eq!(client_id(EntityKind::Ae, "Cae1", Release::R1), "A::Cae1");
        assert_eq!(
            client_id(EntityKind::Cse, "/in-cse", Release::R1),
            "C::/in-cse"
        );
        assert_eq!(client_id(EntityKind::Ae, "Cae1", Release::R2), "A:Cae1");
        assert_eq!(
            client_id(EntityKind::Cse, "/in-cse", Release::R2),
            "C:/in-cse"
        );
    }

    #[test]
    fn parse_prefers_r1() {
        let c = parse("A::Cae1").unwrap();
        assert_eq!(
            c,
            ClientId {
                release: Release::R1,
                kind: EntityKind::Ae,
                id: "Cae1".into()
            }
        );
        let c = parse("C::/in-cse").unwrap();
        assert_eq!(
            (c.release, c.kind, c.id.as_str()),
            (Release::R1, EntityKind::Cse, "/in-cse")
        );
        let c = parse("A:Cae1").unwrap();
        assert_eq!(
            (c.release, c.kind, c.id.as_str()),
            (Release::R2, EntityKind::Ae, "Cae1")
        );
        let c = parse("C:in-cse").unwrap();
        assert_eq!(
            (c.release, c.kind, c.id.as_str()),
            (Release::R2, EntityKind::Cse, "in-cse")
        );
        // An empty id after the prefix still parses; the caller judges it.
        assert_eq!(parse("C:").unwrap().id, "");
    }

    #[test]
    fn release_parses_in_either_case_and_names_a_bad_one() {
        assert_eq!("R1".parse(), Ok(Release::R1));
        assert_eq!("r2".parse(), Ok(Release::R2));
        let err = "r3".parse::<Release>().unwrap_err();
        assert_eq!(err, UnknownRelease("R3".into()));
        assert_eq!(err.to_string(), "\"R3\": use R1 or R2");
    }

    #[test]
    fn parse_rejects_unprefixed() {
        assert_eq!(parse("Cae1"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("a:Cae1"), None);
        assert_eq!(parse("X:Cae1"), None);
        assert_eq!(parse("A"), None);
    }

    #[test]
    fn matches_ignores_one_leading_slash() {
        assert!(matches(
            "C:/in-cse",
            EntityKind::Cse,
            "/in-cse",
            Release::R2
        ));
        assert!(matches("C:in-cse", EntityKind::Cse, "/in-cse", Release::R2));
        assert!(matches("C:/in-cse", EntityKind::Cse, "in-cse", Release::R2));
        assert!(matches(
            "C::in-cse",
            EntityKind::Cse,
            "/in-cse",
            Release::R1
        ));
        assert!(!matches(
            "C://in-cse",
            EntityKind::Cse,
            "/in-cse",
            Release::R2
        ));
    }

    #[test]
    fn matches_checks_kind_release_and_id() {
        assert!(!matches(
            "A:in-cse",
            EntityKind::Cse,
            "/in-cse",
            Release::R2
        ));
        assert!(!matches(
            "C::in-cse",
            EntityKind::Cse,
            "/in-cse",
            Release::R2
        ));
        assert!(!matches(
            "C:in-cse",
            EntityKind::Cse,
            "/in-cse",
            Release::R1
        ));
        assert!(!matches(
            "C:in-cse2",
            EntityKind::Cse,
            "/in-cse",
            Release::R2
        ));
        assert!(!matches("in-cse", EntityKind::Cse, "/in-cse", Release::R2));
        // Under R2 the prefix is "A:" and the rest is the id verbatim.
        assert!(matches("A::x", EntityKind::Ae, ":x", Release::R2));
    }
}
