//! Stage shells: how a stage's core is driven as an actor.
//!
//! A stage is an async loop that owns its core and its edges. [`StageCtx::next`] is the one
//! place that decides what a stage reacts to next, always in this order:
//!
//! 1. shutdown (stop now),
//! 2. an interrupt (a new epoch: flush stale input, abort in-flight work),
//! 3. data (stale items are dropped here and never reach the core),
//! 4. the core's deadline.
//!
//! so an interrupt always overtakes queued data. [`StageCtx::emit`] sends an output and records
//! its latency against the stage's budget. [`spawn_stage`] runs the loop either as a tokio task
//! (light stages) or on a dedicated thread (compute-heavy stages: the same async loop driven by
//! `Handle::block_on`, so a long synchronous call inside it never stalls the reactor).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tokio::time::Instant;

use thiserror::Error;
use tokio::sync::oneshot;

use super::edge::{Receiver, Sender};
use super::epoch::{Epoch, EpochWatch};
use super::metrics::{Metrics, StageMeter};
use super::shutdown::ShutdownWatch;

/// Items that may belong to an epoch. `None` means "never stale" (captured audio).
pub trait Stamped {
    fn epoch(&self) -> Option<Epoch>;
}

impl Stamped for crate::audio::AudioFrame {
    fn epoch(&self) -> Option<Epoch> {
        self.epoch
    }
}

/// A stage failed. The pipeline stops the other stages and reports this.
#[derive(Debug, Error)]
pub enum StageError {
    #[error("stage `{stage}` failed: {message}")]
    Failed { stage: &'static str, message: String },
    #[error("stage `{stage}` panicked: {message}")]
    Panicked { stage: &'static str, message: String },
}

impl StageError {
    pub fn failed(stage: &'static str, error: impl std::fmt::Display) -> Self {
        StageError::Failed {
            stage,
            message: error.to_string(),
        }
    }
}

/// What woke a stage.
#[derive(Debug)]
pub enum Event<T> {
    /// Stop now, without draining.
    Shutdown,
    /// A new epoch began; stale input has been flushed already.
    Interrupt(Epoch),
    /// A fresh input item.
    Item(T),
    /// The deadline passed to [`StageCtx::next`] was reached.
    Deadline,
    /// The upstream stage finished and everything it sent has been received.
    Closed,
}

/// What woke a stage that also listens to its worker (see [`StageCtx::next_with_side`]).
#[derive(Debug)]
pub enum SideEvent<T, S> {
    Shutdown,
    Interrupt(Epoch),
    Item(T),
    /// A result from the side input.
    Side(S),
    Deadline,
    /// The main input finished.
    Closed,
    /// The side input's producer is gone (the worker stopped).
    SideClosed,
}

impl Stamped for Infallible {
    fn epoch(&self) -> Option<Epoch> {
        match *self {}
    }
}

/// Where a stage runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A tokio task: for stages whose work per item is microseconds.
    Task,
    /// A dedicated OS thread: for stages that compute for milliseconds (STT, TTS, render, encode).
    Thread,
}

/// What every stage loop holds besides its core and edges.
pub struct StageCtx {
    pub name: &'static str,
    pub meter: Arc<StageMeter>,
    pub metrics: Arc<Metrics>,
    pub epochs: EpochWatch,
    pub shutdown: ShutdownWatch,
    /// Arrival time of the input whose first output has not been recorded yet.
    cause: Option<Instant>,
    /// The last epoch this stage reacted to.
    seen_epoch: Epoch,
    /// Whether outputs without an epoch count towards the current turn's first output.
    unstamped: Unstamped,
}

/// How a stage's outputs without an epoch are attributed in the per-turn log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unstamped {
    /// Captured audio: it belongs to whatever turn is current when it passes.
    CurrentTurn,
    /// Idle output (silence, idle frames): it belongs to no turn.
    NoTurn,
}

impl StageCtx {
    pub fn new(
        name: &'static str,
        metrics: Arc<Metrics>,
        budget: Option<std::time::Duration>,
        epochs: EpochWatch,
        shutdown: ShutdownWatch,
    ) -> Self {
        let mut epochs = epochs;
        let seen_epoch = epochs.mark_seen();
        StageCtx {
            seen_epoch,
            unstamped: Unstamped::CurrentTurn,
            name,
            meter: metrics.stage(name, budget),
            metrics,
            epochs,
            shutdown,
            cause: None,
        }
    }

    /// Waits for the next event on `input` (or until `deadline`), in priority order.
    pub async fn next<T: Stamped>(&mut self, input: &mut Receiver<T>, deadline: Option<Instant>) -> Event<T> {
        match self
            .next_event::<T, Infallible>(Some(input), None, deadline)
            .await
        {
            SideEvent::Shutdown => Event::Shutdown,
            SideEvent::Interrupt(epoch) => Event::Interrupt(epoch),
            SideEvent::Item(item) => Event::Item(item),
            SideEvent::Deadline => Event::Deadline,
            SideEvent::Closed => Event::Closed,
            SideEvent::Side(never) => match never {},
            SideEvent::SideClosed => unreachable!("no side input was given"),
        }
    }

    /// Like [`StageCtx::next`] with a second input — results coming back from the stage's own
    /// worker thread — served after interrupts and before the main input, so a finished result
    /// is never stuck behind queued data. Side items are delivered even when stale (the stage
    /// keeps count of its outstanding work); a closed side input is reported as `SideClosed`.
    pub async fn next_with_side<T: Stamped, S: Stamped>(
        &mut self,
        input: &mut Receiver<T>,
        side: Option<&mut Receiver<S>>,
        deadline: Option<Instant>,
    ) -> SideEvent<T, S> {
        self.next_event(Some(input), side, deadline).await
    }

    /// Waits for shutdown, an interrupt or the deadline without taking input: for a stage whose
    /// own buffer is full, so the upstream edge fills and pushes back.
    pub async fn next_without_input<T: Stamped>(&mut self, deadline: Option<Instant>) -> Event<T> {
        match self.next_event::<T, Infallible>(None, None, deadline).await {
            SideEvent::Shutdown => Event::Shutdown,
            SideEvent::Interrupt(epoch) => Event::Interrupt(epoch),
            SideEvent::Deadline => Event::Deadline,
            SideEvent::Item(_) | SideEvent::Closed => unreachable!("no input was given"),
            SideEvent::Side(never) => match never {},
            SideEvent::SideClosed => unreachable!("no side input was given"),
        }
    }

    /// The one event loop behind every `next*` method.
    async fn next_event<T: Stamped, S: Stamped>(
        &mut self,
        mut input: Option<&mut Receiver<T>>,
        mut side: Option<&mut Receiver<S>>,
        deadline: Option<Instant>,
    ) -> SideEvent<T, S> {
        // Fast path, taken for nearly every item: the same priority order checked with two
        // atomic loads and a pop, without registering on the shutdown and epoch watches.
        if let Some(event) = self.poll_ready(input.as_deref_mut(), side.as_deref_mut()) {
            return event;
        }
        let StageCtx {
            epochs,
            shutdown,
            cause,
            seen_epoch,
            ..
        } = self;
        let side_open = side.as_ref().is_some_and(|s| !s.is_finished());
        let has_input = input.is_some();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.requested() => return SideEvent::Shutdown,
                epoch = epochs.changed() => {
                    *seen_epoch = epoch;
                    let watch = &*epochs;
                    if let Some(input) = input.as_deref_mut() {
                        input.flush_while(|item| item.epoch().is_some_and(|e| watch.is_stale(e)));
                    }
                    return SideEvent::Interrupt(epoch);
                }
                item = recv_side(side.as_deref_mut()), if side_open => match item {
                    None => return SideEvent::SideClosed,
                    Some(item) => {
                        *cause = Some(Instant::now());
                        return SideEvent::Side(item);
                    }
                },
                item = recv_side(input.as_deref_mut()), if has_input => match item {
                    None => return SideEvent::Closed,
                    Some(item) => {
                        if item.epoch().is_some_and(|e| epochs.is_stale(e)) {
                            if let Some(input) = input.as_deref() {
                                input.count_flushed(1);
                            }
                            continue;
                        }
                        *cause = Some(Instant::now());
                        return SideEvent::Item(item);
                    }
                },
                _ = sleep_until_opt(deadline) => {
                    *cause = Some(Instant::now());
                    return SideEvent::Deadline;
                }
            }
        }
    }

    /// The next event if one is ready without waiting.
    fn poll_ready<T: Stamped, S: Stamped>(
        &mut self,
        mut input: Option<&mut Receiver<T>>,
        side: Option<&mut Receiver<S>>,
    ) -> Option<SideEvent<T, S>> {
        if self.shutdown.is_requested() {
            return Some(SideEvent::Shutdown);
        }
        if self.epochs.current() != self.seen_epoch {
            let epoch = self.epochs.mark_seen();
            self.seen_epoch = epoch;
            let watch = &self.epochs;
            if let Some(input) = input.as_deref_mut() {
                input.flush_while(|item| item.epoch().is_some_and(|e| watch.is_stale(e)));
            }
            return Some(SideEvent::Interrupt(epoch));
        }
        if let Some(item) = side.and_then(|side| side.try_recv()) {
            self.cause = Some(Instant::now());
            return Some(SideEvent::Side(item));
        }
        let input = input?;
        while let Some(item) = input.try_recv() {
            if item.epoch().is_some_and(|e| self.epochs.is_stale(e)) {
                input.count_flushed(1);
                continue;
            }
            self.cause = Some(Instant::now());
            return Some(SideEvent::Item(item));
        }
        None
    }

    /// Sleeps until `deadline` unless shutdown comes first; returns false on shutdown.
    /// For sources, which have no input edge to wait on.
    pub async fn sleep_until(&mut self, deadline: Instant) -> bool {
        tokio::select! {
            biased;
            _ = self.shutdown.requested() => false,
            _ = tokio::time::sleep_until(deadline) => true,
        }
    }

    /// Sets how outputs without an epoch are attributed (default: the current turn).
    pub fn with_unstamped(mut self, unstamped: Unstamped) -> Self {
        self.unstamped = unstamped;
        self
    }

    /// Marks `at` as the arrival of the input that the next emitted output answers (for outputs
    /// caused by something other than the last item from [`StageCtx::next`]).
    pub fn set_cause(&mut self, at: Instant) {
        self.cause = Some(at);
    }

    /// True when `epoch` is older than the current one.
    pub fn is_stale(&self, epoch: Epoch) -> bool {
        self.epochs.is_stale(epoch)
    }

    /// Records the latency of an output of `epoch` (`None`: see [`Unstamped`]) if it is the
    /// first answer to the current cause.
    pub fn record_output(&mut self, epoch: Option<Epoch>) {
        if let Some(cause) = self.cause.take() {
            let turn = match (epoch, self.unstamped) {
                (Some(epoch), _) => Some(epoch),
                (None, Unstamped::CurrentTurn) => Some(self.epochs.current()),
                (None, Unstamped::NoTurn) => None,
            };
            self.meter.record(turn, cause, Instant::now());
        }
    }

    /// Sends `item` downstream without metering it: for items a stage only passes through
    /// (audio through the renderer), so the stage's latency measures its own work.
    pub async fn forward<T>(&mut self, output: &mut Sender<T>, item: T) -> Result<(), StageError> {
        match output.send(item).await {
            Ok(_) => Ok(()),
            // Stopping closes edges from the far end; the stage returns at its next `next()`.
            Err(_) if self.shutdown.is_requested() => Ok(()),
            Err(_) => Err(StageError::failed(
                self.name,
                format!("its output edge `{}` was closed", output.name()),
            )),
        }
    }

    /// Sends `item` downstream, first recording its latency. Fails when the downstream stage
    /// is gone.
    pub async fn emit<T: Stamped>(&mut self, output: &mut Sender<T>, item: T) -> Result<(), StageError> {
        self.record_output(item.epoch());
        self.forward(output, item).await
    }
}

/// Receives from an optional edge; pending forever when there is none.
async fn recv_side<S>(edge: Option<&mut Receiver<S>>) -> Option<S> {
    match edge {
        Some(edge) => edge.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A running stage.
pub struct StageHandle {
    pub name: &'static str,
    done: oneshot::Receiver<Result<(), StageError>>,
}

impl StageHandle {
    /// Waits for the stage to return.
    pub async fn join(self) -> Result<(), StageError> {
        let name = self.name;
        self.done.await.unwrap_or_else(|_| {
            Err(StageError::Panicked {
                stage: name,
                message: "the stage ended without reporting".into(),
            })
        })
    }
}

/// Runs `stage` as an actor. A panic inside it is caught and reported as
/// [`StageError::Panicked`]; it never takes the process (or other sessions) down.
pub fn spawn_stage<F>(name: &'static str, placement: Placement, stage: F) -> StageHandle
where
    F: Future<Output = Result<(), StageError>> + Send + 'static,
{
    let (done_tx, done) = oneshot::channel();
    // Everything the stage logs carries its name; turn-level events add `turn`.
    let span = tracing::info_span!("stage", name);
    let guarded = async move {
        let result = match futures_catch_unwind(stage).await {
            Ok(result) => result,
            Err(message) => Err(StageError::Panicked { stage: name, message }),
        };
        if let Err(error) = &result {
            tracing::error!(stage = name, %error, "stage stopped");
        }
        let _ = done_tx.send(result);
    };
    let guarded = tracing::Instrument::instrument(guarded, span);
    match placement {
        Placement::Task => {
            tokio::spawn(guarded);
        }
        Placement::Thread => {
            let handle = tokio::runtime::Handle::current();
            std::thread::Builder::new()
                .name(format!("persona-{name}"))
                .spawn(move || handle.block_on(guarded))
                .expect("the OS refused to start a stage thread");
        }
    }
    StageHandle { name, done }
}

/// Polls `future`, turning a panic into an error message.
async fn futures_catch_unwind<F: Future>(future: F) -> Result<F::Output, String> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(output)) => std::task::Poll::Ready(Ok(output)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(panic) => std::task::Poll::Ready(Err(panic_message(&panic))),
        }
    })
    .await
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::edge::{EdgeSpec, FullPolicy, edge};
    use crate::runtime::epoch::epoch_channel;
    use crate::runtime::metrics::SessionClock;
    use crate::runtime::shutdown::Shutdown;

    #[derive(Debug, PartialEq)]
    struct Tagged(u64, u32);

    impl Stamped for Tagged {
        fn epoch(&self) -> Option<Epoch> {
            Some(Epoch(self.0))
        }
    }

    fn ctx() -> (StageCtx, crate::runtime::epoch::Interrupter, Shutdown) {
        let (interrupter, epochs) = epoch_channel();
        let shutdown = Shutdown::new();
        let metrics = Metrics::new(SessionClock::starting_now());
        (
            StageCtx::new("test", metrics, None, epochs, shutdown.watch()),
            interrupter,
            shutdown,
        )
    }

    #[tokio::test]
    async fn an_interrupt_overtakes_queued_data_and_flushes_stale_items() {
        let (mut ctx, interrupter, _shutdown) = ctx();
        let (mut tx, mut rx) = edge(EdgeSpec::new("speech", 8, FullPolicy::Wait));
        tx.send(Tagged(0, 1)).await.unwrap();
        tx.send(Tagged(0, 2)).await.unwrap();
        interrupter.bump();
        tx.send(Tagged(1, 3)).await.unwrap();

        assert!(matches!(
            ctx.next(&mut rx, None).await,
            Event::Interrupt(Epoch(1))
        ));
        match ctx.next(&mut rx, None).await {
            Event::Item(item) => assert_eq!(item, Tagged(1, 3)),
            other => panic!("expected the fresh item, got {other:?}"),
        }
        assert_eq!(rx.stats().report().flushed, 2);
    }

    #[tokio::test]
    async fn stale_items_queued_after_the_interrupt_was_seen_are_dropped_too() {
        let (mut ctx, interrupter, _shutdown) = ctx();
        let (mut tx, mut rx) = edge(EdgeSpec::new("speech", 8, FullPolicy::Wait));
        interrupter.bump();
        assert!(matches!(ctx.next(&mut rx, None).await, Event::Interrupt(_)));
        tx.send(Tagged(0, 9)).await.unwrap(); // a slow producer still finishing epoch 0
        tx.send(Tagged(1, 1)).await.unwrap();
        drop(tx);
        assert!(matches!(ctx.next(&mut rx, None).await, Event::Item(Tagged(1, 1))));
        assert!(matches!(ctx.next(&mut rx, None).await, Event::Closed));
    }

    #[tokio::test]
    async fn shutdown_comes_before_data() {
        let (mut ctx, _interrupter, shutdown) = ctx();
        let (mut tx, mut rx) = edge(EdgeSpec::new("speech", 8, FullPolicy::Wait));
        tx.send(Tagged(0, 1)).await.unwrap();
        shutdown.trigger();
        assert!(matches!(ctx.next(&mut rx, None).await, Event::Shutdown));
    }

    #[tokio::test]
    async fn a_deadline_wakes_an_idle_stage() {
        let (mut ctx, _interrupter, _shutdown) = ctx();
        let (_tx, mut rx) = edge::<Tagged>(EdgeSpec::new("speech", 8, FullPolicy::Wait));
        let deadline = Instant::now() + std::time::Duration::from_millis(20);
        assert!(matches!(ctx.next(&mut rx, Some(deadline)).await, Event::Deadline));
        assert!(Instant::now() >= deadline);
    }

    #[tokio::test]
    async fn a_panicking_stage_is_reported_not_propagated() {
        let handle = spawn_stage("doomed", Placement::Thread, async { panic!("boom") });
        match handle.join().await {
            Err(StageError::Panicked { stage, message }) => {
                assert_eq!(stage, "doomed");
                assert_eq!(message, "boom");
            }
            other => panic!("expected a panic report, got {other:?}"),
        }
    }
}
