//! Audio values and conversions shared by every stage: the frame type, WAV files, resampling,
//! mel filter banks.
//!
//! Nothing here knows about stages, edges or time beyond sample counts: these are plain values
//! and functions the stages and tools build on.

pub mod conform;
pub mod frame;
pub mod mel;
pub mod resample;
pub mod wav;

use std::path::PathBuf;

use thiserror::Error;

pub use conform::Conformer;
pub use frame::{AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ, MAX_FRAME_SAMPLES};
pub use resample::{StreamResampler, resample_all};
pub use wav::{AudioDiagnostics, DecodedAudio, read_wav, remove_dc, write_wav};

/// Lowest sample rate persona accepts: narrow-band telephone audio.
pub const MIN_SAMPLE_RATE_HZ: u32 = 8_000;
/// Highest sample rate persona accepts: studio audio. Anything above is almost surely a corrupt
/// header, and would make the resampler's blocks needlessly large.
pub const MAX_SAMPLE_RATE_HZ: u32 = 192_000;

/// Errors of reading, writing and converting audio.
#[derive(Debug, Error)]
pub enum AudioError {
    #[error("audio file {} does not exist; check the path", path.display())]
    FileMissing { path: PathBuf },

    #[error("audio file {} could not be read: {detail}; check its permissions", path.display())]
    Unreadable { path: PathBuf, detail: String },

    #[error(
        "{} is not a readable WAV file ({detail}); export it again, or convert it with \
         `sox {} -b 16 converted.wav`",
        path.display(),
        path.display()
    )]
    NotWav { path: PathBuf, detail: String },

    #[error(
        "{} uses an unsupported sample format: {format}; persona reads 8/16/24/32-bit integer PCM and \
         32-bit float WAV. Convert it with `sox {} -b 16 converted.wav`",
        path.display(),
        path.display()
    )]
    UnsupportedFormat { path: PathBuf, format: String },

    #[error("{} contains no audio samples; record or export it again", path.display())]
    Empty { path: PathBuf },

    #[error(
        "{} has a sample rate of {sample_rate_hz} Hz, outside the plausible range \
         {MIN_SAMPLE_RATE_HZ}..={MAX_SAMPLE_RATE_HZ} Hz; the header is probably corrupt, export the file again",
        path.display()
    )]
    ImplausibleSampleRate { path: PathBuf, sample_rate_hz: u32 },

    #[error(
        "cannot write {} at {sample_rate_hz} Hz; use a rate in {MIN_SAMPLE_RATE_HZ}..={MAX_SAMPLE_RATE_HZ} Hz",
        path.display()
    )]
    UnsupportedWriteRate { path: PathBuf, sample_rate_hz: u32 },

    #[error("WAV file {} could not be written: {detail}; check that its folder exists and is writable", path.display())]
    Write { path: PathBuf, detail: String },

    #[error(
        "cannot resample from {from_hz} Hz to {to_hz} Hz: both rates must lie in \
         {MIN_SAMPLE_RATE_HZ}..={MAX_SAMPLE_RATE_HZ} Hz"
    )]
    UnsupportedResampleRate { from_hz: u32, to_hz: u32 },
}

/// Whether `rate_hz` is a sample rate real audio can have.
pub fn is_plausible_rate(rate_hz: u32) -> bool {
    (MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&rate_hz)
}
