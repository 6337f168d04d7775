//! The motion model's ONNX session: load, check, and run chunks in batches.
//!
//! One call runs the whole sampler (every flow step) for a batch of chunks of the same length;
//! [`MotionNet::run`] stacks the requests, runs once and splits the result. The model opens
//! through [`crate::onnx::open_session`] like every ONNX backend, after its metadata
//! ([`ModelMeta`]) has been checked and the file's SHA-256 compared with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::Array3;
use ort::session::Session;
use ort::value::Tensor;

use super::{ModelError, ModelMeta};
use crate::motion::features::MEL_BINS;
use crate::motion::spec::CHANNEL_COUNT;
use crate::onnx::{self, OnnxError, SessionOptions};

const INPUTS: [&str; 3] = ["mel", "prev_motion", "noise"];
const OUTPUTS: [&str; 1] = ["motion"];

/// The inputs of one chunk of one stream, flattened row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkRequest {
    /// Video frames in the chunk (`F`).
    pub frames: usize,
    /// `[mel_window_frames(F), 80]` raw log-mel, oldest first.
    pub mel: Vec<f32>,
    /// `[context_frames, 17]` the frames before the chunk, in channel units.
    pub prev_motion: Vec<f32>,
    /// `[F, 17]` standard normal noise.
    pub noise: Vec<f32>,
}

/// Checks a model file and its metadata without loading it: the file exists, the metadata
/// beside it is usable by this build, and the file's SHA-256 is the one the metadata names.
pub fn check_files(path: &Path) -> Result<ModelMeta, ModelError> {
    if !path.is_file() {
        return Err(OnnxError::ModelMissing {
            path: path.to_path_buf(),
        }
        .into());
    }
    let meta = ModelMeta::load_for(path)?;
    let actual = crate::models::sha256_hex(path).map_err(|source| ModelError::ModelRead {
        path: path.to_path_buf(),
        source,
    })?;
    if !actual.eq_ignore_ascii_case(&meta.model_sha256) {
        return Err(ModelError::ModelHash {
            path: path.to_path_buf(),
            actual,
            expected: meta.model_sha256.clone(),
        });
    }
    Ok(meta)
}

/// A loaded motion model.
pub struct MotionNet {
    session: Session,
    meta: Arc<ModelMeta>,
    path: PathBuf,
}

impl MotionNet {
    /// Opens the model at `path` with the metadata beside it.
    pub fn load(path: &Path, options: SessionOptions) -> Result<MotionNet, ModelError> {
        let meta = check_files(path)?;
        let session = onnx::open_session(path, options)?;
        onnx::expect_signature(&session, path, "a persona motion model", &INPUTS, &OUTPUTS)?;
        tracing::debug!(
            model = %path.display(),
            parameters = meta.parameters,
            steps = meta.steps,
            "motion model loaded"
        );
        Ok(MotionNet {
            session,
            meta: Arc::new(meta),
            path: path.to_path_buf(),
        })
    }

    pub fn meta(&self) -> &Arc<ModelMeta> {
        &self.meta
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs chunks of one length as one batch; returns each chunk's `[F, 17]` poses in channel
    /// units (not clamped), in request order.
    ///
    /// # Panics
    /// If the requests differ in length or their buffers do not match their `frames` (a bug in
    /// the caller: [`super::ModelMotion`] builds them).
    pub fn run(&mut self, requests: &[&ChunkRequest]) -> Result<Vec<Vec<f32>>, ModelError> {
        let Some(first) = requests.first() else {
            return Ok(Vec::new());
        };
        let frames = first.frames;
        let batch = requests.len();
        let mel_frames = self.meta.mel_window_frames(frames);
        let context = self.meta.context_frames;
        let mut mel = Vec::with_capacity(batch * mel_frames * MEL_BINS);
        let mut prev = Vec::with_capacity(batch * context * CHANNEL_COUNT);
        let mut noise = Vec::with_capacity(batch * frames * CHANNEL_COUNT);
        for request in requests {
            assert_eq!(request.frames, frames, "a batch holds chunks of one length");
            assert_eq!(request.mel.len(), mel_frames * MEL_BINS, "mel window size");
            assert_eq!(request.prev_motion.len(), context * CHANNEL_COUNT, "context size");
            assert_eq!(request.noise.len(), frames * CHANNEL_COUNT, "noise size");
            mel.extend_from_slice(&request.mel);
            prev.extend_from_slice(&request.prev_motion);
            noise.extend_from_slice(&request.noise);
        }
        let run_error = |detail: String| {
            ModelError::Onnx(OnnxError::Run {
                path: self.path.clone(),
                detail,
            })
        };
        let shape_error = |e: ndarray::ShapeError| run_error(e.to_string());
        let mel = Array3::from_shape_vec((batch, mel_frames, MEL_BINS), mel).map_err(shape_error)?;
        let prev = Array3::from_shape_vec((batch, context, CHANNEL_COUNT), prev).map_err(shape_error)?;
        let noise = Array3::from_shape_vec((batch, frames, CHANNEL_COUNT), noise).map_err(shape_error)?;
        let inputs = ort::inputs![
            "mel" => Tensor::from_array(mel).map_err(|e| run_error(e.to_string()))?,
            "prev_motion" => Tensor::from_array(prev).map_err(|e| run_error(e.to_string()))?,
            "noise" => Tensor::from_array(noise).map_err(|e| run_error(e.to_string()))?,
        ];
        let path = self.path.clone();
        let outputs = self.session.run(inputs).map_err(|e| {
            ModelError::Onnx(OnnxError::Run {
                path: path.clone(),
                detail: e.to_string(),
            })
        })?;
        let motion = outputs["motion"].try_extract_array::<f32>().map_err(|e| {
            ModelError::Onnx(OnnxError::Run {
                path: path.clone(),
                detail: e.to_string(),
            })
        })?;
        if motion.shape() != [batch, frames, CHANNEL_COUNT] {
            return Err(ModelError::Onnx(OnnxError::Run {
                path,
                detail: format!(
                    "the output `motion` has shape {:?}, expected [{batch}, {frames}, {CHANNEL_COUNT}]",
                    motion.shape()
                ),
            }));
        }
        let flat: Vec<f32> = motion.iter().copied().collect();
        Ok(flat
            .chunks_exact(frames * CHANNEL_COUNT)
            .map(<[f32]>::to_vec)
            .collect())
    }
}
