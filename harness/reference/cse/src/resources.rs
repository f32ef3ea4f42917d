//! The CSE's resource tree: CSEBase, AE, container, contentInstance, accessControlPolicy and
//! subscription (TS-0001 9.6, TS-0004 7.3/7.4), with the addressing forms of TS-0001 9.3.1 and
//! the container's virtual children `la` / `ol`.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use m2mspec_onem2m::rsc;
use m2mspec_onem2m::timestamp::{format_timestamp, parse_timestamp};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

use crate::rsc_extra::INVALID_CHILD_RESOURCE_TYPE;

pub(crate) const TY_ACP: i64 = 1;
pub(crate) const TY_AE: i64 = 2;
pub(crate) const TY_CNT: i64 = 3;
pub(crate) const TY_CIN: i64 = 4;
pub(crate) const TY_CSEBASE: i64 = 5;
pub(crate) const TY_SUB: i64 = 23;

/// Resource types this CSE supports (the CSEBase `srt` attribute).
const SUPPORTED_TYPES: [i64; 6] = [TY_ACP, TY_AE, TY_CNT, TY_CIN, TY_CSEBASE, TY_SUB];

/// A request that cannot be carried out: the response status code and a diagnostic that goes
/// into the response content as `m2m:dbg`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub rsc: i64,
    pub dbg: String,
}

pub(crate) fn fail<T>(rsc: i64, dbg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        rsc,
        dbg: dbg.into(),
    })
}

/// A successful operation: status code, optional content and the resource it acted on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub rsc: i64,
    pub pc: Option<Value>,
    /// The created / updated / retrieved resource's ri (None for virtual targets and deletes).
    pub ri: Option<String>,
}

/// The short type name used as the `m2m:<name>` content key.
pub(crate) fn type_name(ty: i64) -> Option<&'static str> {
    match ty {
        TY_ACP => Some("acp"),
        TY_AE => Some("ae"),
        TY_CNT => Some("cnt"),
        TY_CIN => Some("cin"),
        TY_CSEBASE => Some("cb"),
        TY_SUB => Some("sub"),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Resource {
    ri: String,
    rn: String,
    ty: i64,
    /// Parent ri; `None` for the CSEBase.
    pi: Option<String>,
    ct: String,
    lt: String,
    /// Every other attribute, in insertion order.
    attrs: Map<String, Value>,
    /// Child ris in creation order (oldest first).
    children: Vec<String>,
}

/// What a `to` parameter addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Resource(String),
    /// `<container>/la`: the latest contentInstance of the container with this ri.
    Latest(String),
    /// `<container>/ol`: the oldest contentInstance of the container with this ri.
    Oldest(String),
}

pub(crate) struct Tree {
    res: HashMap<String, Resource>,
    /// Children by name: parent ri → (rn → ri). Resolving a hierarchical `to` and the
    /// name-conflict check look here instead of scanning the children (a CSEBase with
    /// thousands of AEs under load).
    names: HashMap<String, HashMap<String, String>>,
    base_ri: String,
    /// CSE-ID without the leading "/", e.g. "id-in".
    cse_stem: String,
    csebase_name: String,
    /// Registered AE-IDs (stems, e.g. "Cae1") → ri of their <AE>.
    aeis: HashMap<String, String>,
    /// Makes generated identifiers differ between CSE instances.
    tag: String,
    counter: u64,
}

fn timestamp(now: DateTime<Utc>) -> String {
    format_timestamp(now.with_nanosecond(0).unwrap_or(now))
}

/// Which attributes a request may carry, and their types (TS-0001 9.6.5, 9.6.6, 9.6.7).
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Uint,
    StrList,
    Timestamp,
    Any,
}

fn writable(ty: i64, create: bool) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match (ty, create) {
        (TY_AE, true) => &[
            ("rn", Str),
            ("api", Str),
            ("apn", Str),
            ("rr", Bool),
            ("poa", StrList),
            ("srv", StrList),
            ("nl", Str),
            ("csz", StrList),
            ("lbl", StrList),
            ("et", Timestamp),
            ("acpi", StrList),
            ("or", Str),
        ],
        (TY_AE, false) => &[
            ("apn", Str),
            ("rr", Bool),
            ("poa", StrList),
            ("srv", StrList),
            ("nl", Str),
            ("csz", StrList),
            ("lbl", StrList),
            ("et", Timestamp),
            ("acpi", StrList),
            ("or", Str),
        ],
        (TY_CNT, true) => &[
            ("rn", Str),
            ("mni", Uint),
            ("mbs", Uint),
            ("mia", Uint),
            ("li", Str),
            ("disr", Bool),
            ("lbl", StrList),
            ("et", Timestamp),
            ("acpi", StrList),
            ("or", Str),
        ],
        (TY_CNT, false) => &[
            ("mni", Uint),
            ("mbs", Uint),
            ("mia", Uint),
            ("li", Str),
            ("disr", Bool),
            ("lbl", StrList),
            ("et", Timestamp),
            ("acpi", StrList),
            ("or", Str),
        ],
        (TY_CIN, true) => &[
            ("rn", Str),
            ("con", Any),
            ("cnf", Str),
            ("lbl", StrList),
            ("et", Timestamp),
            ("or", Str),
        ],
        (TY_ACP, true) => &[
            ("rn", Str),
            ("pv", Any),
            ("pvs", Any),
            ("lbl", StrList),
            ("et", Timestamp),
        ],
        (TY_ACP, false) => &[
            ("pv", Any),
            ("pvs", Any),
            ("lbl", StrList),
            ("et", Timestamp),
        ],
        (TY_SUB, true) => &[
            ("rn", Str),
            ("nu", StrList),
            ("enc", Any),
            ("nct", Uint),
            ("exc", Uint),
            ("su", Str),
            ("lbl", StrList),
            ("et", Timestamp),
            ("acpi", StrList),
        ],
        (TY_SUB, false) => &[
            ("nu", StrList),
            ("enc", Any),
            ("nct", Uint),
            ("exc", Uint),
            ("su", Str),
            ("lbl", StrList),
            ("et", Timestamp),
            ("acpi", StrList),
        ],
        _ => &[],
    }
}

/// Check and normalise one attribute value. XML carries list types space-separated and some
/// scalars as text; both are accepted (TS-0004 8.2).
fn convert(name: &str, kind: Kind, v: Value) -> Result<Value, Failure> {
    let bad = |what: &str| {
        fail(
            rsc::BAD_REQUEST,
            format!("attribute {name:?} must be {what}"),
        )
    };
    match kind {
        Kind::Any => Ok(v),
        Kind::Str => match v {
            Value::String(_) => Ok(v),
            _ => bad("a string"),
        },
        Kind::Timestamp => match &v {
            Value::String(s) if parse_timestamp(s).is_ok() => Ok(v),
            _ => bad("an m2m:timestamp (YYYYMMDDTHHMMSS)"),
        },
        Kind::Bool => match &v {
            Value::Bool(_) => Ok(v),
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            _ => bad("a boolean"),
        },
        Kind::Uint => match &v {
            Value::Number(n) if n.is_u64() => Ok(v),
            Value::String(s) => match s.trim().parse::<u64>() {
                Ok(n) => Ok(Value::from(n)),
                Err(_) => bad("a non-negative integer"),
            },
            _ => bad("a non-negative integer"),
        },
        Kind::StrList => match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(Value::String(s)),
                        Value::Number(n) => out.push(Value::String(n.to_string())),
                        _ => return bad("a list of strings"),
                    }
                }
                Ok(Value::Array(out))
            }
            Value::String(s) => Ok(Value::Array(
                s.split_whitespace()
                    .map(|x| Value::String(x.to_string()))
                    .collect(),
            )),
            _ => bad("a list of strings"),
        },
    }
}

/// Take the resource representation out of `pc` = {"m2m:<type>": {...}} and check its
/// attributes against the writable set of `ty` for a CREATE or an UPDATE.
fn resource_attrs(
    pc: Option<&Value>,
    ty: i64,
    create: bool,
) -> Result<Map<String, Value>, Failure> {
    let Some(name) = type_name(ty) else {
        return fail(
            rsc::NOT_IMPLEMENTED,
            format!("resource type {ty} is not supported"),
        );
    };
    let key = format!("m2m:{name}");
    let Some(pc) = pc else {
        return fail(
            rsc::BAD_REQUEST,
            format!("Content (pc) is missing; expected {{\"{key}\": {{...}}}}"),
        );
    };
    let Some(obj) = pc.as_object() else {
        return fail(rsc::BAD_REQUEST, "Content (pc) is not an object");
    };
    if obj.len() != 1 || !obj.contains_key(&key) {
        let keys: Vec<&String> = obj.keys().collect();
        return fail(
            rsc::BAD_REQUEST,
            format!(
                "Content (pc) must hold exactly {key:?} for resource type {ty}, found {keys:?}"
            ),
        );
    }
    let attrs = match obj.get(&key) {
        Some(Value::Object(m)) => m.clone(),
        // XML decodes an empty element as "".
        Some(Value::String(s)) if s.is_empty() => Map::new(),
        _ => return fail(rsc::BAD_REQUEST, format!("{key:?} is not an object")),
    };
    let allowed = writable(ty, create);
    let mut out = Map::new();
    for (k, v) in attrs {
        let Some((_, kind)) = allowed.iter().find(|(n, _)| *n == k) else {
            let op = if create { "CREATE" } else { "UPDATE" };
            return fail(
                rsc::BAD_REQUEST,
                format!("attribute {k:?} is unknown or not writable for {key} {op}"),
            );
        };
        if v.is_null() && !create {
            // UPDATE with null deletes an optional attribute (TS-0004 7.3.2.3).
            out.insert(k, Value::Null);
            continue;
        }
        let v = convert(&k, *kind, v)?;
        out.insert(k, v);
    }
    Ok(out)
}

fn content_size(con: Option<&Value>) -> u64 {
    match con {
        None => 0,
        Some(Value::String(s)) => s.len() as u64,
        Some(other) => other.to_string().len() as u64,
    }
}

/// A setOfAcrs (`{"acr": [{"acor": [...], "acop": n}, ...]}`) as privileges / selfPrivileges
/// need it (TS-0004 6.3.5.x m2m:setOfAcrs).
fn check_privileges(name: &str, v: Option<&Value>) -> Result<(), Failure> {
    let bad = || {
        fail(
            rsc::BAD_REQUEST,
            format!("attribute {name:?} must be a setOfAcrs {{\"acr\": [{{\"acor\": [...], \"acop\": n}}]}}"),
        )
    };
    let Some(Value::Object(m)) = v else {
        return bad();
    };
    match m.get("acr") {
        Some(Value::Array(rules)) if rules.iter().all(Value::is_object) => Ok(()),
        // XML carries a single rule as an object.
        Some(Value::Object(_)) => Ok(()),
        _ => bad(),
    }
}

fn uint_attr(attrs: &Map<String, Value>, name: &str) -> Option<u64> {
    attrs.get(name).and_then(Value::as_u64)
}

impl Tree {
    /// A tree holding only the CSEBase of `cse_id` ("/id-in") named `csebase_name`.
    pub(crate) fn new(
        cse_id: &str,
        csebase_name: &str,
        poa: Vec<String>,
        now: DateTime<Utc>,
    ) -> Tree {
        let cse_stem = cse_id.trim_start_matches('/').to_string();
        let ct = timestamp(now);
        let mut attrs = Map::new();
        attrs.insert("csi".into(), Value::String(format!("/{cse_stem}")));
        attrs.insert("cst".into(), Value::from(1)); // IN-CSE
        attrs.insert("srt".into(), json!(SUPPORTED_TYPES));
        attrs.insert("poa".into(), json!(poa));
        let base = Resource {
            ri: cse_stem.clone(),
            rn: csebase_name.to_string(),
            ty: TY_CSEBASE,
            pi: None,
            ct: ct.clone(),
            lt: ct,
            attrs,
            children: Vec::new(),
        };
        let mut res = HashMap::new();
        res.insert(base.ri.clone(), base);
        let tag = format!(
            "{:04x}",
            (now.timestamp_subsec_nanos() ^ (now.timestamp() as u32)) & 0xffff
        );
        Tree {
            res,
            names: HashMap::new(),
            base_ri: cse_stem.clone(),
            cse_stem,
            csebase_name: csebase_name.to_string(),
            aeis: HashMap::new(),
            tag,
            counter: 0,
        }
    }

    pub(crate) fn is_registered(&self, ae_id: &str) -> bool {
        self.aeis.contains_key(ae_id)
    }

    fn next_id(&mut self, prefix: &str) -> String {
        loop {
            self.counter += 1;
            let id = format!("{prefix}-{}-{}", self.tag, self.counter);
            if !self.res.contains_key(&id) && !self.aeis.contains_key(&id) {
                return id;
            }
        }
    }

    /// A fresh AE-ID with the given type prefix ('C' or 'S', TS-0001 7.2).
    pub(crate) fn new_ae_id(&mut self, prefix: char) -> String {
        self.next_id(&format!("{prefix}ae"))
    }

    /// A fresh AE-ID of another shape ([`crate::Variants::ae_id_other_scheme`]): the type
    /// prefix and 16 hexadecimal digits, e.g. "C3f09a1c2b4d5e6f7".
    pub(crate) fn new_ae_id_hex(&mut self, prefix: char) -> String {
        use std::hash::{Hash, Hasher};
        loop {
            self.counter += 1;
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&self.tag, self.counter).hash(&mut h);
            let id = format!("{prefix}{:016x}", h.finish());
            if !self.res.contains_key(&id) && !self.aeis.contains_key(&id) {
                return id;
            }
        }
    }

    /// Resolve a `to` parameter (TS-0001 9.3.1): CSE-relative structured ("cse-in/ae1") or
    /// unstructured ("<ri>", hybrid "<ri>/cnt1"), SP-relative ("/id-in/cse-in/ae1",
    /// "/id-in/<ri>", "/id-in") and absolute ("//sp/id-in/..."); the last level may be the
    /// virtual `la` / `ol` of a container.
    pub(crate) fn resolve(&self, to: &str) -> Result<Target, Failure> {
        let not_found = || fail(rsc::NOT_FOUND, format!("no resource at {to:?}"));
        let sp_relative = |rest: &str| -> Option<String> {
            if rest == self.cse_stem {
                Some(String::new())
            } else {
                rest.strip_prefix(&format!("{}/", self.cse_stem))
                    .map(str::to_string)
            }
        };
        let rel = if let Some(rest) = to.strip_prefix("//") {
            // Absolute: //<SP-ID>/<SP-relative without its leading "/">.
            match rest.split_once('/').and_then(|(_sp, r)| sp_relative(r)) {
                Some(r) => r,
                None => return not_found(),
            }
        } else if let Some(rest) = to.strip_prefix('/') {
            match sp_relative(rest) {
                Some(r) => r,
                None => return not_found(),
            }
        } else {
            to.to_string()
        };
        let rel = rel.trim_end_matches('/');
        if rel.is_empty() {
            return if to.is_empty() {
                fail(rsc::BAD_REQUEST, "To (to) is empty")
            } else {
                Ok(Target::Resource(self.base_ri.clone()))
            };
        }
        let segments: Vec<&str> = rel.split('/').collect();
        let mut cur = if segments[0] == self.csebase_name {
            self.base_ri.clone()
        } else if self.res.contains_key(segments[0]) {
            segments[0].to_string()
        } else {
            return not_found();
        };
        let last = segments.len() - 1;
        for (i, seg) in segments.iter().enumerate().skip(1) {
            let Some(node) = self.res.get(&cur) else {
                return not_found();
            };
            if node.ty == TY_CNT && i == last && (*seg == "la" || *seg == "ol") {
                return Ok(if *seg == "la" {
                    Target::Latest(cur)
                } else {
                    Target::Oldest(cur)
                });
            }
            match self.child_named(&cur, seg) {
                Some(child) => cur = child.to_string(),
                None => return not_found(),
            }
        }
        Ok(Target::Resource(cur))
    }

    /// The child of `parent` named `rn`.
    fn child_named(&self, parent: &str, rn: &str) -> Option<&str> {
        self.names.get(parent)?.get(rn).map(String::as_str)
    }

    /// The concrete resource a target addresses (the contentInstance of `la` / `ol`).
    pub(crate) fn concrete(&self, target: &Target) -> Result<String, Failure> {
        self.virtual_target(target)
    }

    /// The contentInstance a virtual `la` / `ol` stands for.
    fn virtual_target(&self, target: &Target) -> Result<String, Failure> {
        let (cnt, latest) = match target {
            Target::Resource(ri) => return Ok(ri.clone()),
            Target::Latest(c) => (c, true),
            Target::Oldest(c) => (c, false),
        };
        let children = self
            .res
            .get(cnt)
            .map(|r| r.children.as_slice())
            .unwrap_or_default();
        let mut cins = children
            .iter()
            .filter(|c| self.res.get(*c).is_some_and(|r| r.ty == TY_CIN));
        let found = if latest {
            cins.next_back()
        } else {
            cins.next()
        };
        match found {
            Some(ri) => Ok(ri.clone()),
            None => fail(
                rsc::NOT_FOUND,
                format!("container {cnt:?} has no contentInstance"),
            ),
        }
    }

    /// The resource representation {"m2m:<type>": {...}} of `ri`.
    pub(crate) fn representation(&self, ri: &str) -> Option<Value> {
        let r = self.res.get(ri)?;
        let mut m = Map::new();
        m.insert("ty".into(), Value::from(r.ty));
        m.insert("ri".into(), Value::String(r.ri.clone()));
        m.insert("rn".into(), Value::String(r.rn.clone()));
        if let Some(pi) = &r.pi {
            m.insert("pi".into(), Value::String(pi.clone()));
        }
        m.insert("ct".into(), Value::String(r.ct.clone()));
        m.insert("lt".into(), Value::String(r.lt.clone()));
        for (k, v) in &r.attrs {
            m.insert(k.clone(), v.clone());
        }
        if r.ty == TY_CNT {
            let (cni, cbs) = self.container_usage(ri);
            m.insert("cni".into(), Value::from(cni));
            m.insert("cbs".into(), Value::from(cbs));
        }
        let name = type_name(r.ty)?;
        let mut outer = Map::new();
        outer.insert(format!("m2m:{name}"), Value::Object(m));
        Some(Value::Object(outer))
    }

    /// (currentNrOfInstances, currentByteSize) of a container.
    fn container_usage(&self, cnt: &str) -> (u64, u64) {
        let Some(c) = self.res.get(cnt) else {
            return (0, 0);
        };
        c.children
            .iter()
            .filter_map(|ri| self.res.get(ri))
            .filter(|r| r.ty == TY_CIN)
            .fold((0, 0), |(n, b), r| {
                (n + 1, b + uint_attr(&r.attrs, "cs").unwrap_or(0))
            })
    }

    pub(crate) fn retrieve(&self, target: &Target) -> Result<Outcome, Failure> {
        let ri = self.virtual_target(target)?;
        match self.representation(&ri) {
            Some(pc) => Ok(Outcome {
                rsc: rsc::OK,
                pc: Some(pc),
                ri: Some(ri),
            }),
            None => fail(rsc::NOT_FOUND, format!("no resource {ri:?}")),
        }
    }

    /// CREATE a child of type `ty` under `target` (TS-0004 7.3.2.1). `ri_hint` is the
    /// identifier to give it: the AE-ID the caller assigned when `ty` is AE (required), or an
    /// ri reserved earlier (e.g. for a <subscription> whose verification came first).
    pub(crate) fn create(
        &mut self,
        target: &Target,
        ty: i64,
        pc: Option<&Value>,
        ri_hint: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Failure> {
        let (parent_ri, resource) = self.plan_create(target, ty, pc, ri_hint, now)?;
        Ok(self.insert(&parent_ri, resource))
    }

    /// Every check of [`Tree::create`] without creating anything; returns the parent's ri and
    /// the would-be resource name.
    pub(crate) fn check_create(
        &mut self,
        target: &Target,
        ty: i64,
        pc: Option<&Value>,
        ri_hint: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(String, String), Failure> {
        self.plan_create(target, ty, pc, ri_hint, now)
            .map(|(parent, r)| (parent, r.rn))
    }

    fn plan_create(
        &mut self,
        target: &Target,
        ty: i64,
        pc: Option<&Value>,
        ri_hint: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(String, Resource), Failure> {
        let Target::Resource(parent_ri) = target else {
            return fail(
                rsc::OPERATION_NOT_ALLOWED,
                "CREATE is not allowed on the virtual resources la / ol",
            );
        };
        let Some(parent_ty) = self.res.get(parent_ri).map(|p| p.ty) else {
            return fail(rsc::NOT_FOUND, format!("no resource {parent_ri:?}"));
        };
        if type_name(ty).is_none() || ty == TY_CSEBASE {
            return fail(
                rsc::NOT_IMPLEMENTED,
                format!("CREATE of resource type {ty} is not supported"),
            );
        }
        let allowed_parent = match ty {
            TY_AE => parent_ty == TY_CSEBASE,
            TY_CNT => matches!(parent_ty, TY_CSEBASE | TY_AE | TY_CNT),
            TY_CIN => parent_ty == TY_CNT,
            TY_ACP => matches!(parent_ty, TY_CSEBASE | TY_AE),
            TY_SUB => matches!(parent_ty, TY_CSEBASE | TY_AE | TY_CNT),
            _ => false,
        };
        if !allowed_parent {
            return fail(
                INVALID_CHILD_RESOURCE_TYPE,
                format!("a resource of type {parent_ty} cannot have a child of type {ty}"),
            );
        }
        let mut attrs = resource_attrs(pc, ty, true)?;
        let ri = match (ty, ri_hint) {
            (_, Some(id)) => id.to_string(),
            (TY_AE, None) => return fail(rsc::INTERNAL_SERVER_ERROR, "no AE-ID assigned"),
            (TY_CNT, None) => self.next_id("cnt"),
            (TY_ACP, None) => self.next_id("acp"),
            (TY_SUB, None) => self.next_id("sub"),
            _ => self.next_id("cin"),
        };
        if self.res.contains_key(&ri) {
            return fail(
                rsc::ORIGINATOR_HAS_ALREADY_REGISTERED,
                format!("resource identifier {ri:?} is taken"),
            );
        }
        let rn = match attrs.remove("rn") {
            Some(Value::String(rn)) => rn,
            _ => ri.clone(),
        };
        if rn.is_empty() || rn.contains('/') {
            return fail(rsc::BAD_REQUEST, format!("invalid resource name {rn:?}"));
        }
        if parent_ty == TY_CNT && (rn == "la" || rn == "ol") {
            return fail(
                rsc::BAD_REQUEST,
                format!("resource name {rn:?} is reserved under a container"),
            );
        }
        let Some(parent) = self.res.get(parent_ri) else {
            return fail(rsc::NOT_FOUND, format!("no resource {parent_ri:?}"));
        };
        if self.child_named(&parent.ri, &rn).is_some() {
            return fail(
                rsc::CONFLICT,
                format!("a child named {rn:?} already exists"),
            );
        }
        let ct = timestamp(now);
        let mut full = Map::new();
        if !attrs.contains_key("et") {
            full.insert(
                "et".into(),
                Value::String(timestamp(now + TimeDelta::days(365))),
            );
        }
        match ty {
            TY_AE => {
                if !attrs.contains_key("api") {
                    return fail(
                        rsc::BAD_REQUEST,
                        "mandatory attribute api (App-ID) is missing",
                    );
                }
                full.append(&mut attrs);
                full.entry("rr").or_insert(Value::Bool(false));
                full.insert("aei".into(), Value::String(ri.clone()));
            }
            TY_CNT => {
                full.append(&mut attrs);
                full.insert("st".into(), Value::from(0));
            }
            TY_ACP => {
                // TS-0001 9.6.2: privileges and selfPrivileges are mandatory.
                for name in ["pv", "pvs"] {
                    check_privileges(name, attrs.get(name))?;
                }
                full.append(&mut attrs);
            }
            TY_SUB => {
                // TS-0001 9.6.8: notificationURI is mandatory and holds at least one target.
                match attrs.get("nu").and_then(Value::as_array) {
                    Some(nu) if !nu.is_empty() => {}
                    _ => {
                        return fail(
                            rsc::BAD_REQUEST,
                            "mandatory attribute nu (notificationURI) is missing or empty",
                        )
                    }
                }
                if let Some(enc) = attrs.get("enc") {
                    if !enc.is_object() && enc.as_str() != Some("") {
                        return fail(
                            rsc::BAD_REQUEST,
                            "attribute \"enc\" must be an eventNotificationCriteria object",
                        );
                    }
                }
                full.append(&mut attrs);
                full.entry("nct").or_insert(Value::from(1));
            }
            _ => {
                let cs = content_size(attrs.get("con"));
                if !attrs.contains_key("con") {
                    return fail(
                        rsc::BAD_REQUEST,
                        "mandatory attribute con (content) is missing",
                    );
                }
                if let Some(mbs) = uint_attr(&parent.attrs, "mbs") {
                    if cs > mbs {
                        return fail(
                            rsc::NOT_ACCEPTABLE,
                            format!("content size {cs} exceeds the container's maxByteSize {mbs}"),
                        );
                    }
                }
                let st = uint_attr(&parent.attrs, "st").unwrap_or(0) + 1;
                full.append(&mut attrs);
                full.insert("cs".into(), Value::from(cs));
                full.insert("st".into(), Value::from(st));
            }
        }
        let resource = Resource {
            ri,
            rn,
            ty,
            pi: Some(parent_ri.clone()),
            ct: ct.clone(),
            lt: ct,
            attrs: full,
            children: Vec::new(),
        };
        Ok((parent_ri.clone(), resource))
    }

    fn insert(&mut self, parent_ri: &str, resource: Resource) -> Outcome {
        let ri = resource.ri.clone();
        let ty = resource.ty;
        let ct = resource.ct.clone();
        self.names
            .entry(parent_ri.to_string())
            .or_default()
            .insert(resource.rn.clone(), ri.clone());
        self.res.insert(ri.clone(), resource);
        if let Some(p) = self.res.get_mut(parent_ri) {
            p.children.push(ri.clone());
            if ty == TY_CIN {
                // A new instance changes the container: stateTag and lastModifiedTime.
                let st = uint_attr(&p.attrs, "st").unwrap_or(0) + 1;
                p.attrs.insert("st".into(), Value::from(st));
                p.lt = ct;
            }
        }
        if ty == TY_AE {
            self.aeis.insert(ri.clone(), ri.clone());
        }
        if ty == TY_CIN {
            self.enforce_limits(parent_ri);
        }
        let pc = self.representation(&ri);
        Outcome {
            rsc: rsc::CREATED,
            pc,
            ri: Some(ri),
        }
    }

    /// Drop the oldest instances while the container exceeds maxNrOfInstances / maxByteSize.
    fn enforce_limits(&mut self, cnt: &str) {
        let Some(c) = self.res.get(cnt) else { return };
        let (mni, mbs) = (uint_attr(&c.attrs, "mni"), uint_attr(&c.attrs, "mbs"));
        loop {
            let (cni, cbs) = self.container_usage(cnt);
            let over = mni.is_some_and(|m| cni > m) || mbs.is_some_and(|m| cbs > m);
            if !over || cni == 0 {
                return;
            }
            match self.virtual_target(&Target::Oldest(cnt.to_string())) {
                Ok(oldest) => self.remove_subtree(&oldest),
                Err(_) => return,
            }
        }
    }

    /// UPDATE (TS-0004 7.3.2.3) of an AE or a container.
    pub(crate) fn update(
        &mut self,
        target: &Target,
        pc: Option<&Value>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Failure> {
        let ri = match target {
            Target::Resource(ri) => ri.clone(),
            _ => {
                return fail(
                    rsc::OPERATION_NOT_ALLOWED,
                    "UPDATE is not allowed on a contentInstance",
                )
            }
        };
        let Some(r) = self.res.get(&ri) else {
            return fail(rsc::NOT_FOUND, format!("no resource {ri:?}"));
        };
        if !matches!(r.ty, TY_AE | TY_CNT | TY_ACP | TY_SUB) {
            return fail(
                rsc::OPERATION_NOT_ALLOWED,
                format!("UPDATE of resource type {} is not allowed", r.ty),
            );
        }
        let attrs = resource_attrs(pc, r.ty, false)?;
        let ty = r.ty;
        if ty == TY_ACP {
            for name in ["pv", "pvs"] {
                if let Some(v) = attrs.get(name) {
                    check_privileges(name, Some(v))?;
                }
            }
        }
        if let Some(r) = self.res.get_mut(&ri) {
            for (k, v) in attrs {
                if v.is_null() {
                    r.attrs.remove(&k);
                } else {
                    r.attrs.insert(k, v);
                }
            }
            r.lt = timestamp(now);
            if ty == TY_CNT {
                let st = uint_attr(&r.attrs, "st").unwrap_or(0) + 1;
                r.attrs.insert("st".into(), Value::from(st));
            }
        }
        if ty == TY_CNT {
            self.enforce_limits(&ri);
        }
        Ok(Outcome {
            rsc: rsc::UPDATED,
            pc: self.representation(&ri),
            ri: Some(ri),
        })
    }

    /// DELETE (TS-0004 7.3.2.4) of a resource and its subtree (deregisters deleted AEs).
    pub(crate) fn delete(&mut self, target: &Target) -> Result<Outcome, Failure> {
        let ri = self.virtual_target(target)?;
        if ri == self.base_ri {
            return fail(rsc::OPERATION_NOT_ALLOWED, "the CSEBase cannot be deleted");
        }
        if !self.res.contains_key(&ri) {
            return fail(rsc::NOT_FOUND, format!("no resource {ri:?}"));
        }
        self.remove_subtree(&ri);
        Ok(Outcome {
            rsc: rsc::DELETED,
            pc: None,
            ri: None,
        })
    }

    /// A fresh resource identifier with this prefix (e.g. reserved before a verification).
    pub(crate) fn new_ri(&mut self, prefix: &str) -> String {
        self.next_id(prefix)
    }

    pub(crate) fn ty_of(&self, ri: &str) -> Option<i64> {
        self.res.get(ri).map(|r| r.ty)
    }

    pub(crate) fn parent_of(&self, ri: &str) -> Option<String> {
        self.res.get(ri).and_then(|r| r.pi.clone())
    }

    pub(crate) fn attr(&self, ri: &str, name: &str) -> Option<&Value> {
        self.res.get(ri).and_then(|r| r.attrs.get(name))
    }

    /// The resource a target stands for: the resource itself, or the container of `la` / `ol`.
    pub(crate) fn target_ri(target: &Target) -> &str {
        match target {
            Target::Resource(ri) | Target::Latest(ri) | Target::Oldest(ri) => ri,
        }
    }

    /// The structured CSE-relative path of `ri` ("cse-in/ae1/cnt1").
    pub(crate) fn path_of(&self, ri: &str) -> String {
        let mut names = Vec::new();
        let mut cur = Some(ri.to_string());
        while let Some(c) = cur {
            match self.res.get(&c) {
                Some(r) => {
                    names.push(r.rn.clone());
                    cur = r.pi.clone();
                }
                None => break,
            }
        }
        names.reverse();
        names.join("/")
    }

    /// The <subscription> children of `ri` (oldest first).
    pub(crate) fn subscriptions_of(&self, ri: &str) -> Vec<String> {
        self.res
            .get(ri)
            .map(|r| {
                r.children
                    .iter()
                    .filter(|c| self.ty_of(c) == Some(TY_SUB))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The accessControlPolicyIDs that govern `ri`: its own, else the nearest ancestor's
    /// (a contentInstance has none of its own: its container's apply, TS-0001 9.6.7). None when
    /// no resource on the way up names any: the CSE's default policy applies.
    pub(crate) fn effective_acpi(&self, ri: &str) -> Option<Vec<String>> {
        let mut cur = Some(ri.to_string());
        while let Some(c) = cur {
            let r = self.res.get(&c)?;
            if let Some(Value::Array(ids)) = r.attrs.get("acpi") {
                if !ids.is_empty() {
                    return Some(
                        ids.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect(),
                    );
                }
            }
            cur = r.pi.clone();
        }
        None
    }

    fn remove_subtree(&mut self, ri: &str) {
        let Some(r) = self.res.remove(ri) else { return };
        if let Some(pi) = r.pi.as_ref() {
            if let Some(n) = self.names.get_mut(pi) {
                n.remove(&r.rn);
            }
        }
        self.names.remove(ri);
        if let Some(parent) = r.pi.as_ref().and_then(|pi| self.res.get_mut(pi)) {
            parent.children.retain(|c| c != ri);
        }
        if r.ty == TY_AE {
            self.aeis.retain(|_, v| v != ri);
        }
        let mut stack = r.children;
        while let Some(child) = stack.pop() {
            if let Some(c) = self.res.remove(&child) {
                self.names.remove(&child);
                if c.ty == TY_AE {
                    self.aeis.retain(|_, v| *v != child);
                }
                stack.extend(c.children);
            }
        }
    }
}
