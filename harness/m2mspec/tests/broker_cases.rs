//! The broker suite (`suites/onem2m/broker/`) against two real MQTT servers:
//!
//! * mosquitto 2.0 (Debian), configured from the broker entity set: the generated R2 8.4 ACL
//!   plus the dynamic-security plugin binding each user name to its client id. Every case must
//!   pass, except the informative SUBACK 0x80 case (mosquitto grants a forbidden subscription
//!   and then delivers nothing on it, which conforms).
//! * the embedded rumqttd 0.20, which has no topic ACL, no client-id verification and re-sends
//!   unacknowledged QoS 1 messages with DUP = 0 and a new packet id. Every authorization,
//!   identity and redelivery case must FAIL against it, with evidence showing the forbidden
//!   delivery or the accepted CONNECT — the proof that these cases are able to fail.
//!
//! * aedes 1.x (npm), configured from the neutral JSON export of the same policy
//!   (fixtures/sut/aedes/broker.mjs): it refuses a forbidden SUBSCRIBE with SUBACK 0x80 and
//!   closes the connection on a forbidden PUBLISH — the other refusal styles MQTT 3.1.1
//!   allows — and must score every authorization case pass, none inconclusive or error. It
//!   re-sends an unacknowledged delivery with DUP = 0 (its one failure), which also makes it
//!   the broker on which `redelivery-pkid` is checked right after a failing `redelivery-dup`.
//!
//! The mosquitto (aedes) tests are skipped (with a message) only when no `mosquitto` binary is
//! on PATH (no `node` or no `npm ci` in fixtures/sut/aedes); CI installs both.

use m2mspec::run::{run, RunConfig};
use m2mspec_onem2m::acl::EntitySet;
use m2mspec_onem2m::client_id::Release;
use m2mspec_reports::{CaseResult, Report, Verdict};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cfg(sut: &str) -> RunConfig {
    let root = root();
    RunConfig {
        suites: root.join("suites"),
        fixtures: root.join("fixtures"),
        suts: vec![root.join("fixtures/sut").join(sut)],
        broker: None,
        strict: false,
        select: vec!["broker.".into()],
        role: None,
        refcse_faults: Vec::new(),
        refae_faults: Vec::new(),
        refcse_variants: Vec::new(),
        refae_variants: Vec::new(),
        enforce_policy: false,
        transport: Default::default(),
        command: format!("broker_cases {sut}"),
        progress: false,
        seed: None,
    }
}

async fn run_broker(sut: &str) -> Report {
    let t = Instant::now();
    let r = run(&cfg(sut)).await.expect("the broker run starts");
    eprintln!(
        "{sut}: {} broker cases in {:.1} s",
        r.cases.len(),
        t.elapsed().as_secs_f64()
    );
    r
}

/// mosquitto over its TLS listener (require_certificate, the per-run PKI; R2 7.2, 8.3): the
/// gatekeeper reaches it with a client certificate and an entity connects through it, while a
/// client without a certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_over_tls_requires_a_client_certificate() {
    if !mosquitto_installed() {
        return;
    }
    let c = RunConfig {
        transport: m2mspec_mqtt::transport::Carrier::Tls,
        select: vec![
            "broker.transport.".into(),
            "broker.auth.client-id-match".into(),
        ],
        ..cfg("mosquitto.toml")
    };
    let r = run(&c).await.expect("the broker run starts");
    assert_eq!(r.cases.len(), 2);
    for c in &r.cases {
        assert_eq!(
            c.verdict,
            Verdict::Pass,
            "{}: {}\nbroker log tail: {:#?}",
            c.id,
            evidence_text(c),
            r.run.sut_log_tail
        );
    }
    let refused = case(&r, "broker.transport.client-certificate-required");
    assert!(
        refused.log.iter().any(|l| l.contains("refused")),
        "{:?}",
        refused.log
    );
}

fn case<'a>(r: &'a Report, id: &str) -> &'a CaseResult {
    r.cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("case {id} not in report"))
}

fn evidence_text(c: &CaseResult) -> String {
    serde_json::to_string(&c.evidence).expect("evidence serializes")
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

/// Authorization cases where a forbidden *subscriber* is the one that must get nothing: against
/// a broker without topic control it receives the protected message (shown in the evidence).
const FORBIDDEN_SUBSCRIBER: &[(&str, &str)] = &[
    (
        "broker.acl.cse-subscribe-requests",
        "/oneM2M/req/Cae1/id-in/json",
    ),
    (
        "broker.acl.cse-subscribe-registree-responses",
        "/oneM2M/resp/Cae1/id-in/json",
    ),
    (
        "broker.acl.cse-subscribe-registrar-responses",
        "/oneM2M/resp/id-mn/id-in/json",
    ),
    (
        "broker.acl.s-ae-subscribe-responses",
        "/oneM2M/resp/Sae2/id-in/json",
    ),
    (
        "broker.acl.s-ae-subscribe-requests",
        "/oneM2M/req/id-in/Sae2/json",
    ),
    (
        "broker.acl.c-ae-subscribe-responses",
        "/oneM2M/resp/Cae1/id-in/json",
    ),
    (
        "broker.acl.c-ae-subscribe-requests",
        "/oneM2M/req/id-in/Cae1/json",
    ),
    (
        "broker.acl.s-ae-unregistered-subscribe-reg-resp",
        "/oneM2M/reg_resp/cred-sae3/id-in/json",
    ),
    (
        "broker.acl.other-subscribe-reg-resp",
        "/oneM2M/reg_resp/cred-x/id-in/json",
    ),
    (
        "broker.acl.deny-foreign-subscribe",
        "/oneM2M/req/Sae2/id-in/json",
    ),
];

/// Cases where a *forged publication* (rqi "forged-…") must never be delivered.
const FORGED_PUBLICATION: &[&str] = &[
    "broker.acl.cse-publish-registrar",
    "broker.acl.s-ae-publish-requests",
    "broker.acl.s-ae-publish-responses",
    "broker.acl.c-ae-publish-requests",
    "broker.acl.c-ae-publish-responses",
    "broker.acl.s-ae-unregistered-publish-reg-req",
    "broker.acl.other-publish-reg-req",
    "broker.acl.unregistered-no-req",
    "broker.acl.credential-confinement",
    "broker.acl.deny-foreign-publish",
    "broker.auth.credential-id-topic",
    "broker.auth.unknown-client-no-topics",
];

/// Cases both brokers pass (rumqttd keeps persistent sessions and accepts known clients).
const SESSION_AND_MATCH: &[&str] = &[
    "broker.auth.client-id-match",
    "broker.session.store-forward",
    "broker.session.store-forward-after-loss",
    "broker.session.clean-discards",
];

fn all_ids() -> BTreeSet<&'static str> {
    let mut ids: BTreeSet<&str> = FORBIDDEN_SUBSCRIBER.iter().map(|(id, _)| *id).collect();
    ids.extend(FORGED_PUBLICATION);
    ids.extend(SESSION_AND_MATCH);
    ids.extend([
        "broker.auth.client-id-mismatch",
        "broker.session.redelivery-dup",
        "broker.session.redelivery-pkid",
        "broker.session.keepalive-zero",
        "broker.acl.deny-subscribe-suback",
        // Over --transport tls or wss only: skipped here, see mosquitto_over_tls_….
        "broker.transport.client-certificate-required",
    ]);
    ids
}

fn assert_case_set(r: &Report) {
    let got: BTreeSet<&str> = r.cases.iter().map(|c| c.id.as_str()).collect();
    let want = all_ids();
    assert_eq!(
        got, want,
        "the broker suite changed: update the expectations of this test"
    );
    assert!(r.cases.len() >= 20);
}

/// The informative SUBACK case: both brokers grant (0x01) instead of refusing (0x80). A MAY,
/// so the verdict is non-strict, never a fail.
fn assert_suback_granted(r: &Report) {
    let c = case(r, "broker.acl.deny-subscribe-suback");
    assert_eq!(c.verdict, Verdict::NonStrict, "{}", evidence_text(c));
    assert_eq!(c.evidence[0].expected.as_deref(), Some("0x80"));
    assert_eq!(c.evidence[0].observed.as_deref(), Some("0x01"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_with_the_generated_policy_passes_the_broker_suite() {
    if !mosquitto_installed() {
        return;
    }
    let r = run_broker("mosquitto.toml").await;
    assert_case_set(&r);
    let bad: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.id != "broker.acl.deny-subscribe-suback" && c.verdict != Verdict::Pass)
        .filter(|c| {
            !(c.id == "broker.transport.client-certificate-required"
                && c.verdict == Verdict::Skipped)
        })
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect();
    assert!(
        bad.is_empty(),
        "mosquitto cases not passing: {bad:#?}\nbroker log tail: {:#?}",
        r.run.sut_log_tail
    );
    assert_suback_granted(&r);
    // Its refusal style: a forbidden subscription granted (nothing delivered on it), a forbidden
    // publication acknowledged and dropped.
    for (id, _) in FORBIDDEN_SUBSCRIBER {
        let c = case(&r, id);
        assert!(
            styles(c).iter().any(|s| s.contains("granted (QoS 1)")),
            "{id}: {:#?}",
            c.log
        );
    }
    for id in FORGED_PUBLICATION {
        let c = case(&r, id);
        assert!(
            styles(c)
                .iter()
                .any(|s| s.contains("acknowledged (PUBACK)")),
            "{id}: {:#?}",
            c.log
        );
    }
    // The client-id verification is a real refusal (CONNACK 5, "not authorized"), not a drop.
    let m = case(&r, "broker.auth.client-id-mismatch");
    let refused = m
        .log
        .iter()
        .filter(|l| l.contains("refused with CONNACK 5"))
        .count();
    assert_eq!(refused, 2, "{:#?}", m.log);
    assert!(!r.failed(false));
}

/// rumqttd 0.20 is unstable under the suite's connect/disconnect pattern: a clean DISCONNECT
/// yields two Disconnect events in its router (the DISCONNECT packet, then the socket close),
/// and the second one can land on a newer connection that has just been given the freed
/// connection id — that connection is dropped (before its CONNACK, or in the middle of a case).
/// Worse, when it is dropped before the CONNACK, the `RemoteLink::new` error path leaves the
/// client id's will handler behind with a dropped receiver, so the next CONNECT with that client
/// id panics in `try_send(..).unwrap()` (server/broker.rs:544) while holding the will-handler
/// mutex, and the poisoned mutex panics every later connection (broker.rs:538): no client gets
/// a CONNACK again. The gatekeeper's `absorb_disconnect` workaround is off in the broker role
/// (the broker's own behaviour is under test; bytes pass unchanged), so the suite meets this.
/// A run where that happened has `error` cases (the harness could not carry them out), which say
/// nothing about the requirements; such a run is repeated on a fresh embedded broker, a bounded
/// number of times, and each repetition is reported on stderr.
/// Cases hit by rumqttd's own instability: `error`s, and setup steps refused because a panic
/// left it closing every connection (a close before CONNACK, which is the broker's answer and
/// so an inconclusive setup rather than a harness error).
fn errored(r: &Report) -> Vec<String> {
    r.cases
        .iter()
        .filter(|c| {
            c.verdict == Verdict::Error
                || (c.verdict == Verdict::Inconclusive
                    && c.evidence
                        .first()
                        .is_some_and(|e| e.message.contains("without a CONNACK")))
                // A step cut short by a connection rumqttd dropped on its own (a SUBSCRIBE
                // answered by a close is scored as the MQTT-3.8.4-1 violation it is).
                || c.evidence.first().is_some_and(|e| {
                    e.message.contains("the broker closed the connection:")
                        || e.message.contains("with no SUBACK")
                })
        })
        .map(|c| {
            format!(
                "{}: {}",
                c.id,
                c.evidence.first().map(|e| e.message.as_str()).unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttd_fails_every_authorization_identity_and_redelivery_case() {
    const ATTEMPTS: usize = 12;
    let mut r = run_broker("rumqttd.toml").await;
    for attempt in 2..=ATTEMPTS {
        let e = errored(&r);
        if e.is_empty() {
            break;
        }
        eprintln!(
            "rumqttd dropped harness connections during the run ({} error cases, first: {}); run {attempt}/{ATTEMPTS}",
            e.len(),
            e[0]
        );
        r = run_broker("rumqttd.toml").await;
    }
    let e = errored(&r);
    assert!(
        e.is_empty(),
        "rumqttd dropped connections in {ATTEMPTS} runs in a row: {e:#?}"
    );
    assert_case_set(&r);
    for (id, topic) in FORBIDDEN_SUBSCRIBER {
        let c = case(&r, id);
        let ev = evidence_text(c);
        assert_eq!(c.verdict, Verdict::Fail, "{id}: {ev}");
        assert!(
            ev.contains("received a PUBLISH where none was expected") && ev.contains(topic),
            "{id}: the evidence shows the forbidden delivery on {topic}: {ev}"
        );
    }
    for id in FORGED_PUBLICATION {
        let c = case(&r, id);
        let ev = evidence_text(c);
        assert_eq!(c.verdict, Verdict::Fail, "{id}: {ev}");
        // These three check their forbidden subscriber before their forged publisher (which
        // a broker may disconnect): without topic control, that delivery fails them first.
        let shown = match *id {
            "broker.acl.unregistered-no-req" => "/oneM2M/req/id-in/Sae3/json",
            "broker.acl.credential-confinement" => "toCae1-",
            "broker.auth.unknown-client-no-topics" => "received a PUBLISH where none was expected",
            _ => "forged-",
        };
        assert!(
            ev.contains(shown),
            "{id}: the evidence shows the forbidden delivery ({shown}): {ev}"
        );
    }
    // R2 8.2: no client-id verification — authenticated as Cae1, presenting Sae2's id.
    let m = case(&r, "broker.auth.client-id-mismatch");
    assert_eq!(m.verdict, Verdict::Fail, "{}", evidence_text(m));
    assert!(m.evidence[0].message.contains("A:Sae2 was accepted"));
    assert_eq!(
        m.evidence[0].observed.as_deref(),
        Some("CONNACK 0 (accepted)")
    );
    // R2 7.3.3 (MQTT 3.1.1 4.4): the re-sent message has DUP = 0 and a new packet id.
    let d = case(&r, "broker.session.redelivery-dup");
    assert_eq!(d.verdict, Verdict::Fail, "{}", evidence_text(d));
    assert!(
        d.evidence[0]
            .message
            .contains("dup: expected true, observed false"),
        "{}",
        evidence_text(d)
    );
    let p = case(&r, "broker.session.redelivery-pkid");
    assert_eq!(p.verdict, Verdict::Fail, "{}", evidence_text(p));
    assert!(
        p.evidence[0].message.contains("pkid: expected"),
        "{}",
        evidence_text(p)
    );
    // R2 7.3.3 allows clients Keep Alive 0; rumqttd refuses it by closing the socket. The
    // sentence is a permission (MAY) and states no server duty: a derived, non-strict finding.
    let k = case(&r, "broker.session.keepalive-zero");
    assert_eq!(k.verdict, Verdict::NonStrict, "{}", evidence_text(k));
    assert!(
        k.evidence[0].message.contains("without a CONNACK"),
        "{}",
        evidence_text(k)
    );
    // What rumqttd does right: it accepts the known clients and keeps persistent sessions.
    for id in SESSION_AND_MATCH {
        let c = case(&r, id);
        assert_eq!(c.verdict, Verdict::Pass, "{id}: {}", evidence_text(c));
    }
    assert_suback_granted(&r);
    assert!(r.failed(false));
}

/// dynsec.json (the mosquitto credentials, client id bound to user name) lists exactly the
/// client ids of the entity set the ACL is generated from.
#[test]
fn mosquitto_credentials_match_the_entity_set() {
    let root = root();
    let set = EntitySet::load(&root.join("fixtures/broker/entities.toml")).expect("entity set");
    let want: BTreeSet<String> = set
        .principals(Release::R2)
        .expect("principals")
        .into_iter()
        .map(|(_, p)| p.client_id)
        .collect();
    let text = std::fs::read_to_string(root.join("fixtures/sut/mosquitto/dynsec.json"))
        .expect("dynsec.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("dynsec.json is JSON");
    let clients = doc["clients"].as_array().expect("clients");
    let mut got = BTreeSet::new();
    for c in clients {
        let user = c["username"].as_str().expect("username");
        assert_eq!(
            c["clientid"].as_str(),
            Some(user),
            "{user}: the client id must be bound to the user name (R2 8.2)"
        );
        assert!(c["password"].is_string() && c["salt"].is_string(), "{user}");
        got.insert(user.to_string());
    }
    assert_eq!(
        got, want,
        "regenerate: cargo run --release -- acl | python3 fixtures/sut/mosquitto/gen-dynsec.py > fixtures/sut/mosquitto/dynsec.json"
    );
    // Every topic decision must fall through to the ACL file.
    for k in [
        "publishClientSend",
        "publishClientReceive",
        "subscribe",
        "unsubscribe",
    ] {
        assert_eq!(
            doc["defaultACLAccess"][k],
            serde_json::Value::Bool(false),
            "{k}"
        );
    }
}

/// aedes is usable here: `node` on PATH and its package installed (`npm ci` in
/// fixtures/sut/aedes, as .ci/run does).
/// mosquitto on PATH; under CI (which installs it) its absence fails the test.
fn mosquitto_installed() -> bool {
    let ok = on_path("mosquitto");
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "no `mosquitto` on PATH; .ci/run installs it"
        );
        eprintln!("SKIPPED: no `mosquitto` on PATH (apt-get install mosquitto); CI installs it");
    }
    ok
}

fn aedes_installed() -> bool {
    let ok = on_path("node")
        && root()
            .join("fixtures/sut/aedes/node_modules/aedes")
            .is_dir();
    if !ok {
        // Under CI (which installs it) a missing aedes is a failure, never a silent pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "aedes is not installed (needs node and `npm ci` in fixtures/sut/aedes); .ci/run installs it"
        );
        eprintln!(
            "SKIPPED: aedes not installed (needs node and `npm ci` in fixtures/sut/aedes); CI installs it"
        );
    }
    ok
}

async fn run_aedes(select: &[&str]) -> Report {
    let mut c = cfg("aedes.toml");
    c.select = select.iter().map(|s| s.to_string()).collect();
    run(&c).await.expect("the aedes run starts")
}

/// The refusal styles a case's log reports.
fn styles(c: &CaseResult) -> Vec<&str> {
    c.log
        .iter()
        .filter_map(|l| l.trim().strip_prefix("refusal style: "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aedes_refusing_with_suback_0x80_and_closing_scores_every_authorization_case() {
    if !aedes_installed() {
        return;
    }
    let r = run_aedes(&["broker."]).await;
    assert_case_set(&r);
    let bad: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.id != "broker.session.redelivery-dup" && c.verdict != Verdict::Pass)
        // aedes claims no TLS: its TLS-only case is skipped, with that reason.
        .filter(|c| {
            !(c.id == "broker.transport.client-certificate-required"
                && c.verdict == Verdict::Skipped
                && c.skip_reason
                    .as_deref()
                    .is_some_and(|r| r.contains("transport.tls")))
        })
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect();
    assert!(
        bad.is_empty(),
        "aedes cases not passing: {bad:#?}\nbroker log tail: {:#?}",
        r.run.sut_log_tail
    );
    // Each forbidden subscriber was refused with 0x80, each forged publisher's connection closed.
    for (id, _) in FORBIDDEN_SUBSCRIBER {
        let c = case(&r, id);
        assert!(
            styles(c)
                .iter()
                .any(|s| s.contains("refused with SUBACK 0x80")),
            "{id}: {:#?}",
            c.log
        );
    }
    for id in FORGED_PUBLICATION {
        let c = case(&r, id);
        assert!(
            styles(c).iter().any(|s| s.contains("connection closed")),
            "{id}: {:#?}",
            c.log
        );
    }
    // The SUBACK case is now met (0x80), and the real defect is shown with the broker's packets.
    assert_eq!(
        case(&r, "broker.acl.deny-subscribe-suback").verdict,
        Verdict::Pass
    );
    let dup = case(&r, "broker.session.redelivery-dup");
    assert_eq!(dup.verdict, Verdict::Fail, "{}", evidence_text(dup));
    let text = evidence_text(dup);
    for shown in ["CONNACK sp=1", "FAULT withheld PUBACK", "PUBLISH q1 dup0"] {
        assert!(text.contains(shown), "{shown} not in {text}");
    }
}

/// Issue 13: `redelivery-pkid` right after a failing `redelivery-dup` once failed a broker that
/// keeps the packet id (the previous case's late PUBACK satisfied this case's wait). Its
/// verdict must be the one it gets alone, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_pkid_after_a_failing_redelivery_dup_gets_its_verdict_alone() {
    if !aedes_installed() {
        return;
    }
    const PKID: &str = "broker.session.redelivery-pkid";
    let alone = run_aedes(&[PKID]).await;
    let want = case(&alone, PKID).verdict;
    assert_eq!(want, Verdict::Pass, "{}", evidence_text(case(&alone, PKID)));
    for round in 0..4 {
        let r = run_aedes(&["broker.session.redelivery-dup", PKID]).await;
        let dup = case(&r, "broker.session.redelivery-dup");
        assert_eq!(
            dup.verdict,
            Verdict::Fail,
            "round {round}: {}",
            evidence_text(dup)
        );
        let c = case(&r, PKID);
        assert_eq!(c.verdict, want, "round {round}: {}", evidence_text(c));
    }
}

/// A broker that closes the connection where MQTT 3.1.1 requires a SUBACK (aedes told to close
/// on a forbidden SUBSCRIBE) fails the case citing MQTT-3.8.4-1, with the packets — the close
/// is the broker's answer, never a harness error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_instead_of_a_suback_fails_citing_mqtt_3_8_4_1() {
    if !aedes_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = aedes_variant(
        dir.path(),
        None,
        "M2MSPEC_AEDES_DENIED_SUBSCRIBE = \"close\"",
    );
    let mut c = cfg("aedes.toml");
    c.suts = vec![profile];
    c.select = vec!["broker.acl.c-ae-subscribe-responses".into()];
    let r = run(&c).await.expect("the run starts");
    let case = case(&r, "broker.acl.c-ae-subscribe-responses");
    let ev = evidence_text(case);
    assert_eq!(case.verdict, Verdict::Fail, "{ev}");
    assert!(ev.contains("MQTT-3.8.4-1"), "{ev}");
    assert!(
        ev.contains("SUBSCRIBE id=") && ev.contains("CLOSED (broker EOF)"),
        "the SUBSCRIBE and the broker's close are shown: {ev}"
    );
}

/// The aedes profile, runnable from `dir`, with another capability file (its text) and extra
/// `[process.env]` lines.
fn aedes_variant(dir: &std::path::Path, caps: Option<&str>, env: &str) -> PathBuf {
    let sut = root().join("fixtures/sut");
    let caps_path = match caps {
        Some(text) => {
            let p = dir.join("caps.toml");
            std::fs::write(&p, text).expect("write capabilities");
            p
        }
        None => sut.join("../capabilities/aedes.toml"),
    };
    let text = std::fs::read_to_string(sut.join("aedes.toml"))
        .expect("aedes profile")
        .replace("\"../capabilities/aedes.toml\"", &format!("{caps_path:?}"))
        .replace(
            "\"../broker/entities.toml\"",
            &format!("{:?}", sut.join("../broker/entities.toml")),
        )
        .replace(
            "\"aedes/broker.mjs\"",
            &format!("{:?}", sut.join("aedes/broker.mjs")),
        )
        + &format!("\n[process.env]\n{env}\n");
    let profile = dir.join("aedes-variant.toml");
    std::fs::write(&profile, text).expect("write profile");
    profile
}

/// A capability file that declares a refusal style the broker does not use is a false claim:
/// the case fails, naming the declaration and what the broker did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_refusal_style_the_broker_does_not_use_fails() {
    if !aedes_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let caps = std::fs::read_to_string(root().join("fixtures/capabilities/aedes.toml"))
        .expect("aedes capabilities")
        .replace(
            "\"broker.refusal.suback\" = true",
            "\"broker.refusal.suback\" = false",
        )
        .replace(
            "\"broker.refusal.close\" = true",
            "\"broker.refusal.close\" = false",
        );
    let mut c = cfg("aedes.toml");
    c.suts = vec![aedes_variant(dir.path(), Some(&caps), "")];
    c.select = vec![
        "broker.acl.c-ae-subscribe-responses".into(),
        "broker.acl.c-ae-publish-requests".into(),
    ];
    let r = run(&c).await.expect("the run starts");
    for (id, said) in [
        (
            "broker.acl.c-ae-subscribe-responses",
            "declares broker.refusal.suback = false, but the broker answered with SUBACK 0x80",
        ),
        (
            "broker.acl.c-ae-publish-requests",
            "declares broker.refusal.close = false, but the broker answered with a close",
        ),
    ] {
        let case = case(&r, id);
        let ev = evidence_text(case);
        assert_eq!(case.verdict, Verdict::Fail, "{id}: {ev}");
        assert!(ev.contains(said), "{id}: {ev}");
    }
}
