//! The step vocabulary of the scenario files (`[[step]] do = "<name>"`), one family per file;
//! each family file holds both its steps' schema (serde types) and their run code.
//!
//! * [`mqtt`] — what a harness-played MQTT client does: connect, subscribe, publish an exact
//!   frame, expect (or not) a delivered PUBLISH, disconnect. Protocol knowledge it needs
//!   (entity identities, grants, fixtures, decoding a payload) comes through the case's
//!   [`Protocol`](crate::protocol::Protocol).
//! * [`trace`] — what the gatekeeper saw: packets, packet counts and granted subscriptions of
//!   the SUT or an entity.
//! * [`fault`] — gatekeeper faults: arm a replay or withheld PUBACKs, cut a connection, wait
//!   for the reconnect. They act on connections, not on a protocol.
//! * [`command`] — drive a SUT that acts on command (an AE under test) and collect the outcome.
//! * [`onem2m`] — oneM2M primitives: send a request built from a fixture, answer a request the
//!   harness received. They need the oneM2M topic and primitive structure.
//! * [`lwm2m`] — LWM2M over MQTT (ESR030): CoAP messages on the transport topics, the 4.4
//!   ACK-then-response sequence from either side, the binary transfer, the 4.5.4 timers.
//!
//! What the steps act on lives here too: [`case_run`] (the state of one case while it runs),
//! [`failure`] (how a step goes wrong), [`evidence`] (trace lines and packets for reports) and
//! [`message`] (messages built from fixtures). The engine (`engine.rs`) runs the steps and
//! decides the verdict.
//!
//! A step is dispatched by its name through the registry of families (`families.rs`);
//! a new family adds its file here and one line there.

// A step failure carries its evidence by value: it is built once, on the cold path, and moved
// into the report, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

pub(crate) mod case_run;
pub(crate) mod command;
pub(crate) mod evidence;
pub(crate) mod failure;
pub(crate) mod fault;
pub(crate) mod lwm2m;
mod message;
pub(crate) mod mqtt;
pub(crate) mod onem2m;
pub(crate) mod payload;
pub(crate) mod trace;

use crate::protocol::Protocol;
use case_run::CaseRun;
use failure::StepResult;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A step being run; it borrows the case run for as long as it runs.
pub(crate) type StepFuture<'s> = Pin<Box<dyn Future<Output = StepResult> + Send + 's>>;

/// The steps of one family: in practice a serde enum tagged by `do`.
pub(crate) trait StepKind: fmt::Debug + Send + Sync {
    /// The step's name (its `do`).
    fn name(&self) -> &'static str;

    /// A setup step's failure makes the case inconclusive instead of failed: the behaviour
    /// under test was never reached.
    fn is_setup(&self) -> bool {
        false
    }

    /// Checks serde cannot express (a choice of keys, a known name), made when a case loads;
    /// `protocol` is the case's family.
    fn validate(&self, _protocol: &dyn Protocol) -> Result<(), String> {
        Ok(())
    }

    /// True for a step that starts or collects the SUT command running in the background
    /// itself; every other step runs while that command is driven alongside.
    fn handles_background_command(&self) -> bool {
        false
    }

    /// The SUT action the step asks for (a `command` step's `cmd`), if any.
    fn action(&self) -> Option<&str> {
        None
    }

    fn run<'s, 'a: 's>(&'s self, run: &'s mut CaseRun<'a>) -> StepFuture<'s>;
}

/// A family of steps, as the registry knows it.
pub(crate) trait StepFamily: Sync {
    /// The names (`do = ...`) of its steps.
    fn steps(&self) -> &'static [&'static str];

    /// Parse one `[[step]]` table whose `do` is one of [`StepFamily::steps`].
    fn parse(&self, table: toml::Value) -> Result<Step, toml::de::Error>;
}

/// One step of a case.
#[derive(Clone)]
pub struct Step(Arc<dyn StepKind>);

impl Step {
    pub(crate) fn new(kind: impl StepKind + 'static) -> Step {
        Step(Arc::new(kind))
    }

    /// The step's name (its `do`).
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// A setup step's failure makes the case inconclusive instead of failed: the behaviour
    /// under test was never reached.
    pub fn is_setup(&self) -> bool {
        self.0.is_setup()
    }

    pub(crate) fn validate(&self, protocol: &dyn Protocol) -> Result<(), String> {
        self.0.validate(protocol)
    }

    /// The SUT action the step asks for (a `command` step's `cmd`), if any.
    pub fn action(&self) -> Option<&str> {
        self.0.action()
    }

    pub(crate) fn handles_background_command(&self) -> bool {
        self.0.handles_background_command()
    }

    pub(crate) fn run<'s, 'a: 's>(&'s self, run: &'s mut CaseRun<'a>) -> StepFuture<'s> {
        self.0.run(run)
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// Defaults shared by the schemas of several families.

pub(crate) fn default_step_timeout_ms() -> u64 {
    5_000
}
pub(crate) fn default_ser() -> String {
    "json".into()
}
pub(crate) fn one() -> u8 {
    1
}
