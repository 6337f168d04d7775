//! What the TTS has turned into audio for the current reply, word by word, so the dialogue can
//! tell which of its words the user actually heard.
//!
//! The TTS stage publishes a [`SpokenReply`] for the epoch it is speaking: each reply piece it
//! synthesised, where that piece's text sits in the reply (byte offsets into the concatenation of
//! all pieces of the epoch, in the order they were sent), and where each word's audio starts and
//! ends on the utterance clock (output-rate samples, the clock of
//! [`crate::playout::PlayoutStatus::played_samples`]). Given how many samples the output has
//! played, [`SpokenReply::heard_bytes`] says how much of the reply text was heard.
//!
//! Like the playout status it is a `watch`: the dialogue reads the latest value when it needs it
//! (on an interrupt), never a queue, so nothing here can block the TTS or grow without bound.
//! One reply is kept; a new epoch replaces it. Pieces and words per reply are capped.

use tokio::sync::watch;

use crate::runtime::Epoch;

/// Pieces kept per reply; a reply longer than this is recorded up to here (later text counts
/// as unheard, which is the safe side).
pub const MAX_PIECES: usize = 512;
/// Words kept per piece, likewise.
pub const MAX_WORDS_PER_PIECE: usize = 1024;

/// A word's audio and where the word ends in the reply text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpokenWord {
    pub start_sample: u64,
    /// Where the word's audio ends (the next word's start, or the pause after it); `u64::MAX`
    /// while not yet known.
    pub end_sample: u64,
    /// Byte offset in the reply text just past the word.
    pub text_end: usize,
}

/// One reply piece as spoken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpokenPiece {
    /// Byte offset of the piece in the reply text.
    pub text_start: usize,
    pub text_len: usize,
    pub start_sample: u64,
    /// End of the piece's audio; `None` while it is being synthesised (or when synthesis
    /// stopped early).
    pub end_sample: Option<u64>,
    pub words: Vec<SpokenWord>,
}

/// The reply of one epoch, as far as it was synthesised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpokenReply {
    pub epoch: Epoch,
    pub pieces: Vec<SpokenPiece>,
}

impl SpokenReply {
    /// Bytes of the reply text (from its start) whose audio lies within the first
    /// `played_samples` of the utterance: whole pieces that finished playing, then the words of
    /// the piece in progress whose audio has fully played. A word cut off mid-way is unheard.
    pub fn heard_bytes(&self, played_samples: u64) -> usize {
        let mut heard = 0;
        for piece in &self.pieces {
            if piece.end_sample.is_some_and(|end| end <= played_samples) {
                heard = piece.text_start + piece.text_len;
                continue;
            }
            for word in &piece.words {
                if word.end_sample <= played_samples {
                    heard = word.text_end;
                } else {
                    break;
                }
            }
            break;
        }
        heard
    }

    /// Reply text bytes synthesised so far (all pieces).
    pub fn text_len(&self) -> usize {
        self.pieces.last().map_or(0, |p| p.text_start + p.text_len)
    }
}

/// The TTS stage's end.
pub struct SpokenPublisher {
    tx: watch::Sender<SpokenReply>,
    /// Set once a cap was hit in the current reply (logged once).
    capped: bool,
    /// Whether the current piece is on record (false past the piece cap): marks of a piece that
    /// is not recorded are ignored.
    recording: bool,
}

/// A reader's end (the dialogue stage); clone it freely.
#[derive(Clone)]
pub struct SpokenWatch(watch::Receiver<SpokenReply>);

pub fn spoken_channel() -> (SpokenPublisher, SpokenWatch) {
    let (tx, rx) = watch::channel(SpokenReply::default());
    (
        SpokenPublisher {
            tx,
            capped: false,
            recording: false,
        },
        SpokenWatch(rx),
    )
}

impl SpokenPublisher {
    /// Starts the record of `epoch`'s reply, dropping the previous one.
    pub fn begin_reply(&mut self, epoch: Epoch) {
        self.capped = false;
        self.recording = false;
        self.tx.send_modify(|reply| {
            reply.epoch = epoch;
            reply.pieces.clear();
        });
    }

    /// A piece of `text_len` bytes starts at utterance sample `start_sample`.
    pub fn begin_piece(&mut self, text_len: usize, start_sample: u64) {
        let mut capped = false;
        self.tx.send_modify(|reply| {
            if reply.pieces.len() >= MAX_PIECES {
                capped = true;
                return;
            }
            let text_start = reply.text_len();
            reply.pieces.push(SpokenPiece {
                text_start,
                text_len,
                start_sample,
                end_sample: None,
                words: Vec::new(),
            });
        });
        self.recording = !capped;
        self.note_cap(capped);
    }

    /// A word of the current piece: its audio starts at `start_sample`; it ends at byte
    /// `text_end_in_piece` of the piece. Closes the previous word at `start_sample` unless it
    /// was closed earlier.
    pub fn word(&mut self, start_sample: u64, text_end_in_piece: usize) {
        if !self.recording {
            return;
        }
        let mut capped = false;
        self.tx.send_modify(|reply| {
            let Some(piece) = reply.pieces.last_mut() else {
                return;
            };
            if let Some(previous) = piece.words.last_mut() {
                previous.end_sample = previous.end_sample.min(start_sample);
            }
            if piece.words.len() >= MAX_WORDS_PER_PIECE {
                capped = true;
                return;
            }
            piece.words.push(SpokenWord {
                start_sample,
                end_sample: u64::MAX,
                text_end: piece.text_start + text_end_in_piece.min(piece.text_len),
            });
        });
        self.note_cap(capped);
    }

    /// The current word's audio ends at `sample` (a pause began).
    pub fn word_ends(&mut self, sample: u64) {
        if !self.recording {
            return;
        }
        self.tx.send_if_modified(|reply| {
            let Some(word) = reply.pieces.last_mut().and_then(|p| p.words.last_mut()) else {
                return false;
            };
            if word.end_sample == u64::MAX && sample >= word.start_sample {
                word.end_sample = sample;
                return true;
            }
            false
        });
    }

    /// The current piece's audio ended at `end_sample`.
    pub fn end_piece(&mut self, end_sample: u64) {
        if !self.recording {
            return;
        }
        self.tx.send_modify(|reply| {
            if let Some(piece) = reply.pieces.last_mut() {
                piece.end_sample = Some(end_sample);
                if let Some(word) = piece.words.last_mut() {
                    word.end_sample = word.end_sample.min(end_sample);
                }
            }
        });
    }

    fn note_cap(&mut self, capped: bool) {
        if capped && !self.capped {
            self.capped = true;
            tracing::warn!(
                "reply too long to track word by word; later words will count as unheard in the history"
            );
        }
    }
}

impl SpokenWatch {
    /// The reply of `epoch` as synthesised so far, if that is the one on record.
    pub fn reply(&self, epoch: Epoch) -> Option<SpokenReply> {
        let reply = self.0.borrow();
        (reply.epoch == epoch && !reply.pieces.is_empty()).then(|| reply.clone())
    }

    /// Waits until the record changes; `None` once the TTS stage is gone.
    pub async fn changed(&mut self) -> Option<()> {
        self.0.changed().await.ok()
    }

    /// [`SpokenReply::heard_bytes`] of `epoch`'s reply; 0 when nothing of it was synthesised.
    pub fn heard_bytes(&self, epoch: Epoch, played_samples: u64) -> usize {
        let reply = self.0.borrow();
        if reply.epoch == epoch {
            reply.heard_bytes(played_samples)
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Hello there. " then "How are you?" with words at known samples.
    fn two_pieces() -> (SpokenPublisher, SpokenWatch) {
        let (mut tx, rx) = spoken_channel();
        tx.begin_reply(Epoch(3));
        tx.begin_piece("Hello there. ".len(), 0);
        tx.word(100, "Hello".len());
        tx.word(600, "Hello there".len());
        tx.word_ends(1_000); // the pause after "there."
        tx.end_piece(1_400);
        tx.begin_piece("How are you?".len(), 1_400);
        tx.word(1_450, "How".len());
        tx.word(1_700, "How are".len());
        tx.word(1_900, "How are you".len());
        (tx, rx)
    }

    #[test]
    fn heard_text_ends_at_the_last_word_that_fully_played() {
        let (_tx, rx) = two_pieces();
        let reply = rx.reply(Epoch(3)).unwrap();
        let text = "Hello there. How are you?";
        let heard = |played| &text[..reply.heard_bytes(played)];
        assert_eq!(heard(0), "");
        assert_eq!(heard(599), "");
        assert_eq!(heard(600), "Hello");
        assert_eq!(heard(999), "Hello");
        assert_eq!(heard(1_000), "Hello there");
        assert_eq!(heard(1_400), "Hello there. ");
        assert_eq!(heard(1_700), "Hello there. How");
        // The last word's end is unknown until its piece ends: not heard yet.
        assert_eq!(heard(100_000), "Hello there. How are");
    }

    #[test]
    fn a_finished_piece_counts_whole_and_a_new_epoch_replaces_the_record() {
        let (mut tx, rx) = two_pieces();
        tx.end_piece(2_300);
        let text = "Hello there. How are you?";
        assert_eq!(rx.heard_bytes(Epoch(3), 2_300), text.len());
        assert_eq!(rx.heard_bytes(Epoch(2), 2_300), 0);
        tx.begin_reply(Epoch(4));
        assert_eq!(rx.reply(Epoch(3)), None);
        assert_eq!(rx.heard_bytes(Epoch(4), 10_000), 0);
    }

    #[test]
    fn caps_bound_the_record() {
        let (mut tx, rx) = spoken_channel();
        tx.begin_reply(Epoch(1));
        for n in 0..(MAX_PIECES + 5) {
            tx.begin_piece(2, n as u64 * 10);
            tx.end_piece(n as u64 * 10 + 10);
        }
        let reply = rx.reply(Epoch(1)).unwrap();
        assert_eq!(reply.pieces.len(), MAX_PIECES);
        assert_eq!(reply.heard_bytes(u64::MAX), 2 * MAX_PIECES);
    }
}
