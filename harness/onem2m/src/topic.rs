//! oneM2M MQTT topics (R1 6.4.2–6.4.4, R2 7.4.2–7.4.4 and 7.5.4).

use crate::error::TopicError;
use crate::serialization::Serialization;

/// The channel level of a topic: requests and responses (R2 7.4.2, 7.4.3) and initial
/// registration requests and responses keyed by a Credential-ID (R2 7.4.4, R1 6.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Req,
    Resp,
    RegReq,
    RegResp,
}

impl Channel {
    /// The topic level (`req`, `resp`, `reg_req`, `reg_resp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Req => "req",
            Channel::Resp => "resp",
            Channel::RegReq => "reg_req",
            Channel::RegResp => "reg_resp",
        }
    }
    /// Parse a channel topic level (`req`, `resp`, `reg_req`, `reg_resp`; case-sensitive).
    pub fn from_level(level: &str) -> Option<Channel> {
        match level {
            "req" => Some(Channel::Req),
            "resp" => Some(Channel::Resp),
            "reg_req" => Some(Channel::RegReq),
            "reg_resp" => Some(Channel::RegResp),
            _ => None,
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
///
/// ```
/// use m2mspec_onem2m::topic::id_to_segment;
/// assert_eq!(id_to_segment("/in-cse/Cae1").unwrap(), "in-cse:Cae1");
/// assert_eq!(id_to_segment("//sp.example/cse1").unwrap(), "sp.example:cse1");
/// assert!(id_to_segment("/").is_err());
/// ```
pub fn id_to_segment(id: &str) -> Result<String, TopicError> {
    let segment = id.trim_start_matches('/').replace('/', ":");
    check_segment(&segment)?;
    Ok(segment)
}

/// Check that `segment` can be an `<originator>`/`<receiver>` topic level: non-empty, and free
/// of "/" (the level separator), the MQTT wildcards '+' and '#', and NUL (MQTT 3.1.1 4.7).
pub fn check_segment(segment: &str) -> Result<(), TopicError> {
    if segment.is_empty() {
        return Err(TopicError::EmptySegment);
    }
    if segment.contains(['+', '#', '\0', '/']) {
        return Err(TopicError::ForbiddenCharacter(segment.to_string()));
    }
    Ok(())
}

/// Map a segment back to an ID: ":" → "/"; a segment that contained ":" was an SP-relative
/// structured ID and gets its leading "/" back ("cse1:Cae1" → "/cse1/Cae1"); a plain segment
/// ("cse1", "Cae1") is returned unchanged.
pub fn segment_to_id(segment: &str) -> String {
    if segment.contains(':') {
        format!("/{}", segment.replace(':', "/"))
    } else {
        segment.to_string()
    }
}

impl OneM2mTopic {
    /// Build from IDs (mapping applied to both).
    pub fn new(
        channel: Channel,
        originator_id: &str,
        receiver_id: &str,
        serialization: Option<Serialization>,
    ) -> Result<Self, TopicError> {
        Ok(OneM2mTopic {
            prefix: String::new(),
            channel,
            originator: id_to_segment(originator_id)?,
            receiver: id_to_segment(receiver_id)?,
            serialization,
        })
    }
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_end_matches('/').to_string();
        self
    }
    /// Parse a topic with no prefix.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        Self::parse_with_prefix(topic, "")
    }
    /// Parse a topic that must start with `prefix` (may be empty; a trailing "/" on it is
    /// ignored, as in [`OneM2mTopic::with_prefix`]).
    ///
    /// Checks, in order: the prefix ([`TopicError::WrongPrefix`]; with an empty prefix a topic
    /// that does not start with "/" is [`TopicError::NotOneM2m`]), the literal level `oneM2M`
    /// ([`TopicError::NotOneM2m`]), 4 or 5 levels from `oneM2M` on
    /// ([`TopicError::WrongLevelCount`]), the channel ([`TopicError::UnknownChannel`]), the
    /// originator and receiver segments ([`TopicError::EmptySegment`],
    /// [`TopicError::ForbiddenCharacter`]) and the optional R2 7.5.4 `/<type>` suffix
    /// ([`TopicError::UnknownSuffix`]; an empty 5th level, i.e. a trailing "/", is one too).
    pub fn parse_with_prefix(topic: &str, prefix: &str) -> Result<Self, TopicError> {
        let prefix = prefix.trim_end_matches('/');
        let head = format!("{prefix}/");
        let Some(rest) = topic.strip_prefix(head.as_str()) else {
            return Err(if prefix.is_empty() {
                TopicError::NotOneM2m(topic.to_string())
            } else {
                TopicError::WrongPrefix(topic.to_string(), prefix.to_string())
            });
        };
        let levels: Vec<&str> = rest.split('/').collect();
        if levels.first() != Some(&"oneM2M") {
            return Err(TopicError::NotOneM2m(topic.to_string()));
        }
        let (channel, originator, receiver, suffix) = match levels.as_slice() {
            [_, c, o, r] => (*c, *o, *r, None),
            [_, c, o, r, s] => (*c, *o, *r, Some(*s)),
            _ => {
                return Err(TopicError::WrongLevelCount {
                    topic: topic.to_string(),
                    found: levels.len(),
                })
            }
        };
        let channel = Channel::from_level(channel)
            .ok_or_else(|| TopicError::UnknownChannel(topic.to_string(), channel.to_string()))?;
        check_segment(originator)?;
        check_segment(receiver)?;
        let serialization = match suffix {
            None => None,
            Some(s) => Some(
                Serialization::from_suffix(s)
                    .map_err(|_| TopicError::UnknownSuffix(topic.to_string(), s.to_string()))?,
            ),
        };
        Ok(OneM2mTopic {
            prefix: prefix.to_string(),
            channel,
            originator: originator.to_string(),
            receiver: receiver.to_string(),
            serialization,
        })
    }
    /// The response topic for this request topic: same originator/receiver/suffix/prefix,
    /// channel req→resp or reg_req→reg_resp (R2 7.4.3, 7.4.4).
    pub fn response_topic(&self) -> OneM2mTopic {
        OneM2mTopic {
            channel: self.channel.response(),
            ..self.clone()
        }
    }
    pub fn originator_id(&self) -> String {
        segment_to_id(&self.originator)
    }
    pub fn receiver_id(&self) -> String {
        segment_to_id(&self.receiver)
    }
}

impl std::fmt::Display for OneM2mTopic {
    /// `[<prefix>]/oneM2M/<channel>/<originator>/<receiver>[/<type>]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/oneM2M/{}/{}/{}",
            self.prefix,
            self.channel.as_str(),
            self.originator,
            self.receiver
        )?;
        if let Some(s) = self.serialization {
            write!(f, "/{}", s.suffix())?;
        }
        Ok(())
    }
}

/// Subscription filter for requests to `receiver_id` (R2 7.5.4): `/oneM2M/req/+/<receiver>/#`.
/// The trailing "#" also matches the suffix-less R1 / R2 7.4.3 topic (MQTT 3.1.1 4.7.1.2).
pub fn request_filter(receiver_id: &str) -> Result<String, TopicError> {
    request_filter_with_prefix("", receiver_id)
}
/// [`request_filter`] under a topic prefix (see [`OneM2mTopic::with_prefix`]).
pub fn request_filter_with_prefix(prefix: &str, receiver_id: &str) -> Result<String, TopicError> {
    let prefix = prefix.trim_end_matches('/');
    Ok(format!(
        "{prefix}/oneM2M/req/+/{}/#",
        id_to_segment(receiver_id)?
    ))
}
/// Subscription filter for responses to `originator_id` (R2 7.5.4): `/oneM2M/resp/<originator>/#`.
pub fn response_filter(originator_id: &str) -> Result<String, TopicError> {
    response_filter_with_prefix("", originator_id)
}
/// [`response_filter`] under a topic prefix (see [`OneM2mTopic::with_prefix`]).
pub fn response_filter_with_prefix(
    prefix: &str,
    originator_id: &str,
) -> Result<String, TopicError> {
    let prefix = prefix.trim_end_matches('/');
    Ok(format!(
        "{prefix}/oneM2M/resp/{}/#",
        id_to_segment(originator_id)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_mapping() {
        assert_eq!(id_to_segment("Cae1").unwrap(), "Cae1");
        assert_eq!(id_to_segment("/in-cse").unwrap(), "in-cse");
        assert_eq!(id_to_segment("/in-cse/Cae1").unwrap(), "in-cse:Cae1");
        assert_eq!(
            id_to_segment("//sp.example/cse1/C1").unwrap(),
            "sp.example:cse1:C1"
        );
        assert_eq!(id_to_segment("cred/x/").unwrap(), "cred:x:");
    }

    #[test]
    fn id_mapping_errors() {
        assert_eq!(id_to_segment(""), Err(TopicError::EmptySegment));
        assert_eq!(id_to_segment("///"), Err(TopicError::EmptySegment));
        assert_eq!(
            id_to_segment("/a+b"),
            Err(TopicError::ForbiddenCharacter("a+b".into()))
        );
        assert_eq!(
            id_to_segment("a/#"),
            Err(TopicError::ForbiddenCharacter("a:#".into()))
        );
        assert_eq!(
            id_to_segment("a\0"),
            Err(TopicError::ForbiddenCharacter("a\0".into()))
        );
        assert_eq!(
            check_segment("a/b"),
            Err(TopicError::ForbiddenCharacter("a/b".into()))
        );
    }

    #[test]
    fn segment_back_to_id() {
        assert_eq!(segment_to_id("in-cse:Cae1"), "/in-cse/Cae1");
        assert_eq!(segment_to_id("Cae1"), "Cae1");
        assert_eq!(segment_to_id("in-cse"), "in-cse");
    }

    #[test]
    fn builds_and_displays_r2_topics() {
        let t = OneM2mTopic::new(
            Channel::Req,
            "/in-cse/Cae1",
            "/in-cse",
            Some(Serialization::Json),
        )
        .unwrap();
        assert_eq!(t.to_string(), "/oneM2M/req/in-cse:Cae1/in-cse/json");
        assert_eq!(t.originator_id(), "/in-cse/Cae1");
        assert_eq!(t.receiver_id(), "in-cse");
        assert_eq!(
            t.response_topic().to_string(),
            "/oneM2M/resp/in-cse:Cae1/in-cse/json"
        );
        let t = OneM2mTopic::new(
            Channel::RegReq,
            "cred/1",
            "/in-cse",
            Some(Serialization::Cbor),
        )
        .unwrap();
        assert_eq!(t.to_string(), "/oneM2M/reg_req/cred:1/in-cse/cbor");
        assert_eq!(t.response_topic().channel, Channel::RegResp);
        assert_eq!(
            t.response_topic().response_topic().channel,
            Channel::RegResp
        );
    }

    #[test]
    fn builds_r1_suffixless_topics() {
        let t = OneM2mTopic::new(Channel::Resp, "Cae1", "in-cse", None).unwrap();
        assert_eq!(t.to_string(), "/oneM2M/resp/Cae1/in-cse");
        assert_eq!(OneM2mTopic::parse("/oneM2M/resp/Cae1/in-cse").unwrap(), t);
        assert!(OneM2mTopic::new(Channel::Req, "", "x", None).is_err());
        assert!(OneM2mTopic::new(Channel::Req, "x", "+", None).is_err());
    }

    #[test]
    fn parses_every_channel_and_suffix() {
        for ch in [
            Channel::Req,
            Channel::Resp,
            Channel::RegReq,
            Channel::RegResp,
        ] {
            for ser in [
                None,
                Some(Serialization::Json),
                Some(Serialization::Xml),
                Some(Serialization::Cbor),
            ] {
                let t = OneM2mTopic::new(ch, "a:b", "c", ser).unwrap();
                let parsed = OneM2mTopic::parse(&t.to_string()).unwrap();
                assert_eq!(parsed, t);
                assert_eq!(Channel::from_level(ch.as_str()), Some(ch));
            }
        }
    }

    #[test]
    fn prefixes() {
        let t = OneM2mTopic::new(Channel::Req, "Cae1", "in-cse", Some(Serialization::Xml))
            .unwrap()
            .with_prefix("site1/");
        assert_eq!(t.prefix, "site1");
        assert_eq!(t.to_string(), "site1/oneM2M/req/Cae1/in-cse/xml");
        assert_eq!(
            OneM2mTopic::parse_with_prefix("site1/oneM2M/req/Cae1/in-cse/xml", "site1").unwrap(),
            t
        );
        assert_eq!(
            OneM2mTopic::parse_with_prefix("site1/oneM2M/req/Cae1/in-cse/xml", "site1/").unwrap(),
            t
        );
        let t = t.with_prefix("a/b");
        assert_eq!(t.to_string(), "a/b/oneM2M/req/Cae1/in-cse/xml");
        assert_eq!(
            OneM2mTopic::parse_with_prefix("a/b/oneM2M/req/Cae1/in-cse/xml", "a/b").unwrap(),
            t
        );
        assert_eq!(
            t.response_topic().to_string(),
            "a/b/oneM2M/resp/Cae1/in-cse/xml"
        );
        // Empty prefix: the standard topic.
        assert_eq!(t.with_prefix("").to_string(), "/oneM2M/req/Cae1/in-cse/xml");
    }

    #[test]
    fn prefix_errors() {
        let topic = "site2/oneM2M/req/a/b";
        assert_eq!(
            OneM2mTopic::parse_with_prefix(topic, "site1"),
            Err(TopicError::WrongPrefix(topic.into(), "site1".into()))
        );
        // A prefix must match whole levels.
        let topic = "site10/oneM2M/req/a/b";
        assert_eq!(
            OneM2mTopic::parse_with_prefix(topic, "site1"),
            Err(TopicError::WrongPrefix(topic.into(), "site1".into()))
        );
        // A prefixed topic is not a standard topic.
        assert_eq!(
            OneM2mTopic::parse(topic),
            Err(TopicError::NotOneM2m(topic.into()))
        );
    }

    #[test]
    fn parse_errors() {
        let e = |t: &str| OneM2mTopic::parse(t).unwrap_err();
        assert_eq!(
            e("oneM2M/req/a/b"),
            TopicError::NotOneM2m("oneM2M/req/a/b".into())
        );
        assert_eq!(
            e("/onem2m/req/a/b"),
            TopicError::NotOneM2m("/onem2m/req/a/b".into())
        );
        assert_eq!(e(""), TopicError::NotOneM2m("".into()));
        assert_eq!(
            e("/oneM2M/req/a"),
            TopicError::WrongLevelCount {
                topic: "/oneM2M/req/a".into(),
                found: 3
            }
        );
        assert_eq!(
            e("/oneM2M/req/a/b/json/x"),
            TopicError::WrongLevelCount {
                topic: "/oneM2M/req/a/b/json/x".into(),
                found: 6
            }
        );
        assert_eq!(
            e("/oneM2M"),
            TopicError::WrongLevelCount {
                topic: "/oneM2M".into(),
                found: 1
            }
        );
        assert_eq!(
            e("/oneM2M/request/a/b"),
            TopicError::UnknownChannel("/oneM2M/request/a/b".into(), "request".into())
        );
        assert_eq!(
            e("/oneM2M/REQ/a/b"),
            TopicError::UnknownChannel("/oneM2M/REQ/a/b".into(), "REQ".into())
        );
        assert_eq!(
            e("/oneM2M/req/a/b/yaml"),
            TopicError::UnknownSuffix("/oneM2M/req/a/b/yaml".into(), "yaml".into())
        );
        assert_eq!(
            e("/oneM2M/req/a/b/"),
            TopicError::UnknownSuffix("/oneM2M/req/a/b/".into(), "".into())
        );
        assert_eq!(
            e("/oneM2M/req/a/b/#"),
            TopicError::UnknownSuffix("/oneM2M/req/a/b/#".into(), "#".into())
        );
        assert_eq!(e("/oneM2M/req//b"), TopicError::EmptySegment);
        assert_eq!(e("/oneM2M/req/a/"), TopicError::EmptySegment);
        assert_eq!(
            e("/oneM2M/req/+/b"),
            TopicError::ForbiddenCharacter("+".into())
        );
        assert_eq!(
            e("/oneM2M/resp/a/b#"),
            TopicError::ForbiddenCharacter("b#".into())
        );
        assert_eq!(
            e("/oneM2M/resp/a\0/b"),
            TopicError::ForbiddenCharacter("a\0".into())
        );
    }

    #[test]
    fn filters() {
        assert_eq!(request_filter("/in-cse").unwrap(), "/oneM2M/req/+/in-cse/#");
        assert_eq!(
            request_filter("/in-cse/Cae1").unwrap(),
            "/oneM2M/req/+/in-cse:Cae1/#"
        );
        assert_eq!(response_filter("Cae1").unwrap(), "/oneM2M/resp/Cae1/#");
        assert_eq!(
            request_filter_with_prefix("site1/", "in-cse").unwrap(),
            "site1/oneM2M/req/+/in-cse/#"
        );
        assert_eq!(
            response_filter_with_prefix("site1", "Cae1").unwrap(),
            "site1/oneM2M/resp/Cae1/#"
        );
        assert_eq!(request_filter("/"), Err(TopicError::EmptySegment));
        assert_eq!(
            response_filter("a#"),
            Err(TopicError::ForbiddenCharacter("a#".into()))
        );
    }
}
