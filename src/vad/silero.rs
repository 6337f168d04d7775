//! Silero VAD v5 through ONNX Runtime: a small neural VAD, far better than the GMM at telling
//! speech from noise, at about a millisecond per 32 ms window on one core.
//!
//! The v5 model takes exactly 512 samples at 16 kHz (32 ms) per call, preceded by the last 64
//! samples of the previous call (its context), plus its recurrent state `[2, 1, 128]` and the
//! rate as a scalar `sr`; it returns the speech probability `[1, 1]` and the next state
//! `stateN`. The pipeline's frames are 20 ms, so frames are buffered into windows: each frame
//! reports the probability of the most recent complete window, at most 32 ms behind the
//! frame's end. The state and context are per stream: [`SileroVad::reset`] starts a new one.
//!
//! Inference is milliseconds of compute: the VAD stage runs on its own thread with this backend.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef};

use super::{VadError, VoiceDetector};
use crate::audio::LISTEN_RATE_HZ;
use crate::onnx::{Dim, OnnxError, SessionOptions, expect_signature, expect_tensor, open_session};

/// Samples per model call at 16 kHz.
pub const WINDOW_SAMPLES: usize = 512;
/// Samples of the previous call prepended to each window.
pub const CONTEXT_SAMPLES: usize = 64;
const INPUT_SAMPLES: usize = CONTEXT_SAMPLES + WINDOW_SAMPLES;
/// The recurrent state: [2, batch = 1, 128].
const STATE_SHAPE: [usize; 3] = [2, 1, 128];
const STATE_LEN: usize = 2 * 128;
/// Most audio a frame can leave waiting for the next window.
const MAX_PENDING: usize = WINDOW_SAMPLES + crate::audio::LISTEN_FRAME_SAMPLES;

const EXPECTED: &str = "a Silero VAD v5 model (inputs input [1, 576], state [2, 1, 128], sr int64; \
     outputs output [1, 1], stateN [2, 1, 128])";

/// One stream's Silero VAD.
pub struct SileroVad {
    session: Session,
    path: PathBuf,
    /// Context followed by the window being filled.
    input: [f32; INPUT_SAMPLES],
    state: [f32; STATE_LEN],
    /// 16 kHz samples not yet part of a window.
    pending: Vec<f32>,
    last_probability: f32,
}

impl SileroVad {
    /// Loads the model at `path` and checks it has the v5 signature.
    pub fn load(path: &Path) -> Result<Self, OnnxError> {
        let session = open_session(path, SessionOptions::default())?;
        expect_signature(
            &session,
            path,
            EXPECTED,
            &["input", "state", "sr"],
            &["output", "stateN"],
        )?;
        let f32_ = TensorElementType::Float32;
        expect_tensor(&session, path, EXPECTED, "input", f32_, &[Dim::Any, Dim::Any])?;
        let state_dims = [Dim::Fixed(2), Dim::Any, Dim::Fixed(128)];
        expect_tensor(&session, path, EXPECTED, "state", f32_, &state_dims)?;
        expect_tensor(&session, path, EXPECTED, "stateN", f32_, &state_dims)?;
        expect_tensor(&session, path, EXPECTED, "sr", TensorElementType::Int64, &[])?;
        expect_tensor(
            &session,
            path,
            EXPECTED,
            "output",
            f32_,
            &[Dim::Any, Dim::Fixed(1)],
        )?;
        tracing::info!(model = %path.display(), "Silero VAD loaded");
        Ok(SileroVad {
            session,
            path: path.to_path_buf(),
            input: [0.0; INPUT_SAMPLES],
            state: [0.0; STATE_LEN],
            pending: Vec::with_capacity(MAX_PENDING),
            last_probability: 0.0,
        })
    }

    /// Runs one window (already in `self.input` after the context); returns its probability.
    fn run_window(&mut self) -> Result<f32, VadError> {
        let failed =
            |e: ort::Error| VadError::Backend(format!("Silero VAD ({}) failed: {e}", self.path.display()));
        let rate = [LISTEN_RATE_HZ as i64];
        let outputs = self
            .session
            .run(ort::inputs![
                "input" => TensorRef::from_array_view(([1usize, INPUT_SAMPLES], &self.input[..])).map_err(failed)?,
                "state" => TensorRef::from_array_view((STATE_SHAPE, &self.state[..])).map_err(failed)?,
                "sr" => TensorRef::from_array_view(([0usize; 0], &rate[..])).map_err(failed)?,
            ])
            .map_err(failed)?;
        let (_, probability) = outputs["output"].try_extract_tensor::<f32>().map_err(failed)?;
        let (_, next_state) = outputs["stateN"].try_extract_tensor::<f32>().map_err(failed)?;
        if next_state.len() != STATE_LEN || probability.is_empty() {
            return Err(VadError::Backend(format!(
                "Silero VAD ({}) returned {} state values and {} probabilities; expected {STATE_LEN} and 1",
                self.path.display(),
                next_state.len(),
                probability.len()
            )));
        }
        self.state.copy_from_slice(next_state);
        Ok(probability[0].clamp(0.0, 1.0))
    }
}

impl VoiceDetector for SileroVad {
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError> {
        self.pending.extend_from_slice(frame);
        let mut consumed = 0;
        while self.pending.len() - consumed >= WINDOW_SAMPLES {
            self.input[CONTEXT_SAMPLES..].copy_from_slice(&self.pending[consumed..consumed + WINDOW_SAMPLES]);
            consumed += WINDOW_SAMPLES;
            self.last_probability = self.run_window()?;
            // The next call's context is the end of this window.
            self.input.copy_within(INPUT_SAMPLES - CONTEXT_SAMPLES.., 0);
        }
        self.pending.drain(..consumed);
        Ok(self.last_probability)
    }

    fn reset(&mut self) {
        self.input = [0.0; INPUT_SAMPLES];
        self.state = [0.0; STATE_LEN];
        self.pending.clear();
        self.last_probability = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::LISTEN_FRAME_SAMPLES;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/onnx")
            .join(name)
    }

    /// The fixture's arithmetic (scripts/onnx/make_test_models.py), replayed over a stream.
    fn expected(stream: &[f32]) -> Vec<f32> {
        let mut context = [0.0_f32; CONTEXT_SAMPLES];
        let mut state_mean = 0.0_f32;
        let mut out = Vec::new();
        for window in stream.chunks_exact(WINDOW_SAMPLES) {
            let input: Vec<f32> = context.iter().chain(window).copied().collect();
            let energy = input.iter().map(|x| x * x).sum::<f32>() / input.len() as f32;
            out.push(1.0 / (1.0 + (-(50.0 * energy - 3.0 + state_mean)).exp()));
            state_mean = 0.5 * state_mean + 1.0;
            context.copy_from_slice(&window[WINDOW_SAMPLES - CONTEXT_SAMPLES..]);
        }
        out
    }

    fn stream() -> Vec<f32> {
        // Loud, then quiet, then loud again: the energy differs per window, so a missing
        // context or state would change the numbers.
        (0..16 * LISTEN_FRAME_SAMPLES)
            .map(|i| {
                let level = if (i / 1_000) % 2 == 0 { 0.4 } else { 0.05 };
                level * (i as f32 * 0.07).sin()
            })
            .collect()
    }

    #[test]
    fn frames_are_windowed_with_context_and_the_state_is_carried() {
        let mut vad = SileroVad::load(&fixture("silero_vad_v5_signature.onnx")).expect("the fixture loads");
        let audio = stream();
        let want = expected(&audio);
        let mut windows_done = 0;
        for (k, frame) in audio.chunks_exact(LISTEN_FRAME_SAMPLES).enumerate() {
            let p = vad.speech_probability(frame).unwrap();
            let complete = (k + 1) * LISTEN_FRAME_SAMPLES / WINDOW_SAMPLES;
            if complete == 0 {
                assert_eq!(p, 0.0, "frame {k}: no window yet");
            } else {
                assert!(
                    (p - want[complete - 1]).abs() < 1e-5,
                    "frame {k}: {p} vs {}",
                    want[complete - 1]
                );
                windows_done = complete;
            }
        }
        assert_eq!(windows_done, 10, "16 frames of 320 samples are 10 windows of 512");

        // A new stream starts from zero state and context.
        vad.reset();
        let mut first = 0.0;
        for frame in audio.chunks_exact(LISTEN_FRAME_SAMPLES).take(2) {
            first = vad.speech_probability(frame).unwrap();
        }
        assert!((first - want[0]).abs() < 1e-5);
    }

    #[test]
    fn a_model_without_the_v5_signature_is_rejected_by_name() {
        let path = fixture("smart_turn_v3_signature.onnx");
        let message = SileroVad::load(&path).err().expect("not a VAD").to_string();
        assert!(
            message.contains("Silero VAD v5") && message.contains("input `state`"),
            "{message}"
        );
        let missing = SileroVad::load(Path::new("/nonexistent/silero_vad.onnx"))
            .err()
            .unwrap();
        assert!(matches!(missing, OnnxError::ModelMissing { .. }), "{missing}");
    }
}
