//! The example scenario shipped in fixtures/load parses and is what it says.

use m2mspec_sim::scenario::{LoopMode, Scenario};
use std::path::Path;

#[test]
fn the_shipped_example_scenario_parses() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/load/scenario.toml");
    let s = Scenario::load(&p).expect("fixtures/load/scenario.toml");
    assert_eq!(s.population.aes, 1000);
    assert_eq!(s.workload.mode, LoopMode::Open);
    assert_eq!(s.mix().len(), 4);
}

#[test]
fn the_shipped_lwm2m_scenario_parses() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/load/lwm2m.toml");
    let s = Scenario::load(&p).expect("fixtures/load/lwm2m.toml");
    assert_eq!(s.protocol, m2mspec_sim::scenario::Protocol::Lwm2m);
    assert_eq!(s.lwm2m.observe_path, "/3/0/13");
    assert_eq!(
        s.mix(),
        vec![
            (m2mspec_sim::scenario::Op::Update, 50),
            (m2mspec_sim::scenario::Op::Notify, 50)
        ]
    );
}
