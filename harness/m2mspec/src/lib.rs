//! m2mspec: conformance suite and traffic simulator for the oneM2M MQTT binding (TS-0010 R1,
//! and R2 = ITU-T Y.4500.10).
//!
//! * [`scenario`] — cases as data (TOML under `suites/`), one per spec requirement.
//! * [`engine`] — runs a case's steps against the SUT and decides the verdict with evidence.
//! * [`testbed`] — the broker (embedded rumqttd or external) behind the tracing gatekeeper.
//! * [`sut`] — SUT profiles, capability files, and the adapters that start them.
//! * [`run`] — a whole run, always ending in a report.
//!
//! Codecs live in `m2mspec-onem2m`, broker/gatekeeper/trace/test client in `m2mspec-mqtt`, the
//! reference CSE in `m2mspec-refcse`, report rendering in `m2mspec-reports`.

pub mod baseline;
pub mod coverage;
pub mod engine;
pub mod matcher;
pub mod run;
pub mod scenario;
pub mod sut;
pub mod template;
pub mod testbed;
