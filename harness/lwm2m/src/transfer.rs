//! ESR030 4.7 binary data transfer ("PUT opaque" in streaming mode), Illustration 4-3:
//!
//! 1. The sender publishes a CON `PUT` with Content-Format `application/octet-stream` (42),
//!    `Size1` = total size and `Location-Path` = a temporary URI on the sender's side; the
//!    receiver acknowledges it (empty ACK).
//! 2. The receiver pulls the data: CON `GET` with `Uri-Path` = the temporary URI and `Block2`
//!    = (NUM, SZX) of the block it wants; the sender answers (empty ACK, then a NON response)
//!    with `Block1` carrying the same NUM and SZX and the M flag (more blocks follow), and the
//!    block as payload. The receiver chooses order and size and may ask for a block again
//!    (footnote 2).
//! 3. When it has everything, the receiver sends the response to the `PUT` (2.04 Changed).
//! 4. 4.7.3: the `PUT` expires REQUEST_TIMEOUT after the receiver's last `GET`; the sender
//!    then invalidates the temporary resource and answers later `GET`s with 4.04 Not Found.
//!
//! [`sender::BinarySender`] is the side that holds the data and the temporary resource;
//! [`receiver::BinaryReceiver`] the side that pulls it. Both are pure state machines: the
//! caller publishes the messages they build, passes in what arrives and the time, and wires
//! the CoAP message layer ([`crate::rules`]) around them — in particular
//! [`crate::rules::Outbox::refresh`] for the `PUT`'s 4.7.3 deadline.
//!
//! Readings taken where ESR030 4.7 leaves room:
//! * The block responses carry code 2.05 Content (4.7.2 names only their options) and no
//!   Content-Format (4.7.2 lists none; the `PUT` declared the format).
//! * The initial `PUT` carries no payload (everything travels in blocks).
//! * Before any `GET`, the `PUT`'s own publication starts the 4.7.3 clock.
//! * A `GET` without `Block2`, with SZX 7 (RFC 7959 2.2) or for a block that starts beyond
//!   the data gets 4.00 Bad Request; after expiry or completion every `GET` gets 4.04.
//! * A block's payload must be exactly the block size when M is set and not longer when it is
//!   not (RFC 7959 2.2), consistent with `Size1`.
//! * Block NUMs are in units of the block's own size, so a change of size re-scales NUM
//!   (RFC 7959 2.4); the 4-byte Block option carries NUMs ≥ 2^20 (4.7.1).

pub mod pattern;
pub mod receiver;
pub mod sender;

use thiserror::Error;

use crate::block::BlockValue;
use crate::code::Code;
use crate::message::OptionError;

pub use receiver::{BinaryReceiver, Progress};
pub use sender::{BinarySender, GetOutcome};

/// Something in a binary transfer that does not follow ESR030 4.7.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransferError {
    #[error("expected a PUT, got {0} (ESR030 4.7.2)")]
    NotPut(Code),
    #[error(
        "Content-Format {0:?} is not application/octet-stream (42): not a PUT opaque (ESR030 4.7)"
    )]
    NotOpaque(Option<u16>),
    #[error("the PUT opaque has no Size1 (ESR030 4.7.2)")]
    MissingSize1,
    #[error("the PUT opaque has no Location-Path (ESR030 4.7.2)")]
    MissingLocation,
    #[error(
        "the PUT opaque carries a {0}-byte payload; the data is pulled in blocks (ESR030 4.7.2)"
    )]
    UnexpectedPayload(usize),
    #[error("Size1 {size} exceeds this receiver's limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("{0} bytes do not fit Size1 (4 bytes, RFC 7959 4)")]
    DataTooLarge(usize),
    #[error("block size exponent {0}: only 0-6 are block sizes (RFC 7959 2.2)")]
    BadSzx(u8),
    #[error("block {num} of {size} bytes starts beyond the {total} bytes of the transfer")]
    BeyondEnd { num: u32, size: u32, total: u64 },
    #[error("a response arrived with no GET outstanding or with another token")]
    UnexpectedResponse,
    #[error("the temporary resource answered 4.04 Not Found: the transfer expired (ESR030 4.7.3)")]
    Expired,
    #[error("the block response has code {0}, expected 2.05 Content")]
    UnexpectedCode(Code),
    #[error("the block response has no Block1 option (ESR030 4.7.2)")]
    MissingBlock1,
    #[error("asked for block {requested:?}, the response's Block1 is {answered:?} (ESR030 4.7.2: same NUM and size)")]
    BlockMismatch {
        requested: BlockValue,
        answered: BlockValue,
    },
    #[error("block at offset {offset}: {len} bytes with M={more}, but Size1 is {total} and the block size {size} (RFC 7959 2.2, ESR030 4.7.2)")]
    WrongBlockLength {
        offset: u64,
        len: usize,
        more: bool,
        total: u64,
        size: u32,
    },
    #[error(transparent)]
    Option(#[from] OptionError),
}
