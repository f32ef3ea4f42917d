//! Gatekeeper fault steps: `fault` (arm a replayed PUBLISH or withheld PUBACKs), `cut` (close
//! a connection, optionally holding the client offline for a set time), `server_certificate`
//! (over --transport tls/wss, the gatekeeper presents a certificate a client must refuse, R2
//! 8.3: `untrusted`, `wrong-name`, `expired`, or `valid` again) and `await_reconnect`
//! (a setup step by default, bounded by the SUT profile's `timing.reconnect_ms`: R2 7.3.3 lets
//! a client reconnect when it chooses, so a SUT that takes longer is no failure).
//!
//! They belong together, apart from the MQTT steps, because the harness does them *to* a
//! connection through the gatekeeper rather than as a client: they provoke the MQTT 3.1.1 4.4
//! re-delivery and the reconnect behaviour (R2 7.3.3) the cases then check.

use super::case_run::CaseRun;
use super::failure::{harness_error, StepFailure, StepResult};
use super::{Step, StepFamily, StepFuture, StepKind};
use crate::protocol::Protocol;
use m2mspec_mqtt::pki::BadServerCert;
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord};
use m2mspec_reports::Evidence;
use serde::Deserialize;
use std::time::Duration;

/// The family, as the registry knows it.
pub(crate) struct Faults;

impl StepFamily for Faults {
    fn steps(&self) -> &'static [&'static str] {
        &["fault", "cut", "server_certificate", "await_reconnect"]
    }

    fn parse(&self, table: toml::Value) -> Result<Step, toml::de::Error> {
        FaultStep::deserialize(table).map(Step::new)
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum FaultStep {
    Fault(Fault),
    Cut(Cut),
    ServerCertificate(ServerCertificate),
    AwaitReconnect(AwaitReconnect),
}

/// The faults `fault` can arm.
const FAULTS: &[&str] = &["replay_next_publish", "withhold_pubacks"];

impl StepKind for FaultStep {
    fn name(&self) -> &'static str {
        match self {
            FaultStep::Fault(_) => "fault",
            FaultStep::Cut(_) => "cut",
            FaultStep::ServerCertificate(_) => "server_certificate",
            FaultStep::AwaitReconnect(_) => "await_reconnect",
        }
    }

    fn is_setup(&self) -> bool {
        match self {
            FaultStep::Fault(_) => false,
            FaultStep::Cut(s) => s.setup,
            FaultStep::ServerCertificate(s) => s.setup,
            FaultStep::AwaitReconnect(s) => s.setup,
        }
    }

    fn validate(&self, _protocol: &dyn Protocol) -> Result<(), String> {
        match self {
            FaultStep::Fault(Fault { fault, .. }) if !FAULTS.contains(&fault.as_str()) => {
                Err(format!("fault: unknown fault {fault:?}"))
            }
            FaultStep::ServerCertificate(s) => s.kind().map(|_| ()),
            _ => Ok(()),
        }
    }

    fn run<'s, 'a: 's>(&'s self, run: &'s mut CaseRun<'a>) -> StepFuture<'s> {
        match self {
            FaultStep::Fault(s) => Box::pin(async move { s.run(run) }),
            FaultStep::Cut(s) => Box::pin(async move { s.run(run) }),
            FaultStep::ServerCertificate(s) => Box::pin(async move { s.run(run) }),
            FaultStep::AwaitReconnect(s) => Box::pin(s.run(run)),
        }
    }
}

fn hash() -> String {
    "#".into()
}
fn one_usize() -> usize {
    1
}

/// Arm a gatekeeper fault against the SUT or an entity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fault {
    client: String,
    /// `replay_next_publish` (resend the next matching PUBLISH to the client with DUP=1 and
    /// the same packet id) or `withhold_pubacks` (drop the client's next `count` PUBACKs).
    fault: String,
    #[serde(default = "hash")]
    filter: String,
    #[serde(default = "one_usize")]
    count: usize,
}

impl Fault {
    fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let (fault, count) = (self.fault.as_str(), self.count);
        let cid = run.client_id_of(&self.client)?;
        let filter = run.expand(&self.filter)?;
        let f = run.tb.gatekeeper.faults();
        match fault {
            "replay_next_publish" => f.replay_next_publish(&cid, &filter),
            _ => f.withhold_pubacks(&cid, count),
        }
        run.log.push(format!(
            "  fault {fault} armed for {cid} ({filter}, {count})"
        ));
        Ok(())
    }
}

/// Cut the connection of the SUT or an entity; with `hold_ms`, refuse its CONNECTs (CONNACK
/// 0x03) for that long, so that it stays offline for a set time whatever its reconnect delay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cut {
    client: String,
    hold_ms: Option<u64>,
    #[serde(default)]
    setup: bool,
}

impl Cut {
    fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let who = self.client.as_str();
        let cid = run.client_id_of(who)?;
        let faults = run.tb.gatekeeper.faults();
        if let Some(ms) = self.hold_ms {
            faults.hold_offline(&cid, Duration::from_millis(ms));
        }
        run.vars
            .set("cut_seq", run.tb.trace().next_seq().to_string());
        if !faults.cut(&cid) {
            return Err(harness_error(format!("{who} ({cid}) is not connected")));
        }
        run.log.push(match self.hold_ms {
            Some(ms) => format!("  cut connection of {cid}, held offline for {ms} ms"),
            None => format!("  cut connection of {cid}"),
        });
        Ok(())
    }
}

/// Over --transport tls or wss: the certificate the gatekeeper presents to the connections
/// made from now on (R2 8.3 negative tests; a case puts `valid` back in its cleanup).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerCertificate {
    /// `untrusted` (another CA), `wrong-name` (for `wrong.invalid`), `expired`, `valid`.
    present: String,
    #[serde(default)]
    setup: bool,
}

impl ServerCertificate {
    fn kind(&self) -> Result<Option<BadServerCert>, String> {
        match self.present.as_str() {
            "untrusted" => Ok(Some(BadServerCert::Untrusted)),
            "wrong-name" => Ok(Some(BadServerCert::WrongName)),
            "expired" => Ok(Some(BadServerCert::Expired)),
            "valid" => Ok(None),
            other => Err(format!(
                "server_certificate: unknown certificate {other:?} (untrusted, wrong-name, expired, valid)"
            )),
        }
    }

    fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let kind = self.kind().map_err(harness_error)?;
        let Some(tls) = run.tb.tls.as_ref().filter(|t| t.carrier.secure()) else {
            return Err(harness_error(
                "server_certificate needs --transport tls or wss",
            ));
        };
        tls.present(kind)
            .map_err(|e| harness_error(e.to_string()))?;
        run.log.push(format!(
            "  the gatekeeper presents the {} server certificate",
            self.present
        ));
        Ok(())
    }
}

/// Wait until the SUT (or entity) has reconnected after a cut. A setup step unless it says
/// otherwise: the reconnect enables the check that follows; bounded by `timeout_ms`, else by
/// the SUT profile's `timing.reconnect_ms`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AwaitReconnect {
    client: String,
    timeout_ms: Option<u64>,
    #[serde(default = "yes")]
    setup: bool,
}

fn yes() -> bool {
    true
}

impl AwaitReconnect {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let who = self.client.as_str();
        let (timeout_ms, bound) = match self.timeout_ms {
            Some(ms) => (ms, "the step's bound"),
            None => (
                run.sut.timing.reconnect_ms,
                "the SUT profile's timing.reconnect_ms",
            ),
        };
        let cid = run.client_id_of(who)?;
        let since: u64 = run
            .vars
            .plain
            .get("cut_seq")
            .and_then(|s| s.parse().ok())
            .unwrap_or(run.start_seq);
        let got = run
            .tb
            .trace()
            .wait_for(since, Duration::from_millis(timeout_ms), |e| e.dir == Direction::ClientToBroker && matches!(&e.kind, EventKind::Packet(PacketRecord::Connect { client_id, .. }) if *client_id == cid))
            .await;
        if got.is_none() {
            return Err(StepFailure::Check(Evidence {
                message: format!(
                    "{who} ({cid}) did not reconnect within {timeout_ms} ms ({bound})"
                ),
                expected: Some("a new CONNECT after the cut".into()),
                observed: Some("none".into()),
                packets: run.recent_packets(10),
                data: None,
            }));
        }
        Ok(())
    }
}
