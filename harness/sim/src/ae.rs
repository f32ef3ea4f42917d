//! One simulated AE: its connection (as the connect ramp lets it), registration, workload and
//! teardown, as a task of its own driven by the run's [`Phase`]. Binding rules it follows:
//! client id `A:<AE-ID>` (R2 7.3.3), Clean Session 0, no Will, QoS 1 for every PUBLISH and
//! subscription (R2 7.4.1.1), subscriptions `/oneM2M/resp/<ae>/#` and `/oneM2M/req/+/<ae>/#`
//! after every connect (R2 7.4.5, 7.5.4); reg-req registration on
//! `/oneM2M/reg_req/<Credential-ID>/<cse>` with a Credential-ID client id (R2 7.4.4, 7.3.3
//! "some other appropriate unique ID"); teardown DELETE `<AE>` then the leave sequence (R2 7.3.3).

use crate::client::{Connected, Dialer};
use crate::correlate::{rule, wrong_serialization, Correlator, Matched, Purpose};
use crate::drive::{Early, Phase, Progress};
use crate::metrics::{record, Metrics};
use crate::population::{AeIdentity, PopulationSpec};
use crate::requests::{assigned_ae_id, RequestBuilder};
use crate::scenario::RegistrationMode;
use crate::scheduler::Mix;
use m2mspec_onem2m::{rsc, ResponsePrimitive};
use m2mspec_session::{lock, Received, SessionError, SessionPlan, Subscription};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

/// What all AEs of the process share.
pub struct Shared {
    pub spec: PopulationSpec,
    pub dialer: Dialer,
    pub metrics: Arc<Mutex<Metrics>>,
    pub progress: Progress,
    pub phase: watch::Receiver<Phase>,
    pub registering: Semaphore,
    pub timeout: Duration,
    pub mix: Mix,
    pub sample_every: u64,
    pub samples: AtomicU64,
    pub max_outstanding: usize,
    pub teardown: bool,
    /// AEs in this process (for the open-loop spacing).
    pub aes_here: u64,
}

impl Shared {
    fn metrics(&self) -> std::sync::MutexGuard<'_, Metrics> {
        lock(&self.metrics)
    }

    fn sample(&self) -> bool {
        self.samples
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.sample_every)
    }
}

/// The state of one AE.
struct Ae {
    sh: Arc<Shared>,
    ident: AeIdentity,
    /// The AE-ID in use (assigned by the CSE in reg-req mode).
    ae_id: String,
    position: u64,
    conn: Connected,
    corr: Correlator,
    builder: RequestBuilder,
    req_topic: String,
    resp_topic: String,
    /// Workload requests sent so far, all steps together: names the resources the AE creates
    /// (a step's request numbers start again at 0, names must not).
    sent: u64,
}

/// Run AE `n` (number `position` among this process's AEs) through every phase.
pub async fn run(sh: Arc<Shared>, n: u64, position: u64) {
    let mut phase = sh.phase.clone();
    let prepared = prepare(&sh, n, position, &mut phase).await;
    crate::drive::live(prepared, &mut phase, &sh.progress, &sh.metrics).await;
}

/// Connect, subscribe and register: the AE ready for the workload.
async fn prepare(
    sh: &Arc<Shared>,
    n: u64,
    position: u64,
    phase: &mut watch::Receiver<Phase>,
) -> Result<Ae, Early> {
    let ident = sh.spec.identity(n);
    let spec = &sh.spec;
    let (client_id, filters) = match spec.mode {
        RegistrationMode::CreateAe => (spec.client_id(&ident.ae_id), spec.filters(&ident.ae_id)),
        RegistrationMode::RegReq => (
            ident.credential.replace('/', ":"),
            vec![spec.registration_filter(&ident.credential)],
        ),
    };
    let conn = connect(sh, client_id, filters).await?;
    sh.progress.connected.fetch_add(1, Ordering::Relaxed);
    if !crate::drive::may_register(phase).await {
        conn.session.stop().await;
        return Err(Early::Stopped);
    }
    let permit = sh.registering.acquire().await.ok();
    let ae = register(sh, ident, position, conn).await;
    drop(permit);
    let ae = ae.ok_or(Early::RegistrationFailed)?;
    sh.progress.registered.fetch_add(1, Ordering::Relaxed);
    Ok(ae)
}

async fn connect(sh: &Shared, client_id: String, filters: Vec<String>) -> Result<Connected, Early> {
    let mut plan = SessionPlan::new(client_id);
    plan.keep_alive_secs = sh.spec.keep_alive_secs;
    plan.subscriptions = Subscription::all(filters, 1);
    let who = plan.client_id.clone();
    sh.dialer
        .connect(plan, &who)
        .await
        .ok_or(Early::ConnectFailed)
}

/// Registration: CREATE <AE> on req, or on reg_req followed by a new session as
/// `A:<assigned AE-ID>`; then the container the workload writes to.
async fn register(
    sh: &Arc<Shared>,
    ident: AeIdentity,
    position: u64,
    conn: Connected,
) -> Option<Ae> {
    let spec = &sh.spec;
    let started = Instant::now();
    let (ae_id, conn) = match spec.mode {
        RegistrationMode::CreateAe => (ident.ae_id.clone(), conn),
        RegistrationMode::RegReq => {
            let mut first = Ae::new(sh, ident.clone(), ident.credential.clone(), position, conn);
            first.req_topic = spec.reg_req_topic(&ident.credential);
            first.resp_topic = spec.reg_resp_topic(&ident.credential);
            let rn = ident.rn.clone();
            let rsp = first
                .call(Purpose::Registration, |b, rqi| b.register(rqi, &rn, "C"))
                .await;
            let assigned = match rsp {
                Some(r) if r.rsc == Some(rsc::CREATED) => assigned_ae_id(r.pc.as_ref()),
                _ => None,
            };
            first.conn.session.stop().await;
            let ae_id = assigned?;
            let conn = connect(sh, spec.client_id(&ae_id), spec.filters(&ae_id))
                .await
                .ok()?;
            (ae_id, conn)
        }
    };
    let mut ae = Ae::new(sh, ident, ae_id, position, conn);
    if spec.mode == RegistrationMode::CreateAe {
        let rn = ae.ident.rn.clone();
        let id = ae.ae_id.clone();
        let ok = match ae
            .call(Purpose::Registration, |b, rqi| b.register(rqi, &rn, &id))
            .await
        {
            // Already registered by an earlier run against the same CSE: usable as is.
            Some(r) => matches!(
                r.rsc,
                Some(rsc::CREATED | rsc::CONFLICT | rsc::ORIGINATOR_HAS_ALREADY_REGISTERED)
            ),
            None => false,
        };
        if !ok {
            ae.conn.session.stop().await;
            return None;
        }
    }
    record(&mut sh.metrics().registration, started.elapsed());
    let setup = ae.call(Purpose::Setup, |b, rqi| b.setup(rqi)).await;
    if !setup.is_some_and(|r| matches!(r.rsc, Some(rsc::CREATED | rsc::CONFLICT))) {
        ae.conn.session.stop().await;
        return None;
    }
    Some(ae)
}

impl Ae {
    fn new(
        sh: &Arc<Shared>,
        ident: AeIdentity,
        ae_id: String,
        position: u64,
        conn: Connected,
    ) -> Ae {
        let spec = &sh.spec;
        let builder = RequestBuilder::new(spec.serialization, &spec.csebase, &ident.rn, &ae_id);
        let (req_topic, resp_topic) = if ae_id == ident.ae_id {
            (ident.req_topic.clone(), ident.resp_topic.clone())
        } else {
            spec.topics(&ae_id)
        };
        Ae {
            sh: sh.clone(),
            corr: Correlator::new(&ae_id, spec.serialization),
            ident,
            ae_id,
            position,
            conn,
            builder,
            req_topic,
            resp_topic,
            sent: 0,
        }
    }

    /// One request and its response (registration, setup, teardown): bounded by the timeout.
    async fn call(
        &mut self,
        purpose: Purpose,
        build: impl FnOnce(&RequestBuilder, String) -> Result<Vec<u8>, m2mspec_onem2m::CodecError>,
    ) -> Option<ResponsePrimitive> {
        let rqi = self.corr.issue(purpose, Instant::now());
        let payload = build(&self.builder, rqi).ok()?;
        if self.publish(payload).await.is_err() {
            return None;
        }
        let deadline = Instant::now() + self.sh.timeout;
        loop {
            let msg = tokio::select! {
                m = self.conn.inbound.recv() => m?,
                _ = tokio::time::sleep_until(deadline) => {
                    let lost = self.corr.drain();
                    self.count_lost(&lost);
                    return None;
                }
            };
            if let Some((p, rsp)) = self.on_message(&msg.topic, &msg.payload) {
                if p == purpose {
                    return Some(rsp);
                }
            }
        }
    }

    async fn publish(&self, payload: Vec<u8>) -> Result<(), SessionError> {
        self.conn
            .publisher
            .publish(self.req_topic.clone(), 1, false, payload)
            .await
    }

    /// Account for one received PUBLISH; a matched response is returned with its purpose.
    fn on_message(&mut self, topic: &str, payload: &[u8]) -> Option<(Purpose, ResponsePrimitive)> {
        if !topic.starts_with("/oneM2M/resp/") && !topic.starts_with("/oneM2M/reg_resp/") {
            // A request to the AE (nothing in the workload provokes one): not a response.
            return None;
        }
        let check = self.sh.sample();
        let now = Instant::now();
        let m = self
            .corr
            .on_response(topic, &self.resp_topic, payload, now, check);
        let mut metrics = self.sh.metrics();
        match m {
            Matched::Response {
                purpose,
                latency,
                rsc,
                response,
                violations,
                checked,
            } => {
                if checked {
                    metrics.counts.checked += 1;
                }
                for v in violations {
                    *metrics.counts.violations.entry(v.to_string()).or_default() += 1;
                    metrics.error();
                }
                if let Purpose::Work(op) = purpose {
                    metrics.round_trip(op, latency, rsc);
                    self.sh.progress.outstanding.fetch_sub(1, Ordering::Relaxed);
                }
                Some((purpose, *response))
            }
            Matched::Late => {
                metrics.counts.late += 1;
                None
            }
            Matched::Duplicate => {
                metrics.counts.duplicates += 1;
                metrics.error();
                None
            }
            Matched::Mismatched(why) => {
                metrics.counts.mismatched += 1;
                metrics.error();
                if why == "undecodable payload"
                    && wrong_serialization(payload, self.sh.spec.serialization)
                {
                    *metrics
                        .counts
                        .violations
                        .entry(rule::SERIALIZATION.to_string())
                        .or_default() += 1;
                }
                None
            }
        }
    }

    /// Requests older than the timeout are lost.
    fn expire(&mut self, now: Instant) {
        let lost = self.corr.expire(now, self.sh.timeout);
        self.count_lost(&lost);
    }

    fn count_lost(&self, lost: &[(String, crate::correlate::Pending)]) {
        if lost.is_empty() {
            return;
        }
        let work = lost
            .iter()
            .filter(|(_, p)| matches!(p.purpose, Purpose::Work(_)))
            .count() as u64;
        self.sh
            .progress
            .outstanding
            .fetch_sub(work, Ordering::Relaxed);
        let mut m = self.sh.metrics();
        m.counts.lost += lost.len() as u64;
        for (rqi, p) in lost {
            m.counts.name_lost(rqi, p.purpose);
        }
        for _ in 0..lost.len() {
            m.error();
        }
    }

    /// Send workload request `k` meant for `intended` (or count it as backlog).
    async fn send(&mut self, k: u64, intended: Instant) {
        if self.corr.outstanding() >= self.sh.max_outstanding {
            let mut m = self.sh.metrics();
            m.counts.backlog += 1;
            m.error();
            return;
        }
        let op = self.sh.mix.pick(self.ident.index, k);
        let rqi = self.corr.issue(Purpose::Work(op), intended);
        let Ok(payload) = self.builder.work(op, self.sent, rqi) else {
            return;
        };
        self.sent += 1;
        self.sh.progress.outstanding.fetch_add(1, Ordering::Relaxed);
        self.sh.metrics().sent();
        if self.publish(payload).await.is_err() {
            tracing::debug!(ae = %self.ae_id, "publish failed: the session has ended");
        }
    }

    /// The end: pending requests are lost; teardown (DELETE <AE>, leave) or DISCONNECT.
    async fn end(mut self) {
        let lost = self.corr.drain();
        self.count_lost(&lost);
        if self.sh.teardown {
            let ok = self
                .call(Purpose::Teardown, |b, rqi| b.deregister(rqi))
                .await
                .is_some_and(|r| r.rsc == Some(rsc::DELETED));
            if !ok {
                self.sh.metrics().counts.teardown_failed += 1;
            }
            let Connected {
                session, inbound, ..
            } = self.conn;
            if session.leave().await.is_err() {
                self.sh.metrics().counts.teardown_failed += 1;
            }
            drop(inbound);
        } else {
            let Connected {
                session, inbound, ..
            } = self.conn;
            session.stop().await;
            drop(inbound);
        }
    }
}

impl crate::drive::Workload for Ae {
    fn share(&self) -> (u64, u64) {
        (self.sh.aes_here, self.position)
    }

    fn busy(&self) -> bool {
        self.corr.outstanding() > 0
    }

    async fn due(&mut self, k: u64, intended: Instant) {
        self.send(k, intended).await;
    }

    async fn receive(&mut self) -> Option<Received> {
        self.conn.inbound.recv().await
    }

    async fn deliver(&mut self, m: &Received) -> bool {
        matches!(
            self.on_message(&m.topic, &m.payload),
            Some((Purpose::Work(_), _))
        )
    }

    async fn expire_due(&mut self, now: Instant) -> bool {
        let before = self.corr.outstanding();
        self.expire(now);
        self.corr.outstanding() < before
    }

    async fn finish(self) {
        self.end().await;
    }
}
