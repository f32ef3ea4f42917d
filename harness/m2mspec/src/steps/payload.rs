//! Payloads a step builds without spelling them out: bytes given as hex, and generated hostile
//! payloads (oversized, deeply nested, seeded random bytes) for the robustness cases — a SUT
//! must go on answering whatever arrives on its topics (TS-0010 R2 7.4.3, 7.5.4; ESR030 4.2).
//! The bytes sent are what the trace records, and the step logs how they were made (and their
//! first bytes), so a failing case shows them.

use serde::Deserialize;

/// Largest payload a step may generate: the embedded broker and the reference clients take
/// PUBLISH packets up to 1 MiB.
pub const MAX_GENERATED: usize = 1 << 20;

/// A generated payload: `head`, the body, `tail`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Generate {
    /// `unit` repeated `count` times (an oversized payload).
    Repeat {
        unit: String,
        count: usize,
        #[serde(default)]
        head: String,
        #[serde(default)]
        tail: String,
    },
    /// `open` `depth` times, then `close` `depth` times (deep nesting: `[[[…]]]`, `<a><a>…`).
    Nest {
        depth: usize,
        open: String,
        close: String,
        #[serde(default)]
        head: String,
        #[serde(default)]
        tail: String,
    },
    /// `len` random bytes drawn from the run's seed (`--seed`) and the case.
    Random {
        len: usize,
        #[serde(default)]
        head: String,
        #[serde(default)]
        tail: String,
    },
}

impl Generate {
    /// How many bytes it makes.
    pub fn len(&self) -> usize {
        match self {
            Generate::Repeat {
                unit,
                count,
                head,
                tail,
            } => head.len() + unit.len().saturating_mul(*count) + tail.len(),
            Generate::Nest {
                depth,
                open,
                close,
                head,
                tail,
            } => head.len() + (open.len() + close.len()).saturating_mul(*depth) + tail.len(),
            Generate::Random { len, head, tail } => head.len() + len + tail.len(),
        }
    }

    /// A step file's mistake, found when the suite loads.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.len();
        if n > MAX_GENERATED {
            return Err(format!(
                "generate: {n} bytes is more than the {MAX_GENERATED} a PUBLISH may carry here"
            ));
        }
        Ok(())
    }

    /// The bytes, from `seed` where random. `head` and `tail` are given already expanded.
    pub fn bytes(&self, head: &str, tail: &str, seed: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(head.as_bytes());
        match self {
            Generate::Repeat { unit, count, .. } => {
                for _ in 0..*count {
                    out.extend_from_slice(unit.as_bytes());
                }
            }
            Generate::Nest {
                depth, open, close, ..
            } => {
                for _ in 0..*depth {
                    out.extend_from_slice(open.as_bytes());
                }
                for _ in 0..*depth {
                    out.extend_from_slice(close.as_bytes());
                }
            }
            Generate::Random { len, .. } => {
                out.extend(crate::seed::Rng::new(seed).bytes(*len));
            }
        }
        out.extend_from_slice(tail.as_bytes());
        out
    }

    /// Its `head` and `tail` templates.
    pub fn ends(&self) -> (&str, &str) {
        match self {
            Generate::Repeat { head, tail, .. }
            | Generate::Nest { head, tail, .. }
            | Generate::Random { head, tail, .. } => (head, tail),
        }
    }

    /// One line for the case log.
    pub fn describe(&self) -> String {
        match self {
            Generate::Repeat { unit, count, .. } => format!("{unit:?} × {count}"),
            Generate::Nest {
                depth, open, close, ..
            } => format!("{open:?} × {depth} then {close:?} × {depth}"),
            Generate::Random { len, .. } => format!("{len} random bytes"),
        }
    }
}

/// Bytes from hex digits (whitespace allowed between them).
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("payload_hex: odd number of hex digits in {s:?}"));
    }
    digits
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    format!(
                        "payload_hex: {:?} is not a hex byte",
                        String::from_utf8_lossy(p)
                    )
                })
        })
        .collect()
}

/// The first bytes of a payload for the case log: text when it is UTF-8, else hex.
pub fn preview(p: &[u8]) -> String {
    const SHOWN: usize = 96;
    let cut = &p[..p.len().min(SHOWN)];
    let more = if p.len() > SHOWN { "…" } else { "" };
    match std::str::from_utf8(p) {
        Ok(_) => format!("{:?}{more}", String::from_utf8_lossy(cut)),
        Err(_) => format!(
            "hex {}{more}",
            cut.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

/// Shown bytes of a hostile input in evidence.
const EVIDENCE_BYTES: usize = 512;

/// One evidence line for a hostile input: who sent it where, its size, and its bytes (the
/// first 512; as hex unless they are UTF-8 text).
pub fn hostile_line(alias: &str, topic: &str, p: &[u8]) -> String {
    let cut = &p[..p.len().min(EVIDENCE_BYTES)];
    let shown = match std::str::from_utf8(cut) {
        Ok(t) => format!("text {t:?}"),
        Err(e) if e.error_len().is_none() && p.len() > EVIDENCE_BYTES => {
            // Valid UTF-8 cut inside a character: still text.
            format!("text {:?}", String::from_utf8_lossy(cut))
        }
        Err(_) => format!(
            "hex {}",
            cut.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    };
    format!(
        "hostile input: {alias} → {topic}: {} bytes{}: {shown}",
        p.len(),
        if p.len() > EVIDENCE_BYTES {
            format!(", first {EVIDENCE_BYTES}")
        } else {
            String::new()
        }
    )
}

impl super::case_run::CaseRun<'_> {
    /// The hostile inputs this case sent, as one evidence entry (none when it sent none).
    pub(crate) fn hostile_evidence(&self) -> Option<m2mspec_reports::Evidence> {
        (!self.hostile.is_empty()).then(|| m2mspec_reports::Evidence {
            message: format!(
                "the hostile input this case sent before its liveness probe ({} message(s))",
                self.hostile.len()
            ),
            packets: self.hostile.clone(),
            ..m2mspec_reports::Evidence::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nest_and_repeat_make_what_they_say() {
        let g = Generate::Nest {
            depth: 3,
            open: "[".into(),
            close: "]".into(),
            head: String::new(),
            tail: String::new(),
        };
        assert_eq!(g.bytes("h", "t", 0), b"h[[[]]]t");
        assert_eq!(g.len(), 6);
        let r = Generate::Repeat {
            unit: "ab".into(),
            count: 2,
            head: String::new(),
            tail: String::new(),
        };
        assert_eq!(r.bytes("", "", 0), b"abab");
    }

    #[test]
    fn random_follows_the_seed_and_size_is_bounded() {
        let g = Generate::Random {
            len: 16,
            head: String::new(),
            tail: String::new(),
        };
        assert_eq!(g.bytes("", "", 5), g.bytes("", "", 5));
        assert_ne!(g.bytes("", "", 5), g.bytes("", "", 6));
        let big = Generate::Repeat {
            unit: "x".into(),
            count: MAX_GENERATED + 1,
            head: String::new(),
            tail: String::new(),
        };
        assert!(big.validate().is_err());
    }

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(from_hex("c3 28 ff").unwrap(), vec![0xc3, 0x28, 0xff]);
        assert!(from_hex("abc").unwrap_err().contains("odd"));
        assert!(from_hex("zz").unwrap_err().contains("not a hex byte"));
        assert_eq!(preview(&[0xc3, 0x28]), "hex c328");
        assert_eq!(preview(b"ok"), "\"ok\"");
    }

    #[test]
    fn hostile_lines_show_the_bytes() {
        let l = hostile_line("bad", "/t", &[0x7b, 0xc3, 0x28]);
        assert_eq!(l, "hostile input: bad → /t: 3 bytes: hex 7bc328");
        let big = vec![b'A'; 600];
        let l = hostile_line("bad", "/t", &big);
        assert!(l.contains("600 bytes, first 512: text \"AAAA"), "{l}");
    }
}
