//! oneM2M MQTT topics (R1 6.4.2–6.4.4, R2 7.4.2–7.4.4 and 7.5.4).

use crate::error::TopicError;
use crate::serialization::Serialization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Req,
    Resp,
    RegReq,
    RegResp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Req => "req",
            Channel::Resp => "resp",
            Channel::RegReq => "reg_req",
            Channel::RegResp => "reg_resp",
        }
    }
    /// req → resp, reg_req → reg_resp (and resp/reg_resp map to themselves).
    pub fn response(self) -> Channel {
        match self {
            Channel::Req | Channel::Resp => Channel::Resp,
            Channel::RegReq | Channel::RegResp => Channel::RegResp,
        }
    }
}

/// A parsed or built oneM2M topic. `originator`/`receiver` hold topic *segments* (already mapped
/// from IDs: no leading "/", other "/" replaced by ":"); use [`segment_to_id`] to map back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OneM2mTopic {
    /// Topic prefix placed before `/oneM2M` (empty for the standard topics). Stored without
    /// a trailing "/"; e.g. prefix "site1" gives `site1/oneM2M/req/...`.
    pub prefix: String,
    pub channel: Channel,
    pub originator: String,
    pub receiver: String,
    /// The `/<type>` suffix of R2 7.5.4; `None` for the suffix-less R1 / R2 7.4.2 form.
    pub serialization: Option<Serialization>,
}

/// Map an SP-relative AE-ID / CSE-ID (or a Credential-ID) to a topic segment: drop leading "/"s,
/// replace every other "/" with ":" (R2 7.4.2). Errors: empty result, '+', '#', NUL.
pub fn id_to_segment(id: &str) -> Result<String, TopicError> {
    let _ = id;
    todo!()
}

/// Map a segment back to an ID: ":" → "/"; a segment that contained ":" was an SP-relative
/// structured ID and gets its leading "/" back ("cse1:Cae1" → "/cse1/Cae1"); a plain segment
/// ("cse1", "Cae1") is returned unchanged.
pub fn segment_to_id(segment: &str) -> String {
    let _ = segment;
    todo!()
}

impl OneM2mTopic {
    /// Build from IDs (mapping applied to both).
    pub fn new(channel: Channel, originator_id: &str, receiver_id: &str, serialization: Option<Serialization>) -> Result<Self, TopicError> {
        let _ = (channel, originator_id, receiver_id, serialization);
        todo!()
    }
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_end_matches('/').to_string();
        self
    }
    /// Parse a topic with no prefix.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        Self::parse_with_prefix(topic, "")
    }
    /// Parse a topic that must start with `prefix` (may be empty).
    pub fn parse_with_prefix(topic: &str, prefix: &str) -> Result<Self, TopicError> {
        let _ = (topic, prefix);
        todo!()
    }
    /// The response topic for this request topic: same originator/receiver/suffix/prefix,
    /// channel req→resp or reg_req→reg_resp (R2 7.4.3, 7.4.4).
    pub fn response_topic(&self) -> OneM2mTopic {
        OneM2mTopic { channel: self.channel.response(), ..self.clone() }
    }
    pub fn originator_id(&self) -> String {
        segment_to_id(&self.originator)
    }
    pub fn receiver_id(&self) -> String {
        segment_to_id(&self.receiver)
    }
}

impl std::fmt::Display for OneM2mTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = f;
        todo!()
    }
}

/// Subscription filter for requests to `receiver_id` (R2 7.5.4): `/oneM2M/req/+/<receiver>/#`.
pub fn request_filter(receiver_id: &str) -> Result<String, TopicError> {
    let _ = receiver_id;
    todo!()
}
/// Subscription filter for responses to `originator_id` (R2 7.5.4): `/oneM2M/resp/<originator>/#`.
pub fn response_filter(originator_id: &str) -> Result<String, TopicError> {
    let _ = originator_id;
    todo!()
}
