//! What the output is playing right now, for stages upstream that must react to it.
//!
//! The playout publishes a [`PlayoutStatus`] after every chunk it emits (every 20 ms while
//! anything changes). The turn detector reads it to know whether user speech is barging in on
//! the avatar; the dialogue reads it to keep only the words that were actually heard. It is a
//! `watch`: readers see the latest value, never a queue, so a slow reader cannot hold anything up.

use tokio::sync::watch;

use crate::runtime::Epoch;

/// The output's state after the last emitted chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlayoutStatus {
    /// The utterance currently being played, if any.
    pub speaking: Option<Epoch>,
    /// Samples of that utterance played so far (utterance clock, output rate).
    pub played_samples: u64,
    /// Output-clock position of the next chunk.
    pub output_sample: u64,
}

/// The playout's end.
pub struct StatusPublisher(watch::Sender<PlayoutStatus>);

/// A reader's end; clone it for every reader.
#[derive(Clone)]
pub struct StatusWatch(watch::Receiver<PlayoutStatus>);

pub fn status_channel() -> (StatusPublisher, StatusWatch) {
    let (tx, rx) = watch::channel(PlayoutStatus::default());
    (StatusPublisher(tx), StatusWatch(rx))
}

impl StatusPublisher {
    /// Publishes `status` if it differs from the last one (readers are woken only on change).
    pub fn publish(&self, status: PlayoutStatus) {
        self.0.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }
}

impl StatusWatch {
    pub fn current(&self) -> PlayoutStatus {
        *self.0.borrow()
    }

    /// Waits for the next change; `None` once the playout is gone.
    pub async fn changed(&mut self) -> Option<PlayoutStatus> {
        self.0.changed().await.ok()?;
        Some(*self.0.borrow_and_update())
    }
}
