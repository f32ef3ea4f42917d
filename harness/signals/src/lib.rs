//! Termination by signal, the same for every long-running m2mspec command (`run`, `load`,
//! `serve-*`): SIGINT (Ctrl-C), SIGTERM (what `timeout`, CI cancellation and Kubernetes send)
//! and SIGHUP (a closed terminal) all ask the command to stop cleanly — finish or abandon the
//! current work, stop what it started, write its report — and [`Termination::exit_code`]
//! says which signal it was (128 + its number). A second signal means "now": the process
//! groups registered with [`register_group`] (the SUT processes a run started) are killed and
//! the process exits at once with that code, so nothing is left behind either way.

use std::sync::{Mutex, OnceLock};
use tokio::sync::watch;

/// The signal that ended (or is ending) the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    /// Its name: `SIGINT`, `SIGTERM` or `SIGHUP`.
    pub name: &'static str,
    /// Its number.
    pub number: i32,
}

impl Termination {
    /// The conventional exit status of a command ended by this signal: 128 + its number.
    pub fn exit_code(self) -> u8 {
        (128 + self.number).clamp(0, 255) as u8
    }

    /// How a report says it: "SIGTERM".
    pub fn describe(self) -> String {
        match self.name {
            "SIGINT" => "SIGINT (Ctrl-C)".into(),
            other => other.into(),
        }
    }
}

static WATCH: OnceLock<watch::Receiver<Option<Termination>>> = OnceLock::new();
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Start listening (once per process; later calls return the same watch). Must be called
/// inside a tokio runtime. The watch turns `Some` on the first signal.
pub fn watch() -> watch::Receiver<Option<Termination>> {
    WATCH
        .get_or_init(|| {
            let (tx, rx) = watch::channel(None);
            tokio::spawn(listen(tx));
            rx
        })
        .clone()
}

/// The termination requested so far, if any (without waiting).
pub fn requested() -> Option<Termination> {
    WATCH.get().and_then(|w| *w.borrow())
}

/// Wait until a termination is requested.
pub async fn requested_wait(rx: &mut watch::Receiver<Option<Termination>>) -> Termination {
    loop {
        if let Some(t) = *rx.borrow_and_update() {
            return t;
        }
        if rx.changed().await.is_err() {
            // The listener is gone (no signal handlers could be installed): never.
            std::future::pending::<()>().await;
        }
    }
}

/// A process group the command started (a SUT): killed if a second signal ends the command
/// at once.
pub fn register_group(pgid: i32) {
    if pgid > 1 {
        if let Ok(mut g) = GROUPS.lock() {
            g.push(pgid);
        }
    }
}

/// The group has been stopped (or reaped): no longer the command's to kill.
pub fn unregister_group(pgid: i32) {
    if let Ok(mut g) = GROUPS.lock() {
        g.retain(|p| *p != pgid);
    }
}

fn kill_groups() {
    let groups = GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    for pgid in groups {
        // SAFETY: kill(2) with a negative pid signals a process group this command created;
        // no memory is touched.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

async fn listen(tx: watch::Sender<Option<Termination>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), "SIGINT", libc::SIGINT),
        (SignalKind::terminate(), "SIGTERM", libc::SIGTERM),
        (SignalKind::hangup(), "SIGHUP", libc::SIGHUP),
    ];
    let mut streams = Vec::new();
    for (kind, name, number) in kinds {
        match signal(kind) {
            Ok(s) => streams.push((s, name, number)),
            Err(e) => tracing::warn!(signal = name, error = %e, "cannot listen for the signal"),
        }
    }
    if streams.is_empty() {
        return;
    }
    let mut first: Option<Termination> = None;
    loop {
        let (name, number) = {
            let waits = streams.iter_mut().map(|(s, name, number)| {
                let (name, number) = (*name, *number);
                Box::pin(async move {
                    s.recv().await;
                    (name, number)
                })
            });
            select_first(waits).await
        };
        let t = Termination { name, number };
        match first {
            None => {
                first = Some(t);
                eprintln!(
                    "m2mspec: {} received: stopping cleanly (the report is written); send it again to stop at once",
                    t.describe()
                );
                let _ = tx.send(Some(t));
            }
            Some(f) => {
                eprintln!(
                    "m2mspec: {} received again: stopping at once (the SUT processes are killed)",
                    t.describe()
                );
                kill_groups();
                std::process::exit(i32::from(f.exit_code()));
            }
        }
    }
}

/// The output of whichever future finishes first.
async fn select_first<F, T>(futs: impl Iterator<Item = std::pin::Pin<Box<F>>>) -> T
where
    F: std::future::Future<Output = T>,
{
    let mut futs: Vec<_> = futs.collect();
    std::future::poll_fn(move |cx| {
        for f in futs.iter_mut() {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                return std::task::Poll::Ready(v);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        let t = Termination {
            name: "SIGTERM",
            number: libc::SIGTERM,
        };
        assert_eq!(t.exit_code(), 143);
        let i = Termination {
            name: "SIGINT",
            number: libc::SIGINT,
        };
        assert_eq!(i.exit_code(), 130);
        assert_eq!(i.describe(), "SIGINT (Ctrl-C)");
    }

    #[test]
    fn groups_are_registered_and_forgotten() {
        register_group(424_242);
        assert!(GROUPS.lock().unwrap().contains(&424_242));
        unregister_group(424_242);
        assert!(!GROUPS.lock().unwrap().contains(&424_242));
        // pid 0 / 1 would signal ourselves or init: never registered.
        register_group(1);
        assert!(!GROUPS.lock().unwrap().contains(&1));
    }
}

#[cfg(test)]
mod signal_tests {
    use super::*;

    // nextest runs every test in a process of its own, so raising SIGTERM here reaches only
    // this test's listener.
    #[tokio::test]
    async fn a_first_sigterm_is_a_clean_stop_request() {
        let mut rx = watch();
        assert_eq!(requested(), None);
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // SAFETY: raise(3) sends a signal to this process, whose handler the listener holds.
        unsafe {
            libc::raise(libc::SIGTERM);
        }
        let t = tokio::time::timeout(std::time::Duration::from_secs(5), requested_wait(&mut rx))
            .await
            .expect("the signal is seen");
        assert_eq!(t.name, "SIGTERM");
        assert_eq!(requested(), Some(t));
    }
}
