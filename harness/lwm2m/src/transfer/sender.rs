//! The side of an ESR030 4.7 binary transfer that holds the data: it offers it with the
//! `PUT` opaque, serves the receiver's `GET`s with `Block1` answers, and invalidates the
//! temporary resource on completion or 4.7.3 expiry. See [`crate::transfer`] for the readings.

use std::time::Instant;

use crate::block::BlockValue;
use crate::code::Code;
use crate::lwm2m::content::OCTET_STREAM;
use crate::message::Message;
use crate::option::{CoapOption, OptionNumber};
use crate::rules::timers::Timers;
use crate::rules::types::separate_response;
use crate::token::Token;
use crate::transfer::TransferError;

/// Where the transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderState {
    /// Built, `PUT` not yet published.
    Idle,
    /// `PUT` published; serving `GET`s.
    Offered,
    /// The receiver answered the `PUT` with this code; the resource is gone.
    Completed(Code),
    /// 4.7.3: REQUEST_TIMEOUT passed since the last `GET` (or the `PUT`), or the caller
    /// invalidated it; the resource is gone.
    Expired,
}

/// What a `GET` from the receiver got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetOutcome {
    /// Not addressed to this transfer's temporary URI: route it elsewhere.
    NotMine,
    /// A block was served (2.05 with Block1). The caller should also refresh the `PUT`'s
    /// deadline in its [`crate::rules::Outbox`] (4.7.3).
    Served(Message),
    /// Refused: 4.04 after expiry or completion, 4.00 for a bad `Block2`.
    Refused(Message),
}

/// The data, the temporary resource and its clock.
#[derive(Debug, Clone)]
pub struct BinarySender {
    data: Vec<u8>,
    target: Vec<String>,
    location: Vec<String>,
    timers: Timers,
    put_token: Option<Token>,
    last_activity: Option<Instant>,
    state: SenderState,
}

impl BinarySender {
    /// Offer `data` for the resource at `target` (Uri-Path segments of the `PUT`), under the
    /// temporary URI `location` (Location-Path segments, non-empty).
    pub fn new<S: AsRef<str>>(
        data: Vec<u8>,
        target: &[S],
        location: &[S],
        timers: Timers,
    ) -> Result<BinarySender, TransferError> {
        if location.is_empty() {
            return Err(TransferError::MissingLocation);
        }
        if u32::try_from(data.len()).is_err() {
            return Err(TransferError::DataTooLarge(data.len()));
        }
        Ok(BinarySender {
            data,
            target: target.iter().map(|s| s.as_ref().to_string()).collect(),
            location: location.iter().map(|s| s.as_ref().to_string()).collect(),
            timers,
            put_token: None,
            last_activity: None,
            state: SenderState::Idle,
        })
    }

    /// The CON `PUT` opaque (Content-Format 42, Size1, Location-Path), published at `now`.
    pub fn put_request(&mut self, message_id: u16, token: Token, now: Instant) -> Message {
        let mut m = Message::request(Code::PUT, message_id, token);
        for s in &self.target {
            m.add_option(CoapOption::string(OptionNumber::URI_PATH, s));
        }
        let m = m
            .with_content_format(OCTET_STREAM)
            .with_location_path(&self.location)
            .with_size1(self.data.len() as u32);
        self.put_token = Some(token);
        self.last_activity = Some(now);
        self.state = SenderState::Offered;
        m
    }

    /// The state at `now` (expiry is applied first).
    pub fn state(&mut self, now: Instant) -> SenderState {
        self.expire(now);
        self.state
    }

    /// The `PUT`'s token, once published.
    pub fn put_token(&self) -> Option<Token> {
        self.put_token
    }

    /// The temporary URI's segments.
    pub fn location(&self) -> &[String] {
        &self.location
    }

    /// When the temporary resource expires if no `GET` comes (4.7.3).
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            SenderState::Offered => self
                .last_activity
                .map(|t| t + self.timers.request_timeout()),
            _ => None,
        }
    }

    /// Apply 4.7.3 at `now`; true if the resource is (now) invalid.
    pub fn expire(&mut self, now: Instant) -> bool {
        if self.state == SenderState::Offered && self.deadline().is_some_and(|d| now >= d) {
            self.state = SenderState::Expired;
        }
        matches!(self.state, SenderState::Expired | SenderState::Completed(_))
    }

    /// Invalidate the temporary resource now (e.g. the `PUT` got no ACK within ACK_TIMEOUT).
    pub fn invalidate(&mut self) {
        if !matches!(self.state, SenderState::Completed(_)) {
            self.state = SenderState::Expired;
        }
    }

    /// Serve a `GET` that arrived at `now`, answering with a NON response whose Message ID is
    /// `message_id`.
    pub fn on_get(&mut self, request: &Message, message_id: u16, now: Instant) -> GetOutcome {
        if request.code != Code::GET {
            return GetOutcome::NotMine;
        }
        match request.uri_path() {
            Ok(path) if path == self.location => {}
            _ => return GetOutcome::NotMine,
        }
        let refuse = |code| GetOutcome::Refused(separate_response(request, code, message_id));
        if self.state == SenderState::Idle || self.expire(now) {
            return refuse(Code::NOT_FOUND);
        }
        let Ok(Some(block)) = request.block2() else {
            return refuse(Code::BAD_REQUEST);
        };
        let (Some(size), Some(offset)) = (block.size(), block.offset()) else {
            return refuse(Code::BAD_REQUEST);
        };
        let total = self.data.len() as u64;
        if offset > total || (offset == total && total > 0) {
            return refuse(Code::BAD_REQUEST);
        }
        let end = (offset + u64::from(size)).min(total);
        let more = end < total;
        // NUM < 2^28 and SZX ≤ 6 came from a decoded value: always valid.
        let Ok(answer) = BlockValue::new(block.num(), more, block.szx()) else {
            return refuse(Code::BAD_REQUEST);
        };
        self.last_activity = Some(now);
        let response = separate_response(request, Code::CONTENT, message_id)
            .with_block1(answer)
            .with_payload(&self.data[offset as usize..end as usize]);
        GetOutcome::Served(response)
    }

    /// The receiver's response to the `PUT` arrived: the transfer is over and the temporary
    /// resource gone. Returns the code (2.04 Changed on success).
    pub fn on_put_response(&mut self, response: &Message) -> Result<Code, TransferError> {
        if self.put_token != Some(response.token) || !response.code.is_response() {
            return Err(TransferError::UnexpectedResponse);
        }
        self.state = SenderState::Completed(response.code);
        Ok(response.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::MessageType;
    use std::time::Duration;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 256) as u8).collect()
    }

    fn get(num: u32, szx: u8) -> Message {
        Message::request(
            Code::GET,
            100 + num as u16,
            Token::from_u64(u64::from(num) + 100),
        )
        .with_uri_path("tmp/1")
        .with_block2(BlockValue::new(num, false, szx).unwrap())
    }

    fn served(o: GetOutcome) -> Message {
        match o {
            GetOutcome::Served(m) => m,
            other => panic!("expected a served block, got {other:?}"),
        }
    }

    fn refused(o: GetOutcome) -> Code {
        match o {
            GetOutcome::Refused(m) => m.code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_put_opaque_carries_size1_location_path_and_octet_stream() {
        let t0 = Instant::now();
        let mut s = BinarySender::new(
            data(2500),
            &["5", "0", "0"],
            &["tmp", "1"],
            Timers::default(),
        )
        .unwrap();
        let put = s.put_request(1, Token::from_u64(1), t0);
        assert_eq!(put.code, Code::PUT);
        assert_eq!(put.mtype, MessageType::Confirmable);
        assert_eq!(put.uri_path().unwrap(), vec!["5", "0", "0"]);
        assert_eq!(put.location_path().unwrap(), vec!["tmp", "1"]);
        assert_eq!(put.size1().unwrap(), Some(2500));
        assert_eq!(put.content_format().unwrap(), Some(42));
        assert!(put.payload.is_empty());
        assert_eq!(s.state(t0), SenderState::Offered);
    }

    #[test]
    fn blocks_carry_the_same_num_and_size_and_the_m_flag() {
        let t0 = Instant::now();
        let d = data(2500);
        let mut s = BinarySender::new(d.clone(), &["5"], &["tmp", "1"], Timers::default()).unwrap();
        s.put_request(1, Token::from_u64(1), t0);
        let r = served(s.on_get(&get(0, 6), 9, t0));
        assert_eq!(r.mtype, MessageType::NonConfirmable);
        assert_eq!(r.code, Code::CONTENT);
        assert_eq!(r.token, Token::from_u64(100));
        assert_eq!(
            r.block1().unwrap(),
            Some(BlockValue::new(0, true, 6).unwrap())
        );
        assert_eq!(r.payload, &d[..1024]);
        let last = served(s.on_get(&get(2, 6), 10, t0));
        assert_eq!(
            last.block1().unwrap(),
            Some(BlockValue::new(2, false, 6).unwrap())
        );
        assert_eq!(last.payload, &d[2048..]);
        // the same block again, and a smaller size (footnote 2)
        assert_eq!(served(s.on_get(&get(0, 6), 11, t0)).payload, &d[..1024]);
        let small = served(s.on_get(&get(3, 4), 12, t0));
        assert_eq!(
            small.block1().unwrap(),
            Some(BlockValue::new(3, true, 4).unwrap())
        );
        assert_eq!(small.payload, &d[768..1024]);
    }

    #[test]
    fn block_numbers_beyond_2_pow_20() {
        let t0 = Instant::now();
        let n = (1 << 20) + 2;
        let mut d = vec![0u8; n * 16 + 21];
        d[n * 16..n * 16 + 16].copy_from_slice(b"block 2^20 + 2 !");
        let mut s = BinarySender::new(d.clone(), &["5"], &["tmp", "1"], Timers::default()).unwrap();
        s.put_request(1, Token::from_u64(1), t0);
        let r = served(s.on_get(&get(n as u32, 0), 9, t0));
        assert_eq!(
            r.block1().unwrap(),
            Some(BlockValue::new(n as u32, true, 0).unwrap())
        );
        assert_eq!(r.option(OptionNumber::BLOCK1).unwrap().len(), 4);
        assert_eq!(r.payload, &d[n * 16..n * 16 + 16]);
    }

    #[test]
    fn bad_gets_are_refused_and_foreign_ones_are_not_mine() {
        let t0 = Instant::now();
        let mut s = BinarySender::new(data(100), &["5"], &["tmp", "1"], Timers::default()).unwrap();
        // before the PUT: nothing to serve
        assert_eq!(refused(s.on_get(&get(0, 6), 1, t0)), Code::NOT_FOUND);
        s.put_request(1, Token::from_u64(1), t0);
        let no_block = Message::request(Code::GET, 5, Token::from_u64(5)).with_uri_path("tmp/1");
        assert_eq!(refused(s.on_get(&no_block, 1, t0)), Code::BAD_REQUEST);
        assert_eq!(refused(s.on_get(&get(0, 7), 1, t0)), Code::BAD_REQUEST);
        assert_eq!(refused(s.on_get(&get(7, 4), 1, t0)), Code::BAD_REQUEST);
        let other = Message::request(Code::GET, 5, Token::from_u64(5)).with_uri_path("3/0/0");
        assert_eq!(s.on_get(&other, 1, t0), GetOutcome::NotMine);
        let put = Message::request(Code::PUT, 5, Token::from_u64(5)).with_uri_path("tmp/1");
        assert_eq!(s.on_get(&put, 1, t0), GetOutcome::NotMine);
    }

    #[test]
    fn expiry_request_timeout_after_the_last_get_gives_4_04() {
        let t0 = Instant::now();
        let timers = Timers::shortened(Duration::from_millis(100), Duration::from_secs(1)).unwrap();
        let mut s = BinarySender::new(data(3000), &["5"], &["tmp", "1"], timers).unwrap();
        s.put_request(1, Token::from_u64(1), t0);
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(1)));
        let t1 = t0 + Duration::from_millis(900);
        served(s.on_get(&get(0, 6), 2, t1));
        assert_eq!(s.deadline(), Some(t1 + Duration::from_secs(1)));
        // 1.8 s after the PUT but 0.9 s after the last GET: still there
        served(s.on_get(&get(1, 6), 3, t0 + Duration::from_millis(1800)));
        let late = t0 + Duration::from_millis(2800);
        assert_eq!(s.state(late), SenderState::Expired);
        assert_eq!(refused(s.on_get(&get(2, 6), 4, late)), Code::NOT_FOUND);
    }

    #[test]
    fn completion_invalidates_the_resource() {
        let t0 = Instant::now();
        let mut s = BinarySender::new(data(10), &["5"], &["tmp", "1"], Timers::default()).unwrap();
        let put = s.put_request(1, Token::from_u64(1), t0);
        let wrong = separate_response(&get(0, 6), Code::CHANGED, 3);
        assert_eq!(
            s.on_put_response(&wrong),
            Err(TransferError::UnexpectedResponse)
        );
        let done = separate_response(&put, Code::CHANGED, 3);
        assert_eq!(s.on_put_response(&done), Ok(Code::CHANGED));
        assert_eq!(done.mtype, MessageType::NonConfirmable);
        assert_eq!(refused(s.on_get(&get(0, 6), 4, t0)), Code::NOT_FOUND);
        let mut s2 = BinarySender::new(data(10), &["5"], &["tmp", "2"], Timers::default()).unwrap();
        s2.put_request(1, Token::from_u64(1), t0);
        s2.invalidate();
        assert_eq!(s2.state(t0), SenderState::Expired);
    }

    #[test]
    fn an_empty_transfer_serves_one_empty_last_block() {
        let t0 = Instant::now();
        let mut s =
            BinarySender::new(Vec::new(), &["5"], &["tmp", "1"], Timers::default()).unwrap();
        s.put_request(1, Token::from_u64(1), t0);
        let r = served(s.on_get(&get(0, 6), 2, t0));
        assert_eq!(
            r.block1().unwrap(),
            Some(BlockValue::new(0, false, 6).unwrap())
        );
        assert!(r.payload.is_empty());
        assert_eq!(
            BinarySender::new(Vec::new(), &["5"], &[] as &[&str], Timers::default()).err(),
            Some(TransferError::MissingLocation)
        );
    }
}
