//! Unit tests (no broker) of the reference CSE's access control, <subscription> resources and
//! NOTIFY requests, R1 content-format negotiation, and of every fault that breaks them or the
//! registration, primitive, topic and pointOfAccess behaviour the CSE conformance cases check.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use m2mspec_onem2m::rsc;
use m2mspec_onem2m::serialization::{decode_map, encode_map, PrimitiveKind, Serialization};
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
        credential_allow_list: vec!["cred-ok".into(), "org:dev/1".into()],
        ..RefCseConfig::default()
    }
}

fn core_with(faults: Faults) -> CseCore {
    CseCore::new(&cfg(faults))
}

fn core() -> CseCore {
    core_with(Faults::default())
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn payload(req: Value, ser: Serialization) -> Vec<u8> {
    encode_map(&obj(req), ser, PrimitiveKind::Request).expect("encode request")
}

/// Everything the CSE publishes for one request.
fn send_all(c: &mut CseCore, topic: &str, req: Value, ser: Serialization) -> Vec<Outgoing> {
    c.handle(topic, &payload(req, ser), now())
}

fn decode(o: &Outgoing) -> Map<String, Value> {
    let ser = match o.topic.rsplit('/').next() {
        Some("xml") => XML,
        Some("cbor") => CBOR,
        _ => JSON,
    };
    decode_map(&o.payload, ser).unwrap_or_else(|e| panic!("{} is not {ser}: {e}", o.topic))
}

fn topic(originator: &str) -> String {
    format!("/oneM2M/req/{originator}/id-in/json")
}

/// An AE-ID's topic segment.
fn seg(ae: &str) -> String {
    ae.trim_start_matches('/').replace('/', ":")
}

/// The only PUBLISH: the response to `req`.
fn req1(c: &mut CseCore, ae: &str, req: Value) -> Map<String, Value> {
    let out = send_all(c, &topic(&seg(ae)), req, JSON);
    assert_eq!(out.len(), 1, "one response expected: {out:?}");
    decode(&out[0])
}

fn rsc_of(m: &Map<String, Value>) -> i64 {
    m.get("rsc")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("no rsc in {m:?}"))
}

fn register(c: &mut CseCore, ae: &str, rn: &str) {
    let rsp = req1(
        c,
        ae,
        json!({"op": 1, "to": "cse-in", "fr": ae, "rqi": format!("reg-{rn}"), "ty": 2,
               "pc": {"m2m:ae": {"rn": rn, "api": "Nm2mspec", "rr": true, "srv": ["3"]}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::CREATED, "{rsp:?}");
}

fn create_cnt(c: &mut CseCore, ae: &str, to: &str, extra: Value) -> Map<String, Value> {
    let mut cnt = json!({"rn": "cnt1"});
    if let (Some(m), Value::Object(e)) = (cnt.as_object_mut(), extra) {
        m.extend(e);
    }
    req1(
        c,
        ae,
        json!({"op": 1, "to": to, "fr": ae, "rqi": format!("cnt-{to}"), "ty": 3, "pc": {"m2m:cnt": cnt}}),
    )
}

// ------------------------------------------------------------ access control policies

fn acp_setup(faults: Faults) -> CseCore {
    let mut c = core_with(faults);
    register(&mut c, "Cowner", "owner");
    register(&mut c, "Cother", "other");
    let acp = req1(
        &mut c,
        "Cowner",
        json!({"op": 1, "to": "cse-in/owner", "fr": "Cowner", "rqi": "acp", "ty": 1,
               "pc": {"m2m:acp": {"rn": "acp1",
                   "pv": {"acr": [{"acor": ["Cowner"], "acop": 63}]},
                   "pvs": {"acr": [{"acor": ["Cowner"], "acop": 63}]}}}}),
    );
    assert_eq!(rsc_of(&acp), rsc::CREATED, "{acp:?}");
    let acp_ri = acp["pc"]["m2m:acp"]["ri"].as_str().unwrap().to_string();
    let cnt = create_cnt(&mut c, "Cowner", "cse-in/owner", json!({"acpi": [acp_ri]}));
    assert_eq!(rsc_of(&cnt), rsc::CREATED, "{cnt:?}");
    c
}

#[test]
fn an_acp_grants_its_originators_only() {
    let mut c = acp_setup(Faults::default());
    for (op, rqi) in [(2, "r"), (4, "d")] {
        let rsp = req1(
            &mut c,
            "Cother",
            json!({"op": op, "to": "cse-in/owner/cnt1", "fr": "Cother", "rqi": rqi}),
        );
        assert_eq!(rsc_of(&rsp), rsc::ORIGINATOR_HAS_NO_PRIVILEGE, "{rsp:?}");
    }
    // A contentInstance falls under its container's policy.
    let rsp = req1(
        &mut c,
        "Cother",
        json!({"op": 1, "to": "cse-in/owner/cnt1", "fr": "Cother", "rqi": "cin", "ty": 4,
               "pc": {"m2m:cin": {"con": "x"}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::ORIGINATOR_HAS_NO_PRIVILEGE);
    // The ACP itself: its selfPrivileges.
    let rsp = req1(
        &mut c,
        "Cother",
        json!({"op": 2, "to": "cse-in/owner/acp1", "fr": "Cother", "rqi": "acp-r"}),
    );
    assert_eq!(rsc_of(&rsp), rsc::ORIGINATOR_HAS_NO_PRIVILEGE);
    // The owner may, in every AE-ID form.
    for (fr, rqi) in [("Cowner", "o1"), ("/id-in/Cowner", "o2")] {
        let out = send_all(
            &mut c,
            &topic(&seg(fr)),
            json!({"op": 2, "to": "cse-in/owner/cnt1", "fr": fr, "rqi": rqi}),
            JSON,
        );
        assert_eq!(rsc_of(&decode(&out[0])), rsc::OK);
    }
    let rsp = req1(
        &mut c,
        "Cowner",
        json!({"op": 4, "to": "cse-in/owner/cnt1", "fr": "Cowner", "rqi": "od"}),
    );
    assert_eq!(rsc_of(&rsp), rsc::DELETED);
}

#[test]
fn acp_needs_privileges_and_all_grants_everyone() {
    let mut c = core();
    register(&mut c, "Cowner", "owner");
    register(&mut c, "Cother", "other");
    let rsp = req1(
        &mut c,
        "Cowner",
        json!({"op": 1, "to": "cse-in/owner", "fr": "Cowner", "rqi": "bad", "ty": 1,
               "pc": {"m2m:acp": {"rn": "x", "pv": {"acr": [{"acor": ["Cowner"], "acop": 63}]}}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::BAD_REQUEST, "pvs is mandatory: {rsp:?}");
    let acp = req1(
        &mut c,
        "Cowner",
        json!({"op": 1, "to": "cse-in/owner", "fr": "Cowner", "rqi": "all", "ty": 1,
               "pc": {"m2m:acp": {"rn": "acp-all",
                   "pv": {"acr": [{"acor": ["all"], "acop": 2}]},
                   "pvs": {"acr": [{"acor": ["Cowner"], "acop": 63}]}}}}),
    );
    let ri = acp["pc"]["m2m:acp"]["ri"].as_str().unwrap().to_string();
    create_cnt(
        &mut c,
        "Cowner",
        "cse-in/owner",
        json!({"acpi": [format!("/id-in/{ri}")]}),
    );
    let get = json!({"op": 2, "to": "cse-in/owner/cnt1", "fr": "Cother", "rqi": "g"});
    assert_eq!(rsc_of(&req1(&mut c, "Cother", get)), rsc::OK);
    let del = json!({"op": 4, "to": "cse-in/owner/cnt1", "fr": "Cother", "rqi": "d"});
    assert_eq!(
        rsc_of(&req1(&mut c, "Cother", del)),
        rsc::ORIGINATOR_HAS_NO_PRIVILEGE,
        "acop 2 grants RETRIEVE only"
    );
}

#[test]
fn fault_ignore_acp() {
    let mut c = acp_setup(Faults {
        ignore_acp: true,
        ..Faults::default()
    });
    let rsp = req1(
        &mut c,
        "Cother",
        json!({"op": 4, "to": "cse-in/owner/cnt1", "fr": "Cother", "rqi": "d"}),
    );
    assert_eq!(rsc_of(&rsp), rsc::DELETED);
}

#[test]
fn fault_no_registration_check() {
    for (faults, want) in [
        (Faults::default(), rsc::ORIGINATOR_HAS_NO_PRIVILEGE),
        (
            Faults {
                no_registration_check: true,
                ..Faults::default()
            },
            rsc::CREATED,
        ),
    ] {
        let mut c = core_with(faults);
        register(&mut c, "Cowner", "owner");
        let rsp = create_cnt(&mut c, "Cstranger", "cse-in/owner", json!({}));
        assert_eq!(rsc_of(&rsp), want, "{rsp:?}");
    }
}

// ------------------------------------------------------------ subscriptions and NOTIFY

const TARGET: &str = "/id-in/Ctarget";

/// Owner with cnt1, a target AE (SP-relative AE-ID, registered over `target_ser`), and the
/// CREATE <subscription> for the target: returns the PUBLISHes of that CREATE.
fn subscribe_target(c: &mut CseCore, target_ser: Serialization) -> Vec<Outgoing> {
    register(c, "Cowner", "owner");
    create_cnt(c, "Cowner", "cse-in/owner", json!({}));
    let t = format!("/oneM2M/req/{}/id-in/{target_ser}", seg(TARGET));
    let out = send_all(
        c,
        &t,
        json!({"op": 1, "to": "cse-in", "fr": TARGET, "rqi": "treg", "ty": 2,
               "pc": {"m2m:ae": {"rn": "target", "api": "Nm2mspec", "rr": true, "srv": ["3"]}}}),
        target_ser,
    );
    assert_eq!(rsc_of(&decode(&out[0])), rsc::CREATED);
    send_all(
        c,
        &topic("Cowner"),
        json!({"op": 1, "to": "cse-in/owner/cnt1", "fr": "Cowner", "rqi": "sub", "ty": 23,
               "pc": {"m2m:sub": {"rn": "sub1", "nu": [TARGET], "enc": {"net": [3]}, "nct": 1}}}),
        JSON,
    )
}

/// The target's answer to a NOTIFY.
fn answer(c: &mut CseCore, notify: &Outgoing, rsc_code: i64) -> Vec<Outgoing> {
    let n = decode(notify);
    let ser = match notify.topic.rsplit('/').next() {
        Some("xml") => XML,
        Some("cbor") => CBOR,
        _ => JSON,
    };
    let t = notify.topic.replacen("/oneM2M/req/", "/oneM2M/resp/", 1);
    let rsp = obj(json!({"rsc": rsc_code, "rqi": n["rqi"], "to": n["fr"], "fr": n["to"]}));
    c.handle(
        &t,
        &encode_map(&rsp, ser, PrimitiveKind::Response).unwrap(),
        now(),
    )
}

#[test]
fn subscription_to_another_ae_is_verified_first_then_notifies_events() {
    let mut c = core();
    let out = subscribe_target(&mut c, JSON);
    // No answer yet: only the verification request, to the target.
    assert_eq!(out.len(), 1, "{out:?}");
    let vrq = &out[0];
    assert_eq!(vrq.topic, "/oneM2M/req/id-in/id-in:Ctarget/json");
    assert_eq!((vrq.qos, vrq.retain), (1, false));
    let n = decode(vrq);
    assert_eq!(n["op"], 5);
    assert_eq!(n["to"], TARGET);
    assert_eq!(n["fr"], "/id-in");
    assert!(n["rqi"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(n["pc"]["m2m:sgn"]["vrq"], true);
    assert_eq!(n["pc"]["m2m:sgn"]["sur"], "/id-in/cse-in/owner/cnt1/sub1");
    assert_eq!(c.pending_verifications(), 1);

    // The target's 2000 on /oneM2M/resp/id-in/<target>/json completes the CREATE.
    let out = answer(&mut c, vrq, rsc::OK);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, "/oneM2M/resp/Cowner/id-in/json");
    let rsp = decode(&out[0]);
    assert_eq!(rsc_of(&rsp), rsc::CREATED, "{rsp:?}");
    assert_eq!(rsp["rqi"], "sub");
    assert_eq!(rsp["pc"]["m2m:sub"]["nu"], json!([TARGET]));
    assert_eq!(c.pending_verifications(), 0);

    // A new contentInstance: the response to the owner, then the event notification.
    let out = send_all(
        &mut c,
        &topic("Cowner"),
        json!({"op": 1, "to": "cse-in/owner/cnt1", "fr": "Cowner", "rqi": "cin", "ty": 4,
               "pc": {"m2m:cin": {"con": "21.5"}}}),
        JSON,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(rsc_of(&decode(&out[0])), rsc::CREATED);
    let ev = decode(&out[1]);
    assert_eq!(out[1].topic, "/oneM2M/req/id-in/id-in:Ctarget/json");
    assert_eq!(ev["op"], 5);
    assert_eq!(ev["pc"]["m2m:sgn"]["nev"]["net"], 3);
    assert_eq!(ev["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"], "21.5");
    assert_eq!(ev["pc"]["m2m:sgn"]["sur"], "/id-in/cse-in/owner/cnt1/sub1");
    assert!(answer(&mut c, &out[1], rsc::OK).is_empty());
    let s = c.stats();
    assert_eq!(
        (s.notifications_sent, s.notification_responses),
        (2, 2),
        "{s:?}"
    );
    // The duplicate-answer cache holds the response only, not the notification.
    let dup = send_all(
        &mut c,
        &topic("Cowner"),
        json!({"op": 1, "to": "cse-in/owner/cnt1", "fr": "Cowner", "rqi": "cin", "ty": 4,
               "pc": {"m2m:cin": {"con": "21.5"}}}),
        JSON,
    );
    assert_eq!(dup.len(), 1);
    assert_eq!(dup[0].topic, "/oneM2M/resp/Cowner/id-in/json");
}

#[test]
fn notifications_use_the_targets_serialization_and_other_events() {
    let mut c = core();
    let out = subscribe_target(&mut c, CBOR);
    assert_eq!(out[0].topic, "/oneM2M/req/id-in/id-in:Ctarget/cbor");
    assert_eq!(decode(&out[0])["op"], 5);
    answer(&mut c, &out[0], rsc::OK);
    // nct 3 and net 1 / 4 on a second subscription.
    let out = send_all(
        &mut c,
        &topic("Cowner"),
        json!({"op": 1, "to": "cse-in/owner/cnt1", "fr": "Cowner", "rqi": "sub2", "ty": 23,
               "pc": {"m2m:sub": {"rn": "sub2", "nu": ["Cowner"], "enc": {"net": [1, 4]}, "nct": 3}}}),
        JSON,
    );
    // nu is the originator itself: no verification; sub1 (net 3) notifies the new child.
    assert_eq!(rsc_of(&decode(&out[0])), rsc::CREATED);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(
        decode(&out[1])["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:sub"]["rn"],
        "sub2"
    );
    let out = send_all(
        &mut c,
        &topic("Cowner"),
        json!({"op": 3, "to": "cse-in/owner/cnt1", "fr": "Cowner", "rqi": "upd",
               "pc": {"m2m:cnt": {"mni": 3}}}),
        JSON,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[1].topic, "/oneM2M/req/id-in/Cowner/json");
    let ev = decode(&out[1]);
    assert_eq!(ev["pc"]["m2m:sgn"]["nev"]["net"], 1);
    assert!(
        ev["pc"]["m2m:sgn"]["nev"]["rep"].is_string(),
        "nct 3: the ri only"
    );
}

#[test]
fn refused_unanswered_and_unreachable_verifications() {
    // Refused with 4101: answered 4101, nothing created.
    let mut c = core();
    let out = subscribe_target(&mut c, JSON);
    let out = answer(&mut c, &out[0], 4101);
    let rsp = decode(&out[0]);
    assert_eq!(rsc_of(&rsp), 4101);
    let get = json!({"op": 2, "to": "cse-in/owner/cnt1/sub1", "fr": "Cowner", "rqi": "g"});
    assert_eq!(rsc_of(&req1(&mut c, "Cowner", get)), rsc::NOT_FOUND);

    // Not answered: tick() ends it with 5204 once the timeout has passed.
    let mut c = core();
    subscribe_target(&mut c, JSON);
    assert!(c.tick(now() + TimeDelta::seconds(1)).is_empty());
    let out = c.tick(now() + TimeDelta::seconds(4));
    assert_eq!(out.len(), 1);
    assert_eq!(rsc_of(&decode(&out[0])), 5204);
    assert_eq!(c.stats().verifications_failed, 1);

    // A duplicate of a CREATE awaiting verification gets nothing (its answer comes later).
    let mut c = core();
    subscribe_target(&mut c, JSON);
    let dup = send_all(
        &mut c,
        &topic("Cowner"),
        json!({"op": 1, "to": "cse-in/owner/cnt1", "fr": "Cowner", "rqi": "sub", "ty": 23,
               "pc": {"m2m:sub": {"rn": "sub1", "nu": [TARGET], "enc": {"net": [3]}, "nct": 1}}}),
        JSON,
    );
    assert!(dup.is_empty(), "{dup:?}");

    // A target that is no registered AE: 5204 at once.
    let mut c = core();
    register(&mut c, "Cowner", "owner");
    create_cnt(&mut c, "Cowner", "cse-in/owner", json!({}));
    let rsp = req1(
        &mut c,
        "Cowner",
        json!({"op": 1, "to": "cse-in/owner/cnt1", "fr": "Cowner", "rqi": "s", "ty": 23,
               "pc": {"m2m:sub": {"nu": ["Cnobody"]}}}),
    );
    assert_eq!(rsc_of(&rsp), 5204, "{rsp:?}");
}

#[test]
fn a_request_from_the_cse_itself_is_dropped() {
    let mut c = core();
    let out = send_all(
        &mut c,
        "/oneM2M/req/Cx/id-in/json",
        json!({"op": 5, "to": "Cx", "fr": "/id-in", "rqi": "loop", "pc": {}}),
        JSON,
    );
    assert!(out.is_empty());
    let out = send_all(
        &mut c,
        "/oneM2M/req/id-in/id-in/json",
        json!({"op": 2, "to": "cse-in", "fr": "Cx", "rqi": "loop2"}),
        JSON,
    );
    assert!(out.is_empty());
    assert_eq!(c.stats().dropped, 2);
}

fn notify_fault(f: Faults) -> (CseCore, Vec<Outgoing>) {
    let mut c = core_with(f);
    let out = subscribe_target(&mut c, JSON);
    (c, out)
}

#[test]
fn fault_notify_topic_swapped_and_topic_ids() {
    let (_, out) = notify_fault(Faults {
        notify_topic_swapped: true,
        ..Faults::default()
    });
    assert_eq!(out[0].topic, "/oneM2M/req/id-in:Ctarget/id-in/json");
    let (_, out) = notify_fault(Faults {
        topic_own_id_unmapped: true,
        ..Faults::default()
    });
    assert_eq!(out[0].topic, "/oneM2M/req//id-in/id-in:Ctarget/json");
    let (_, out) = notify_fault(Faults {
        ae_id_slash_unmapped: true,
        ..Faults::default()
    });
    assert_eq!(out[0].topic, "/oneM2M/req/id-in/id-in/Ctarget/json");
}

#[test]
fn fault_notify_omit_rqi_qos0_payload_mismatch() {
    let (_, out) = notify_fault(Faults {
        notify_omit_rqi: true,
        ..Faults::default()
    });
    assert!(!decode(&out[0]).contains_key("rqi"));
    let (_, out) = notify_fault(Faults {
        notify_qos0: true,
        ..Faults::default()
    });
    assert_eq!(out[0].qos, 0);
    let (_, out) = notify_fault(Faults {
        notify_payload_mismatch: true,
        ..Faults::default()
    });
    assert!(out[0].topic.ends_with("/json"));
    assert!(decode_map(&out[0].payload, JSON).is_err());
    assert!(decode_map(&out[0].payload, CBOR).is_ok());
}

#[test]
fn fault_notify_resource_id_only_and_ignore_verification_result() {
    let (mut c, out) = notify_fault(Faults {
        notify_resource_id_only: true,
        ..Faults::default()
    });
    answer(&mut c, &out[0], rsc::OK);
    let out = send_all(
        &mut c,
        &topic("Cowner"),
        json!({"op": 1, "to": "cse-in/owner/cnt1", "fr": "Cowner", "rqi": "cin", "ty": 4,
               "pc": {"m2m:cin": {"con": "21.5"}}}),
        JSON,
    );
    assert!(decode(&out[1])["pc"]["m2m:sgn"]["nev"]["rep"].is_string());

    let (mut c, out) = notify_fault(Faults {
        ignore_verification_result: true,
        ..Faults::default()
    });
    let out = answer(&mut c, &out[0], 4101);
    assert_eq!(rsc_of(&decode(&out[0])), rsc::CREATED);
}

// ------------------------------------------------------------ registration faults

fn reg_req(c: &mut CseCore, cred_seg: &str, req: Value) -> Vec<Outgoing> {
    send_all(
        c,
        &format!("/oneM2M/reg_req/{cred_seg}/id-in/json"),
        req,
        JSON,
    )
}

fn register_anonymous(rqi: &str) -> Value {
    json!({"op": 1, "to": "cse-in", "fr": "C", "rqi": rqi, "ty": 2,
           "pc": {"m2m:ae": {"rn": rqi, "api": "Nm2mspec", "rr": true, "srv": ["3"]}}})
}

#[test]
fn registration_faults() {
    let out = reg_req(&mut core(), "org:dev:1", register_anonymous("a"));
    assert_eq!(out[0].topic, "/oneM2M/reg_resp/org:dev:1/id-in/json");
    let rsp = decode(&out[0]);
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
    assert!(rsp["pc"]["m2m:ae"]["aei"].is_string());

    let f = |faults: Faults| core_with(faults);
    let out = reg_req(
        &mut f(Faults {
            reg_resp_on_resp_channel: true,
            ..Faults::default()
        }),
        "cred-ok",
        register_anonymous("b"),
    );
    assert_eq!(out[0].topic, "/oneM2M/resp/cred-ok/id-in/json");

    let out = reg_req(
        &mut f(Faults {
            reg_omit_aei: true,
            ..Faults::default()
        }),
        "cred-ok",
        register_anonymous("c"),
    );
    let rsp = decode(&out[0]);
    assert_eq!(rsc_of(&rsp), rsc::CREATED);
    assert!(rsp["pc"]["m2m:ae"].get("aei").is_none());

    let out = reg_req(
        &mut f(Faults {
            credential_slash_unmapped: true,
            ..Faults::default()
        }),
        "org:dev:1",
        register_anonymous("d"),
    );
    assert_eq!(rsc_of(&decode(&out[0])), 4126);

    let get = json!({"op": 2, "to": "cse-in", "fr": "Cx", "rqi": "g"});
    let out = reg_req(&mut core(), "cred-ok", get.clone());
    assert_eq!(rsc_of(&decode(&out[0])), rsc::OPERATION_NOT_ALLOWED);
    let out = reg_req(
        &mut f(Faults {
            reg_req_any_operation: true,
            ..Faults::default()
        }),
        "cred-ok",
        get,
    );
    assert_eq!(rsc_of(&decode(&out[0])), rsc::OK);
}

// ------------------------------------------------------------ primitive faults

#[test]
fn fault_lenient_mandatory_parameters_executes_incomplete_requests() {
    let cnt = json!({"op": 1, "to": "cse-in/a1", "fr": "Cae1", "rqi": "x", "ty": 3,
                     "pc": {"m2m:cnt": {"rn": "cnt1"}}});
    for param in ["op", "to", "fr", "rqi"] {
        let mut req = cnt.clone();
        req.as_object_mut().unwrap().remove(param);
        for (lenient, want) in [(false, rsc::BAD_REQUEST), (true, rsc::CREATED)] {
            let mut c = core_with(Faults {
                lenient_mandatory_parameters: lenient,
                ..Faults::default()
            });
            register(&mut c, "Cae1", "a1");
            let out = send_all(&mut c, &topic("Cae1"), req.clone(), JSON);
            assert_eq!(rsc_of(&decode(&out[0])), want, "{param} lenient={lenient}");
        }
    }
}

#[test]
fn fault_wedge_on_malformed() {
    for bad_topic in [
        "/oneM2M/req/Cbad/id-in/json/extra",
        "/oneM2M/req/Cbad/id-in/yaml",
    ] {
        let mut c = core_with(Faults {
            wedge_on_malformed: true,
            ..Faults::default()
        });
        register(&mut c, "Cae1", "a1");
        assert!(c.handle(bad_topic, b"{}", now()).is_empty());
        let out = send_all(
            &mut c,
            &topic("Cae1"),
            json!({"op": 2, "to": "cse-in", "fr": "Cae1", "rqi": "live"}),
            JSON,
        );
        assert!(out.is_empty(), "wedged after {bad_topic}");
    }
    let mut c = core();
    assert!(c
        .handle("/oneM2M/req/Cbad/id-in/yaml", b"{}", now())
        .is_empty());
    let out = c.handle("/oneM2M/req/Cbad/id-in/json", b"{\"op\": 1, ", now());
    assert_eq!(rsc_of(&decode(&out[0])), rsc::BAD_REQUEST, "still alive");
    let mut c = core_with(Faults {
        wedge_on_malformed: true,
        ..Faults::default()
    });
    assert!(c
        .handle("/oneM2M/req/Cbad/id-in/json", b"{\"op\": 1, ", now())
        .is_empty());
    register_fails_silently(&mut c);
}

#[test]
fn fault_wedge_on_oversized() {
    let live = json!({"op": 2, "to": "cse-in", "fr": "Cae1", "rqi": "live"});
    let big = vec![b'A'; 128 * 1024];
    for (wedge, answered) in [(false, true), (true, false)] {
        let mut c = core_with(Faults {
            wedge_on_oversized: wedge,
            ..Faults::default()
        });
        register(&mut c, "Cae1", "a1");
        // A small malformed payload does not strike; a large one does.
        let _ = c.handle("/oneM2M/req/Cbad/id-in/json", b"{", now());
        assert!(!send_all(&mut c, &topic("Cae1"), live.clone(), JSON).is_empty());
        let _ = c.handle("/oneM2M/req/Cbad/id-in/json", &big, now());
        let out = send_all(&mut c, &topic("Cae1"), live.clone(), JSON);
        assert_eq!(!out.is_empty(), answered, "wedge_on_oversized={wedge}");
    }
}

fn register_fails_silently(c: &mut CseCore) {
    let out = send_all(
        c,
        &topic("Cae1"),
        json!({"op": 1, "to": "cse-in", "fr": "Cae1", "rqi": "r", "ty": 2,
               "pc": {"m2m:ae": {"api": "Nx"}}}),
        JSON,
    );
    assert!(out.is_empty());
}

#[test]
fn fault_no_responses_and_qos2_responses() {
    let mut c = core_with(Faults {
        no_responses: true,
        ..Faults::default()
    });
    register_fails_silently(&mut c);
    assert_eq!(c.stats().executed, 1, "executed, not answered");
    let mut c = core_with(Faults {
        qos2_responses: true,
        ..Faults::default()
    });
    let out = send_all(
        &mut c,
        &topic("Cae1"),
        json!({"op": 2, "to": "cse-in", "fr": "Cae1", "rqi": "r"}),
        JSON,
    );
    assert_eq!(out[0].qos, 2);
}

#[test]
fn response_topic_faults_for_ids() {
    let mut c = core_with(Faults {
        topic_own_id_unmapped: true,
        ..Faults::default()
    });
    let out = send_all(
        &mut c,
        &topic("Cae1"),
        json!({"op": 2, "to": "cse-in", "fr": "Cae1", "rqi": "r"}),
        JSON,
    );
    assert_eq!(out[0].topic, "/oneM2M/resp/Cae1//id-in/json");
    let mut c = core_with(Faults {
        ae_id_slash_unmapped: true,
        ..Faults::default()
    });
    let out = send_all(
        &mut c,
        &topic("id-in:Cae1"),
        json!({"op": 2, "to": "cse-in", "fr": "/id-in/Cae1", "rqi": "r"}),
        JSON,
    );
    assert_eq!(out[0].topic, "/oneM2M/resp/id-in/Cae1/id-in/json");
}

#[test]
fn poa_and_its_faults() {
    let poa = |faults: Faults| {
        let mut c = CseCore::new(&RefCseConfig {
            broker: "127.0.0.1:41883".parse().unwrap(),
            faults,
            ..RefCseConfig::default()
        });
        register(&mut c, "Cae1", "a1");
        let rsp = req1(
            &mut c,
            "Cae1",
            json!({"op": 2, "to": "cse-in", "fr": "Cae1", "rqi": "cb"}),
        );
        rsp["pc"]["m2m:cb"]["poa"].clone()
    };
    assert_eq!(poa(Faults::default()), json!(["mqtt://127.0.0.1:41883"]));
    assert_eq!(
        poa(Faults {
            poa_mqtts_without_tls: true,
            ..Faults::default()
        }),
        json!(["mqtts://127.0.0.1:41883"])
    );
    assert_eq!(
        poa(Faults {
            poa_without_port: true,
            ..Faults::default()
        }),
        json!(["mqtt://127.0.0.1"])
    );
}

// ------------------------------------------------------------ R1 content-format negotiation

#[test]
fn r1_accept_negotiation_and_fault_ignore_accept() {
    let r1 = |faults: Faults| {
        let mut c = CseCore::new(&RefCseConfig {
            release: Release::R1,
            faults,
            ..RefCseConfig::default()
        });
        register(&mut c, "Cae1", "a1");
        c
    };
    let get = |accept: &str| json!({"op": 2, "to": "cse-in", "fr": "Cae1", "rqi": "g", "xM2M-Accept": accept});
    let out = send_all(
        &mut r1(Faults::default()),
        &topic("Cae1"),
        get("application/xml"),
        JSON,
    );
    assert_eq!(out[0].topic, "/oneM2M/resp/Cae1/id-in/xml");
    assert_eq!(rsc_of(&decode(&out[0])), rsc::OK);
    let out = send_all(
        &mut r1(Faults::default()),
        &topic("Cae1"),
        get("application/cbor"),
        JSON,
    );
    assert_eq!(out[0].topic, "/oneM2M/resp/Cae1/id-in/json");
    assert_eq!(rsc_of(&decode(&out[0])), rsc::NOT_ACCEPTABLE);
    let out = send_all(
        &mut r1(Faults {
            ignore_accept: true,
            ..Faults::default()
        }),
        &topic("Cae1"),
        get("application/xml"),
        JSON,
    );
    assert_eq!(out[0].topic, "/oneM2M/resp/Cae1/id-in/json");
    // R2 has no negotiation: the request's serialization.
    let mut c = core();
    register(&mut c, "Cae1", "a1");
    let out = send_all(&mut c, &topic("Cae1"), get("application/xml"), JSON);
    assert_eq!(out[0].topic, "/oneM2M/resp/Cae1/id-in/json");
}

// ------------------------------------------------------------ connection plan faults

#[test]
fn fault_subscription_plan() {
    let plan = |faults: Faults| connect_plan(&cfg(faults)).unwrap().filters();
    assert_eq!(
        plan(Faults {
            no_reg_req_subscription: true,
            ..Faults::default()
        }),
        vec!["/oneM2M/req/+/id-in/#", "/oneM2M/resp/id-in/#"]
    );
    assert_eq!(
        plan(Faults {
            no_response_subscription: true,
            ..Faults::default()
        }),
        vec!["/oneM2M/req/+/id-in/#", "/oneM2M/reg_req/+/id-in/#"]
    );
}

#[test]
fn every_fault_has_a_name() {
    let all: Faults = serde_json::from_value(
        serde_json::to_value(Faults::default())
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .map(|k| (k.clone(), Value::Bool(true)))
            .collect::<Map<String, Value>>()
            .into(),
    )
    .unwrap();
    let names = all.enabled();
    let fields = serde_json::to_value(Faults::default())
        .unwrap()
        .as_object()
        .unwrap()
        .len();
    assert_eq!(names.len(), fields, "Faults::enabled lists every switch");
}

// ------------------------------------------------------------ compliant-but-different variants

fn core_variant(variants: Variants) -> CseCore {
    CseCore::new(&RefCseConfig {
        variants,
        ..cfg(Faults::default())
    })
}

/// A registration asking for an AE-ID ("C" / "S"): the assigned AE-ID (aei).
fn assigned_ae_id(c: &mut CseCore, fr: &str) -> String {
    let rsp = req1(
        c,
        fr,
        json!({"op": 1, "to": "cse-in", "fr": fr, "rqi": format!("reg-{fr}"), "ty": 2,
               "pc": {"m2m:ae": {"rn": format!("ae{fr}"), "api": "Nm2mspec", "rr": true, "srv": ["3"]}}}),
    );
    assert_eq!(rsc_of(&rsp), rsc::CREATED, "{rsp:?}");
    rsp["pc"]["m2m:ae"]["aei"]
        .as_str()
        .expect("aei")
        .to_string()
}

#[test]
fn variant_ae_id_other_scheme_assigns_another_shape() {
    let hex16 = |s: &str| s.len() == 16 && s.chars().all(|c| c.is_ascii_hexdigit());
    let mut plain = core();
    let default_id = assigned_ae_id(&mut plain, "C");
    assert!(default_id.starts_with("Cae-"), "{default_id}");
    let mut c = core_variant(Variants {
        ae_id_other_scheme: true,
        ..Variants::default()
    });
    let (cid, sid) = (assigned_ae_id(&mut c, "C"), assigned_ae_id(&mut c, "S"));
    assert!(cid.strip_prefix('C').is_some_and(hex16), "{cid}");
    assert!(sid.strip_prefix('S').is_some_and(hex16), "{sid}");
    assert_ne!(cid[1..], sid[1..]);
}

#[test]
fn variant_other_optional_fields_answers_rsc_and_rqi_with_vsi() {
    let mut c = core_variant(Variants {
        other_optional_fields: true,
        ..Variants::default()
    });
    let rsp = req1(
        &mut c,
        "Cx",
        json!({"op": 2, "to": "cse-in", "fr": "Cx", "rqi": "get1"}),
    );
    assert_eq!(rsp.get("rqi"), Some(&json!("get1")), "{rsp:?}");
    assert!(rsp.contains_key("rsc"), "{rsp:?}");
    for absent in ["to", "fr", "ot"] {
        assert!(!rsp.contains_key(absent), "{absent} in {rsp:?}");
    }
    assert_eq!(rsp.get("vsi"), Some(&json!("m2mspec-refcse")), "{rsp:?}");
}

#[test]
fn variants_without_subscription_or_acp_answer_not_implemented() {
    let mut c = core_variant(Variants {
        no_subscription: true,
        no_access_control_policy: true,
        ..Variants::default()
    });
    let out = subscribe_target(&mut c, JSON);
    assert_eq!(
        out.len(),
        1,
        "only the answer, no verification request: {out:?}"
    );
    assert_eq!(rsc_of(&decode(&out[0])), rsc::NOT_IMPLEMENTED);
    let acp = req1(
        &mut c,
        "Cowner",
        json!({"op": 1, "to": "cse-in/owner", "fr": "Cowner", "rqi": "acp", "ty": 1,
               "pc": {"m2m:acp": {"rn": "acp1",
                   "pv": {"acr": [{"acor": ["Cowner"], "acop": 63}]},
                   "pvs": {"acr": [{"acor": ["Cowner"], "acop": 63}]}}}}),
    );
    assert_eq!(rsc_of(&acp), rsc::NOT_IMPLEMENTED, "{acp:?}");
}
