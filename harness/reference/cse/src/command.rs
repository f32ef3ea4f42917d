//! The actions the reference CSE takes on command (the CSE vocabulary of the harness's upper
//! tester): leave its MQTT session (R2 7.3.3 / R1 6.3), go offline and back, drop its
//! resources, and register with a remote CSE on Mcc through `reg_req` (R2 7.3.3, 7.4.4).

use chrono::Utc;
use m2mspec_onem2m::primitive::{Operation, RequestPrimitive};
use m2mspec_onem2m::serialization::{decode_response, encode_request};
use m2mspec_onem2m::timestamp::format_timestamp;
use m2mspec_onem2m::topic::{id_to_segment, Channel, OneM2mTopic};
use m2mspec_onem2m::{Release, Serialization};
use m2mspec_session::{Gap, Session, SessionPlan, Subscription};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

use crate::{RefCseConfig, RefCseError};

/// What the harness asks the CSE to do. Deserializes from a scenario file with the tag `cmd`,
/// e.g. `{ cmd = "leave" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum CseCommand {
    /// R2 7.3.3 / R1 6.3 teardown: DISCONNECT (when connected), CONNECT with Clean Session 1
    /// under its client id, DISCONNECT. The CSE stays offline until `Reconnect`.
    Leave,
    /// MQTT DISCONNECT; the server keeps the persistent session. Offline until `Reconnect`.
    Disconnect,
    /// CONNECT (Clean Session 0) and SUBSCRIBE again; when connected, disconnect first.
    Reconnect,
    /// Register with the registrar CSE `registrar` (an SP-relative CSE-ID) through `reg_req`
    /// with the CSE's Credential-ID (R2 7.4.4): a connection of its own whose client id is the
    /// Credential-ID (R2 7.3.3: "some other appropriate unique ID" before the registration),
    /// subscribed to `reg_resp`, a CREATE `<remoteCSE>` (ty 16), the response awaited, then
    /// that connection's teardown.
    Register {
        #[serde(default = "default_registrar")]
        registrar: String,
    },
    /// Drop every resource created since start.
    Reset,
}

fn default_registrar() -> String {
    "/m2mspec-registrar".into()
}

/// The result of a command: the response's status code and the whole response primitive (as
/// a short-name JSON map), for the commands that send a request.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CommandOutcome {
    pub rsc: Option<i64>,
    pub response: Option<serde_json::Value>,
}

/// How long the registration waits for its connection and for the response.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// The `register` action (see [`CseCommand::Register`]).
pub(crate) async fn register(
    cfg: &RefCseConfig,
    registrar: &str,
    gap: &Gap,
) -> Result<CommandOutcome, RefCseError> {
    let invalid = |what: &str, e: String| RefCseError::InvalidConfig(format!("{what}: {e}"));
    let cred =
        id_to_segment(&cfg.credential_id).map_err(|e| invalid("credential_id", e.to_string()))?;
    let receiver = id_to_segment(registrar).map_err(|e| invalid("registrar", e.to_string()))?;
    let f = &cfg.faults;
    let stem = cfg.cse_id.trim_start_matches('/');
    let mut plan = SessionPlan::new(if f.register_client_id_unrelated {
        "mn-cse".to_string()
    } else {
        cred.clone()
    });
    plan.keep_alive_secs = cfg.keep_alive_secs;
    plan.subscriptions = vec![Subscription::new(format!("/oneM2M/reg_resp/{cred}/#"), 1)];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let session = Session::serve(
        plan,
        crate::session_config::session_config(cfg, REGISTER_TIMEOUT, gap),
        move |mut inbound, _| async move {
            while let Some(m) = inbound.recv().await {
                if tx.send(m).is_err() {
                    return;
                }
            }
        },
    )
    .await?;
    let rqi = format!("refcse-reg-{}", Utc::now().timestamp_millis());
    let req = RequestPrimitive {
        op: Some(Operation::Create.code()),
        to: Some(registrar.to_string()),
        fr: Some(cfg.cse_id.clone()),
        rqi: Some(rqi.clone()),
        rvi: (cfg.release == Release::R2).then(|| "3".to_string()),
        ty: Some(16),
        pc: Some(json!({ "m2m:csr": {
            "csi": cfg.cse_id,
            "cb": format!("/{stem}/{}", cfg.csebase_name),
            "rr": true,
            "poa": [format!("mqtt://{}:{}", cfg.broker.ip(), cfg.broker.port())],
            "srv": ["3"],
        }})),
        ot: Some(format_timestamp(Utc::now())),
        ..Default::default()
    };
    let topic = OneM2mTopic {
        prefix: String::new(),
        channel: if f.register_on_req {
            Channel::Req
        } else {
            Channel::RegReq
        },
        originator: if f.register_on_req {
            stem.to_string()
        } else {
            cred
        },
        receiver,
        serialization: Some(Serialization::Json),
    };
    let payload = encode_request(&req, Serialization::Json)
        .map_err(|e| invalid("the registration request", e.to_string()))?;
    let waited = async {
        session
            .publisher()
            .publish(topic.to_string(), 1, false, payload)
            .await?;
        while let Some(m) = rx.recv().await {
            if let Ok(rsp) = decode_response(&m.payload, Serialization::Json) {
                if rsp.rqi.as_deref() == Some(rqi.as_str()) {
                    return Ok(rsp);
                }
            }
        }
        Err(RefCseError::NoResponse(rqi.clone()))
    };
    let rsp = tokio::time::timeout(REGISTER_TIMEOUT, waited)
        .await
        .unwrap_or_else(|_| Err(RefCseError::NoResponse(rqi.clone())));
    // The registration connection has done its job: the R2 7.3.3 teardown.
    session.leave().await?;
    let rsp = rsp?;
    Ok(CommandOutcome {
        rsc: rsp.rsc,
        response: Some(serde_json::Value::Object(rsp.to_map())),
    })
}
