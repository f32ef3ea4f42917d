//! The reference device and the reference server talk to each other over an embedded broker:
//! registration, the device-management operations, observation, both directions of the
//! binary transfer, and the bootstrap writes that move the device to new transport topics.
//! Two independent ends of the profile agreeing is the first check of each (the conformance
//! cases then check each end alone against the harness).

use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_reflwm2m::{
    Common, DeviceCommand, DeviceConfig, Outcome, RefDevice, RefServer, ServerCommand, ServerConfig,
};
use serde_json::json;
use std::time::Duration;

fn common(broker: std::net::SocketAddr) -> Common {
    Common {
        broker,
        prefix: "it/fleet".into(),
        ack_timeout_ms: 1500,
        request_timeout_ms: 5000,
        ..Common::default()
    }
}

async fn pair() -> (EmbeddedBroker, RefDevice, RefServer) {
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker starts");
    let server = RefServer::start(ServerConfig {
        common: common(broker.addr()),
    })
    .await
    .expect("server starts");
    let device = RefDevice::start(DeviceConfig {
        common: common(broker.addr()),
        device_id: "dev-7".into(),
        lifetime: 300,
        ..DeviceConfig::default()
    })
    .await
    .expect("device starts");
    (broker, device, server)
}

async fn dev(d: &RefDevice, cmd: serde_json::Value) -> Outcome {
    let cmd: DeviceCommand = serde_json::from_value(cmd).expect("a device command");
    tokio::time::timeout(Duration::from_secs(20), d.command(cmd.clone()))
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} timed out"))
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

async fn srv(s: &RefServer, cmd: serde_json::Value) -> Outcome {
    let cmd: ServerCommand = serde_json::from_value(cmd).expect("a server command");
    tokio::time::timeout(Duration::from_secs(20), s.command(cmd.clone()))
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} timed out"))
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_and_server_interoperate() {
    let (broker, device, server) = pair().await;
    let reg = dev(&device, json!({"cmd": "register"})).await;
    assert_eq!(reg.rsc, Some(201), "{reg:?}");
    let location = reg.response.expect("fields")["location_path"].clone();
    assert_eq!(location, json!("/rd/r1"));
    assert_eq!(
        dev(&device, json!({"cmd": "update", "count": 2})).await.rsc,
        Some(204)
    );

    let read = srv(
        &server,
        json!({"cmd": "read", "device": "dev-7", "path": "/3/0/0"}),
    )
    .await;
    assert_eq!(
        (
            read.rsc,
            read.response.as_ref().map(|r| r["payload"].clone())
        ),
        (Some(205), Some(json!("m2mspec")))
    );
    let w = srv(
        &server,
        json!({"cmd": "write", "device": "dev-7", "path": "/3303/0/5750", "value": "lab"}),
    )
    .await;
    assert_eq!(w.rsc, Some(204));
    let read = srv(
        &server,
        json!({"cmd": "read", "device": "dev-7", "path": "/3303/0/5750"}),
    )
    .await;
    assert_eq!(read.response.expect("fields")["payload"], json!("lab"));
    assert_eq!(
        srv(
            &server,
            json!({"cmd": "execute", "device": "dev-7", "path": "/3/0/4"})
        )
        .await
        .rsc,
        Some(204)
    );
    assert_eq!(
        srv(
            &server,
            json!({"cmd": "execute", "device": "dev-7", "path": "/3/0/0"})
        )
        .await
        .rsc,
        Some(405)
    );
    let d = srv(
        &server,
        json!({"cmd": "discover", "device": "dev-7", "path": "/3303/0"}),
    )
    .await;
    assert_eq!(d.response.expect("fields")["content_format"], json!(40));

    let o = srv(
        &server,
        json!({"cmd": "observe", "device": "dev-7", "path": "/3303/0/5700"}),
    )
    .await;
    assert_eq!(
        (o.rsc, o.response.expect("fields")["observe"].clone()),
        (Some(205), json!(1))
    );
    dev(
        &device,
        json!({"cmd": "set", "path": "/3303/0/5700", "value": "23.5"}),
    )
    .await;
    let n = srv(
        &server,
        json!({"cmd": "next_notification", "device": "dev-7", "path": "/3303/0/5700"}),
    )
    .await;
    let n = n.response.expect("fields");
    assert_eq!(
        (
            n["payload"].clone(),
            n["observe"].clone(),
            n["type"].clone()
        ),
        (json!("23.5"), json!(2), json!("NON"))
    );
    assert_eq!(
        srv(
            &server,
            json!({"cmd": "cancel_observe", "device": "dev-7", "path": "/3303/0/5700"})
        )
        .await
        .rsc,
        Some(205)
    );

    // Both directions of ESR030 4.7, several blocks each.
    let up = dev(
        &device,
        json!({"cmd": "send_binary", "path": "/up/log", "size": 5000, "seed": 3}),
    )
    .await;
    assert_eq!(up.rsc, Some(204), "{up:?}");
    let state = srv(&server, json!({"cmd": "state"}))
        .await
        .response
        .expect("state");
    assert_eq!(state["received"][0]["bytes"], json!(5000), "{state}");
    let down = srv(
        &server,
        json!({"cmd": "write_binary", "device": "dev-7", "path": "/5/0/0", "size": 3000}),
    )
    .await;
    assert_eq!(down.rsc, Some(204), "{down:?}");

    assert_eq!(
        dev(&device, json!({"cmd": "deregister"})).await.rsc,
        Some(202)
    );
    device.stop().await;
    server.stop().await;
    broker.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_moves_the_device_to_the_written_topics() {
    let (broker, device, server) = pair().await;
    let b = srv(
        &server,
        json!({"cmd": "bootstrap", "device": "dev-7", "short_id": 2,
        "prefix": "it/fleet", "server_to_device": "down"}),
    )
    .await;
    assert_eq!(b.rsc, Some(204), "{b:?}");
    // The device reconnects with the new subscription; the server (on the default names)
    // cannot reach it on `down`, but its requests still arrive on deviceToServer (102 unset).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let state = dev(&device, json!({"cmd": "state"}))
        .await
        .response
        .expect("state");
    assert_eq!(
        state["servers"][1],
        json!({"short_id": 2, "to_device": "it/fleet/dev-7/down", "from_device": "it/fleet/dev-7/deviceToServer"}),
        "{state}"
    );
    let refused = srv(
        &server,
        json!({"cmd": "bootstrap", "device": "dev-7", "instance": 3, "uri": "coap://h:5683"}),
    )
    .await;
    assert_eq!(refused.rsc, Some(400));
    assert_eq!(
        dev(&device, json!({"cmd": "reset"}))
            .await
            .response
            .expect("data")["reconnected"],
        json!(true)
    );
    device.stop().await;
    server.stop().await;
    broker.shutdown();
}
