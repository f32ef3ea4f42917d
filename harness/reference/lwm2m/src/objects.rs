//! The reference device's objects (LWM2M 1.0 6, Appendix E) and the operations on them: Read,
//! Write, Execute, Discover (1.0 5.4) and the bootstrap writes of the Security and Server
//! objects with the ESR030 4.6 extensions (Table 4-1: resource 0 an MQTT URI, 100-102 the
//! transport topic names).
//!
//! Objects: Security (0), Server (1), Device (3), Firmware Update (5, its package written by
//! the 4.7 binary transfer) and a Temperature sensor (3303, the resource cases observe).
//! Values travel as text/plain (1.0 6.4.1) or, for opaque resources, octet-stream (6.4.2).
//!
//! Readings taken:
//! * The Security Object is not readable by an LWM2M server (1.0 E.1: only the bootstrap
//!   server writes it): Read answers 4.01 Unauthorized.
//! * A write of resource 0 that is not `tcp://host:port` or `ssl://host:port`
//!   ([`m2mspec_lwm2m::security::ServerUri`]) is refused with 4.00 Bad Request; so is a prefix
//!   or a direction name that cannot be a topic part (`m2mspec_lwm2m::topic`). Empty values
//!   of 100-102 mean no prefix / the default names (Table 4-1).
//! * A write to an instance of objects 0 or 1 that does not exist creates it (bootstrap write,
//!   1.0 5.2.7.1); the defaults of a new Security instance are "not a bootstrap server", no
//!   short server id, and no topic overrides.

use m2mspec_lwm2m::lwm2m::content::{
    from_plain_text, to_plain_text, ResourceType, Value, OCTET_STREAM, TEXT_PLAIN,
};
use m2mspec_lwm2m::lwm2m::link_format::{self, Link};
use m2mspec_lwm2m::lwm2m::path::Path;
use m2mspec_lwm2m::security::{
    self, ServerUri, RES_DEVICE_TO_SERVER_TOPIC, RES_SERVER_TO_DEVICE_TOPIC, RES_SERVER_URI,
    RES_TOPIC_PREFIX,
};
use m2mspec_lwm2m::topic::{TopicError, TopicNames, DEFAULT_SERVER_TO_DEVICE};
use m2mspec_lwm2m::Code;
use std::collections::BTreeMap;

use crate::{DeviceConfig, Faults};

/// What the DM interface may do with a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ops {
    Read,
    ReadWrite,
    Write,
    Execute,
}

impl Ops {
    fn readable(self) -> bool {
        matches!(self, Ops::Read | Ops::ReadWrite)
    }
    fn writable(self) -> bool {
        matches!(self, Ops::Write | Ops::ReadWrite)
    }
}

/// One resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub ops: Ops,
    pub rtype: ResourceType,
    pub value: Value,
}

fn res(ops: Ops, value: Value) -> Resource {
    Resource {
        ops,
        rtype: value.resource_type(),
        value,
    }
}

/// A transport topic pair the device reaches a server on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// Security Object resource 10 (Short Server ID); 0 when not set.
    pub short_id: u16,
    pub names: TopicNames,
}

/// The objects of the device, by (object, instance).
#[derive(Debug, Clone, PartialEq)]
pub struct Objects {
    instances: BTreeMap<(u16, u16), BTreeMap<u16, Resource>>,
}

/// The Security Object id and the Server Object id.
const SECURITY: u16 = 0;
const SERVER: u16 = 1;

impl Objects {
    /// The objects a device leaves the factory with: one LWM2M server (short id 1) on the
    /// configured topic names.
    pub fn factory(cfg: &DeviceConfig) -> Objects {
        use Ops::*;
        use Value as V;
        let c = &cfg.common;
        let mut o = Objects {
            instances: BTreeMap::new(),
        };
        o.instances.insert(
            (SECURITY, 0),
            BTreeMap::from([
                (0, res(Write, V::String(format!("tcp://{}", c.broker)))),
                (1, res(Write, V::Boolean(false))),
                (2, res(Write, V::Integer(3))),
                (10, res(Write, V::Integer(1))),
                (100, res(Write, V::String(c.prefix.clone()))),
                (101, res(Write, V::String(c.server_to_device.clone()))),
                (102, res(Write, V::String(c.device_to_server.clone()))),
            ]),
        );
        o.instances.insert(
            (SERVER, 0),
            BTreeMap::from([
                (0, res(Read, V::Integer(1))),
                (1, res(ReadWrite, V::Integer(i64::from(cfg.lifetime)))),
                (7, res(ReadWrite, V::String("T".into()))),
            ]),
        );
        o.instances.insert(
            (3, 0),
            BTreeMap::from([
                (0, res(Read, V::String("m2mspec".into()))),
                (1, res(Read, V::String("reference device".into()))),
                (2, res(Read, V::String(cfg.device_id.clone()))),
                (3, res(Read, V::String("1.0".into()))),
                (4, res(Execute, V::String(String::new()))),
                (9, res(Read, V::Integer(87))),
                (11, res(Read, V::Integer(0))),
                (16, res(Read, V::String("T".into()))),
            ]),
        );
        o.instances.insert(
            (5, 0),
            BTreeMap::from([
                (0, res(Write, V::Opaque(Vec::new()))),
                (1, res(ReadWrite, V::String(String::new()))),
                (2, res(Execute, V::String(String::new()))),
                (3, res(Read, V::Integer(0))),
                (5, res(Read, V::Integer(0))),
            ]),
        );
        o.instances.insert(
            (3303, 0),
            BTreeMap::from([
                (5700, res(Read, V::Float(21.5))),
                (5701, res(Read, V::String("Cel".into()))),
                (5750, res(ReadWrite, V::String("room".into()))),
            ]),
        );
        o
    }

    fn resource(&self, path: &Path) -> Result<&Resource, Code> {
        match path.ids() {
            [o, i, r] => self
                .instances
                .get(&(*o, *i))
                .and_then(|m| m.get(r))
                .ok_or(Code::NOT_FOUND),
            _ => Err(Code::NOT_FOUND),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        match path.ids() {
            [] => true,
            [o] => self.instances.keys().any(|(obj, _)| obj == o),
            [o, i] => self.instances.contains_key(&(*o, *i)),
            [_, _, _] => self.resource(path).is_ok(),
            _ => false,
        }
    }

    /// Read one resource: its value and Content-Format (1.0 5.4.1, 6.4). Reading an object or
    /// an instance needs a multi-resource format this device does not offer: 4.06.
    pub fn read(&self, path: &Path) -> Result<(Vec<u8>, u16), Code> {
        if path.object_id() == Some(SECURITY) {
            return Err(Code::UNAUTHORIZED);
        }
        if path.ids().len() != 3 {
            return Err(if self.exists(path) {
                Code::NOT_ACCEPTABLE
            } else {
                Code::NOT_FOUND
            });
        }
        let r = self.resource(path)?;
        if !r.ops.readable() {
            return Err(Code::METHOD_NOT_ALLOWED);
        }
        match &r.value {
            Value::Opaque(b) => Ok((b.clone(), OCTET_STREAM)),
            v => to_plain_text(v)
                .map(|t| (t, TEXT_PLAIN))
                .map_err(|_| Code::INTERNAL_SERVER_ERROR),
        }
    }

    /// The value of a resource as text (for notifications and commands).
    pub fn text(&self, path: &Path) -> Option<String> {
        let r = self.resource(path).ok()?;
        to_plain_text(&r.value)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Write one resource from a payload in `format` (1.0 5.4.3; bootstrap writes 5.2.7.1).
    pub fn write(
        &mut self,
        path: &Path,
        format: Option<u16>,
        payload: &[u8],
        faults: &Faults,
    ) -> Result<(), Code> {
        let [o, i, r] = path.ids() else {
            return Err(Code::METHOD_NOT_ALLOWED);
        };
        let (o, i, r) = (*o, *i, *r);
        let created = (o == SECURITY || o == SERVER) && !self.instances.contains_key(&(o, i));
        let current = if created {
            new_instance(o).remove(&r).ok_or(Code::NOT_FOUND)?
        } else {
            self.resource(path)?.clone()
        };
        if !current.ops.writable() {
            return Err(Code::METHOD_NOT_ALLOWED);
        }
        let value = match (format, current.rtype) {
            (Some(OCTET_STREAM), ResourceType::Opaque) => Value::Opaque(payload.to_vec()),
            (Some(OCTET_STREAM), _) | (_, ResourceType::Opaque) => {
                return Err(Code::UNSUPPORTED_CONTENT_FORMAT)
            }
            (None | Some(TEXT_PLAIN), rtype) => {
                from_plain_text(payload, rtype).map_err(|_| Code::BAD_REQUEST)?
            }
            (Some(_), _) => return Err(Code::UNSUPPORTED_CONTENT_FORMAT),
        };
        if o == SECURITY {
            check_security_value(r, &value, faults)?;
        }
        if created {
            self.instances.insert((o, i), new_instance(o));
        }
        if !faults.write_ignored {
            if let Some(slot) = self.instances.get_mut(&(o, i)).and_then(|m| m.get_mut(&r)) {
                slot.value = value;
            }
        }
        Ok(())
    }

    /// Set a value from the device's side (a sensor change); `Err` if not a resource.
    pub fn set_text(&mut self, path: &Path, text: &str) -> Result<(), Code> {
        let rtype = self.resource(path)?.rtype;
        let value = from_plain_text(text.as_bytes(), rtype).map_err(|_| Code::BAD_REQUEST)?;
        if let [o, i, r] = path.ids() {
            if let Some(slot) = self.instances.get_mut(&(*o, *i)).and_then(|m| m.get_mut(r)) {
                slot.value = value;
            }
        }
        Ok(())
    }

    /// Store the data of a binary transfer into an opaque resource.
    pub fn store_opaque(&mut self, path: &Path, data: Vec<u8>) -> Result<(), Code> {
        let r = self.resource(path)?;
        if r.rtype != ResourceType::Opaque || !r.ops.writable() {
            return Err(Code::METHOD_NOT_ALLOWED);
        }
        if let [o, i, r] = path.ids() {
            if let Some(slot) = self.instances.get_mut(&(*o, *i)).and_then(|m| m.get_mut(r)) {
                slot.value = Value::Opaque(data);
            }
        }
        Ok(())
    }

    /// Execute (1.0 5.4.5): 2.04 on an executable resource, 4.05 on another, 4.04 on none.
    pub fn execute(&self, path: &Path, faults: &Faults) -> Result<(), Code> {
        if faults.execute_anything {
            return Ok(());
        }
        let r = match path.ids().len() {
            3 => self.resource(path)?,
            _ if self.exists(path) => return Err(Code::METHOD_NOT_ALLOWED),
            _ => return Err(Code::NOT_FOUND),
        };
        if r.ops == Ops::Execute {
            Ok(())
        } else {
            Err(Code::METHOD_NOT_ALLOWED)
        }
    }

    /// Discover (1.0 5.4.2): the links under `path`, in link format.
    pub fn discover(&self, path: &Path) -> Result<String, Code> {
        if !self.exists(path) || path.ids().is_empty() {
            return Err(Code::NOT_FOUND);
        }
        let mut links = Vec::new();
        if path.ids().len() == 1 {
            links.push(Link::to_path(path));
        }
        for ((o, i), resources) in &self.instances {
            let instance = Path::instance(*o, *i);
            if !instance.starts_with(path) && !path.starts_with(&instance) {
                continue;
            }
            if path.ids().len() <= 2 {
                links.push(Link::to_path(&instance));
            }
            links.extend(
                resources
                    .keys()
                    .map(|r| Path::resource(*o, *i, *r))
                    .filter(|p| p.starts_with(path))
                    .map(|p| Link::to_path(&p)),
            );
        }
        Ok(link_format::format(&links))
    }

    /// The objects and instances Register offers (1.0 5.3.1; the Security Object is not
    /// listed).
    pub fn register_links(&self) -> Vec<Link> {
        self.instances
            .keys()
            .filter(|(o, _)| *o != SECURITY)
            .map(|(o, i)| Link::to_path(&Path::instance(*o, *i)))
            .collect()
    }

    /// The LWM2M servers the Security instances name (not the bootstrap server), with the
    /// topic names in force for each (4.6; the faults bend them as documented).
    pub fn servers(&self, factory: &TopicNames, faults: &Faults) -> Vec<ServerEntry> {
        let text = |m: &BTreeMap<u16, Resource>, r: u16| match m.get(&r).map(|x| &x.value) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        self.instances
            .iter()
            .filter(|((o, _), _)| *o == SECURITY)
            .filter(|(_, m)| !matches!(m.get(&1).map(|x| &x.value), Some(Value::Boolean(true))))
            .filter_map(|(_, m)| {
                let short_id = match m.get(&10).map(|x| &x.value) {
                    Some(Value::Integer(n)) => u16::try_from(*n).unwrap_or(0),
                    _ => 0,
                };
                let names = if faults.ignore_topic_overrides {
                    Ok(factory.clone())
                } else {
                    let d2s = text(m, RES_DEVICE_TO_SERVER_TOPIC).filter(|s| !s.is_empty());
                    let d2s = match d2s {
                        None if faults.literal_102_default => {
                            Some(DEFAULT_SERVER_TO_DEVICE.to_string())
                        }
                        other => other,
                    };
                    security::topic_names(
                        text(m, RES_TOPIC_PREFIX).as_deref(),
                        text(m, RES_SERVER_TO_DEVICE_TOPIC).as_deref(),
                        d2s.as_deref(),
                    )
                };
                match names {
                    Ok(names) => Some(ServerEntry { short_id, names }),
                    Err(e) => {
                        tracing::warn!(short_id, error = %e, "unusable topic names; server skipped");
                        None
                    }
                }
            })
            .collect()
    }

    /// Bootstrap-Finish (1.0 5.2.7.5): the configuration must give usable, distinct topic pairs.
    pub fn check_bootstrap(&self, factory: &TopicNames, faults: &Faults) -> Result<(), Code> {
        let servers = self.servers(factory, faults);
        let count = self
            .instances
            .iter()
            .filter(|((o, _), m)| {
                *o == SECURITY && !matches!(m.get(&1).map(|x| &x.value), Some(Value::Boolean(true)))
            })
            .count();
        if servers.len() != count {
            return Err(Code::NOT_ACCEPTABLE);
        }
        Ok(())
    }
}

fn new_instance(object: u16) -> BTreeMap<u16, Resource> {
    use Ops::*;
    use Value as V;
    if object == SECURITY {
        BTreeMap::from([
            (0, res(Write, V::String(String::new()))),
            (1, res(Write, V::Boolean(false))),
            (2, res(Write, V::Integer(3))),
            (10, res(Write, V::Integer(0))),
            (100, res(Write, V::String(String::new()))),
            (101, res(Write, V::String(String::new()))),
            (102, res(Write, V::String(String::new()))),
        ])
    } else {
        BTreeMap::from([
            (0, res(ReadWrite, V::Integer(0))),
            (1, res(ReadWrite, V::Integer(86400))),
            (7, res(ReadWrite, V::String("T".into()))),
        ])
    }
}

fn topic_part_error(e: TopicError) -> Code {
    tracing::info!(error = %e, "bootstrap write refused");
    Code::BAD_REQUEST
}

/// ESR030 Table 4-1: what resources 0 and 100-102 of the Security Object may hold.
fn check_security_value(resource: u16, value: &Value, faults: &Faults) -> Result<(), Code> {
    let Value::String(text) = value else {
        return Ok(());
    };
    match resource {
        RES_SERVER_URI if faults.accept_any_server_uri => Ok(()),
        RES_SERVER_URI => match text.parse::<ServerUri>() {
            Ok(uri) if faults.refuse_ssl_uri && uri.scheme == security::Scheme::Ssl => {
                Err(Code::BAD_REQUEST)
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::info!(error = %e, "server URI refused");
                Err(Code::BAD_REQUEST)
            }
        },
        RES_TOPIC_PREFIX => TopicNames::with_prefix(text)
            .map(|_| ())
            .map_err(topic_part_error),
        RES_SERVER_TO_DEVICE_TOPIC | RES_DEVICE_TO_SERVER_TOPIC if text.is_empty() => Ok(()),
        RES_SERVER_TO_DEVICE_TOPIC | RES_DEVICE_TO_SERVER_TOPIC => {
            // A direction name is one topic level; check it against a different partner name.
            let other = if text == "x" { "y" } else { "x" };
            TopicNames::new("", text, other)
                .map(|_| ())
                .map_err(topic_part_error)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Path {
        p.parse().expect("a path")
    }

    fn objects() -> Objects {
        Objects::factory(&DeviceConfig::default())
    }

    #[test]
    fn read_write_execute_follow_the_resource_operations() {
        let mut o = objects();
        let ok = Faults::default();
        assert_eq!(
            o.read(&path("/3/0/0")),
            Ok((b"m2mspec".to_vec(), TEXT_PLAIN))
        );
        assert_eq!(
            o.read(&path("/3303/0/5700")),
            Ok((b"21.5".to_vec(), TEXT_PLAIN))
        );
        assert_eq!(o.read(&path("/0/0/0")), Err(Code::UNAUTHORIZED));
        assert_eq!(o.read(&path("/3/0")), Err(Code::NOT_ACCEPTABLE));
        assert_eq!(o.read(&path("/9/0/0")), Err(Code::NOT_FOUND));
        assert_eq!(o.read(&path("/3/0/4")), Err(Code::METHOD_NOT_ALLOWED));
        assert_eq!(o.write(&path("/3303/0/5750"), Some(0), b"lab", &ok), Ok(()));
        assert_eq!(o.text(&path("/3303/0/5750")).as_deref(), Some("lab"));
        assert_eq!(
            o.write(&path("/3/0/0"), Some(0), b"x", &ok),
            Err(Code::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            o.write(&path("/1/0/1"), Some(0), b"ten", &ok),
            Err(Code::BAD_REQUEST)
        );
        assert_eq!(o.execute(&path("/3/0/4"), &ok), Ok(()));
        assert_eq!(
            o.execute(&path("/3/0/0"), &ok),
            Err(Code::METHOD_NOT_ALLOWED)
        );
        assert_eq!(o.execute(&path("/3/9/4"), &ok), Err(Code::NOT_FOUND));
        let lazy = Faults {
            write_ignored: true,
            execute_anything: true,
            ..Faults::default()
        };
        assert_eq!(
            o.write(&path("/3303/0/5750"), Some(0), b"hall", &lazy),
            Ok(())
        );
        assert_eq!(o.text(&path("/3303/0/5750")).as_deref(), Some("lab"));
        assert_eq!(o.execute(&path("/3/0/0"), &lazy), Ok(()));
    }

    #[test]
    fn discover_and_register_list_links() {
        let o = objects();
        let d = o.discover(&path("/3303/0")).unwrap();
        assert_eq!(d, "</3303/0>,</3303/0/5700>,</3303/0/5701>,</3303/0/5750>");
        assert_eq!(o.discover(&path("/3303/0/5700")).unwrap(), "</3303/0/5700>");
        assert!(o
            .discover(&path("/3303"))
            .unwrap()
            .starts_with("</3303>,</3303/0>,"));
        assert_eq!(o.discover(&path("/42")), Err(Code::NOT_FOUND));
        let links = link_format::format(&o.register_links());
        assert_eq!(links, "</1/0>,</3/0>,</5/0>,</3303/0>");
    }

    #[test]
    fn bootstrap_writes_follow_table_4_1() {
        let mut o = objects();
        let ok = Faults::default();
        let factory = TopicNames::default();
        for (p, v) in [
            ("/0/1/0", "tcp://127.0.0.1:1883"),
            ("/0/1/10", "2"),
            ("/0/1/100", "acme/fleet"),
            ("/0/1/101", "down"),
            ("/1/1/0", "2"),
        ] {
            assert_eq!(o.write(&path(p), Some(0), v.as_bytes(), &ok), Ok(()), "{p}");
        }
        assert_eq!(
            o.write(&path("/0/1/0"), Some(0), b"ssl://h:8883", &ok),
            Ok(())
        );
        for (p, v) in [
            ("/0/1/0", "coap://h:5683"),
            ("/0/1/0", "tcp://h"),
            ("/0/1/100", "acme/"),
            ("/0/1/101", "do/wn"),
            ("/0/1/102", "u+p"),
        ] {
            assert_eq!(
                o.write(&path(p), Some(0), v.as_bytes(), &ok),
                Err(Code::BAD_REQUEST),
                "{p} {v}"
            );
        }
        let servers = o.servers(&factory, &ok);
        assert_eq!(servers.len(), 2);
        let two = &servers[1];
        assert_eq!(two.short_id, 2);
        assert_eq!(
            two.names,
            TopicNames::new("acme/fleet", "down", "deviceToServer").unwrap()
        );
        assert_eq!(o.check_bootstrap(&factory, &ok), Ok(()));
        let literal = Faults {
            literal_102_default: true,
            ..Faults::default()
        };
        assert_eq!(
            o.servers(&factory, &literal)[1].names,
            TopicNames::new("acme/fleet", "down", "serverToDevice").unwrap()
        );
        let ignore = Faults {
            ignore_topic_overrides: true,
            ..Faults::default()
        };
        assert_eq!(o.servers(&factory, &ignore)[1].names, factory);
        let any = Faults {
            accept_any_server_uri: true,
            ..Faults::default()
        };
        assert_eq!(
            o.write(&path("/0/1/0"), Some(0), b"coap://h:5683", &any),
            Ok(())
        );
        let no_ssl = Faults {
            refuse_ssl_uri: true,
            ..Faults::default()
        };
        assert_eq!(
            o.write(&path("/0/1/0"), Some(0), b"ssl://h:8883", &no_ssl),
            Err(Code::BAD_REQUEST)
        );
    }
}
