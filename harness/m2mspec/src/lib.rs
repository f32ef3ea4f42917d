//! m2mspec: conformance suite and traffic simulator for machine-to-machine protocols over
//! MQTT — the oneM2M MQTT binding (TS-0010 R1, and R2 = ITU-T Y.4500.10) and LWM2M over MQTT
//! (ESR030).
//!
//! * [`scenario`] — cases as data (TOML under `suites/<family>/`), one per spec requirement,
//!   and the [`Selection`](scenario::Selection) of the cases a command works on.
//! * `steps` — the step vocabulary, one family per file (schema and run code), and what steps
//!   act on (the state of a running case, evidence, messages built from fixtures).
//! * [`protocol`] — the seam through which a protocol family (oneM2M, LWM2M) tells the
//!   engine its roles, entity identities, grants, template variables and message codec.
//! * `families` — the registry of protocol and step families.
//! * [`engine`] — runs a case's steps against the SUT and decides the verdict with evidence.
//! * [`testbed`] — the broker (embedded rumqttd or external) behind the tracing gatekeeper.
//! * [`sut`] — SUT profiles, capability files, and the adapters that start them;
//!   [`commander`] — commands to a SUT that acts on command.
//! * [`run`] — a whole run, always ending in a report; [`coverage`], [`baseline`], [`acl`] (the
//!   broker-role ACL, written before a broker under test starts).
//! * [`selftest`] — every case against the clean reference SUTs and every catalogued fault of
//!   them: the mutation matrix.
//! * Leaves every layer may use: [`template`] (`{name}` templates of cases and profiles),
//!   [`text`] (wording of messages), [`port`] (OS-chosen ports), [`matcher`], [`seed`].
//!
//! Imports run one way, from the command line down to the leaves: `cmd` → `selftest` → `run`
//! → `engine`, `coverage` → `scenario` → `families` → `steps` → `protocol` → `sut` →
//! `upper_tester`, `testbed`, `tls` → leaves; nothing below imports what is above it.
//!
//! Codecs live in `m2mspec-onem2m` and `m2mspec-lwm2m`, broker/gatekeeper/trace/test client in
//! `m2mspec-mqtt`, the reference CSE and AE in `m2mspec-refcse` / `m2mspec-refae`, the reference
//! LWM2M device and server in `m2mspec-reflwm2m`, report rendering in `m2mspec-reports`. The
//! command line (`src/cmd/`) has one file per subcommand.

pub mod acl;
pub mod baseline;
pub mod commander;
pub mod coverage;
pub mod engine;
mod families;
pub mod matcher;
pub mod port;
pub mod protocol;
pub mod repeat;
pub mod run;
pub mod scenario;
pub mod seed;
pub mod selftest;
mod steps;
pub mod sut;
pub mod template;
pub mod testbed;
pub mod text;
pub mod tls;
pub mod upper_tester;
