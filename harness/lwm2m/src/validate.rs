//! The strict format validator: every RFC 7252 (and RFC 7959 Block) format rule a message
//! breaks, each with its clause, for verdicts.
//!
//! It reads the bytes itself (with the decoder's option walker, so both read options the same
//! way) and reports per-option findings in byte order, then repeated options, then the
//! whole-message rules:
//! * version ≠ 1 (RFC 7252 3), token length 9–15 (RFC 7252 3: reserved; the validator goes on
//!   as if the token had that many bytes), a reserved code class 1, 6 or 7 (RFC 7252 3);
//! * an option delta or length nibble of 15 outside the payload marker (RFC 7252 3.1) — the
//!   walk cannot go on after it;
//! * unknown critical options (RFC 7252 5.4.1), more occurrences of a non-repeatable option than
//!   allowed (RFC 7252 5.4.5), values outside their format's length range (RFC 7252 5.4.3, 5.10
//!   Table 4; Block1/Block2 0–4 bytes per ESR030 4.7.1), strings that are not UTF-8 (RFC 7252
//!   3.2), `uint`s with leading zero bytes (RFC 7252 3.2, a SHOULD), Block SZX 7 (RFC 7959 2.2);
//! * a payload marker followed by an empty payload (RFC 7252 3);
//! * an Empty message (0.00) with a token, options or payload (RFC 7252 4.1); an Empty NON
//!   (RFC 7252 4.3), a Reset that is not Empty and an ACK carrying a request (RFC 7252 4.2);
//!   ESR030 5.1 (Table 5-2) overrides RFC 7252 4.2 and 4.3 as to reliability
//!   (retransmission, timeouts); this validator keeps their rules on what an Empty, Reset or
//!   Acknowledgement message may carry, which the profile does not touch;
//! * bytes the decoder cannot read at all, as [`Violation::Undecodable`] wrapping the decoder's
//!   typed [`DecodeError`] (RFC 7252 3, 3.1).
//!
//! Option order needs no separate check: on the wire it is carried by non-negative deltas, so
//! any decodable option sequence is in order; the decoder keeps it as it came.
//!
//! ESR030 profile rules (CON requests, NON responses, no piggybacking) are not format rules:
//! see [`crate::rules::types`].

use std::collections::HashMap;

use thiserror::Error;

use crate::code::{Code, CodeKind, MessageType};
use crate::codec::{header, DecodeError, Item, Nibble, OptionWalker};
use crate::option::{OptionFormat, OptionNumber};
use crate::token::Token;

/// How strong the broken rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// MUST / MUST NOT, or a message format error.
    Must,
    /// SHOULD / SHOULD NOT.
    Should,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    #[error("version {version}: implementations MUST set the Ver field to 1")]
    UnsupportedVersion { version: u8 },
    #[error("token length {tkl}: lengths 9-15 are reserved, MUST NOT be sent and MUST be processed as a message format error")]
    ReservedTokenLength { tkl: u8 },
    #[error("code {code}: classes 1, 6 and 7 are reserved")]
    ReservedCodeClass { code: Code },
    #[error("byte {offset}: option {nibble:?} nibble 15 outside the payload marker MUST be processed as a message format error")]
    ReservedNibble { offset: usize, nibble: Nibble },
    #[error("byte {offset}: payload marker followed by a zero-length payload MUST be processed as a message format error")]
    EmptyPayloadAfterMarker { offset: usize },
    #[error("{number}: unrecognized critical option")]
    UnknownCriticalOption { number: OptionNumber },
    #[error("{number}: {count} occurrences of a non-repeatable option")]
    RepeatedOption { number: OptionNumber, count: usize },
    #[error("{number}: value of {len} bytes outside the defined length {min}-{max}")]
    OptionLength {
        number: OptionNumber,
        len: usize,
        min: usize,
        max: usize,
    },
    #[error("{number}: string value is not UTF-8")]
    NotUtf8 { number: OptionNumber },
    #[error("{number}: uint value with a leading zero byte (SHOULD be as few bytes as possible)")]
    NonMinimalUint { number: OptionNumber },
    #[error("{number}: SZX 7 is reserved and MUST NOT be sent")]
    ReservedSzx { number: OptionNumber },
    #[error("Empty message (0.00) with {extra} bytes after the Message ID (token length {tkl}): MUST be processed as a message format error")]
    EmptyMessageNotEmpty { tkl: u8, extra: usize },
    #[error("Empty NON message: a Non-confirmable message MUST NOT be Empty")]
    EmptyNonConfirmable,
    #[error("Reset message with code {code}: a Reset MUST be Empty")]
    ResetNotEmpty { code: Code },
    #[error(
        "ACK carrying request code {code}: an Acknowledgement MUST carry a response or be Empty"
    )]
    AckWithRequest { code: Code },
    #[error("undecodable: {0}")]
    Undecodable(DecodeError),
}

impl Violation {
    /// The clause that states the broken rule.
    pub fn clause(&self) -> &'static str {
        match self {
            Violation::UnsupportedVersion { .. }
            | Violation::ReservedTokenLength { .. }
            | Violation::ReservedCodeClass { .. }
            | Violation::EmptyPayloadAfterMarker { .. } => "RFC 7252 3",
            Violation::ReservedNibble { .. } => "RFC 7252 3.1",
            Violation::UnknownCriticalOption { .. } => "RFC 7252 5.4.1",
            Violation::RepeatedOption { .. } => "RFC 7252 5.4.5",
            Violation::OptionLength { number, .. } => match *number {
                OptionNumber::BLOCK1 | OptionNumber::BLOCK2 => "RFC 7252 5.4.3, ESR030 4.7.1",
                _ => "RFC 7252 5.4.3",
            },
            Violation::NotUtf8 { .. } | Violation::NonMinimalUint { .. } => "RFC 7252 3.2",
            Violation::ReservedSzx { .. } => "RFC 7959 2.2",
            Violation::EmptyMessageNotEmpty { .. } => "RFC 7252 4.1",
            Violation::EmptyNonConfirmable => "RFC 7252 4.3",
            Violation::ResetNotEmpty { .. } | Violation::AckWithRequest { .. } => "RFC 7252 4.2",
            Violation::Undecodable(e) => match e {
                DecodeError::ReservedNibble { .. }
                | DecodeError::TruncatedOption { .. }
                | DecodeError::OptionNumberOverflow { .. } => "RFC 7252 3.1",
                _ => "RFC 7252 3",
            },
        }
    }

    /// MUST or SHOULD.
    pub fn level(&self) -> Level {
        match self {
            Violation::NonMinimalUint { .. } => Level::Should,
            _ => Level::Must,
        }
    }
}

/// Every format rule `bytes` breaks, in byte order; empty for a well-formed message.
pub fn validate(bytes: &[u8]) -> Vec<Violation> {
    let mut out = Vec::new();
    let h = match header(bytes) {
        Ok(h) => h,
        Err(e) => return vec![Violation::Undecodable(e)],
    };
    if h.version != 1 {
        out.push(Violation::UnsupportedVersion { version: h.version });
    }
    if usize::from(h.tkl) > Token::MAX_LEN {
        out.push(Violation::ReservedTokenLength { tkl: h.tkl });
    }
    if h.code.kind() == CodeKind::Reserved {
        out.push(Violation::ReservedCodeClass { code: h.code });
    }
    let end = 4 + usize::from(h.tkl);
    if bytes.len() < end {
        out.push(Violation::Undecodable(DecodeError::TruncatedToken {
            tkl: h.tkl,
            available: bytes.len() - 4,
        }));
        return out;
    }

    let mut counts: HashMap<u16, usize> = HashMap::new();
    for item in OptionWalker::new(bytes, end) {
        match item {
            Err(DecodeError::ReservedNibble { offset, nibble }) => {
                out.push(Violation::ReservedNibble { offset, nibble });
            }
            Err(e) => out.push(Violation::Undecodable(e)),
            Ok(Item::Payload { offset, payload }) => {
                if payload.is_empty() {
                    out.push(Violation::EmptyPayloadAfterMarker { offset });
                }
            }
            Ok(Item::Option { number, value, .. }) => {
                *counts.entry(number).or_default() += 1;
                check_option(OptionNumber(number), value, &mut out);
            }
        }
    }

    let mut repeated: Vec<(u16, usize)> = counts
        .into_iter()
        .filter(|(n, c)| *c > 1 && OptionNumber(*n).definition().is_some_and(|d| !d.repeatable))
        .collect();
    repeated.sort_unstable();
    out.extend(
        repeated
            .into_iter()
            .map(|(n, count)| Violation::RepeatedOption {
                number: OptionNumber(n),
                count,
            }),
    );

    match (h.code.kind(), h.mtype) {
        (CodeKind::Empty, mtype) => {
            if bytes.len() > 4 || h.tkl != 0 {
                out.push(Violation::EmptyMessageNotEmpty {
                    tkl: h.tkl,
                    extra: bytes.len() - 4,
                });
            }
            if mtype == MessageType::NonConfirmable {
                out.push(Violation::EmptyNonConfirmable);
            }
        }
        (_, MessageType::Reset) => out.push(Violation::ResetNotEmpty { code: h.code }),
        (CodeKind::Request, MessageType::Acknowledgement) => {
            out.push(Violation::AckWithRequest { code: h.code })
        }
        _ => {}
    }
    out
}

/// Per-option checks against the option table.
fn check_option(number: OptionNumber, value: &[u8], out: &mut Vec<Violation>) {
    let Some(def) = number.definition() else {
        if number.is_critical() {
            // Report each unknown critical number once.
            if !out.iter().any(
                |v| matches!(v, Violation::UnknownCriticalOption { number: n } if *n == number),
            ) {
                out.push(Violation::UnknownCriticalOption { number });
            }
        }
        return;
    };
    if value.len() < def.min_len || value.len() > def.max_len {
        out.push(Violation::OptionLength {
            number,
            len: value.len(),
            min: def.min_len,
            max: def.max_len,
        });
        return;
    }
    match def.format {
        OptionFormat::String if std::str::from_utf8(value).is_err() => {
            out.push(Violation::NotUtf8 { number })
        }
        OptionFormat::Uint => {
            if value.first() == Some(&0) {
                out.push(Violation::NonMinimalUint { number });
            }
            if (number == OptionNumber::BLOCK1 || number == OptionNumber::BLOCK2)
                && value.last().is_some_and(|b| b & 0x07 == 7)
            {
                out.push(Violation::ReservedSzx { number });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockValue;
    use crate::message::Message;
    use crate::option::CoapOption;
    use rstest::rstest;

    fn v(bytes: &[u8]) -> Vec<Violation> {
        validate(bytes)
    }

    #[test]
    fn well_formed_messages_have_no_violation() {
        let m = Message::request(Code::POST, 7, Token::from_u64(9))
            .with_uri_path("rd")
            .with_uri_query("ep=x")
            .with_content_format(40)
            .with_block1(BlockValue::new(1 << 21, true, 6).unwrap())
            .with_payload(&b"</1/0>"[..]);
        assert_eq!(v(&m.encode().unwrap()), vec![]);
        // empty ACK, CoAP ping (empty CON), RST
        assert_eq!(v(&[0x60, 0x00, 0x00, 0x07]), vec![]);
        assert_eq!(v(&[0x40, 0x00, 0x00, 0x07]), vec![]);
        assert_eq!(v(&[0x70, 0x00, 0x00, 0x07]), vec![]);
        // unknown elective option: ignored (RFC 7252 5.4.1)
        let mut m = Message::request(Code::GET, 1, Token::empty());
        m.add_option(CoapOption::new(OptionNumber(2048), vec![1, 2]));
        assert_eq!(v(&m.encode().unwrap()), vec![]);
    }

    #[rstest]
    #[case::version_0(&[0x00, 0x01, 0, 1], vec![Violation::UnsupportedVersion { version: 0 }], "RFC 7252 3")]
    #[case::version_2(&[0x80, 0x01, 0, 1], vec![Violation::UnsupportedVersion { version: 2 }], "RFC 7252 3")]
    #[case::tkl_9(&[0x49, 0x01, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9], vec![Violation::ReservedTokenLength { tkl: 9 }], "RFC 7252 3")]
    #[case::tkl_15_truncated(&[0x4f, 0x01, 0, 1], vec![Violation::ReservedTokenLength { tkl: 15 }, Violation::Undecodable(DecodeError::TruncatedToken { tkl: 15, available: 0 })], "RFC 7252 3")]
    #[case::code_class_7(&[0x40, 0xe0, 0, 1], vec![Violation::ReservedCodeClass { code: Code(0xe0) }], "RFC 7252 3")]
    #[case::delta_15(&[0x40, 0x01, 0, 1, 0xf0], vec![Violation::ReservedNibble { offset: 4, nibble: Nibble::Delta }], "RFC 7252 3.1")]
    #[case::length_15(&[0x40, 0x01, 0, 1, 0xbf, b'x'], vec![Violation::ReservedNibble { offset: 4, nibble: Nibble::Length }], "RFC 7252 3.1")]
    #[case::marker_empty(&[0x40, 0x01, 0, 1, 0xff], vec![Violation::EmptyPayloadAfterMarker { offset: 4 }], "RFC 7252 3")]
    #[case::unknown_critical(&[0x40, 0x01, 0, 1, 0xe0, 0x06, 0xf4], vec![Violation::UnknownCriticalOption { number: OptionNumber(2049) }], "RFC 7252 5.4.1")]
    #[case::repeated_content_format(&[0x40, 0x02, 0, 1, 0xc1, 0x28, 0x01, 0x28], vec![Violation::RepeatedOption { number: OptionNumber::CONTENT_FORMAT, count: 2 }], "RFC 7252 5.4.5")]
    #[case::content_format_3_bytes(&[0x40, 0x02, 0, 1, 0xc3, 1, 2, 3], vec![Violation::OptionLength { number: OptionNumber::CONTENT_FORMAT, len: 3, min: 0, max: 2 }], "RFC 7252 5.4.3")]
    #[case::block2_5_bytes(&[0x40, 0x01, 0, 1, 0xd5, 10, 1, 2, 3, 4, 5], vec![Violation::OptionLength { number: OptionNumber::BLOCK2, len: 5, min: 0, max: 4 }], "RFC 7252 5.4.3, ESR030 4.7.1")]
    #[case::uri_host_empty(&[0x40, 0x01, 0, 1, 0x30], vec![Violation::OptionLength { number: OptionNumber::URI_HOST, len: 0, min: 1, max: 255 }], "RFC 7252 5.4.3")]
    #[case::if_none_match_value(&[0x40, 0x01, 0, 1, 0x51, 0], vec![Violation::OptionLength { number: OptionNumber::IF_NONE_MATCH, len: 1, min: 0, max: 0 }], "RFC 7252 5.4.3")]
    #[case::uri_path_not_utf8(&[0x40, 0x01, 0, 1, 0xb2, 0xc3, 0x28], vec![Violation::NotUtf8 { number: OptionNumber::URI_PATH }], "RFC 7252 3.2")]
    #[case::leading_zero_uint(&[0x40, 0x02, 0, 1, 0xc2, 0x00, 0x28], vec![Violation::NonMinimalUint { number: OptionNumber::CONTENT_FORMAT }], "RFC 7252 3.2")]
    #[case::szx_7(&[0x40, 0x01, 0, 1, 0xd1, 10, 0x07], vec![Violation::ReservedSzx { number: OptionNumber::BLOCK2 }], "RFC 7959 2.2")]
    #[case::empty_with_token(&[0x61, 0x00, 0, 1, 0xaa], vec![Violation::EmptyMessageNotEmpty { tkl: 1, extra: 1 }], "RFC 7252 4.1")]
    #[case::empty_with_payload(&[0x60, 0x00, 0, 1, 0xff, 1], vec![Violation::EmptyMessageNotEmpty { tkl: 0, extra: 2 }], "RFC 7252 4.1")]
    #[case::empty_non(&[0x50, 0x00, 0, 1], vec![Violation::EmptyNonConfirmable], "RFC 7252 4.3")]
    #[case::reset_with_code(&[0x70, 0x45, 0, 1], vec![Violation::ResetNotEmpty { code: Code::CONTENT }], "RFC 7252 4.2")]
    #[case::ack_with_request(&[0x60, 0x01, 0, 1], vec![Violation::AckWithRequest { code: Code::GET }], "RFC 7252 4.2")]
    #[case::too_short(&[0x40, 0x01], vec![Violation::Undecodable(DecodeError::TooShort { len: 2 })], "RFC 7252 3")]
    #[case::truncated_option(&[0x40, 0x01, 0, 1, 0xb5, b'a'], vec![Violation::Undecodable(DecodeError::TruncatedOption { offset: 4 })], "RFC 7252 3.1")]
    fn each_violation_with_its_clause(
        #[case] bytes: &[u8],
        #[case] expected: Vec<Violation>,
        #[case] clause: &str,
    ) {
        let found = v(bytes);
        assert_eq!(found, expected);
        assert_eq!(found[0].clause(), clause);
    }

    #[test]
    fn every_violation_is_reported_not_just_the_first() {
        // version 3, Empty code with a token, repeated Observe, a non-UTF-8 Location-Path,
        // and an empty payload after the marker.
        let bytes = [
            0xe1, 0x00, 0, 1, 0xaa, // version 3, ACK, token length 1, code 0.00
            0x60, // Observe, len 0
            0x00, // Observe again
            0x21, 0xff, // Location-Path (8) = 0xff
            0xff, // marker, nothing after
        ];
        let found = v(&bytes);
        assert_eq!(
            found,
            vec![
                Violation::UnsupportedVersion { version: 3 },
                Violation::NotUtf8 {
                    number: OptionNumber::LOCATION_PATH
                },
                Violation::EmptyPayloadAfterMarker { offset: 9 },
                Violation::RepeatedOption {
                    number: OptionNumber::OBSERVE,
                    count: 2
                },
                Violation::EmptyMessageNotEmpty { tkl: 1, extra: 6 },
            ]
        );
    }

    #[test]
    fn levels_and_messages_read_well() {
        let nm = Violation::NonMinimalUint {
            number: OptionNumber::SIZE1,
        };
        assert_eq!(nm.level(), Level::Should);
        assert_eq!(
            nm.to_string(),
            "Size1 (60): uint value with a leading zero byte (SHOULD be as few bytes as possible)"
        );
        assert_eq!(Violation::EmptyNonConfirmable.level(), Level::Must);
    }
}
