//! The registry of web sessions: who exists, what each may do, and what the finished ones left
//! behind for `/metrics`.
//!
//! A slot is taken when a session is created (`POST /v1/sessions`) — before its offer, so a flood
//! of creations cannot overbook the machine — and freed exactly once, by a [`SlotGuard`] dropped
//! when the session's driver ends for any reason (a panic included). A created session that never
//! sends its offer is freed after `offer_timeout`.
//!
//! The registry also owns the runtime that live sessions' short stages run on: a few worker
//! threads at the priority `[serve] priority` asks for (see [`crate::runtime::priority`]), so
//! that a session's audio path is not preempted mid-frame by the renderers and encoders.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::token::{TokenError, TokenSigner, new_session_id};
use crate::config::{PipelineConfig, ServeConfig};
use crate::runtime::priority::{Granted, PriorityRequest, PriorityRuntime};
use crate::runtime::{Metrics, Shutdown};

/// What a session is doing.
enum SlotState {
    /// Created; waiting for its offer.
    Created,
    /// Its offer is being answered and its pipeline built; `ended`: a DELETE (or server
    /// shutdown) came meanwhile, so it is stopped the moment it goes live.
    Starting { ended: bool },
    /// Running: the handles to watch and stop it.
    Live(LiveHandles),
}

/// How to reach a running session.
#[derive(Clone)]
pub struct LiveHandles {
    pub metrics: Arc<Metrics>,
    /// Stops the session's driver (DELETE, server shutdown).
    pub stop: Arc<Notify>,
    pub pipeline_shutdown: Shutdown,
}

struct Slot {
    state: SlotState,
    created_at: Instant,
    /// The timer that frees the slot if no offer comes; cancelled once one does.
    expiry: Option<tokio::task::AbortHandle>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(expiry) = self.expiry.take() {
            expiry.abort();
        }
    }
}

/// Totals of finished sessions, merged into what `/metrics` reports.
#[derive(Default)]
pub struct Finished {
    /// Per stage: latency histogram (µs) and budget violations.
    pub stages: HashMap<&'static str, (Histogram<u64>, u64)>,
    pub counters: HashMap<&'static str, u64>,
}

/// Server-wide counters (monotonic).
#[derive(Default)]
pub struct Totals {
    pub created: AtomicU64,
    pub started: AtomicU64,
    pub ended: AtomicU64,
    pub failed: AtomicU64,
    pub rejected_full: AtomicU64,
    pub rejected_auth: AtomicU64,
    pub rejected_origin: AtomicU64,
    pub bad_offers: AtomicU64,
    pub panicked: AtomicU64,
}

struct Inner {
    pipeline: Arc<PipelineConfig>,
    signer: TokenSigner,
    slots: Mutex<HashMap<String, Slot>>,
    finished: Mutex<Finished>,
    totals: Totals,
    /// Wakes `end_all` when the last slot is freed.
    emptied: Notify,
    /// Where live sessions' task stages run (`None`: the server's own runtime).
    timekeeper: Option<PriorityRuntime>,
}

impl Inner {
    /// Removes a slot (under the caller's lock) and wakes `end_all` when it was the last.
    fn free(&self, slots: &mut HashMap<String, Slot>, id: &str) -> Option<Slot> {
        let slot = slots.remove(id);
        if slots.is_empty() {
            self.emptied.notify_waiters();
        }
        slot
    }
}

/// The shared registry (cheap to clone).
#[derive(Clone)]
pub struct Sessions(Arc<Inner>);

/// Why a session could not be created.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    Full { retry_after_s: u64 },
}

/// Why a call for a session was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AccessError {
    Token(TokenError),
    /// Unknown (or already ended) session.
    NotFound,
    /// The session already has its peer.
    AlreadyStarted,
}

impl From<TokenError> for AccessError {
    fn from(error: TokenError) -> Self {
        AccessError::Token(error)
    }
}

/// A created session, as `POST /v1/sessions` reports it.
pub struct Created {
    pub id: String,
    pub token: String,
}

/// Starts the raised runtime for live sessions' task stages, as `[serve] priority` asks; on
/// `normal`, or if its threads cannot start, sessions use the server's own runtime.
fn start_timekeeper(serve: &ServeConfig) -> Option<PriorityRuntime> {
    if serve.priority == PriorityRequest::Normal {
        tracing::info!("live sessions' audio path runs at normal priority ([serve] priority = \"normal\")");
        return None;
    }
    let threads = match serve.priority_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
        n => n,
    };
    match PriorityRuntime::start("persona-live", threads, serve.priority) {
        Ok(runtime) => {
            if matches!(runtime.granted(), Granted::Unchanged(_)) {
                // Said at the default log level: an operator can grant it (see the README).
                tracing::warn!(threads, priority = %runtime.granted(), "live sessions' audio path could not be raised above the video threads");
            } else {
                tracing::info!(threads, priority = %runtime.granted(), "live sessions' audio path has its own threads");
            }
            Some(runtime)
        }
        Err(error) => {
            tracing::warn!(%error, "live sessions' audio path runs on the server's threads at normal priority");
            None
        }
    }
}

impl Sessions {
    pub fn new(pipeline: Arc<PipelineConfig>) -> Self {
        let signer = TokenSigner::new(pipeline.serve.token_ttl);
        let timekeeper = start_timekeeper(&pipeline.serve);
        Sessions(Arc::new(Inner {
            pipeline,
            signer,
            slots: Mutex::new(HashMap::new()),
            finished: Mutex::new(Finished::default()),
            totals: Totals::default(),
            emptied: Notify::new(),
            timekeeper,
        }))
    }

    /// The runtime live sessions' task stages are spawned on (`None`: the caller's).
    pub fn timekeeper(&self) -> Option<&tokio::runtime::Handle> {
        self.0.timekeeper.as_ref().map(PriorityRuntime::handle)
    }

    pub fn pipeline(&self) -> &Arc<PipelineConfig> {
        &self.0.pipeline
    }

    pub fn limits(&self) -> &ServeConfig {
        &self.0.pipeline.serve
    }

    pub fn totals(&self) -> &Totals {
        &self.0.totals
    }

    /// Sessions holding a slot (created, starting or live).
    pub fn active(&self) -> usize {
        self.0.slots.lock().len()
    }

    /// Sessions whose media is flowing.
    pub fn live(&self) -> Vec<LiveHandles> {
        self.0
            .slots
            .lock()
            .values()
            .filter_map(|slot| match &slot.state {
                SlotState::Live(handles) => Some(handles.clone()),
                _ => None,
            })
            .collect()
    }

    /// Takes a slot for a new session, or says when to retry.
    pub fn create(&self) -> Result<Created, CreateError> {
        let mut slots = self.0.slots.lock();
        if slots.len() >= self.limits().max_sessions {
            self.0.totals.rejected_full.fetch_add(1, Ordering::Relaxed);
            // A slot frees when a session ends or an offer never comes; either takes seconds.
            return Err(CreateError::Full { retry_after_s: 5 });
        }
        let id = new_session_id();
        let token = self.0.signer.issue(&id, SystemTime::now());
        slots.insert(
            id.clone(),
            Slot {
                state: SlotState::Created,
                created_at: Instant::now(),
                expiry: Some(self.expire_unused(id.clone())),
            },
        );
        drop(slots);
        self.0.totals.created.fetch_add(1, Ordering::Relaxed);
        Ok(Created { id, token })
    }

    /// Frees the slot of a session that got no offer in time.
    fn expire_unused(&self, id: String) -> tokio::task::AbortHandle {
        // Weak: a pending timer must not keep the registry alive.
        let sessions = Arc::downgrade(&self.0);
        let timeout = self.limits().offer_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(sessions) = sessions.upgrade() else {
                return;
            };
            let mut slots = sessions.slots.lock();
            if slots
                .get(&id)
                .is_some_and(|s| matches!(s.state, SlotState::Created))
            {
                // This task is the expiry itself: the slot must not abort it while it runs.
                if let Some(mut slot) = sessions.free(&mut slots, &id) {
                    slot.expiry = None;
                }
                tracing::info!(session = %id, "no offer arrived in time; the session slot is freed");
            }
        })
        .abort_handle()
    }

    /// Checks `token` for session `id`.
    pub fn authorize(&self, id: &str, token: Option<&str>) -> Result<(), AccessError> {
        let result = token
            .ok_or(TokenError::Missing)
            .and_then(|token| self.0.signer.verify(token, id, SystemTime::now()));
        if result.is_err() {
            self.0.totals.rejected_auth.fetch_add(1, Ordering::Relaxed);
        }
        result?;
        if !self.0.slots.lock().contains_key(id) {
            return Err(AccessError::NotFound);
        }
        Ok(())
    }

    /// Moves a created session to starting (one offer per session); the guard frees the slot
    /// when dropped.
    pub fn begin_start(&self, id: &str) -> Result<SlotGuard, AccessError> {
        let mut slots = self.0.slots.lock();
        let slot = slots.get_mut(id).ok_or(AccessError::NotFound)?;
        if !matches!(slot.state, SlotState::Created) {
            return Err(AccessError::AlreadyStarted);
        }
        slot.state = SlotState::Starting { ended: false };
        if let Some(expiry) = slot.expiry.take() {
            expiry.abort();
        }
        tracing::debug!(
            session = id,
            waited_ms = slot.created_at.elapsed().as_millis() as u64,
            "offer received"
        );
        Ok(SlotGuard {
            sessions: self.clone(),
            id: id.to_string(),
        })
    }

    /// Ends a session: a live one is stopped (its driver frees the slot), a waiting one is
    /// freed now. Returns whether it existed.
    pub fn end(&self, id: &str) -> bool {
        let mut slots = self.0.slots.lock();
        let Some(slot) = slots.get_mut(id) else {
            return false;
        };
        match &mut slot.state {
            SlotState::Live(handles) => handles.stop.notify_one(),
            SlotState::Starting { ended } => *ended = true,
            SlotState::Created => {
                self.0.free(&mut slots, id);
            }
        }
        true
    }

    /// Stops every session and waits until all slots are freed (server shutdown).
    pub async fn end_all(&self) {
        loop {
            let emptied = self.0.emptied.notified();
            let ids: Vec<String> = self.0.slots.lock().keys().cloned().collect();
            if ids.is_empty() {
                return;
            }
            for id in &ids {
                self.end(id);
            }
            emptied.await;
        }
    }

    /// Adds a finished session's measurements to the totals.
    fn absorb(&self, metrics: &Metrics) {
        self.0.finished.lock().add(metrics);
    }

    /// Finished sessions' totals plus every live session's current measurements.
    pub fn snapshot(&self) -> Finished {
        let finished = self.0.finished.lock();
        let mut snapshot = Finished {
            stages: finished.stages.clone(),
            counters: finished.counters.clone(),
        };
        drop(finished);
        for live in self.live() {
            snapshot.add(&live.metrics);
        }
        snapshot
    }
}

impl Finished {
    fn add(&mut self, metrics: &Metrics) {
        for meter in metrics.stage_meters() {
            let (histogram, violations) = self
                .stages
                .entry(meter.name())
                .or_insert_with(|| (empty_histogram(), 0));
            let _ = histogram.add(meter.histogram_us());
            *violations += meter.violations();
        }
        for (name, value) in metrics.counters() {
            *self.counters.entry(name).or_insert(0) += value;
        }
    }
}

fn empty_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds are valid")
}

/// Holds a session's slot; dropping it frees the slot (and records the session's measurements
/// if it went live).
pub struct SlotGuard {
    sessions: Sessions,
    id: String,
}

impl SlotGuard {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The session's media is flowing; `end` now reaches it through `stop`. If it was ended
    /// while starting, its driver is told to stop at once (the permit waits for its first look).
    pub fn set_live(&self, handles: LiveHandles) {
        if let Some(slot) = self.sessions.0.slots.lock().get_mut(&self.id) {
            if matches!(slot.state, SlotState::Starting { ended: true }) {
                handles.stop.notify_one();
            }
            slot.state = SlotState::Live(handles);
        }
        self.sessions.0.totals.started.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let removed = {
            let mut slots = self.sessions.0.slots.lock();
            self.sessions.0.free(&mut slots, &self.id)
        };
        if let Some(Slot {
            state: SlotState::Live(ref handles),
            ..
        }) = removed
        {
            self.sessions.absorb(&handles.metrics);
            self.sessions.0.totals.ended.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::SessionClock;

    fn sessions() -> Sessions {
        let mut pipeline = PipelineConfig::embedded_default();
        pipeline.serve.priority = PriorityRequest::Normal;
        Sessions::new(Arc::new(pipeline))
    }

    fn live_handles() -> LiveHandles {
        LiveHandles {
            metrics: Metrics::new(SessionClock::starting_now()),
            stop: Arc::new(Notify::new()),
            pipeline_shutdown: Shutdown::new(),
        }
    }

    /// A DELETE (or shutdown) that lands while the offer is being answered stops the session as
    /// soon as it is live, instead of leaving it running until its idle timeout.
    #[tokio::test]
    async fn a_session_ended_while_starting_is_stopped_when_it_goes_live() {
        let sessions = sessions();
        let created = sessions.create().unwrap();
        let slot = sessions.begin_start(&created.id).unwrap();
        assert!(sessions.end(&created.id), "a starting session exists");
        let handles = live_handles();
        slot.set_live(handles.clone());
        // The stop was stored for the driver: it completes without anyone notifying again.
        handles.stop.notified().await;
        drop(slot);
        assert_eq!(sessions.active(), 0);
    }

    #[tokio::test]
    async fn a_live_session_is_not_stopped_unless_ended() {
        let sessions = sessions();
        let created = sessions.create().unwrap();
        let slot = sessions.begin_start(&created.id).unwrap();
        let handles = live_handles();
        slot.set_live(handles.clone());
        let stopped = handles.stop.notified();
        tokio::pin!(stopped);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(std::future::Future::poll(stopped.as_mut(), &mut context).is_pending());
        assert!(sessions.end(&created.id));
        stopped.await;
    }
}
