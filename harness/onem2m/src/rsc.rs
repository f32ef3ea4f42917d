//! Response status codes (TS-0004 6.6) used by the binding cases and the reference CSE.

pub const OK: i64 = 2000;
pub const CREATED: i64 = 2001;
pub const DELETED: i64 = 2002;
pub const UPDATED: i64 = 2004;
pub const BAD_REQUEST: i64 = 4000;
pub const NOT_FOUND: i64 = 4004;
pub const OPERATION_NOT_ALLOWED: i64 = 4005;
/// Request timeout: the request expired (rqet/rset in the past) — R1 6.4.3 / R2 7.4.3.
pub const REQUEST_TIMEOUT: i64 = 4008;
pub const UNSUPPORTED_MEDIA_TYPE: i64 = 4015;
pub const ORIGINATOR_HAS_NO_PRIVILEGE: i64 = 4103;
pub const CONFLICT: i64 = 4105;
pub const ORIGINATOR_HAS_ALREADY_REGISTERED: i64 = 4117;
pub const INTERNAL_SERVER_ERROR: i64 = 5000;
pub const NOT_IMPLEMENTED: i64 = 5001;
/// Not acceptable: the requested content format is not supported (R1 6.5.3).
pub const NOT_ACCEPTABLE: i64 = 5207;

/// True for 2xxx codes.
pub fn is_success(rsc: i64) -> bool {
    (2000..3000).contains(&rsc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_range() {
        for c in [OK, CREATED, DELETED, UPDATED] {
            assert!(is_success(c), "{c}");
        }
        for c in [
            1999,
            3000,
            BAD_REQUEST,
            REQUEST_TIMEOUT,
            NOT_ACCEPTABLE,
            INTERNAL_SERVER_ERROR,
        ] {
            assert!(!is_success(c), "{c}");
        }
    }
}
