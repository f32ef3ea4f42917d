//! The two timeouts of ESR030 4.5.4, which replace RFC 7252 4.8's transmission parameters:
//! a request expires when no acknowledgement came within ACK_TIMEOUT (default 2 s) or no
//! response within REQUEST_TIMEOUT (default 15 s).
//!
//! A real run uses the defaults; self-tests may shorten them ([`Timers::shortened`]), never
//! lengthen them, and reports state the values used ([`Timers`]' `Display`).

use std::fmt;
use std::time::Duration;

use thiserror::Error;

/// ESR030 4.5.4 default ACK_TIMEOUT.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// ESR030 4.5.4 default REQUEST_TIMEOUT.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Timer values a caller asked for that are not a shortening of the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimersError {
    #[error("{name} of {value:?} must be greater than zero")]
    Zero { name: &'static str, value: Duration },
    #[error("{name} of {value:?} exceeds the ESR030 4.5.4 default of {default:?}; timers may only be shortened")]
    Longer {
        name: &'static str,
        value: Duration,
        default: Duration,
    },
    #[error("ACK_TIMEOUT {ack:?} exceeds REQUEST_TIMEOUT {request:?}")]
    AckAfterRequest { ack: Duration, request: Duration },
}

/// ACK_TIMEOUT and REQUEST_TIMEOUT in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timers {
    ack_timeout: Duration,
    request_timeout: Duration,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            ack_timeout: ACK_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

impl Timers {
    /// Shortened timers for self-tests: each > 0 and ≤ its default, ACK ≤ REQUEST.
    pub fn shortened(
        ack_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Timers, TimersError> {
        for (name, value, default) in [
            ("ACK_TIMEOUT", ack_timeout, ACK_TIMEOUT),
            ("REQUEST_TIMEOUT", request_timeout, REQUEST_TIMEOUT),
        ] {
            if value.is_zero() {
                return Err(TimersError::Zero { name, value });
            }
            if value > default {
                return Err(TimersError::Longer {
                    name,
                    value,
                    default,
                });
            }
        }
        if ack_timeout > request_timeout {
            return Err(TimersError::AckAfterRequest {
                ack: ack_timeout,
                request: request_timeout,
            });
        }
        Ok(Timers {
            ack_timeout,
            request_timeout,
        })
    }

    /// ACK_TIMEOUT.
    pub fn ack_timeout(&self) -> Duration {
        self.ack_timeout
    }

    /// REQUEST_TIMEOUT.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// True when both are the ESR030 defaults.
    pub fn is_default(&self) -> bool {
        *self == Timers::default()
    }
}

/// `ACK_TIMEOUT=2s REQUEST_TIMEOUT=15s`.
impl fmt::Display for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ACK_TIMEOUT={:?} REQUEST_TIMEOUT={:?}",
            self.ack_timeout, self.request_timeout
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_spec_values() {
        let t = Timers::default();
        assert_eq!(t.ack_timeout(), Duration::from_secs(2));
        assert_eq!(t.request_timeout(), Duration::from_secs(15));
        assert!(t.is_default());
        assert_eq!(t.to_string(), "ACK_TIMEOUT=2s REQUEST_TIMEOUT=15s");
    }

    #[test]
    fn only_shortening_is_allowed() {
        let ms = Duration::from_millis;
        let t = Timers::shortened(ms(200), ms(1500)).unwrap();
        assert!(!t.is_default());
        assert_eq!(t.to_string(), "ACK_TIMEOUT=200ms REQUEST_TIMEOUT=1.5s");
        assert!(Timers::shortened(ACK_TIMEOUT, REQUEST_TIMEOUT)
            .unwrap()
            .is_default());
        assert!(matches!(
            Timers::shortened(ms(0), ms(10)),
            Err(TimersError::Zero {
                name: "ACK_TIMEOUT",
                ..
            })
        ));
        assert!(matches!(
            Timers::shortened(ms(100), Duration::from_secs(16)),
            Err(TimersError::Longer {
                name: "REQUEST_TIMEOUT",
                ..
            })
        ));
        assert!(matches!(
            Timers::shortened(ms(900), ms(500)),
            Err(TimersError::AckAfterRequest { .. })
        ));
    }
}
