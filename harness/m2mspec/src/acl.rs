//! The authorization a broker under test is configured with (broker role): the TS-0010 R2 8.4
//! / R1 7.4 policy for an entity set, plus the topics every protocol family leaves open
//! ([`crate::protocol::Protocol::open_broker_filters`], e.g. ESR030's transport topics, which
//! that text does not restrict), rendered as a mosquitto ACL file. `m2mspec acl` prints it; a
//! broker profile's `{acl_file}` is this text.

use crate::families;
use m2mspec_mqtt::gatekeeper::policy::Principal;

/// The ACL text for these oneM2M principals and every family's open filters.
pub fn mosquitto_acl(principals: &[(String, Principal)]) -> String {
    let mut out = String::new();
    let open: Vec<(&str, &str)> = families::protocols()
        .iter()
        .flat_map(|p| p.open_broker_filters().iter().map(|f| (p.name(), *f)))
        .collect();
    if !open.is_empty() {
        // `pattern` lines apply to every client, anonymous ones included.
        out.push_str(
            "# Open to every client: topics whose specification states no authorization.\n",
        );
        for (family, filter) in open {
            out.push_str(&format!("# {family}\npattern readwrite {filter}\n"));
        }
        out.push('\n');
    }
    out.push_str(&m2mspec_onem2m::acl::mosquitto_acl(principals));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lwm2m_transport_topics_are_open_and_onem2m_grants_follow() {
        let text = mosquitto_acl(&[]);
        assert!(
            text.contains("# lwm2m\npattern readwrite m2mspec/#\n"),
            "{text}"
        );
        assert!(text.contains("TS-0010 R2 8.4"), "{text}");
        assert!(!text.contains("pattern readwrite /oneM2M"), "{text}");
    }
}
