//! A small, realistic report that exercises every verdict, role grouping and
//! evidence field. Renderer tests use it, and `examples/sample.rs` writes it out so
//! the HTML can be checked in a real browser (`check-html.sh`) without a SUT.

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::model::{Basis, CaseResult, Evidence, Level, Report, RunInfo, Verdict};

/// A bare case with the given identity and verdict and no evidence.
pub fn case(id: &str, role: &str, level: Level, verdict: Verdict) -> CaseResult {
    CaseResult {
        id: id.to_string(),
        title: format!("case {id}"),
        clause: "R2 6.4".to_string(),
        spec: "R2".to_string(),
        level,
        role: role.to_string(),
        requirement: format!("The {role} {} do the thing.", level.as_str().to_lowercase()),
        basis: Basis::Stated,
        reasoning: None,
        verdict,
        evidence: Vec::new(),
        duration_ms: 12,
        log: Vec::new(),
        skip_reason: (verdict == Verdict::Skipped).then(|| "capability not claimed".to_string()),
    }
}

/// Run information for a fictitious SUT on a local broker.
pub fn sample_run() -> RunInfo {
    RunInfo {
        tool: "m2mspec".to_string(),
        version: "0.1.0".to_string(),
        started: Utc
            .with_ymd_and_hms(2025, 3, 14, 9, 26, 53)
            .single()
            .unwrap_or_default(),
        sut: "ExampleCSE 2.4.1 (cse profile)".to_string(),
        broker: "127.0.0.1:1883 (rumqttd, embedded)".to_string(),
        strict: false,
        command: "m2mspec run --sut suts/example-cse.toml --out reports/out/sample".to_string(),
        notes: vec![
            "Broker does not support retained messages on wildcard subscriptions; R1 6.5 checks adapted.".to_string(),
        ],
        sut_log_tail: vec![
            "09:26:54.101 INFO  mqtt: connected to 127.0.0.1:1883 as CExampleCSE".to_string(),
            "09:26:54.877 WARN  binding: unknown 'ty' 99 in request from Cm2mspec-ae1".to_string(),
        ],
        seed: None,
    }
}

/// A report with one case of every verdict across three roles, plus coverage.
pub fn sample_report() -> Report {
    let mut cases = vec![
        CaseResult {
            id: "CSE-REQ-TOPIC-001".to_string(),
            title: "CSE subscribes to its request topic".to_string(),
            clause: "R2 6.4.1; R1 6.3".to_string(),
            spec: "R1+R2".to_string(),
            level: Level::Shall,
            role: "cse".to_string(),
            requirement: "A CSE shall subscribe to /oneM2M/req/+/<CSE-ID>/# in order to receive requests addressed to it.".to_string(),
            basis: Basis::Stated,
            reasoning: None,
            verdict: Verdict::Pass,
            evidence: vec![Evidence {
                message: "request on /oneM2M/req/Cm2mspec-ae1/CExampleCSE/json was answered".to_string(),
                expected: Some("a response on /oneM2M/resp/Cm2mspec-ae1/CExampleCSE/json".to_string()),
                observed: Some("response rsc=2000 after 38 ms".to_string()),
                packets: vec![
                    "#12 +0.000s test→broker PUBLISH /oneM2M/req/Cm2mspec-ae1/CExampleCSE/json qos=1 {op=2 rqi=r-7}".to_string(),
                    "#13 +0.038s broker→test PUBLISH /oneM2M/resp/Cm2mspec-ae1/CExampleCSE/json qos=1 {rsc=2000 rqi=r-7}".to_string(),
                ],
                data: None,
            }],
            duration_ms: 41,
            log: vec![
                "connect test client Cm2mspec-ae1".to_string(),
                "publish RETRIEVE to CSEBase".to_string(),
                "await response rqi=r-7: got rsc=2000".to_string(),
            ],
            skip_reason: None,
        },
        CaseResult {
            id: "CSE-RESP-RQI-002".to_string(),
            title: "Response echoes the request identifier".to_string(),
            clause: "R2 6.4.3".to_string(),
            spec: "R2".to_string(),
            level: Level::Shall,
            role: "cse".to_string(),
            requirement: "The Response primitive shall contain the Request Identifier of the corresponding Request.".to_string(),
            basis: Basis::Stated,
            reasoning: None,
            verdict: Verdict::Fail,
            evidence: vec![Evidence {
                message: "response rqi does not match the request".to_string(),
                expected: Some("rqi = \"r-9\"".to_string()),
                observed: Some("rqi = \"r-09\"".to_string()),
                packets: vec![
                    "#20 +0.000s test→broker PUBLISH /oneM2M/req/Cm2mspec-ae1/CExampleCSE/json qos=1 {op=2 rqi=r-9 to=/cse-in}".to_string(),
                    "#21 +0.012s broker→test PUBLISH /oneM2M/resp/Cm2mspec-ae1/CExampleCSE/json qos=1 {rsc=2000 rqi=r-09}".to_string(),
                ],
                data: Some(json!({"m2m:rsp": {"rsc": 2000, "rqi": "r-09", "to": "Cm2mspec-ae1", "fr": "/cse-in", "rvi": "3"}})),
            }],
            duration_ms: 15,
            log: vec![
                "publish RETRIEVE rqi=r-9".to_string(),
                "await response: got rqi=r-09".to_string(),
                "check rsp.rqi == r-9: FAILED".to_string(),
            ],
            skip_reason: None,
        },
        CaseResult {
            id: "CSE-QOS-003".to_string(),
            title: "Responses use QoS 1".to_string(),
            clause: "R2 6.4.4".to_string(),
            spec: "R2".to_string(),
            level: Level::Should,
            role: "cse".to_string(),
            requirement: "Response messages should be published with QoS 1.".to_string(),
            basis: Basis::Derived,
            reasoning: Some("The text prefers QoS 1 in its introduction only; the case reads that as a duty of every response.".to_string()),
            verdict: Verdict::NonStrict,
            evidence: vec![Evidence {
                message: "response was published with QoS 0".to_string(),
                expected: Some("qos = 1".to_string()),
                observed: Some("qos = 0".to_string()),
                packets: vec!["#31 +0.009s broker→test PUBLISH /oneM2M/resp/Cm2mspec-ae1/CExampleCSE/json qos=0 {rsc=2001}".to_string()],
                data: None,
            }],
            duration_ms: 22,
            log: vec!["publish CREATE <AE>".to_string(), "check publish qos >= 1: FAILED".to_string()],
            skip_reason: None,
        },
        CaseResult {
            id: "AE-REG-001".to_string(),
            title: "AE registers with a CREATE on the request topic".to_string(),
            clause: "R2 6.4.1".to_string(),
            spec: "R2".to_string(),
            level: Level::Shall,
            role: "ae".to_string(),
            requirement: "The AE shall send its registration request to /oneM2M/req/<AE-ID>/<CSE-ID>/<format>.".to_string(),
            basis: Basis::Stated,
            reasoning: None,
            verdict: Verdict::Inconclusive,
            evidence: vec![Evidence {
                message: "setup: the AE did not connect to the broker within 5000 ms".to_string(),
                expected: Some("MQTT CONNECT from the AE".to_string()),
                observed: None,
                packets: Vec::new(),
                data: None,
            }],
            duration_ms: 5003,
            log: vec!["start reference CSE".to_string(), "await AE CONNECT: timed out".to_string()],
            skip_reason: None,
        },
        CaseResult {
            id: "BRK-WILL-001".to_string(),
            title: "Broker delivers the last will".to_string(),
            clause: "R1 6.6".to_string(),
            spec: "R1".to_string(),
            level: Level::May,
            role: "broker".to_string(),
            requirement: "The broker may deliver a configured Will message when a CSE disconnects ungracefully.".to_string(),
            basis: Basis::Stated,
            reasoning: None,
            verdict: Verdict::Error,
            evidence: vec![Evidence {
                message: "the case did not finish within its bound of 3000 ms".to_string(),
                expected: None,
                observed: None,
                packets: vec!["#40 +0.000s test→broker CONNECT client=Cm2mspec-will will=/oneM2M/will".to_string()],
                data: None,
            }],
            duration_ms: 3000,
            log: vec!["connect with will".to_string(), "drop TCP connection".to_string()],
            skip_reason: None,
        },
        CaseResult {
            id: "CSE-CBOR-004".to_string(),
            title: "CBOR serialization on the request topic".to_string(),
            clause: "R2 6.4.2".to_string(),
            spec: "R2".to_string(),
            level: Level::Shall,
            role: "cse".to_string(),
            requirement: "A CSE supporting CBOR shall accept requests on topics ending in /cbor.".to_string(),
            basis: Basis::Stated,
            reasoning: None,
            verdict: Verdict::Skipped,
            evidence: Vec::new(),
            duration_ms: 0,
            log: Vec::new(),
            skip_reason: Some("SUT does not claim capability ser-cbor".to_string()),
        },
    ];
    cases.push(case("AE-TOPIC-002", "ae", Level::Shall, Verdict::Pass));
    let mut report = Report::new(sample_run(), cases, 8421);
    report.coverage = Some(json!({
        "rows": [
            {"id": "R2-6.4.1-a", "spec": "R2", "clause": "6.4.1", "level": "SHALL",
             "text": "A CSE shall subscribe to /oneM2M/req/+/<CSE-ID>/#.", "testable": true,
             "cases": ["CSE-REQ-TOPIC-001", "AE-REG-001"], "missing": [], "status": "covered"},
            {"id": "R2-6.4.3-a", "spec": "R2", "clause": "6.4.3", "level": "SHALL",
             "text": "The Response primitive shall contain the Request Identifier.", "testable": true,
             "cases": ["CSE-RESP-RQI-002"], "missing": [], "status": "covered"},
            {"id": "R2-6.4.5-a", "spec": "R2", "clause": "6.4.5", "level": "SHOULD",
             "text": "A CSE should unsubscribe before disconnecting.", "testable": true,
             "cases": [], "missing": ["CSE-UNSUB-005"], "status": "missing"},
            {"id": "R1-6.2-b", "spec": "R1", "clause": "6.2", "level": "SHALL",
             "text": "The broker shall be reachable by all CSEs.", "testable": false,
             "cases": [], "missing": [], "status": "not testable"}
        ],
        "roles": [
            {"role": "cse", "testable": 3, "covered": 2, "percent": 66.7, "derived_only": [], "not_covered": ["R2-6.4.5-a"]}
        ],
        "covered": 2,
        "testable": 3,
        "untestable": 1,
        "percent": 66.7,
        "conflicts": [
            {"id": "subscribe-filter", "between": ["R2-6.4.1-a", "R2-6.4.5-a"],
             "text": "One clause subscribes with a trailing /#, the other without.",
             "resolution": "The cases accept either filter."}
        ]
    }));
    report
}

/// A small mutation matrix (what `m2mspec selftest` computes): one surviving fault, one fault
/// killed only in the extra R1 configuration, one case that kills nothing, a broker setup with
/// a known failure. Renderer tests use it.
pub fn sample_mutation() -> crate::MutationMatrix {
    use crate::mutation::{CaseKills, CleanRun, FaultRun};
    let fault = |id: &str, about: &str, run: usize, by: &[&str]| FaultRun {
        id: id.into(),
        about: about.into(),
        cases_run: run,
        killed_by: by.iter().map(|s| s.to_string()).collect(),
        rerun_in: Vec::new(),
        errors: Vec::new(),
    };
    let kills = |id: &str, sut: &str, run: usize, k: &[&str]| CaseKills {
        id: id.into(),
        sut: sut.into(),
        faults_run: run,
        kills: k.iter().map(|s| s.to_string()).collect(),
        survivors_only: false,
    };
    crate::MutationMatrix {
        scope: "3 fault(s) of refcse, broker, each against every case of its SUT's role".into(),
        clean: vec![
            CleanRun {
                sut: "refcse".into(),
                configuration: String::new(),
                description: "m2mspec reference CSE (cse, /id-in, R2)".into(),
                cases: 3,
                passed: 3,
                not_passing: Vec::new(),
                known: Vec::new(),
            },
            CleanRun {
                sut: "refcse".into(),
                configuration: "R1".into(),
                description: "m2mspec reference CSE (cse, /id-in, R1)".into(),
                cases: 2,
                passed: 2,
                not_passing: Vec::new(),
                known: Vec::new(),
            },
            CleanRun {
                sut: "broker".into(),
                configuration: String::new(),
                description: "mosquitto (Debian) (broker, for /id-in, R2)".into(),
                cases: 2,
                passed: 1,
                not_passing: Vec::new(),
                known: vec!["broker.acl.deny-subscribe-suback: non-strict".into()],
            },
        ],
        faults: vec![
            fault(
                "refcse:omit_rqi",
                "",
                3,
                &[
                    "cse.response.mandatory-parameters (fail)",
                    "cse.qos.qos1 (non-strict)",
                ],
            ),
            FaultRun {
                rerun_in: vec!["R1".into()],
                ..fault(
                    "refcse:ignore_accept",
                    "",
                    5,
                    &["cse.serialization.accept.r1 (fail, R1)"],
                )
            },
            FaultRun {
                rerun_in: vec!["R1".into()],
                ..fault("refcse:notify_qos0", "", 5, &[])
            },
            fault(
                "broker:mosquitto-misconfigured-disabled-client",
                "mosquitto misconfigured: disabled-client <A:Sae3>",
                1,
                &["broker.auth.client-id-match (fail)"],
            ),
        ],
        cases: vec![
            kills(
                "cse.response.mandatory-parameters",
                "refcse",
                2,
                &["refcse:omit_rqi"],
            ),
            kills("cse.qos.qos1", "refcse", 2, &["refcse:omit_rqi"]),
            kills("cse.poa.port", "refcse", 2, &[]),
            kills(
                "cse.serialization.accept.r1",
                "refcse",
                2,
                &["refcse:ignore_accept"],
            ),
            CaseKills {
                survivors_only: true,
                ..kills("cse.serialization.not-acceptable.r1", "refcse", 2, &[])
            },
            kills(
                "broker.auth.client-id-match",
                "broker",
                1,
                &["broker:mosquitto-misconfigured-disabled-client"],
            ),
        ],
        duration_ms: 61_500,
    }
}
