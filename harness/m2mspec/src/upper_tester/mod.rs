//! The upper-tester channel: how the harness makes an external SUT act (oneM2M TS-0019's
//! upper tester) — an AE that registers or creates a container, a CSE that leaves its MQTT
//! session (R2 7.3.3) or registers with a remote CSE.
//!
//! A SUT profile declares it in `[upper_tester]` ([`UpperTesterSpec`]): an HTTP endpoint
//! ([`http`]), an MQTT topic ([`mqtt`]), or a command per action ([`command`]). Whatever the channel, the action is the
//! `command` step's table (`{"cmd": …, <parameters>}`, the role's [`vocabulary`]) and its
//! outcome a [`CommandOutcome`]: the harness's built-in reference SUTs and external ones go
//! through the same [`SutCommander`] seam. Each action is bounded by the step's timeout,
//! capped by the profile's `timeout_ms`; a channel that cannot deliver it within that (plus a
//! second's grace) makes the case inconclusive, an action the channel does not offer is a
//! configuration error naming it.

pub mod command;
pub mod http;
pub mod mqtt;
pub mod vocabulary;

use crate::commander::{action_of, CommandError, CommandFuture, CommandOutcome, SutCommander};
use crate::template::render;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How long the harness waits past an action's bound for the channel's reply (the SUT gets the
/// bound; the reply needs a moment to come back).
pub const GRACE: Duration = Duration::from_secs(1);

/// The transport of an upper tester.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelKind {
    /// POST to `url`, the action in `X-M2M-UTCMD` and the JSON body ([`http`]).
    Http,
    /// Run `commands.<action>` ([`command`]).
    Command,
    /// Publish on `topic`, the reply on `response_topic` ([`mqtt`]).
    Mqtt,
}

/// `[upper_tester]` of a SUT profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpperTesterSpec {
    pub kind: ChannelKind,
    /// http: the endpoint, e.g. `"http://127.0.0.1:{ut_port}/__ut__"` (profile templates).
    pub url: Option<String>,
    /// http: the `X-M2M-UTCMD` value of an action when it is not the action's name (ACME:
    /// `reset = "Reset"`).
    #[serde(default)]
    pub utcmd: BTreeMap<String, String>,
    /// mqtt: the topic the SUT takes actions from (templates), e.g. `"/m2mspec/ut/{sut.seg}"`.
    pub topic: Option<String>,
    /// mqtt: the topic of its replies (default `<topic>/resp`).
    pub response_topic: Option<String>,
    /// mqtt: the client id of the SUT's own upper-tester connection, which the harness then
    /// does not judge (none: the SUT takes actions on its protocol connection, whose every
    /// SUBSCRIBE is judged).
    pub client_id: Option<String>,
    /// command: argv per action (profile templates, `{action.<parameter>}`, `{timeout_ms}`).
    #[serde(default)]
    pub commands: BTreeMap<String, Vec<String>>,
    /// command: working directory, relative to the profile (default: its directory).
    pub cwd: Option<PathBuf>,
    /// Before each case, `reset` the SUT through this channel (TS-0019 practice); a failed
    /// reset is noted in the report and the case runs anyway.
    #[serde(default)]
    pub reset_between_cases: bool,
    /// The longest any action may take, whatever a step allows (ms).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl UpperTesterSpec {
    /// Checks made when the profile loads.
    pub fn check(&self) -> Result<(), String> {
        if self.timeout_ms == 0 {
            return Err("[upper_tester] timeout_ms must be above 0".into());
        }
        match self.kind {
            ChannelKind::Http if self.url.is_none() => {
                Err("[upper_tester] kind = \"http\" needs url".into())
            }
            ChannelKind::Command if self.commands.is_empty() => Err(
                "[upper_tester] kind = \"command\" needs a [upper_tester.commands] table".into(),
            ),
            ChannelKind::Command => match self.commands.iter().find(|(_, argv)| argv.is_empty()) {
                Some((a, _)) => Err(format!("[upper_tester.commands] {a} is empty")),
                None => Ok(()),
            },
            ChannelKind::Mqtt if self.topic.is_none() => {
                Err("[upper_tester] kind = \"mqtt\" needs topic".into())
            }
            ChannelKind::Http | ChannelKind::Mqtt => Ok(()),
        }
    }
}

/// A SUT's upper tester, its templates rendered for this run.
pub struct Channel {
    spec: UpperTesterSpec,
    /// The profile's directory (for `cwd`).
    dir: PathBuf,
    /// The rendered URL (http).
    url: String,
    vars: BTreeMap<String, String>,
    name: String,
    /// The actions the SUT's capability file claims (`action.<name>`); none: every action.
    claimed: Option<Vec<String>>,
    mqtt: Option<mqtt::MqttChannel>,
}

impl Channel {
    /// The channel of the SUT `name`, whose profile lives in `dir`, with the run's template
    /// values. A template naming an unknown value is an error naming it.
    pub fn new(
        name: &str,
        spec: &UpperTesterSpec,
        dir: PathBuf,
        vars: &BTreeMap<String, String>,
        claimed: Option<Vec<String>>,
    ) -> Result<Channel, String> {
        spec.check()?;
        let url = match &spec.url {
            Some(u) => render(u, vars).map_err(|e| format!("[upper_tester] url: {e}"))?,
            None => String::new(),
        };
        let mqtt = match (&spec.kind, &spec.topic) {
            (ChannelKind::Mqtt, Some(t)) => {
                let topic = render(t, vars).map_err(|e| format!("[upper_tester] topic: {e}"))?;
                let response_topic = match &spec.response_topic {
                    Some(r) => render(r, vars)
                        .map_err(|e| format!("[upper_tester] response_topic: {e}"))?,
                    None => format!("{topic}/resp"),
                };
                let broker = format!(
                    "{}:{}",
                    vars.get("broker.host").map_or("127.0.0.1", String::as_str),
                    vars.get("broker.port").map_or("1883", String::as_str)
                );
                let broker = broker
                    .parse()
                    .map_err(|e| format!("[upper_tester] the MQTT server {broker}: {e}"))?;
                Some(mqtt::MqttChannel::new(broker, topic, response_topic))
            }
            _ => None,
        };
        Ok(Channel {
            mqtt,
            spec: spec.clone(),
            dir,
            url,
            vars: vars.clone(),
            name: name.to_string(),
            claimed,
        })
    }

    /// Whether the channel offers `action`: claimed by the SUT (when it claims actions) and,
    /// for a command channel, given a command.
    fn offers(&self, action: &str) -> bool {
        let claimed = self
            .claimed
            .as_ref()
            .is_none_or(|c| c.iter().any(|a| a == action));
        claimed
            && (self.spec.kind != ChannelKind::Command || self.spec.commands.contains_key(action))
    }

    async fn carry_out(
        &self,
        cmd: serde_json::Value,
        timeout: Duration,
    ) -> Result<CommandOutcome, CommandError> {
        let Some(action) = action_of(&cmd).map(str::to_string) else {
            return Err(CommandError::Unsupported(format!(
                "command {cmd} names no action (cmd)"
            )));
        };
        if !self.offers(&action) {
            return Err(CommandError::Unsupported(format!(
                "the upper tester of {} does not offer action {action:?}",
                self.name
            )));
        }
        let bound = timeout.min(Duration::from_millis(self.spec.timeout_ms));
        let named = |e: CommandError| match e {
            CommandError::Failed(m) => CommandError::Failed(format!("action {action:?}: {m}")),
            CommandError::Unsupported(m) => {
                CommandError::Unsupported(format!("action {action:?}: {m}"))
            }
            CommandError::Channel(m) => CommandError::Channel(format!("action {action:?}: {m}")),
        };
        match self.spec.kind {
            ChannelKind::Http => {
                let utcmd = self.spec.utcmd.get(&action).unwrap_or(&action);
                http::call(&self.url, utcmd, &cmd, bound, bound + GRACE)
                    .await
                    .map_err(named)
            }
            ChannelKind::Mqtt => match &self.mqtt {
                Some(m) => m.call(&cmd, bound, bound + GRACE).await.map_err(named),
                None => Err(named(CommandError::Unsupported("no topic".into()))),
            },
            ChannelKind::Command => {
                let cwd = match &self.spec.cwd {
                    Some(c) => self.dir.join(c),
                    None => self.dir.clone(),
                };
                let argv = self.spec.commands.get(&action).cloned().unwrap_or_default();
                command::run(&argv, &cwd, &self.vars, &cmd, bound, bound + GRACE)
                    .await
                    .map_err(named)
            }
        }
    }
}

impl Channel {
    /// Client ids of connections that belong to the channel, not to the SUT's protocol
    /// behaviour (the harness does not judge them).
    pub fn client_ids(&self) -> Vec<String> {
        self.mqtt
            .iter()
            .map(|m| m.client_id().to_string())
            .chain(self.spec.client_id.clone())
            .collect()
    }

    /// Before a case: the `reset` action when the profile asks for it. `Some(why)` when it
    /// failed.
    pub async fn reset_before_case(&self) -> Option<String> {
        if !self.spec.reset_between_cases || !self.offers("reset") {
            return None;
        }
        let bound = Duration::from_millis(self.spec.timeout_ms.min(RESET_BOUND_MS));
        self.carry_out(serde_json::json!({ "cmd": "reset" }), bound)
            .await
            .err()
            .map(|e| e.to_string())
    }
}

/// The longest a reset between cases may take.
const RESET_BOUND_MS: u64 = 10_000;

impl SutCommander for Channel {
    fn command(&self, cmd: serde_json::Value, timeout: Duration) -> CommandFuture<'_> {
        Box::pin(self.carry_out(cmd, timeout))
    }
}
