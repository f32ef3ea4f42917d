//! oneM2M time formats (TS-0004 6.3.3): `m2m:timestamp` is ISO 8601 basic format
//! `YYYYMMDDTHHMMSS` (optionally `,ffffff` and a zone; UTC when absent), and
//! `m2m:absRelTimestamp` is either such a timestamp or a relative time in milliseconds.
//! The binding needs them to check request expiry (R1 6.4.3, R2 7.4.3: rqet) and to stamp
//! `ot` (R2 7.5.1).

use crate::error::CodecError;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};

/// Format as `YYYYMMDDTHHMMSS,ffffff` (UTC, microseconds; the fraction is omitted when zero).
/// Sub-microsecond precision is truncated.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    let base = t.format("%Y%m%dT%H%M%S").to_string();
    // A leap second is carried as nanos >= 1e9; keep the fraction within 6 digits.
    let micros = (t.timestamp_subsec_nanos() % 1_000_000_000) / 1_000;
    if micros == 0 {
        base
    } else {
        format!("{base},{micros:06}")
    }
}

/// Parse `YYYYMMDDTHHMMSS[,ffffff|.ffffff][Z|+hhmm|-hhmm|+hh:mm|-hh:mm]`.
///
/// The fraction has 1 to 9 digits; without a zone designator the time is UTC. Every
/// malformed or out-of-range input is [`CodecError::Timestamp`].
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, CodecError> {
    parse_inner(s.as_bytes()).ok_or_else(|| CodecError::Timestamp(s.to_string()))
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |acc, d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn parse_inner(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 15 || b[8] != b'T' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(digits(&b[0..4])?).ok()?,
        digits(&b[4..6])?,
        digits(&b[6..8])?,
    )?;
    let (h, mi, sec) = (digits(&b[9..11])?, digits(&b[11..13])?, digits(&b[13..15])?);
    let mut rest = &b[15..];

    let mut nanos = 0u32;
    if let [b',' | b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&tail[..n])? * 10u32.pow(9 - n as u32);
        rest = &tail[n..];
    }
    let offset_secs: i32 = match rest {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (zh, zm) = match zone {
                [a, b2, c, d] => ([*a, *b2], [*c, *d]),
                [a, b2, b':', c, d] => ([*a, *b2], [*c, *d]),
                _ => return None,
            };
            let (zh, zm) = (digits(&zh)?, digits(&zm)?);
            if zh > 23 || zm > 59 {
                return None;
            }
            let secs = i32::try_from(zh * 3600 + zm * 60).ok()?;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    if sec > 59 {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(h, mi, sec, nanos)?;
    let offset = FixedOffset::east_opt(offset_secs)?;
    let local = date.and_time(time).and_local_timezone(offset).single()?;
    Some(local.with_timezone(&Utc))
}

/// Resolve an absRelTimestamp (a timestamp string, or milliseconds relative to `now` given as
/// an integer or a decimal string) to an absolute instant.
///
/// Errors: [`CodecError::WrongType`] for a value that is neither a string nor an integer;
/// [`CodecError::Timestamp`] for an unparsable string or an out-of-range offset.
pub fn resolve_abs_rel(
    v: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, CodecError> {
    let bad = || CodecError::Timestamp(v.to_string());
    let relative = |ms: i64| {
        TimeDelta::try_milliseconds(ms)
            .and_then(|d| now.checked_add_signed(d))
            .ok_or_else(bad)
    };
    match v {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(ms) => relative(ms),
            None if n.is_u64() => Err(bad()),
            None => Err(wrong_type(v)),
        },
        serde_json::Value::String(s) => {
            let t = s.trim();
            let body = t.strip_prefix(['+', '-']).unwrap_or(t);
            if !body.is_empty() && body.bytes().all(|c| c.is_ascii_digit()) {
                relative(t.parse::<i64>().map_err(|_| bad())?)
            } else {
                parse_timestamp(s)
            }
        }
        _ => Err(wrong_type(v)),
    }
}

fn wrong_type(v: &serde_json::Value) -> CodecError {
    CodecError::WrongType {
        name: "absRelTimestamp".to_string(),
        expected: "timestamp string or integer milliseconds",
        found: crate::primitive::describe(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn formats_without_zero_fraction() {
        assert_eq!(
            format_timestamp(utc(2015, 9, 10, 6, 20, 32)),
            "20150910T062032"
        );
    }

    #[test]
    fn formats_microseconds() {
        let t = utc(2015, 9, 10, 6, 20, 32) + TimeDelta::microseconds(1500);
        assert_eq!(format_timestamp(t), "20150910T062032,001500");
        // Nanoseconds below one microsecond are truncated away.
        let t = utc(2015, 9, 10, 6, 20, 32) + TimeDelta::nanoseconds(999);
        assert_eq!(format_timestamp(t), "20150910T062032");
    }

    #[test]
    fn parses_basic_and_fraction_forms() {
        let base = utc(2015, 9, 10, 6, 20, 32);
        assert_eq!(parse_timestamp("20150910T062032").unwrap(), base);
        assert_eq!(parse_timestamp("20150910T062032Z").unwrap(), base);
        assert_eq!(
            parse_timestamp("20150910T062032,5").unwrap(),
            base + TimeDelta::milliseconds(500)
        );
        assert_eq!(
            parse_timestamp("20150910T062032.000001").unwrap(),
            base + TimeDelta::microseconds(1)
        );
        assert_eq!(
            parse_timestamp("20150910T062032,123456789Z").unwrap(),
            base + TimeDelta::nanoseconds(123_456_789)
        );
    }

    #[test]
    fn parses_zone_offsets() {
        let base = utc(2015, 9, 10, 6, 20, 32);
        assert_eq!(parse_timestamp("20150910T082032+0200").unwrap(), base);
        assert_eq!(parse_timestamp("20150910T082032+02:00").unwrap(), base);
        assert_eq!(parse_timestamp("20150910T013032-04:50").unwrap(), base);
        assert_eq!(
            parse_timestamp("20150910T062032,25-0000").unwrap(),
            base + TimeDelta::milliseconds(250)
        );
    }

    #[test]
    fn format_parse_round_trip() {
        let t = utc(2024, 2, 29, 23, 59, 59) + TimeDelta::microseconds(123_456);
        assert_eq!(parse_timestamp(&format_timestamp(t)).unwrap(), t);
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2015",
            "20150910062032",
            "20150910 062032",
            "2015-09-10T06:20:32",
            "20151310T062032",
            "20150230T062032",
            "20150910T246032",
            "20150910T066032",
            "20150910T062060",
            "20150910T062032,",
            "20150910T062032,1234567890",
            "20150910T062032,12a",
            "20150910T062032+2400",
            "20150910T062032+0260",
            "20150910T062032+02",
            "20150910T062032+02:0",
            "20150910T062032ZZ",
            "20150910T062032 ",
            "2015091éT062032",
            "+0150910T062032",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                Err(CodecError::Timestamp(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn resolves_absolute_and_relative() {
        let now = utc(2020, 1, 1, 0, 0, 0);
        assert_eq!(
            resolve_abs_rel(&json!("20150910T062032"), now).unwrap(),
            utc(2015, 9, 10, 6, 20, 32)
        );
        assert_eq!(
            resolve_abs_rel(&json!(1500), now).unwrap(),
            now + TimeDelta::milliseconds(1500)
        );
        assert_eq!(
            resolve_abs_rel(&json!(-60000), now).unwrap(),
            utc(2019, 12, 31, 23, 59, 0)
        );
        assert_eq!(
            resolve_abs_rel(&json!("2000"), now).unwrap(),
            now + TimeDelta::seconds(2)
        );
        assert_eq!(
            resolve_abs_rel(&json!("-2000"), now).unwrap(),
            now - TimeDelta::seconds(2)
        );
        assert_eq!(resolve_abs_rel(&json!(0), now).unwrap(), now);
    }

    #[test]
    fn resolve_errors_are_typed() {
        let now = utc(2020, 1, 1, 0, 0, 0);
        assert!(matches!(
            resolve_abs_rel(&json!("soon"), now),
            Err(CodecError::Timestamp(_))
        ));
        assert!(matches!(
            resolve_abs_rel(&json!(i64::MAX), now),
            Err(CodecError::Timestamp(_))
        ));
        assert!(matches!(
            resolve_abs_rel(&json!(u64::MAX), now),
            Err(CodecError::Timestamp(_))
        ));
        assert!(matches!(
            resolve_abs_rel(&json!("99999999999999999999999"), now),
            Err(CodecError::Timestamp(_))
        ));
        for v in [
            json!(1.5),
            json!(null),
            json!(true),
            json!([1]),
            json!({"a": 1}),
        ] {
            assert!(
                matches!(resolve_abs_rel(&v, now), Err(CodecError::WrongType { .. })),
                "{v}"
            );
        }
    }
}
