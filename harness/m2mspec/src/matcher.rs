//! Compare observed values (a decoded primitive or a packet record, as JSON) with a case's
//! expectations, producing one readable mismatch per failed field.
//!
//! An expectation is a value (templates already expanded) or a one-key operator table:
//!
//! * `{ any = [a, b] }` — one of the alternatives the spec allows (each a value or an
//!   operator), e.g. `"C:/id-in"` or `"C:id-in"`;
//! * `{ not = x }` — anything but `x` (a value or an operator);
//! * `{ all = [x, y] }` — every one of the expectations;
//! * `{ prefix = "mqtt://" }` — a string starting with it;
//! * `{ contains = x }` — a substring of a string, or an element of a list;
//! * `{ some = x }` / `{ none = x }` — some / no element of a list meets `x` (a single value
//!   counts as a one-element list);
//! * `{ addresses = "host:port" }` — an MQTT URI (`mqtt://`, `mqtts://`) that, read as R2 7.6
//!   tells its reader (no port: 1883 / 8883), addresses that MQTT server;
//! * `{ names_host = "host:port" }` — an MQTT URI naming that server's host, whatever its port;
//! * `{ has = { path = x, … } }` — a table (e.g. a list element under `some`) whose fields
//!   meet those expectations, each path read inside it;
//! * `{ regex = "^C[0-9a-f]{{8}}$" }` — a string that the regular expression (Rust `regex`
//!   syntax, unanchored unless it says `^`/`$`) finds a match in; a number is matched as its
//!   text. Templates expand first, so a pattern writes its own braces `{{`/`}}`, and a
//!   template's value goes in as is (not escaped). A pattern that does not compile is a
//!   harness error naming it ([`invalid_pattern`]), never a silent mismatch.
//!
//! The strings `<absent>` and `<present>` test presence only.

mod uri;

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

/// A one-key table naming an operator, with its argument.
fn operator(m: &serde_json::Map<String, Value>) -> Option<(&str, &Value)> {
    if m.len() != 1 {
        return None;
    }
    let (k, v) = m.iter().next()?;
    let ok = match k.as_str() {
        "any" | "all" => v.is_array(),
        "has" => v.is_object(),
        "prefix" | "addresses" | "names_host" | "regex" => v.is_string(),
        "not" | "contains" | "some" | "none" => true,
        _ => false,
    };
    ok.then_some((k.as_str(), v))
}

/// Is `v` an operator table?
pub fn is_operator(v: &Value) -> bool {
    matches!(v, Value::Object(m) if operator(m).is_some())
}

/// The elements of a list, or a single value as a one-element list.
fn elements(got: &Value) -> Vec<&Value> {
    match got {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn apply(op: &str, arg: &Value, got: &Value) -> bool {
    let text = |v: &Value| v.as_str().map(str::to_string);
    match op {
        "any" => arg
            .as_array()
            .is_some_and(|alts| alts.iter().any(|a| meets(a, Some(got)))),
        "all" => arg
            .as_array()
            .is_some_and(|all| all.iter().all(|a| meets(a, Some(got)))),
        "not" => !meets(arg, Some(got)),
        "prefix" => matches!((arg, got), (Value::String(p), Value::String(g)) if g.starts_with(p.as_str())),
        "contains" => match (arg, got) {
            (Value::String(a), Value::String(g)) => g.contains(a.as_str()),
            (a, Value::Array(items)) => items.iter().any(|i| scalar_eq(a, i) || matches!((a, i), (Value::String(p), Value::String(s)) if s.contains(p.as_str()))),
            _ => false,
        },
        "some" => elements(got).into_iter().any(|e| meets(arg, Some(e))),
        "none" => !elements(got).into_iter().any(|e| meets(arg, Some(e))),
        "addresses" => matches!((text(got), text(arg)), (Some(g), Some(s)) if uri::addresses(&g, &s)),
        "names_host" => matches!((text(got), text(arg)), (Some(g), Some(s)) if uri::names_host(&g, &s)),
        "regex" => regex_matches(arg, got),
        "has" => arg.as_object().is_some_and(|fields| {
            fields
                .iter()
                .all(|(path, want)| meets(want, lookup_path(got, path)))
        }),
        _ => false,
    }
}

/// Does the pattern `arg` find a match in `got` (a string, or a number as its text)? A
/// pattern that does not compile matches nothing ([`invalid_pattern`] names it beforehand).
fn regex_matches(arg: &Value, got: &Value) -> bool {
    let Some(pattern) = arg.as_str() else {
        return false;
    };
    let text = match got {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return false,
    };
    regex::Regex::new(pattern).is_ok_and(|re| re.is_match(&text))
}

/// The first `regex` operator in expectation `want` (at any depth) whose pattern does not
/// compile, with the compiler's reason: a case error to report before anything is compared.
pub fn invalid_pattern(want: &Value) -> Option<String> {
    match want {
        Value::Object(m) => {
            if let Some(("regex", Value::String(p))) = operator(m) {
                return regex::Regex::new(p)
                    .err()
                    .map(|e| format!("invalid regular expression {p:?}: {e}"));
            }
            m.values().find_map(invalid_pattern)
        }
        Value::Array(items) => items.iter().find_map(invalid_pattern),
        _ => None,
    }
}

/// Does the observed value `got` (`None`: absent) meet expectation `want`?
pub fn meets(want: &Value, got: Option<&Value>) -> bool {
    match (want, got) {
        (Value::String(s), g) if s == ABSENT => g.is_none() || g == Some(&Value::Null),
        (Value::String(s), g) if s == PRESENT => g.is_some_and(|v| !v.is_null()),
        (_, None) => false,
        (Value::Object(m), Some(g)) if operator(m).is_some() => {
            operator(m).is_some_and(|(op, arg)| apply(op, arg, g))
        }
        (w, Some(g)) => scalar_eq(w, g),
    }
}

/// An expectation or an observed value as a reader sees it: strings quoted, operators in
/// words, `<absent>` / `<present>` as such; never Rust debug output.
pub fn show(v: Option<&Value>) -> String {
    let Some(v) = v else {
        return ABSENT.to_string();
    };
    if let Value::Object(m) = v {
        if let Some((op, arg)) = operator(m) {
            let list = |sep: &str| {
                arg.as_array()
                    .map(|a| a.iter().map(|x| show(Some(x))).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .join(sep)
            };
            return match op {
                "any" => format!("one of {}", list(", ")),
                "all" => list(" and "),
                "not" => format!("anything but {}", show(Some(arg))),
                "prefix" => format!("a string starting with {}", show(Some(arg))),
                "contains" => format!("something containing {}", show(Some(arg))),
                "some" => format!("a list with an element that is {}", show(Some(arg))),
                "none" => format!("a list with no element that is {}", show(Some(arg))),
                "addresses" => format!(
                    "an MQTT URI addressing the MQTT server at {} (no port: 1883 / 8883, R2 7.6)",
                    arg.as_str().unwrap_or_default()
                ),
                "regex" => format!(
                    "a string matching the regular expression {}",
                    show(Some(arg))
                ),
                "has" => format!(
                    "a table with {}",
                    arg.as_object()
                        .map(|m| describe(m.iter()))
                        .unwrap_or_default()
                ),
                _ => format!(
                    "an MQTT URI naming the host of {}",
                    arg.as_str().unwrap_or_default()
                ),
            };
        }
    }
    match v {
        Value::String(s) if s == ABSENT || s == PRESENT => s.clone(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// `path = expectation` pairs as a reader sees them: `topic = "/x", qos = 1`.
pub fn describe<'a>(expected: impl IntoIterator<Item = (&'a String, &'a Value)>) -> String {
    let parts: Vec<String> = expected
        .into_iter()
        .map(|(k, v)| format!("{k} = {}", show(Some(v))))
        .collect();
    if parts.is_empty() {
        "any".to_string()
    } else {
        parts.join(", ")
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
        if !meets(want, got) {
            out.push(Mismatch {
                path: path.clone(),
                expected: show(Some(want)),
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

    fn check(obs: &Value, exp: &[(&str, Value)]) -> Vec<Mismatch> {
        let exp: Vec<(String, Value)> = exp
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        check_fields(obs, exp.iter().map(|(k, v)| (k, v)))
    }

    #[test]
    fn reports_each_mismatch() {
        let obs = json!({"rsc": 2001, "rqi": "r1", "pc": {"m2m:ae": {"rn": "a"}}});
        let m = check(
            &obs,
            &[
                ("rsc", json!(4008)),
                ("rqi", json!("r1")),
                ("pc.m2m:ae.rn", json!("b")),
                ("ot", json!("<present>")),
            ],
        );
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(m[0].to_string(), "rsc: expected 4008, observed 2001");
        assert_eq!(m[2].observed, ABSENT);
        assert_eq!(m[2].expected, PRESENT);
    }

    #[test]
    fn absent_and_text_numbers() {
        let obs = json!({"rsc": "4008"});
        assert!(check(&obs, &[("rsc", json!(4008)), ("ec", json!("<absent>"))]).is_empty());
    }

    #[test]
    fn any_of_alternatives_values_or_operators() {
        let obs = json!({"client_id": "C:id-in", "topic": "/oneM2M/req/a/b/xml"});
        assert!(check(
            &obs,
            &[("client_id", json!({"any": ["C:/id-in", "C:id-in"]}))]
        )
        .is_empty());
        assert_eq!(
            check(&obs, &[("client_id", json!({"any": ["C::id-in"]}))]).len(),
            1
        );
        let typed =
            json!({"any": [{"prefix": "/oneM2M/req/a/b/j"}, {"prefix": "/oneM2M/req/a/b/x"}]});
        assert!(check(&obs, &[("topic", typed)]).is_empty());
    }

    #[test]
    fn not_prefix_and_contains_operators() {
        let obs = json!({"rsc": 4103, "poa": ["mqtt://127.0.0.1:1883", "http://x"], "to": "Cabc"});
        assert!(check(
            &obs,
            &[
                ("rsc", json!({"not": 2001})),
                ("to", json!({"prefix": "C"})),
                ("poa", json!({"contains": "mqtt://"})),
                ("poa.0", json!({"prefix": "mqtt://"})),
                ("rsc", json!({"not": {"any": [2000, 2001]}})),
            ]
        )
        .is_empty());
        let m = check(
            &obs,
            &[
                ("rsc", json!({"not": 4103})),
                ("to", json!({"prefix": "S"})),
                ("poa", json!({"contains": "mqtts://"})),
            ],
        );
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(m[0].expected, "anything but 4103");
        assert_eq!(m[1].expected, "a string starting with \"S\"");
    }

    #[test]
    fn list_operators_find_the_element_wherever_it_is() {
        let gk = "127.0.0.1:40123";
        let obs = json!({"poa": ["http://10.0.0.1:8080", "mqtt://localhost:40123"], "one": "mqtt://127.0.0.1"});
        assert!(check(
            &obs,
            &[
                ("poa", json!({"some": {"addresses": gk}})),
                (
                    "poa",
                    json!({"none": {"all": [{"addresses": gk}, {"prefix": "mqtts:"}]}})
                ),
                ("one", json!({"some": {"names_host": gk}})),
            ]
        )
        .is_empty());
        let m = check(&obs, &[("one", json!({"some": {"addresses": gk}}))]);
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].expected,
            "a list with an element that is an MQTT URI addressing the MQTT server at 127.0.0.1:40123 (no port: 1883 / 8883, R2 7.6)"
        );
        assert_eq!(m[0].observed, "\"mqtt://127.0.0.1\"");
    }

    #[test]
    fn descriptions_carry_no_debug_output() {
        let f = [
            ("qos".to_string(), json!(1)),
            ("topic".to_string(), json!({"any": ["/a", "/b"]})),
        ];
        let d = describe(f.iter().map(|(k, v)| (k, v)));
        assert_eq!(d, "qos = 1, topic = one of \"/a\", \"/b\"");
        assert!(!d.contains("Object") && !d.contains("String("), "{d}");
        assert_eq!(describe(std::iter::empty()), "any");
    }

    #[rstest::rstest]
    #[case::anchored_hit(json!({"regex": "^C[0-9a-f]{8}$"}), json!("C0123abcd"), true)]
    #[case::anchored_miss(json!({"regex": "^C[0-9a-f]{8}$"}), json!("C0123abcdX"), false)]
    #[case::unanchored_finds_inside(json!({"regex": "reg_(req|resp)"}), json!("/oneM2M/reg_resp/x/y"), true)]
    #[case::number_as_text(json!({"regex": "^20[01][0-9]$"}), json!(2001), true)]
    #[case::list_is_not_text(json!({"regex": "a"}), json!(["a"]), false)]
    #[case::inside_some(json!({"some": {"regex": "^mqtts?://"}}), json!(["http://x", "mqtts://h"]), true)]
    #[case::negated(json!({"not": {"regex": "^/oneM2M/"}}), json!("/other"), true)]
    #[case::bad_pattern_matches_nothing(json!({"regex": "(unclosed"}), json!("(unclosed"), false)]
    fn regex_operator(#[case] want: Value, #[case] got: Value, #[case] ok: bool) {
        assert_eq!(meets(&want, Some(&got)), ok, "{want} against {got}");
        assert!(!meets(&want, None), "an absent value matches no pattern");
    }

    #[rstest::rstest]
    #[case::top(json!({"regex": "(unclosed"}), Some("(unclosed"))]
    #[case::nested(json!({"any": [1, {"not": {"regex": "a{2"}}]}), Some("a{2"))]
    #[case::valid(json!({"any": [{"regex": "^a+$"}, "b"]}), None)]
    #[case::plain_value(json!("(unclosed"), None)]
    fn invalid_patterns_are_named(#[case] want: Value, #[case] bad: Option<&str>) {
        let found = invalid_pattern(&want);
        match bad {
            Some(p) => {
                let why = found.expect("an invalid pattern is found");
                assert!(why.contains(&format!("{p:?}")), "{why}");
            }
            None => assert_eq!(found, None),
        }
    }

    #[rstest::rstest]
    #[case::some_element_has(json!({"some": {"has": {"qos": {"not": 1}}}}), true)]
    #[case::no_element_has(json!({"none": {"has": {"qos": 2}}}), true)]
    #[case::every_field_must_hold(json!({"some": {"has": {"qos": 0, "filter": {"prefix": "/b"}}}}), false)]
    #[case::nested_path(json!({"some": {"has": {"opts.nl": true}}}), true)]
    #[case::not_a_table(json!({"has": {"qos": 1}}), false)]
    fn has_reads_fields_inside_an_element(#[case] want: Value, #[case] ok: bool) {
        let filters = json!([
            {"filter": "/a", "qos": 1},
            {"filter": "/b", "qos": 1, "opts": {"nl": true}},
            {"filter": "/c", "qos": 0}
        ]);
        let got = if want.get("has").is_some() {
            json!([1])
        } else {
            filters
        };
        assert_eq!(meets(&want, Some(&got)), ok, "{want}");
    }

    #[test]
    fn regex_reads_as_words() {
        let m = check(
            &json!({"client_id": "X"}),
            &[("client_id", json!({"regex": "^C"}))],
        );
        assert_eq!(
            m[0].expected,
            "a string matching the regular expression \"^C\""
        );
        let has = json!({"some": {"has": {"qos": {"not": 1}}}});
        assert_eq!(
            show(Some(&has)),
            "a list with an element that is a table with qos = anything but 1"
        );
    }

    proptest::proptest! {
        /// Any text, escaped, matches itself anchored, and the escaped pattern always compiles.
        #[test]
        fn escaped_text_matches_itself(text in ".{0,40}") {
            let want = json!({"regex": format!("^{}$", regex::escape(&text))});
            proptest::prop_assert_eq!(invalid_pattern(&want), None);
            proptest::prop_assert!(meets(&want, Some(&json!(text))));
            let longer = json!(format!("{text}!"));
            proptest::prop_assert!(!meets(&want, Some(&longer)));
        }

        /// Whatever the pattern, matching never panics, and a pattern that does not compile
        /// is reported by `invalid_pattern`.
        #[test]
        fn any_pattern_is_matched_or_named(pattern in ".{0,20}", text in ".{0,20}") {
            let want = json!({"regex": pattern});
            let hit = meets(&want, Some(&json!(text)));
            if invalid_pattern(&want).is_some() {
                proptest::prop_assert!(!hit);
            }
        }
    }
}
