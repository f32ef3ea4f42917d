//! oneM2M steps (TS-0010 R1/R2): `request` sends a request primitive built from a fixture,
//! `respond` answers a request primitive the harness received.
//!
//! They belong to the oneM2M family because they need its structure: the request/response
//! topics (R2 7.4.2, 7.4.5: the response topic mirrors the request's), the primitive's
//! parameters (`rqi` copied, `to`/`fr` swapped; R2 7.5) and its serializations. The
//! MQTT-level `expect_publish` decodes what they provoke through the protocol seam
//! ([`crate::protocol::onem2m`]).

use super::case_run::CaseRun;
use super::failure::{harness_error, StepResult};
use super::{default_ser, one, Step, StepFamily, StepFuture, StepKind};
use crate::protocol::onem2m::OneM2m;
use crate::protocol::Protocol;
use m2mspec_onem2m::serialization::{self, PrimitiveKind, Serialization};
use m2mspec_onem2m::{OneM2mTopic, RequestPrimitive};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The family, as the registry knows it.
pub(crate) struct OneM2mSteps;

impl StepFamily for OneM2mSteps {
    fn steps(&self) -> &'static [&'static str] {
        &["request", "respond"]
    }

    fn parse(&self, table: toml::Value) -> Result<Step, toml::de::Error> {
        OneM2mStep::deserialize(table).map(Step::new)
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum OneM2mStep {
    Request(Request),
    Respond(Respond),
}

impl StepKind for OneM2mStep {
    fn name(&self) -> &'static str {
        match self {
            OneM2mStep::Request(_) => "request",
            OneM2mStep::Respond(_) => "respond",
        }
    }

    fn is_setup(&self) -> bool {
        match self {
            OneM2mStep::Request(s) => s.setup,
            OneM2mStep::Respond(_) => false,
        }
    }

    fn validate(&self, _protocol: &dyn Protocol) -> Result<(), String> {
        match self {
            OneM2mStep::Request(Request { serialization, .. })
                if Serialization::from_suffix(serialization).is_err() =>
            {
                Err(format!("unknown serialization {serialization:?}"))
            }
            _ => Ok(()),
        }
    }

    fn run<'s, 'a: 's>(&'s self, run: &'s mut CaseRun<'a>) -> StepFuture<'s> {
        match self {
            OneM2mStep::Request(s) => Box::pin(s.run(run)),
            OneM2mStep::Respond(s) => Box::pin(s.run(run)),
        }
    }
}

fn ok_rsc() -> i64 {
    2000
}

/// Publish a request primitive built from a fixture with overrides.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "as")]
    alias: String,
    /// Fixture name under fixtures/onem2m/primitives/ (without .json).
    fixture: String,
    #[serde(default = "default_ser")]
    serialization: String,
    /// Topic (template); default `/oneM2M/req/{<alias>.seg}/{sut.seg}/<serialization>`.
    topic: Option<String>,
    /// Parameter overrides by short name (values are templates); `<absent>` removes one.
    #[serde(default)]
    set: BTreeMap<String, toml::Value>,
    /// Send the raw payload bytes instead of the encoded fixture (template).
    raw_payload: Option<String>,
    #[serde(default = "one")]
    qos: u8,
    /// Name under which the sent request is saved for later templates (`{name.rqi}`).
    save: Option<String>,
    #[serde(default)]
    setup: bool,
}

impl Request {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let (alias, fixture) = (self.alias.as_str(), self.fixture.as_str());
        let ser = Serialization::from_suffix(&self.serialization)
            .map_err(|e| harness_error(e.to_string()))?;
        let map = run.build_fixture(alias, fixture, &self.set)?;
        let seg = run.entity(alias)?.seg.clone();
        let topic = match &self.topic {
            Some(t) => run.expand(t)?,
            None => OneM2m::request_topic(&seg, run.sut, ser),
        };
        let payload = match &self.raw_payload {
            Some(r) => run.expand(r)?.into_bytes(),
            None => {
                let req = RequestPrimitive::from_map(map.clone()).map_err(|e| {
                    harness_error(format!("fixture {fixture} is not a request primitive: {e}"))
                })?;
                serialization::encode_request(&req, ser)
                    .map_err(|e| harness_error(format!("encode {fixture} as {ser}: {e}")))?
            }
        };
        let saved = Value::Object(map);
        run.vars.save("last_request", saved.clone());
        if let Some(name) = &self.save {
            run.vars.save(name, saved);
        }
        run.log.push(format!(
            "  {alias} → {topic} ({} bytes, {ser})",
            payload.len()
        ));
        run.client(alias)?
            .publish(&topic, &payload, self.qos, false, Duration::from_secs(5))
            .await
            .map_err(|e| harness_error(format!("publish {topic}: {e}")))?;
        Ok(())
    }
}

/// Answer a request the entity received (saved by `expect_publish`): the response topic
/// mirrors the request topic, `rqi` is copied, `to`/`fr` swapped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Respond {
    #[serde(rename = "as")]
    alias: String,
    /// Name of the saved request.
    request: String,
    #[serde(default = "ok_rsc")]
    rsc: i64,
    /// Extra response parameters by short name (templates).
    #[serde(default)]
    set: BTreeMap<String, toml::Value>,
    /// Serialization; default: the request topic's.
    serialization: Option<String>,
    topic: Option<String>,
}

impl Respond {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let (alias, request, rsc) = (self.alias.as_str(), self.request.as_str(), self.rsc);
        let req = run.vars.saved.get(request).cloned().ok_or_else(|| {
            harness_error(format!(
                "no saved request {request:?} (save it in expect_publish)"
            ))
        })?;
        let req_topic = run
            .vars
            .plain
            .get(&format!("{request}.__topic"))
            .cloned()
            .ok_or_else(|| harness_error(format!("saved {request:?} has no topic")))?;
        let parsed = OneM2mTopic::parse(&req_topic)
            .map_err(|e| harness_error(format!("saved request topic {req_topic}: {e}")))?;
        let ser = match &self.serialization {
            Some(s) => Serialization::from_suffix(s).map_err(|e| harness_error(e.to_string()))?,
            None => parsed.serialization.unwrap_or(Serialization::Json),
        };
        let mut map = serde_json::Map::new();
        map.insert("rsc".into(), Value::from(rsc));
        for (k, from) in [("rqi", "rqi"), ("to", "fr"), ("fr", "to"), ("rvi", "rvi")] {
            if let Some(v) = req.get(from) {
                map.insert(k.into(), v.clone());
            }
        }
        run.apply_overrides(&mut map, &self.set)?;
        let topic = match &self.topic {
            Some(t) => run.expand(t)?,
            None => parsed.response_topic().to_string(),
        };
        let payload = serialization::encode_map(&map, ser, PrimitiveKind::Response)
            .map_err(|e| harness_error(format!("encode response: {e}")))?;
        run.log
            .push(format!("  {alias} → response {topic} rsc {rsc}"));
        run.client(alias)?
            .publish(&topic, &payload, 1, false, Duration::from_secs(5))
            .await
            .map_err(|e| harness_error(format!("publish {topic}: {e}")))?;
        Ok(())
    }
}
