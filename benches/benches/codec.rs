//! Criterion benchmarks for the codec layer: topic building and parsing, encode+decode of a
//! typical AE-create request (R2 7.5.1) and of a response primitive (R2 7.5.2) in JSON, CBOR
//! and XML — the per-message work of the traffic simulator's AEs and of any CSE.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use m2mspec_onem2m::serialization::{
    decode_request, decode_response, encode_request, encode_response,
};
use m2mspec_onem2m::{Channel, OneM2mTopic, RequestPrimitive, ResponsePrimitive, Serialization};
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
    g.bench_function("build", |b| {
        b.iter(|| {
            OneM2mTopic::new(
                Channel::Req,
                black_box("Cload000042"),
                black_box("/id-in"),
                Some(Serialization::Json),
            )
            .map(|t| t.to_string())
        })
    });
    g.bench_function("response_topic", |b| {
        let t = OneM2mTopic::parse("/oneM2M/req/Cload000042/id-in/json").expect("parses");
        b.iter(|| black_box(&t).response_topic().to_string())
    });
    g.finish();
}

/// A typical response: RETRIEVE of an <AE> answered 2000 with its representation.
fn retrieve_response() -> ResponsePrimitive {
    ResponsePrimitive {
        rsc: Some(2000),
        rqi: Some("Cload000042-17".into()),
        rvi: Some("3".into()),
        to: Some("Cload000042".into()),
        fr: Some("/id-in".into()),
        pc: Some(json!({
            "m2m:ae": {"rn": "Cload000042", "ri": "Cload000042", "pi": "cse-in", "ty": 2,
                       "aei": "Cload000042", "api": "Nm2mspec.load", "rr": false, "srv": ["3"],
                       "ct": "20260101T000000", "lt": "20260101T000000"}
        })),
        ..Default::default()
    }
}

fn response_round_trip(c: &mut Criterion) {
    let rsp = retrieve_response();
    let mut g = c.benchmark_group("response");
    for ser in Serialization::ALL {
        let encoded = encode_response(&rsp, ser).expect("response encodes");
        assert_eq!(
            decode_response(&encoded, ser).expect("decodes").rqi,
            rsp.rqi,
            "{ser}"
        );
        g.bench_function(format!("encode_{ser}"), |b| {
            b.iter(|| encode_response(black_box(&rsp), ser))
        });
        g.bench_function(format!("decode_{ser}"), |b| {
            b.iter(|| decode_response(black_box(&encoded), ser))
        });
    }
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

criterion_group!(
    benches,
    topic_parse,
    ae_create_round_trip,
    response_round_trip
);
criterion_main!(benches);
