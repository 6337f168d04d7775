//! The model-based listening backends (Silero VAD v5, Smart Turn v3) wired through a pipeline
//! file into a running session, with the repo's own signature-only test models.

mod common;

use common::listening::speak_at;
use common::*;
use persona::config::PipelineConfig;
use persona::pipeline::{PipelineError, Session, SessionInput, SessionOutput};
use persona::transport::{Pacing, WavSource};

fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures/onnx")
        .join(name)
        .display()
        .to_string()
}

fn pipeline(name: &str, vad_model: &str, turn_model: &str) -> std::path::PathBuf {
    let path = scratch().join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
name = "{name}"
[output]
width = 128
height = 128
[stages.vad]
backend = "silero"
model = "{vad_model}"
threshold = 0.3
[stages.turn]
backend = "smart-turn"
model = "{turn_model}"
[stages.stt]
model = "{whisper}"
max_tokens = 4
partial_interval_ms = 0
[stages.dialogue]
flow = "{flow}"
"#,
            whisper = tiny_whisper().display(),
            flow = repo().join("flows/front-desk-demo.toml").display(),
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silero_vad_and_smart_turn_run_in_a_session() {
    quiet_ggml();
    let config = PipelineConfig::load(&pipeline(
        "onnx-listening",
        &fixture("silero_vad_v5_signature.onnx"),
        &fixture("smart_turn_v3_signature.onnx"),
    ))
    .expect("valid pipeline");
    let mut audio = vec![0.0; 8_000];
    audio.extend(speak_at("What time does the clinic open tomorrow?", "en-us", 170));
    audio.extend(vec![0.0; 40_000]);
    let session = Session::start(
        &config,
        SessionInput::Conversation {
            source: WavSource::from_samples(audio, 16_000),
            pacing: Pacing::AsFastAsPossible,
        },
        SessionOutput::Discard,
    )
    .expect("the session starts with both models loaded");
    let metrics = session.wait().await.expect("the session ends cleanly");
    let stages = metrics.stage_summaries();
    let items = |name: &str| stages.iter().find(|s| s.name == name).map_or(0, |s| s.items);
    assert!(items("vad") >= 140, "every frame was scored by the model");
    assert!(items("turn") > 0);
}

#[test]
fn a_wrong_model_file_is_refused_before_the_session_starts() {
    // The VAD slot given the turn model: its signature names what is missing.
    let config = PipelineConfig::load(&pipeline(
        "swapped-models",
        &fixture("smart_turn_v3_signature.onnx"),
        &fixture("smart_turn_v3_signature.onnx"),
    ))
    .expect("the file itself is valid");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let error = Session::start(
        &config,
        SessionInput::Conversation {
            source: WavSource::from_samples(vec![0.0; 16_000], 16_000),
            pacing: Pacing::AsFastAsPossible,
        },
        SessionOutput::Discard,
    )
    .err()
    .expect("refused");
    assert!(matches!(error, PipelineError::Onnx(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("Silero VAD v5") && message.contains("smart_turn_v3_signature.onnx"),
        "{message}"
    );
}
