//! Criterion benchmarks for the codec layer: topic parsing and encode+decode of a typical
//! AE-create request (R2 7.5.1) in JSON, CBOR and XML.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use m2mspec_onem2m::serialization::{decode_request, encode_request};
use m2mspec_onem2m::{OneM2mTopic, RequestPrimitive, Serialization};
use serde_json::json;

/// A typical AE registration: CREATE of an <AE> (ty 2) on the CSEBase.
fn ae_create() -> RequestPrimitive {
    RequestPrimitive {
        op: Some(1),
        to: Some("/in-cse/in-name".into()),
        fr: Some("Cbench-ae".into()),
        rqi: Some("req-000042".into()),
        rvi: Some("3".into()),
        ty: Some(2),
        pc: Some(json!({
            "m2m:ae": {
                "rn": "bench-ae",
                "api": "Nbench.example.app",
                "rr": true,
                "srv": ["3"],
                "poa": ["mqtt://broker.example:1883"],
                "lbl": ["bench", "codec"]
            }
        })),
        ot: Some("20240101T120000".into()),
        rqet: Some(json!(10_000)),
        rt: Some(json!({"rtv": 1})),
        ..Default::default()
    }
}

fn topic_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("topic");
    g.bench_function("parse", |b| {
        b.iter(|| OneM2mTopic::parse(black_box("/oneM2M/req/in-cse:Cbench-ae/in-cse/json")))
    });
    g.bench_function("parse_with_prefix", |b| {
        b.iter(|| {
            OneM2mTopic::parse_with_prefix(
                black_box("site1/oneM2M/resp/Cbench-ae/in-cse/cbor"),
                "site1",
            )
        })
    });
    g.finish();
}

fn ae_create_round_trip(c: &mut Criterion) {
    let req = ae_create();
    let mut g = c.benchmark_group("ae_create");
    for ser in Serialization::ALL {
        let encoded = encode_request(&req, ser).expect("AE create encodes");
        // Sanity: the benchmarked request survives every format unchanged.
        assert_eq!(
            decode_request(&encoded, ser).expect("AE create decodes"),
            req,
            "{ser}"
        );
        g.bench_function(format!("encode_{ser}"), |b| {
            b.iter(|| encode_request(black_box(&req), ser))
        });
        g.bench_function(format!("decode_{ser}"), |b| {
            b.iter(|| decode_request(black_box(&encoded), ser))
        });
        g.bench_function(format!("round_trip_{ser}"), |b| {
            b.iter(|| {
                let bytes = encode_request(black_box(&req), ser).expect("encodes");
                decode_request(&bytes, ser).expect("decodes")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, topic_parse, ae_create_round_trip);
criterion_main!(benches);
