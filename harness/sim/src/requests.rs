//! The request primitives the simulated AEs send (R2 7.5.1, TS-0004 7.3), built with the
//! oneM2M crate and encoded in the scenario's serialization: registration (CREATE `<AE>`, on
//! `req` or `reg_req`), the setup container, the workload operations and the teardown DELETE.

use crate::scenario::Op;
use m2mspec_onem2m::serialization::encode_request;
use m2mspec_onem2m::{CodecError, Operation, RequestPrimitive, Serialization};
use serde_json::json;

/// Resource type codes (TS-0004 6.3.4.2.1).
pub const TY_AE: i64 = 2;
pub const TY_CONTAINER: i64 = 3;
pub const TY_CONTENT_INSTANCE: i64 = 4;

/// The release version indicator every request carries (TS-0004 6.4.1: "3").
pub const RVI: &str = "3";

/// Name of the container each AE makes before the workload (contentInstances go there).
pub const CONTAINER: &str = "load";

/// Builds an AE's requests; holds the paths that never change.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    pub serialization: Serialization,
    csebase: String,
    ae_path: String,
    container_path: String,
    from: String,
}

impl RequestBuilder {
    /// For the AE with AE-ID `ae_id` whose `<AE>` resource is `<csebase>/<rn>`.
    pub fn new(serialization: Serialization, csebase: &str, rn: &str, ae_id: &str) -> Self {
        let ae_path = format!("{csebase}/{rn}");
        RequestBuilder {
            serialization,
            csebase: csebase.to_string(),
            container_path: format!("{ae_path}/{CONTAINER}"),
            ae_path,
            from: ae_id.to_string(),
        }
    }

    fn base(&self, op: Operation, to: &str, rqi: String) -> RequestPrimitive {
        RequestPrimitive {
            op: Some(op.code()),
            to: Some(to.to_string()),
            fr: Some(self.from.clone()),
            rqi: Some(rqi),
            rvi: Some(RVI.into()),
            ..Default::default()
        }
    }

    fn encode(&self, r: &RequestPrimitive) -> Result<Vec<u8>, CodecError> {
        encode_request(r, self.serialization)
    }

    /// CREATE `<AE>` on the CSEBase (TS-0004 7.3.5.2.1). `from`: the AE-ID asked for, or "C"
    /// to have the CSE assign one (initial registration on reg_req, R2 7.4.4).
    pub fn register(&self, rqi: String, rn: &str, from: &str) -> Result<Vec<u8>, CodecError> {
        let mut r = self.base(Operation::Create, &self.csebase, rqi);
        r.fr = Some(from.to_string());
        r.ty = Some(TY_AE);
        r.pc = Some(json!({"m2m:ae": {
            "rn": rn, "api": "Nm2mspec.load", "rr": false, "srv": [RVI]
        }}));
        self.encode(&r)
    }

    /// CREATE of the AE's container `load` (at most 10 contentInstances kept: a long run does
    /// not grow the CSE without bound).
    pub fn setup(&self, rqi: String) -> Result<Vec<u8>, CodecError> {
        let mut r = self.base(Operation::Create, &self.ae_path, rqi);
        r.ty = Some(TY_CONTAINER);
        r.pc = Some(json!({"m2m:cnt": {"rn": CONTAINER, "mni": 10}}));
        self.encode(&r)
    }

    /// Request `k` of operation `op`.
    pub fn work(&self, op: Op, k: u64, rqi: String) -> Result<Vec<u8>, CodecError> {
        let r = match op {
            // LWM2M operations never reach an AE: `Scenario::validate` refuses them in a
            // oneM2M mix; should one slip through, it is a harmless RETRIEVE.
            Op::Retrieve | Op::Update | Op::Notify => {
                self.base(Operation::Retrieve, &self.ae_path, rqi)
            }
            Op::CreateContainer => {
                let mut r = self.base(Operation::Create, &self.ae_path, rqi);
                r.ty = Some(TY_CONTAINER);
                r.pc = Some(json!({"m2m:cnt": {"rn": format!("c{k}"), "mni": 1}}));
                r
            }
            Op::CreateContentInstance => {
                let mut r = self.base(Operation::Create, &self.container_path, rqi);
                r.ty = Some(TY_CONTENT_INSTANCE);
                r.pc = Some(json!({"m2m:cin": {"cnf": "text/plain:0", "con": format!("v{k}")}}));
                r
            }
            Op::UpdateContainer => {
                let mut r = self.base(Operation::Update, &self.container_path, rqi);
                r.pc = Some(json!({"m2m:cnt": {"lbl": [format!("k{k}")]}}));
                r
            }
        };
        self.encode(&r)
    }

    /// DELETE `<AE>` (the first step of the R2 7.3.3 teardown).
    pub fn deregister(&self, rqi: String) -> Result<Vec<u8>, CodecError> {
        self.encode(&self.base(Operation::Delete, &self.ae_path, rqi))
    }
}

/// The AE-ID a registration response assigns: `pc.m2m:ae.aei` (TS-0004 7.3.5.2.1).
pub fn assigned_ae_id(pc: Option<&serde_json::Value>) -> Option<String> {
    pc?.get("m2m:ae")?.get("aei")?.as_str().map(|s| {
        s.trim_start_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(s)
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2mspec_onem2m::serialization::decode_request;

    #[test]
    fn every_request_decodes_in_every_serialization() {
        for ser in Serialization::ALL {
            let b = RequestBuilder::new(ser, "cse-in", "Cx000001", "Cx000001");
            let reg = decode_request(
                &b.register("r0".into(), "Cx000001", "Cx000001").unwrap(),
                ser,
            )
            .unwrap();
            assert_eq!(reg.ty, Some(TY_AE));
            assert_eq!(reg.to.as_deref(), Some("cse-in"));
            assert!(reg.missing_mandatory().is_empty());
            for op in Op::ALL {
                let r = decode_request(&b.work(op, 7, "r1".into()).unwrap(), ser).unwrap();
                assert!(r.missing_mandatory().is_empty(), "{op:?} {ser:?}");
                assert_eq!(r.fr.as_deref(), Some("Cx000001"));
            }
            let d = decode_request(&b.deregister("r2".into()).unwrap(), ser).unwrap();
            assert_eq!(d.operation(), Some(Operation::Delete));
            assert_eq!(d.to.as_deref(), Some("cse-in/Cx000001"));
        }
    }

    #[test]
    fn the_assigned_ae_id_is_read_from_the_response() {
        let pc = json!({"m2m:ae": {"aei": "/id-in/Cabc", "rn": "x"}});
        assert_eq!(assigned_ae_id(Some(&pc)).as_deref(), Some("Cabc"));
        let pc = json!({"m2m:ae": {"aei": "Cdef"}});
        assert_eq!(assigned_ae_id(Some(&pc)).as_deref(), Some("Cdef"));
        assert_eq!(assigned_ae_id(Some(&json!({"m2m:ae": {}}))), None);
        assert_eq!(assigned_ae_id(None), None);
    }
}
