//! oneM2M request and response primitives with short names (R1 6.5.1/6.5.2, R2 7.5.1/7.5.2,
//! serialized per TS-0004 clause 8). Decoding is lenient: a primitive lacking a mandatory
//! parameter still decodes (with `None`), because the harness must *report* that omission
//! as evidence. [`RequestPrimitive::missing_mandatory`] / [`ResponsePrimitive::missing_mandatory`]
//! list what R2 7.4.5 requires ({op, fr, to, rqi} / {rsc, rqi}).

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// m2m:operation (TS-0004 6.3.4.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create = 1,
    Retrieve = 2,
    Update = 3,
    Delete = 4,
    Notify = 5,
}

impl Operation {
    pub fn code(self) -> i64 {
        self as i64
    }
    pub fn from_code(code: i64) -> Option<Operation> {
        match code {
            1 => Some(Operation::Create),
            2 => Some(Operation::Retrieve),
            3 => Some(Operation::Update),
            4 => Some(Operation::Delete),
            5 => Some(Operation::Notify),
            _ => None,
        }
    }
}

/// m2m:requestPrimitive. Typed fields for the parameters the binding and the harness use;
/// every other short name is kept verbatim in `extra` so round trips are lossless.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestPrimitive {
    /// Operation (op), integer code; see [`Operation`]. Kept raw so an invalid code survives decoding.
    pub op: Option<i64>,
    pub to: Option<String>,
    pub fr: Option<String>,
    pub rqi: Option<String>,
    /// Release version indicator (rvi), e.g. "2a", "3".
    pub rvi: Option<String>,
    /// Resource type (ty).
    pub ty: Option<i64>,
    /// Content (pc): a map such as {"m2m:cnt": {...}}.
    pub pc: Option<Value>,
    /// Originating timestamp (ot), m2m:timestamp.
    pub ot: Option<String>,
    /// Request expiration timestamp (rqet), m2m:absRelTimestamp (string or integer ms).
    pub rqet: Option<Value>,
    /// Result expiration timestamp (rset), m2m:absRelTimestamp.
    pub rset: Option<Value>,
    /// Operation execution time (oet), m2m:absRelTimestamp.
    pub oet: Option<Value>,
    /// Response type info (rt), e.g. {"rtv": 1}.
    pub rt: Option<Value>,
    /// Result content (rcn).
    pub rcn: Option<i64>,
    /// Any other parameter, by short name.
    pub extra: BTreeMap<String, Value>,
}

/// m2m:responsePrimitive.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponsePrimitive {
    /// Response status code (rsc).
    pub rsc: Option<i64>,
    pub rqi: Option<String>,
    pub rvi: Option<String>,
    pub pc: Option<Value>,
    pub to: Option<String>,
    pub fr: Option<String>,
    pub ot: Option<String>,
    pub rset: Option<Value>,
    pub extra: BTreeMap<String, Value>,
}

impl RequestPrimitive {
    /// Short names of mandatory request parameters that are absent (R2 7.4.5: op, fr, to, rqi).
    pub fn missing_mandatory(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.op.is_none() {
            m.push("op");
        }
        if self.fr.is_none() {
            m.push("fr");
        }
        if self.to.is_none() {
            m.push("to");
        }
        if self.rqi.is_none() {
            m.push("rqi");
        }
        m
    }
    pub fn operation(&self) -> Option<Operation> {
        self.op.and_then(Operation::from_code)
    }
    /// The primitive as a flat map of short names (the JSON/CBOR shape).
    pub fn to_map(&self) -> Map<String, Value> {
        todo!()
    }
    /// Build from a map of short names; typed parameters with the wrong type are an error.
    /// Integer parameters given as decimal strings (as XML carries them) are accepted.
    pub fn from_map(map: Map<String, Value>) -> Result<Self, crate::CodecError> {
        let _ = map;
        todo!()
    }
}

impl ResponsePrimitive {
    /// Short names of mandatory response parameters that are absent (R2 7.4.5 / 7.5.2: rsc, rqi).
    pub fn missing_mandatory(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.rsc.is_none() {
            m.push("rsc");
        }
        if self.rqi.is_none() {
            m.push("rqi");
        }
        m
    }
    pub fn to_map(&self) -> Map<String, Value> {
        todo!()
    }
    pub fn from_map(map: Map<String, Value>) -> Result<Self, crate::CodecError> {
        let _ = map;
        todo!()
    }
}
