//! oneM2M request and response primitives with short names (R1 6.5.1/6.5.2, R2 7.5.1/7.5.2,
//! serialized per TS-0004 clause 8). Decoding is lenient: a primitive lacking a mandatory
//! parameter still decodes (with `None`), because the harness must *report* that omission
//! as evidence. [`RequestPrimitive::missing_mandatory`] / [`ResponsePrimitive::missing_mandatory`]
//! list what R2 7.4.5 requires ({op, fr, to, rqi} / {rsc, rqi}).

use crate::error::CodecError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Short names held by the typed fields of [`RequestPrimitive`], in `to_map` order.
pub const REQUEST_PARAMS: &[&str] = &[
    "op", "to", "fr", "rqi", "rvi", "ty", "pc", "ot", "rqet", "rset", "oet", "rt", "rcn",
];
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
    CodecError::WrongType {
        name: name.to_string(),
        expected,
        found: describe(found),
    }
}

/// An integer parameter: a JSON integer within i64, or a decimal integer string (XML text).
fn take_int(name: &str, v: Value) -> Result<i64, CodecError> {
    const EXPECTED: &str = "integer (or decimal integer string)";
    match &v {
        Value::Number(n) => n.as_i64().ok_or_else(|| wrong(name, EXPECTED, &v)),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| wrong(name, EXPECTED, &v)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn full_request() -> RequestPrimitive {
        RequestPrimitive {
            op: Some(1),
            to: Some("//xxxxx/2345".into()),
            fr: Some("//xxxxx/99".into()),
            rqi: Some("A1234".into()),
            rvi: Some("2a".into()),
            ty: Some(18),
            pc: Some(json!({"m2m:sch": {"rn": "schedule1"}})),
            ot: Some("20150910T062032".into()),
            rqet: Some(json!("20150910T072032")),
            rset: Some(json!(-5000)),
            oet: Some(json!(100)),
            rt: Some(json!({"rtv": 1})),
            rcn: Some(1),
            extra: BTreeMap::from([
                ("drt".to_string(), json!(2)),
                ("fc".to_string(), json!({"lbl": ["x"]})),
            ]),
        }
    }

    #[test]
    fn request_to_map_order_and_round_trip() {
        let p = full_request();
        let m = p.to_map();
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "op", "to", "fr", "rqi", "rvi", "ty", "pc", "ot", "rqet", "rset", "oet", "rt",
                "rcn", "drt", "fc"
            ]
        );
        assert_eq!(RequestPrimitive::from_map(m).unwrap(), p);
        assert_eq!(
            RequestPrimitive::from_map(Map::new()).unwrap(),
            RequestPrimitive::default()
        );
        assert!(RequestPrimitive::default().to_map().is_empty());
    }

    #[test]
    fn response_to_map_order_and_round_trip() {
        let p = ResponsePrimitive {
            rsc: Some(2001),
            rqi: Some("A1".into()),
            rvi: Some("3".into()),
            pc: Some(json!({"m2m:ae": {"aei": "Cae1"}})),
            to: Some("Cae1".into()),
            fr: Some("/in-cse".into()),
            ot: Some("20200101T000000".into()),
            rset: Some(json!("20200101T000100")),
            extra: BTreeMap::from([("cts".to_string(), json!(1))]),
        };
        let m = p.to_map();
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["rsc", "rqi", "rvi", "pc", "to", "fr", "ot", "rset", "cts"]
        );
        assert_eq!(ResponsePrimitive::from_map(m).unwrap(), p);
    }

    #[test]
    fn typed_fields_shadow_extra() {
        let mut p = RequestPrimitive {
            op: Some(2),
            ..Default::default()
        };
        p.extra.insert("op".into(), json!("shadowed"));
        assert_eq!(p.to_map(), obj(json!({"op": 2})));
    }

    #[test]
    fn decimal_strings_are_integers() {
        let p =
            RequestPrimitive::from_map(obj(json!({"op": "2", "ty": " 4 ", "rcn": "-1"}))).unwrap();
        assert_eq!((p.op, p.ty, p.rcn), (Some(2), Some(4), Some(-1)));
        assert_eq!(p.operation(), Some(Operation::Retrieve));
        let r = ResponsePrimitive::from_map(obj(json!({"rsc": "4004"}))).unwrap();
        assert_eq!(r.rsc, Some(4004));
    }

    #[test]
    fn wrong_types_are_errors() {
        let cases = [
            json!({"op": "create"}),
            json!({"op": 1.5}),
            json!({"op": u64::MAX}),
            json!({"op": null}),
            json!({"ty": true}),
            json!({"rcn": [1]}),
            json!({"to": {"a": 1}}),
            json!({"fr": 5}),
            json!({"rqi": null}),
            json!({"rvi": 3}),
            json!({"ot": []}),
            json!({"rqet": 1.5}),
            json!({"rset": {"x": 1}}),
            json!({"oet": false}),
            json!({"rt": 1}),
        ];
        for c in cases {
            let name = c.as_object().unwrap().keys().next().unwrap().clone();
            match RequestPrimitive::from_map(obj(c.clone())) {
                Err(CodecError::WrongType { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{c}: {other:?}"),
            }
        }
        for c in [
            json!({"rsc": "ok"}),
            json!({"rqi": 1}),
            json!({"rset": null}),
            json!({"to": [1]}),
        ] {
            assert!(
                matches!(
                    ResponsePrimitive::from_map(obj(c.clone())),
                    Err(CodecError::WrongType { .. })
                ),
                "{c}"
            );
        }
        let err = RequestPrimitive::from_map(obj(json!({"op": "create"}))).unwrap_err();
        assert_eq!(
            err,
            CodecError::WrongType {
                name: "op".into(),
                expected: "integer (or decimal integer string)",
                found: "string \"create\"".into()
            }
        );
    }

    #[test]
    fn describe_values() {
        assert_eq!(describe(&json!(null)), "null");
        assert_eq!(describe(&json!(true)), "boolean true");
        assert_eq!(describe(&json!(1.5)), "float 1.5");
        assert_eq!(describe(&json!(-3)), "integer -3");
        assert_eq!(describe(&json!([1, 2])), "array of 2 element(s)");
        assert_eq!(describe(&json!({"a": 1})), "object with 1 key(s)");
        assert_eq!(
            describe(&json!("x".repeat(50))),
            format!("string {:?}...", "x".repeat(40))
        );
    }

    #[test]
    fn pc_accepts_any_value_and_invalid_op_codes_survive() {
        let p = RequestPrimitive::from_map(obj(json!({"op": 9, "pc": null}))).unwrap();
        assert_eq!(p.op, Some(9));
        assert_eq!(p.operation(), None);
        assert_eq!(p.pc, Some(Value::Null));
        assert_eq!(RequestPrimitive::from_map(p.to_map()).unwrap(), p);
    }

    #[test]
    fn missing_mandatory_lists() {
        assert_eq!(
            RequestPrimitive::default().missing_mandatory(),
            ["op", "fr", "to", "rqi"]
        );
        assert!(full_request().missing_mandatory().is_empty());
        assert_eq!(
            ResponsePrimitive::default().missing_mandatory(),
            ["rsc", "rqi"]
        );
    }

    #[test]
    fn operation_codes() {
        for op in [
            Operation::Create,
            Operation::Retrieve,
            Operation::Update,
            Operation::Delete,
            Operation::Notify,
        ] {
            assert_eq!(Operation::from_code(op.code()), Some(op));
        }
        assert_eq!(Operation::from_code(0), None);
        assert_eq!(Operation::from_code(6), None);
    }
}
