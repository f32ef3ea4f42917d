//! End to end: the reference AE against the reference CSE over an embedded MQTT server.
//! Every wait is bounded.

use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_refae::{AeCommand, AeFaults, RefAe, RefAeConfig, Release, Serialization};
use m2mspec_refcse::{RefCse, RefCseConfig};

async fn bed() -> (EmbeddedBroker, RefCse) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let broker = EmbeddedBroker::start(BrokerOptions {
        max_connections: 64,
        ..BrokerOptions::default()
    })
    .await
    .expect("broker starts");
    let cse = RefCse::start(RefCseConfig {
        broker: broker.addr(),
        ..RefCseConfig::default()
    })
    .await
    .expect("CSE starts");
    (broker, cse)
}

async fn crud(ae: &RefAe) {
    let rsc = |o: m2mspec_refae::CommandOutcome| o.rsc;
    assert_eq!(
        rsc(ae.command(AeCommand::Register).await.unwrap()),
        Some(2001)
    );
    let ae_id = ae.ae_id().expect("an AE-ID");
    assert_eq!(
        rsc(ae
            .command(AeCommand::CreateContainer { rn: "c1".into() })
            .await
            .unwrap()),
        Some(2001)
    );
    assert_eq!(
        rsc(ae
            .command(AeCommand::CreateContentInstance {
                container: "c1".into(),
                con: "21.5".into(),
            })
            .await
            .unwrap()),
        Some(2001)
    );
    let out = ae
        .command(AeCommand::Retrieve {
            to: format!("cse-in/{ae_id}/c1/la"),
        })
        .await
        .unwrap();
    assert_eq!(out.rsc, Some(2000), "{out:?}");
    assert_eq!(out.response.unwrap()["pc"]["m2m:cin"]["con"], "21.5");
    assert_eq!(
        rsc(ae
            .command(AeCommand::Delete {
                to: format!("cse-in/{ae_id}/c1"),
            })
            .await
            .unwrap()),
        Some(2002)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_in_every_serialization_and_release() {
    let (broker, cse) = bed().await;
    for (i, (release, ser)) in [
        (Release::R2, Serialization::Json),
        (Release::R2, Serialization::Xml),
        (Release::R2, Serialization::Cbor),
    ]
    .into_iter()
    .enumerate()
    {
        let ae = RefAe::start(RefAeConfig {
            broker: broker.addr(),
            ae_id: Some(format!("Cae{i}")),
            release,
            serialization: ser,
            ..RefAeConfig::default()
        })
        .await
        .expect("AE starts");
        crud(&ae).await;
        ae.stop().await;
    }
    cse.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_ae_against_r1_cse() {
    let broker = EmbeddedBroker::start(BrokerOptions {
        max_connections: 16,
        ..BrokerOptions::default()
    })
    .await
    .expect("broker starts");
    let cse = RefCse::start(RefCseConfig {
        broker: broker.addr(),
        release: Release::R1,
        ..RefCseConfig::default()
    })
    .await
    .expect("CSE starts");
    let ae = RefAe::start(RefAeConfig {
        broker: broker.addr(),
        release: Release::R1,
        serialization: Serialization::Xml,
        ..RefAeConfig::default()
    })
    .await
    .expect("AE starts");
    assert_eq!(ae.client_id(), "A::Cm2mrefae");
    crud(&ae).await;
    ae.stop().await;
    cse.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_registration_with_the_reference_cse() {
    let (broker, cse) = bed().await;
    let ae = RefAe::start(RefAeConfig {
        broker: broker.addr(),
        ae_id: None,
        ..RefAeConfig::default()
    })
    .await
    .expect("AE starts");
    crud(&ae).await;
    let ae_id = ae.ae_id().unwrap();
    assert!(ae_id.starts_with('C'), "{ae_id}");
    assert_eq!(ae.client_id(), format!("A:{ae_id}"));
    ae.stop().await;

    // A Credential-ID the CSE does not know: refused, the AE stays unregistered.
    let ae = RefAe::start(RefAeConfig {
        broker: broker.addr(),
        ae_id: None,
        credential_id: "cred-unknown".into(),
        ..RefAeConfig::default()
    })
    .await
    .expect("AE starts");
    let out = ae.command(AeCommand::Register).await.unwrap();
    assert_ne!(out.rsc, Some(2001));
    assert_eq!(ae.ae_id(), None);
    assert_eq!(ae.client_id(), "cred-unknown");
    ae.stop().await;
    cse.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_cse_refuses_a_spoofed_from() {
    let (broker, cse) = bed().await;
    let ae = RefAe::start(RefAeConfig {
        broker: broker.addr(),
        faults: AeFaults {
            fr_differs_from_topic: true,
            ..AeFaults::default()
        },
        ..RefAeConfig::default()
    })
    .await
    .expect("AE starts");
    let out = ae.command(AeCommand::Register).await.unwrap();
    assert_eq!(out.rsc, Some(4103), "{out:?}");
    ae.stop().await;
    cse.stop().await;
}
