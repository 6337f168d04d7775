//! Text to speech, with the timing of every phoneme and word.
//!
//! Backends turn text into audio plus [`PhonemeMark`]s and [`WordMark`]s positioned on that
//! audio's own sample clock; the TTS stage decides what to say and when to stop. Backends do
//! not resample, frame or schedule audio.

pub mod espeak;
pub mod stage;
pub mod timing;

use thiserror::Error;

pub use timing::{PhonemeMark, PhonemeSymbol, WordMark};

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
}
