//! State shared by the gatekeeper handle, its connection tasks and the fault control: the trace,
//! the policy, the live connections (with the channel that tells each to close) and the armed
//! faults, plus the settings every connection reads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use super::armed::ArmedFaults;
use super::broker_defect::BrokerDefects;
use super::policy::Policy;
use crate::trace::Trace;

/// How a connection is told to close from outside its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseCmd {
    /// A fault: reset both sides.
    Cut,
    /// Gatekeeper shutdown: close both sides normally.
    Shutdown,
}

/// A live connection, as seen from outside its task.
pub(crate) struct ConnEntry {
    /// Known once its CONNECT was read.
    pub(crate) client_id: Option<String>,
    pub(crate) close: watch::Sender<Option<CloseCmd>>,
}

/// What every connection reads and nobody changes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) upstream: SocketAddr,
    pub(crate) max_packet_size: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) absorb_disconnect: bool,
    pub(crate) broker_defects: BrokerDefects,
}

pub(crate) struct Shared {
    pub(crate) trace: Trace,
    pub(crate) settings: Settings,
    policy: RwLock<Policy>,
    conns: Mutex<BTreeMap<u64, ConnEntry>>,
    faults: Mutex<ArmedFaults>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a few map operations that cannot leave the data inconsistent,
    // so a lock poisoned by a panicking holder is still safe to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(settings: Settings, policy: Policy) -> Shared {
        Shared {
            trace: Trace::new(),
            settings,
            policy: RwLock::new(policy),
            conns: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(ArmedFaults::default()),
        }
    }

    /// Live connections by connection id.
    pub(crate) fn lock_conns(&self) -> MutexGuard<'_, BTreeMap<u64, ConnEntry>> {
        lock(&self.conns)
    }

    pub(crate) fn lock_faults(&self) -> MutexGuard<'_, ArmedFaults> {
        lock(&self.faults)
    }

    pub(crate) fn with_policy<R>(&self, f: impl FnOnce(&Policy) -> R) -> R {
        let g = self.policy.read().unwrap_or_else(|p| p.into_inner());
        f(&g)
    }

    pub(crate) fn update_policy(&self, f: impl FnOnce(&mut Policy)) {
        let mut g = self.policy.write().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
    }
}
