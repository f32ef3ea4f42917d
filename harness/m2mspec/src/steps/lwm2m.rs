//! LWM2M steps (ESR030): CoAP messages on the transport topics and the binary transfer.
//!
//! * `coap_send`, `coap_expect`, `coap_none`, `coap_exchange`, `coap_serve` — CoAP messages
//!   built from fields, fixtures or raw bytes; received ones checked field by field with the
//!   strict RFC 7252 validator's findings as evidence; the 4.4 sequence of an empty ACK and a
//!   separate response, from either side ([`coap`]).
//! * `binary_pull`, `binary_offer` — the 4.7 binary transfer as receiver or sender, data
//!   checked byte for byte, throughput in the case log ([`transfer`]).
//! * `wait_timer`, `await_outcome` — time relative to the 4.5.4 timers, and a SUT command's
//!   outcome judged by when it came ([`timing`]).
//!
//! They belong to the LWM2M family because they need its message format (CoAP) and rules; the
//! MQTT client, trace, fault and command steps serve this family unchanged. What the steps
//! share (durations, the messages an entity received and not yet consumed, Message ID and
//! token counters, default transport topics) is in [`peer`].

mod coap;
mod peer;
mod timing;
mod transfer;

use super::{Step, StepFamily, StepFuture, StepKind};
use crate::protocol::Protocol;
use serde::Deserialize;

/// The family, as the registry knows it.
pub(crate) struct Lwm2mSteps;

impl StepFamily for Lwm2mSteps {
    fn steps(&self) -> &'static [&'static str] {
        &[
            "coap_send",
            "coap_expect",
            "coap_none",
            "coap_exchange",
            "coap_serve",
            "binary_pull",
            "binary_offer",
            "wait_timer",
            "await_outcome",
        ]
    }

    fn parse(&self, table: toml::Value) -> Result<Step, toml::de::Error> {
        Lwm2mStep::deserialize(table).map(Step::new)
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum Lwm2mStep {
    CoapSend(coap::CoapSend),
    CoapExpect(coap::CoapExpect),
    CoapNone(coap::CoapNone),
    CoapExchange(coap::CoapExchange),
    CoapServe(coap::CoapServe),
    BinaryPull(transfer::BinaryPull),
    BinaryOffer(transfer::BinaryOffer),
    WaitTimer(timing::WaitTimer),
    AwaitOutcome(timing::AwaitOutcome),
}

impl StepKind for Lwm2mStep {
    fn name(&self) -> &'static str {
        match self {
            Lwm2mStep::CoapSend(_) => "coap_send",
            Lwm2mStep::CoapExpect(_) => "coap_expect",
            Lwm2mStep::CoapNone(_) => "coap_none",
            Lwm2mStep::CoapExchange(_) => "coap_exchange",
            Lwm2mStep::CoapServe(_) => "coap_serve",
            Lwm2mStep::BinaryPull(_) => "binary_pull",
            Lwm2mStep::BinaryOffer(_) => "binary_offer",
            Lwm2mStep::WaitTimer(_) => "wait_timer",
            Lwm2mStep::AwaitOutcome(_) => "await_outcome",
        }
    }

    fn is_setup(&self) -> bool {
        match self {
            Lwm2mStep::CoapExpect(s) => s.setup,
            Lwm2mStep::CoapExchange(s) => s.setup,
            Lwm2mStep::CoapServe(s) => s.setup,
            Lwm2mStep::BinaryPull(s) => s.setup,
            Lwm2mStep::BinaryOffer(s) => s.setup,
            Lwm2mStep::AwaitOutcome(s) => s.setup,
            Lwm2mStep::CoapSend(_) | Lwm2mStep::CoapNone(_) | Lwm2mStep::WaitTimer(_) => false,
        }
    }

    fn validate(&self, protocol: &dyn Protocol) -> Result<(), String> {
        if protocol.name() != "lwm2m" {
            return Err(format!(
                "{} is an LWM2M step; this case belongs to {}",
                self.name(),
                protocol.name()
            ));
        }
        Ok(())
    }

    fn handles_background_command(&self) -> bool {
        matches!(self, Lwm2mStep::AwaitOutcome(_))
    }

    fn run<'s, 'a: 's>(&'s self, run: &'s mut super::case_run::CaseRun<'a>) -> StepFuture<'s> {
        match self {
            Lwm2mStep::CoapSend(s) => Box::pin(s.run(run)),
            Lwm2mStep::CoapExpect(s) => Box::pin(s.run(run)),
            Lwm2mStep::CoapNone(s) => Box::pin(s.run(run)),
            Lwm2mStep::CoapExchange(s) => Box::pin(s.run(run)),
            Lwm2mStep::CoapServe(s) => Box::pin(s.run(run)),
            Lwm2mStep::BinaryPull(s) => Box::pin(s.run(run)),
            Lwm2mStep::BinaryOffer(s) => Box::pin(s.run(run)),
            Lwm2mStep::WaitTimer(s) => Box::pin(s.run(run)),
            Lwm2mStep::AwaitOutcome(s) => Box::pin(s.run(run)),
        }
    }
}
