//! The binary transfer steps (ESR030 4.7): `binary_pull` plays the receiver of a PUT opaque
//! the SUT sends, `binary_offer` the sender of one the SUT must pull. Both use the state
//! machines of `m2mspec_lwm2m::transfer`, check every block (same NUM and size in Block1, the
//! M flag, the length against Size1) and the data byte for byte against the positional
//! pattern both sides generate, and log the transfer's throughput in the case log.

use super::coap::await_answer;
use super::peer::{
    self, default_topics, fields_match, five_s, next_mid, next_token, publish, receive, save,
    sut_messages, Dur,
};
use crate::matcher::{check_fields, FieldExpectations};
use crate::steps::case_run::CaseRun;
use crate::steps::failure::{harness_error, mismatch_evidence, StepFailure, StepResult};
use m2mspec_lwm2m::rules::{check_types, empty_ack, kind, Kind};
use m2mspec_lwm2m::transfer::{pattern, BinaryReceiver, BinarySender, GetOutcome};
use m2mspec_lwm2m::{Code, Message};
use m2mspec_reports::Evidence;
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Largest transfer the harness pulls.
const PULL_LIMIT: u64 = 1 << 32;

fn six() -> u8 {
    6
}
fn changed() -> String {
    "2.04".into()
}
fn seed() -> u64 {
    1
}
fn thirty_s() -> Dur {
    Dur::Ms(30_000)
}
fn tmp_location() -> String {
    "/tmp/m2mspec".into()
}

fn topics(
    run: &CaseRun<'_>,
    alias: &str,
    topic: &Option<String>,
    reply_topic: &Option<String>,
    device: &Option<String>,
) -> Result<(String, String), StepFailure> {
    let device = device.as_deref().map(|d| run.expand(d)).transpose()?;
    let defaults = default_topics(run, alias, device.as_deref());
    let pick = |explicit: &Option<String>, default: Option<String>| match explicit {
        Some(t) => run.expand(t),
        None => default.ok_or_else(|| harness_error("give the step its topics")),
    };
    let (out, inbound) = match defaults {
        Ok((o, i)) => (Some(o), Some(i)),
        Err(_) => (None, None),
    };
    Ok((pick(topic, out)?, pick(reply_topic, inbound)?))
}

fn failure(message: String, expected: &str, observed: String, packets: Vec<String>) -> StepFailure {
    StepFailure::Check(Evidence {
        message,
        expected: Some(expected.to_string()),
        observed: Some(observed),
        packets,
        data: None,
    })
}

/// The throughput line of the case log.
fn throughput(run: &mut CaseRun<'_>, step: &str, bytes: u64, exchanges: u64, took: Duration) {
    let secs = took.as_secs_f64().max(1e-6);
    run.log.push(format!(
        "  {step}: {bytes} bytes in {exchanges} block exchanges, {} ms: {:.1} KiB/s ({:.2} Mbit/s)",
        took.as_millis(),
        bytes as f64 / 1024.0 / secs,
        bytes as f64 * 8.0 / 1e6 / secs
    ));
}

/// One block the harness asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BlockAsk {
    num: u32,
    #[serde(default = "six")]
    szx: u8,
    /// Wait this long before asking.
    wait: Option<Dur>,
    /// The code the answer must have: 2.05 (a block, default) or e.g. 4.04 (ESR030 4.7.3).
    expect: Option<String>,
}

/// Receive a PUT opaque from the SUT and pull its data.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BinaryPull {
    #[serde(rename = "as")]
    alias: String,
    /// Where the GETs go (default: the entity's outgoing transport topic).
    topic: Option<String>,
    /// Where the PUT and the answers arrive (default: the incoming transport topic).
    reply_topic: Option<String>,
    device: Option<String>,
    /// Which request is the PUT (default: the first PUT).
    #[serde(rename = "match", default)]
    select: FieldExpectations,
    /// What the PUT must hold besides the 4.7.2 options (checked before pulling).
    #[serde(default)]
    put_fields: FieldExpectations,
    /// The size exponent the harness prefers when it pulls everything.
    #[serde(default = "six")]
    szx: u8,
    /// Blocks to ask for, in this order (then `complete` defaults to false).
    #[serde(default)]
    blocks: Vec<BlockAsk>,
    /// Pull every byte (default: when no `blocks` are given).
    complete: Option<bool>,
    /// The pattern the data must follow, byte for byte.
    seed: Option<u64>,
    /// The Size1 the PUT must announce.
    size: Option<u64>,
    /// The response to the PUT once done ("none": no response).
    #[serde(default = "changed")]
    respond: String,
    /// Bound on each exchange.
    #[serde(default = "five_s")]
    within: Dur,
    save: Option<String>,
    #[serde(default)]
    pub(super) setup: bool,
}

impl BinaryPull {
    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let (out, inbound) = topics(run, alias, &self.topic, &self.reply_topic, &self.device)?;
        let timers = peer::timers(run);
        let within = self.within.resolve(timers);
        let mut select = run.expand_fields(&self.select)?;
        select.push(("code".into(), Value::from("0.03")));
        let put_fields = run.expand_fields(&self.put_fields)?;
        let Some(a) = receive(run, alias, within, fields_match(&select)).await? else {
            return Err(failure(
                format!("{alias} received no PUT within {} ms", within.as_millis()),
                "a PUT opaque (ESR030 4.7.2)",
                "none".into(),
                sut_messages(run),
            ));
        };
        run.log.push(format!("  {alias} ← {}", a.line()));
        if let Some(name) = &self.save {
            save(run, &format!("{name}_put"), &a.topic, &a.bytes, a.at);
        }
        let Some(put) = a.message() else {
            return Err(harness_error("a matched PUT no longer decodes"));
        };
        // Acknowledge it (ESR030 4.4), then judge it.
        let ack = empty_ack(&put)
            .encode()
            .map_err(|e| harness_error(e.to_string()))?;
        publish(run, alias, &out, &ack, 1, false).await?;
        let data = a.fields();
        let mut mism = check_fields(
            &Value::Object(data.clone()),
            put_fields.iter().map(|(k, v)| (k, v)),
        );
        if a.topic != inbound {
            mism.push(crate::matcher::Mismatch {
                path: "topic".into(),
                expected: inbound.clone(),
                observed: a.topic.clone(),
            });
        }
        if let Some(size) = self.size {
            if data.get("size1").and_then(Value::as_u64) != Some(size) {
                mism.push(crate::matcher::Mismatch {
                    path: "size1".into(),
                    expected: size.to_string(),
                    observed: data
                        .get("size1")
                        .map_or("<absent>".into(), Value::to_string),
                });
            }
        }
        if !mism.is_empty() {
            return Err(mismatch_evidence(
                "PUT opaque",
                &mism,
                vec![a.line()],
                Some(Value::Object(data)),
            ));
        }
        let mut receiver = BinaryReceiver::from_put(&put, self.szx.min(6), PULL_LIMIT).map_err(|e| {
            failure(
                format!("not a PUT opaque the receiver can pull: {e}"),
                "Content-Format 42, Size1 (the total size) and Location-Path (a temporary URI), no payload (ESR030 4.7.2)",
                put.to_string(),
                vec![a.line()],
            )
        })?;
        let started = Instant::now();
        let mut exchanges = 0u64;
        let mut bytes = 0u64;
        for ask in &self.blocks {
            if let Some(w) = ask.wait {
                let d = w.resolve(timers);
                run.log.push(format!("  waiting {} ms", d.as_millis()));
                tokio::time::sleep(d).await;
            }
            let mid = next_mid(run, alias);
            let token = next_token(run, alias);
            let get = receiver
                .request_block(ask.num, ask.szx, mid, token)
                .map_err(|e| harness_error(format!("block {} (szx {}): {e}", ask.num, ask.szx)))?;
            let expect: Code = match &ask.expect {
                Some(c) => c
                    .parse()
                    .map_err(|e: m2mspec_lwm2m::code::BadCode| harness_error(e.to_string()))?,
                None => Code::CONTENT,
            };
            let rsp = self.exchange(run, alias, &out, &get, within).await?;
            exchanges += 1;
            if expect != Code::CONTENT || rsp.code != Code::CONTENT {
                if rsp.code != expect {
                    return Err(failure(
                        format!(
                            "GET of block {} was answered {}, expected {expect}",
                            ask.num, rsp.code
                        ),
                        &format!(
                            "{expect}{}",
                            if expect == Code::NOT_FOUND {
                                " once the PUT opaque has expired: the temporary resource MUST be invalidated (ESR030 4.7.3)"
                            } else {
                                ""
                            }
                        ),
                        rsp.to_string(),
                        vec![format!("GET: {get}"), format!("answer: {rsp}")],
                    ));
                }
                continue;
            }
            bytes += self.take_block(&mut receiver, &get, &rsp)?;
        }
        let complete = self.complete.unwrap_or(self.blocks.is_empty());
        if complete {
            loop {
                let mid = next_mid(run, alias);
                let token = next_token(run, alias);
                let Some(get) = receiver.next_request(mid, token) else {
                    break;
                };
                let rsp = self.exchange(run, alias, &out, &get, within).await?;
                exchanges += 1;
                bytes += self.take_block(&mut receiver, &get, &rsp)?;
            }
            if let (Some(seed), Some(all)) = (self.seed, receiver.data()) {
                if let Some(at) = pattern::first_difference(seed, 0, all) {
                    return Err(failure(
                        format!("the data differs from the expected bytes at offset {at}"),
                        "the data the SUT was told to send, byte for byte",
                        format!("byte {at} differs"),
                        Vec::new(),
                    ));
                }
            }
        }
        throughput(run, "binary_pull", bytes, exchanges, started.elapsed());
        if self.respond != "none" {
            let code: Code = self
                .respond
                .parse()
                .map_err(|e: m2mspec_lwm2m::code::BadCode| harness_error(e.to_string()))?;
            let mid = next_mid(run, alias);
            let rsp = receiver.put_response(code, mid);
            let b = rsp.encode().map_err(|e| harness_error(e.to_string()))?;
            run.log.push(format!("  {alias} → {out}: {rsp}"));
            publish(run, alias, &out, &b, 1, false).await?;
        }
        if let Some(name) = &self.save {
            run.vars.set(format!("{name}.bytes"), bytes.to_string());
            run.vars.set(
                format!("{name}.complete"),
                receiver.is_complete().to_string(),
            );
        }
        Ok(())
    }

    /// One block exchange: the GET, the SUT's empty ACK and separate response.
    async fn exchange(
        &self,
        run: &mut CaseRun<'_>,
        alias: &str,
        out: &str,
        get: &Message,
        within: Duration,
    ) -> Result<Message, StepFailure> {
        let bytes = get.encode().map_err(|e| harness_error(e.to_string()))?;
        let sent = Instant::now();
        publish(run, alias, out, &bytes, 1, false).await?;
        let answer = await_answer(run, alias, get, sent, true, within).await?;
        Ok(answer.message)
    }

    /// Check and keep one block; its length.
    fn take_block(
        &self,
        receiver: &mut BinaryReceiver,
        get: &Message,
        rsp: &Message,
    ) -> Result<u64, StepFailure> {
        let lines = || vec![format!("GET: {get}"), format!("answer: {rsp}")];
        receiver.on_response(rsp).map_err(|e| {
            failure(
                format!("block answer refused: {e}"),
                "Block1 with the GET's NUM and size, M set unless it is the last block, the block's bytes (ESR030 4.7.1, 4.7.2)",
                rsp.to_string(),
                lines(),
            )
        })?;
        if let (Some(seed), Ok(Some(b))) = (self.seed, get.block2()) {
            let offset = b.offset().unwrap_or(0);
            if let Some(at) = pattern::first_difference(seed, offset, &rsp.payload) {
                return Err(failure(
                    format!(
                        "block {} differs from the expected bytes at offset {at}",
                        b.num()
                    ),
                    "the data the SUT was told to send, byte for byte",
                    format!("byte {at} differs"),
                    lines(),
                ));
            }
        }
        Ok(rsp.payload.len() as u64)
    }
}

/// Send a PUT opaque to the SUT and serve the blocks it pulls.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BinaryOffer {
    #[serde(rename = "as")]
    alias: String,
    topic: Option<String>,
    reply_topic: Option<String>,
    device: Option<String>,
    /// The resource written (the PUT's Uri-Path), e.g. `/5/0/0`.
    path: String,
    /// The temporary URI (Location-Path).
    #[serde(default = "tmp_location")]
    location: String,
    size: u64,
    #[serde(default = "seed")]
    seed: u64,
    /// The code the SUT must answer the PUT with once it has pulled everything.
    #[serde(default = "changed")]
    expect: String,
    /// Bound on the whole transfer.
    #[serde(default = "thirty_s")]
    within: Dur,
    #[serde(default)]
    pub(super) setup: bool,
}

fn segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl BinaryOffer {
    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let (out, _) = topics(run, alias, &self.topic, &self.reply_topic, &self.device)?;
        let timers = peer::timers(run);
        let expect: Code = self
            .expect
            .parse()
            .map_err(|e: m2mspec_lwm2m::code::BadCode| harness_error(e.to_string()))?;
        let path = segments(&run.expand(&self.path)?);
        let location = segments(&run.expand(&self.location)?);
        let size = usize::try_from(self.size).map_err(|_| harness_error("size too large"))?;
        let mut sender =
            BinarySender::new(pattern::bytes(self.seed, 0, size), &path, &location, timers)
                .map_err(|e| harness_error(e.to_string()))?;
        let (mid, token) = (next_mid(run, alias), next_token(run, alias));
        let put = sender.put_request(mid, token, Instant::now());
        let bytes = put.encode().map_err(|e| harness_error(e.to_string()))?;
        run.log.push(format!("  {alias} → {out}: {put}"));
        publish(run, alias, &out, &bytes, 1, false).await?;
        let started = Instant::now();
        let deadline = started + self.within.resolve(timers);
        let mut served = vec![false; size.div_ceil(16).max(1)];
        let (mut acked, mut exchanges, mut sent_bytes) = (false, 0u64, 0u64);
        let mine = |a: &super::peer::Arrived| {
            a.message().is_some_and(|m| {
                kind(&m) == Kind::Request || m.token == put.token || m.message_id == put.message_id
            })
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(a) = receive(run, alias, left, mine).await? else {
                let got = served.iter().filter(|s| **s).count() * 16;
                return Err(failure(
                    format!(
                        "the SUT did not complete the transfer within {} ms: it pulled {} of {} bytes in {exchanges} GETs",
                        self.within.resolve(timers).as_millis(),
                        got.min(size),
                        size
                    ),
                    &format!("GETs with Block2 on the temporary URI until every block is pulled, then {expect} to the PUT (ESR030 4.7.2)"),
                    "see the SUT's messages".into(),
                    sut_messages(run),
                ));
            };
            let Some(m) = a.message() else { continue };
            match kind(&m) {
                Kind::EmptyAck if m.message_id == put.message_id => acked = true,
                Kind::Response if m.token == put.token => {
                    run.log.push(format!("  {alias} ← {}", a.line()));
                    if !acked {
                        return Err(failure(
                            "the PUT was answered without an empty ACK first".into(),
                            "an empty ACK, then the separate response (ESR030 4.4)",
                            a.line(),
                            vec![a.line()],
                        ));
                    }
                    if m.code != expect {
                        return Err(failure(
                            format!("the PUT opaque was answered {}", m.code),
                            &expect.to_string(),
                            m.to_string(),
                            vec![a.line()],
                        ));
                    }
                    if expect.is_success() {
                        if let Some(gap) = served.iter().position(|s| !s) {
                            return Err(failure(
                                format!(
                                    "the SUT answered {} but never pulled the bytes from offset {}",
                                    m.code,
                                    gap * 16
                                ),
                                "every block pulled before the PUT is answered (ESR030 4.7.2)",
                                format!("{sent_bytes} bytes served in {exchanges} GETs"),
                                vec![a.line()],
                            ));
                        }
                    }
                    throughput(
                        run,
                        "binary_offer",
                        sent_bytes,
                        exchanges,
                        started.elapsed(),
                    );
                    return Ok(());
                }
                Kind::Request => {
                    if let Err(v) = check_types(&m) {
                        return Err(failure(
                            format!("block request {m}: {v}"),
                            "GET marked CON (ESR030 4.5.1)",
                            m.mtype.to_string(),
                            vec![a.line()],
                        ));
                    }
                    let ack = empty_ack(&m)
                        .encode()
                        .map_err(|e| harness_error(e.to_string()))?;
                    publish(run, alias, &out, &ack, 1, false).await?;
                    let rmid = next_mid(run, alias);
                    let answer = match sender.on_get(&m, rmid, Instant::now()) {
                        GetOutcome::Served(r) => {
                            if let Ok(Some(b)) = m.block2() {
                                let from = b.offset().unwrap_or(0) as usize / 16;
                                let n = r.payload.len().div_ceil(16);
                                for s in served.iter_mut().skip(from).take(n.max(1)) {
                                    *s = true;
                                }
                            }
                            sent_bytes += r.payload.len() as u64;
                            exchanges += 1;
                            r
                        }
                        GetOutcome::Refused(r) => {
                            return Err(failure(
                                format!("the SUT's block request was refused ({}): {m}", r.code),
                                "GET with Block2 (NUM, SZX) within Size1 on the temporary URI (ESR030 4.7.2)",
                                m.to_string(),
                                vec![a.line()],
                            ))
                        }
                        GetOutcome::NotMine => {
                            return Err(failure(
                                format!("the SUT's GET is not on the temporary URI /{}: {m}", location.join("/")),
                                "URI-Path: the temporary URI of the PUT's Location-Path (ESR030 4.7.2)",
                                m.uri_path_string().unwrap_or_default(),
                                vec![a.line()],
                            ))
                        }
                    };
                    let b = answer.encode().map_err(|e| harness_error(e.to_string()))?;
                    publish(run, alias, &out, &b, 1, false).await?;
                }
                _ => {}
            }
        }
    }
}
