//! Messages the harness sends, built from fixtures: a JSON object under
//! `fixtures/<family>/…` (the protocol says where), its templates expanded with `{self.*}`
//! bound to the sending entity, the step's `set` table applied, and the protocol's request id
//! filled in when the fixture leaves it out.

use super::case_run::CaseRun;
use super::failure::{harness_error, StepFailure, StepResult};
use crate::matcher::ABSENT;
use chrono::Utc;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

impl CaseRun<'_> {
    fn load_fixture(&self, name: &str) -> Result<Map<String, Value>, StepFailure> {
        let path = self.protocol.fixture_path(&self.opts.fixtures, name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| harness_error(format!("fixture {}: {e}", path.display())))?;
        match serde_json::from_str(&text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(harness_error(format!(
                "fixture {} is not a JSON object",
                path.display()
            ))),
            Err(e) => Err(harness_error(format!("fixture {}: {e}", path.display()))),
        }
    }

    fn expand_json(&self, v: &Value) -> Result<Value, StepFailure> {
        Ok(match v {
            Value::String(s) => Value::String(self.expand(s)?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.expand_json(x))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| Ok((self.expand(k)?, self.expand_json(x)?)))
                    .collect::<Result<_, StepFailure>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Apply a step's `set` table to a message: templates expanded, `<absent>` removes.
    pub(crate) fn apply_overrides(
        &self,
        map: &mut Map<String, Value>,
        set: &BTreeMap<String, toml::Value>,
    ) -> StepResult {
        let now = Utc::now();
        for (k, v) in set {
            let v = self
                .vars
                .expand_value(v, now)
                .map_err(|e| harness_error(e.to_string()))?;
            if v == Value::String(ABSENT.into()) {
                map.remove(k);
            } else {
                map.insert(k.clone(), v);
            }
        }
        Ok(())
    }

    /// A fixture with `{self.*}` bound to `alias`, templates expanded and `set` applied.
    pub(crate) fn build_fixture(
        &mut self,
        alias: &str,
        fixture: &str,
        set: &BTreeMap<String, toml::Value>,
    ) -> Result<Map<String, Value>, StepFailure> {
        let (id, seg) = {
            let e = self.entity(alias)?;
            (e.id.clone(), e.seg.clone())
        };
        self.vars.set("self.id", id);
        self.vars.set("self.seg", seg);
        let mut map = match self.expand_json(&Value::Object(self.load_fixture(fixture)?))? {
            Value::Object(m) => m,
            _ => return Err(harness_error("fixture expansion lost its object shape")),
        };
        self.apply_overrides(&mut map, set)?;
        if let Some(key) = self.protocol.message_id_field() {
            if !map.contains_key(key) && !set.contains_key(key) {
                self.generated_ids += 1;
                map.insert(
                    key.into(),
                    Value::String(format!(
                        "{}-{}-{}",
                        self.case_id,
                        self.vars.plain.get("uniq").cloned().unwrap_or_default(),
                        self.generated_ids
                    )),
                );
            }
        }
        Ok(map)
    }
}
