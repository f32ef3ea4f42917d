//! Unit tests of the transport-free CSE core (no broker).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use m2mspec_onem2m::rsc;
use m2mspec_onem2m::serialization::{decode_map, encode_map, PrimitiveKind, Serialization};
use m2mspec_onem2m::timestamp::format_timestamp;
use m2mspec_refcse::{connect_plan, CseCore, Faults, Outgoing, RefCseConfig, Release, Variants};
use serde_json::{json, Map, Value};

const JSON: Serialization = Serialization::Json;
const XML: Serialization = Serialization::Xml;
const CBOR: Serialization = Serialization::Cbor;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

fn cfg(faults: Faults) -> RefCseConfig {
    RefCseConfig {
        faults,
        ..RefCseConfig::default()
    }
}

fn core() -> CseCore {
    CseCore::new(&RefCseConfig::default())
}

fn with_faults(faults: Faults) -> CseCore {
    CseCore::new(&cfg(faults))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Publish `req` (a short-name map) on `topic` in `ser`; returns the single PUBLISH the CSE
/// sends back.
fn send_raw(core: &mut CseCore, topic: &str, req: Value, ser: Serialization) -> Vec<Outgoing> {
    let payload = encode_map(&obj(req), ser, PrimitiveKind::Request).expect("encode request");
    core.handle(topic, &payload, now())
}

fn send(
    core: &mut CseCore,
    topic: &str,
    req: Value,
    ser: Serialization,
) -> (Outgoing, Map<String, Value>) {
    let mut out = send_raw(core, topic, req, ser);
    assert_eq!(out.len(), 1, "expected exactly one response to {topic}");
    let o = out.remove(0);
    let rsp = decode_map(&o.payload, ser).unwrap_or_else(|e| panic!("response is not {ser}: {e}"));
    (o, rsp)
}

fn topic(originator: &str, ser: Option<Serialization>) -> String {
    match ser {
        Some(s) => format!("/oneM2M/req/{originator}/id-in/{s}"),
        None => format!("/oneM2M/req/{originator}/id-in"),
    }
}

fn rsc_of(rsp: &Map<String, Value>) -> i64 {
    rsp.get("rsc")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("no rsc in {rsp:?}"))
}

fn create_ae_req(fr: &str, rqi: &str, rn: &str) -> Value {
    json!({"op": 1, "to": "cse-in", "fr": fr, "rqi": rqi, "rvi": "3", "ty": 2,
           "pc": {"m2m:ae": {"rn": rn, "api": "Nm2mspec", "rr": true, "srv": ["3"]}}})
}

/// Register AE `ae_id` (From = its AE-ID) over JSON.
fn register(core: &mut CseCore, ae_id: &str, rn: &str) {
    let (_, rsp) = send(
        core,
        &topic(ae_id, Some(JSON)),
        create_ae_req(ae_id, &format!("reg-{ae_id}"), rn),
        JSON,
    );
    assert_eq!(rsc_of(&rsp), rsc::CREATED, "{rsp:?}");
}

/// An AE's request over JSON: returns the decoded response.
fn ae_req(core: &mut CseCore, ae_id: &str, req: Value) -> Map<String, Value> {
    send(core, &topic(ae_id, Some(JSON)), req, JSON).1
}

fn retrieve(core: &mut CseCore, ae_id: &str, to: &str, rqi: &str) -> Map<String, Value> {
    ae_req(
        core,
        ae_id,
        json!({"op": 2, "to": to, "fr": ae_id, "rqi": rqi}),
    )
}

fn pc_attr<'a>(rsp: &'a Map<String, Value>, ty: &str, attr: &str) -> &'a Value {
    rsp.get("pc")
        .and_then(|pc| pc.get(ty))
        .and_then(|r| r.get(attr))
        .unwrap_or_else(|| panic!("no pc.{ty}.{attr} in {rsp:?}"))
}

// ------------------------------------------------------------ registration & serializations

#[test]
fn ae_create_and_retrieve_in_json_xml_cbor_mirror_topic_and_serialization() {
    for ser in [JSON, XML, CBOR] {
        let mut c = core();
        let ae = format!("Cae-{ser}");
        let t = topic(&ae, Some(ser));
        let (o, rsp) = send(&mut c, &t, create_ae_req(&ae, "r1", "app1"), ser);
        assert_eq!(o.topic, format!("/oneM2M/resp/{ae}/id-in/{ser}"));
        assert_eq!((o.qos, o.retain), (1, false));
        assert_eq!(rsc_of(&rsp), rsc::CREATED, "{ser}: {rsp:?}");
        assert_eq!(rsp["rqi"], "r1");
        assert_eq!(rsp["to"], json!(ae));
        assert_eq!(rsp["fr"], "/id-in");
        assert_eq!(rsp["rvi"], "3");
        assert!(rsp.get("ot").and_then(Value::as_str).is_some());
        assert_eq!(pc_attr(&rsp, "m2m:ae", "aei"), &json!(ae));
        assert_eq!(pc_attr(&rsp, "m2m:ae", "ty"), &json!(2));
        assert_eq!(pc_attr(&rsp, "m2m:ae", "rr"), &json!(true));

        let (o, rsp) = send(
            &mut c,
            &t,
            json!({"op": 2, "to": "cse-in/app1", "fr": ae, "rqi": "r2"}),
            ser,
        );
        assert_eq!(o.topic, format!("/oneM2M/resp/{ae}/id-in/{ser}"));
        assert_eq!(rsc_of(&rsp), rsc::OK, "{ser}: {rsp:?}");
        assert_eq!(pc_attr(&rsp, "m2m:ae", "rn"), "app1");
        assert_eq!(pc_attr(&rsp, "m2m:ae", "api"), "Nm2mspec");
        assert_eq!(pc_attr(&rsp, "m2m:ae", "pi"), "id-in");
    }
}

#[test]
fn suffixless_request_is_json_and_answered_without_suffix() {
    let mut c = core();
    let (o, rsp) = send(
        &mut c,
        &topic("Cae1", None),
        create_ae_req("Cae1", "r1", "a1"),
        JSON,
    );
    assert_eq!(o.topic, "/oneM2M/resp/Cae1/id-in");
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
}

#[test]
fn cse_assigns_ae_ids_for_c_and_s() {
    let mut c = core();
    let (_, rsp) = send(
        &mut c,
        &topic("C", Some(JSON)),
        create_ae_req("C", "r1", "a1"),
        JSON,
    );
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
    let c1 = pc_attr(&rsp, "m2m:ae", "aei").as_str().unwrap().to_string();
    assert!(c1.starts_with('C') && c1.len() > 1, "{c1}");
    let (_, rsp) = send(
        &mut c,
        &topic("C", Some(JSON)),
        create_ae_req("C", "r2", "a2"),
        JSON,
    );
    let c2 = pc_attr(&rsp, "m2m:ae", "aei").as_str().unwrap().to_string();
    assert_ne!(c1, c2);
    let (_, rsp) = send(
        &mut c,
        &topic("S", Some(JSON)),
        create_ae_req("S", "r3", "a3"),
        JSON,
    );
    let s1 = pc_attr(&rsp, "m2m:ae", "aei").as_str().unwrap().to_string();
    assert!(s1.starts_with('S'), "{s1}");
    // The assigned AE-ID is registered: it can now act as an originator.
    let rsp = retrieve(&mut c, &c1, "cse-in/a1", "r4");
    assert_eq!(rsc_of(&rsp), rsc::OK, "{rsp:?}");
}

#[test]
fn registering_twice_is_4117() {
    let mut c = core();
    register(&mut c, "Cae1", "a1");
    let (_, rsp) = send(
        &mut c,
        &topic("Cae1", Some(JSON)),
        create_ae_req("Cae1", "again", "a2"),
        JSON,
    );
    assert_eq!(rsc_of(&rsp), rsc::ORIGINATOR_HAS_ALREADY_REGISTERED);
}

#[test]
fn ae_without_api_or_with_unknown_attribute_is_4000() {
    let mut c = core();
    let req = json!({"op": 1, "to": "cse-in", "fr": "Cae1", "rqi": "r1", "ty": 2, "pc": {"m2m:ae": {"rn": "a"}}});
    assert_eq!(
        rsc_of(&send(&mut c, &topic("Cae1", Some(JSON)), req, JSON).1),
        rsc::BAD_REQUEST
    );
    let req = json!({"op": 1, "to": "cse-in", "fr": "Cae1", "rqi": "r2", "ty": 2, "pc": {"m2m:ae": {"api": "N", "ri": "x"}}});
    assert_eq!(
        rsc_of(&send(&mut c, &topic("Cae1", Some(JSON)), req, JSON).1),
        rsc::BAD_REQUEST
    );
    let req =
        json!({"op": 1, "to": "cse-in", "fr": "Cae1", "rqi": "r3", "ty": 2, "pc": {"m2m:cnt": {}}});
    assert_eq!(
        rsc_of(&send(&mut c, &topic("Cae1", Some(JSON)), req, JSON).1),
        rsc::BAD_REQUEST
    );
}

// ------------------------------------------------------------ resources & addressing

fn create_cnt(c: &mut CseCore, ae: &str, to: &str, rn: &str, rqi: &str) -> Map<String, Value> {
    ae_req(
        c,
        ae,
        json!({"op": 1, "to": to, "fr": ae, "rqi": rqi, "ty": 3, "pc": {"m2m:cnt": {"rn": rn}}}),
    )
}

fn create_cin(c: &mut CseCore, ae: &str, to: &str, con: &str, rqi: &str) -> Map<String, Value> {
    ae_req(
        c,
        ae,
        json!({"op": 1, "to": to, "fr": ae, "rqi": rqi, "ty": 4, "pc": {"m2m:cin": {"con": con, "cnf": "text/plain:0"}}}),
    )
}

#[test]
fn container_content_instances_and_virtual_children() {
    let mut c = core();
    register(&mut c, "Cae1", "a1");
    let rsp = create_cnt(&mut c, "Cae1", "cse-in/a1", "cnt1", "c1");
    assert_eq!(rsc_of(&rsp), rsc::CREATED, "{rsp:?}");
    assert_eq!(pc_attr(&rsp, "m2m:cnt", "cni"), &json!(0));
    for (i, con) in ["one", "two", "three"].iter().enumerate() {
        let rsp = create_cin(&mut c, "Cae1", "cse-in/a1/cnt1", con, &format!("i{i}"));
        assert_eq!(rsc_of(&rsp), rsc::CREATED, "{rsp:?}");
        assert_eq!(pc_attr(&rsp, "m2m:cin", "cs"), &json!(con.len()));
        assert_eq!(pc_attr(&rsp, "m2m:cin", "st"), &json!(i + 1));
    }
    let rsp = retrieve(&mut c, "Cae1", "cse-in/a1/cnt1/la", "la");
    assert_eq!(rsc_of(&rsp), rsc::OK);
    assert_eq!(pc_attr(&rsp, "m2m:cin", "con"), "three");
    let rsp = retrieve(&mut c, "Cae1", "cse-in/a1/cnt1/ol", "ol");
    assert_eq!(pc_attr(&rsp, "m2m:cin", "con"), "one");
    let rsp = retrieve(&mut c, "Cae1", "cse-in/a1/cnt1", "cnt");
    assert_eq!(pc_attr(&rsp, "m2m:cnt", "cni"), &json!(3));
    assert_eq!(pc_attr(&rsp, "m2m:cnt", "cbs"), &json!(11));
    assert_eq!(pc_attr(&rsp, "m2m:cnt", "st"), &json!(3));
    let cnt_ri = pc_attr(&rsp, "m2m:cnt", "ri").as_str().unwrap().to_string();

    // Every addressing form reaches the same container.
    for to in [
        "/id-in/cse-in/a1/cnt1".to_string(),
        "//m2mspec.example/id-in/cse-in/a1/cnt1".to_string(),
        cnt_ri.clone(),
        format!("/id-in/{cnt_ri}"),
        format!("//sp/id-in/{cnt_ri}"),
        "Cae1/cnt1".to_string(),
    ] {
        let rsp = retrieve(&mut c, "Cae1", &to, &format!("addr-{to}"));
        assert_eq!(rsc_of(&rsp), rsc::OK, "{to}: {rsp:?}");
        assert_eq!(pc_attr(&rsp, "m2m:cnt", "ri"), &json!(cnt_ri), "{to}");
    }
    let rsp = retrieve(&mut c, "Cae1", &format!("{cnt_ri}/la"), "hybrid-la");
    assert_eq!(pc_attr(&rsp, "m2m:cin", "con"), "three");
    // The CSEBase by name, by CSE-ID, by ri.
    for to in ["cse-in", "/id-in", "id-in", "//sp/id-in/cse-in"] {
        let rsp = retrieve(&mut c, "Cae1", to, &format!("cb-{to}"));
        assert_eq!(rsc_of(&rsp), rsc::OK, "{to}");
        assert_eq!(pc_attr(&rsp, "m2m:cb", "csi"), "/id-in");
        assert_eq!(pc_attr(&rsp, "m2m:cb", "rn"), "cse-in");
        assert_eq!(
            pc_attr(&rsp, "m2m:cb", "poa"),
            &json!(["mqtt://127.0.0.1:1883"])
        );
    }

    // DELETE la removes the latest instance.
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 4, "to": "cse-in/a1/cnt1/la", "fr": "Cae1", "rqi": "dla"}),
    );
    assert_eq!(rsc_of(&rsp), rsc::DELETED);
    let rsp = retrieve(&mut c, "Cae1", "cse-in/a1/cnt1/la", "la2");
    assert_eq!(pc_attr(&rsp, "m2m:cin", "con"), "two");
}

#[test]
fn error_codes_for_missing_targets_conflicts_and_types() {
    let mut c = core();
    register(&mut c, "Cae1", "a1");
    assert_eq!(
        rsc_of(&retrieve(&mut c, "Cae1", "cse-in/nope", "r1")),
        rsc::NOT_FOUND
    );
    assert_eq!(
        rsc_of(&retrieve(&mut c, "Cae1", "/id-other/cse-in", "r2")),
        rsc::NOT_FOUND
    );
    assert_eq!(
        rsc_of(&create_cnt(&mut c, "Cae1", "cse-in/a1", "cnt1", "r3")),
        rsc::CREATED
    );
    assert_eq!(
        rsc_of(&create_cnt(&mut c, "Cae1", "cse-in/a1", "cnt1", "r4")),
        rsc::CONFLICT
    );
    assert_eq!(
        rsc_of(&retrieve(&mut c, "Cae1", "cse-in/a1/cnt1/la", "r5")),
        rsc::NOT_FOUND
    );
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 1, "to": "cse-in/a1", "fr": "Cae1", "rqi": "r6", "ty": 23, "pc": {"m2m:sub": {}}}),
    );
    assert_eq!(
        rsc_of(&rsp),
        rsc::BAD_REQUEST,
        "a subscription needs nu: {rsp:?}"
    );
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 1, "to": "cse-in/a1", "fr": "Cae1", "rqi": "r6b", "ty": 9, "pc": {"m2m:grp": {}}}),
    );
    assert_eq!(
        rsc_of(&rsp),
        rsc::NOT_IMPLEMENTED,
        "groups are not supported"
    );
    // contentInstance under an AE: invalid child type.
    assert_eq!(
        rsc_of(&create_cin(&mut c, "Cae1", "cse-in/a1", "x", "r7")),
        4108
    );
    // UPDATE of a container works, of la is not allowed.
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 3, "to": "cse-in/a1/cnt1", "fr": "Cae1", "rqi": "r8", "pc": {"m2m:cnt": {"mni": 1}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::UPDATED, "{rsp:?}");
    assert_eq!(pc_attr(&rsp, "m2m:cnt", "mni"), &json!(1));
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 3, "to": "cse-in/a1/cnt1/la", "fr": "Cae1", "rqi": "r9", "pc": {"m2m:cin": {}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::OPERATION_NOT_ALLOWED);
    // mni = 1 keeps only the newest instance.
    create_cin(&mut c, "Cae1", "cse-in/a1/cnt1", "old", "r10");
    create_cin(&mut c, "Cae1", "cse-in/a1/cnt1", "new", "r11");
    let rsp = retrieve(&mut c, "Cae1", "cse-in/a1/cnt1", "r12");
    assert_eq!(pc_attr(&rsp, "m2m:cnt", "cni"), &json!(1));
    assert_eq!(
        pc_attr(
            &retrieve(&mut c, "Cae1", "cse-in/a1/cnt1/ol", "r13"),
            "m2m:cin",
            "con"
        ),
        "new"
    );
}

#[test]
fn deleting_an_ae_deregisters_it() {
    let mut c = core();
    register(&mut c, "Cae1", "a1");
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 4, "to": "cse-in/a1", "fr": "Cae1", "rqi": "d1"}),
    );
    assert_eq!(rsc_of(&rsp), rsc::DELETED);
    assert_eq!(
        rsc_of(&retrieve(&mut c, "Cae1", "cse-in", "d2")),
        rsc::ORIGINATOR_HAS_NO_PRIVILEGE
    );
    // ... and it may register again.
    register(&mut c, "Cae1", "a1");
}

#[test]
fn unregistered_originator_is_4103() {
    let mut c = core();
    let rsp = retrieve(&mut c, "Cstranger", "cse-in", "r1");
    assert_eq!(rsc_of(&rsp), rsc::ORIGINATOR_HAS_NO_PRIVILEGE);
    assert_eq!(c.stats().executed, 0);
}

// ------------------------------------------------------------ expiry (R2 7.4.3)

#[test]
fn expired_rqet_is_4008_and_not_executed() {
    let mut c = core();
    register(&mut c, "Cae1", "a1");
    let past = format_timestamp(now() - TimeDelta::seconds(5));
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 1, "to": "cse-in/a1", "fr": "Cae1", "rqi": "x1", "ty": 3, "rqet": past, "pc": {"m2m:cnt": {"rn": "late"}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::REQUEST_TIMEOUT);
    assert_eq!(
        rsc_of(&retrieve(&mut c, "Cae1", "cse-in/a1/late", "x2")),
        rsc::NOT_FOUND
    );
    assert_eq!(c.stats().expired_rejected, 1);

    // Relative rqet counts from ot: 1 s after an ot a minute ago has passed.
    let ot = format_timestamp(now() - TimeDelta::seconds(60));
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 1, "to": "cse-in/a1", "fr": "Cae1", "rqi": "x3", "ty": 3, "ot": ot, "rqet": 1000, "pc": {"m2m:cnt": {"rn": "late"}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::REQUEST_TIMEOUT);
    // Result expiration in the past too.
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 1, "to": "cse-in/a1", "fr": "Cae1", "rqi": "x4", "ty": 3, "rset": past, "pc": {"m2m:cnt": {"rn": "late"}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::REQUEST_TIMEOUT);
    assert_eq!(
        rsc_of(&retrieve(&mut c, "Cae1", "cse-in/a1/late", "x5")),
        rsc::NOT_FOUND
    );

    // A future rqet is fine.
    let future = format_timestamp(now() + TimeDelta::seconds(60));
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 1, "to": "cse-in/a1", "fr": "Cae1", "rqi": "x6", "ty": 3, "rqet": future, "pc": {"m2m:cnt": {"rn": "ontime"}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
    // An unparsable one is a bad request.
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 2, "to": "cse-in", "fr": "Cae1", "rqi": "x7", "rqet": "tomorrow"}),
    );
    assert_eq!(rsc_of(&rsp), rsc::BAD_REQUEST);
}

// ------------------------------------------------------------ originator check (R2 8.2)

#[test]
fn spoofed_from_is_4103_and_not_executed() {
    let mut c = core();
    register(&mut c, "Cae1", "a1");
    register(&mut c, "Cevil", "evil");
    let before = c.stats().executed;
    // Cevil publishes on its own topic but claims to be Cae1.
    let (o, rsp) = send(
        &mut c,
        &topic("Cevil", Some(JSON)),
        json!({"op": 1, "to": "cse-in/a1", "fr": "Cae1", "rqi": "s1", "ty": 3, "pc": {"m2m:cnt": {"rn": "planted"}}}),
        JSON,
    );
    assert_eq!(o.topic, "/oneM2M/resp/Cevil/id-in/json");
    assert_eq!(rsc_of(&rsp), rsc::ORIGINATOR_HAS_NO_PRIVILEGE);
    assert_eq!(c.stats().executed, before);
    assert_eq!(c.stats().unauthorized, 1);
    assert_eq!(
        rsc_of(&retrieve(&mut c, "Cae1", "cse-in/a1/planted", "s2")),
        rsc::NOT_FOUND
    );
    // SP-relative From maps to the segment "id-in:Cae1", which is not "Cae1" either.
    let rsp = ae_req(
        &mut c,
        "Cae1",
        json!({"op": 2, "to": "cse-in", "fr": "/id-in/Cae1", "rqi": "s3"}),
    );
    assert_eq!(rsc_of(&rsp), rsc::ORIGINATOR_HAS_NO_PRIVILEGE);
    // ... but on its own topic the SP-relative form is accepted.
    let rsp = send(
        &mut c,
        &topic("id-in:Cae1", Some(JSON)),
        json!({"op": 2, "to": "cse-in", "fr": "/id-in/Cae1", "rqi": "s4"}),
        JSON,
    )
    .1;
    assert_eq!(rsc_of(&rsp), rsc::OK, "{rsp:?}");
}

// ------------------------------------------------------------ duplicates

#[test]
fn duplicate_request_gets_the_same_response_and_runs_once() {
    let mut c = core();
    register(&mut c, "Cae1", "a1");
    create_cnt(&mut c, "Cae1", "cse-in/a1", "cnt1", "c1");
    let executed = c.stats().executed;
    let req = json!({"op": 1, "to": "cse-in/a1/cnt1", "fr": "Cae1", "rqi": "dup-1", "ty": 4, "pc": {"m2m:cin": {"con": "once"}}});
    let first = send_raw(&mut c, &topic("Cae1", Some(JSON)), req.clone(), JSON);
    let second = send_raw(&mut c, &topic("Cae1", Some(JSON)), req, JSON);
    assert_eq!(first, second);
    assert_eq!(c.stats().executed, executed + 1);
    assert_eq!(c.stats().duplicates_suppressed, 1);
    assert_eq!(
        pc_attr(
            &retrieve(&mut c, "Cae1", "cse-in/a1/cnt1", "c2"),
            "m2m:cnt",
            "cni"
        ),
        &json!(1)
    );
}

#[test]
fn anonymous_registrations_with_the_same_rqi_are_not_duplicates() {
    let mut c = core();
    let a = send(
        &mut c,
        &topic("C", Some(JSON)),
        create_ae_req("C", "reg", "a1"),
        JSON,
    )
    .1;
    let b = send(
        &mut c,
        &topic("C", Some(JSON)),
        create_ae_req("C", "reg", "a2"),
        JSON,
    )
    .1;
    assert_ne!(pc_attr(&a, "m2m:ae", "aei"), pc_attr(&b, "m2m:ae", "aei"));
    // The identical redelivery is one.
    let again = send(
        &mut c,
        &topic("C", Some(JSON)),
        create_ae_req("C", "reg", "a2"),
        JSON,
    )
    .1;
    assert_eq!(again, b);
    assert_eq!(c.stats().duplicates_suppressed, 1);
}

// ------------------------------------------------------------ initial registration (R2 7.4.4)

#[test]
fn reg_req_with_allowed_credential_registers_on_reg_resp() {
    let mut c = core();
    let (o, rsp) = send(
        &mut c,
        "/oneM2M/reg_req/cred-ok/id-in/json",
        create_ae_req("C", "g1", "a1"),
        JSON,
    );
    assert_eq!(o.topic, "/oneM2M/reg_resp/cred-ok/id-in/json");
    assert_eq!(rsc_of(&rsp), rsc::CREATED, "{rsp:?}");
    let aei = pc_attr(&rsp, "m2m:ae", "aei").as_str().unwrap().to_string();
    assert!(aei.starts_with('C'));
    assert_eq!(rsc_of(&retrieve(&mut c, &aei, "cse-in/a1", "g2")), rsc::OK);
    // XML, no suffix: mirrored.
    let (o, rsp) = send(
        &mut c,
        "/oneM2M/reg_req/cred-ok/id-in/xml",
        create_ae_req("C", "g3", "a2"),
        XML,
    );
    assert_eq!(o.topic, "/oneM2M/reg_resp/cred-ok/id-in/xml");
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
}

#[test]
fn reg_req_with_unknown_credential_is_rejected_and_not_executed() {
    let mut c = core();
    let (o, rsp) = send(
        &mut c,
        "/oneM2M/reg_req/cred-bad/id-in/json",
        create_ae_req("C", "g1", "a1"),
        JSON,
    );
    assert_eq!(o.topic, "/oneM2M/reg_resp/cred-bad/id-in/json");
    assert_eq!(rsc_of(&rsp), 4126);
    assert_eq!(c.stats().executed, 0);
    assert_eq!(c.stats().unauthorized, 1);
}

#[test]
fn credential_with_slash_is_matched_in_its_colon_segment_form() {
    let mut c = CseCore::new(&RefCseConfig {
        credential_allow_list: vec!["sp/cred-2".into()],
        ..RefCseConfig::default()
    });
    let (o, rsp) = send(
        &mut c,
        "/oneM2M/reg_req/sp:cred-2/id-in/json",
        create_ae_req("C", "g1", "a1"),
        JSON,
    );
    assert_eq!(o.topic, "/oneM2M/reg_resp/sp:cred-2/id-in/json");
    assert_eq!(rsc_of(&rsp), rsc::CREATED, "{rsp:?}");
    let (_, rsp) = send(
        &mut c,
        "/oneM2M/reg_req/sp:cred-3/id-in/json",
        create_ae_req("C", "g2", "a2"),
        JSON,
    );
    assert_eq!(rsc_of(&rsp), 4126);
}

#[test]
fn reg_req_other_than_create_ae_is_rejected() {
    let mut c = core();
    let (_, rsp) = send(
        &mut c,
        "/oneM2M/reg_req/cred-ok/id-in/json",
        json!({"op": 2, "to": "cse-in", "fr": "C", "rqi": "g1"}),
        JSON,
    );
    assert_eq!(rsc_of(&rsp), rsc::OPERATION_NOT_ALLOWED);
    assert_eq!(c.stats().executed, 0);
}

// ------------------------------------------------------------ malformed input & topics

#[test]
fn undecodable_payload_is_4000_and_the_cse_stays_alive() {
    let mut c = core();
    let out = c.handle("/oneM2M/req/Cae1/id-in/json", b"{not json", now());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, "/oneM2M/resp/Cae1/id-in/json");
    let rsp = decode_map(&out[0].payload, JSON).unwrap();
    assert_eq!(rsc_of(&rsp), rsc::BAD_REQUEST);
    assert!(!rsp.contains_key("rqi"));
    // A map with a badly typed parameter: the rqi is recovered.
    let out = c.handle(
        "/oneM2M/req/Cae1/id-in/json",
        br#"{"op":"create","rqi":"m1","fr":"Cae1","to":"cse-in"}"#,
        now(),
    );
    let rsp = decode_map(&out[0].payload, JSON).unwrap();
    assert_eq!(rsc_of(&rsp), rsc::BAD_REQUEST);
    assert_eq!(rsp["rqi"], "m1");
    // Garbage as CBOR and XML too.
    for ser in [CBOR, XML] {
        let out = c.handle(
            &format!("/oneM2M/req/Cae1/id-in/{ser}"),
            b"\xff\x00garbage<",
            now(),
        );
        assert_eq!(
            rsc_of(&decode_map(&out[0].payload, ser).unwrap()),
            rsc::BAD_REQUEST
        );
    }
    // Missing mandatory parameter.
    let rsp = send(
        &mut c,
        &topic("Cae1", Some(JSON)),
        json!({"op": 2, "fr": "Cae1", "rqi": "m2"}),
        JSON,
    )
    .1;
    assert_eq!(rsc_of(&rsp), rsc::BAD_REQUEST);
    assert_eq!(c.stats().malformed, 5);
    // Still serving.
    register(&mut c, "Cae1", "a1");
}

#[test]
fn foreign_and_malformed_topics_are_dropped() {
    let mut c = core();
    let payload = encode_map(
        &obj(create_ae_req("Cae1", "r1", "a1")),
        JSON,
        PrimitiveKind::Request,
    )
    .unwrap();
    for t in [
        "/oneM2M/req/Cae1/id-in/yaml",
        "/oneM2M/req/Cae1/id-other/json",
        "/oneM2M/req/Cae1",
        "oneM2M/req/Cae1/id-in",
        "/other/req/Cae1/id-in",
    ] {
        assert!(c.handle(t, &payload, now()).is_empty(), "{t}");
    }
    assert_eq!(c.stats().dropped, 5);
    assert!(c
        .handle("/oneM2M/resp/id-in/Cae1/json", &payload, now())
        .is_empty());
    assert_eq!(c.stats().ignored_responses, 1);
    assert_eq!(c.stats().executed, 0);
}

#[test]
fn r1_cse_drops_cbor_and_answers_json_and_xml() {
    let mut c = CseCore::new(&RefCseConfig {
        release: Release::R1,
        ..RefCseConfig::default()
    });
    let payload = encode_map(
        &obj(create_ae_req("Cae1", "r1", "a1")),
        CBOR,
        PrimitiveKind::Request,
    )
    .unwrap();
    assert!(c
        .handle("/oneM2M/req/Cae1/id-in/cbor", &payload, now())
        .is_empty());
    let (_, rsp) = send(
        &mut c,
        &topic("Cae1", Some(XML)),
        create_ae_req("Cae1", "r2", "a1"),
        XML,
    );
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
}

// ------------------------------------------------------------ faults: each flips its behaviour

#[test]
fn default_faults_are_all_off() {
    assert!(Faults::default().enabled().is_empty());
    let f: Faults = serde_json::from_value(json!({"omit_rqi": true})).unwrap();
    assert_eq!(f.enabled(), vec!["omit_rqi"]);
    assert!(
        serde_json::from_value::<Faults>(json!({"omit_rqj": true})).is_err(),
        "misspelt faults are errors"
    );
}

fn one_ae_request(faults: Faults, ser: Serialization) -> (Outgoing, Vec<u8>) {
    let mut c = with_faults(faults);
    let mut out = send_raw(
        &mut c,
        &topic("Cae1", Some(ser)),
        create_ae_req("Cae1", "r1", "a1"),
        ser,
    );
    assert_eq!(out.len(), 1);
    let o = out.remove(0);
    let payload = o.payload.clone();
    (o, payload)
}

#[test]
fn fault_response_topic_swapped() {
    let (o, _) = one_ae_request(Faults::default(), JSON);
    assert_eq!(o.topic, "/oneM2M/resp/Cae1/id-in/json");
    let (o, _) = one_ae_request(
        Faults {
            response_topic_swapped: true,
            ..Faults::default()
        },
        JSON,
    );
    assert_eq!(o.topic, "/oneM2M/resp/id-in/Cae1/json");
}

#[test]
fn fault_response_without_suffix() {
    let (o, _) = one_ae_request(
        Faults {
            response_without_suffix: true,
            ..Faults::default()
        },
        XML,
    );
    assert_eq!(o.topic, "/oneM2M/resp/Cae1/id-in");
}

#[test]
fn fault_omit_rqi_and_omit_rsc() {
    let (_, p) = one_ae_request(
        Faults {
            omit_rqi: true,
            ..Faults::default()
        },
        JSON,
    );
    let rsp = decode_map(&p, JSON).unwrap();
    assert!(!rsp.contains_key("rqi") && rsp.contains_key("rsc"));
    let (_, p) = one_ae_request(
        Faults {
            omit_rsc: true,
            ..Faults::default()
        },
        JSON,
    );
    let rsp = decode_map(&p, JSON).unwrap();
    assert!(!rsp.contains_key("rsc") && rsp.contains_key("rqi"));
}

#[test]
fn fault_ignore_expiry_executes_expired_requests() {
    let mut c = with_faults(Faults {
        ignore_expiry: true,
        ..Faults::default()
    });
    let mut req = obj(create_ae_req("Cae1", "r1", "a1"));
    req.insert(
        "rqet".into(),
        json!(format_timestamp(now() - TimeDelta::seconds(5))),
    );
    let (_, rsp) = send(&mut c, &topic("Cae1", Some(JSON)), Value::Object(req), JSON);
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
    assert_eq!(c.stats().expired_rejected, 0);
}

#[test]
fn fault_respond_json_always() {
    let (o, p) = one_ae_request(
        Faults {
            respond_json_always: true,
            ..Faults::default()
        },
        XML,
    );
    assert_eq!(o.topic, "/oneM2M/resp/Cae1/id-in/json");
    assert!(decode_map(&p, XML).is_err());
    assert_eq!(rsc_of(&decode_map(&p, JSON).unwrap()), rsc::CREATED);
    let (_, p) = one_ae_request(
        Faults {
            respond_json_always: true,
            ..Faults::default()
        },
        CBOR,
    );
    assert_eq!(rsc_of(&decode_map(&p, JSON).unwrap()), rsc::CREATED);
}

#[test]
fn fault_qos0_and_retain_responses() {
    let (o, _) = one_ae_request(
        Faults {
            qos0_responses: true,
            ..Faults::default()
        },
        JSON,
    );
    assert_eq!((o.qos, o.retain), (0, false));
    let (o, _) = one_ae_request(
        Faults {
            retain_responses: true,
            ..Faults::default()
        },
        JSON,
    );
    assert_eq!((o.qos, o.retain), (1, true));
}

#[test]
fn fault_trust_fr_over_topic_executes_spoofed_requests() {
    let mut c = with_faults(Faults {
        trust_fr_over_topic: true,
        ..Faults::default()
    });
    register(&mut c, "Cae1", "a1");
    let rsp = send(
        &mut c,
        &topic("Cevil", Some(JSON)),
        json!({"op": 1, "to": "cse-in/a1", "fr": "Cae1", "rqi": "s1", "ty": 3, "pc": {"m2m:cnt": {"rn": "planted"}}}),
        JSON,
    )
    .1;
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
    assert_eq!(
        rsc_of(&retrieve(&mut c, "Cae1", "cse-in/a1/planted", "s2")),
        rsc::OK
    );
}

#[test]
fn variant_execute_duplicates_re_executes_and_answers_them() {
    let mut c = CseCore::new(&RefCseConfig {
        variants: Variants {
            execute_duplicates: true,
            ..Variants::default()
        },
        ..RefCseConfig::default()
    });
    register(&mut c, "Cae1", "a1");
    create_cnt(&mut c, "Cae1", "cse-in/a1", "cnt1", "c1");
    let req = json!({"op": 1, "to": "cse-in/a1/cnt1", "fr": "Cae1", "rqi": "dup-1", "ty": 4, "pc": {"m2m:cin": {"con": "once"}}});
    assert_eq!(
        send_raw(&mut c, &topic("Cae1", Some(JSON)), req.clone(), JSON).len(),
        1
    );
    assert_eq!(
        send_raw(&mut c, &topic("Cae1", Some(JSON)), req, JSON).len(),
        1
    );
    assert_eq!(c.stats().duplicates_suppressed, 0);
    assert_eq!(
        pc_attr(
            &retrieve(&mut c, "Cae1", "cse-in/a1/cnt1", "c2"),
            "m2m:cnt",
            "cni"
        ),
        &json!(2)
    );
}

#[test]
fn fault_ignore_duplicates_executes_once_and_answers_once() {
    let mut c = with_faults(Faults {
        ignore_duplicates: true,
        ..Faults::default()
    });
    register(&mut c, "Cae1", "a1");
    create_cnt(&mut c, "Cae1", "cse-in/a1", "cnt1", "c1");
    let req = json!({"op": 1, "to": "cse-in/a1/cnt1", "fr": "Cae1", "rqi": "dup-1", "ty": 4, "pc": {"m2m:cin": {"con": "once"}}});
    assert_eq!(
        send_raw(&mut c, &topic("Cae1", Some(JSON)), req.clone(), JSON).len(),
        1
    );
    assert!(send_raw(&mut c, &topic("Cae1", Some(JSON)), req, JSON).is_empty());
    assert_eq!(c.stats().duplicates_suppressed, 1);
}

#[test]
fn fault_ignore_credential_allow_list() {
    let mut c = with_faults(Faults {
        ignore_credential_allow_list: true,
        ..Faults::default()
    });
    let (_, rsp) = send(
        &mut c,
        "/oneM2M/reg_req/cred-bad/id-in/json",
        create_ae_req("C", "g1", "a1"),
        JSON,
    );
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
}

#[test]
fn core_faults_can_be_switched_at_runtime() {
    let mut c = core();
    c.set_faults(Faults {
        omit_rqi: true,
        ..Faults::default()
    });
    let (_, rsp) = send(
        &mut c,
        &topic("Cae1", Some(JSON)),
        create_ae_req("Cae1", "r1", "a1"),
        JSON,
    );
    assert!(!rsp.contains_key("rqi"));
}

// ------------------------------------------------------------ connection plan and its faults

#[test]
fn default_connect_plan_follows_the_binding() {
    let p = connect_plan(&RefCseConfig::default()).unwrap();
    assert_eq!(p.client_id, "C:id-in");
    assert!(!p.clean_session);
    assert_eq!(p.will, None);
    assert_eq!(p.keep_alive_secs, 60);
    assert_eq!(
        p.filters(),
        vec![
            "/oneM2M/req/+/id-in/#",
            "/oneM2M/resp/id-in/#",
            "/oneM2M/reg_req/+/id-in/#"
        ]
    );
    let p = connect_plan(&RefCseConfig {
        release: Release::R1,
        ..RefCseConfig::default()
    })
    .unwrap();
    assert_eq!(p.client_id, "C::id-in");
}

#[test]
fn connect_plan_rejects_bad_cse_ids() {
    for id in ["/", "/a/b", "/a+b", ""] {
        let cfg = RefCseConfig {
            cse_id: id.into(),
            ..RefCseConfig::default()
        };
        assert!(connect_plan(&cfg).is_err(), "{id:?}");
    }
}

fn plan(f: Faults) -> m2mspec_refcse::SessionPlan {
    connect_plan(&cfg(f)).unwrap()
}

#[test]
fn fault_clean_session_true() {
    assert!(
        plan(Faults {
            clean_session_true: true,
            ..Faults::default()
        })
        .clean_session
    );
}

#[test]
fn fault_will() {
    assert!(plan(Faults {
        will: true,
        ..Faults::default()
    })
    .will
    .is_some());
}

#[test]
fn fault_client_id_without_prefix() {
    assert_eq!(
        plan(Faults {
            client_id_without_prefix: true,
            ..Faults::default()
        })
        .client_id,
        "id-in"
    );
}

#[test]
fn fault_client_id_wrong_release() {
    assert_eq!(
        plan(Faults {
            client_id_wrong_release: true,
            ..Faults::default()
        })
        .client_id,
        "C::id-in"
    );
    let r1 = RefCseConfig {
        release: Release::R1,
        faults: Faults {
            client_id_wrong_release: true,
            ..Faults::default()
        },
        ..RefCseConfig::default()
    };
    assert_eq!(connect_plan(&r1).unwrap().client_id, "C:id-in");
}

#[test]
fn fault_no_request_subscription() {
    let subs = plan(Faults {
        no_request_subscription: true,
        ..Faults::default()
    })
    .filters();
    assert!(
        !subs.iter().any(|s| s.starts_with("/oneM2M/req/")),
        "{subs:?}"
    );
}

#[test]
fn fault_subscribe_without_wildcard_suffix() {
    let subs = plan(Faults {
        subscribe_without_wildcard_suffix: true,
        ..Faults::default()
    })
    .filters();
    assert!(
        subs.contains(&"/oneM2M/req/+/id-in".to_string()),
        "{subs:?}"
    );
    assert!(
        !subs.contains(&"/oneM2M/req/+/id-in/#".to_string()),
        "{subs:?}"
    );
}

#[test]
fn handles_can_cross_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<m2mspec_refcse::RefCse>();
    send_sync::<CseCore>();
}

#[test]
fn variants_change_only_what_the_texts_leave_open() {
    let with = |variants: Variants| RefCseConfig {
        variants,
        ..RefCseConfig::default()
    };
    // pointOfAccess: an http entry first, the MQTT server by the name localhost.
    let mut c = CseCore::new(&with(Variants {
        poa_other_order: true,
        ..Variants::default()
    }));
    register(&mut c, "Cae1", "a1");
    let rsp = retrieve(&mut c, "Cae1", "cse-in", "poa");
    assert_eq!(
        pc_attr(&rsp, "m2m:cb", "poa"),
        &json!(["http://127.0.0.1:8080/cse-in", "mqtt://localhost:1883"])
    );
    // Reconnect delays.
    let fast = with(Variants {
        reconnect_fast: true,
        ..Variants::default()
    });
    let slow = with(Variants {
        reconnect_slow: true,
        ..Variants::default()
    });
    assert!(fast.reconnect_delay() < RefCseConfig::default().reconnect_delay());
    assert!(slow.reconnect_delay() > std::time::Duration::from_secs(5));
    // The connection is planned as usual.
    assert_eq!(
        connect_plan(&slow).unwrap(),
        connect_plan(&RefCseConfig::default()).unwrap()
    );
}

#[test]
fn subscription_faults_show_in_the_plan() {
    let p = connect_plan(&cfg(Faults {
        subscribe_qos0: true,
        ..Faults::default()
    }))
    .unwrap();
    assert!(p.subscriptions.iter().all(|s| s.qos == 0));
    let p = connect_plan(&cfg(Faults {
        subscribe_all_requests: true,
        ..Faults::default()
    }))
    .unwrap();
    assert!(p.filters().contains(&"/oneM2M/req/#".to_string()));
}
