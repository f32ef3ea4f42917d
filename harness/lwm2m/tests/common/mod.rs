//! Proptest strategies for CoAP messages, shared by the property tests and the aiocoap
//! differential test.
#![allow(dead_code)]

use m2mspec_lwm2m::{BlockValue, CoapOption, Code, Message, MessageType, OptionNumber, Token};
use proptest::collection::vec;
use proptest::prelude::*;

/// Option numbers aiocoap 0.4.17 gives a non-opaque format although m2mspec does not know
/// them (13 Uri-Path-Abbrev, 16 Hop-Limit, 258 No-Response): kept out of "unknown" options so
/// that both sides read them as opaque bytes.
pub const AIOCOAP_EXTRA_KNOWN: [u16; 3] = [13, 16, 258];

pub fn token() -> impl Strategy<Value = Token> {
    vec(any::<u8>(), 0..=8).prop_map(|b| Token::new(&b).expect("at most 8 bytes"))
}

pub fn mtype() -> impl Strategy<Value = MessageType> {
    (0u8..4).prop_map(MessageType::from_bits)
}

pub fn block() -> impl Strategy<Value = BlockValue> {
    (0..=BlockValue::MAX_NUM, any::<bool>(), 0u8..=7)
        .prop_map(|(n, m, s)| BlockValue::new(n, m, s).expect("in range"))
}

fn string_option(number: OptionNumber) -> impl Strategy<Value = CoapOption> {
    "\\PC{0,24}".prop_map(move |s| CoapOption::string(number, &s))
}

fn uint_option(number: OptionNumber, max: u64) -> impl Strategy<Value = CoapOption> {
    (0..=max).prop_map(move |v| CoapOption::uint(number, v))
}

fn unknown_number() -> impl Strategy<Value = OptionNumber> {
    any::<u16>()
        .prop_filter("unknown to both codecs", |n| {
            OptionNumber(*n).definition().is_none() && !AIOCOAP_EXTRA_KNOWN.contains(n)
        })
        .prop_map(OptionNumber)
}

/// Any option with a value its format allows (strings UTF-8, uints minimal, Block values
/// well-formed, SZX 7 included); unknown options with opaque values, some long enough for the
/// 16-bit extended length.
pub fn option() -> impl Strategy<Value = CoapOption> {
    prop_oneof![
        string_option(OptionNumber::URI_PATH),
        string_option(OptionNumber::URI_QUERY),
        string_option(OptionNumber::LOCATION_PATH),
        string_option(OptionNumber::URI_HOST),
        string_option(OptionNumber::LOCATION_QUERY),
        uint_option(OptionNumber::CONTENT_FORMAT, 0xffff),
        uint_option(OptionNumber::ACCEPT, 0xffff),
        uint_option(OptionNumber::SIZE1, 0xffff_ffff),
        uint_option(OptionNumber::SIZE2, 0xffff_ffff),
        uint_option(OptionNumber::OBSERVE, 0xff_ffff),
        uint_option(OptionNumber::MAX_AGE, 0xffff_ffff),
        uint_option(OptionNumber::URI_PORT, 0xffff),
        block().prop_map(|b| CoapOption::new(OptionNumber::BLOCK1, b.encode())),
        block().prop_map(|b| CoapOption::new(OptionNumber::BLOCK2, b.encode())),
        vec(any::<u8>(), 0..=8).prop_map(|v| CoapOption::new(OptionNumber::ETAG, v)),
        vec(any::<u8>(), 0..=8).prop_map(|v| CoapOption::new(OptionNumber::IF_MATCH, v)),
        Just(CoapOption::new(OptionNumber::IF_NONE_MATCH, vec![])),
        (unknown_number(), vec(any::<u8>(), 0..32)).prop_map(|(n, v)| CoapOption::new(n, v)),
        (unknown_number(), vec(any::<u8>(), 260..600)).prop_map(|(n, v)| CoapOption::new(n, v)),
    ]
}

/// Any version-1 message, options in wire order (stable-sorted by number, as the encoder
/// writes them).
pub fn message() -> impl Strategy<Value = Message> {
    (
        mtype(),
        any::<u8>(),
        any::<u16>(),
        token(),
        vec(option(), 0..10),
        prop_oneof![4 => vec(any::<u8>(), 0..64), 1 => vec(any::<u8>(), 1000..3000)],
    )
        .prop_map(|(t, code, mid, token, mut options, payload)| {
            options.sort_by_key(|o| o.number);
            let mut m = Message::new(t, Code(code), mid, token);
            m.options = options;
            m.payload = payload;
            m
        })
}

/// A message no format rule objects to: a request (CON or NON) or a response (NON or ACK)
/// with in-range options, no repeated non-repeatable option, unknown options elective only.
pub fn well_formed() -> impl Strategy<Value = Message> {
    let request = (
        prop_oneof![
            Just(Code::GET),
            Just(Code::POST),
            Just(Code::PUT),
            Just(Code::DELETE)
        ],
        prop_oneof![
            Just(MessageType::Confirmable),
            Just(MessageType::NonConfirmable)
        ],
    );
    let response = (
        prop_oneof![
            Just(Code::CONTENT),
            Just(Code::CHANGED),
            Just(Code::CREATED),
            Just(Code::NOT_FOUND)
        ],
        prop_oneof![
            Just(MessageType::NonConfirmable),
            Just(MessageType::Acknowledgement)
        ],
    );
    (
        prop_oneof![request, response],
        any::<u16>(),
        token(),
        vec("[a-z0-9=._-]{0,16}", 0..4),
        vec("[a-z0-9=._-]{0,16}", 0..3),
        proptest::option::of(0u16..=0xffff),
        proptest::option::of(0u32..=0xff_ffff),
        proptest::option::of((0..=BlockValue::MAX_NUM, any::<bool>(), 0u8..=6)),
        proptest::option::of(any::<u32>()),
        vec((any::<u16>(), vec(any::<u8>(), 0..20)), 0..3),
        vec(any::<u8>(), 0..100),
    )
        .prop_map(
            |((code, t), mid, token, path, query, cf, observe, block, size1, extra, payload)| {
                let mut m = Message::new(t, code, mid, token).with_payload(payload);
                for p in path {
                    m.add_option(CoapOption::string(OptionNumber::URI_PATH, &p));
                }
                for q in query {
                    m = m.with_uri_query(&q);
                }
                if let Some(cf) = cf {
                    m = m.with_content_format(cf);
                }
                if let Some(o) = observe {
                    m = m.with_observe(o);
                }
                if let Some((n, more, szx)) = block {
                    m = m.with_block2(BlockValue::new(n, more, szx).expect("in range"));
                }
                if let Some(s) = size1 {
                    m = m.with_size1(s);
                }
                for (n, v) in extra {
                    let n = OptionNumber(n & !1);
                    if n.definition().is_none() && !m.has_option(n) {
                        m.add_option(CoapOption::new(n, v));
                    }
                }
                m
            },
        )
}
