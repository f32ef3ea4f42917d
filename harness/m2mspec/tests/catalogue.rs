//! The oneM2M requirement catalogue and the cases agree: every case a statement plans exists,
//! the catalogue's `derived` lists name exactly the derived cases (the cases' `basis`), every
//! derived case rests on a catalogued statement, and the coverage figure is counted per role.

mod common;

use m2mspec::coverage::{basis_mismatches, compute_with, load_every};
use m2mspec::scenario::{load_dir, Basis};
use std::collections::BTreeSet;

fn suites() -> std::path::PathBuf {
    common::root().join("suites")
}

#[test]
fn planned_cases_exist_and_the_derived_ones_are_marked_on_both_sides() {
    let cat = load_every(&suites()).expect("catalogue loads");
    let cases = load_dir(&suites()).expect("suites load");
    let cov = compute_with(&cat, &cases);
    let missing: Vec<String> = cov
        .rows
        .iter()
        .filter(|r| !r.missing.is_empty())
        .map(|r| format!("{}: {:?}", r.id, r.missing))
        .collect();
    assert!(
        missing.is_empty(),
        "planned cases that do not exist: {missing:#?}"
    );
    let mismatches = basis_mismatches(&cat.reqs, &cases);
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    let catalogued: BTreeSet<&str> = cat
        .reqs
        .iter()
        .flat_map(|r| r.derived.iter().map(String::as_str))
        .collect();
    for c in cases.iter().filter(|c| c.basis == Basis::Derived) {
        assert!(
            catalogued.contains(c.id.as_str()),
            "derived case {} is in no statement's `derived` list",
            c.id
        );
    }
}

#[test]
fn coverage_is_counted_per_role_and_names_the_conflicts() {
    let cat = load_every(&suites()).expect("catalogue loads");
    let cases = load_dir(&suites()).expect("suites load");
    let cov = compute_with(&cat, &cases);
    let roles: Vec<&str> = cov.roles.iter().map(|r| r.role.as_str()).collect();
    for role in ["cse", "ae", "broker"] {
        assert!(roles.contains(&role), "{roles:?}");
    }
    assert_eq!(
        cov.covered,
        cov.roles.iter().map(|r| r.covered).sum::<usize>()
    );
    // A statement binding cse and ae counts for both.
    let both = cat
        .reqs
        .iter()
        .filter(|r| r.testable && r.level != "MAY" && r.binds.len() > 1)
        .count();
    assert!(cov.testable > cov.rows.len() - cov.untestable - both / 2);
    let ids: Vec<&str> = cov.conflicts.iter().map(|c| c.id.as_str()).collect();
    for id in [
        "notify-receiver-segment",
        "subscribe-filter-type-level",
        "ae-subscribe-other-party",
    ] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    let table = cov.table();
    assert!(table.contains("coverage per role"), "{table}");
    assert!(table.contains("known text conflicts:"), "{table}");
}
