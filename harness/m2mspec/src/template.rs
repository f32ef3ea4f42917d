//! `{name}` templates in scenario strings: entity IDs, SUT IDs, saved primitives and times.
//!
//! * `{sut.id}`, `{sut.seg}`, `{sut.csebase}`, `{sut.client_id}`, `{sut.release}` — the SUT.
//! * `{<alias>.id}`, `{<alias>.seg}`, `{<alias>.client_id}` — a harness-played entity.
//! * `{<saved>.<path>}` — a field of a saved primitive, e.g. `{reg.pc.m2m:ae.aei}`.
//! * `{now}`, `{now-60s}`, `{now+2m}` — oneM2M timestamps relative to the step's start.
//! * `{uniq}` — a token unique to this case run.
//!
//! `{{` and `}}` escape literal braces. An unknown name is an error naming the name, so a typo
//! in a case fails loudly instead of sending a literal "{ae.sge}".

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum TemplateError {
    #[error("unknown template name {{{0}}}")]
    Unknown(String),
    #[error("unterminated '{{' in {0:?}")]
    Unterminated(String),
    #[error("bad time offset in {{{0}}} (use now, now-30s, now+2m, now-1h)")]
    BadTime(String),
}

/// Variables visible to templates.
#[derive(Debug, Default, Clone)]
pub struct Vars {
    pub plain: BTreeMap<String, String>,
    pub saved: BTreeMap<String, Value>,
}

impl Vars {
    pub fn set(&mut self, k: impl Into<String>, v: impl Into<String>) {
        self.plain.insert(k.into(), v.into());
    }

    pub fn save(&mut self, name: &str, v: Value) {
        self.saved.insert(name.to_string(), v);
    }

    fn lookup(&self, name: &str, now: DateTime<Utc>) -> Result<String, TemplateError> {
        if let Some(v) = self.plain.get(name) {
            return Ok(v.clone());
        }
        if name == "now" || name.starts_with("now+") || name.starts_with("now-") {
            return relative_time(name, now).map(m2mspec_onem2m::timestamp::format_timestamp);
        }
        if let Some((head, path)) = name.split_once('.') {
            if let Some(root) = self.saved.get(head) {
                return match lookup_path(root, path) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(v) => Ok(v.to_string()),
                    None => Err(TemplateError::Unknown(name.to_string())),
                };
            }
        }
        Err(TemplateError::Unknown(name.to_string()))
    }

    /// Expand every `{name}` in `s`.
    pub fn expand(&self, s: &str, now: DateTime<Utc>) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let c = rest.as_bytes()[i];
            let after = &rest[i + 1..];
            if c == b'}' {
                // A lone '}' is literal; '}}' is an escaped one.
                out.push('}');
                rest = after.strip_prefix('}').unwrap_or(after);
                continue;
            }
            if let Some(stripped) = after.strip_prefix('{') {
                out.push('{');
                rest = stripped;
                continue;
            }
            let end = after
                .find('}')
                .ok_or_else(|| TemplateError::Unterminated(s.to_string()))?;
            out.push_str(&self.lookup(&after[..end], now)?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Expand templates inside a TOML value, giving JSON. A string that is exactly one
    /// template of a saved non-string value keeps that value's type.
    pub fn expand_value(
        &self,
        v: &toml::Value,
        now: DateTime<Utc>,
    ) -> Result<Value, TemplateError> {
        Ok(match v {
            toml::Value::String(s) => Value::String(self.expand(s, now)?),
            toml::Value::Integer(i) => Value::from(*i),
            toml::Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Datetime(d) => Value::String(d.to_string()),
            toml::Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.expand_value(x, now))
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(t) => {
                let mut m = serde_json::Map::new();
                for (k, x) in t {
                    m.insert(k.clone(), self.expand_value(x, now)?);
                }
                Value::Object(m)
            }
        })
    }
}

/// Follow a dotted short-name path (`pc.m2m:ae.rn`) into a JSON value. Keys may contain ':'.
pub fn lookup_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for part in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn relative_time(name: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TemplateError> {
    if name == "now" {
        return Ok(now);
    }
    let bad = || TemplateError::BadTime(name.to_string());
    let (sign, rest) = (name.as_bytes()[3], &name[4..]);
    let unit = rest.chars().last().ok_or_else(bad)?;
    let n: i64 = rest[..rest.len() - 1].parse().map_err(|_| bad())?;
    let d = match unit {
        's' => Duration::seconds(n),
        'm' => Duration::minutes(n),
        'h' => Duration::hours(n),
        _ => return Err(bad()),
    };
    Ok(if sign == b'+' { now + d } else { now - d })
}

/// Profile templates (commands, env, config files, upper-tester URLs): expand `{name}`
/// placeholders from `vars`; `{{` and `}}` stand for literal braces (JSON,
/// YAML or Erlang configs need them). Unknown names and a lone brace are errors naming them.
pub fn render(s: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let (brace, after) = (&rest[i..=i], &rest[i + 1..]);
        if after.starts_with(brace) {
            out.push_str(brace);
            rest = &after[1..];
            continue;
        }
        if brace == "}" {
            return Err(format!(
                "lone '}}' in {s:?} (write '}}}}' for a literal brace)"
            ));
        }
        let end = after.find('}').ok_or_else(|| {
            format!("unterminated '{{' in {s:?} (write '{{{{' for a literal brace)")
        })?;
        let name = &after[..end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!(
                "'{{' not followed by a placeholder name in {s:?} (write '{{{{' for a literal brace)"
            ));
        }
        out.push_str(
            vars.get(name)
                .ok_or_else(|| format!("unknown placeholder {{{name}}} in {s:?}"))?,
        );
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn render_expands_and_names_unknown_placeholders() {
        let vars = BTreeMap::from([("broker.port".to_string(), "1883".to_string())]);
        assert_eq!(
            render("--port={broker.port}", &vars).unwrap(),
            "--port=1883"
        );
        assert!(render("{nope}", &vars).unwrap_err().contains("{nope}"));
        assert!(render("{open", &vars).is_err());
        assert!(render("close}", &vars).is_err());
        assert_eq!(
            render(r#"{{"port": {broker.port}}}"#, &vars).unwrap(),
            r#"{"port": 1883}"#
        );
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("valid")
    }

    #[test]
    fn expands_plain_saved_and_escapes() {
        let mut v = Vars::default();
        v.set("sut.seg", "id-in");
        v.save(
            "reg",
            serde_json::json!({"pc": {"m2m:ae": {"aei": "Cabc"}}, "rsc": 2001}),
        );
        assert_eq!(
            v.expand("/oneM2M/req/{reg.pc.m2m:ae.aei}/{sut.seg}", now())
                .unwrap(),
            "/oneM2M/req/Cabc/id-in"
        );
        assert_eq!(v.expand("{reg.rsc}", now()).unwrap(), "2001");
        assert_eq!(v.expand("{{x}}", now()).unwrap(), "{x}");
    }

    #[test]
    fn unknown_names_and_bad_times_are_errors() {
        let v = Vars::default();
        assert_eq!(
            v.expand("a{nope}", now()),
            Err(TemplateError::Unknown("nope".into()))
        );
        assert!(matches!(
            v.expand("{now-5x}", now()),
            Err(TemplateError::BadTime(_))
        ));
        assert!(matches!(
            v.expand("{open", now()),
            Err(TemplateError::Unterminated(_))
        ));
    }

    #[test]
    fn relative_times() {
        let v = Vars::default();
        assert_eq!(v.expand("{now-60s}", now()).unwrap(), "20260102T030305");
        assert_eq!(v.expand("{now+1h}", now()).unwrap(), "20260102T040405");
    }
}
