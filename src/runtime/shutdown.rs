//! Shutdown: one signal that fans out to every stage.
//!
//! Two ways a pipeline ends. *Draining* needs no signal: the source closes its output edge, each
//! stage finishes what it holds and closes its own output, and the last stage returns. *Stopping*
//! (Ctrl-C, a session deleted, a fatal error) uses this signal: every stage returns at its next
//! wake-up without draining. The caller learns completion by joining the stage handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// The trigger, held by whoever may stop the pipeline (the CLI's Ctrl-C handler, the server).
#[derive(Clone, Debug)]
pub struct Shutdown {
    /// Read on every stage wake-up: one atomic load instead of a watch borrow.
    flag: Arc<AtomicBool>,
    tx: Arc<watch::Sender<bool>>,
}

/// A stage's view of the signal.
#[derive(Clone, Debug)]
pub struct ShutdownWatch {
    flag: Arc<AtomicBool>,
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, _) = watch::channel(false);
        Shutdown {
            flag: Arc::new(AtomicBool::new(false)),
            tx: Arc::new(tx),
        }
    }

    /// Asks every stage to stop now.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::Release);
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub fn watch(&self) -> ShutdownWatch {
        ShutdownWatch {
            flag: self.flag.clone(),
            rx: self.tx.subscribe(),
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl ShutdownWatch {
    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Resolves once shutdown is requested; pending forever if the trigger is dropped unused.
    pub async fn requested(&mut self) {
        if self.rx.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_watch_sees_the_trigger() {
        let shutdown = Shutdown::new();
        let mut a = shutdown.watch();
        let mut b = shutdown.watch();
        assert!(!a.is_requested());
        shutdown.trigger();
        a.requested().await;
        b.requested().await;
        assert!(b.is_requested());
    }
}
