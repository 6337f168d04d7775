//! Edges: the bounded ring buffers that join stages.
//!
//! Every edge is created by [`edge`] from an [`EdgeSpec`] that forces a name, a capacity and a
//! [`FullPolicy`], so a reviewer sees what happens when it fills up. Storage is a
//! `ringbuf::HeapRb` allocated once at creation; pushing and popping never allocate. The ring
//! sits behind a short uncontended mutex because dropping the *oldest* item from the producer
//! side needs exclusive access to both ends (ringbuf's `push_overwrite` takes `&mut self`); every
//! critical section is a handful of loads and stores and never waits.
//!
//! Wake-ups are event driven: a consumer waiting on an empty edge parks its task (or thread) on an
//! [`AtomicWaker`] that the next push wakes; a producer waiting on a full [`FullPolicy::Wait`]
//! edge parks on another that the next pop wakes. Nothing polls in a loop.
//!
//! Either end dropping closes the edge: the consumer drains what is left and then sees `None`;
//! a producer whose consumer is gone gets its item back as an error.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;
use parking_lot::Mutex;
use ringbuf::HeapRb;
use ringbuf::traits::Observer as _;

/// What a full edge does with one more item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FullPolicy {
    /// The producer waits for space (text, control-rate data: losing it would be wrong).
    Wait,
    /// The oldest queued item is dropped and counted (captured audio: a live source cannot
    /// wait, and the newest audio is the most useful).
    DropOldest,
    /// The new item is dropped and counted (video frames arriving late: keep what is queued in
    /// order and skip the late one).
    DropNewest,
}

/// A declared edge: name, capacity and full policy.
#[derive(Clone, Copy, Debug)]
pub struct EdgeSpec {
    pub name: &'static str,
    pub capacity: usize,
    pub policy: FullPolicy,
}

impl EdgeSpec {
    pub const fn new(name: &'static str, capacity: usize, policy: FullPolicy) -> Self {
        EdgeSpec {
            name,
            capacity,
            policy,
        }
    }

    pub const fn with_capacity(self, capacity: usize) -> Self {
        EdgeSpec { capacity, ..self }
    }
}

/// Live counters of one edge, readable while the pipeline runs.
#[derive(Debug)]
pub struct EdgeStats {
    pub name: &'static str,
    pub capacity: usize,
    pub policy: FullPolicy,
    pushed: AtomicU64,
    dropped: AtomicU64,
    flushed: AtomicU64,
    high_water: AtomicUsize,
}

/// A snapshot of [`EdgeStats`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct EdgeReport {
    pub name: &'static str,
    pub capacity: usize,
    pub policy: FullPolicy,
    pub pushed: u64,
    /// Items lost to the full policy.
    pub dropped: u64,
    /// Items discarded because an interrupt made them stale.
    pub flushed: u64,
    pub high_water: usize,
}

impl EdgeStats {
    pub fn report(&self) -> EdgeReport {
        EdgeReport {
            name: self.name,
            capacity: self.capacity,
            policy: self.policy,
            pushed: self.pushed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            flushed: self.flushed.load(Ordering::Relaxed),
            high_water: self.high_water.load(Ordering::Relaxed),
        }
    }
}

struct Shared<T> {
    ring: Mutex<HeapRb<T>>,
    /// Woken by every push and by the producer closing; the consumer registers here.
    consumer_waker: AtomicWaker,
    /// Woken by every pop and by the consumer closing; a waiting producer registers here.
    producer_waker: AtomicWaker,
    producer_closed: AtomicBool,
    consumer_closed: AtomicBool,
    stats: Arc<EdgeStats>,
}

/// The producing end of an edge.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The consuming end of an edge.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// The consumer is gone; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed<T>(pub T);

/// Why [`Sender::try_send`] did not queue the item.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// A [`FullPolicy::Wait`] edge is full.
    Full(T),
    Closed(T),
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Queued after dropping the oldest item.
    DroppedOldest,
    /// Not queued: the edge was full and drops new items.
    DroppedNewest,
}

/// Creates an edge.
///
/// # Panics
/// When `spec.capacity` is zero: an edge that can hold nothing is a wiring bug.
pub fn edge<T>(spec: EdgeSpec) -> (Sender<T>, Receiver<T>) {
    assert!(spec.capacity > 0, "edge `{}` declared with capacity 0", spec.name);
    let shared = Arc::new(Shared {
        ring: Mutex::new(HeapRb::new(spec.capacity)),
        consumer_waker: AtomicWaker::new(),
        producer_waker: AtomicWaker::new(),
        producer_closed: AtomicBool::new(false),
        consumer_closed: AtomicBool::new(false),
        stats: Arc::new(EdgeStats {
            name: spec.name,
            capacity: spec.capacity,
            policy: spec.policy,
            pushed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            high_water: AtomicUsize::new(0),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Shared<T> {
    fn note_len(&self, len: usize) {
        self.stats.high_water.fetch_max(len, Ordering::Relaxed);
    }
}

impl<T> Sender<T> {
    pub fn name(&self) -> &'static str {
        self.shared.stats.name
    }

    pub fn stats(&self) -> Arc<EdgeStats> {
        self.shared.stats.clone()
    }

    /// Pushes without waiting. On a [`FullPolicy::Wait`] edge a full ring returns the item.
    pub fn try_send(&mut self, item: T) -> Result<Pushed, TrySendError<T>> {
        let shared = &*self.shared;
        if shared.consumer_closed.load(Ordering::Acquire) {
            return Err(TrySendError::Closed(item));
        }
        let (pushed, len) = {
            let mut ring = shared.ring.lock();
            let pushed = if !ring.is_full() {
                let _ = ring.try_push(item);
                Pushed::Queued
            } else {
                match shared.stats.policy {
                    FullPolicy::Wait => return Err(TrySendError::Full(item)),
                    FullPolicy::DropOldest => {
                        // The displaced item is dropped after the lock is released.
                        let displaced = ring.push_overwrite(item);
                        drop(ring);
                        drop(displaced);
                        shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        shared.stats.pushed.fetch_add(1, Ordering::Relaxed);
                        shared.consumer_waker.wake();
                        return Ok(Pushed::DroppedOldest);
                    }
                    FullPolicy::DropNewest => {
                        drop(ring);
                        shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        return Ok(Pushed::DroppedNewest);
                    }
                }
            };
            (pushed, ring.occupied_len())
        };
        shared.note_len(len);
        shared.stats.pushed.fetch_add(1, Ordering::Relaxed);
        shared.consumer_waker.wake();
        Ok(pushed)
    }

    /// Pushes, waiting for space only on a [`FullPolicy::Wait`] edge.
    pub async fn send(&mut self, item: T) -> Result<Pushed, Closed<T>> {
        let mut slot = Some(item);
        poll_fn(|cx| self.poll_send(cx, &mut slot)).await
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, slot: &mut Option<T>) -> Poll<Result<Pushed, Closed<T>>> {
        let item = slot.take().expect("poll_send polled after completion");
        match self.try_send(item) {
            Ok(pushed) => Poll::Ready(Ok(pushed)),
            Err(TrySendError::Closed(item)) => Poll::Ready(Err(Closed(item))),
            Err(TrySendError::Full(item)) => {
                self.shared.producer_waker.register(cx.waker());
                // Re-check after registering so a pop between the two is not missed.
                match self.try_send(item) {
                    Ok(pushed) => Poll::Ready(Ok(pushed)),
                    Err(TrySendError::Closed(item)) => Poll::Ready(Err(Closed(item))),
                    Err(TrySendError::Full(item)) => {
                        *slot = Some(item);
                        Poll::Pending
                    }
                }
            }
        }
    }

    /// [`Sender::send`] for compute threads and C callbacks that cannot `.await`: parks the
    /// calling thread while a [`FullPolicy::Wait`] edge is full. Never call it on an async task.
    pub fn send_blocking(&mut self, item: T) -> Result<Pushed, Closed<T>> {
        block_on_thread(self.send(item))
    }

    /// True once the consumer is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.consumer_closed.load(Ordering::Acquire)
    }

    /// Waits until the consumer has taken every queued item (or is gone).
    pub async fn drained(&mut self) {
        poll_fn(|cx| {
            if self.shared.consumer_closed.load(Ordering::Acquire) || self.shared.ring.lock().is_empty() {
                return Poll::Ready(());
            }
            self.shared.producer_waker.register(cx.waker());
            if self.shared.consumer_closed.load(Ordering::Acquire) || self.shared.ring.lock().is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.producer_closed.store(true, Ordering::Release);
        self.shared.consumer_waker.wake();
    }
}

impl<T> Receiver<T> {
    pub fn name(&self) -> &'static str {
        self.shared.stats.name
    }

    pub fn stats(&self) -> Arc<EdgeStats> {
        self.shared.stats.clone()
    }

    pub fn len(&self) -> usize {
        self.shared.ring.lock().occupied_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pops the oldest item if there is one.
    pub fn try_recv(&mut self) -> Option<T> {
        let item = self.shared.ring.lock().try_pop();
        if item.is_some() {
            self.shared.producer_waker.wake();
        }
        item
    }

    /// True when the producer is gone and nothing is left.
    pub fn is_finished(&self) -> bool {
        self.shared.producer_closed.load(Ordering::Acquire) && self.is_empty()
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(item) = self.try_recv() {
            return Poll::Ready(Some(item));
        }
        if self.shared.producer_closed.load(Ordering::Acquire) {
            // The producer may have pushed right before closing.
            return Poll::Ready(self.try_recv());
        }
        self.shared.consumer_waker.register(cx.waker());
        if let Some(item) = self.try_recv() {
            return Poll::Ready(Some(item));
        }
        if self.shared.producer_closed.load(Ordering::Acquire) {
            return Poll::Ready(self.try_recv());
        }
        Poll::Pending
    }

    /// The next item, or `None` once the producer is gone and the edge is empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`Receiver::recv`] for compute threads: parks the thread while the edge is empty.
    pub fn recv_blocking(&mut self) -> Option<T> {
        block_on_thread(self.recv())
    }

    /// Drops queued items from the front while `is_stale` says so (they are in epoch order, so
    /// stale items form a prefix); returns how many were dropped.
    pub fn flush_while(&mut self, mut is_stale: impl FnMut(&T) -> bool) -> usize {
        let mut flushed = Vec::new();
        {
            let mut ring = self.shared.ring.lock();
            while ring.try_peek().is_some_and(&mut is_stale) {
                // Dropping happens outside the lock; the Vec only grows during interrupts,
                // never on the per-item path.
                flushed.push(ring.try_pop().expect("peeked item is present"));
            }
        }
        let count = flushed.len();
        if count > 0 {
            self.shared
                .stats
                .flushed
                .fetch_add(count as u64, Ordering::Relaxed);
            self.shared.producer_waker.wake();
        }
        count
    }

    /// Counts one item the consumer discarded as stale after popping it.
    pub fn count_flushed(&self, items: u64) {
        self.shared.stats.flushed.fetch_add(items, Ordering::Relaxed);
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.consumer_closed.store(true, Ordering::Release);
        self.shared.producer_waker.wake();
    }
}

/// Wakes a parked thread.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives an edge future to completion on the current thread, parking between wake-ups.
/// Edge futures need no reactor, so this works on any plain thread.
fn block_on_thread<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_policy_refuses_when_full() {
        let (mut tx, mut rx) = edge::<u32>(EdgeSpec::new("text", 2, FullPolicy::Wait));
        assert_eq!(tx.try_send(1), Ok(Pushed::Queued));
        assert_eq!(tx.try_send(2), Ok(Pushed::Queued));
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(tx.try_send(3), Ok(Pushed::Queued));
        assert_eq!(rx.try_recv(), Some(2));
        assert_eq!(rx.try_recv(), Some(3));
        assert_eq!(tx.stats().report().dropped, 0);
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts() {
        let (mut tx, mut rx) = edge::<u32>(EdgeSpec::new("audio_in", 3, FullPolicy::DropOldest));
        for i in 0..5 {
            tx.try_send(i).unwrap();
        }
        let report = rx.stats().report();
        assert_eq!((report.pushed, report.dropped, report.high_water), (5, 2, 3));
        assert_eq!(
            [rx.try_recv(), rx.try_recv(), rx.try_recv()],
            [Some(2), Some(3), Some(4)]
        );
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn drop_newest_keeps_what_is_queued() {
        let (mut tx, mut rx) = edge::<u32>(EdgeSpec::new("video", 2, FullPolicy::DropNewest));
        assert_eq!(tx.try_send(1), Ok(Pushed::Queued));
        assert_eq!(tx.try_send(2), Ok(Pushed::Queued));
        assert_eq!(tx.try_send(3), Ok(Pushed::DroppedNewest));
        assert_eq!(
            [rx.try_recv(), rx.try_recv(), rx.try_recv()],
            [Some(1), Some(2), None]
        );
        assert_eq!(rx.stats().report().dropped, 1);
    }

    #[tokio::test]
    async fn a_waiting_producer_resumes_when_the_consumer_pops() {
        let (mut tx, mut rx) = edge::<u32>(EdgeSpec::new("text", 1, FullPolicy::Wait));
        tx.send(1).await.unwrap();
        let producer = tokio::spawn(async move {
            tx.send(2).await.unwrap();
            tx
        });
        tokio::task::yield_now().await;
        assert!(!producer.is_finished());
        assert_eq!(rx.recv().await, Some(1));
        let _tx = producer.await.unwrap();
        assert_eq!(rx.recv().await, Some(2));
    }

    #[tokio::test]
    async fn closing_the_producer_drains_then_ends() {
        let (mut tx, mut rx) = edge::<u32>(EdgeSpec::new("text", 4, FullPolicy::Wait));
        tx.send(7).await.unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(7));
        assert_eq!(rx.recv().await, None);
        assert!(rx.is_finished());
    }

    #[tokio::test]
    async fn a_producer_learns_the_consumer_is_gone() {
        let (mut tx, rx) = edge::<u32>(EdgeSpec::new("text", 1, FullPolicy::Wait));
        tx.send(1).await.unwrap();
        let producer = tokio::spawn(async move { tx.send(2).await });
        tokio::task::yield_now().await;
        drop(rx);
        assert_eq!(producer.await.unwrap(), Err(Closed(2)));
    }

    #[test]
    fn flush_drops_the_stale_prefix_only() {
        let (mut tx, mut rx) = edge::<(u64, u32)>(EdgeSpec::new("speech", 8, FullPolicy::Wait));
        for item in [(1, 10), (1, 11), (2, 20), (2, 21)] {
            tx.try_send(item).unwrap();
        }
        assert_eq!(rx.flush_while(|(epoch, _)| *epoch < 2), 2);
        assert_eq!(rx.try_recv(), Some((2, 20)));
        assert_eq!(rx.stats().report().flushed, 2);
    }

    #[test]
    fn blocking_ends_work_across_threads() {
        let (mut tx, mut rx) = edge::<u32>(EdgeSpec::new("frames", 2, FullPolicy::Wait));
        let producer = std::thread::spawn(move || {
            for i in 0..100 {
                tx.send_blocking(i).unwrap();
            }
        });
        let received: Vec<u32> = std::iter::from_fn(|| rx.recv_blocking()).collect();
        producer.join().unwrap();
        assert_eq!(received, (0..100).collect::<Vec<_>>());
    }
}
