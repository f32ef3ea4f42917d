//! oneM2M request and response primitives with short names (R1 6.5.1/6.5.2, R2 7.5.1/7.5.2,
//! serialized per TS-0004 clause 8). Decoding is lenient: a primitive lacking a mandatory
//! parameter still decodes (with `None`), because the harness must *report* that omission
//! as evidence. [`RequestPrimitive::missing_mandatory`] / [`ResponsePrimitive::missing_mandatory`]
//! list what R2 7.4.5 requires ({op, fr, to, rqi} / {rsc, rqi}).

use crate::error::CodecError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Short names held by the typed fields of [`RequestPrimitive`], in `to_map` order.
pub const REQUEST_PARAMS: &[&str] = &["op", "to", "fr", "rqi", "rvi", "ty", "pc", "ot", "rqet", "rset", "oet", "rt", "rcn"];
/// Short names held by the typed fields of [`ResponsePrimitive`], in `to_map` order.
pub const RESPONSE_PARAMS: &[&str] = &["rsc", "rqi", "rvi", "pc", "to", "fr", "ot", "rset"];

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
    /// The primitive as a flat map of short names (the JSON/CBOR shape), typed parameters
    /// first in the order of [`REQUEST_PARAMS`], then `extra` in key order. An `extra` entry
    /// whose key is one of [`REQUEST_PARAMS`] is shadowed by the typed field and not emitted.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        put_int(&mut m, "op", self.op);
        put_str(&mut m, "to", &self.to);
        put_str(&mut m, "fr", &self.fr);
        put_str(&mut m, "rqi", &self.rqi);
        put_str(&mut m, "rvi", &self.rvi);
        put_int(&mut m, "ty", self.ty);
        put_value(&mut m, "pc", &self.pc);
        put_str(&mut m, "ot", &self.ot);
        put_value(&mut m, "rqet", &self.rqet);
        put_value(&mut m, "rset", &self.rset);
        put_value(&mut m, "oet", &self.oet);
        put_value(&mut m, "rt", &self.rt);
        put_int(&mut m, "rcn", self.rcn);
        put_extra(&mut m, &self.extra, REQUEST_PARAMS);
        m
    }
    /// Build from a map of short names; typed parameters with the wrong type are an error.
    /// Integer parameters given as decimal strings (as XML carries them) are accepted.
    ///
    /// Types: op, ty, rcn integer (or decimal string); to, fr, rqi, rvi, ot string;
    /// rqet, rset, oet integer or string (m2m:absRelTimestamp); rt object; pc any value.
    /// A `null` typed parameter is a [`CodecError::WrongType`] (pc: kept as `Some(Null)`).
    pub fn from_map(map: Map<String, Value>) -> Result<Self, CodecError> {
        let mut p = RequestPrimitive::default();
        for (k, v) in map {
            match k.as_str() {
                "op" => p.op = Some(take_int(&k, v)?),
                "to" => p.to = Some(take_str(&k, v)?),
                "fr" => p.fr = Some(take_str(&k, v)?),
                "rqi" => p.rqi = Some(take_str(&k, v)?),
                "rvi" => p.rvi = Some(take_str(&k, v)?),
                "ty" => p.ty = Some(take_int(&k, v)?),
                "pc" => p.pc = Some(v),
                "ot" => p.ot = Some(take_str(&k, v)?),
                "rqet" => p.rqet = Some(take_abs_rel(&k, v)?),
                "rset" => p.rset = Some(take_abs_rel(&k, v)?),
                "oet" => p.oet = Some(take_abs_rel(&k, v)?),
                "rt" => p.rt = Some(take_object(&k, v)?),
                "rcn" => p.rcn = Some(take_int(&k, v)?),
                _ => {
                    p.extra.insert(k, v);
                }
            }
        }
        Ok(p)
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
    /// The primitive as a flat map of short names, typed parameters first in the order of
    /// [`RESPONSE_PARAMS`], then `extra` (entries shadowed by a typed name are not emitted).
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        put_int(&mut m, "rsc", self.rsc);
        put_str(&mut m, "rqi", &self.rqi);
        put_str(&mut m, "rvi", &self.rvi);
        put_value(&mut m, "pc", &self.pc);
        put_str(&mut m, "to", &self.to);
        put_str(&mut m, "fr", &self.fr);
        put_str(&mut m, "ot", &self.ot);
        put_value(&mut m, "rset", &self.rset);
        put_extra(&mut m, &self.extra, RESPONSE_PARAMS);
        m
    }
    /// Build from a map of short names (rsc integer or decimal string; rqi, rvi, to, fr, ot
    /// string; rset integer or string; pc any value); see [`RequestPrimitive::from_map`].
    pub fn from_map(map: Map<String, Value>) -> Result<Self, CodecError> {
        let mut p = ResponsePrimitive::default();
        for (k, v) in map {
            match k.as_str() {
                "rsc" => p.rsc = Some(take_int(&k, v)?),
                "rqi" => p.rqi = Some(take_str(&k, v)?),
                "rvi" => p.rvi = Some(take_str(&k, v)?),
                "pc" => p.pc = Some(v),
                "to" => p.to = Some(take_str(&k, v)?),
                "fr" => p.fr = Some(take_str(&k, v)?),
                "ot" => p.ot = Some(take_str(&k, v)?),
                "rset" => p.rset = Some(take_abs_rel(&k, v)?),
                _ => {
                    p.extra.insert(k, v);
                }
            }
        }
        Ok(p)
    }
}

fn put_int(m: &mut Map<String, Value>, k: &str, v: Option<i64>) {
    if let Some(v) = v {
        m.insert(k.to_string(), Value::from(v));
    }
}

fn put_str(m: &mut Map<String, Value>, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(k.to_string(), Value::String(v.clone()));
    }
}

fn put_value(m: &mut Map<String, Value>, k: &str, v: &Option<Value>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.clone());
    }
}

fn put_extra(m: &mut Map<String, Value>, extra: &BTreeMap<String, Value>, typed: &[&str]) {
    for (k, v) in extra {
        if !typed.contains(&k.as_str()) {
            m.insert(k.clone(), v.clone());
        }
    }
}

/// A short human description of a JSON value's type, for [`CodecError::WrongType`].
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) if n.is_f64() => format!("float {n}"),
        Value::Number(n) => format!("integer {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("string {short:?}...")
            } else {
                format!("string {short:?}")
            }
        }
        Value::Array(a) => format!("array of {} element(s)", a.len()),
        Value::Object(o) => format!("object with {} key(s)", o.len()),
    }
}

fn wrong(name: &str, expected: &'static str, found: &Value) -> CodecError {
    CodecError::WrongType { name: name.to_string(), expected, found: describe(found) }
}

/// An integer parameter: a JSON integer within i64, or a decimal integer string (XML text).
fn take_int(name: &str, v: Value) -> Result<i64, CodecError> {
    const EXPECTED: &str = "integer (or decimal integer string)";
    match &v {
        Value::Number(n) => n.as_i64().ok_or_else(|| wrong(name, EXPECTED, &v)),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| wrong(name, EXPECTED, &v)),
        _ => Err(wrong(name, EXPECTED, &v)),
    }
}

fn take_str(name: &str, v: Value) -> Result<String, CodecError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(wrong(name, "string", &other)),
    }
}

/// m2m:absRelTimestamp: a timestamp string or integer milliseconds (kept as given).
fn take_abs_rel(name: &str, v: Value) -> Result<Value, CodecError> {
    match &v {
        Value::String(_) => Ok(v),
        Value::Number(n) if n.is_i64() => Ok(v),
        _ => Err(wrong(name, "timestamp string or integer milliseconds", &v)),
    }
}

fn take_object(name: &str, v: Value) -> Result<Value, CodecError> {
    match &v {
        Value::Object(_) => Ok(v),
        _ => Err(wrong(name, "object", &v)),
    }
}
