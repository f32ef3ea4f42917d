//! The HTTP upper tester (oneM2M TS-0019 style): one POST per action, the action in the
//! `X-M2M-UTCMD` header and as a JSON body (`{"cmd": …, <parameters>}`), the outcome in the
//! response. Both ends live here: [`call`] is the harness's client, [`serve`] the endpoint the
//! reference SUTs (`m2mspec serve-refae`, `serve-refcse`) expose over their in-process
//! [`SutCommander`].
//!
//! Replies: `200` with `{"rsc": …, "response": …}` (either optional; an empty body or any
//! other 2xx is an outcome without them; a TS-0019 `X-M2M-UTRSP` result header is kept as
//! `response.utrsp`), `501` the action is not offered, any other status the SUT could not
//! carry it out (the body or `X-M2M-UTRSP` says why). Only HTTP/1.1 with `Content-Length`,
//! one request per connection: what an upper tester needs, nothing more.

use crate::commander::{CommandError, CommandOutcome, SutCommander};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The header naming the action (TS-0019).
pub const UTCMD: &str = "X-M2M-UTCMD";
/// The header carrying the action's bound in milliseconds (m2mspec's; an endpoint may ignore
/// it, the harness stops waiting anyway).
pub const TIMEOUT_HEADER: &str = "X-M2M-UT-Timeout-Ms";
/// The largest message either end reads.
const MAX_MESSAGE: usize = 1 << 20;

/// An HTTP message as read off the wire.
#[derive(Debug, Default)]
pub(crate) struct Message {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read one message: start line, headers, and a `Content-Length` body (or, without one, the
/// body up to the peer's close).
pub(crate) async fn read_message<R: AsyncRead + Unpin>(s: &mut R) -> Result<Message, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_MESSAGE {
            return Err("header larger than 1 MiB".into());
        }
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(if buf.is_empty() {
                "connection closed without a reply".into()
            } else {
                "connection closed inside the header".into()
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut msg = Message {
        start,
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    match msg.header("content-length").map(str::parse::<usize>) {
        Some(Ok(len)) if len <= MAX_MESSAGE => {
            while msg.body.len() < len {
                let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err(format!(
                        "connection closed after {} of {len} body bytes",
                        msg.body.len()
                    ));
                }
                msg.body.extend_from_slice(&chunk[..n]);
            }
            msg.body.truncate(len);
        }
        Some(_) => return Err("bad or oversized Content-Length".into()),
        None if msg.start.starts_with("HTTP/") => {
            // A reply without a length ends at the close (Connection: close).
            s.read_to_end(&mut msg.body)
                .await
                .map_err(|e| e.to_string())?;
        }
        None => {}
    }
    Ok(msg)
}

/// An `http://host:port/path` URL split for a request.
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("upper tester URL {url:?} is not http://host:port/path"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if !authority.contains(':') {
        return Err(format!("upper tester URL {url:?} names no port"));
    }
    Ok((authority.to_string(), path.to_string()))
}

/// POST `cmd` (header value `utcmd`) to `url` and read the outcome, all within `wait`.
pub async fn call(
    url: &str,
    utcmd: &str,
    cmd: &serde_json::Value,
    bound: Duration,
    wait: Duration,
) -> Result<CommandOutcome, CommandError> {
    let (authority, path) = split_url(url).map_err(CommandError::Unsupported)?;
    let action = utcmd.to_string();
    let channel = |what: String| CommandError::Channel(format!("upper tester {url}: {what}"));
    let exchange = async {
        let mut s = TcpStream::connect(&authority)
            .await
            .map_err(|e| channel(format!("unreachable ({e})")))?;
        let body = cmd.to_string();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\n{UTCMD}: {utcmd}\r\n{TIMEOUT_HEADER}: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            bound.as_millis(),
            body.len()
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| channel(format!("cannot send the action ({e})")))?;
        read_message(&mut s).await.map_err(channel)
    };
    let reply = tokio::time::timeout(wait, exchange).await.map_err(|_| {
        channel(format!(
            "no reply to action {action:?} within {} ms",
            wait.as_millis()
        ))
    })??;
    outcome_of(&reply).map_err(|e| match e {
        CommandError::Channel(m) => channel(m),
        other => other,
    })
}

/// The outcome an upper tester's reply carries.
fn outcome_of(reply: &Message) -> Result<CommandOutcome, CommandError> {
    let status: u16 = reply
        .start
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CommandError::Channel(format!("not an HTTP reply: {:?}", reply.start)))?;
    let parsed = serde_json::from_slice::<serde_json::Value>(&reply.body).ok();
    let text = match parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(|e| e.as_str())
    {
        Some(e) => e.to_string(),
        None => String::from_utf8_lossy(&reply.body).trim().to_string(),
    };
    let utrsp = reply.header("X-M2M-UTRSP");
    let why = || utrsp.map(str::to_string).unwrap_or_else(|| text.clone());
    match status {
        200..=299 => {
            let mut out = parsed.as_ref().map(outcome_fields).unwrap_or_default();
            if let (Some(r), None) = (utrsp, &out.response) {
                out.response = Some(serde_json::json!({ "utrsp": r }));
            }
            Ok(out)
        }
        501 => Err(CommandError::Unsupported(format!(
            "the upper tester does not offer this action: {}",
            why()
        ))),
        s => Err(CommandError::Failed(format!("HTTP {s}: {}", why()))),
    }
}

/// The outcome in a reply's JSON: its `rsc` and `response` (a `null` is none).
pub(crate) fn outcome_fields(v: &serde_json::Value) -> CommandOutcome {
    CommandOutcome {
        rsc: v.get("rsc").and_then(serde_json::Value::as_i64),
        response: v.get("response").filter(|r| !r.is_null()).cloned(),
    }
}

/// Serve the upper tester for `sut` on `listener` until the task is dropped: each connection
/// one action, carried out by the SUT's own [`SutCommander`] (the same dispatch the harness
/// uses in-process). An action without a bound gets `default_bound`.
pub async fn serve(
    listener: TcpListener,
    sut: Arc<dyn SutCommander>,
    default_bound: Duration,
) -> std::io::Result<()> {
    loop {
        let (mut s, _) = listener.accept().await?;
        let sut = sut.clone();
        tokio::spawn(async move {
            let reply =
                match tokio::time::timeout(Duration::from_secs(10), read_message(&mut s)).await {
                    Ok(Ok(req)) => answer(&req, sut.as_ref(), default_bound).await,
                    Ok(Err(e)) => (400, serde_json::json!({ "error": e })),
                    Err(_) => (
                        408,
                        serde_json::json!({ "error": "request not read within 10 s" }),
                    ),
                };
            let (status, body) = reply;
            let body = body.to_string();
            let reason = match status {
                200 => "OK",
                501 => "Not Implemented",
                _ => "Error",
            };
            let resp = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if let Err(e) = s.write_all(resp.as_bytes()).await {
                tracing::warn!(error = %e, "upper tester reply not sent");
            }
            let _ = s.shutdown().await;
        });
    }
}

/// Carry out one request's action: `(status, body)`.
async fn answer(
    req: &Message,
    sut: &dyn SutCommander,
    default_bound: Duration,
) -> (u16, serde_json::Value) {
    let mut cmd = if req.body.is_empty() {
        serde_json::json!({})
    } else {
        match serde_json::from_slice::<serde_json::Value>(&req.body) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                return (
                    400,
                    serde_json::json!({ "error": "the body is not a JSON object" }),
                )
            }
        }
    };
    if let (Some(name), Some(obj)) = (req.header(UTCMD), cmd.as_object_mut()) {
        obj.entry("cmd")
            .or_insert_with(|| serde_json::Value::String(name.to_string()));
    }
    let bound = req
        .header(TIMEOUT_HEADER)
        .and_then(|t| t.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(default_bound);
    tracing::info!(%cmd, "upper tester action");
    match sut.command(cmd, bound).await {
        Ok(o) => (
            200,
            serde_json::json!({ "rsc": o.rsc, "response": o.response }),
        ),
        Err(CommandError::Unsupported(e)) => (501, serde_json::json!({ "error": e })),
        Err(CommandError::Failed(e)) => (422, serde_json::json!({ "error": e })),
        Err(CommandError::Channel(e)) => (502, serde_json::json!({ "error": e })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn reply(text: &str) -> Message {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(read_message(&mut text.as_bytes()))
            .expect("a message")
    }

    #[rstest]
    #[case("HTTP/1.1 200 OK\r\nContent-Length: 31\r\n\r\n{\"rsc\":2001,\"response\":{\"x\":1}}", Ok((Some(2001), true)))]
    #[case("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Ok((None, false)))]
    #[case("HTTP/1.1 200 OK\r\nX-M2M-UTRSP: done\r\n\r\n", Ok((None, true)))]
    #[case(
        "HTTP/1.1 501 Not Implemented\r\nContent-Length: 16\r\n\r\n{\"error\":\"nope\"}",
        Err("unsupported: the upper tester does not offer this action: nope")
    )]
    #[case(
        "HTTP/1.1 400 Bad\r\nX-M2M-UTRSP: no such script\r\n\r\n",
        Err("failed: HTTP 400: no such script")
    )]
    #[case(
        "SSH-2.0-OpenSSH\r\n\r\n",
        Err("channel: not an HTTP reply: \"SSH-2.0-OpenSSH\"")
    )]
    fn replies_become_outcomes(
        #[case] text: &str,
        #[case] want: Result<(Option<i64>, bool), &str>,
    ) {
        let got = outcome_of(&reply(text)).map(|o| (o.rsc, o.response.is_some()));
        let got = got.map_err(|e| match e {
            CommandError::Failed(m) => format!("failed: {m}"),
            CommandError::Unsupported(m) => format!("unsupported: {m}"),
            CommandError::Channel(m) => format!("channel: {m}"),
        });
        assert_eq!(got, want.map_err(str::to_string));
    }

    #[rstest]
    #[case("http://127.0.0.1:8099/__ut__", Ok(("127.0.0.1:8099", "/__ut__")))]
    #[case("http://127.0.0.1:8099", Ok(("127.0.0.1:8099", "/")))]
    #[case("https://127.0.0.1:8099/", Err("is not http://host:port/path"))]
    #[case("http://localhost/", Err("names no port"))]
    fn urls_are_checked(#[case] url: &str, #[case] want: Result<(&str, &str), &str>) {
        match (split_url(url), want) {
            (Ok((a, p)), Ok((wa, wp))) => assert_eq!((a.as_str(), p.as_str()), (wa, wp)),
            (Err(e), Err(w)) => assert!(e.contains(w), "{e}"),
            (got, want) => panic!("{url}: {got:?} vs {want:?}"),
        }
    }

    proptest! {
        /// Whatever a peer sends, reading it ends with a message or an error, never a panic.
        #[test]
        fn reading_any_bytes_ends(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let _ = rt.block_on(read_message(&mut bytes.as_slice()));
        }
    }
}
