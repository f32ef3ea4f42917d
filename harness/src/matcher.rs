//! Compare observed values (a decoded primitive or a packet record, as JSON) with a case's
//! expectations, producing one readable mismatch per failed field.

use crate::template::lookup_path;
use serde_json::Value;

pub const ABSENT: &str = "<absent>";
pub const PRESENT: &str = "<present>";

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

fn show(v: Option<&Value>) -> String {
    match v {
        None => ABSENT.to_string(),
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
            // `{ any = [a, b] }`: the spec allows several forms (e.g. "C:/id-in" or "C:id-in").
            (Value::Object(m), Some(g))
                if m.len() == 1 && m.get("any").is_some_and(Value::is_array) =>
            {
                m.get("any")
                    .and_then(Value::as_array)
                    .is_some_and(|alts| alts.iter().any(|a| scalar_eq(a, g)))
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

/// MQTT topic-filter match (`+` one level, `#` the rest, including the parent level).
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
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
    fn mqtt_filters() {
        assert!(filter_matches(
            "/oneM2M/req/+/id-in/#",
            "/oneM2M/req/Cae/id-in/json"
        ));
        assert!(filter_matches(
            "/oneM2M/req/+/id-in/#",
            "/oneM2M/req/Cae/id-in"
        ));
        assert!(!filter_matches(
            "/oneM2M/req/+/id-in",
            "/oneM2M/req/Cae/id-in/json"
        ));
        assert!(!filter_matches("/oneM2M/req/+/id-in", "/oneM2M/req/id-in"));
    }
}
