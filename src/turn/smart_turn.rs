//! Smart Turn v3 (pipecat-ai/smart-turn-v3) through ONNX Runtime: from the sound of the last
//! 8 s — intonation, a trailing filler, a cut-off word — the probability that the user is done.
//!
//! Signature: `input_features` float32 `[batch, 80, 800]` (see [`features`]) → `logits`
//! float32 `[batch, 1]`, which despite its name is already a probability (the exported graph
//! ends in a sigmoid). It is asked once per pause, after the VAD has heard
//! [`super::endpointer::MODEL_AFTER`] of silence; a whisper-tiny encoder, so tens of
//! milliseconds on one core (the turn stage runs on its own thread when it is configured).

pub mod features;

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef};

use super::{TurnError, TurnModel};
use crate::onnx::{Dim, OnnxError, SessionOptions, expect_signature, expect_tensor, open_session};
use features::{LogMel, N_FRAMES, N_MELS};

const EXPECTED: &str = "a Smart Turn v3 model (input input_features [N, 80, 800]; output logits [N, 1])";

/// A loaded Smart Turn v3 model with its feature extractor.
pub struct SmartTurn {
    session: Session,
    path: PathBuf,
    features: LogMel,
    input: Vec<f32>,
}

impl SmartTurn {
    /// Loads the model at `path` and checks its signature.
    pub fn load(path: &Path) -> Result<Self, OnnxError> {
        let session = open_session(path, SessionOptions::default())?;
        expect_signature(&session, path, EXPECTED, &["input_features"], &["logits"])?;
        let f32_ = TensorElementType::Float32;
        let feature_dims = [Dim::Any, Dim::Fixed(N_MELS as i64), Dim::Fixed(N_FRAMES as i64)];
        expect_tensor(&session, path, EXPECTED, "input_features", f32_, &feature_dims)?;
        expect_tensor(
            &session,
            path,
            EXPECTED,
            "logits",
            f32_,
            &[Dim::Any, Dim::Fixed(1)],
        )?;
        tracing::info!(model = %path.display(), "Smart Turn loaded");
        Ok(SmartTurn {
            session,
            path: path.to_path_buf(),
            features: LogMel::new(),
            input: vec![0.0; N_MELS * N_FRAMES],
        })
    }
}

impl TurnModel for SmartTurn {
    fn completion_probability(&mut self, audio_16k: &[f32]) -> Result<f32, TurnError> {
        self.features.compute(audio_16k, &mut self.input);
        let failed = |e: ort::Error| OnnxError::Run {
            path: self.path.clone(),
            detail: e.to_string(),
        };
        let outputs = self
            .session
            .run(ort::inputs![
                "input_features" => TensorRef::from_array_view(([1usize, N_MELS, N_FRAMES], &self.input[..])).map_err(failed)?,
            ])
            .map_err(failed)?;
        let (_, logits) = outputs["logits"].try_extract_tensor::<f32>().map_err(failed)?;
        let probability = logits.first().copied().ok_or_else(|| OnnxError::Run {
            path: self.path.clone(),
            detail: "the model returned no probability".into(),
        })?;
        Ok(if probability.is_finite() {
            probability.clamp(0.0, 1.0)
        } else {
            0.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/onnx")
            .join(name)
    }

    #[test]
    fn the_model_sees_the_features_of_the_audio() {
        let mut model = SmartTurn::load(&fixture("smart_turn_v3_signature.onnx")).expect("the fixture loads");
        // The fixture answers sigmoid(4 * mean(features)): recompute it here.
        let expected = |audio: &[f32]| {
            let mut f = vec![0.0; N_MELS * N_FRAMES];
            LogMel::new().compute(audio, &mut f);
            let mean = f.iter().sum::<f32>() / f.len() as f32;
            1.0 / (1.0 + (-4.0 * mean).exp())
        };
        let speechy: Vec<f32> = (0..24_000)
            .map(|i| 0.3 * (i as f32 * 0.05).sin() * (i as f32 * 0.001).sin())
            .collect();
        let short: Vec<f32> = speechy[..4_000].to_vec();
        for audio in [&speechy[..], &short[..]] {
            let p = model.completion_probability(audio).unwrap();
            assert!((p - expected(audio)).abs() < 1e-4, "{p} vs {}", expected(audio));
        }
        assert_ne!(
            model.completion_probability(&speechy).unwrap(),
            model.completion_probability(&short).unwrap()
        );
    }

    #[test]
    fn a_model_without_the_smart_turn_signature_is_rejected() {
        let message = SmartTurn::load(&fixture("silero_vad_v5_signature.onnx"))
            .err()
            .expect("not a turn model")
            .to_string();
        assert!(
            message.contains("Smart Turn v3") && message.contains("input_features"),
            "{message}"
        );
    }
}
