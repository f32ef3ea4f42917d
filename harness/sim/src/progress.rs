//! Live progress on the terminal (indicatif): phase, clients connected, rate, p50/p99 of the
//! last second, errors. On a terminal only; without one, phase changes are logged as lines.

use crate::drive::Progress;
use crate::metrics::Metrics;
use crate::slo::fmt_us;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use m2mspec_session::lock;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

pub struct Live {
    bar: Option<ProgressBar>,
    plain: bool,
    phase: String,
    total: u64,
}

impl Live {
    /// `enabled`: show progress at all; a bar when stderr is a terminal, lines otherwise.
    pub fn new(enabled: bool, total: u64) -> Live {
        let tty = std::io::stderr().is_terminal();
        let bar = (enabled && tty).then(|| {
            let b =
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix:>10} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(250));
            b
        });
        Live {
            bar,
            plain: enabled && !tty,
            phase: String::new(),
            total,
        }
    }

    pub fn phase(&mut self, name: &str) {
        self.phase = name.to_string();
        if let Some(b) = &self.bar {
            b.set_prefix(name.to_string());
        } else if self.plain {
            eprintln!("m2mspec load: {name}");
        }
    }

    /// Refresh the line from the live counters (`rate`: the offered rate of the step).
    pub fn update(&mut self, p: &Progress, metrics: &Mutex<Metrics>, rate: Option<f64>) {
        let Some(b) = &self.bar else {
            return;
        };
        let m = lock(metrics);
        let last = m.timeline.last().cloned().unwrap_or_default();
        let errors = m.counts.errors() + m.counts.connect_failed + m.counts.connect_refused;
        drop(m);
        let connected = p.connected.load(Ordering::Relaxed);
        b.set_position(connected);
        b.set_message(format!(
            "connected {connected}/{} registered {} | {}{}/s done | p50 {} p99 {} | errors {errors}",
            self.total,
            p.registered.load(Ordering::Relaxed),
            rate.map(|r| format!("offered {r:.0}/s, ")).unwrap_or_default(),
            last.completed,
            fmt_us(last.p50_us),
            fmt_us(last.p99_us),
        ));
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
