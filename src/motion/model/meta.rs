//! The metadata beside a motion model (`motion-fm.json` next to `motion-fm.onnx`): what the
//! network was trained on, checked against what this build computes before the model is used.
//!
//! A model is only usable when its features are exactly [`crate::motion::features`] (16 kHz,
//! 10 ms hop, 25 ms window, 80 mel bands), its frame rate is the dataset's 25 fps, and its
//! channels are [`Channel::ALL`] in order: anything else would run and produce nonsense, so it is
//! refused here with the offending value. The metadata also names the ONNX file's SHA-256, so a
//! model file replaced without its metadata (or truncated) is caught before ONNX Runtime sees it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ModelError;
use crate::motion::features;
use crate::motion::spec::{CHANNEL_COUNT, Channel};

/// The `format` value the exporter writes.
pub const FORMAT: &str = "persona-motion-model";
/// The metadata layout this build reads.
pub const FORMAT_VERSION: u32 = 1;
/// Longest lookahead a model may have: the streaming budget.
pub const MAX_LOOKAHEAD_MS: u32 = 100;

/// Model metadata, as written by `scripts/motion/export.py`.
#[derive(Clone, Debug, Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub format_version: u32,
    pub model_file: String,
    pub model_sha256: String,
    pub sample_rate_hz: u32,
    pub window_samples: usize,
    pub hop_samples: usize,
    pub n_mels: usize,
    pub fps: u32,
    pub features_per_frame: usize,
    /// Clean motion frames before each chunk the network conditions on.
    pub context_frames: usize,
    /// Feature frames past the chunk's end the network reads (and before the context).
    pub lookahead_features: usize,
    pub lookahead_ms: u32,
    /// The chunk length the model was exported for streaming (frames).
    pub stream_chunk_frames: usize,
    /// Sampling steps inside the graph.
    pub steps: u32,
    pub channels: Vec<String>,
    /// Channels the network produces; the rest are owned by the idle overlay and set to zero.
    pub generated_channels: Vec<String>,
    pub training_data_hash: String,
    #[serde(default)]
    pub parameters: u64,
    #[serde(default)]
    pub training: serde_json::Value,
}

impl ModelMeta {
    /// The metadata file that belongs to a model file: the same name with `.json`.
    pub fn path_for(model: &Path) -> PathBuf {
        model.with_extension("json")
    }

    /// Reads and checks the metadata beside `model`.
    pub fn load_for(model: &Path) -> Result<ModelMeta, ModelError> {
        let path = Self::path_for(model);
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::MetaRead {
            path: path.clone(),
            model: model.to_path_buf(),
            source,
        })?;
        let meta: ModelMeta = serde_json::from_str(&text).map_err(|e| ModelError::MetaInvalid {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        meta.check(&path)?;
        Ok(meta)
    }

    /// Checks that the model hears what persona computes and speaks persona's channels.
    pub fn check(&self, path: &Path) -> Result<(), ModelError> {
        let invalid = |detail: String| {
            Err(ModelError::MetaInvalid {
                path: path.to_path_buf(),
                detail,
            })
        };
        if self.format != FORMAT {
            return invalid(format!("`format` is {:?}, expected {FORMAT:?}", self.format));
        }
        if self.format_version != FORMAT_VERSION {
            return invalid(format!(
                "`format_version` is {}, this build reads {FORMAT_VERSION}; export the model again with scripts/motion/export.py",
                self.format_version
            ));
        }
        if self.sample_rate_hz != features::SAMPLE_RATE_HZ {
            return Err(ModelError::SampleRate {
                path: path.to_path_buf(),
                model_hz: self.sample_rate_hz,
                features_hz: features::SAMPLE_RATE_HZ,
            });
        }
        let feature_checks = [
            ("window_samples", self.window_samples, features::WINDOW_SAMPLES),
            ("hop_samples", self.hop_samples, features::HOP_SAMPLES),
            ("n_mels", self.n_mels, features::MEL_BINS),
            (
                "features_per_frame",
                self.features_per_frame,
                features::SAMPLE_RATE_HZ as usize / self.fps.max(1) as usize / features::HOP_SAMPLES,
            ),
        ];
        for (key, have, want) in feature_checks {
            if have != want {
                return invalid(format!(
                    "`{key}` is {have}, but persona's log-mel features have {want}; the model was trained on other features"
                ));
            }
        }
        if self.fps == 0 || !features::SAMPLE_RATE_HZ.is_multiple_of(self.fps * features::HOP_SAMPLES as u32)
        {
            return invalid(format!(
                "`fps` {} is not a whole number of 10 ms hops per frame",
                self.fps
            ));
        }
        if self.lookahead_ms > MAX_LOOKAHEAD_MS
            || self.lookahead_features * features::HOP_SAMPLES * 1000 / features::SAMPLE_RATE_HZ as usize
                != self.lookahead_ms as usize
        {
            return invalid(format!(
                "lookahead of {} feature frames / {} ms is inconsistent or above the {MAX_LOOKAHEAD_MS} ms streaming budget",
                self.lookahead_features, self.lookahead_ms
            ));
        }
        if self.context_frames == 0 || self.stream_chunk_frames == 0 {
            return invalid("`context_frames` and `stream_chunk_frames` must be at least 1".into());
        }
        if !(1..=8).contains(&self.steps) {
            return invalid(format!("`steps` is {}, expected 1 to 8", self.steps));
        }
        let expected: Vec<&str> = Channel::ALL.iter().map(|c| c.name()).collect();
        if self.channels != expected {
            return invalid(format!(
                "its channels are {:?}, but persona's motion vector is {expected:?} (src/motion/spec.rs)",
                self.channels
            ));
        }
        if let Some(unknown) = self
            .generated_channels
            .iter()
            .find(|name| Channel::from_name(name).is_none())
        {
            return invalid(format!(
                "`generated_channels` names an unknown channel {unknown:?}"
            ));
        }
        if self.model_sha256.len() != 64 || !self.model_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return invalid(format!(
                "`model_sha256` {:?} is not a SHA-256 in hex",
                self.model_sha256
            ));
        }
        Ok(())
    }

    /// 16 kHz samples per video frame (640 at 25 fps).
    pub fn samples_per_frame(&self) -> usize {
        (self.sample_rate_hz / self.fps) as usize
    }

    /// Feature frames the `mel` input holds for a chunk of `frames` video frames.
    pub fn mel_window_frames(&self, frames: usize) -> usize {
        self.features_per_frame * (self.context_frames + frames) + 2 * self.lookahead_features
    }

    /// Which channels the network generates, by position.
    pub fn generated_mask(&self) -> [bool; CHANNEL_COUNT] {
        let mut mask = [false; CHANNEL_COUNT];
        for name in &self.generated_channels {
            if let Some(channel) = Channel::from_name(name) {
                mask[channel as usize] = true;
            }
        }
        mask
    }
}
