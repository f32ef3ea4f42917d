//! The CoAP token (RFC 7252 3, 5.3.1): 0 to 8 bytes, held inline so that message-layer
//! state machines can copy it freely. Lengths 9–15 are reserved (RFC 7252 3) and cannot be
//! represented; the decoder reports them as a typed error and the validator as a violation.

use std::fmt;
use thiserror::Error;

/// A token longer than the 8 bytes RFC 7252 3 allows.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("token of {0} bytes: RFC 7252 3 allows 0 to 8")]
pub struct TokenTooLong(pub usize);

/// A CoAP token of 0–8 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Token {
    len: u8,
    bytes: [u8; 8],
}

impl Token {
    /// The longest token RFC 7252 3 allows.
    pub const MAX_LEN: usize = 8;

    /// The zero-length token.
    pub const fn empty() -> Token {
        Token {
            len: 0,
            bytes: [0; 8],
        }
    }

    /// A token holding `bytes` (at most 8).
    pub fn new(bytes: &[u8]) -> Result<Token, TokenTooLong> {
        if bytes.len() > Self::MAX_LEN {
            return Err(TokenTooLong(bytes.len()));
        }
        let mut t = Token::empty();
        t.bytes[..bytes.len()].copy_from_slice(bytes);
        t.len = bytes.len() as u8;
        Ok(t)
    }

    /// A token from a counter, big-endian without leading zero bytes (0 → one zero byte, so
    /// that counter tokens are never confused with the empty token).
    pub fn from_u64(value: u64) -> Token {
        let all = value.to_be_bytes();
        let skip = (value.leading_zeros() / 8).min(7) as usize;
        let mut t = Token::empty();
        let len = 8 - skip;
        t.bytes[..len].copy_from_slice(&all[skip..]);
        t.len = len as u8;
        t
    }

    /// The token bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Number of bytes (0–8).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for the zero-length token.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl TryFrom<&[u8]> for Token {
    type Error = TokenTooLong;
    fn try_from(bytes: &[u8]) -> Result<Token, TokenTooLong> {
        Token::new(bytes)
    }
}

/// Lower-case hex, `-` for the empty token.
impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_up_to_eight_are_accepted() {
        for n in 0..=8 {
            let bytes: Vec<u8> = (0..n as u8).collect();
            let t = Token::new(&bytes).unwrap();
            assert_eq!(t.as_bytes(), &bytes[..]);
            assert_eq!(t.len(), n);
        }
        assert_eq!(Token::new(&[0; 9]), Err(TokenTooLong(9)));
    }

    #[test]
    fn counter_tokens_are_minimal_and_never_empty() {
        assert_eq!(Token::from_u64(0).as_bytes(), &[0]);
        assert_eq!(Token::from_u64(0x1234).as_bytes(), &[0x12, 0x34]);
        assert_eq!(Token::from_u64(u64::MAX).len(), 8);
        assert_eq!(Token::from_u64(0xab).to_string(), "ab");
        assert_eq!(Token::empty().to_string(), "-");
    }
}
