//! Binary data transfer (ESR030 4.7) for the reference device and server, on their message
//! layer: [`Offers`] sends data as the PUT opaque's sender and serves the receiver's GETs from
//! its temporary resources; [`receive`] pulls the data of a PUT opaque as its receiver. The
//! state machines are `m2mspec_lwm2m::transfer`'s; this module wires them to a [`Link`] and
//! applies the transfer faults.

use m2mspec_lwm2m::block::BlockValue;
use m2mspec_lwm2m::option::{CoapOption, OptionNumber};
use m2mspec_lwm2m::rules::Timers;
use m2mspec_lwm2m::transfer::sender::SenderState;
use m2mspec_lwm2m::transfer::{BinaryReceiver, BinarySender, GetOutcome, TransferError};
use m2mspec_lwm2m::{Code, Message, Token};
use m2mspec_session::lock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::link::{Link, RequestError};
use crate::Faults;

/// Largest transfer a reference client accepts as receiver (Size1 above it: 4.13).
pub const RECEIVE_LIMIT: u64 = 64 << 20;

struct Offer {
    sender: BinarySender,
    put_token: Token,
    /// The `no_transfer_expiry` fault: the sender's clock stands still at the PUT.
    frozen: Option<Instant>,
    /// The `block1_wrong_size` fault: the size of the first GET.
    first_szx: Option<u8>,
}

/// The temporary resources of transfers this client sends, by (peer topic, Location-Path).
#[derive(Default)]
pub struct Offers {
    map: Mutex<HashMap<(String, Vec<String>), Offer>>,
    next: AtomicU32,
}

impl Offers {
    /// Send `data` for `target` (Uri-Path segments) to the peer on `peer` as a PUT opaque with
    /// Size1 and a temporary Location-Path, serve its GETs, and return the receiver's response
    /// to the PUT (or why none came: 4.7.3 expiry reaches the initiator as `NoResponse`).
    pub async fn send(
        &self,
        link: &Link,
        peer: &str,
        target: &[String],
        data: Vec<u8>,
        timers: Timers,
        faults: &Faults,
    ) -> Result<Message, RequestError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let location = vec!["tmp".to_string(), format!("t{n}")];
        let mut sender = BinarySender::new(data, target, &location, timers)
            .map_err(|e| RequestError::Encode(e.to_string()))?;
        let token = link.fresh_token();
        let now = Instant::now();
        let mut put = sender.put_request(0, token, now);
        if faults.put_without_size1 {
            put.remove_option(OptionNumber::SIZE1);
        }
        {
            let mut map = lock(&self.map);
            // Forget finished or expired transfers (the no-expiry fault keeps them all).
            map.retain(|_, o| o.frozen.is_some() || !o.sender.expire(Instant::now()));
            map.insert(
                (peer.to_string(), location.clone()),
                Offer {
                    sender,
                    put_token: token,
                    frozen: faults.no_transfer_expiry.then_some(now),
                    first_szx: None,
                },
            );
        }
        let outcome = link.request(peer, put).await;
        if let Ok(response) = &outcome {
            let mut map = lock(&self.map);
            if let Some(o) = map.get_mut(&(peer.to_string(), location.clone())) {
                let _ = o.sender.on_put_response(response);
            }
            if !faults.no_transfer_expiry {
                map.remove(&(peer.to_string(), location));
            }
        }
        outcome
    }

    /// Serve a GET from `peer` if it addresses a temporary resource of this client: the block
    /// (2.05 with Block1), or 4.04 once the transfer is over (4.7.3). `None`: not a transfer.
    pub fn serve(
        &self,
        link: &Link,
        peer: &str,
        request: &Message,
        faults: &Faults,
    ) -> Option<Message> {
        let path: Vec<String> = request
            .uri_path()
            .ok()?
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut map = lock(&self.map);
        let offer = map.get_mut(&(peer.to_string(), path))?;
        let now = offer.frozen.unwrap_or_else(Instant::now);
        let mut asked = request.clone();
        if faults.block1_wrong_size {
            // Serve the block of the first size that holds the asked offset.
            if let Ok(Some(b)) = request.block2() {
                let szx = *offer.first_szx.get_or_insert(b.szx());
                let num = b.offset().map_or(b.num(), |o| (o >> (szx + 4)) as u32);
                if let Ok(v) = BlockValue::new(num, false, szx) {
                    asked = asked.with_block2(v);
                }
            }
        }
        match offer.sender.on_get(&asked, 0, now) {
            GetOutcome::Served(mut m) => {
                if offer.sender.state(now) == SenderState::Offered {
                    link.refresh(peer, offer.put_token);
                }
                bend_block(&mut m, faults);
                Some(m)
            }
            GetOutcome::Refused(m) => Some(m),
            GetOutcome::NotMine => None,
        }
    }
}

/// The sender-side block faults.
fn bend_block(m: &mut Message, faults: &Faults) {
    let Ok(Some(b)) = m.block1() else { return };
    if faults.block1_two_bytes {
        // At most 2 bytes: NUM keeps its low 12 bits.
        let value = (b.to_u32() & 0xffff) as u16;
        let bytes = value.to_be_bytes();
        let skip = usize::from(value < 0x100) + usize::from(value == 0);
        m.set_option(CoapOption::new(
            OptionNumber::BLOCK1,
            bytes[skip..].to_vec(),
        ));
    }
    if faults.corrupt_block && b.num() == 1 {
        if let Some(first) = m.payload.first_mut() {
            *first ^= 0xff;
        }
    }
}

/// Pull the data of `put` (a PUT opaque from `peer`) block by block as its receiver (4.7.2)
/// and return the target and the data; `Err` is the code to answer the PUT with.
pub async fn receive(
    link: &Link,
    peer: &str,
    put: &Message,
    faults: &Faults,
) -> Result<(Vec<String>, Vec<u8>), Code> {
    let mut r = match BinaryReceiver::from_put(put, 6, RECEIVE_LIMIT) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "PUT opaque refused");
            return Err(BinaryReceiver::refuse(put, &e, 0).code);
        }
    };
    let target = r.target().to_vec();
    loop {
        let token = link.fresh_token();
        let Some(mut get) = r.next_request(0, token) else {
            break;
        };
        if faults.pull_wrong_uri {
            get.remove_option(OptionNumber::URI_PATH);
            for s in &target {
                get.add_option(CoapOption::string(OptionNumber::URI_PATH, s));
            }
        }
        let response = link.request(peer, get).await.map_err(|e| {
            tracing::info!(error = %e, "block GET failed");
            Code::REQUEST_ENTITY_INCOMPLETE
        })?;
        if let Err(e) = r.on_response(&response) {
            tracing::info!(error = %e, "block refused");
            return Err(match e {
                TransferError::Expired => Code::REQUEST_ENTITY_INCOMPLETE,
                _ => Code::BAD_REQUEST,
            });
        }
    }
    let data = r.data().map(<[u8]>::to_vec).unwrap_or_default();
    Ok((target, data))
}
