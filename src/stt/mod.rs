//! Speech to text.
//!
//! A [`Transcriber`] turns 16 kHz mono audio into text; the STT stage decides when to call it —
//! repeatedly while the user speaks (partial transcripts, settled by [`agreement`]), and once
//! more when the turn ends. Backends: [`whisper`] (whisper.cpp) and [`openai`] (any
//! OpenAI-compatible `/v1/audio/transcriptions` server). [`synthetic`] writes a tiny
//! random-weight whisper model so tests and demos exercise the real backend without
//! downloading one.

pub mod agreement;
mod ggml;
pub mod openai;
pub mod stage;
pub mod synthetic;
pub mod whisper;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use thiserror::Error;

pub use openai::{OpenAiSettings, OpenAiTranscriber};
pub use stage::{SttSettings, Transcript};
pub use synthetic::{TINY_WHISPER_FILE, write_tiny_whisper};
pub use whisper::{WhisperSettings, WhisperTranscriber};

/// Errors of speech-to-text backends.
#[derive(Debug, Error)]
pub enum SttError {
    #[error(
        "speech-to-text model {path} could not be loaded: {reason}. Check the path in the pipeline file, or run `persona models list` to see how to get a model"
    )]
    ModelLoad {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("speech-to-text setting `{name}` has the invalid value {value}: {reason}")]
    InvalidSetting {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("speech-to-text decoding failed: {0}")]
    Decode(String),
    #[error("speech-to-text decoding was abandoned (its result is no longer needed)")]
    Aborted,
}

/// Tells a running transcription that its result is no longer wanted (a newer partial, a final
/// waiting behind it, an interrupted turn). Backends check it where they can stop early.
#[derive(Clone, Debug, Default)]
pub struct AbortSignal(Arc<AbortInner>);

#[derive(Debug, Default)]
struct AbortInner {
    flag: AtomicBool,
    /// Wakes async backends waiting on [`AbortSignal::aborted`].
    notify: tokio::sync::Notify,
}

impl AbortSignal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn abort(&self) {
        self.0.flag.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }

    pub fn is_aborted(&self) -> bool {
        self.0.flag.load(Ordering::Acquire)
    }

    /// The flag itself, for backends that hand it to C code.
    pub fn flag(&self) -> &AtomicBool {
        &self.0.flag
    }

    /// Completes once the signal is set (at once if it already is).
    pub async fn aborted(&self) {
        let notified = self.0.notify.notified();
        if self.is_aborted() {
            return;
        }
        notified.await;
    }
}

/// Turns 16 kHz mono audio into text. Called on a compute thread; may take a while. A backend
/// may return [`SttError::Aborted`] once `abort` is set, instead of finishing.
pub trait Transcriber: Send {
    fn transcribe(&mut self, audio_16k: &[f32], abort: &AbortSignal) -> Result<String, SttError>;

    /// A partial transcript of a turn still in progress: may trade accuracy for speed (the
    /// final transcript comes from [`Transcriber::transcribe`]). By default the same call.
    fn transcribe_partial(&mut self, audio_16k: &[f32], abort: &AbortSignal) -> Result<String, SttError> {
        self.transcribe(audio_16k, abort)
    }
}
