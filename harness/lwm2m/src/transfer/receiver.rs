//! The side of an ESR030 4.7 binary transfer that pulls the data: it reads the `PUT` opaque,
//! asks for blocks with `GET` + `Block2` on the temporary URI in the order and size it
//! chooses, checks each `Block1` answer, and builds the final response to the `PUT`. See
//! [`crate::transfer`] for the readings.
//!
//! Block sizes: [`BinaryReceiver::next_request`] asks for the first missing byte at the
//! preferred size, or — when that byte is not aligned to it after a size change — at the
//! largest size it is aligned to (every offset reached is a multiple of 16, the smallest).

use crate::block::BlockValue;
use crate::code::{Code, MessageType};
use crate::lwm2m::content::OCTET_STREAM;
use crate::message::Message;
use crate::option::{CoapOption, OptionNumber};
use crate::rules::types::separate_response;
use crate::token::Token;
use crate::transfer::TransferError;

/// How far the transfer got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Distinct bytes received so far.
    pub received: u64,
    /// Size1.
    pub total: u64,
    /// All bytes received.
    pub complete: bool,
}

/// The receiving side of one transfer.
#[derive(Debug, Clone)]
pub struct BinaryReceiver {
    target: Vec<String>,
    location: Vec<String>,
    put_token: Token,
    total: u64,
    data: Vec<u8>,
    /// Received byte ranges, sorted, merged, half-open.
    have: Vec<(u64, u64)>,
    szx: u8,
    outstanding: Option<(Token, BlockValue)>,
    /// The block with M=0 arrived (what completes an empty transfer).
    got_last: bool,
}

impl BinaryReceiver {
    /// Read a `PUT` opaque; refuse a Size1 above `limit` bytes (answer 4.13 then). `szx` is the
    /// preferred block size exponent (0–6).
    pub fn from_put(put: &Message, szx: u8, limit: u64) -> Result<BinaryReceiver, TransferError> {
        if szx > 6 {
            return Err(TransferError::BadSzx(szx));
        }
        if put.code != Code::PUT {
            return Err(TransferError::NotPut(put.code));
        }
        match put.content_format()? {
            Some(OCTET_STREAM) => {}
            other => return Err(TransferError::NotOpaque(other)),
        }
        let total = u64::from(put.size1()?.ok_or(TransferError::MissingSize1)?);
        if total > limit {
            return Err(TransferError::TooLarge { size: total, limit });
        }
        let location: Vec<String> = put
            .location_path()?
            .into_iter()
            .map(str::to_string)
            .collect();
        if location.is_empty() {
            return Err(TransferError::MissingLocation);
        }
        if !put.payload.is_empty() {
            return Err(TransferError::UnexpectedPayload(put.payload.len()));
        }
        Ok(BinaryReceiver {
            target: put.uri_path()?.into_iter().map(str::to_string).collect(),
            location,
            put_token: put.token,
            total,
            data: Vec::new(),
            have: Vec::new(),
            szx,
            outstanding: None,
            got_last: false,
        })
    }

    /// The resource being written (the `PUT`'s Uri-Path).
    pub fn target(&self) -> &[String] {
        &self.target
    }

    /// The temporary URI.
    pub fn location(&self) -> &[String] {
        &self.location
    }

    /// Size1.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Change the preferred block size exponent (0–6).
    pub fn set_szx(&mut self, szx: u8) -> Result<(), TransferError> {
        if szx > 6 {
            return Err(TransferError::BadSzx(szx));
        }
        self.szx = szx;
        Ok(())
    }

    /// The CON `GET` for block `num` of size 2^(szx+4) — any block, again or out of order.
    pub fn request_block(
        &mut self,
        num: u32,
        szx: u8,
        message_id: u16,
        token: Token,
    ) -> Result<Message, TransferError> {
        let block = BlockValue::new(num, false, szx).map_err(|_| TransferError::BadSzx(szx))?;
        let (Some(size), Some(offset)) = (block.size(), block.offset()) else {
            return Err(TransferError::BadSzx(szx));
        };
        if offset > self.total || (offset == self.total && self.total > 0) {
            return Err(TransferError::BeyondEnd {
                num,
                size,
                total: self.total,
            });
        }
        let mut m = Message::request(Code::GET, message_id, token);
        for s in &self.location {
            m.add_option(CoapOption::string(OptionNumber::URI_PATH, s));
        }
        self.outstanding = Some((token, block));
        Ok(m.with_block2(block))
    }

    /// The `GET` for the first missing byte, `None` when everything is here.
    pub fn next_request(&mut self, message_id: u16, token: Token) -> Option<Message> {
        if self.is_complete() {
            return None;
        }
        let gap = match self.have.first() {
            Some(&(0, end)) => end,
            _ => 0,
        };
        let aligned = if gap == 0 {
            6
        } else {
            (gap.trailing_zeros().saturating_sub(4)).min(6) as u8
        };
        let szx = self.szx.min(aligned);
        let num = (gap >> (szx + 4)) as u32;
        self.request_block(num, szx, message_id, token).ok()
    }

    /// Check and store the answer to the outstanding `GET`.
    pub fn on_response(&mut self, response: &Message) -> Result<Progress, TransferError> {
        let Some((token, requested)) = self.outstanding else {
            return Err(TransferError::UnexpectedResponse);
        };
        if response.token != token {
            return Err(TransferError::UnexpectedResponse);
        }
        self.outstanding = None;
        if response.code == Code::NOT_FOUND {
            return Err(TransferError::Expired);
        }
        if response.code != Code::CONTENT {
            return Err(TransferError::UnexpectedCode(response.code));
        }
        let answered = response.block1()?.ok_or(TransferError::MissingBlock1)?;
        if answered.num() != requested.num() || answered.szx() != requested.szx() {
            return Err(TransferError::BlockMismatch {
                requested,
                answered,
            });
        }
        let size = requested.size().unwrap_or(0);
        let offset = requested.offset().unwrap_or(0);
        let len = response.payload.len() as u64;
        let end = offset + len;
        let more = answered.more();
        let fits = if more {
            len == u64::from(size) && end < self.total
        } else {
            len <= u64::from(size) && end == self.total
        };
        if !fits {
            return Err(TransferError::WrongBlockLength {
                offset,
                len: response.payload.len(),
                more,
                total: self.total,
                size,
            });
        }
        if self.data.len() < end as usize {
            self.data.resize(end as usize, 0);
        }
        self.data[offset as usize..end as usize].copy_from_slice(&response.payload);
        self.mark(offset, end);
        self.got_last |= !more;
        Ok(self.progress())
    }

    fn mark(&mut self, start: u64, end: u64) {
        if start == end {
            return;
        }
        self.have.push((start, end));
        self.have.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.have.len());
        for &(s, e) in &self.have {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.have = merged;
    }

    /// Bytes received and whether the transfer is complete.
    pub fn progress(&self) -> Progress {
        let received = self.have.iter().map(|(s, e)| e - s).sum();
        Progress {
            received,
            total: self.total,
            complete: self.is_complete(),
        }
    }

    /// All of Size1 received. An empty transfer is complete once its one empty block came.
    pub fn is_complete(&self) -> bool {
        if self.total == 0 {
            return self.got_last;
        }
        self.have.first() == Some(&(0, self.total))
    }

    /// The data, once complete.
    pub fn data(&self) -> Option<&[u8]> {
        self.is_complete().then_some(self.data.as_slice())
    }

    /// The separate NON response to the `PUT` (2.04 Changed on success, 4.7.2).
    pub fn put_response(&self, code: Code, message_id: u16) -> Message {
        Message::new(
            MessageType::NonConfirmable,
            code,
            message_id,
            self.put_token,
        )
    }

    /// The separate response to a `PUT` this receiver refused (e.g. 4.13 for
    /// [`TransferError::TooLarge`], 4.00 otherwise).
    pub fn refuse(put: &Message, error: &TransferError, message_id: u16) -> Message {
        let code = match error {
            TransferError::TooLarge { .. } => Code::REQUEST_ENTITY_TOO_LARGE,
            TransferError::NotOpaque(_) => Code::UNSUPPORTED_CONTENT_FORMAT,
            _ => Code::BAD_REQUEST,
        };
        separate_response(put, code, message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::timers::Timers;
    use crate::rules::types::empty_ack;
    use crate::transfer::sender::{BinarySender, GetOutcome};
    use crate::validate::validate;
    use std::time::{Duration, Instant};

    /// Every message crosses the wire as bytes and must be well-formed.
    fn wire(m: &Message) -> Message {
        let bytes = m.encode().unwrap();
        assert_eq!(validate(&bytes), vec![], "{m}");
        Message::decode(&bytes).unwrap()
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 253) as u8 ^ (i >> 8) as u8).collect()
    }

    struct Pair {
        sender: BinarySender,
        receiver: BinaryReceiver,
        mid: u16,
        now: Instant,
    }

    impl Pair {
        fn new(data: Vec<u8>, szx: u8) -> Pair {
            let now = Instant::now();
            let mut sender =
                BinarySender::new(data, &["5", "0", "0"], &["tmp", "42"], Timers::default())
                    .unwrap();
            let put = wire(&sender.put_request(1, Token::from_u64(1), now));
            assert_eq!(empty_ack(&put).message_id, 1);
            let receiver = BinaryReceiver::from_put(&put, szx, 1 << 30).unwrap();
            Pair {
                sender,
                receiver,
                mid: 10,
                now,
            }
        }

        fn exchange(&mut self, get: Message) -> Result<Progress, TransferError> {
            self.mid += 1;
            let get = wire(&get);
            let response = match self.sender.on_get(&get, self.mid, self.now) {
                GetOutcome::Served(m) | GetOutcome::Refused(m) => wire(&m),
                GetOutcome::NotMine => panic!("GET not routed to the transfer"),
            };
            self.receiver.on_response(&response)
        }

        fn run(&mut self) -> usize {
            let mut gets = 0;
            loop {
                self.mid += 1;
                let Some(get) = self
                    .receiver
                    .next_request(self.mid, Token::from_u64(u64::from(self.mid)))
                else {
                    return gets;
                };
                gets += 1;
                self.exchange(get).unwrap();
            }
        }
    }

    #[test]
    fn a_transfer_completes_and_verifies_byte_for_byte() {
        let data = pattern(10_000);
        let mut p = Pair::new(data.clone(), 6);
        assert_eq!(p.receiver.total(), 10_000);
        assert_eq!(p.receiver.target(), ["5", "0", "0"]);
        assert_eq!(p.receiver.location(), ["tmp", "42"]);
        assert_eq!(p.run(), 10);
        assert_eq!(p.receiver.data(), Some(&data[..]));
        let done = wire(&p.receiver.put_response(Code::CHANGED, 99));
        assert_eq!(done.mtype, MessageType::NonConfirmable);
        assert_eq!(p.sender.on_put_response(&done), Ok(Code::CHANGED));
    }

    #[test]
    fn re_requests_and_size_changes() {
        let data = pattern(5000);
        let mut p = Pair::new(data.clone(), 6);
        // block 1 of 1 KB first (out of order), then block 0 twice
        let g = p
            .receiver
            .request_block(1, 6, 2, Token::from_u64(2))
            .unwrap();
        assert_eq!(p.exchange(g).unwrap().received, 1024);
        for t in 3..5 {
            let g = p
                .receiver
                .request_block(0, 6, t, Token::from_u64(u64::from(t)))
                .unwrap();
            assert_eq!(p.exchange(g).unwrap().received, 2048);
        }
        // continue in 64-byte blocks, then back up to 1 KB: next_request re-scales NUM
        p.receiver.set_szx(2).unwrap();
        let g = p.receiver.next_request(5, Token::from_u64(5)).unwrap();
        assert_eq!(
            g.block2().unwrap(),
            Some(BlockValue::new(32, false, 2).unwrap())
        );
        p.exchange(g).unwrap();
        p.receiver.set_szx(6).unwrap();
        let g = p.receiver.next_request(6, Token::from_u64(6)).unwrap();
        // 2112 is aligned to 64 only
        assert_eq!(
            g.block2().unwrap(),
            Some(BlockValue::new(33, false, 2).unwrap())
        );
        p.exchange(g).unwrap();
        p.run();
        assert_eq!(p.receiver.data(), Some(&data[..]));
    }

    #[test]
    fn block_numbers_beyond_2_pow_20_use_the_4_byte_option() {
        // 16-byte blocks: the last of a 16 MiB + 40 transfer has NUM 2^20 + 2.
        let n = (1usize << 24) + 40;
        let mut data = vec![0u8; n];
        data[n - 40..].copy_from_slice(&pattern(40));
        let mut p = Pair::new(data.clone(), 0);
        let last = ((1u32 << 20) + 2, 0u8);
        let g = p
            .receiver
            .request_block(last.0, last.1, 2, Token::from_u64(2))
            .unwrap();
        assert_eq!(g.option(OptionNumber::BLOCK2).unwrap().len(), 4);
        let progress = p.exchange(g).unwrap();
        assert_eq!(progress.received, 8);
        let g = p
            .receiver
            .request_block(last.0 - 1, 0, 3, Token::from_u64(3))
            .unwrap();
        p.exchange(g).unwrap();
        let g = p
            .receiver
            .request_block(last.0 - 2, 0, 4, Token::from_u64(4))
            .unwrap();
        p.exchange(g).unwrap();
        assert_eq!(p.receiver.data.get(n - 40..), Some(&data[n - 40..]));
        assert!(!p.receiver.is_complete());
    }

    #[test]
    fn expiry_shows_as_a_typed_error() {
        let mut p = Pair::new(pattern(3000), 6);
        let g = p
            .receiver
            .request_block(0, 6, 2, Token::from_u64(2))
            .unwrap();
        assert_eq!(p.exchange(g).unwrap().received, 1024);
        p.now += Duration::from_secs(15);
        let g = p
            .receiver
            .request_block(1, 6, 3, Token::from_u64(3))
            .unwrap();
        assert_eq!(p.exchange(g), Err(TransferError::Expired));
    }

    #[test]
    fn faulty_block_answers_are_caught() {
        let now = Instant::now();
        let mut sender =
            BinarySender::new(pattern(3000), &["5"], &["t"], Timers::default()).unwrap();
        let put = sender.put_request(1, Token::from_u64(1), now);
        let mut r = BinaryReceiver::from_put(&put, 6, 1 << 20).unwrap();
        let get = r.request_block(1, 6, 2, Token::from_u64(2)).unwrap();
        let good = match sender.on_get(&get, 3, now) {
            GetOutcome::Served(m) => m,
            other => panic!("{other:?}"),
        };
        // a sender that answers with another NUM (e.g. a 2-byte codec that dropped bits)
        let wrong_num = good
            .clone()
            .with_block1(BlockValue::new(0, true, 6).unwrap());
        assert!(matches!(
            r.clone().on_response(&wrong_num),
            Err(TransferError::BlockMismatch { .. })
        ));
        // Block2 instead of Block1
        let mut no_b1 = good.clone();
        no_b1.remove_option(OptionNumber::BLOCK1);
        let no_b1 = no_b1.with_block2(BlockValue::new(1, true, 6).unwrap());
        assert_eq!(
            r.clone().on_response(&no_b1),
            Err(TransferError::MissingBlock1)
        );
        // short block with M set
        let short = good.clone().with_payload(vec![0; 1000]);
        assert!(matches!(
            r.clone().on_response(&short),
            Err(TransferError::WrongBlockLength {
                len: 1000,
                more: true,
                ..
            })
        ));
        // M cleared too early
        let early = good
            .clone()
            .with_block1(BlockValue::new(1, false, 6).unwrap());
        assert!(matches!(
            r.clone().on_response(&early),
            Err(TransferError::WrongBlockLength { more: false, .. })
        ));
        // another token, another code
        let mut other_token = good.clone();
        other_token.token = Token::from_u64(77);
        assert_eq!(
            r.clone().on_response(&other_token),
            Err(TransferError::UnexpectedResponse)
        );
        let mut changed = good.clone();
        changed.code = Code::CHANGED;
        assert_eq!(
            r.clone().on_response(&changed),
            Err(TransferError::UnexpectedCode(Code::CHANGED))
        );
        assert_eq!(r.on_response(&good).unwrap().received, 1024);
        assert_eq!(r.on_response(&good), Err(TransferError::UnexpectedResponse));
    }

    #[test]
    fn the_put_opaque_is_checked() {
        let now = Instant::now();
        let mut sender = BinarySender::new(pattern(10), &["5"], &["t"], Timers::default()).unwrap();
        let put = sender.put_request(1, Token::from_u64(1), now);
        assert!(BinaryReceiver::from_put(&put, 6, 100).is_ok());
        assert_eq!(
            BinaryReceiver::from_put(&put, 7, 100).err(),
            Some(TransferError::BadSzx(7))
        );
        let too_big = BinaryReceiver::from_put(&put, 6, 5).err().unwrap();
        assert_eq!(too_big, TransferError::TooLarge { size: 10, limit: 5 });
        assert_eq!(
            BinaryReceiver::refuse(&put, &too_big, 2).code,
            Code::REQUEST_ENTITY_TOO_LARGE
        );
        let mut get = put.clone();
        get.code = Code::GET;
        assert_eq!(
            BinaryReceiver::from_put(&get, 6, 100).err(),
            Some(TransferError::NotPut(Code::GET))
        );
        let text = put.clone().with_content_format(0);
        assert_eq!(
            BinaryReceiver::from_put(&text, 6, 100).err(),
            Some(TransferError::NotOpaque(Some(0)))
        );
        let mut no_size = put.clone();
        no_size.remove_option(OptionNumber::SIZE1);
        assert_eq!(
            BinaryReceiver::from_put(&no_size, 6, 100).err(),
            Some(TransferError::MissingSize1)
        );
        let mut no_loc = put.clone();
        no_loc.remove_option(OptionNumber::LOCATION_PATH);
        assert_eq!(
            BinaryReceiver::from_put(&no_loc, 6, 100).err(),
            Some(TransferError::MissingLocation)
        );
        let with_payload = put.clone().with_payload(vec![1]);
        assert_eq!(
            BinaryReceiver::from_put(&with_payload, 6, 100).err(),
            Some(TransferError::UnexpectedPayload(1))
        );
        let mut r = BinaryReceiver::from_put(&put, 6, 100).unwrap();
        assert!(matches!(
            r.request_block(1, 0, 2, Token::from_u64(2)),
            Err(TransferError::BeyondEnd { .. })
        ));
    }

    #[test]
    fn an_empty_transfer_takes_one_get() {
        let mut p = Pair::new(Vec::new(), 6);
        assert!(!p.receiver.is_complete());
        assert_eq!(p.run(), 1);
        assert_eq!(p.receiver.data(), Some(&[][..]));
    }
}
