//! Self-tests of the hostile-input cases (`*.hostile.*`: hostile bytes, then a liveness probe):
//! every one passes against the clean reference CSE, AE, LWM2M device and server; against a
//! reference CSE that hangs on one hostile input each case that sends it fails, with the
//! hostile bytes in its evidence, while its neighbours pass; and `--seed` repeats what a run
//! generates (the seed is in the report).

mod common;

use common::{assert_row, case, cfg, not_passing, run_ok};
use m2mspec_reports::Verdict::{self, Fail, Pass};
use rstest::rstest;

const HOSTILE: &[&str] = &[
    "cse.hostile.",
    "ae.hostile.",
    "lwm2m.device.hostile.",
    "lwm2m.server.hostile.",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_case_passes_against_the_reference_suts() {
    let r = run_ok(cfg(HOSTILE, &[])).await;
    let bad = not_passing(&r);
    assert!(bad.is_empty(), "non-passing cases: {bad:#?}");
    for (prefix, at_least) in [
        ("cse.hostile.", 12),
        ("ae.hostile.", 6),
        ("lwm2m.device.hostile.", 5),
        ("lwm2m.server.hostile.", 5),
    ] {
        let n = r.cases.iter().filter(|c| c.id.starts_with(prefix)).count();
        assert!(n >= at_least, "{prefix}: {n} cases");
    }
    // The hostile bytes went out: the case log shows each publish_raw with its payload.
    let log = case(&r, "cse.hostile.truncated-cbor").log.join("\n");
    assert!(
        log.contains("raw PUBLISH") && log.contains("hex a4626f7002"),
        "{log}"
    );
    assert_eq!(
        r.run.seed,
        Some(1),
        "the seed the self-tests fix is recorded"
    );
}

/// Case × fault: each row runs case `id` alone against the reference CSE with misbehaviour
/// switch `fault` (both hang: no answer to anything after the input that strikes); the case
/// ends with `verdict`, its evidence holding every fragment of `evidence` — for a failure,
/// the unanswered probe and the hostile bytes that came before it.
#[rstest]
#[case::oversized_hangs("cse.hostile.oversized", "wedge_on_oversized", Fail, &["received no PUBLISH", "hostile input: bad", "524392 bytes, first 512: text", "AAAAAAAA"])]
#[case::deep_json_hangs("cse.hostile.deep-json", "wedge_on_malformed", Fail, &["received no PUBLISH", "hostile input: bad", "[[[[[[[["])]
#[case::truncated_cbor_hangs("cse.hostile.truncated-cbor", "wedge_on_malformed", Fail, &["received no PUBLISH", "hostile input: bad", "hex a4626f7002"])]
#[case::invalid_utf8_hangs("cse.hostile.invalid-utf8", "wedge_on_malformed", Fail, &["received no PUBLISH", "hex 7b226f70223a20322c2022746f223a2022c328fffe"])]
#[case::empty_level_hangs("cse.hostile.empty-level", "wedge_on_malformed", Fail, &["received no PUBLISH", "//json"])]
// The faults strike only on their input: a neighbouring case passes.
#[case::oversized_is_well_formed_json("cse.hostile.oversized", "wedge_on_malformed", Pass, &[])]
#[case::small_input_is_not_oversized("cse.hostile.invalid-utf8", "wedge_on_oversized", Pass, &[])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cse_that_hangs_on_hostile_input_fails_the_case(
    #[case] id: &str,
    #[case] fault: &str,
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    assert_row(cfg(&[id], &[fault]), id, verdict, evidence).await;
}

/// The random payload a case generates, as its log shows it (the first bytes, in hex).
async fn random_payload(seed: u64) -> String {
    let mut c = cfg(&["cse.hostile.random-cbor"], &[]);
    c.seed = Some(seed);
    let r = run_ok(c).await;
    assert_eq!(r.run.seed, Some(seed));
    let c = case(&r, "cse.hostile.random-cbor");
    assert_eq!(c.verdict, Pass, "{:#?}", c.log);
    c.log
        .iter()
        .find(|l| l.contains("raw PUBLISH"))
        .and_then(|l| l.split(" hex ").nth(1))
        .unwrap_or_else(|| panic!("no generated payload in {:#?}", c.log))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_repeats_the_generated_bytes() {
    let (a, again, other) = (
        random_payload(5).await,
        random_payload(5).await,
        random_payload(6).await,
    );
    assert_eq!(a, again, "the same --seed, the same bytes");
    assert_ne!(a, other, "another seed, other bytes");
}

/// A SUT that does not pass a hostile case is restarted before the next case, so one hostile
/// input costs one case: the reference CSE that hangs on an oversized payload fails
/// `cse.hostile.oversized`, and the cases after it pass against the restarted CSE. Hostile
/// cases run after every other selected case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sut_wedged_by_a_hostile_input_is_restarted_for_the_next_case() {
    let r = run_ok(cfg(
        &[
            "cse.hostile.oversized",
            "cse.hostile.invalid-utf8",
            "cse.response.topic",
        ],
        &["wedge_on_oversized"],
    ))
    .await;
    let ids: Vec<&str> = r.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.last(), Some(&"cse.hostile.invalid-utf8"), "{ids:?}");
    assert_eq!(case(&r, "cse.hostile.oversized").verdict, Fail);
    assert_eq!(case(&r, "cse.hostile.invalid-utf8").verdict, Pass);
    assert_eq!(case(&r, "cse.response.topic").verdict, Pass);
    assert!(
        r.run
            .notes
            .iter()
            .any(|n| n.contains("did not pass hostile case")
                && n.contains("cse.hostile.oversized")
                && n.contains("restarted")),
        "{:?}",
        r.run.notes
    );
}
