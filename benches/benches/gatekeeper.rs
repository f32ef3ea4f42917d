//! Criterion benchmarks of the gatekeeper's hot path: every frame a client or the broker sends
//! is cut off the connection's byte stream (`wire::frame`), decoded (`wire::decode`), turned into
//! a trace record (`wire::record`) and recorded (`Trace::push`) before its original bytes are
//! forwarded. The input is a request/response exchange as the gatekeeper sees it on one
//! connection: QoS 1 PUBLISHes carrying a typical JSON request and their PUBACKs, with a
//! SUBSCRIBE and a PINGREQ in between.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use m2mspec_mqtt::trace::{Direction, EventKind, Trace};
use m2mspec_mqtt::wire;
use rumqttc::mqttbytes::v4::{PingReq, PubAck, Publish, Subscribe};
use rumqttc::mqttbytes::QoS;

/// Exchanges per benchmarked stream.
const EXCHANGES: u16 = 64;
/// Largest frame the gatekeeper accepts by default.
const MAX_PACKET_SIZE: usize = 16 * 1024 * 1024;

/// A ~300-byte JSON request, the size of a typical AE-create.
fn request_payload() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "m2m:rqp": {
            "op": 1, "to": "/in-cse/in-name", "fr": "Cbench-ae", "rqi": "req-000042",
            "rvi": "3", "ty": 2, "ot": "20240101T120000",
            "pc": {"m2m:ae": {"rn": "bench-ae", "api": "Nbench.example.app", "rr": true,
                   "srv": ["3"], "poa": ["mqtt://broker.example:1883"], "lbl": ["bench"]}}
        }
    }))
    .expect("JSON encodes")
}

/// The bytes of [`EXCHANGES`] PUBLISH/PUBACK exchanges plus a SUBSCRIBE and a PINGREQ, as
/// one connection's stream.
fn stream() -> Bytes {
    let mut out = BytesMut::new();
    Subscribe::new("bench/resp/Cbench-ae/#", QoS::AtLeastOnce)
        .write(&mut out)
        .expect("SUBSCRIBE encodes");
    let payload = request_payload();
    for pkid in 1..=EXCHANGES {
        let mut p = Publish::new(
            "bench/req/Cbench-ae/in-cse/json",
            QoS::AtLeastOnce,
            payload.clone(),
        );
        p.pkid = pkid;
        p.write(&mut out).expect("PUBLISH encodes");
        PubAck::new(pkid).write(&mut out).expect("PUBACK encodes");
    }
    PingReq.write(&mut out).expect("PINGREQ encodes");
    out.freeze()
}

/// Cuts every frame off `buf` and hands it to `each`.
fn for_each_frame(mut buf: BytesMut, mut each: impl FnMut(Bytes)) {
    while let Some(frame) = wire::frame(&mut buf, MAX_PACKET_SIZE).expect("frames") {
        each(frame);
    }
}

fn hot_path(c: &mut Criterion) {
    let stream = stream();
    let frames = 2 + 2 * usize::from(EXCHANGES);
    let mut count = 0;
    for_each_frame(BytesMut::from(&stream[..]), |_| count += 1);
    assert_eq!(count, frames, "the stream holds every frame");

    let mut g = c.benchmark_group("gatekeeper");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    let input = || BytesMut::from(&stream[..]);
    g.bench_function("frame", |b| {
        b.iter_batched(
            input,
            |buf| for_each_frame(buf, |f| drop(black_box(f))),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("frame_decode", |b| {
        b.iter_batched(
            input,
            |buf| for_each_frame(buf, |f| drop(black_box(wire::decode(&f)))),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("frame_decode_record", |b| {
        b.iter_batched(
            input,
            |buf| {
                for_each_frame(buf, |f| {
                    let p = wire::decode(&f).expect("decodes");
                    black_box(wire::record(&p, &f));
                })
            },
            BatchSize::SmallInput,
        )
    });
    // What the gatekeeper does per frame before forwarding it, trace included. The trace keeps
    // a bounded number of events, as in a long run.
    let trace = Trace::with_limit(16 * 1024);
    let client_id = Some("Cbench-ae".to_string());
    g.bench_function("frame_decode_record_trace", |b| {
        b.iter_batched(
            input,
            |buf| {
                for_each_frame(buf, |f| {
                    let p = wire::decode(&f).expect("decodes");
                    let rec = wire::record(&p, &f);
                    trace.push(
                        1,
                        client_id.clone(),
                        Direction::ClientToBroker,
                        EventKind::Packet(rec),
                    );
                })
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
