//! Message types under ESR030, and the 4.4 sequence's messages.
//!
//! * 4.5.1: a request MUST be CON. 4.5.2: a response MUST be NON. 5.1 (Table 5-3): RFC 7252
//!   5.2.1 (piggybacked responses) is not included, so an ACK never carries a response; the
//!   receiver of a request answers with an empty ACK (RFC 7252 4.2: echoing the Message ID,
//!   Empty) and later a separate NON response (RFC 7252 5.2.2; 4.4's Illustration 4-2),
//!   which echoes the token (RFC 7252 5.3.2) and has a Message ID of its own.
//! * Empty CON (a CoAP ping, RFC 7252 4.3) and RST are not requests or responses; ESR030 says
//!   nothing of them and this module does not flag them. Format errors (an Empty NON, an ACK
//!   carrying a request, a non-Empty RST) are [`crate::validate`](mod@crate::validate)'s.

use thiserror::Error;

use crate::code::{Code, CodeKind, MessageType};
use crate::message::Message;
use crate::token::Token;

/// What a message is at the message layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A method code (0.01–0.31).
    Request,
    /// A response code (2.xx, 4.xx, 5.xx).
    Response,
    /// Empty ACK.
    EmptyAck,
    /// Empty CON (CoAP ping).
    Ping,
    /// Empty RST.
    Reset,
    /// Empty NON, or a reserved code class: a format error for the validator.
    Malformed,
}

/// Classify a message by code and type.
pub fn kind(m: &Message) -> Kind {
    match (m.code.kind(), m.mtype) {
        (CodeKind::Request, _) => Kind::Request,
        (CodeKind::Response, _) => Kind::Response,
        (CodeKind::Empty, MessageType::Acknowledgement) => Kind::EmptyAck,
        (CodeKind::Empty, MessageType::Confirmable) => Kind::Ping,
        (CodeKind::Empty, MessageType::Reset) => Kind::Reset,
        _ => Kind::Malformed,
    }
}

/// A message whose type breaks ESR030's CON/NON rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ProfileViolation {
    #[error("request {code} sent as {mtype}: a request MUST be marked confirmable (CON)")]
    RequestNotConfirmable { code: Code, mtype: MessageType },
    #[error("response {code} piggybacked on an ACK: acknowledgement and response are never in the same message")]
    Piggybacked { code: Code },
    #[error("response {code} sent as {mtype}: a response MUST be marked Non-confirmable (NON)")]
    ResponseNotNonConfirmable { code: Code, mtype: MessageType },
}

impl ProfileViolation {
    /// The ESR030 clause.
    pub fn clause(&self) -> &'static str {
        match self {
            ProfileViolation::RequestNotConfirmable { .. } => "ESR030 4.5.1",
            ProfileViolation::Piggybacked { .. } => "ESR030 4.5.2, 5.1 (Table 5-3: RFC 7252 5.2.1)",
            ProfileViolation::ResponseNotNonConfirmable { .. } => "ESR030 4.5.2",
        }
    }
}

/// Check the ESR030 type rules of one message.
pub fn check_types(m: &Message) -> Result<(), ProfileViolation> {
    match (kind(m), m.mtype) {
        (Kind::Request, MessageType::Confirmable) => Ok(()),
        (Kind::Request, mtype) => Err(ProfileViolation::RequestNotConfirmable {
            code: m.code,
            mtype,
        }),
        (Kind::Response, MessageType::NonConfirmable) => Ok(()),
        (Kind::Response, MessageType::Acknowledgement) => {
            Err(ProfileViolation::Piggybacked { code: m.code })
        }
        (Kind::Response, mtype) => Err(ProfileViolation::ResponseNotNonConfirmable {
            code: m.code,
            mtype,
        }),
        _ => Ok(()),
    }
}

/// The empty ACK for `request` (RFC 7252 4.2: echoes the Message ID; Empty: no token).
pub fn empty_ack(request: &Message) -> Message {
    Message::new(
        MessageType::Acknowledgement,
        Code::EMPTY,
        request.message_id,
        Token::empty(),
    )
}

/// The separate NON response to `request` (ESR030 4.5.2, RFC 7252 5.2.2): `code`, the
/// request's token, a Message ID of the responder's own.
pub fn separate_response(request: &Message, code: Code, message_id: u16) -> Message {
    Message::new(MessageType::NonConfirmable, code, message_id, request.token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::validate;
    use rstest::rstest;

    fn msg(mtype: MessageType, code: Code) -> Message {
        Message::new(mtype, code, 1, Token::from_u64(1))
    }

    #[rstest]
    #[case(MessageType::Confirmable, Code::POST, None)]
    #[case(MessageType::NonConfirmable, Code::POST, Some("ESR030 4.5.1"))]
    #[case(MessageType::NonConfirmable, Code::CREATED, None)]
    #[case(
        MessageType::Acknowledgement,
        Code::CREATED,
        Some("ESR030 4.5.2, 5.1 (Table 5-3: RFC 7252 5.2.1)")
    )]
    #[case(MessageType::Confirmable, Code::CONTENT, Some("ESR030 4.5.2"))]
    #[case(MessageType::Acknowledgement, Code::EMPTY, None)]
    #[case(MessageType::Confirmable, Code::EMPTY, None)]
    #[case(MessageType::Reset, Code::EMPTY, None)]
    fn type_rules(#[case] mtype: MessageType, #[case] code: Code, #[case] clause: Option<&str>) {
        assert_eq!(
            check_types(&msg(mtype, code)).err().map(|v| v.clause()),
            clause
        );
    }

    #[test]
    fn the_4_4_sequence_messages() {
        let request =
            Message::request(Code::POST, 0x1111, Token::new(&[9, 9]).unwrap()).with_uri_path("rd");
        let ack = empty_ack(&request);
        assert_eq!(kind(&ack), Kind::EmptyAck);
        assert_eq!(ack.message_id, 0x1111);
        assert!(ack.token.is_empty() && ack.options.is_empty() && ack.payload.is_empty());
        assert_eq!(validate(&ack.encode().unwrap()), vec![]);
        let response =
            separate_response(&request, Code::CREATED, 0x2222).with_location_path(&["rd", "5a3f"]);
        assert_eq!(response.mtype, MessageType::NonConfirmable);
        assert_eq!(response.token, request.token);
        assert_eq!(response.message_id, 0x2222);
        assert_eq!(check_types(&response), Ok(()));
        assert_eq!(validate(&response.encode().unwrap()), vec![]);
    }

    #[test]
    fn kinds() {
        assert_eq!(
            kind(&msg(MessageType::NonConfirmable, Code::EMPTY)),
            Kind::Malformed
        );
        assert_eq!(
            kind(&msg(MessageType::Confirmable, Code(0xe0))),
            Kind::Malformed
        );
        assert_eq!(kind(&msg(MessageType::Reset, Code::EMPTY)), Kind::Reset);
        assert_eq!(
            kind(&msg(MessageType::Confirmable, Code::GET)),
            Kind::Request
        );
    }
}
