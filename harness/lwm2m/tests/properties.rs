//! Property tests of the CoAP codec and the validator (RFC 7252 3, 3.1): round trips of
//! arbitrary messages, and no panic — with consistent answers — on arbitrary bytes.

mod common;

use m2mspec_lwm2m::{validate, Message, Violation};
use proptest::collection::vec;
use proptest::prelude::*;

/// Valid encodings with a few bytes overwritten: reaches option and payload parsing far
/// more often than uniform random bytes.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        common::message(),
        vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    )
        .prop_map(|(m, edits)| {
            let mut bytes = m.encode().expect("generated messages encode");
            for (i, b) in edits {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
            bytes
        })
}

/// Violations that mean the decoder cannot read the bytes.
fn unreadable(v: &Violation) -> bool {
    matches!(
        v,
        Violation::Undecodable(_)
            | Violation::ReservedNibble { .. }
            | Violation::ReservedTokenLength { .. }
    )
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..48), mutated()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_messages_round_trip(m in common::message()) {
        let bytes = m.encode().expect("encodes");
        prop_assert_eq!(Message::decode(&bytes).expect("decodes"), m);
    }

    /// Decoding never panics; what decodes re-encodes to the same bytes (the encoding is
    /// canonical, RFC 7252 3.1), except a payload marker with nothing after it, which the
    /// encoder does not write.
    #[test]
    fn decoding_arbitrary_bytes(bytes in bytes()) {
        if let Ok(m) = Message::decode(&bytes) {
            let again = m.encode().expect("a decoded message encodes");
            if m.payload.is_empty() && bytes.last() == Some(&0xff) && again.len() + 1 == bytes.len() {
                prop_assert_eq!(&again[..], &bytes[..bytes.len() - 1]);
            } else {
                prop_assert_eq!(again, bytes);
            }
        }
    }

    /// The validator never panics and agrees with the decoder: bytes without violations
    /// decode, and bytes that do not decode have a violation saying why.
    #[test]
    fn validating_arbitrary_bytes(bytes in bytes()) {
        let violations = validate(&bytes);
        let unreadable = violations.iter().any(unreadable);
        match Message::decode(&bytes) {
            Ok(_) => prop_assert!(!unreadable, "decoded, but the validator found {:?}", violations),
            Err(e) => prop_assert!(unreadable, "{} but the validator found only {:?}", e, violations),
        }
        for v in &violations {
            prop_assert!(v.clause().starts_with("RFC 7"), "{v:?}");
        }
    }

    #[test]
    fn well_formed_messages_have_no_violation(m in common::well_formed()) {
        let bytes = m.encode().expect("encodes");
        prop_assert_eq!(validate(&bytes), vec![], "{}", m);
    }
}
