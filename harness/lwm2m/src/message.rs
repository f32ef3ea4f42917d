//! The CoAP message model (RFC 7252 3): header fields, token, options in wire order and
//! payload, with typed views and builders for the options LWM2M over MQTT uses (Uri-Path,
//! Uri-Query, Location-Path, Content-Format, Accept, Size1, Block1, Block2, Observe).
//!
//! Options are held raw in a `Vec` in wire order (ascending number, repeated options in the
//! order they came), so that a decoded message keeps everything the wire carried — unknown
//! options, repeated non-repeatable ones, out-of-range lengths — for the validator and the
//! verdicts. Typed getters return a typed error rather than guessing when a value is not
//! well-formed; a getter for a non-repeatable option reads its first occurrence (RFC 7252
//! 5.4.5 treats later ones as unrecognised).
//!
//! Size is not limited: ESR030 5.1 (Table 5-3) does not include RFC 7252 4.6 (Message Size).

use std::fmt;

use thiserror::Error;

use crate::block::{BlockError, BlockValue};
use crate::code::{Code, MessageType};
use crate::option::{decode_uint, CoapOption, OptionNumber};
use crate::token::Token;

/// An option value that its typed getter cannot read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OptionError {
    #[error("{number}: value is not UTF-8 (RFC 7252 3.2 string format)")]
    NotUtf8 { number: OptionNumber },
    #[error("{number}: value of {len} bytes exceeds the {max} bytes of its uint format")]
    UintTooLong {
        number: OptionNumber,
        len: usize,
        max: usize,
    },
    #[error("{number}: {source}")]
    Block {
        number: OptionNumber,
        source: BlockError,
    },
}

/// A CoAP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Protocol version (RFC 7252 3: MUST be 1). Only the low 2 bits exist on the wire; the
    /// encoder refuses larger values.
    pub version: u8,
    pub mtype: MessageType,
    pub code: Code,
    pub message_id: u16,
    pub token: Token,
    /// Options in wire order. [`Message::add_option`] keeps the order; the encoder sorts a
    /// copy stably by number if the vector was filled out of order.
    pub options: Vec<CoapOption>,
    /// Payload; an empty payload is sent without the 0xFF marker.
    pub payload: Vec<u8>,
}

impl Message {
    /// A version-1 message with no options and no payload.
    pub fn new(mtype: MessageType, code: Code, message_id: u16, token: Token) -> Message {
        Message {
            version: 1,
            mtype,
            code,
            message_id,
            token,
            options: Vec::new(),
            payload: Vec::new(),
        }
    }

    /// A confirmable request (ESR030 4.5.1: requests are CON).
    pub fn request(code: Code, message_id: u16, token: Token) -> Message {
        Message::new(MessageType::Confirmable, code, message_id, token)
    }

    /// All values of option `number`, in order.
    pub fn option_values(&self, number: OptionNumber) -> impl Iterator<Item = &[u8]> + '_ {
        self.options
            .iter()
            .filter(move |o| o.number == number)
            .map(|o| o.value.as_slice())
    }

    /// The first value of option `number`.
    pub fn option(&self, number: OptionNumber) -> Option<&[u8]> {
        self.option_values(number).next()
    }

    /// True if option `number` is present.
    pub fn has_option(&self, number: OptionNumber) -> bool {
        self.options.iter().any(|o| o.number == number)
    }

    /// Insert an option after every option with a number ≤ its own (wire order).
    pub fn add_option(&mut self, option: CoapOption) {
        let at = self
            .options
            .iter()
            .position(|o| o.number > option.number)
            .unwrap_or(self.options.len());
        self.options.insert(at, option);
    }

    /// Remove every occurrence of option `number`.
    pub fn remove_option(&mut self, number: OptionNumber) {
        self.options.retain(|o| o.number != number);
    }

    /// Replace every occurrence of `option.number` with `option`.
    pub fn set_option(&mut self, option: CoapOption) {
        self.remove_option(option.number);
        self.add_option(option);
    }

    /// All values of a string option.
    pub fn strings(&self, number: OptionNumber) -> Result<Vec<&str>, OptionError> {
        self.option_values(number)
            .map(|v| std::str::from_utf8(v).map_err(|_| OptionError::NotUtf8 { number }))
            .collect()
    }

    /// The first value of a `uint` option of at most `max_len` bytes.
    pub fn uint(&self, number: OptionNumber, max_len: usize) -> Result<Option<u64>, OptionError> {
        match self.option(number) {
            None => Ok(None),
            Some(v) => decode_uint(v, max_len)
                .map(Some)
                .ok_or(OptionError::UintTooLong {
                    number,
                    len: v.len(),
                    max: max_len,
                }),
        }
    }

    fn block(&self, number: OptionNumber) -> Result<Option<BlockValue>, OptionError> {
        self.option(number)
            .map(|v| BlockValue::decode(v).map_err(|source| OptionError::Block { number, source }))
            .transpose()
    }

    /// Uri-Path segments (RFC 7252 5.10.1).
    pub fn uri_path(&self) -> Result<Vec<&str>, OptionError> {
        self.strings(OptionNumber::URI_PATH)
    }
    /// Uri-Path segments joined with `/` and a leading `/` (`/` for no segment).
    pub fn uri_path_string(&self) -> Result<String, OptionError> {
        Ok(format!("/{}", self.uri_path()?.join("/")))
    }
    /// Uri-Query arguments (RFC 7252 5.10.1).
    pub fn uri_query(&self) -> Result<Vec<&str>, OptionError> {
        self.strings(OptionNumber::URI_QUERY)
    }
    /// Location-Path segments (RFC 7252 5.10.7).
    pub fn location_path(&self) -> Result<Vec<&str>, OptionError> {
        self.strings(OptionNumber::LOCATION_PATH)
    }
    /// Content-Format (RFC 7252 5.10.3; uint 0–2 bytes).
    pub fn content_format(&self) -> Result<Option<u16>, OptionError> {
        Ok(self
            .uint(OptionNumber::CONTENT_FORMAT, 2)?
            .map(|v| v as u16))
    }
    /// Accept (RFC 7252 5.10.4; uint 0–2 bytes).
    pub fn accept(&self) -> Result<Option<u16>, OptionError> {
        Ok(self.uint(OptionNumber::ACCEPT, 2)?.map(|v| v as u16))
    }
    /// Size1 (RFC 7252 5.10.9, RFC 7959 4; uint 0–4 bytes).
    pub fn size1(&self) -> Result<Option<u32>, OptionError> {
        Ok(self.uint(OptionNumber::SIZE1, 4)?.map(|v| v as u32))
    }
    /// Observe (RFC 7641 2; uint 0–3 bytes: 0 register, 1 deregister, or a sequence number).
    pub fn observe(&self) -> Result<Option<u32>, OptionError> {
        Ok(self.uint(OptionNumber::OBSERVE, 3)?.map(|v| v as u32))
    }
    /// Block1 (RFC 7959 2.1, ESR030 4.7.1).
    pub fn block1(&self) -> Result<Option<BlockValue>, OptionError> {
        self.block(OptionNumber::BLOCK1)
    }
    /// Block2 (RFC 7959 2.1, ESR030 4.7.1).
    pub fn block2(&self) -> Result<Option<BlockValue>, OptionError> {
        self.block(OptionNumber::BLOCK2)
    }

    /// Append Uri-Path segments from `path`, split on `/` (a leading `/` is skipped; `""` and
    /// `"/"` add nothing).
    pub fn with_uri_path(mut self, path: &str) -> Message {
        let path = path.strip_prefix('/').unwrap_or(path);
        if !path.is_empty() {
            for segment in path.split('/') {
                self.add_option(CoapOption::string(OptionNumber::URI_PATH, segment));
            }
        }
        self
    }
    /// Append one Uri-Query argument (`key=value` or `key`).
    pub fn with_uri_query(mut self, argument: &str) -> Message {
        self.add_option(CoapOption::string(OptionNumber::URI_QUERY, argument));
        self
    }
    /// Append Location-Path segments.
    pub fn with_location_path<S: AsRef<str>>(mut self, segments: &[S]) -> Message {
        for s in segments {
            self.add_option(CoapOption::string(OptionNumber::LOCATION_PATH, s.as_ref()));
        }
        self
    }
    /// Set Content-Format.
    pub fn with_content_format(mut self, format: u16) -> Message {
        self.set_option(CoapOption::uint(
            OptionNumber::CONTENT_FORMAT,
            u64::from(format),
        ));
        self
    }
    /// Set Accept.
    pub fn with_accept(mut self, format: u16) -> Message {
        self.set_option(CoapOption::uint(OptionNumber::ACCEPT, u64::from(format)));
        self
    }
    /// Set Size1.
    pub fn with_size1(mut self, size: u32) -> Message {
        self.set_option(CoapOption::uint(OptionNumber::SIZE1, u64::from(size)));
        self
    }
    /// Set Observe. Sequence numbers are 24-bit (RFC 7641 4.4): only the low 24 bits are sent.
    pub fn with_observe(mut self, value: u32) -> Message {
        self.set_option(CoapOption::uint(
            OptionNumber::OBSERVE,
            u64::from(value & 0x00ff_ffff),
        ));
        self
    }
    /// Set Block1.
    pub fn with_block1(mut self, block: BlockValue) -> Message {
        self.set_option(CoapOption::new(OptionNumber::BLOCK1, block.encode()));
        self
    }
    /// Set Block2.
    pub fn with_block2(mut self, block: BlockValue) -> Message {
        self.set_option(CoapOption::new(OptionNumber::BLOCK2, block.encode()));
        self
    }
    /// Set the payload.
    pub fn with_payload(mut self, payload: impl Into<Vec<u8>>) -> Message {
        self.payload = payload.into();
        self
    }
}

/// One line for logs and evidence, e.g.
/// `CON 0.02 POST mid=4660 token=0a Uri-Path="rd" Uri-Query="ep=dev" Content-Format=40 payload=12B`.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.version != 1 {
            write!(f, "v{} ", self.version)?;
        }
        write!(
            f,
            "{} {} mid={} token={}",
            self.mtype, self.code, self.message_id, self.token
        )?;
        for o in &self.options {
            let name = o
                .number
                .name()
                .map_or_else(|| format!("#{}", o.number.0), str::to_string);
            match o.number.definition().map(|d| d.format) {
                Some(crate::option::OptionFormat::String) => match std::str::from_utf8(&o.value) {
                    Ok(s) => write!(f, " {name}={s:?}")?,
                    Err(_) => write!(f, " {name}=0x{}", hex(&o.value))?,
                },
                Some(crate::option::OptionFormat::Uint)
                    if o.number == OptionNumber::BLOCK1 || o.number == OptionNumber::BLOCK2 =>
                {
                    match BlockValue::decode(&o.value) {
                        Ok(b) => write!(
                            f,
                            " {name}={}/{}/{}",
                            b.num(),
                            u8::from(b.more()),
                            b.size()
                                .map_or_else(|| "szx7".to_string(), |s| s.to_string())
                        )?,
                        Err(_) => write!(f, " {name}=0x{}", hex(&o.value))?,
                    }
                }
                Some(crate::option::OptionFormat::Uint) if o.value.len() <= 8 => write!(
                    f,
                    " {name}={}",
                    decode_uint(&o.value, 8).unwrap_or_default()
                )?,
                _ if o.value.is_empty() => write!(f, " {name}")?,
                _ => write!(f, " {name}=0x{}", hex(&o.value))?,
            }
        }
        if !self.payload.is_empty() {
            write!(f, " payload={}B", self.payload.len())?;
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register() -> Message {
        Message::request(Code::POST, 0x1234, Token::new(&[0x0a]).unwrap())
            .with_uri_query("ep=dev")
            .with_uri_path("/rd")
            .with_content_format(40)
            .with_payload(&b"</1/0>,</3/0>"[..])
    }

    #[test]
    fn options_stay_in_wire_order_whatever_the_insertion_order() {
        let m = register();
        let numbers: Vec<u16> = m.options.iter().map(|o| o.number.0).collect();
        assert_eq!(numbers, vec![11, 12, 15]);
        assert_eq!(m.uri_path().unwrap(), vec!["rd"]);
        assert_eq!(m.uri_query().unwrap(), vec!["ep=dev"]);
        assert_eq!(m.content_format().unwrap(), Some(40));
        assert_eq!(m.uri_path_string().unwrap(), "/rd");
    }

    #[test]
    fn repeated_options_keep_their_order() {
        let m = Message::request(Code::GET, 1, Token::empty()).with_uri_path("/3/0/1");
        assert_eq!(m.uri_path().unwrap(), vec!["3", "0", "1"]);
        assert_eq!(m.uri_path_string().unwrap(), "/3/0/1");
        let root = Message::request(Code::GET, 1, Token::empty()).with_uri_path("/");
        assert!(root.options.is_empty());
        assert_eq!(root.uri_path_string().unwrap(), "/");
    }

    #[test]
    fn typed_getters_report_bad_values() {
        let mut m = Message::request(Code::GET, 1, Token::empty());
        m.add_option(CoapOption::new(OptionNumber::URI_PATH, vec![0xff]));
        m.add_option(CoapOption::new(OptionNumber::CONTENT_FORMAT, vec![1, 2, 3]));
        m.add_option(CoapOption::new(OptionNumber::BLOCK2, vec![0; 5]));
        assert_eq!(
            m.uri_path(),
            Err(OptionError::NotUtf8 {
                number: OptionNumber::URI_PATH
            })
        );
        assert!(matches!(
            m.content_format(),
            Err(OptionError::UintTooLong { len: 3, max: 2, .. })
        ));
        assert!(matches!(
            m.block2(),
            Err(OptionError::Block {
                source: BlockError::TooLong(5),
                ..
            })
        ));
        assert_eq!(m.block1(), Ok(None));
    }

    #[test]
    fn setters_replace_and_observe_wraps_at_24_bits() {
        let b = BlockValue::new(1 << 20, true, 6).unwrap();
        let m = Message::request(Code::GET, 1, Token::empty())
            .with_observe(0x0100_0005)
            .with_size1(10)
            .with_size1(1 << 30)
            .with_block2(b);
        assert_eq!(m.observe().unwrap(), Some(5));
        assert_eq!(m.size1().unwrap(), Some(1 << 30));
        assert_eq!(m.option_values(OptionNumber::SIZE1).count(), 1);
        assert_eq!(m.block2().unwrap(), Some(b));
    }

    #[test]
    fn display_is_one_readable_line() {
        let b = BlockValue::new(1 << 20, true, 6).unwrap();
        let m = register().with_block1(b);
        assert_eq!(
            m.to_string(),
            "CON 0.02 POST mid=4660 token=0a Uri-Path=\"rd\" Content-Format=40 Uri-Query=\"ep=dev\" Block1=1048576/1/1024 payload=13B"
        );
    }
}
