//! MQTT client identifiers (R1 6.3: prefix `A::`/`C::`; R2 7.3.3: prefix `A:`/`C:`).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Release {
    /// oneM2M TS-0010 Release 1 (prefix `A::` / `C::`, JSON and XML only).
    R1,
    /// oneM2M TS-0010 V2.4.1 = ITU-T Y.4500.10 (prefix `A:` / `C:`, adds CBOR).
    R2,
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
    let _ = (kind, id, release);
    todo!()
}

/// Parse a client id carrying an R1 or R2 prefix; `None` when it has neither.
/// `A::x` parses as R1 (never as R2 with id ":x").
pub fn parse(client_id: &str) -> Option<ClientId> {
    let _ = client_id;
    todo!()
}

/// True when `client_id` is the id of entity `id` of `kind` under `release`. A leading "/" on
/// either side is ignored, so "C:/in-cse" and "C:in-cse" both match CSE-ID "/in-cse".
pub fn matches(client_id: &str, kind: EntityKind, id: &str, release: Release) -> bool {
    let _ = (client_id, kind, id, release);
    todo!()
}
