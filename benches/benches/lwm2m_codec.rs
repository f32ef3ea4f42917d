//! Criterion benchmarks for the LWM2M-over-MQTT CoAP layer (m2mspec-lwm2m): encode, decode
//! and validate of an LWM2M Register request (ESR030 4.4), a 1 KB binary-transfer block
//! answer with a 4-byte Block1 (ESR030 4.7), and a 1 MB message (ESR030 5.1: no size limit).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use m2mspec_lwm2m::lwm2m::{Link, Path, Registration};
use m2mspec_lwm2m::{validate, BlockValue, Code, Message, MessageType, Token};

fn register() -> Message {
    let mut r = Registration::new(
        "urn:imei:490154203237518",
        (0..8u16)
            .map(|o| Link::to_path(&Path::instance(o, 0)))
            .collect(),
    );
    r.lifetime = Some(300);
    r.lwm2m_version = Some("1.1".into());
    r.binding = Some("T".into());
    r.to_request(0x1234, Token::from_u64(0xfeed))
}

fn block(len: usize) -> Message {
    let num = (1 << 20) + 7;
    Message::new(
        MessageType::NonConfirmable,
        Code::CONTENT,
        0x4321,
        Token::from_u64(9),
    )
    .with_block1(BlockValue::new(num, true, 6).expect("in range"))
    .with_payload(vec![0xa5; len])
}

fn coap(c: &mut Criterion) {
    let mut g = c.benchmark_group("coap");
    for (name, m) in [
        ("register", register()),
        ("block_1k", block(1024)),
        ("payload_1m", block(1 << 20)),
    ] {
        let bytes = m.encode().expect("encodes");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("encode", name), &m, |b, m| {
            b.iter(|| black_box(m).encode())
        });
        g.bench_with_input(BenchmarkId::new("decode", name), &bytes, |b, bytes| {
            b.iter(|| Message::decode(black_box(bytes)))
        });
        g.bench_with_input(BenchmarkId::new("validate", name), &bytes, |b, bytes| {
            b.iter(|| validate(black_box(bytes)))
        });
    }
    g.finish();
}

criterion_group!(benches, coap);
criterion_main!(benches);
