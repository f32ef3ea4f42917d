use super::*;
use crate::{AeFaults, AeVariants, CommandOutcome};
use chrono::TimeZone;
use m2mspec_onem2m::serialization::{decode_map, encode_request};
use std::net::SocketAddr;

fn cfg() -> RefAeConfig {
    RefAeConfig::default()
}

fn with_faults(f: impl FnOnce(&mut AeFaults)) -> RefAeConfig {
    let mut c = cfg();
    f(&mut c.faults);
    c
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

fn registered() -> Identity {
    Identity {
        ae_id: Some("Cm2mrefae".into()),
        ae_rn: None,
    }
}

fn unregistered() -> Identity {
    Identity::default()
}

fn prepare(c: &RefAeConfig, ident: &Identity, cmd: AeCommand) -> PreparedRequest {
    prepare_request(c, ident, &cmd, "rq-1", now()).expect("prepare")
}

fn decoded(p: &PreparedRequest) -> RequestPrimitive {
    decode_request(&p.publish.payload, p.serialization).expect("decodes")
}

fn container() -> AeCommand {
    AeCommand::CreateContainer { rn: "c1".into() }
}

// ---------------------------------------------------------------- configuration

#[test]
fn default_config_is_valid_and_as_documented() {
    let c = cfg();
    validate(&c).unwrap();
    assert_eq!(c.broker, SocketAddr::from(([127, 0, 0, 1], 1883)));
    assert_eq!(c.cse_id, "/id-in");
    assert_eq!(c.csebase, "cse-in");
    assert_eq!(c.ae_id.as_deref(), Some("Cm2mrefae"));
    assert_eq!(c.credential_id, "cred-ok");
    assert_eq!(c.app_id, "Nm2mspec");
    assert_eq!(c.release, Release::R2);
    assert_eq!(c.serialization, Serialization::Json);
    assert_eq!(c.keep_alive_secs, 60);
    assert_eq!(c.request_timeout, std::time::Duration::from_secs(5));
    assert!(c.faults.enabled().is_empty());
}

#[test]
fn invalid_configs_are_rejected() {
    let bad = [
        RefAeConfig {
            cse_id: "/".into(),
            ..cfg()
        },
        RefAeConfig {
            cse_id: "/sp/id-in".into(),
            ..cfg()
        },
        RefAeConfig {
            csebase: "".into(),
            ..cfg()
        },
        RefAeConfig {
            csebase: "a/b".into(),
            ..cfg()
        },
        RefAeConfig {
            credential_id: "".into(),
            ..cfg()
        },
        RefAeConfig {
            credential_id: "cred+1".into(),
            ..cfg()
        },
        RefAeConfig {
            ae_id: Some("C#1".into()),
            ..cfg()
        },
        RefAeConfig {
            app_id: "".into(),
            ..cfg()
        },
        // R1 6.5.4: XML or JSON only.
        RefAeConfig {
            release: Release::R1,
            serialization: Serialization::Cbor,
            ..cfg()
        },
    ];
    for c in bad {
        assert!(
            matches!(validate(&c), Err(RefAeError::InvalidConfig(_))),
            "{c:?}"
        );
        assert!(connect_plan(&c, c.ae_id.as_deref()).is_err());
    }
}

#[test]
fn config_deserializes_with_defaults_and_rejects_unknown_fields() {
    let c: RefAeConfig = serde_json::from_value(json!({
        "ae_id": null,
        "release": "R1",
        "serialization": "xml",
        "request_timeout_ms": 250,
        "faults": {"omit_rqi": true}
    }))
    .unwrap();
    assert_eq!(c.ae_id, None);
    assert_eq!(c.release, Release::R1);
    assert_eq!(c.serialization, Serialization::Xml);
    assert_eq!(c.request_timeout, std::time::Duration::from_millis(250));
    assert_eq!(c.faults.enabled(), ["omit_rqi"]);
    assert_eq!(c.csebase, "cse-in");
    let back: RefAeConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    assert!(serde_json::from_value::<RefAeConfig>(json!({"brokr": "1.2.3.4:1"})).is_err());
    assert!(serde_json::from_value::<AeFaults>(json!({"omit_rq": true})).is_err());
}

#[test]
fn every_fault_has_a_name() {
    let all: AeFaults = serde_json::from_value(
        serde_json::to_value(AeFaults::default())
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .map(|k| (k.clone(), Value::Bool(true)))
            .collect::<Map<_, _>>()
            .into(),
    )
    .unwrap();
    let names = all.enabled();
    let fields = serde_json::to_value(&all).unwrap();
    assert_eq!(names.len(), fields.as_object().unwrap().len());
    for n in names {
        assert_eq!(fields[n.as_str()], Value::Bool(true), "{n}");
    }
}

#[test]
fn commands_deserialize_from_scenario_tables() {
    let cases = [
        (r#"cmd = "register""#, AeCommand::Register),
        (
            r#"cmd = "create_container"
rn = "c1""#,
            container(),
        ),
        (
            r#"cmd = "create_content_instance"
container = "c1"
con = "21.5""#,
            AeCommand::CreateContentInstance {
                container: "c1".into(),
                con: "21.5".into(),
            },
        ),
        (
            r#"cmd = "retrieve"
to = "cse-in""#,
            AeCommand::Retrieve {
                to: "cse-in".into(),
            },
        ),
        (
            r#"cmd = "delete"
to = "cse-in/x""#,
            AeCommand::Delete {
                to: "cse-in/x".into(),
            },
        ),
        (r#"cmd = "leave""#, AeCommand::Leave),
        (r#"cmd = "disconnect""#, AeCommand::Disconnect),
        (r#"cmd = "reconnect""#, AeCommand::Reconnect),
        (r#"cmd = "forget_ae_id""#, AeCommand::ForgetAeId),
    ];
    for (text, want) in cases {
        let got: AeCommand = toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got, want);
        assert_eq!(
            got.is_request(),
            !matches!(
                want,
                AeCommand::Leave
                    | AeCommand::Disconnect
                    | AeCommand::Reconnect
                    | AeCommand::ForgetAeId
            )
        );
    }
    assert!(matches!(
        prepare_request(&cfg(), &registered(), &AeCommand::ForgetAeId, "r", now()),
        Err(RefAeError::NotARequest(AeCommand::ForgetAeId))
    ));
    assert!(toml::from_str::<AeCommand>(r#"cmd = "fly""#).is_err());
    assert!(toml::from_str::<AeCommand>("cmd = \"create_container\"").is_err());
    assert!(toml::from_str::<AeCommand>("cmd = \"retrieve\"\nto = \"x\"\nrn = \"y\"").is_err());
    // Inline-table form, as a scenario step would write it.
    #[derive(serde::Deserialize)]
    struct Step {
        ae: AeCommand,
    }
    let s: Step = toml::from_str(r#"ae = { cmd = "create_container", rn = "c1" }"#).unwrap();
    assert_eq!(s.ae, container());
    assert_eq!(
        serde_json::to_value(CommandOutcome::default()).unwrap(),
        json!({"rsc": null, "response": null})
    );
}

// ---------------------------------------------------------------- connect plan

#[test]
fn connect_plan_with_ae_id_r2() {
    let p = connect_plan(&cfg(), Some("Cm2mrefae")).unwrap();
    assert_eq!(p.client_id, "A:Cm2mrefae");
    assert!(!p.clean_session, "R2 7.3.3: Clean Session false");
    assert_eq!(p.will, None, "R2 7.3.3: no Will");
    assert_eq!(p.keep_alive_secs, 60);
    assert_eq!(
        p.filters(),
        ["/oneM2M/resp/Cm2mrefae/#", "/oneM2M/req/+/Cm2mrefae/#"]
    );
    assert_eq!((p.username, p.password), (None, None));
}

#[test]
fn connect_plan_r1_prefix() {
    let c = RefAeConfig {
        release: Release::R1,
        ..cfg()
    };
    assert_eq!(
        connect_plan(&c, Some("Cm2mrefae")).unwrap().client_id,
        "A::Cm2mrefae"
    );
}

#[test]
fn connect_plan_maps_sp_relative_ae_ids_in_filters_only() {
    let p = connect_plan(&cfg(), Some("/id-in/Cae1")).unwrap();
    assert_eq!(p.client_id, "A:/id-in/Cae1");
    assert_eq!(
        p.filters(),
        ["/oneM2M/resp/id-in:Cae1/#", "/oneM2M/req/+/id-in:Cae1/#"]
    );
}

#[test]
fn connect_plan_before_registration_uses_the_credential() {
    let p = connect_plan(&cfg(), None).unwrap();
    assert_eq!(p.client_id, "cred-ok");
    assert!(!p.clean_session);
    assert_eq!(p.filters(), ["/oneM2M/reg_resp/cred-ok/#"]);
    let c = RefAeConfig {
        credential_id: "org/dev/7".into(),
        ..cfg()
    };
    let p = connect_plan(&c, None).unwrap();
    assert_eq!(p.client_id, "org:dev:7");
    assert_eq!(p.filters(), ["/oneM2M/reg_resp/org:dev:7/#"]);
    // The prefix faults concern AE-IDs only.
    let c = with_faults(|f| f.client_id_without_prefix = true);
    assert_eq!(connect_plan(&c, None).unwrap().client_id, "cred-ok");
}

#[test]
fn narrow_subscriptions_name_the_registrar() {
    let c = RefAeConfig {
        variants: AeVariants {
            narrow_subscriptions: true,
            ..AeVariants::default()
        },
        ..cfg()
    };
    assert_eq!(
        connect_plan(&c, Some("Cm2mrefae")).unwrap().filters(),
        [
            "/oneM2M/resp/Cm2mrefae/id-in/#",
            "/oneM2M/req/id-in/Cm2mrefae/#"
        ]
    );
    assert_eq!(
        connect_plan(&c, None).unwrap().filters(),
        ["/oneM2M/reg_resp/cred-ok/id-in/#"]
    );
}

#[test]
fn login_is_passed_through() {
    let c = RefAeConfig {
        username: Some("u".into()),
        password: Some("p".into()),
        keep_alive_secs: 0,
        ..cfg()
    };
    let p = connect_plan(&c, Some("Cm2mrefae")).unwrap();
    assert_eq!(
        (p.username.as_deref(), p.password.as_deref()),
        (Some("u"), Some("p"))
    );
    assert_eq!(p.keep_alive_secs, 0);
}

#[test]
fn connect_faults() {
    let id = Some("Cm2mrefae");
    let p = connect_plan(&with_faults(|f| f.clean_session_true = true), id).unwrap();
    assert!(p.clean_session);
    let p = connect_plan(&with_faults(|f| f.will = true), id).unwrap();
    let Will { topic, payload, .. } = p.will.expect("a Will");
    assert!(topic.starts_with("/m2mspec/refae/"));
    assert!(!payload.is_empty());
    let p = connect_plan(&with_faults(|f| f.client_id_without_prefix = true), id).unwrap();
    assert_eq!(p.client_id, "Cm2mrefae");
    let p = connect_plan(&with_faults(|f| f.client_id_wrong_release = true), id).unwrap();
    assert_eq!(p.client_id, "A::Cm2mrefae");
    let mut c = with_faults(|f| f.client_id_wrong_release = true);
    c.release = Release::R1;
    assert_eq!(connect_plan(&c, id).unwrap().client_id, "A:Cm2mrefae");
    let p = connect_plan(&with_faults(|f| f.no_response_subscription = true), id).unwrap();
    assert_eq!(p.filters(), ["/oneM2M/req/+/Cm2mrefae/#"]);
    let p = connect_plan(&with_faults(|f| f.no_request_subscription = true), id).unwrap();
    assert_eq!(p.filters(), ["/oneM2M/resp/Cm2mrefae/#"]);
    let p = connect_plan(&with_faults(|f| f.register_on_req_without_id = true), None).unwrap();
    assert_eq!(
        p.filters(),
        ["/oneM2M/reg_resp/cred-ok/#", "/oneM2M/resp/cred-ok/#"]
    );
}

#[test]
fn initial_client_id_fault_uses_a_shared_fixed_id() {
    let c = with_faults(|f| f.initial_client_id_fixed = true);
    let p = connect_plan(&c, None).unwrap();
    assert_eq!(p.client_id, FIXED_INITIAL_CLIENT_ID);
    assert_ne!(p.client_id, connect_plan(&cfg(), None).unwrap().client_id);
    // The same for every credential: not unique.
    let other = RefAeConfig {
        credential_id: "cred-other".into(),
        ..c.clone()
    };
    assert_eq!(connect_plan(&other, None).unwrap().client_id, p.client_id);
    // Once the AE has an AE-ID, the fault changes nothing.
    assert_eq!(
        connect_plan(&c, Some("Cm2mrefae")).unwrap().client_id,
        "A:Cm2mrefae"
    );
}

#[test]
fn subscription_after_every_connect_unless_the_fault_trusts_the_session() {
    let p = connect_plan(&cfg(), Some("Cm2mrefae")).unwrap();
    assert_eq!(p.subscribe, SubscribeWhen::EveryConnect);
    assert_eq!(
        connect_plan(&cfg(), None).unwrap().subscribe,
        SubscribeWhen::EveryConnect
    );
    let c = with_faults(|f| f.subscribe_only_without_session = true);
    let p = connect_plan(&c, Some("Cm2mrefae")).unwrap();
    assert_eq!(p.subscribe, SubscribeWhen::SessionLost);
    // The filters themselves are unchanged: they are still sent when there is no session.
    assert_eq!(
        p.subscriptions,
        connect_plan(&cfg(), Some("Cm2mrefae"))
            .unwrap()
            .subscriptions
    );
}

#[test]
fn teardown_disconnect_faults() {
    let c = with_faults(|f| f.teardown_no_disconnect = true);
    assert_eq!(
        teardown_steps(&c),
        [
            TeardownStep::CloseWithoutDisconnect,
            TeardownStep::Connect {
                clean_session: true
            },
            TeardownStep::DisconnectAgain
        ]
    );
    let c = with_faults(|f| f.teardown_no_final_disconnect = true);
    assert_eq!(
        teardown_steps(&c),
        [
            TeardownStep::Disconnect,
            TeardownStep::Connect {
                clean_session: true
            },
            TeardownStep::CloseAgainWithoutDisconnect
        ]
    );
}

#[test]
fn teardown_is_disconnect_clean_connect_disconnect() {
    let c = cfg();
    assert_eq!(
        teardown_steps(&c),
        [
            TeardownStep::Disconnect,
            TeardownStep::Connect {
                clean_session: true
            },
            TeardownStep::DisconnectAgain
        ]
    );
    let p = connect_plan(&c, Some("Cm2mrefae")).unwrap();
    let t = teardown_plan(&c, &p);
    assert_eq!(t.client_id, p.client_id, "same session");
    assert!(t.clean_session);
    assert!(t.subscriptions.is_empty());
    let c = with_faults(|f| f.teardown_without_clean_session = true);
    assert!(!teardown_plan(&c, &p).clean_session);
    assert_eq!(
        teardown_steps(&c)[1],
        TeardownStep::Connect {
            clean_session: false
        }
    );
}

// ---------------------------------------------------------------- requests

#[test]
fn register_with_ae_id() {
    let p = prepare(&cfg(), &registered(), AeCommand::Register);
    assert_eq!(p.publish.topic, "/oneM2M/req/Cm2mrefae/id-in/json");
    assert_eq!((p.publish.qos, p.publish.retain), (1, false));
    assert_eq!(p.rqi.as_deref(), Some("rq-1"));
    let r = decoded(&p);
    assert_eq!(r, p.primitive);
    assert_eq!(r.missing_mandatory(), Vec::<&str>::new());
    assert_eq!(r.operation(), Some(Operation::Create));
    assert_eq!(r.to.as_deref(), Some("cse-in"));
    assert_eq!(r.fr.as_deref(), Some("Cm2mrefae"));
    assert_eq!(r.rqi.as_deref(), Some("rq-1"));
    assert_eq!(r.rvi.as_deref(), Some("3"));
    assert_eq!(r.ty, Some(TY_AE));
    assert_eq!(r.ot.as_deref(), Some("20240501T120000"));
    assert_eq!(
        r.pc,
        Some(json!({"m2m:ae": {
            "rn": "Cm2mrefae", "api": "Nm2mspec", "rr": true,
            "poa": ["mqtt://127.0.0.1:1883"], "srv": ["3"]
        }}))
    );
}

#[test]
fn initial_registration_uses_reg_req_and_from_c() {
    let p = prepare(&cfg(), &unregistered(), AeCommand::Register);
    assert_eq!(p.publish.topic, "/oneM2M/reg_req/cred-ok/id-in/json");
    let r = decoded(&p);
    assert_eq!(r.fr.as_deref(), Some("C"));
    assert_eq!(r.to.as_deref(), Some("cse-in"));
    assert_eq!(r.ty, Some(TY_AE));
    let ae = &r.pc.as_ref().unwrap()["m2m:ae"];
    assert!(ae.get("rn").is_none(), "the CSE names it");
    assert_eq!(ae["api"], "Nm2mspec");
}

#[test]
fn requests_after_registration_need_an_ae_id() {
    for cmd in [
        container(),
        AeCommand::CreateContentInstance {
            container: "c1".into(),
            con: "1".into(),
        },
        AeCommand::Retrieve {
            to: "cse-in".into(),
        },
    ] {
        assert!(matches!(
            prepare_request(&cfg(), &unregistered(), &cmd, "r", now()),
            Err(RefAeError::NoAeId)
        ));
    }
    for cmd in [
        AeCommand::Leave,
        AeCommand::Disconnect,
        AeCommand::Reconnect,
    ] {
        assert!(matches!(
            prepare_request(&cfg(), &registered(), &cmd, "r", now()),
            Err(RefAeError::NotARequest(_))
        ));
    }
}

#[test]
fn crud_requests() {
    let ident = registered();
    let p = prepare(&cfg(), &ident, container());
    let r = decoded(&p);
    assert_eq!(p.publish.topic, "/oneM2M/req/Cm2mrefae/id-in/json");
    assert_eq!(
        (r.op, r.to.as_deref(), r.ty),
        (Some(1), Some("cse-in/Cm2mrefae"), Some(TY_CNT))
    );
    assert_eq!(r.pc, Some(json!({"m2m:cnt": {"rn": "c1"}})));

    let named = Identity {
        ae_rn: Some("myAe".into()),
        ..ident.clone()
    };
    let r = decoded(&prepare(
        &cfg(),
        &named,
        AeCommand::CreateContentInstance {
            container: "c1".into(),
            con: "21.5".into(),
        },
    ));
    assert_eq!(
        (r.op, r.to.as_deref(), r.ty),
        (Some(1), Some("cse-in/myAe/c1"), Some(TY_CIN))
    );
    assert_eq!(r.pc, Some(json!({"m2m:cin": {"con": "21.5"}})));
    let r = decoded(&prepare(
        &cfg(),
        &named,
        AeCommand::CreateContentInstance {
            container: "cse-in/other/c9".into(),
            con: "x".into(),
        },
    ));
    assert_eq!(r.to.as_deref(), Some("cse-in/other/c9"));

    let r = decoded(&prepare(
        &cfg(),
        &ident,
        AeCommand::Retrieve {
            to: "cse-in/Cm2mrefae/c1/la".into(),
        },
    ));
    assert_eq!(
        (r.op, r.to.as_deref(), r.ty, &r.pc),
        (Some(2), Some("cse-in/Cm2mrefae/c1/la"), None, &None)
    );
    let r = decoded(&prepare(
        &cfg(),
        &ident,
        AeCommand::Delete {
            to: "cse-in/Cm2mrefae".into(),
        },
    ));
    assert_eq!((r.op, r.to.as_deref()), (Some(4), Some("cse-in/Cm2mrefae")));
    assert!(r.missing_mandatory().is_empty());
}

#[test]
fn every_serialization_matches_its_suffix() {
    for (release, ser) in [
        (Release::R2, Serialization::Json),
        (Release::R2, Serialization::Xml),
        (Release::R2, Serialization::Cbor),
        (Release::R1, Serialization::Json),
        (Release::R1, Serialization::Xml),
    ] {
        let c = RefAeConfig {
            release,
            serialization: ser,
            ..cfg()
        };
        let p = prepare(&c, &registered(), container());
        assert_eq!(
            p.publish.topic,
            format!("/oneM2M/req/Cm2mrefae/id-in/{}", ser.suffix())
        );
        let r = decoded(&p);
        assert_eq!((r.op, r.ty), (Some(1), Some(TY_CNT)), "{ser}");
        assert_eq!(r.rqi.as_deref(), Some("rq-1"));
        assert_eq!(r.rvi.is_some(), release == Release::R2, "{release:?}");
    }
}

#[test]
fn r1_registration_has_no_release_version() {
    let c = RefAeConfig {
        release: Release::R1,
        ..cfg()
    };
    let r = decoded(&prepare(&c, &registered(), AeCommand::Register));
    assert_eq!(r.rvi, None);
    assert!(r.pc.unwrap()["m2m:ae"].get("srv").is_none());
}

#[test]
fn publish_flag_faults() {
    let p = |f: fn(&mut AeFaults)| prepare(&with_faults(f), &registered(), container()).publish;
    assert_eq!(p(|f| f.qos0_requests = true).qos, 0);
    assert_eq!(p(|f| f.qos2_requests = true).qos, 2);
    assert!(p(|f| f.retain_requests = true).retain);
    assert_eq!(
        p(|f| f.no_type_suffix = true).topic,
        "/oneM2M/req/Cm2mrefae/id-in"
    );
    let wrong = p(|f| f.wrong_type_suffix = true);
    assert_eq!(wrong.topic, "/oneM2M/req/Cm2mrefae/id-in/xml");
    assert!(wrong.payload.starts_with(b"{"), "still a JSON payload");
    let mut c = with_faults(|f| f.wrong_type_suffix = true);
    c.serialization = Serialization::Xml;
    assert_eq!(
        prepare(&c, &registered(), container()).publish.topic,
        "/oneM2M/req/Cm2mrefae/id-in/json"
    );
}

#[test]
fn omitted_parameter_faults() {
    let r = |f: fn(&mut AeFaults)| {
        let p = prepare(&with_faults(f), &registered(), container());
        (decoded(&p).missing_mandatory(), p.rqi)
    };
    assert_eq!(r(|f| f.omit_rqi = true), (vec!["rqi"], None));
    assert_eq!(r(|f| f.omit_fr = true).0, ["fr"]);
    assert_eq!(r(|f| f.omit_to = true).0, ["to"]);
    assert_eq!(r(|f| f.omit_op = true).0, ["op"]);
    assert_eq!(r(|_| {}).0, Vec::<&str>::new());
}

#[test]
fn originator_faults() {
    let c = with_faults(|f| f.fr_differs_from_topic = true);
    let p = prepare(&c, &registered(), container());
    assert_eq!(p.publish.topic, "/oneM2M/req/Cm2mrefae/id-in/json");
    assert_eq!(decoded(&p).fr.as_deref(), Some("Cm2mrefae-spoofed"));

    let c = with_faults(|f| f.register_on_req_without_id = true);
    let p = prepare(&c, &unregistered(), AeCommand::Register);
    assert_eq!(p.publish.topic, "/oneM2M/req/cred-ok/id-in/json");
    assert_eq!(decoded(&p).fr.as_deref(), Some("C"));
    // With an AE-ID the fault changes nothing.
    let p = prepare(&c, &registered(), AeCommand::Register);
    assert_eq!(p.publish.topic, "/oneM2M/req/Cm2mrefae/id-in/json");

    let c = with_faults(|f| f.requests_on_reg_req = true);
    let p = prepare(&c, &registered(), container());
    assert_eq!(p.publish.topic, "/oneM2M/reg_req/cred-ok/id-in/json");
    assert_eq!(decoded(&p).fr.as_deref(), Some("Cm2mrefae"));
}

#[test]
fn point_of_access() {
    let c = RefAeConfig {
        broker: SocketAddr::from(([127, 0, 0, 1], 1884)),
        ..cfg()
    };
    assert_eq!(super::point_of_access(&c), ["mqtt://127.0.0.1:1884"]);
    let mut c2 = c.clone();
    c2.faults.poa_without_port = true;
    assert_eq!(super::point_of_access(&c2), ["mqtt://127.0.0.1"]);
    let r = decoded(&prepare(&c2, &registered(), AeCommand::Register));
    assert_eq!(r.pc.unwrap()["m2m:ae"]["poa"], json!(["mqtt://127.0.0.1"]));
    let mut c3 = c.clone();
    c3.broker = "[::1]:1884".parse().unwrap();
    assert_eq!(super::point_of_access(&c3), ["mqtt://[::1]:1884"]);
    c3.faults.poa_without_port = true;
    assert_eq!(super::point_of_access(&c3), ["mqtt://[::1]"]);
    let c4 = RefAeConfig {
        poa: Some(vec!["mqtts://example.org".into()]),
        ..cfg()
    };
    assert_eq!(super::point_of_access(&c4), ["mqtts://example.org"]);
}

#[test]
fn poa_mqtts_fault_claims_tls() {
    let mut c = RefAeConfig {
        broker: SocketAddr::from(([127, 0, 0, 1], 1884)),
        ..cfg()
    };
    c.faults.poa_mqtts_scheme = true;
    assert_eq!(super::point_of_access(&c), ["mqtts://127.0.0.1:1884"]);
    let r = decoded(&prepare(&c, &registered(), AeCommand::Register));
    assert_eq!(
        r.pc.unwrap()["m2m:ae"]["poa"],
        json!(["mqtts://127.0.0.1:1884"])
    );
    c.faults.poa_without_port = true;
    assert_eq!(super::point_of_access(&c), ["mqtts://127.0.0.1"]);
}

// ---------------------------------------------------------------- inbound

fn own() -> Vec<String> {
    own_segments(&cfg(), Some("Cm2mrefae"))
}

fn json_bytes(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn own_segments_are_ae_and_credential() {
    assert_eq!(own(), ["Cm2mrefae", "cred-ok"]);
    assert_eq!(own_segments(&cfg(), None), ["cred-ok"]);
}

#[test]
fn classifies_responses() {
    let body = json_bytes(json!({"rsc": 2001, "rqi": "rq-1"}));
    match classify(
        "/oneM2M/resp/Cm2mrefae/id-in/json",
        &body,
        &own(),
        Release::R2,
    ) {
        Inbound::Response(r) => assert_eq!((r.rsc, r.rqi.as_deref()), (Some(2001), Some("rq-1"))),
        other => panic!("{other:?}"),
    }
    // reg_resp for the credential, suffix-less (sniffed).
    assert!(matches!(
        classify("/oneM2M/reg_resp/cred-ok/id-in", &body, &own(), Release::R2),
        Inbound::Response(_)
    ));
    // XML response.
    let xml = encode_response(
        &ResponsePrimitive {
            rsc: Some(2000),
            rqi: Some("x".into()),
            ..Default::default()
        },
        Serialization::Xml,
    )
    .unwrap();
    assert!(matches!(
        classify("/oneM2M/resp/Cm2mrefae/id-in", &xml, &own(), Release::R1),
        Inbound::Response(_)
    ));
    // Somebody else's response.
    assert!(matches!(
        classify("/oneM2M/resp/Cother/id-in/json", &body, &own(), Release::R2),
        Inbound::Ignored(_)
    ));
}

#[test]
fn classifies_requests() {
    let body = json_bytes(json!({"op": 5, "to": "Cm2mrefae", "fr": "/id-in", "rqi": "n1"}));
    match classify(
        "/oneM2M/req/id-in/Cm2mrefae/json",
        &body,
        &own(),
        Release::R2,
    ) {
        Inbound::Request {
            topic,
            serialization,
            request,
        } => {
            assert_eq!(topic.originator, "id-in");
            assert_eq!(serialization, Serialization::Json);
            assert_eq!(request.operation(), Some(Operation::Notify));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        classify("/oneM2M/req/id-in/Cother/json", &body, &own(), Release::R2),
        Inbound::Ignored(_)
    ));
    assert!(matches!(
        classify(
            "/oneM2M/reg_req/cred-ok/id-in/json",
            &body,
            &own(),
            Release::R2
        ),
        Inbound::Ignored(_)
    ));
}

#[test]
fn garbage_is_ignored_never_a_panic() {
    let payloads: [&[u8]; 7] = [
        b"",
        b"{",
        b"[]",
        b"<m2m:rsp><rsc>x",
        b"\xff\xfe\x00",
        b"{\"rsc\": \"abc\", \"op\": \"x\"}",
        b"{\"rqi\": 5}",
    ];
    let topics = [
        "/oneM2M/resp/Cm2mrefae/id-in/json",
        "/oneM2M/resp/Cm2mrefae/id-in/cbor",
        "/oneM2M/resp/Cm2mrefae/id-in/xml",
        "/oneM2M/req/id-in/Cm2mrefae/json",
        "/oneM2M/req/id-in/Cm2mrefae",
        "/oneM2M/req/id-in/Cm2mrefae/yaml",
        "/other/topic",
        "",
    ];
    for t in topics {
        for p in payloads {
            assert!(
                matches!(classify(t, p, &own(), Release::R2), Inbound::Ignored(_)),
                "{t} {p:?}"
            );
        }
    }
    // CBOR is not an R1 serialization.
    let cbor = encode_response(
        &ResponsePrimitive {
            rsc: Some(2000),
            rqi: Some("x".into()),
            ..Default::default()
        },
        Serialization::Cbor,
    )
    .unwrap();
    assert!(matches!(
        classify(
            "/oneM2M/resp/Cm2mrefae/id-in/cbor",
            &cbor,
            &own(),
            Release::R1
        ),
        Inbound::Ignored(_)
    ));
    assert!(matches!(
        classify(
            "/oneM2M/resp/Cm2mrefae/id-in/cbor",
            &cbor,
            &own(),
            Release::R2
        ),
        Inbound::Response(_)
    ));
}

#[test]
fn sniffs_suffixless_payloads() {
    assert_eq!(sniff_serialization(b"  {\"a\":1}"), Serialization::Json);
    assert_eq!(sniff_serialization(b"\n<m2m:rqp/>"), Serialization::Xml);
    assert_eq!(sniff_serialization(&[0xa1, 0x01]), Serialization::Cbor);
    assert_eq!(sniff_serialization(b""), Serialization::Cbor);
}

// ---------------------------------------------------------------- answers to NOTIFY

fn notify() -> RequestPrimitive {
    RequestPrimitive {
        op: Some(5),
        to: Some("Cm2mrefae".into()),
        fr: Some("/id-in".into()),
        rqi: Some("n1".into()),
        rvi: Some("3".into()),
        pc: Some(json!({"m2m:sgn": {"sur": "cse-in/ae/sub"}})),
        ..Default::default()
    }
}

fn req_topic(ser: Option<Serialization>) -> OneM2mTopic {
    OneM2mTopic::new(Channel::Req, "/id-in", "Cm2mrefae", ser).unwrap()
}

fn answer(c: &RefAeConfig, req: &RequestPrimitive, ser: Serialization) -> Option<Answer> {
    answer_request(c, Some("Cm2mrefae"), &req_topic(Some(ser)), ser, req, now()).unwrap()
}

fn answer_map(a: &Answer, ser: Serialization) -> Map<String, Value> {
    decode_map(&a.publish.payload, ser).unwrap()
}

#[test]
fn notify_is_answered_2000_on_the_mirrored_topic() {
    let a = answer(&cfg(), &notify(), Serialization::Json).expect("answered");
    assert!(a.notify);
    assert_eq!(a.rsc, 2000);
    assert_eq!(a.publish.topic, "/oneM2M/resp/id-in/Cm2mrefae/json");
    assert_eq!((a.publish.qos, a.publish.retain), (1, false));
    let r = decode_response(&a.publish.payload, Serialization::Json).unwrap();
    assert_eq!(r.rsc, Some(2000));
    assert_eq!(r.rqi.as_deref(), Some("n1"));
    assert_eq!(r.rvi.as_deref(), Some("3"));
    assert_eq!(r.fr.as_deref(), Some("Cm2mrefae"));
    assert_eq!(r.to.as_deref(), Some("/id-in"));
    assert!(r.missing_mandatory().is_empty());
}

#[test]
fn answers_in_the_request_serialization() {
    for ser in Serialization::ALL {
        let a = answer(&cfg(), &notify(), ser).unwrap();
        assert_eq!(
            a.publish.topic,
            format!("/oneM2M/resp/id-in/Cm2mrefae/{}", ser.suffix())
        );
        let r = decode_response(&a.publish.payload, ser).unwrap();
        assert_eq!((r.rsc, r.rqi.as_deref()), (Some(2000), Some("n1")), "{ser}");
    }
    // A suffix-less request gets a suffixed response (R2 7.5.4).
    let a = answer_request(
        &cfg(),
        Some("Cm2mrefae"),
        &req_topic(None),
        Serialization::Xml,
        &notify(),
        now(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.publish.topic, "/oneM2M/resp/id-in/Cm2mrefae/xml");
}

#[test]
fn expired_and_malformed_requests() {
    let mut expired = notify();
    expired.rqet = Some(json!("20240501T115959"));
    let a = answer(&cfg(), &expired, Serialization::Json).unwrap();
    assert_eq!(a.rsc, rsc::REQUEST_TIMEOUT);
    assert_eq!(answer_map(&a, Serialization::Json)["rqi"], "n1");
    // Relative rqet counts from ot.
    let mut rel = notify();
    rel.ot = Some("20240501T115900".into());
    rel.rqet = Some(json!(30_000));
    assert_eq!(
        answer(&cfg(), &rel, Serialization::Json).unwrap().rsc,
        rsc::REQUEST_TIMEOUT
    );
    rel.rqet = Some(json!(120_000));
    assert_eq!(
        answer(&cfg(), &rel, Serialization::Json).unwrap().rsc,
        rsc::OK
    );
    let mut fresh = notify();
    fresh.rqet = Some(json!("20240501T120100"));
    assert_eq!(
        answer(&cfg(), &fresh, Serialization::Json).unwrap().rsc,
        rsc::OK
    );
    let mut bad = notify();
    bad.rqet = Some(json!("soon"));
    assert_eq!(
        answer(&cfg(), &bad, Serialization::Json).unwrap().rsc,
        rsc::BAD_REQUEST
    );
    let mut no_rqi = notify();
    no_rqi.rqi = None;
    let a = answer(&cfg(), &no_rqi, Serialization::Json).unwrap();
    assert_eq!(a.rsc, rsc::BAD_REQUEST);
    assert!(answer_map(&a, Serialization::Json).contains_key("pc"));
    let mut retrieve = notify();
    retrieve.op = Some(2);
    let a = answer(&cfg(), &retrieve, Serialization::Json).unwrap();
    assert_eq!(a.rsc, rsc::OPERATION_NOT_ALLOWED);
    assert!(!a.notify);
}

#[test]
fn notify_answer_faults() {
    let n = notify();
    let ser = Serialization::Json;
    assert_eq!(
        answer(&with_faults(|f| f.no_notify_response = true), &n, ser),
        None
    );
    let a = answer(
        &with_faults(|f| f.notify_response_wrong_topic = true),
        &n,
        ser,
    )
    .unwrap();
    assert_eq!(a.publish.topic, "/oneM2M/resp/Cm2mrefae/id-in/json");
    let a = answer(&with_faults(|f| f.notify_response_omit_rqi = true), &n, ser).unwrap();
    assert!(!answer_map(&a, ser).contains_key("rqi"));
    let a = answer(&with_faults(|f| f.notify_response_omit_rsc = true), &n, ser).unwrap();
    assert!(!answer_map(&a, ser).contains_key("rsc"));
    assert_eq!(a.rsc, 2000);
    let a = answer(
        &with_faults(|f| f.notify_response_other_serialization = true),
        &n,
        ser,
    )
    .unwrap();
    assert_eq!(a.publish.topic, "/oneM2M/resp/id-in/Cm2mrefae/xml");
    assert_eq!(
        decode_response(&a.publish.payload, Serialization::Xml)
            .unwrap()
            .rsc,
        Some(2000)
    );
    let a = answer(
        &with_faults(|f| f.notify_response_other_serialization = true),
        &n,
        Serialization::Cbor,
    )
    .unwrap();
    assert_eq!(a.publish.topic, "/oneM2M/resp/id-in/Cm2mrefae/json");
    let q = |f: fn(&mut AeFaults)| answer(&with_faults(f), &n, ser).unwrap().publish.qos;
    assert_eq!(q(|f| f.notify_response_qos0 = true), 0);
    assert_eq!(q(|f| f.notify_response_qos2 = true), 2);
    let mut expired = notify();
    expired.rqet = Some(json!("20240501T115959"));
    assert_eq!(
        answer(
            &with_faults(|f| f.ignore_notify_expiry = true),
            &expired,
            ser
        )
        .unwrap()
        .rsc,
        2000
    );
}

#[test]
fn registration_results() {
    let rsp = ResponsePrimitive {
        rsc: Some(2001),
        pc: Some(json!({"m2m:ae": {"aei": "C123", "rn": "ae1", "api": "Nx"}})),
        ..Default::default()
    };
    assert_eq!(
        registration_result(&rsp),
        (Some("C123".into()), Some("ae1".into()))
    );
    for pc in [
        None,
        Some(json!({"m2m:cnt": {}})),
        Some(json!({"m2m:ae": {"aei": 5, "rn": ""}})),
        Some(json!("text")),
    ] {
        let rsp = ResponsePrimitive {
            pc,
            ..Default::default()
        };
        assert_eq!(registration_result(&rsp), (None, None));
    }
}

#[test]
fn identity_resource_name() {
    assert_eq!(registered().resource_name().as_deref(), Some("Cm2mrefae"));
    let sp = Identity {
        ae_id: Some("/id-in/Cae9".into()),
        ae_rn: None,
    };
    assert_eq!(sp.resource_name().as_deref(), Some("Cae9"));
    let named = Identity {
        ae_rn: Some("n".into()),
        ..sp
    };
    assert_eq!(named.resource_name().as_deref(), Some("n"));
    assert_eq!(unregistered().resource_name(), None);
}

#[test]
fn prepared_payload_is_exactly_the_primitive() {
    let p = prepare(&cfg(), &registered(), container());
    assert_eq!(
        p.publish.payload,
        encode_request(&p.primitive, Serialization::Json).unwrap()
    );
}

/// Everything the plans decide, for a configuration: CONNECT / SUBSCRIBE with and without an
/// AE-ID, the teardown, the requests of each command, and the answers to a fresh and to an
/// expired NOTIFY and to a DELETE.
fn observable(c: &RefAeConfig) -> String {
    let over_ws = RefAeConfig {
        transport: SessionTransport::Ws,
        ..c.clone()
    };
    let mut out = vec![
        format!("first CONNECT level {:?}", first_connect_level(c)),
        format!("asked for ws, uses {}", session_transport(&over_ws).name()),
    ];
    for id in [Some("Cm2mrefae"), None] {
        let p = connect_plan(c, id).unwrap();
        out.push(format!("{p:?} {:?}", teardown_plan(c, &p)));
    }
    out.push(format!("{:?}", teardown_steps(c)));
    for (ident, cmd) in [
        (unregistered(), AeCommand::Register),
        (registered(), AeCommand::Register),
        (registered(), container()),
    ] {
        let p = prepare(c, &ident, cmd);
        out.push(format!("{:?} {:?}", p.publish, decoded(&p)));
    }
    let mut expired = notify();
    expired.rqet = Some(json!("20240501T115959"));
    let mut delete = notify();
    delete.op = Some(Operation::Delete.code());
    for n in [notify(), expired, delete] {
        out.push(format!("{:?}", answer(c, &n, Serialization::Json)));
    }
    out.join("\n")
}

#[test]
fn every_fault_changes_what_is_sent() {
    let baseline = observable(&cfg());
    let names: Vec<String> = serde_json::to_value(AeFaults::default())
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(names.len() >= 33);
    for name in names {
        let c = RefAeConfig {
            faults: serde_json::from_value(json!({ name.as_str(): true })).unwrap(),
            ..cfg()
        };
        assert_eq!(c.faults.enabled(), [name.as_str()]);
        assert_ne!(
            observable(&c),
            baseline,
            "fault {name} has no visible effect"
        );
    }
}

#[test]
fn variants_change_only_what_the_texts_leave_open() {
    let v = |variants: AeVariants| RefAeConfig { variants, ..cfg() };
    let prefixed = v(AeVariants {
        initial_client_id_prefixed: true,
        ..AeVariants::default()
    });
    assert_eq!(client_identifier(&prefixed, None).unwrap(), "init.cred-ok");
    assert_eq!(
        client_identifier(&prefixed, Some("Cm2mrefae")).unwrap(),
        "A:Cm2mrefae"
    );
    let poa = crate::plan::point_of_access(&v(AeVariants {
        poa_other_order: true,
        ..AeVariants::default()
    }));
    assert_eq!(poa.len(), 2);
    assert!(poa[0].starts_with("http://"), "{poa:?}");
    assert!(poa[1].starts_with("mqtt://localhost:"), "{poa:?}");
}

#[test]
fn new_faults_show_in_the_plan_and_the_answer() {
    let f = |faults: AeFaults| RefAeConfig { faults, ..cfg() };
    let qos0 = connect_plan(
        &f(AeFaults {
            subscribe_qos0: true,
            ..AeFaults::default()
        }),
        Some("Cm2mrefae"),
    )
    .unwrap();
    assert!(qos0.subscriptions.iter().all(|s| s.qos == 0));
    let all = connect_plan(
        &f(AeFaults {
            subscribe_all_requests: true,
            ..AeFaults::default()
        }),
        Some("Cm2mrefae"),
    )
    .unwrap();
    assert!(all.filters().contains(&"/oneM2M/req/#".to_string()));
    let no_reg = connect_plan(
        &f(AeFaults {
            no_reg_resp_subscription: true,
            ..AeFaults::default()
        }),
        None,
    )
    .unwrap();
    assert!(no_reg.filters().is_empty(), "{:?}", no_reg.filters());
}
