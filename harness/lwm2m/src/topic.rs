//! ESR030 transport topics (4.1) and their names as set through the Security Object (4.6):
//! `[PREFIX]/[DEVICE_ID]/[DIRECTION]`.
//!
//! Readings taken where ESR030 leaves room:
//! * **Empty prefix**: the topic is `[DEVICE_ID]/[DIRECTION]` with no leading `/` — 4.1's own
//!   example `0/deviceToServer`. A non-empty prefix may span several levels
//!   (`mybroker/myaccount/0001/serverToDevice`); it is used verbatim and must not end with `/`
//!   (that would put an empty level before the device id) nor hold `+`, `#` or NUL.
//! * **Device id** is one topic level (non-empty, no `/`, `+`, `#`, NUL): 4.1 calls it "a unique
//!   device identifier under the chosen `[PREFIX]`" and all examples use one level.
//! * **Direction names** are one level each ("MQTT topic simple name", Table 4-1), distinct
//!   from each other so that a topic says its direction.
//! * **Resource 102's default**: Table 4-1 gives the default of resource 102 "Device To Server
//!   Topic Name" as `serverToDevice`, the same as resource 101's. That is evidently a copy
//!   slip: 4.1 says the device-to-server name is `deviceToServer` by default, and two equal
//!   defaults would put both directions on one topic. This crate uses `deviceToServer`.
//! * **Lengths**: Table 4-1 gives resources 100–102 the range 0–255, read as a length in bytes.
//!
//! Parsing needs the configured prefix and names ([`TopicNames`]), as a device id could
//! otherwise not be told from a prefix level. The LWM2M server subscribes to every device's
//! requests and responses with one single-level wildcard (4.4: "subscribing to any device using
//! a single level wildcard (+)"): [`TopicNames::server_filter`].

use thiserror::Error;

/// The default name of the server-to-device direction (4.1).
pub const DEFAULT_SERVER_TO_DEVICE: &str = "serverToDevice";
/// The default name of the device-to-server direction (4.1; see the module doc on Table 4-1).
pub const DEFAULT_DEVICE_TO_SERVER: &str = "deviceToServer";
/// Longest prefix or direction name (Table 4-1: 0–255).
pub const MAX_NAME_LEN: usize = 255;
/// Longest MQTT topic name (MQTT 3.1.1 1.5.3: UTF-8 string of at most 65535 bytes).
pub const MAX_TOPIC_LEN: usize = 65535;

/// A topic or topic part that does not follow ESR030 4.1 / 4.6.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicError {
    #[error("{what} {value:?} contains '+', '#' or NUL, which an MQTT topic name cannot hold")]
    ForbiddenCharacter { what: &'static str, value: String },
    #[error("{what} {value:?} must be a single topic level (no '/')")]
    NotOneLevel { what: &'static str, value: String },
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} bytes long; ESR030 Table 4-1 allows 0-255")]
    TooLong { what: &'static str, len: usize },
    #[error(
        "topic prefix {0:?} ends with '/', which would put an empty level before the device id"
    )]
    PrefixEndsWithSlash(String),
    #[error("both directions are named {0:?}; the names must differ")]
    SameDirectionNames(String),
    #[error("topic of {0} bytes exceeds MQTT's 65535")]
    TopicTooLong(usize),
    #[error("topic {topic:?} does not start with the prefix {prefix:?} and a '/'")]
    WrongPrefix { topic: String, prefix: String },
    #[error(
        "topic {topic:?} has {found} levels after the prefix, expected 2 ([DEVICE_ID]/[DIRECTION])"
    )]
    WrongLevelCount { topic: String, found: usize },
    #[error("topic {topic:?}: direction {level:?} is neither {server_to_device:?} nor {device_to_server:?}")]
    UnknownDirection {
        topic: String,
        level: String,
        server_to_device: String,
        device_to_server: String,
    },
}

/// Which way a transport topic carries messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Published by the LWM2M server, subscribed by the device.
    ServerToDevice,
    /// Published by the device, subscribed by the LWM2M server.
    DeviceToServer,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ServerToDevice => Direction::DeviceToServer,
            Direction::DeviceToServer => Direction::ServerToDevice,
        }
    }
}

/// A parsed transport topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransportTopic {
    pub device_id: String,
    pub direction: Direction,
}

/// The prefix and the two direction names in force between one device and one server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicNames {
    prefix: String,
    server_to_device: String,
    device_to_server: String,
}

impl Default for TopicNames {
    /// No prefix, `serverToDevice` / `deviceToServer`.
    fn default() -> TopicNames {
        TopicNames {
            prefix: String::new(),
            server_to_device: DEFAULT_SERVER_TO_DEVICE.to_string(),
            device_to_server: DEFAULT_DEVICE_TO_SERVER.to_string(),
        }
    }
}

fn check_chars(what: &'static str, value: &str) -> Result<(), TopicError> {
    if value.contains(['+', '#', '\0']) {
        return Err(TopicError::ForbiddenCharacter {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

fn check_level(what: &'static str, value: &str) -> Result<(), TopicError> {
    if value.is_empty() {
        return Err(TopicError::Empty { what });
    }
    check_chars(what, value)?;
    if value.contains('/') {
        return Err(TopicError::NotOneLevel {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

fn check_len(what: &'static str, value: &str) -> Result<(), TopicError> {
    if value.len() > MAX_NAME_LEN {
        return Err(TopicError::TooLong {
            what,
            len: value.len(),
        });
    }
    Ok(())
}

impl TopicNames {
    /// Prefix (may be empty, may span levels) and both direction names.
    pub fn new(
        prefix: &str,
        server_to_device: &str,
        device_to_server: &str,
    ) -> Result<TopicNames, TopicError> {
        check_len("topic prefix", prefix)?;
        check_chars("topic prefix", prefix)?;
        if prefix.ends_with('/') {
            return Err(TopicError::PrefixEndsWithSlash(prefix.to_string()));
        }
        for (what, name) in [
            ("server-to-device topic name", server_to_device),
            ("device-to-server topic name", device_to_server),
        ] {
            check_len(what, name)?;
            check_level(what, name)?;
        }
        if server_to_device == device_to_server {
            return Err(TopicError::SameDirectionNames(server_to_device.to_string()));
        }
        Ok(TopicNames {
            prefix: prefix.to_string(),
            server_to_device: server_to_device.to_string(),
            device_to_server: device_to_server.to_string(),
        })
    }

    /// The default names under `prefix`.
    pub fn with_prefix(prefix: &str) -> Result<TopicNames, TopicError> {
        TopicNames::new(prefix, DEFAULT_SERVER_TO_DEVICE, DEFAULT_DEVICE_TO_SERVER)
    }

    /// The prefix (empty for none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The topic level naming `direction`.
    pub fn name(&self, direction: Direction) -> &str {
        match direction {
            Direction::ServerToDevice => &self.server_to_device,
            Direction::DeviceToServer => &self.device_to_server,
        }
    }

    fn join(&self, level: &str, direction: Direction) -> String {
        if self.prefix.is_empty() {
            format!("{level}/{}", self.name(direction))
        } else {
            format!("{}/{level}/{}", self.prefix, self.name(direction))
        }
    }

    /// The transport topic of `device_id` in `direction`.
    pub fn topic(&self, device_id: &str, direction: Direction) -> Result<String, TopicError> {
        check_level("device id", device_id)?;
        let topic = self.join(device_id, direction);
        if topic.len() > MAX_TOPIC_LEN {
            return Err(TopicError::TopicTooLong(topic.len()));
        }
        Ok(topic)
    }

    /// The filter an LWM2M server subscribes to for every device's publications:
    /// `<prefix>/+/<device-to-server name>` (4.4), `+/<name>` without a prefix.
    pub fn server_filter(&self) -> String {
        self.join("+", Direction::DeviceToServer)
    }

    /// Parse a transport topic under these names.
    pub fn parse(&self, topic: &str) -> Result<TransportTopic, TopicError> {
        let rest = if self.prefix.is_empty() {
            topic
        } else {
            topic
                .strip_prefix(self.prefix.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .ok_or_else(|| TopicError::WrongPrefix {
                    topic: topic.to_string(),
                    prefix: self.prefix.clone(),
                })?
        };
        let levels: Vec<&str> = rest.split('/').collect();
        let [device_id, level] = levels[..] else {
            return Err(TopicError::WrongLevelCount {
                topic: topic.to_string(),
                found: levels.len(),
            });
        };
        check_level("device id", device_id)?;
        let direction = if level == self.server_to_device {
            Direction::ServerToDevice
        } else if level == self.device_to_server {
            Direction::DeviceToServer
        } else {
            return Err(TopicError::UnknownDirection {
                topic: topic.to_string(),
                level: level.to_string(),
                server_to_device: self.server_to_device.clone(),
                device_to_server: self.device_to_server.clone(),
            });
        };
        Ok(TransportTopic {
            device_id: device_id.to_string(),
            direction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    // The three examples of ESR030 4.1.
    #[rstest]
    #[case(
        "mymqttbroker",
        "04ac-a451-ff43",
        Direction::DeviceToServer,
        "mymqttbroker/04ac-a451-ff43/deviceToServer"
    )]
    #[case("", "0", Direction::DeviceToServer, "0/deviceToServer")]
    #[case(
        "mybroker/myaccount",
        "0001",
        Direction::ServerToDevice,
        "mybroker/myaccount/0001/serverToDevice"
    )]
    fn spec_examples_build_and_parse(
        #[case] prefix: &str,
        #[case] device: &str,
        #[case] direction: Direction,
        #[case] topic: &str,
    ) {
        let names = TopicNames::with_prefix(prefix).unwrap();
        assert_eq!(names.topic(device, direction).unwrap(), topic);
        assert_eq!(
            names.parse(topic).unwrap(),
            TransportTopic {
                device_id: device.to_string(),
                direction
            }
        );
    }

    #[test]
    fn defaults_and_server_filter() {
        let d = TopicNames::default();
        assert_eq!(d.name(Direction::ServerToDevice), "serverToDevice");
        assert_eq!(d.name(Direction::DeviceToServer), "deviceToServer");
        assert_eq!(d.server_filter(), "+/deviceToServer");
        let p = TopicNames::with_prefix("a/b").unwrap();
        assert_eq!(p.server_filter(), "a/b/+/deviceToServer");
        let custom = TopicNames::new("lw", "down", "up").unwrap();
        assert_eq!(custom.server_filter(), "lw/+/up");
        assert_eq!(
            custom.topic("d1", Direction::ServerToDevice).unwrap(),
            "lw/d1/down"
        );
        assert_eq!(
            custom.parse("lw/d1/up").unwrap().direction,
            Direction::DeviceToServer
        );
    }

    #[rstest]
    #[case("p", "s2d", "d2s", None)]
    #[case("/leading/slash", "s2d", "d2s", None)]
    #[case("p/", "s2d", "d2s", Some(TopicError::PrefixEndsWithSlash("p/".into())))]
    #[case("p/+", "s2d", "d2s", Some(TopicError::ForbiddenCharacter { what: "topic prefix", value: "p/+".into() }))]
    #[case("p", "", "d2s", Some(TopicError::Empty { what: "server-to-device topic name" }))]
    #[case("p", "s/2d", "d2s", Some(TopicError::NotOneLevel { what: "server-to-device topic name", value: "s/2d".into() }))]
    #[case("p", "s2d", "d#", Some(TopicError::ForbiddenCharacter { what: "device-to-server topic name", value: "d#".into() }))]
    #[case("p", "same", "same", Some(TopicError::SameDirectionNames("same".into())))]
    fn configured_names_are_checked(
        #[case] prefix: &str,
        #[case] s2d: &str,
        #[case] d2s: &str,
        #[case] error: Option<TopicError>,
    ) {
        assert_eq!(TopicNames::new(prefix, s2d, d2s).err(), error);
    }

    #[test]
    fn names_longer_than_255_bytes_are_refused() {
        let long = "x".repeat(256);
        assert_eq!(
            TopicNames::with_prefix(&long),
            Err(TopicError::TooLong {
                what: "topic prefix",
                len: 256
            })
        );
        assert!(TopicNames::with_prefix(&"x".repeat(255)).is_ok());
    }

    #[rstest]
    #[case("other/d/deviceToServer", "pre")]
    #[case("prefix/d/deviceToServer", "pre")]
    #[case("pre", "pre")]
    fn wrong_prefix(#[case] topic: &str, #[case] prefix: &str) {
        let names = TopicNames::with_prefix(prefix).unwrap();
        assert!(matches!(
            names.parse(topic),
            Err(TopicError::WrongPrefix { .. })
        ));
    }

    #[rstest]
    #[case("d/x/deviceToServer", 3)]
    #[case("deviceToServer", 1)]
    #[case("", 1)]
    fn wrong_level_count(#[case] topic: &str, #[case] found: usize) {
        assert_eq!(
            TopicNames::default().parse(topic),
            Err(TopicError::WrongLevelCount {
                topic: topic.to_string(),
                found
            })
        );
    }

    #[test]
    fn other_malformed_topics() {
        let names = TopicNames::default();
        assert!(matches!(
            names.parse("d/devicetoserver"),
            Err(TopicError::UnknownDirection { .. })
        ));
        assert_eq!(
            names.parse("/deviceToServer"),
            Err(TopicError::Empty { what: "device id" })
        );
        assert!(matches!(
            names.parse("+/deviceToServer"),
            Err(TopicError::ForbiddenCharacter { .. })
        ));
        assert_eq!(
            names.topic("a/b", Direction::DeviceToServer),
            Err(TopicError::NotOneLevel {
                what: "device id",
                value: "a/b".into()
            })
        );
        assert!(matches!(
            names.topic(&"d".repeat(70_000), Direction::DeviceToServer),
            Err(TopicError::TopicTooLong(_))
        ));
    }

    proptest! {
        #[test]
        fn build_then_parse_round_trips(
            prefix in "([a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,3})?",
            device in "[A-Za-z0-9:._-]{1,20}",
            to_device: bool,
        ) {
            let names = TopicNames::with_prefix(&prefix).unwrap();
            let direction = if to_device { Direction::ServerToDevice } else { Direction::DeviceToServer };
            let topic = names.topic(&device, direction).unwrap();
            prop_assert_eq!(names.parse(&topic).unwrap(), TransportTopic { device_id: device, direction });
        }

        #[test]
        fn parse_never_panics(topic in "\\PC{0,40}", prefix in "[a-z/]{0,5}") {
            // Whatever parses rebuilds to the same topic; the rest is a typed error.
            if let Ok(names) = TopicNames::with_prefix(&prefix) {
                if let Ok(t) = names.parse(&topic) {
                    prop_assert_eq!(names.topic(&t.device_id, t.direction).unwrap(), topic);
                }
            }
        }
    }
}
