//! Epochs: how an interrupt overtakes data that is already queued.
//!
//! Every item produced in answer to a user turn carries the [`Epoch`] it was made in. Barge-in
//! (or any other interrupt) bumps the epoch through the one [`Interrupter`]; from that moment
//! every stage treats items of older epochs as stale and drops them, and each stage's
//! [`EpochWatch`] wakes its actor out of band so it can abort in-flight work and flush its input
//! edge. Long synchronous work on compute threads polls a [`CancelProbe`] (one atomic load).
//!
//! Epochs double as turn numbers: epoch `n` is the conversation after the user's `n`-th turn
//! started. This module does not decide *when* to interrupt; the turn detector does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// A conversation epoch; larger is newer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Epoch(pub u64);

impl Epoch {
    pub fn next(self) -> Epoch {
        Epoch(self.0 + 1)
    }
}

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The single writer of the current epoch. Owned by whoever decides interruptions (the turn
/// stage); dropping it does not interrupt anything.
#[derive(Debug)]
pub struct Interrupter {
    current: Arc<AtomicU64>,
    notify: watch::Sender<Epoch>,
}

/// A reader of the current epoch, one per stage.
#[derive(Clone, Debug)]
pub struct EpochWatch {
    current: Arc<AtomicU64>,
    changes: watch::Receiver<Epoch>,
}

/// A cheap, `Send` check for synchronous work that must stop when its epoch goes stale.
#[derive(Clone, Debug)]
pub struct CancelProbe {
    current: Arc<AtomicU64>,
    mine: Epoch,
}

/// Creates the interrupter and the first watch (clone it for every stage).
pub fn epoch_channel() -> (Interrupter, EpochWatch) {
    let current = Arc::new(AtomicU64::new(0));
    let (notify, changes) = watch::channel(Epoch(0));
    (
        Interrupter {
            current: current.clone(),
            notify,
        },
        EpochWatch { current, changes },
    )
}

impl Interrupter {
    /// Starts a new epoch and tells every stage; returns the new epoch.
    pub fn bump(&self) -> Epoch {
        // The atomic is written first so that a stage woken by the watch always reads the new value.
        let next = Epoch(self.current.fetch_add(1, Ordering::AcqRel) + 1);
        self.notify.send_replace(next);
        next
    }

    pub fn current(&self) -> Epoch {
        Epoch(self.current.load(Ordering::Acquire))
    }

    pub fn watch(&self) -> EpochWatch {
        EpochWatch {
            current: self.current.clone(),
            changes: self.notify.subscribe(),
        }
    }
}

impl EpochWatch {
    pub fn current(&self) -> Epoch {
        Epoch(self.current.load(Ordering::Acquire))
    }

    /// True when an item of `epoch` belongs to a conversation state that was interrupted.
    pub fn is_stale(&self, epoch: Epoch) -> bool {
        epoch < self.current()
    }

    /// Marks the current epoch as seen, so [`EpochWatch::changed`] waits for the next change.
    pub fn mark_seen(&mut self) -> Epoch {
        let _ = self.changes.borrow_and_update();
        self.current()
    }

    /// Waits until the epoch changes and returns the new one. Pending forever once the
    /// interrupter is gone (nothing can interrupt any more).
    pub async fn changed(&mut self) -> Epoch {
        if self.changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        *self.changes.borrow_and_update()
    }

    pub fn probe(&self, epoch: Epoch) -> CancelProbe {
        CancelProbe {
            current: self.current.clone(),
            mine: epoch,
        }
    }
}

impl CancelProbe {
    /// A probe that is never cancelled (for offline rendering and tests).
    pub fn never() -> Self {
        CancelProbe {
            current: Arc::new(AtomicU64::new(0)),
            mine: Epoch(0),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        Epoch(self.current.load(Ordering::Acquire)) > self.mine
    }

    pub fn epoch(&self) -> Epoch {
        self.mine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bump_wakes_watchers_and_cancels_probes() {
        let (interrupter, mut watch) = epoch_channel();
        let probe = watch.probe(watch.current());
        assert!(!probe.is_cancelled());
        assert!(!watch.is_stale(Epoch(0)));

        let waiter = tokio::spawn(async move {
            let seen = watch.changed().await;
            (seen, watch.is_stale(Epoch(0)))
        });
        let bumped = interrupter.bump();
        assert_eq!(bumped, Epoch(1));
        assert_eq!(waiter.await.unwrap(), (Epoch(1), true));
        assert!(probe.is_cancelled());
    }
}
