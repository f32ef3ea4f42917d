//! CoAP options: numbers, the properties encoded in a number (RFC 7252 5.4.6), the table of
//! options this crate knows (RFC 7252 5.10 Table 4, RFC 7641 2 Observe, RFC 7959 2.1 and 4
//! Block1/Block2/Size2) with their value format and length range (RFC 7252 3.2, 5.4.3), and
//! the `uint` value format (RFC 7252 3.2).
//!
//! Block1 and Block2 are listed with a length of 0–4 bytes, not RFC 7959's 0–3: ESR030 4.7.1
//! extends the Block option to "a variable size of up to 4 bytes".
//!
//! An option is held raw (number + value bytes) in a [`CoapOption`]; typed views live on
//! [`crate::Message`]. Unknown options are kept like any other.

use std::fmt;

/// An option number (RFC 7252 5.4.6, 12.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OptionNumber(pub u16);

impl OptionNumber {
    pub const IF_MATCH: OptionNumber = OptionNumber(1);
    pub const URI_HOST: OptionNumber = OptionNumber(3);
    pub const ETAG: OptionNumber = OptionNumber(4);
    pub const IF_NONE_MATCH: OptionNumber = OptionNumber(5);
    pub const OBSERVE: OptionNumber = OptionNumber(6);
    pub const URI_PORT: OptionNumber = OptionNumber(7);
    pub const LOCATION_PATH: OptionNumber = OptionNumber(8);
    pub const URI_PATH: OptionNumber = OptionNumber(11);
    pub const CONTENT_FORMAT: OptionNumber = OptionNumber(12);
    pub const MAX_AGE: OptionNumber = OptionNumber(14);
    pub const URI_QUERY: OptionNumber = OptionNumber(15);
    pub const ACCEPT: OptionNumber = OptionNumber(17);
    pub const LOCATION_QUERY: OptionNumber = OptionNumber(20);
    pub const BLOCK2: OptionNumber = OptionNumber(23);
    pub const BLOCK1: OptionNumber = OptionNumber(27);
    pub const SIZE2: OptionNumber = OptionNumber(28);
    pub const PROXY_URI: OptionNumber = OptionNumber(35);
    pub const PROXY_SCHEME: OptionNumber = OptionNumber(39);
    pub const SIZE1: OptionNumber = OptionNumber(60);

    /// Critical options have odd numbers (RFC 7252 5.4.1, 5.4.6).
    pub fn is_critical(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// Unsafe-to-forward options have bit 1 set (RFC 7252 5.4.2, 5.4.6).
    pub fn is_unsafe(self) -> bool {
        self.0 & 0x02 != 0
    }
    /// NoCacheKey options have bits 2–4 set to `111` (RFC 7252 5.4.6).
    pub fn is_no_cache_key(self) -> bool {
        self.0 & 0x1e == 0x1c
    }
    /// The definition of this option, if this crate knows it.
    pub fn definition(self) -> Option<&'static OptionDef> {
        KNOWN_OPTIONS.iter().find(|d| d.number == self)
    }
    /// The registered name, if known.
    pub fn name(self) -> Option<&'static str> {
        self.definition().map(|d| d.name)
    }
}

/// `Uri-Path (11)`, or `option 65000` for an unknown one.
impl fmt::Display for OptionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "option {}", self.0),
        }
    }
}

impl fmt::Debug for OptionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OptionNumber({self})")
    }
}

/// Option value formats (RFC 7252 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionFormat {
    /// Zero-length value.
    Empty,
    /// Opaque bytes.
    Opaque,
    /// Non-negative integer, network byte order, no leading zero bytes (SHOULD).
    Uint,
    /// UTF-8 string (Net-Unicode).
    String,
}

/// One row of the option table: how an option is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDef {
    pub number: OptionNumber,
    pub name: &'static str,
    pub format: OptionFormat,
    /// Smallest allowed value length in bytes.
    pub min_len: usize,
    /// Largest allowed value length in bytes.
    pub max_len: usize,
    /// May occur more than once (RFC 7252 5.4.5).
    pub repeatable: bool,
    /// Where the definition comes from.
    pub clause: &'static str,
}

const fn def(
    number: u16,
    name: &'static str,
    format: OptionFormat,
    min_len: usize,
    max_len: usize,
    repeatable: bool,
    clause: &'static str,
) -> OptionDef {
    OptionDef {
        number: OptionNumber(number),
        name,
        format,
        min_len,
        max_len,
        repeatable,
        clause,
    }
}

use OptionFormat::{Empty, Opaque, String as Str, Uint};

/// The options this crate knows, in number order.
pub static KNOWN_OPTIONS: &[OptionDef] = &[
    def(1, "If-Match", Opaque, 0, 8, true, "RFC 7252 5.10.8.1"),
    def(3, "Uri-Host", Str, 1, 255, false, "RFC 7252 5.10.1"),
    def(4, "ETag", Opaque, 1, 8, true, "RFC 7252 5.10.6"),
    def(5, "If-None-Match", Empty, 0, 0, false, "RFC 7252 5.10.8.2"),
    def(6, "Observe", Uint, 0, 3, false, "RFC 7641 2"),
    def(7, "Uri-Port", Uint, 0, 2, false, "RFC 7252 5.10.1"),
    def(8, "Location-Path", Str, 0, 255, true, "RFC 7252 5.10.7"),
    def(11, "Uri-Path", Str, 0, 255, true, "RFC 7252 5.10.1"),
    def(12, "Content-Format", Uint, 0, 2, false, "RFC 7252 5.10.3"),
    def(14, "Max-Age", Uint, 0, 4, false, "RFC 7252 5.10.5"),
    def(15, "Uri-Query", Str, 0, 255, true, "RFC 7252 5.10.1"),
    def(17, "Accept", Uint, 0, 2, false, "RFC 7252 5.10.4"),
    def(20, "Location-Query", Str, 0, 255, true, "RFC 7252 5.10.7"),
    def(
        23,
        "Block2",
        Uint,
        0,
        4,
        false,
        "RFC 7959 2.1, ESR030 4.7.1",
    ),
    def(
        27,
        "Block1",
        Uint,
        0,
        4,
        false,
        "RFC 7959 2.1, ESR030 4.7.1",
    ),
    def(28, "Size2", Uint, 0, 4, false, "RFC 7959 4"),
    def(35, "Proxy-Uri", Str, 1, 1034, false, "RFC 7252 5.10.2"),
    def(39, "Proxy-Scheme", Str, 1, 255, false, "RFC 7252 5.10.2"),
    def(60, "Size1", Uint, 0, 4, false, "RFC 7252 5.10.9"),
];

/// One option as it appears in a message: number and raw value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CoapOption {
    pub number: OptionNumber,
    pub value: Vec<u8>,
}

impl CoapOption {
    /// An option with a raw value.
    pub fn new(number: OptionNumber, value: impl Into<Vec<u8>>) -> CoapOption {
        CoapOption {
            number,
            value: value.into(),
        }
    }
    /// A `uint` option with the minimal encoding (RFC 7252 3.2).
    pub fn uint(number: OptionNumber, value: u64) -> CoapOption {
        CoapOption::new(number, encode_uint(value))
    }
    /// A `string` option.
    pub fn string(number: OptionNumber, value: &str) -> CoapOption {
        CoapOption::new(number, value.as_bytes())
    }
}

/// The minimal big-endian encoding of a `uint` (RFC 7252 3.2: 0 is the empty string).
pub fn encode_uint(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = (value.leading_zeros() / 8) as usize;
    bytes[skip..].to_vec()
}

/// Decode a `uint` of at most `max_len` bytes (leading zero bytes are accepted, RFC 7252
/// 3.2 only says a sender SHOULD not send them). `None` when the value is longer.
pub fn decode_uint(bytes: &[u8], max_len: usize) -> Option<u64> {
    if bytes.len() > max_len.min(8) {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, vec![])]
    #[case(1, vec![1])]
    #[case(255, vec![255])]
    #[case(256, vec![1, 0])]
    #[case(0x0102_0304, vec![1, 2, 3, 4])]
    #[case(u64::MAX, vec![255; 8])]
    fn uint_encoding_is_minimal(#[case] value: u64, #[case] bytes: Vec<u8>) {
        assert_eq!(encode_uint(value), bytes);
        assert_eq!(decode_uint(&bytes, 8), Some(value));
    }

    #[test]
    fn uint_decoding_respects_the_length_limit_and_accepts_leading_zeros() {
        assert_eq!(decode_uint(&[0, 0, 7], 4), Some(7));
        assert_eq!(decode_uint(&[1, 2, 3], 2), None);
        assert_eq!(decode_uint(&[0; 9], 9), None);
    }

    #[rstest]
    #[case(OptionNumber::URI_PATH, true, true, false)]
    #[case(OptionNumber::CONTENT_FORMAT, false, false, false)]
    #[case(OptionNumber::BLOCK1, true, true, false)]
    #[case(OptionNumber::SIZE1, false, false, true)]
    #[case(OptionNumber::SIZE2, false, false, true)]
    #[case(OptionNumber::OBSERVE, false, true, false)]
    #[case(OptionNumber(65001), true, false, false)]
    fn number_bits(
        #[case] n: OptionNumber,
        #[case] critical: bool,
        #[case] unsafe_: bool,
        #[case] no_cache_key: bool,
    ) {
        assert_eq!(n.is_critical(), critical);
        assert_eq!(n.is_unsafe(), unsafe_);
        assert_eq!(n.is_no_cache_key(), no_cache_key);
    }

    #[test]
    fn table_is_sorted_and_names_show() {
        assert!(KNOWN_OPTIONS.windows(2).all(|w| w[0].number < w[1].number));
        assert_eq!(OptionNumber::BLOCK2.to_string(), "Block2 (23)");
        assert_eq!(OptionNumber(2048).to_string(), "option 2048");
        let b1 = OptionNumber::BLOCK1.definition().unwrap();
        assert_eq!((b1.min_len, b1.max_len), (0, 4));
    }
}
