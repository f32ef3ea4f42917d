//! Criterion benchmarks of the traffic simulator's per-request hot paths (`m2mspec load`):
//! building a workload request, the fast responder's answer, correlating a response by rqi
//! and topic, the open-loop schedule and recording a latency. The codecs underneath are in
//! `codec.rs`; the load figures themselves come from `benches/load.sh`, not from here.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use m2mspec_onem2m::Serialization;
use m2mspec_sim::correlate::{Correlator, Purpose};
use m2mspec_sim::metrics::{new_histogram, record};
use m2mspec_sim::requests::RequestBuilder;
use m2mspec_sim::responder::answer;
use m2mspec_sim::scenario::Op;
use m2mspec_sim::scheduler::{Mix, OpenLoop};
use std::time::Duration;
use tokio::time::Instant;

const REQ_TOPIC: &str = "/oneM2M/req/Cload000042/id-in/json";
const RESP_TOPIC: &str = "/oneM2M/resp/Cload000042/id-in/json";

fn requests(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim_request");
    for ser in Serialization::ALL {
        let b = RequestBuilder::new(ser, "cse-in", "Cload000042", "Cload000042");
        g.bench_function(format!("build_retrieve_{ser}"), |bn| {
            bn.iter(|| b.work(Op::Retrieve, black_box(17), "Cload000042-17".to_string()))
        });
        g.bench_function(format!("build_create_cin_{ser}"), |bn| {
            bn.iter(|| {
                b.work(
                    Op::CreateContentInstance,
                    black_box(17),
                    "Cload000042-17".to_string(),
                )
            })
        });
    }
    g.finish();
}

fn responder(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim_responder");
    for ser in Serialization::ALL {
        let b = RequestBuilder::new(ser, "cse-in", "Cload000042", "Cload000042");
        let req = b
            .work(Op::Retrieve, 17, "Cload000042-17".into())
            .expect("encodes");
        let topic = format!("/oneM2M/req/Cload000042/id-in/{}", ser.suffix());
        g.bench_function(format!("answer_{ser}"), |bn| {
            bn.iter(|| answer(black_box(&topic), black_box(&req), "/id-in"))
        });
    }
    g.finish();
}

fn correlate(c: &mut Criterion) {
    let b = RequestBuilder::new(Serialization::Json, "cse-in", "Cload000042", "Cload000042");
    let mut g = c.benchmark_group("sim_correlate");
    g.bench_function("issue_and_match_json", |bn| {
        let mut corr = Correlator::new("Cload000042", Serialization::Json);
        let t0 = Instant::now();
        bn.iter(|| {
            let rqi = corr.issue(Purpose::Work(Op::Retrieve), t0);
            let req = b.work(Op::Retrieve, 1, rqi).expect("encodes");
            let (_, rsp) = answer(REQ_TOPIC, &req, "/id-in").expect("answered");
            corr.on_response(RESP_TOPIC, RESP_TOPIC, &rsp, t0, false)
        })
    });
    g.finish();
}

fn schedule_and_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim_schedule");
    let mix = Mix::new(&[
        (Op::Retrieve, 70),
        (Op::CreateContentInstance, 20),
        (Op::CreateContainer, 5),
        (Op::UpdateContainer, 5),
    ]);
    g.bench_function("open_loop_next_due_and_pick", |bn| {
        let start = Instant::now();
        let mut s = OpenLoop::new(start, 1e6, 1000, 3, Duration::from_secs(1_000_000), 0);
        let far = start + Duration::from_secs(1_000_000);
        bn.iter(|| {
            let (k, at) = s.next_due(far).expect("due");
            (mix.pick(3, k), at)
        })
    });
    g.bench_function("histogram_record", |bn| {
        let mut h = new_histogram();
        let mut x = 0u64;
        bn.iter(|| {
            x = (x + 7919) % 50_000;
            record(&mut h, Duration::from_micros(black_box(x)));
        })
    });
    g.finish();
}

criterion_group!(benches, requests, responder, correlate, schedule_and_record);
criterion_main!(benches);
