//! A profile's `[selftest]` table: settings that make a setup a deliberate fault for
//! `m2mspec selftest`, never part of a SUT to certify.
//!
//! `broker_defects` (broker role): the gatekeeper acts out these defects of a broker towards
//! every client of the run (`m2mspec_mqtt::gatekeeper::defects`), altering the broker's side as
//! a broker with the defect would — a re-send without DUP = 1 or with a new packet id (MQTT
//! 3.1.1 4.4, 3.3.1.1), a session kept across a clean-session CONNECT (3.1.2.4, R2 7.3.3), a
//! refused Keep Alive 0 (R2 7.3.3). The trace shows what the faulty "broker" sent, and a Fault
//! event names the defect; such a run tests the harness, not the broker.

use m2mspec_mqtt::gatekeeper::{BrokerDefect, BrokerDefects};
use serde::Deserialize;

/// The `[selftest]` table of a SUT profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelftestSettings {
    /// Broker defects the gatekeeper acts out (names as in [`BrokerDefect::name`]).
    #[serde(default)]
    pub broker_defects: Vec<BrokerDefect>,
}

impl SelftestSettings {
    /// The defects as the gatekeeper takes them.
    pub fn defects(&self) -> BrokerDefects {
        self.broker_defects.iter().copied().collect()
    }

    /// What is wrong with these settings for a profile of `role`.
    pub fn problem(&self, role: &str) -> Option<String> {
        (!self.broker_defects.is_empty() && role != "broker").then(|| {
            "[selftest] broker_defects are for role = \"broker\" (the gatekeeper acts them out in the broker's place)"
                .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defects_are_read_by_name_and_unknown_ones_refused() {
        let s: SelftestSettings = toml::from_str(
            r#"broker_defects = ["redeliver_without_dup", "refuse_keepalive_zero"]"#,
        )
        .expect("parses");
        let d = s.defects();
        assert!(d.has(BrokerDefect::RedeliverWithoutDup));
        assert!(d.has(BrokerDefect::RefuseKeepaliveZero));
        assert!(!d.has(BrokerDefect::KeepSessionOnCleanConnect));
        assert_eq!(s.problem("broker"), None);
        assert!(s.problem("cse").is_some());
        let bad = toml::from_str::<SelftestSettings>(r#"broker_defects = ["lose_everything"]"#)
            .expect_err("unknown defect");
        assert!(bad.to_string().contains("redeliver_without_dup"), "{bad}");
        for d in BrokerDefect::ALL {
            let one: SelftestSettings =
                toml::from_str(&format!("broker_defects = [{:?}]", d.name())).expect("parses");
            assert_eq!(one.broker_defects, vec![d]);
        }
    }
}
