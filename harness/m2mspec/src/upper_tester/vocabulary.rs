//! The action vocabulary: every action a `command` step may ask of a oneM2M SUT, per role,
//! what it must make the SUT do on the wire (TS-0010 R2 = Y.4500.10 clauses), its parameters
//! and what it returns. This table is the one list; the vendor guide
//! (`VENDOR-GUIDE.md`) explains it and a test keeps the two in step.
//!
//! An action is a JSON object naming it in `cmd`, its parameters beside it, e.g.
//! `{"cmd": "create_container", "rn": "c1"}`. Its outcome is `{"rsc": <the rsc of the
//! response the SUT got>, "response": <that response primitive, short names>}` (both optional;
//! actions that send no request return `{}`); later steps read it as `{command.<path>}`.

/// One action of a role.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    pub name: &'static str,
    /// Parameter names (all strings).
    pub params: &'static [&'static str],
    /// What the SUT must do on the wire.
    pub does: &'static str,
    /// What its outcome holds.
    pub returns: &'static str,
}

const REQUEST_OUTCOME: &str = "rsc and response of the response it got";
const NOTHING: &str = "{} once done";

/// The AE role (the reference AE's commands, `m2mspec_refae::AeCommand`).
pub const AE: &[Action] = &[
    Action {
        name: "register",
        params: &[],
        does: "CREATE <AE> (ty 2) at the registrar's CSEBase: on /oneM2M/req/<AE-ID>/<CSE>/<type> with From = its AE-ID when it has one, else on /oneM2M/reg_req/<Credential-ID>/<CSE> with From \"C\" (R2 7.4.4), then reconnect as A:<assigned AE-ID> (R2 7.3.3)",
        returns: REQUEST_OUTCOME,
    },
    Action {
        name: "create_container",
        params: &["rn"],
        does: "CREATE <container> (ty 3) named rn under its <AE> (R2 7.4.2, 7.5.1)",
        returns: REQUEST_OUTCOME,
    },
    Action {
        name: "create_content_instance",
        params: &["container", "con"],
        does: "CREATE <contentInstance> (ty 4) with content con in container (a name under its <AE>, or with a \"/\" the whole To)",
        returns: REQUEST_OUTCOME,
    },
    Action {
        name: "retrieve",
        params: &["to"],
        does: "RETRIEVE to",
        returns: REQUEST_OUTCOME,
    },
    Action {
        name: "delete",
        params: &["to"],
        does: "DELETE to",
        returns: REQUEST_OUTCOME,
    },
    Action {
        name: "leave",
        params: &[],
        does: "the R2 7.3.3 / R1 6.3 teardown: DISCONNECT, CONNECT with Clean Session 1, DISCONNECT; then stay offline until reconnect",
        returns: NOTHING,
    },
    Action {
        name: "disconnect",
        params: &[],
        does: "MQTT DISCONNECT, keeping its persistent session (R2 7.3.3); stay offline until reconnect",
        returns: NOTHING,
    },
    Action {
        name: "reconnect",
        params: &[],
        does: "CONNECT (Clean Session 0) and SUBSCRIBE its request and response topics again (R2 7.4.5); disconnect first when connected",
        returns: NOTHING,
    },
    Action {
        name: "forget_ae_id",
        params: &[],
        does: "become an AE that never registered: teardown (R2 7.3.3), forget the AE-ID, CONNECT with its Credential-ID as client id and SUBSCRIBE /oneM2M/reg_resp/<Credential-ID>/# (R2 7.4.4); the next register goes through reg_req",
        returns: NOTHING,
    },
];

/// The CSE role (the reference CSE's commands, `m2mspec_refcse::CseCommand`).
pub const CSE: &[Action] = &[
    Action {
        name: "leave",
        params: &[],
        does: "the R2 7.3.3 / R1 6.3 teardown of its MQTT session: DISCONNECT, CONNECT with Clean Session 1 under its client id C:<CSE-ID>, DISCONNECT; then stay offline until reconnect",
        returns: NOTHING,
    },
    Action {
        name: "disconnect",
        params: &[],
        does: "MQTT DISCONNECT, keeping its persistent session; stay offline until reconnect",
        returns: NOTHING,
    },
    Action {
        name: "reconnect",
        params: &[],
        does: "CONNECT (Clean Session 0) as C:<CSE-ID> and SUBSCRIBE its topics again (R2 7.4.5); disconnect first when connected",
        returns: NOTHING,
    },
    Action {
        name: "register",
        params: &["registrar"],
        does: "register with the registrar CSE (default /m2mspec-registrar) on Mcc: CONNECT with a client id built from its Credential-ID (R2 7.3.3), SUBSCRIBE /oneM2M/reg_resp/<Credential-ID>/#, CREATE <remoteCSE> (ty 16) on /oneM2M/reg_req/<Credential-ID>/<registrar> (R2 7.4.4)",
        returns: REQUEST_OUTCOME,
    },
    Action {
        name: "reset",
        params: &[],
        does: "drop every resource created since start (TS-0019 upper tester Reset); no MQTT traffic required",
        returns: NOTHING,
    },
];

/// The vocabulary of `role`; `None` for roles whose commands are their reference SUT's own
/// (the LWM2M device and server).
pub fn of_role(role: &str) -> Option<&'static [Action]> {
    match role {
        "ae" => Some(AE),
        "cse" => Some(CSE),
        _ => None,
    }
}

/// Check a command against the role's vocabulary: it names a known action and only that
/// action's parameters. The error names the action and what is wrong.
pub fn check(role: &str, cmd: &serde_json::Value) -> Result<(), String> {
    let Some(actions) = of_role(role) else {
        return Ok(());
    };
    let Some(obj) = cmd.as_object() else {
        return Err(format!(
            "a command is a table naming its action in cmd, not {cmd}"
        ));
    };
    let Some(name) = obj.get("cmd").and_then(serde_json::Value::as_str) else {
        return Err(format!("command {cmd} names no action (cmd = \"…\")"));
    };
    let names = || {
        actions
            .iter()
            .map(|a| a.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(action) = actions.iter().find(|a| a.name == name) else {
        return Err(format!(
            "unknown action {name:?} for role {role}; the {role} actions are: {}",
            names()
        ));
    };
    if let Some(bad) = obj
        .keys()
        .find(|k| *k != "cmd" && !action.params.contains(&k.as_str()))
    {
        return Err(format!(
            "action {name:?} has no parameter {bad:?} (its parameters: {})",
            if action.params.is_empty() {
                "none".to_string()
            } else {
                action.params.join(", ")
            }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case("ae", json!({"cmd": "register"}), None)]
    #[case("ae", json!({"cmd": "create_container", "rn": "c"}), None)]
    #[case("cse", json!({"cmd": "leave"}), None)]
    #[case("ae", json!({"cmd": "fly"}), Some("unknown action \"fly\" for role ae"))]
    #[case("cse", json!({"cmd": "create_container"}), Some("unknown action \"create_container\" for role cse"))]
    #[case("ae", json!({"cmd": "leave", "rn": "x"}), Some("action \"leave\" has no parameter \"rn\""))]
    #[case("ae", json!({"rn": "x"}), Some("names no action"))]
    #[case("device", json!({"cmd": "anything"}), None)]
    fn commands_are_checked_against_the_vocabulary(
        #[case] role: &str,
        #[case] cmd: serde_json::Value,
        #[case] error: Option<&str>,
    ) {
        match (check(role, &cmd), error) {
            (Ok(()), None) => {}
            (Err(e), Some(want)) => assert!(e.contains(want), "{e}"),
            (got, want) => panic!("{cmd}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn the_vendor_guide_documents_every_action() {
        let guide = include_str!("../../../../VENDOR-GUIDE.md");
        for (role, actions) in [("ae", AE), ("cse", CSE)] {
            for a in actions {
                assert!(
                    guide.contains(&format!("| `{}` | {role} |", a.name)),
                    "VENDOR-GUIDE.md lacks the {role} action {}",
                    a.name
                );
            }
        }
    }
}
