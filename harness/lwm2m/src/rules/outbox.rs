//! The publisher side of one transport topic (ESR030 4.5.1, 4.5.3, 4.5.4, 4.7.3).
//!
//! 4.5.1: a request with Message ID *M* may be published if and only if
//! 1. the PUBACK of the previously published message (request, empty ACK or response) has
//!    been received,
//! 2. the previously published request has been acknowledged or its timeout has been reached,
//! 3. no request with Message ID *M* is pending (no response yet, REQUEST_TIMEOUT not reached);
//!
//! so at most one unacknowledged request is in flight per transport topic.
//!
//! 4.5.3 / 4.5.4: a request expires when no acknowledgement came within ACK_TIMEOUT or no
//! response within REQUEST_TIMEOUT of its publication. It is then dropped, never
//! retransmitted, and the initiator gets an error ([`Outbox::expire`]). An acknowledgement or
//! response arriving after that finds nothing and is ignored; a response whose token matches
//! no pending request is dropped (4.5.3).
//!
//! 4.7.3: the binary transfer's `PUT` expires REQUEST_TIMEOUT after the last `GET` from the
//! receiver ([`Outbox::refresh`]); before any `GET`, its own publication starts the clock (a
//! reading: 4.7.3 does not say what happens if no `GET` ever comes).
//!
//! Readings taken:
//! * The 4.5.1 conditions gate requests only, as written. Empty ACKs and responses are not
//!   held back here, but their PUBACK still counts for condition 1.
//! * A response that arrives before the empty ACK of its request is matched (RFC 7252 5.2.2
//!   allows the separate response to stand for the lost ACK) and reported with
//!   `acknowledged: false` so that a verdict on the 4.4 sequence can see it.
//! * Tokens of pending requests must differ (RFC 7252 5.3.1), or responses could not be
//!   matched; [`Blocked::TokenInUse`].

use std::time::Instant;

use thiserror::Error;

use crate::rules::timers::Timers;
use crate::token::Token;

/// Why a request may not be published now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Blocked {
    #[error("the PUBACK of the previously published message has not arrived (ESR030 4.5.1)")]
    AwaitingPuback,
    #[error("request {message_id} is neither acknowledged nor timed out (ESR030 4.5.1)")]
    AwaitingAck { message_id: u16 },
    #[error("a request with Message ID {message_id} is still pending (ESR030 4.5.1)")]
    MessageIdPending { message_id: u16 },
    #[error("token {token} belongs to a pending request (RFC 7252 5.3.1)")]
    TokenInUse { token: Token },
}

/// What an incoming empty ACK matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// It acknowledged the pending request with this token.
    Acknowledged { token: Token },
    /// No unacknowledged, unexpired request has this Message ID: ignore it (a QoS 1
    /// duplicate, or an ACK after ACK_TIMEOUT).
    Unmatched,
}

/// What an incoming response matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// It answers the pending request with this Message ID, which is no longer pending.
    Matched {
        message_id: u16,
        /// Whether the empty ACK came first, as in the 4.4 sequence.
        acknowledged: bool,
    },
    /// No pending request has this token: drop it (ESR030 4.5.3).
    UnknownToken,
}

/// Why a request expired (ESR030 4.5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryReason {
    /// No acknowledgement within ACK_TIMEOUT.
    NoAck,
    /// Acknowledged, but no response within REQUEST_TIMEOUT (for a binary transfer's PUT:
    /// since the last GET, 4.7.3).
    NoResponse,
}

/// A request dropped on timeout, to be reported to its initiator as an error (4.5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub message_id: u16,
    pub token: Token,
    pub reason: ExpiryReason,
}

/// Why `p` has expired at `now`, if it has (ESR030 4.5.4).
fn expiry(timers: &Timers, p: &Pending, now: Instant) -> Option<ExpiryReason> {
    if !p.acknowledged && now >= p.published + timers.ack_timeout() {
        Some(ExpiryReason::NoAck)
    } else if now >= p.response_due {
        Some(ExpiryReason::NoResponse)
    } else {
        None
    }
}

#[derive(Debug, Clone)]
struct Pending {
    message_id: u16,
    token: Token,
    published: Instant,
    acknowledged: bool,
    /// When the response is due (REQUEST_TIMEOUT after publication or after the last GET).
    response_due: Instant,
}

/// Requests published on one transport topic and what they wait for.
#[derive(Debug, Clone)]
pub struct Outbox {
    timers: Timers,
    awaiting_puback: bool,
    pending: Vec<Pending>,
}

impl Outbox {
    /// An outbox with nothing published.
    pub fn new(timers: Timers) -> Outbox {
        Outbox {
            timers,
            awaiting_puback: false,
            pending: Vec::new(),
        }
    }

    /// The timers in force.
    pub fn timers(&self) -> Timers {
        self.timers
    }

    fn live(&self, now: Instant) -> impl Iterator<Item = &Pending> + '_ {
        self.pending
            .iter()
            .filter(move |p| expiry(&self.timers, p, now).is_none())
    }

    /// May a request with `message_id` and `token` be published at `now`?
    pub fn check(&self, message_id: u16, token: Token, now: Instant) -> Result<(), Blocked> {
        if self.awaiting_puback {
            return Err(Blocked::AwaitingPuback);
        }
        if let Some(p) = self.live(now).find(|p| !p.acknowledged) {
            return Err(Blocked::AwaitingAck {
                message_id: p.message_id,
            });
        }
        if self.live(now).any(|p| p.message_id == message_id) {
            return Err(Blocked::MessageIdPending { message_id });
        }
        if self.live(now).any(|p| p.token == token) {
            return Err(Blocked::TokenInUse { token });
        }
        Ok(())
    }

    /// Record the publication of a request (after [`Outbox::check`] passes; it is checked
    /// again here). Expired entries are forgotten silently: call [`Outbox::expire`] first to
    /// report them.
    pub fn publish_request(
        &mut self,
        message_id: u16,
        token: Token,
        now: Instant,
    ) -> Result<(), Blocked> {
        self.check(message_id, token, now)?;
        let timers = self.timers;
        self.pending.retain(|p| expiry(&timers, p, now).is_none());
        self.pending.push(Pending {
            message_id,
            token,
            published: now,
            acknowledged: false,
            response_due: now + self.timers.request_timeout(),
        });
        self.awaiting_puback = true;
        Ok(())
    }

    /// Record the publication of a request *without* the 4.5.1 gate: for test-only
    /// misbehaviour (a sender that publishes a second request before the first is
    /// acknowledged, or re-publishes one after its ACK_TIMEOUT), so that its acknowledgement and
    /// response are still matched. Conformant senders use [`Outbox::publish_request`].
    pub fn publish_request_ungated(&mut self, message_id: u16, token: Token, now: Instant) {
        let timers = self.timers;
        self.pending
            .retain(|p| expiry(&timers, p, now).is_none() && p.token != token);
        self.pending.push(Pending {
            message_id,
            token,
            published: now,
            acknowledged: false,
            response_due: now + self.timers.request_timeout(),
        });
        self.awaiting_puback = true;
    }

    /// Record the publication of a non-request (empty ACK, response, RST): its PUBACK is now
    /// awaited (condition 1).
    pub fn publish_other(&mut self) {
        self.awaiting_puback = true;
    }

    /// A PUBACK arrived for the last publication. Returns false if none was awaited.
    pub fn puback(&mut self) -> bool {
        std::mem::replace(&mut self.awaiting_puback, false)
    }

    /// True while the PUBACK of the last publication is awaited.
    pub fn awaiting_puback(&self) -> bool {
        self.awaiting_puback
    }

    /// An empty ACK with `message_id` arrived.
    pub fn ack(&mut self, message_id: u16, now: Instant) -> AckOutcome {
        let timers = self.timers;
        match self.pending.iter_mut().find(|p| {
            p.message_id == message_id && !p.acknowledged && expiry(&timers, p, now).is_none()
        }) {
            Some(p) => {
                p.acknowledged = true;
                AckOutcome::Acknowledged { token: p.token }
            }
            None => AckOutcome::Unmatched,
        }
    }

    /// A response with `token` arrived.
    pub fn response(&mut self, token: Token, now: Instant) -> ResponseOutcome {
        let Some(i) = self
            .pending
            .iter()
            .position(|p| p.token == token && expiry(&self.timers, p, now).is_none())
        else {
            return ResponseOutcome::UnknownToken;
        };
        let p = self.pending.remove(i);
        ResponseOutcome::Matched {
            message_id: p.message_id,
            acknowledged: p.acknowledged,
        }
    }

    /// ESR030 4.7.3: the binary transfer's receiver sent a `GET` at `now`; the pending `PUT`
    /// with `token` is now due REQUEST_TIMEOUT later. Returns false if no such request is
    /// pending.
    pub fn refresh(&mut self, token: Token, now: Instant) -> bool {
        let timers = self.timers;
        match self
            .pending
            .iter_mut()
            .find(|p| p.token == token && expiry(&timers, p, now).is_none())
        {
            Some(p) => {
                p.response_due = now + timers.request_timeout();
                true
            }
            None => false,
        }
    }

    /// Drop and return every request expired at `now` (4.5.3: not retransmitted; report an
    /// error to the initiator).
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let mut expired = Vec::new();
        let mut kept = Vec::with_capacity(self.pending.len());
        for p in std::mem::take(&mut self.pending) {
            match expiry(&self.timers, &p, now) {
                Some(reason) => expired.push(Expired {
                    message_id: p.message_id,
                    token: p.token,
                    reason,
                }),
                None => kept.push(p),
            }
        }
        self.pending = kept;
        expired
    }

    /// The next instant at which a pending request expires, for the caller's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .iter()
            .map(|p| {
                if p.acknowledged {
                    p.response_due
                } else {
                    (p.published + self.timers.ack_timeout()).min(p.response_due)
                }
            })
            .min()
    }

    /// Number of requests waiting for a response (expired ones included until
    /// [`Outbox::expire`] drops them).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn tok(n: u64) -> Token {
        Token::from_u64(n)
    }

    #[test]
    fn the_registration_sequence_of_4_4() {
        let t0 = Instant::now();
        let mut o = Outbox::new(Timers::default());
        assert_eq!(o.check(1, tok(1), t0), Ok(()));
        o.publish_request(1, tok(1), t0).unwrap();
        // before PUBACK
        assert_eq!(o.check(2, tok(2), t0), Err(Blocked::AwaitingPuback));
        assert!(o.puback());
        // PUBACK in, but request 1 not acknowledged
        assert_eq!(
            o.check(2, tok(2), t0),
            Err(Blocked::AwaitingAck { message_id: 1 })
        );
        assert_eq!(
            o.ack(1, t0 + secs(0.1)),
            AckOutcome::Acknowledged { token: tok(1) }
        );
        // a QoS 1 duplicate of the ACK is ignored
        assert_eq!(o.ack(1, t0 + secs(0.2)), AckOutcome::Unmatched);
        // acknowledged: another request may go, but not with the pending Message ID or token
        assert_eq!(
            o.check(1, tok(2), t0 + secs(0.2)),
            Err(Blocked::MessageIdPending { message_id: 1 })
        );
        assert_eq!(
            o.check(2, tok(1), t0 + secs(0.2)),
            Err(Blocked::TokenInUse { token: tok(1) })
        );
        assert_eq!(o.check(2, tok(2), t0 + secs(0.2)), Ok(()));
        assert_eq!(
            o.response(tok(1), t0 + secs(1.0)),
            ResponseOutcome::Matched {
                message_id: 1,
                acknowledged: true
            }
        );
        // a duplicate response finds nothing (4.5.3)
        assert_eq!(
            o.response(tok(1), t0 + secs(1.1)),
            ResponseOutcome::UnknownToken
        );
        assert_eq!(o.pending(), 0);
        assert_eq!(o.check(1, tok(1), t0 + secs(1.1)), Ok(()));
    }

    #[test]
    fn at_most_one_unacknowledged_request() {
        let t0 = Instant::now();
        let mut o = Outbox::new(Timers::default());
        o.publish_request(10, tok(10), t0).unwrap();
        o.puback();
        assert_eq!(
            o.publish_request(11, tok(11), t0 + secs(1.0)),
            Err(Blocked::AwaitingAck { message_id: 10 })
        );
        // …until ACK_TIMEOUT: then request 10 has expired and 11 may go.
        assert_eq!(o.check(11, tok(11), t0 + secs(2.0)), Ok(()));
    }

    #[test]
    fn no_ack_within_ack_timeout_expires_without_retransmission() {
        let t0 = Instant::now();
        let mut o = Outbox::new(Timers::default());
        o.publish_request(5, tok(5), t0).unwrap();
        o.puback();
        assert_eq!(o.next_deadline(), Some(t0 + secs(2.0)));
        assert_eq!(o.expire(t0 + secs(1.999)), vec![]);
        assert_eq!(
            o.expire(t0 + secs(2.0)),
            vec![Expired {
                message_id: 5,
                token: tok(5),
                reason: ExpiryReason::NoAck
            }]
        );
        // nothing left to retransmit; a late ACK and response are ignored
        assert_eq!(o.pending(), 0);
        assert_eq!(o.next_deadline(), None);
        assert_eq!(o.ack(5, t0 + secs(2.5)), AckOutcome::Unmatched);
        assert_eq!(
            o.response(tok(5), t0 + secs(3.0)),
            ResponseOutcome::UnknownToken
        );
    }

    #[test]
    fn an_ack_after_ack_timeout_does_not_revive_the_request() {
        let t0 = Instant::now();
        let mut o = Outbox::new(Timers::default());
        o.publish_request(5, tok(5), t0).unwrap();
        assert_eq!(o.ack(5, t0 + secs(2.0)), AckOutcome::Unmatched);
        assert_eq!(
            o.response(tok(5), t0 + secs(2.1)),
            ResponseOutcome::UnknownToken
        );
    }

    #[test]
    fn no_response_within_request_timeout_expires() {
        let t0 = Instant::now();
        let timers = Timers::shortened(secs(0.5), secs(3.0)).unwrap();
        let mut o = Outbox::new(timers);
        o.publish_request(7, tok(7), t0).unwrap();
        o.ack(7, t0 + secs(0.1));
        assert_eq!(o.next_deadline(), Some(t0 + secs(3.0)));
        assert_eq!(o.expire(t0 + secs(2.9)), vec![]);
        assert_eq!(
            o.expire(t0 + secs(3.0)),
            vec![Expired {
                message_id: 7,
                token: tok(7),
                reason: ExpiryReason::NoResponse
            }]
        );
    }

    #[test]
    fn the_binary_transfer_put_lives_request_timeout_after_the_last_get() {
        let t0 = Instant::now();
        let mut o = Outbox::new(Timers::default());
        o.publish_request(1, tok(1), t0).unwrap();
        o.ack(1, t0 + secs(0.1));
        assert!(o.refresh(tok(1), t0 + secs(10.0)));
        assert!(o.refresh(tok(1), t0 + secs(20.0)));
        assert_eq!(o.expire(t0 + secs(34.9)), vec![]);
        assert_eq!(o.expire(t0 + secs(35.0)).len(), 1);
        assert!(!o.refresh(tok(1), t0 + secs(36.0)));
    }

    #[test]
    fn a_response_before_the_ack_is_matched_and_flagged() {
        let t0 = Instant::now();
        let mut o = Outbox::new(Timers::default());
        o.publish_request(3, tok(3), t0).unwrap();
        assert_eq!(
            o.response(tok(3), t0 + secs(0.5)),
            ResponseOutcome::Matched {
                message_id: 3,
                acknowledged: false
            }
        );
        assert_eq!(o.ack(3, t0 + secs(0.6)), AckOutcome::Unmatched);
    }

    #[test]
    fn responses_and_acks_published_wait_for_puback_too() {
        let t0 = Instant::now();
        let mut o = Outbox::new(Timers::default());
        o.publish_other();
        assert!(o.awaiting_puback());
        assert_eq!(o.check(1, tok(1), t0), Err(Blocked::AwaitingPuback));
        assert!(o.puback());
        assert!(!o.puback(), "a second PUBACK was not awaited");
        assert_eq!(o.check(1, tok(1), t0), Ok(()));
    }

    #[test]
    fn an_ungated_request_is_still_matched() {
        let t0 = Instant::now();
        let mut o = Outbox::new(Timers::default());
        o.publish_request(1, tok(1), t0).unwrap();
        o.puback();
        assert!(o.check(2, tok(2), t0).is_err());
        o.publish_request_ungated(2, tok(2), t0);
        assert_eq!(o.pending(), 2);
        assert_eq!(o.ack(2, t0), AckOutcome::Acknowledged { token: tok(2) });
        assert!(matches!(
            o.response(tok(2), t0),
            ResponseOutcome::Matched { message_id: 2, .. }
        ));
        // Re-published under the same token: one entry, its clock restarted.
        o.publish_request_ungated(1, tok(1), t0 + secs(1.0));
        assert_eq!(o.pending(), 1);
        assert!(o.expire(t0 + secs(2.5)).is_empty());
    }
}
