//! Compare observed values (a decoded primitive or a packet record, as JSON) with a case's
//! expectations, producing one readable mismatch per failed field.

use crate::template::lookup_path;
use serde_json::Value;
use std::collections::BTreeMap;

pub const ABSENT: &str = "<absent>";
pub const PRESENT: &str = "<present>";

/// Expected values: a short-name path (e.g. `rsc`, `pc.m2m:ae.rn`) → expected TOML value.
/// Strings are templates; the special strings `<absent>` and `<present>` test presence only.
pub type FieldExpectations = BTreeMap<String, toml::Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub path: String,
    pub expected: String,
    pub observed: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {}, observed {}",
            self.path, self.expected, self.observed
        )
    }
}

/// A one-key table naming an operator: `{ any = [a, b] }` (one of the forms the spec allows,
/// e.g. "C:/id-in" or "C:id-in"), `{ not = x }`, `{ prefix = "mqtt://" }` (strings),
/// `{ contains = x }` (a substring of a string, or an element of a list).
fn operator(m: &serde_json::Map<String, Value>) -> Option<(&str, &Value)> {
    if m.len() != 1 {
        return None;
    }
    let (k, v) = m.iter().next()?;
    match k.as_str() {
        "any" if v.is_array() => Some(("any", v)),
        "not" => Some(("not", v)),
        "prefix" if v.is_string() => Some(("prefix", v)),
        "contains" => Some(("contains", v)),
        _ => None,
    }
}

fn apply(op: &str, arg: &Value, got: &Value) -> bool {
    match op {
        "any" => arg.as_array().is_some_and(|alts| alts.iter().any(|a| scalar_eq(a, got))),
        "not" => !scalar_eq(arg, got),
        "prefix" => matches!((arg, got), (Value::String(p), Value::String(g)) if g.starts_with(p.as_str())),
        "contains" => match (arg, got) {
            (Value::String(a), Value::String(g)) => g.contains(a.as_str()),
            (a, Value::Array(items)) => items.iter().any(|i| scalar_eq(a, i) || matches!((a, i), (Value::String(p), Value::String(s)) if s.contains(p.as_str()))),
            _ => false,
        },
        _ => false,
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => ABSENT.to_string(),
        Some(Value::Object(m)) if operator(m).is_some_and(|(op, _)| op != "any") => {
            let (op, arg) = operator(m).unwrap_or(("", &Value::Null));
            let word = match op {
                "not" => "anything but",
                "prefix" => "a string starting with",
                _ => "something containing",
            };
            format!("{word} {}", show(Some(arg)))
        }
        Some(Value::Object(m)) if m.len() == 1 && m.get("any").is_some_and(Value::is_array) => {
            let alts: Vec<String> = m
                .get("any")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|x| show(Some(x))).collect())
                .unwrap_or_default();
            format!("one of {}", alts.join(", "))
        }
        Some(Value::String(s)) => format!("{s:?}"),
        Some(v) => v.to_string(),
    }
}

/// Scalars compare loosely across JSON types only where serializations differ in what they can
/// carry: the number 4008 equals the string "4008" (XML carries text).
fn scalar_eq(expected: &Value, observed: &Value) -> bool {
    match (expected, observed) {
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => {
            a.to_string() == *b
        }
        (a, b) => a == b,
    }
}

/// Check every `(path, expected)` against `observed`. Expected values are already expanded.
pub fn check_fields<'a>(
    observed: &Value,
    expected: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (path, want) in expected {
        let got = lookup_path(observed, path);
        let ok = match (want, got) {
            (Value::String(s), g) if s == ABSENT => g.is_none() || g == Some(&Value::Null),
            (Value::String(s), g) if s == PRESENT => g.is_some_and(|v| !v.is_null()),
            (_, None) => false,
            (Value::Object(m), Some(g)) if operator(m).is_some() => {
                operator(m).is_some_and(|(op, arg)| apply(op, arg, g))
            }
            (w, Some(g)) => scalar_eq(w, g),
        };
        if !ok {
            out.push(Mismatch {
                path: path.clone(),
                expected: show(Some(want))
                    .replace("\"<absent>\"", ABSENT)
                    .replace("\"<present>\"", PRESENT),
                observed: show(got),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_each_mismatch() {
        let obs = json!({"rsc": 2001, "rqi": "r1", "pc": {"m2m:ae": {"rn": "a"}}});
        let exp = [
            ("rsc".to_string(), json!(4008)),
            ("rqi".to_string(), json!("r1")),
            ("pc.m2m:ae.rn".to_string(), json!("b")),
            ("ot".to_string(), json!("<present>")),
        ];
        let m = check_fields(&obs, exp.iter().map(|(k, v)| (k, v)));
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(m[0].to_string(), "rsc: expected 4008, observed 2001");
        assert_eq!(m[2].observed, ABSENT);
    }

    #[test]
    fn absent_and_text_numbers() {
        let obs = json!({"rsc": "4008"});
        let exp = [
            ("rsc".to_string(), json!(4008)),
            ("ec".to_string(), json!("<absent>")),
        ];
        assert!(check_fields(&obs, exp.iter().map(|(k, v)| (k, v))).is_empty());
    }

    #[test]
    fn any_of_alternatives() {
        let obs = json!({"client_id": "C:id-in"});
        let ok = [(
            "client_id".to_string(),
            json!({"any": ["C:/id-in", "C:id-in"]}),
        )];
        assert!(check_fields(&obs, ok.iter().map(|(k, v)| (k, v))).is_empty());
        let bad = [("client_id".to_string(), json!({"any": ["C::id-in"]}))];
        assert_eq!(check_fields(&obs, bad.iter().map(|(k, v)| (k, v))).len(), 1);
    }

    #[test]
    fn not_prefix_and_contains_operators() {
        let obs = json!({"rsc": 4103, "poa": ["mqtt://127.0.0.1:1883", "http://x"], "to": "Cabc"});
        let ok = [
            ("rsc".to_string(), json!({"not": 2001})),
            ("to".to_string(), json!({"prefix": "C"})),
            ("poa".to_string(), json!({"contains": "mqtt://"})),
            ("poa.0".to_string(), json!({"prefix": "mqtt://"})),
        ];
        assert!(check_fields(&obs, ok.iter().map(|(k, v)| (k, v))).is_empty());
        let bad = [
            ("rsc".to_string(), json!({"not": 4103})),
            ("to".to_string(), json!({"prefix": "S"})),
            ("poa".to_string(), json!({"contains": "mqtts://"})),
        ];
        let m = check_fields(&obs, bad.iter().map(|(k, v)| (k, v)));
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(m[0].expected, "anything but 4103");
        assert_eq!(m[1].expected, "a string starting with \"S\"");
    }
}
