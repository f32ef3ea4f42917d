//! The state of one case while it runs, and what every step family may use of it: the
//! testbed, the SUT and its protocol family, template expansion, the harness-played entities,
//! and the SUT command that runs on in the background.

use super::failure::{harness_error, StepFailure};
use crate::commander::{FinishedCommand, PendingCommand, SutCommander};
use crate::matcher::FieldExpectations;
use crate::protocol::Protocol;
use crate::sut::SutProfile;
use crate::template::Vars;
use crate::testbed::Testbed;
use chrono::Utc;
use m2mspec_mqtt::client::{MqttClient, ReceivedPublish};
use m2mspec_mqtt::trace::TraceEvent;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

/// Options shared by every case of a run.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub strict: bool,
    pub fixtures: PathBuf,
    /// A token unique to this run, so entity IDs never collide with persistent sessions a
    /// previous run left on an external broker.
    pub run_token: String,
    /// Enforce the gatekeeper authorization policy for harness entities (adds principals).
    pub enforce_policy: bool,
    /// The run's seed (`--seed`, or the one picked): every random choice derives from it.
    pub seed: u64,
}

/// A harness-played entity (an AE, a CSE, a plain MQTT client, …).
pub(crate) struct Entity {
    pub client: Option<MqttClient>,
    pub id: String,
    pub seg: String,
    pub client_id: String,
    /// The gatekeeper connection numbers of its connections in this case, oldest first (a
    /// reconnect adds one; 0: a CONNECT not seen in the trace). Trace matchers take only these
    /// connections' packets, so a late packet of an earlier case's connection with the same
    /// client id is never counted as this case's.
    pub conns: Vec<u64>,
    /// PUBLISHes it received that no `expect_publish` has taken yet (one that looked for a
    /// matching PUBLISH passed them by), oldest first.
    pub inbox: VecDeque<ReceivedPublish>,
}

/// One case while it runs: what it runs against and what its steps have done so far.
pub(crate) struct CaseRun<'a> {
    pub tb: &'a Testbed,
    pub sut: &'a SutProfile,
    /// The protocol family of the case.
    pub protocol: &'static dyn Protocol,
    pub case_id: &'a str,
    /// The SUT role the case binds.
    pub role: &'a str,
    pub opts: &'a EngineOptions,
    pub vars: Vars,
    pub entities: BTreeMap<String, Entity>,
    pub start_seq: u64,
    pub log: Vec<String>,
    /// Request ids generated so far for fixtures that left theirs out (numbers the next).
    pub generated_ids: u64,
    pub ctl: Option<&'a dyn SutCommander>,
    /// A command started with `wait = false`, driven alongside the following steps.
    pub pending: Option<PendingCommand<'a>>,
    /// Its outcome, once it finished before an `await_command` collected it.
    pub finished: Option<FinishedCommand>,
    /// State the case's own step family keeps between its steps (e.g. LWM2M: the CoAP
    /// messages received but not yet consumed, Message ID counters); created by that family.
    pub family_state: Option<Box<dyn std::any::Any + Send>>,
    /// The hostile inputs (`publish_raw` with `hostile = true`) the case sent, one line each
    /// with their bytes: evidence when the case does not pass.
    pub hostile: Vec<String>,
}

/// Who sent a trace event: the SUT (any connection that is not the harness's own) or one
/// harness entity, by client id and connection (none: an alias that is not connected, which
/// sent nothing).
pub(crate) enum Sender<'s> {
    Sut(&'s Testbed),
    Client(Option<(&'s str, &'s [u64])>),
}

impl Sender<'_> {
    pub(crate) fn sent(&self, e: &TraceEvent) -> bool {
        match self {
            Sender::Sut(tb) => tb.is_sut_event(e),
            Sender::Client(who) => who.is_some_and(|(cid, conns)| {
                e.client_id.as_deref() == Some(cid) && in_conns(conns, e.conn)
            }),
        }
    }
}

/// Is connection `conn` one of `conns` (an unknown connection, 0, admits any)?
pub(crate) fn in_conns(conns: &[u64], conn: u64) -> bool {
    conns.contains(&0) || conns.contains(&conn)
}

impl CaseRun<'_> {
    /// A seed for one random choice of this case (`what` names it, e.g. an entity alias):
    /// derived from the run's seed and the case id, so `--seed` repeats it.
    pub(crate) fn seed_for(&self, what: &[&str]) -> u64 {
        let mut parts = vec![self.case_id];
        parts.extend_from_slice(what);
        crate::seed::derive(self.opts.seed, &parts)
    }

    /// Expand the templates of a step string.
    pub(crate) fn expand(&self, s: &str) -> Result<String, StepFailure> {
        self.vars
            .expand(s, Utc::now())
            .map_err(|e| harness_error(format!("case {}: {e}", self.case_id)))
    }

    /// Expand the templates of a step's `fields` table.
    pub(crate) fn expand_fields(
        &self,
        f: &FieldExpectations,
    ) -> Result<Vec<(String, Value)>, StepFailure> {
        let now = Utc::now();
        let fields: Vec<(String, Value)> = f
            .iter()
            .map(|(k, v)| self.vars.expand_value(v, now).map(|v| (k.clone(), v)))
            .collect::<Result<_, _>>()
            .map_err(|e| harness_error(format!("case {}: {e}", self.case_id)))?;
        // A pattern that does not compile is the case's error, not the SUT's mismatch.
        if let Some((k, why)) = fields
            .iter()
            .find_map(|(k, v)| crate::matcher::invalid_pattern(v).map(|why| (k, why)))
        {
            return Err(harness_error(format!("case {}: {k}: {why}", self.case_id)));
        }
        Ok(fields)
    }

    pub(crate) fn entity(&mut self, alias: &str) -> Result<&mut Entity, StepFailure> {
        self.entities.get_mut(alias).ok_or_else(|| {
            harness_error(format!(
                "no connected entity {alias:?} (add a connect step)"
            ))
        })
    }

    pub(crate) fn client(&mut self, alias: &str) -> Result<&mut MqttClient, StepFailure> {
        self.entity(alias)?
            .client
            .as_mut()
            .ok_or_else(|| harness_error(format!("entity {alias:?} is disconnected")))
    }

    /// The sender `from` names: "sut" or an entity alias.
    pub(crate) fn sender(&self, from: &str) -> Sender<'_> {
        if from == "sut" {
            Sender::Sut(self.tb)
        } else {
            Sender::Client(
                self.entities
                    .get(from)
                    .map(|e| (e.client_id.as_str(), e.conns.as_slice())),
            )
        }
    }

    /// Does trace event `e` come from `from` ("sut" or an entity alias)?
    pub(crate) fn is_from(&self, from: &str, e: &TraceEvent) -> bool {
        self.sender(from).sent(e)
    }

    /// The client id of `who` ("sut": of the SUT's latest connection; else an entity alias).
    pub(crate) fn client_id_of(&self, who: &str) -> Result<String, StepFailure> {
        if who == "sut" {
            self.tb
                .sut_client_id()
                .ok_or_else(|| harness_error("the SUT has no connection to cut"))
        } else {
            self.entities
                .get(who)
                .map(|e| e.client_id.clone())
                .ok_or_else(|| harness_error(format!("no entity {who:?}")))
        }
    }
}
