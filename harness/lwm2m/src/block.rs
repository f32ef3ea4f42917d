//! The Block1/Block2 option value (RFC 7959 2.2) with the 4-byte extension of ESR030 4.7.1.
//!
//! RFC 7959 2.2 packs `NUM | M | SZX` into a `uint` of 0–3 bytes: SZX in bits 0–2, M in
//! bit 3, NUM in the bits above (4, 12 or 20 bits). ESR030 4.7.1 extends the option "to a
//! variable size of up to 4 bytes"; the figure that shows the extended layout is missing from
//! the copy of ESR030 we have, so this crate takes the reading that the 4-byte form continues
//! the same layout: NUM in the upper 28 bits. NUM therefore ranges over 0..2^28; NUM values
//! of 2^20 and above need the 4-byte form, which a 3-byte codec cannot carry.
//!
//! Encoding is minimal (RFC 7959 2.2: "the option value can be 0 bytes" for NUM=0, M=0,
//! SZX=0, and `uint`s carry no leading zero bytes, RFC 7252 3.2). Decoding accepts 0–4 bytes
//! (leading zero bytes included); 5 or more is a typed error.
//!
//! SZX 7 is reserved in RFC 7959 2.2 ("MUST NOT be sent and MUST lead to a 4.00 Bad Request
//! response code upon reception in a request") and means BERT in RFC 8323 (CoAP over TCP),
//! which ESR030 does not include. ESR030 4.7.1's remark that the extension allows "binary
//! chunks greater than 1KB" could hint at a block size of 2048 for SZX 7, but the text does
//! not say so. This crate therefore keeps SZX 7 decodable and encodable (a harness must be
//! able to send and recognise it), reports no block size for it ([`BlockValue::size`] is
//! `None`), and the validator ([`crate::validate`](mod@crate::validate)) flags it as RFC 7959 2.2's reserved value.
//!
//! Fact recorded for the codec choice (checked against coap-lite 0.13.3, the crate first
//! considered): its `BlockValue` holds `num: u16`; `BlockValue::new` rejects NUM > 65535 with
//! `TypeBoundsError`; encoding computes `num << 4` in a `u16`, so NUM 5000 encodes as
//! `[0x38, 0x8e]` and decodes back as NUM 904 (silent truncation to 12 bits); decoding a 3-
//! or 4-byte value fails ("overflow: got 3 bytes, expected 2"). The largest NUM it
//! round-trips is 4095.

use thiserror::Error;

/// Errors building or decoding a Block option value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockError {
    #[error("Block option value of {0} bytes: ESR030 4.7.1 allows at most 4 (RFC 7959 2.2: 3)")]
    TooLong(usize),
    #[error("Block NUM {0} does not fit the 28 bits of a 4-byte Block option (ESR030 4.7.1)")]
    NumTooLarge(u32),
    #[error("SZX {0} is not a 3-bit value (RFC 7959 2.2)")]
    SzxOutOfRange(u8),
    #[error("block size {0} is not a power of two from 16 to 1024 (RFC 7959 2.2)")]
    BadSize(u32),
}

/// A Block1/Block2 value; always in range (NUM < 2^28, SZX ≤ 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockValue {
    num: u32,
    more: bool,
    szx: u8,
}

impl BlockValue {
    /// The largest NUM a 4-byte value carries.
    pub const MAX_NUM: u32 = (1 << 28) - 1;
    /// The reserved size exponent (RFC 7959 2.2; BERT in RFC 8323).
    pub const RESERVED_SZX: u8 = 7;

    /// A checked value: NUM < 2^28 and SZX ≤ 7.
    pub fn new(num: u32, more: bool, szx: u8) -> Result<BlockValue, BlockError> {
        if num > Self::MAX_NUM {
            return Err(BlockError::NumTooLarge(num));
        }
        if szx > 7 {
            return Err(BlockError::SzxOutOfRange(szx));
        }
        Ok(BlockValue { num, more, szx })
    }

    /// The SZX for a block size of 16, 32, …, 1024 bytes.
    pub fn szx_for_size(size: u32) -> Result<u8, BlockError> {
        if !(16..=1024).contains(&size) || !size.is_power_of_two() {
            return Err(BlockError::BadSize(size));
        }
        Ok((size.trailing_zeros() - 4) as u8)
    }

    /// A value for a block size of 16, 32, …, 1024 bytes.
    pub fn with_size(num: u32, more: bool, size: u32) -> Result<BlockValue, BlockError> {
        BlockValue::new(num, more, BlockValue::szx_for_size(size)?)
    }

    /// Relative block number (0..2^28).
    pub fn num(&self) -> u32 {
        self.num
    }
    /// More blocks follow (`M`).
    pub fn more(&self) -> bool {
        self.more
    }
    /// Size exponent (0–7); block size 2^(SZX+4); 7 is reserved (see the module doc).
    pub fn szx(&self) -> u8 {
        self.szx
    }

    /// The block size in bytes, `None` for the reserved SZX 7.
    pub fn size(&self) -> Option<u32> {
        (self.szx < Self::RESERVED_SZX).then(|| 1u32 << (self.szx + 4))
    }

    /// Byte offset of this block (`NUM × size`), `None` for SZX 7.
    pub fn offset(&self) -> Option<u64> {
        self.size().map(|s| u64::from(self.num) * u64::from(s))
    }

    /// The option value as an integer: `NUM << 4 | M << 3 | SZX`.
    pub fn to_u32(&self) -> u32 {
        (self.num << 4) | (u32::from(self.more) << 3) | u32::from(self.szx)
    }

    /// Minimal encoding: 0–4 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let value = self.to_u32();
        let skip = (value.leading_zeros() / 8) as usize;
        value.to_be_bytes()[skip..].to_vec()
    }

    /// Decode 0–4 bytes.
    pub fn decode(bytes: &[u8]) -> Result<BlockValue, BlockError> {
        if bytes.len() > 4 {
            return Err(BlockError::TooLong(bytes.len()));
        }
        let value = bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        Ok(BlockValue {
            num: value >> 4,
            more: value & 0x08 != 0,
            szx: (value & 0x07) as u8,
        })
    }

    /// How many bytes the minimal encoding takes (0–4).
    pub fn encoded_len(&self) -> usize {
        4 - (self.to_u32().leading_zeros() / 8) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    // RFC 7959 2.2: NUM=0, M=0, SZX=0 is the empty value.
    #[case(0, false, 0, vec![])]
    #[case(0, false, 6, vec![0x06])]
    #[case(0, true, 6, vec![0x0e])]
    #[case(15, true, 2, vec![0xfa])]
    #[case(16, false, 0, vec![0x01, 0x00])]
    #[case(4095, true, 6, vec![0xff, 0xfe])]
    #[case(4096, false, 6, vec![0x01, 0x00, 0x06])]
    // the largest 3-byte NUM (2^20 - 1) …
    #[case((1 << 20) - 1, true, 6, vec![0xff, 0xff, 0xfe])]
    // … and the first that needs the ESR030 4-byte form
    #[case(1 << 20, false, 6, vec![0x01, 0x00, 0x00, 0x06])]
    #[case(BlockValue::MAX_NUM, true, 7, vec![0xff, 0xff, 0xff, 0xff])]
    fn minimal_encodings(
        #[case] num: u32,
        #[case] more: bool,
        #[case] szx: u8,
        #[case] bytes: Vec<u8>,
    ) {
        let v = BlockValue::new(num, more, szx).unwrap();
        assert_eq!(v.encode(), bytes);
        assert_eq!(v.encoded_len(), bytes.len());
        assert_eq!(BlockValue::decode(&bytes).unwrap(), v);
    }

    #[test]
    fn out_of_range_values_are_typed_errors() {
        assert_eq!(
            BlockValue::new(1 << 28, false, 0),
            Err(BlockError::NumTooLarge(1 << 28))
        );
        assert_eq!(
            BlockValue::new(0, false, 8),
            Err(BlockError::SzxOutOfRange(8))
        );
        assert_eq!(BlockValue::decode(&[0; 5]), Err(BlockError::TooLong(5)));
        assert_eq!(
            BlockValue::with_size(0, false, 2048),
            Err(BlockError::BadSize(2048))
        );
    }

    #[test]
    fn leading_zero_bytes_decode() {
        let v = BlockValue::decode(&[0, 0, 0, 0x16]).unwrap();
        assert_eq!((v.num(), v.more(), v.szx()), (1, false, 6));
    }

    #[test]
    fn sizes_and_offsets() {
        let v = BlockValue::new(3, true, 6).unwrap();
        assert_eq!(v.size(), Some(1024));
        assert_eq!(v.offset(), Some(3072));
        let big = BlockValue::new(BlockValue::MAX_NUM, false, 6).unwrap();
        assert_eq!(big.offset(), Some(u64::from(BlockValue::MAX_NUM) * 1024));
        assert_eq!(BlockValue::new(0, false, 7).unwrap().size(), None);
        assert_eq!(BlockValue::szx_for_size(16), Ok(0));
        assert_eq!(BlockValue::szx_for_size(1024), Ok(6));
        assert_eq!(
            BlockValue::szx_for_size(2048),
            Err(BlockError::BadSize(2048))
        );
        assert_eq!(BlockValue::szx_for_size(100), Err(BlockError::BadSize(100)));
    }

    proptest! {
        #[test]
        fn every_value_round_trips(num in 0..=BlockValue::MAX_NUM, more: bool, szx in 0u8..=7) {
            let v = BlockValue::new(num, more, szx).unwrap();
            let bytes = v.encode();
            prop_assert!(bytes.len() <= 4);
            prop_assert!(bytes.first() != Some(&0), "not minimal: {:02x?}", bytes);
            prop_assert_eq!(BlockValue::decode(&bytes).unwrap(), v);
            prop_assert_eq!(bytes.len() == 4, num >= 1 << 20);
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
            let r = BlockValue::decode(&bytes);
            prop_assert_eq!(r.is_ok(), bytes.len() <= 4);
        }
    }
}
