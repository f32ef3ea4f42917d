//! The suites over each carrier of TS-0010 R2 7.2 (`m2mspec run --transport`): a representative
//! subset of the CSE and AE cases — connection, registration with a Credential-ID, a
//! notification round trip, the pointOfAccess scheme (R2 7.6) and the transport cases — passes
//! against the reference CSE and AE over TCP, TLS (mutual, per-run CA), WebSocket and WebSocket
//! over TLS; a SUT that does not claim the transport is skipped, not started.

mod common;

use common::{cfg, evidence_text, testbed_slot};
use m2mspec::run::{run, RunConfig};
use m2mspec_mqtt::transport::Carrier;
use m2mspec_reports::Verdict;
use rstest::rstest;

const SUBSET: &[&str] = &[
    "cse.connect.client-id.r2",
    "cse.registration.reg-req-topic",
    "cse.registration.assign-id",
    "cse.notify.event",
    "cse.poa",
    "cse.transport.carried",
    "cse.transport.client-certificate",
    "ae.registration.reg-req-topic",
    "ae.subscribe.reg-responses",
    "ae.poa",
    "ae.transport.carried",
    "ae.transport.client-certificate",
];

#[rstest]
#[case(Carrier::Tcp)]
#[case(Carrier::Tls)]
#[case(Carrier::Ws)]
#[case(Carrier::Wss)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_sut_pass_over_each_transport(#[case] carrier: Carrier) {
    let _slot = testbed_slot("transports", 2).await;
    let c = RunConfig {
        transport: carrier,
        ..cfg(SUBSET, &[])
    };
    let r = run(&c).await.expect("run starts");
    let bad: Vec<String> = r
        .cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skipped))
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect();
    assert!(bad.is_empty(), "over {carrier}: {bad:#?}");
    let passed = r
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Pass)
        .count();
    assert!(passed >= 10, "over {carrier}: only {passed} passed");
    assert!(
        r.run.broker.contains(&format!("({carrier})")),
        "{}",
        r.run.broker
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sut_without_the_transport_is_skipped_and_not_started() {
    let _slot = testbed_slot("transports", 2).await;
    let c = RunConfig {
        transport: Carrier::Tls,
        ..cfg(&["lwm2m.device.register"], &[])
    };
    let r = run(&c).await.expect("run starts");
    assert!(!r.cases.is_empty());
    for case in &r.cases {
        assert_eq!(case.verdict, Verdict::Skipped, "{}", case.id);
        let why = case.skip_reason.as_deref().unwrap_or_default();
        assert!(
            why.contains("transport.tls (the run's transport is tls)"),
            "{why}"
        );
    }
    assert!(
        r.run.notes.iter().any(|n| n.contains("not started")),
        "{:?}",
        r.run.notes
    );
}

/// A CSE that offers no client certificate over TLS is flagged (derived: non-strict), with the
/// connection's carriage as evidence; its connection is still carried by TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cse_without_a_client_certificate_is_flagged() {
    let _slot = testbed_slot("transports", 2).await;
    let c = RunConfig {
        transport: Carrier::Tls,
        ..cfg(
            &["cse.transport.carried", "cse.transport.client-certificate"],
            &["tls_without_client_certificate"],
        )
    };
    let r = run(&c).await.expect("run starts");
    let carried = common::case(&r, "cse.transport.carried");
    assert_eq!(carried.verdict, Verdict::Pass, "{}", evidence_text(carried));
    let cert = common::case(&r, "cse.transport.client-certificate");
    assert_eq!(cert.verdict, Verdict::NonStrict, "{}", evidence_text(cert));
    let text = evidence_text(cert);
    assert!(text.contains("client_certificate = null"), "{text}");
    assert!(
        text.contains("CARRIED over tls, no client certificate"),
        "{text}"
    );
}

/// R2 7.2: a CSE and an AE handed the run's TLS settings that connect over plain TCP anyway
/// are still relayed (the gatekeeper recognises plain MQTT on its TLS port), and the transport
/// cases fail with the connection's carriage, plain TCP, as evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sut_that_connects_over_plain_tcp_fails_the_transport_case() {
    let _slot = testbed_slot("transports", 2).await;
    let c = RunConfig {
        transport: Carrier::Tls,
        refae_faults: vec!["transport_plain_tcp".into()],
        ..cfg(
            &["cse.transport.carried", "ae.transport.carried"],
            &["transport_plain_tcp"],
        )
    };
    let r = run(&c).await.expect("run starts");
    for id in ["cse.transport.carried", "ae.transport.carried"] {
        let case = common::case(&r, id);
        let text = evidence_text(case);
        assert_eq!(case.verdict, Verdict::Fail, "{id}: {text}");
        assert!(text.contains("CARRIED over tcp"), "{id}: {text}");
    }
}

/// R2 8.3: the reference CSE refuses an untrusted, a wrong-name and an expired server
/// certificate (no CONNECT after the cut); with the fault that accepts any certificate it
/// reconnects, and each case flags it (derived: non-strict) with the CONNECT as evidence.
#[rstest]
#[case(&[], Verdict::Pass)]
#[case(&["tls_accepts_any_server_certificate"], Verdict::NonStrict)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_server_certificate_is_refused(#[case] faults: &[&str], #[case] verdict: Verdict) {
    let _slot = testbed_slot("transports", 2).await;
    let c = RunConfig {
        transport: Carrier::Tls,
        ..cfg(&["cse.transport.refuses-"], faults)
    };
    let r = run(&c).await.expect("run starts");
    assert_eq!(r.cases.len(), 3);
    for case in &r.cases {
        assert_eq!(
            case.verdict,
            verdict,
            "{}: {}",
            case.id,
            evidence_text(case)
        );
        if verdict == Verdict::NonStrict {
            let text = evidence_text(case);
            assert!(
                text.contains("CONNECT packet(s) from sut, expected exactly 0"),
                "{text}"
            );
        }
    }
}
