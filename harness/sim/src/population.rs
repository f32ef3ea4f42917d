//! The simulated AEs: the identities of AE `n` of the population (AE-ID, MQTT client id,
//! topics, Credential-ID) — all built with the oneM2M crate — and the AEs of one shard.

use crate::scenario::{RegistrationMode, Scenario};
use crate::shard::Shard;
use m2mspec_onem2m::client_id::{client_id, EntityKind};
use m2mspec_onem2m::topic::{id_to_segment, request_filter, response_filter};
use m2mspec_onem2m::{Channel, OneM2mTopic, Release, Serialization};

/// One simulated AE's identity and its fixed topics (built once: the hot path formats none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AeIdentity {
    /// Index in the whole population.
    pub index: u64,
    /// The AE-ID it registers with (CSE-relative, e.g. `Cload000042`).
    pub ae_id: String,
    /// Resource name of its `<AE>` (= the AE-ID, so `to` paths are predictable).
    pub rn: String,
    /// The Credential-ID of its initial registration (reg-req mode).
    pub credential: String,
    /// `/oneM2M/req/<ae>/<cse>/<type>` (R2 7.4.2, 7.5.4).
    pub req_topic: String,
    /// The response topic the CSE must answer on: `/oneM2M/resp/<ae>/<cse>/<type>` (R2 7.4.3).
    pub resp_topic: String,
}

/// Everything the AEs of a run share.
#[derive(Debug, Clone)]
pub struct PopulationSpec {
    pub prefix: String,
    pub release: Release,
    pub serialization: Serialization,
    pub cse_id: String,
    pub csebase: String,
    pub credential_prefix: String,
    pub mode: RegistrationMode,
    pub keep_alive_secs: u16,
}

impl PopulationSpec {
    pub fn from_scenario(s: &Scenario) -> Result<PopulationSpec, crate::error::SimError> {
        Ok(PopulationSpec {
            prefix: s.population.prefix.clone(),
            release: s.population.release,
            serialization: s.serialization()?,
            cse_id: s.cse.cse_id.clone(),
            csebase: s.cse.csebase.clone(),
            credential_prefix: s.registration.credential.clone(),
            mode: s.registration.mode,
            keep_alive_secs: s.population.keep_alive_secs,
        })
    }

    /// The CSE-ID as a topic segment.
    pub fn cse_segment(&self) -> String {
        id_to_segment(&self.cse_id).unwrap_or_default()
    }

    /// The AE-ID of AE `n`.
    pub fn ae_id(&self, n: u64) -> String {
        format!("{}{n:06}", self.prefix)
    }

    /// The identity of AE `n` (AE-IDs are validated segments: the scenario checked the
    /// prefix, digits are safe).
    pub fn identity(&self, n: u64) -> AeIdentity {
        let ae_id = self.ae_id(n);
        let (req_topic, resp_topic) = self.topics(&ae_id);
        AeIdentity {
            index: n,
            rn: ae_id.clone(),
            credential: format!("{}{n:06}", self.credential_prefix),
            req_topic,
            resp_topic,
            ae_id,
        }
    }

    /// The request topic of AE `ae_id` and the response topic it must be answered on.
    pub fn topics(&self, ae_id: &str) -> (String, String) {
        let topic = |channel| {
            OneM2mTopic::new(channel, ae_id, &self.cse_id, Some(self.serialization))
                .map(|t| t.to_string())
                .unwrap_or_default()
        };
        (topic(Channel::Req), topic(Channel::Resp))
    }

    /// MQTT client id of a registered AE: `A:<AE-ID>` (R2 7.3.3) / `A::<AE-ID>` (R1 6.3).
    pub fn client_id(&self, ae_id: &str) -> String {
        client_id(EntityKind::Ae, ae_id, self.release)
    }

    /// The filters a registered AE subscribes to (R2 7.4.5, 7.5.4: `/#` so every `/<type>`
    /// suffix matches): its responses and requests addressed to it.
    pub fn filters(&self, ae_id: &str) -> Vec<String> {
        [response_filter(ae_id), request_filter(ae_id)]
            .into_iter()
            .filter_map(Result::ok)
            .collect()
    }

    /// reg-req mode, before registration: the reg_resp filter of its Credential-ID (R2 7.4.4).
    pub fn registration_filter(&self, credential: &str) -> String {
        format!("/oneM2M/reg_resp/{}/#", credential.replace('/', ":"))
    }

    /// reg-req mode: `/oneM2M/reg_req/<Credential-ID>/<cse>/<type>` (R2 7.4.4).
    pub fn reg_req_topic(&self, credential: &str) -> String {
        format!(
            "/oneM2M/reg_req/{}/{}/{}",
            credential.replace('/', ":"),
            self.cse_segment(),
            self.serialization.suffix()
        )
    }

    /// reg-req mode: where the reg_resp must arrive.
    pub fn reg_resp_topic(&self, credential: &str) -> String {
        format!(
            "/oneM2M/reg_resp/{}/{}/{}",
            credential.replace('/', ":"),
            self.cse_segment(),
            self.serialization.suffix()
        )
    }
}

/// The AE indices a shard runs.
pub fn shard_indices(total: u64, shard: Shard) -> std::ops::Range<u64> {
    shard.slice(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn identities_follow_the_binding() {
        let s = Scenario::default();
        let p = PopulationSpec::from_scenario(&s).unwrap();
        let a = p.identity(42);
        assert_eq!(a.ae_id, "Cload000042");
        assert_eq!(a.req_topic, "/oneM2M/req/Cload000042/id-in/json");
        assert_eq!(a.resp_topic, "/oneM2M/resp/Cload000042/id-in/json");
        assert_eq!(p.client_id(&a.ae_id), "A:Cload000042");
        assert_eq!(
            p.filters(&a.ae_id),
            ["/oneM2M/resp/Cload000042/#", "/oneM2M/req/+/Cload000042/#"]
        );
        assert_eq!(
            p.reg_req_topic(&a.credential),
            "/oneM2M/reg_req/cred-load-000042/id-in/json"
        );
        let r1 = PopulationSpec {
            release: Release::R1,
            ..p
        };
        assert_eq!(r1.client_id("Cx"), "A::Cx");
    }
}
