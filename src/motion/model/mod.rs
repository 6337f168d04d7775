//! The learned motion backend: persona's own audio-to-motion model, streamed in chunks.
//!
//! The model (`models/motion-fm.onnx`, trained and exported by `scripts/motion/`) is a small
//! conditional flow-matching network: for a chunk of video frames it takes the log-mel features
//! around them (with [`ModelMeta::lookahead_ms`] of lookahead), the motion frames just before
//! them and a block of noise, and returns the chunk's poses, all sampling steps inside one graph.
//! It hears only audio, so it moves the face for any voice: espeak-ng, a cloud TTS or a
//! recording.
//!
//! - [`meta`]: the metadata beside the model, checked against this build's features and channels.
//! - [`net`]: the ONNX session ([`MotionNet`]), one batched call per group of chunks.
//! - [`stream`]: [`ModelMotion`], the sans-IO streaming core for one utterance: audio in at any
//!   rate (resampled to 16 kHz, [`crate::motion::features::LogMelStream`]), chunk requests out,
//!   poses at the output frame rate back. Noise comes from a seeded generator, so a session
//!   replays identically.
//! - [`worker`]: [`MotionWorker`], the inference thread every session shares; it batches the
//!   chunks that are waiting when it wakes, so several sessions cost one call.
//!
//! **What the model drives.** The mouth, the brows and speech-driven head gestures (nods,
//! posture shifts). Blinks, gaze, breathing and slow head drift are not its job: the playout
//! overlays [`crate::motion::IdleMotion`] on every backend's poses, continuously across
//! utterances and silences, which needs seconds of memory a 200 ms chunk does not have. The
//! model was trained on the dataset's targets minus that idle part, so adding the overlay
//! reproduces the full motion; its blink and gaze outputs are zeroed.
//!
//! Not here: threads or async (the stage shell and [`MotionWorker`] own those), clocks, and
//! training (Python, `scripts/motion/`).

pub mod meta;
pub mod net;
pub mod stream;
pub mod worker;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::onnx::OnnxError;

pub use meta::ModelMeta;
pub use net::{ChunkRequest, MotionNet, check_files};
pub use stream::{ModelMotion, OVERLAP_FRAMES};
pub use worker::MotionWorker;

/// The shipped model, relative to the repository root.
pub const SHIPPED_MODEL: &str = "models/motion-fm.onnx";

/// Errors of the learned motion backend.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error(
        "the motion model {} was not found (looked in: {}). Run persona from the repository, set `model` in [stages.motion] to its path, or choose `backend = \"rules\"`",
        SHIPPED_MODEL,
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    ShippedModelMissing { searched: Vec<PathBuf> },
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    #[error("cannot read the metadata {} of motion model {}: {source}. The exporter writes it beside the .onnx file; copy it along with the model", path.display(), model.display())]
    MetaRead {
        path: PathBuf,
        model: PathBuf,
        source: std::io::Error,
    },
    #[error("motion model metadata {} is not usable: {detail}", path.display())]
    MetaInvalid { path: PathBuf, detail: String },
    #[error(
        "motion model metadata {} says the model hears {model_hz} Hz audio, but persona's motion features are computed at {features_hz} Hz; this model was trained for other features and cannot be used",
        path.display()
    )]
    SampleRate {
        path: PathBuf,
        model_hz: u32,
        features_hz: u32,
    },
    #[error(
        "motion model {} does not match its metadata (SHA-256 {actual}, the metadata says {expected}): the file is corrupt or was replaced without its .json. Restore both from git, or export them again with scripts/motion/export.py",
        path.display()
    )]
    ModelHash {
        path: PathBuf,
        actual: String,
        expected: String,
    },
    #[error("cannot read motion model {}: {source}", path.display())]
    ModelRead { path: PathBuf, source: std::io::Error },
    #[error(
        "audio at {rate_hz} Hz was given to a motion stream set up for {expected_hz} Hz; resample it first (persona::audio::StreamResampler)"
    )]
    WrongStreamRate { rate_hz: u32, expected_hz: u32 },
    #[error("the motion model cannot take audio at {rate_hz} Hz: {detail}")]
    UnsupportedRate { rate_hz: u32, detail: String },
    #[error("the motion model worker has stopped (it failed earlier, or the process is shutting down)")]
    WorkerStopped,
}

/// Candidate locations of the shipped model, in search order: the working directory, the
/// checkout an executable under `target/` was built in, and the source checkout of this build.
pub fn shipped_model_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join(SHIPPED_MODEL));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(root) = exe.parent().and_then(Path::parent).and_then(Path::parent)
    {
        candidates.push(root.join(SHIPPED_MODEL));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(SHIPPED_MODEL));
    candidates.dedup();
    candidates
}

/// The shipped model's path, or an error listing where it was looked for.
pub fn shipped_model() -> Result<PathBuf, ModelError> {
    let candidates = shipped_model_candidates();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(ModelError::ShippedModelMissing { searched: candidates })
}
