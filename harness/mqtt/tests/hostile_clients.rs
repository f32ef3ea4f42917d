//! Arbitrary bytes from a client, through the gatekeeper to the embedded broker: the
//! gatekeeper never panics, the hostile connection ends within a bound (closed by the
//! gatekeeper or the broker on a malformed packet, MQTT 3.1.1 4.8; or, for bytes that are a
//! well-formed beginning, once the client's side of the stream ends), and the gatekeeper still
//! serves a well-formed client afterwards. Inputs: uniform random bytes, CONNECT-shaped frames
//! with random fields, and a valid CONNECT followed by random bytes (garbage after the
//! session began). The cases share one gatekeeper, so one input's damage shows in the next.

mod common;

use common::{opts, Bed};
use m2mspec_mqtt::client::MqttClient;
use m2mspec_mqtt::gatekeeper::GatekeeperConfig;
use m2mspec_mqtt::trace::EventKind;
use proptest::collection::vec;
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a hostile connection may stay open after the client stopped writing.
const CLOSE_BOUND: Duration = Duration::from_secs(5);

/// MQTT's variable-length Remaining Length (MQTT 3.1.1 2.2.3).
fn remaining_length(mut len: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
}

/// A well-formed MQTT 3.1.1 CONNECT (clean session, keep alive 30) for `client_id`.
fn connect_frame(client_id: &str) -> Vec<u8> {
    let mut body = vec![0x00, 0x04];
    body.extend_from_slice(b"MQTT");
    body.extend_from_slice(&[0x04, 0x02, 0x00, 0x1e]);
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut frame = vec![0x10];
    remaining_length(body.len(), &mut frame);
    frame.extend_from_slice(&body);
    frame
}

fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Anything at all.
        vec(any::<u8>(), 0..400),
        // A CONNECT header with random flags and fields.
        (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..120)).prop_map(|(level, flags, rest)| {
            let mut body = vec![0x00, 0x04];
            body.extend_from_slice(b"MQTT");
            body.push(level);
            body.push(flags);
            body.extend_from_slice(&rest);
            let mut frame = vec![0x10];
            remaining_length(body.len(), &mut frame);
            frame.extend_from_slice(&body);
            frame
        }),
        // A valid CONNECT, then garbage.
        (0u32..1_000_000, vec(any::<u8>(), 1..300)).prop_map(|(n, tail)| {
            let mut frame = connect_frame(&format!("hostile-{n}"));
            frame.extend_from_slice(&tail);
            frame
        }),
    ]
}

/// Send `bytes`, end the client's side, and wait for the connection to end; `Err` when it
/// stays open past [`CLOSE_BOUND`].
async fn hostile_connection(bed: &Bed, bytes: &[u8]) -> Result<(), String> {
    let mut s = tokio::net::TcpStream::connect(bed.addr())
        .await
        .map_err(|e| format!("tcp connect: {e}"))?;
    // The peer may close before everything is written: that is one of the clean outcomes.
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let mut sink = [0u8; 1024];
    let drained = tokio::time::timeout(CLOSE_BOUND, async {
        loop {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    drained.map_err(|_| {
        format!(
            "the connection stayed open {CLOSE_BOUND:?} after {} hostile bytes",
            bytes.len()
        )
    })
}

#[test]
fn arbitrary_client_bytes_end_the_connection_and_the_gatekeeper_serves_on() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counted = panics.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let bed = rt.block_on(Bed::start_with(GatekeeperConfig {
        connect_timeout: Duration::from_secs(1),
        ..GatekeeperConfig::default()
    }));
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
    let outcome = runner.run(&hostile_bytes(), |bytes| {
        rt.block_on(hostile_connection(&bed, &bytes))
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(panics.load(Ordering::SeqCst), 0, "a task panicked");
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}\ntrace:\n{}", bed.dump());
    }
    // Every hostile connection was closed and recorded as such (the last close may still be
    // on its way into the trace: bounded wait).
    let counts = || {
        let trace = bed.gk.trace().snapshot();
        let count = |f: fn(&EventKind) -> bool| trace.iter().filter(|e| f(&e.kind)).count();
        (
            count(|k| matches!(k, EventKind::Opened { .. })),
            count(|k| matches!(k, EventKind::Closed { .. })),
        )
    };
    let (opened, closed) = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + CLOSE_BOUND;
        loop {
            let (o, c) = counts();
            if c >= o || tokio::time::Instant::now() >= deadline {
                return (o, c);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(
        opened >= cases as usize,
        "{opened} connections traced for {cases} inputs"
    );
    assert!(
        closed >= opened,
        "{opened} connections opened, {closed} closed:\n{}",
        bed.dump()
    );
    // Still serving: a well-formed client gets its CONNACK.
    rt.block_on(async {
        let (c, ack) = MqttClient::connect(bed.addr(), opts("after-hostile", true))
            .await
            .expect("a well-formed client connects after the hostile ones");
        assert_eq!(ack.code, 0, "{}", bed.dump());
        drop(c);
    });
    assert_eq!(panics.load(Ordering::SeqCst), 0, "a task panicked");
    rt.block_on(bed.stop());
}
