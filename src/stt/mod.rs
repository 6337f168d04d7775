//! Speech to text.
//!
//! A [`Transcriber`] turns 16 kHz mono audio into text; the STT stage decides when to call it.
//! Backends: [`whisper`] (whisper.cpp). [`synthetic`] writes a tiny random-weight whisper model
//! so tests and demos exercise the real backend without downloading one.

mod ggml;
pub mod stage;
pub mod synthetic;
pub mod whisper;

use thiserror::Error;

pub use stage::Transcript;
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
}

/// Turns 16 kHz mono audio into text. Called on a compute thread; may take a while.
pub trait Transcriber: Send {
    fn transcribe(&mut self, audio_16k: &[f32]) -> Result<String, SttError>;
}
