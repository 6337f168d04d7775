//! Text to speech, with the timing of every phoneme and word.
//!
//! Backends ([`SpeechSynth`]) turn text into audio plus [`PhonemeMark`]s and [`WordMark`]s
//! positioned on that audio's own sample clock, one file each: [`espeak`] (embedded, exact
//! timing), [`piper`] (VITS voices through ONNX Runtime, timing estimated), [`openai`] (an
//! OpenAI-compatible speech service, timing estimated). The TTS stage ([`stage`]) normalises the
//! text ([`normalize`]), decides what to say and when to stop, resamples to the output rate and
//! publishes which words became audio ([`spoken`]). Backends do not resample, frame or schedule
//! audio.

pub mod espeak;
pub mod estimate;
pub mod normalize;
pub mod openai;
pub mod piper;
pub mod spoken;
pub mod stage;
pub mod timing;

use std::path::PathBuf;

use thiserror::Error;

pub use spoken::{SpokenPublisher, SpokenReply, SpokenWatch, spoken_channel};
pub use timing::{PhonemeMark, PhonemeSymbol, WordMark};

/// One piece of an utterance as a backend produced it.
///
/// Mark positions are utterance-local sample indices at the backend's
/// [`SpeechSynth::sample_rate_hz`], counted from the start of the text handed to `synthesize`.
/// A mark lies within or at the end of the audio delivered so far, never ahead of it; marks of
/// one kind never go backwards. A mark may sit exactly at the end of the utterance (a closing
/// pause).
#[derive(Clone, Copy, Debug)]
pub struct SynthChunk<'a> {
    pub samples: &'a [i16],
    pub phonemes: &'a [PhonemeMark],
    pub words: &'a [WordMark],
}

/// What the chunk consumer wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Abandon the utterance; the backend stops within the current chunk.
    Stop,
}

/// How a synthesis ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthSummary {
    /// Samples delivered to the consumer, at the backend's rate.
    pub samples: u64,
    /// True when the consumer returned [`Flow::Stop`].
    pub cancelled: bool,
}

/// A speech synthesiser backend. Called on the TTS stage's own thread: it may block.
pub trait SpeechSynth: Send {
    fn sample_rate_hz(&self) -> u32;
    /// Speaks `text`, handing each chunk of audio and marks to `on_chunk` as it is produced.
    fn synthesize(
        &mut self,
        text: &str,
        on_chunk: &mut dyn FnMut(SynthChunk<'_>) -> Flow,
    ) -> Result<SynthSummary, TtsError>;
}

/// Errors of text-to-speech backends.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TtsError {
    #[error(
        "espeak-ng could not load its voice data ({detail}). Install the `espeak-ng-data` package \
         (run `./setup.sh`, or `apt-get install espeak-ng-data`), or set ESPEAK_DATA_PATH to the \
         folder that contains `espeak-ng-data`"
    )]
    DataMissing { detail: String },

    #[error("espeak-ng has no voice `{voice}`; list the installed voices with `espeak-ng --voices`")]
    UnknownVoice { voice: String },

    #[error(
        "voice `{voice}` speaks at {sample_rate_hz} Hz but the engine was initialised at \
         {engine_rate_hz} Hz (an MBROLA voice?); pick an espeak-ng voice from `espeak-ng --voices`"
    )]
    VoiceRateMismatch {
        voice: String,
        sample_rate_hz: u32,
        engine_rate_hz: u32,
    },

    #[error("speaking rate {rate_wpm} words per minute is out of range; use {min}..={max}")]
    RateOutOfRange { rate_wpm: u32, min: u32, max: u32 },

    #[error("pitch {pitch} is out of range; use {min}..={max} (50 is the voice's normal pitch)")]
    PitchOutOfRange { pitch: u8, min: u8, max: u8 },

    #[error("the text to speak contains a NUL character at byte {byte_offset}; remove it before synthesis")]
    InvalidText { byte_offset: usize },

    #[error(
        "the speech engine was called from inside its own audio callback; collect what to say and \
         synthesise it after the callback returns"
    )]
    Reentrant,

    #[error(
        "espeak-ng failed in {operation} with error code {code}; this is a bug in persona or espeak-ng, please report it"
    )]
    Engine { operation: &'static str, code: i32 },

    #[error("Piper voice {}: {message}", path.display())]
    PiperVoice { path: PathBuf, message: String },

    /// Loading or running an ONNX voice failed; the message names the file and the fix.
    #[error("{message}")]
    Model { message: String },

    #[error(
        "the speech service at {url} failed: {message}. Check `stages.tts.base_url`, `model` and \
         `voice` in the pipeline file and that the service is running"
    )]
    Service { url: String, message: String },
}
