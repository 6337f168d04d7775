//! Helpers shared by the end-to-end tests: speech made with espeak-ng, the synthetic whisper
//! model, and pipeline files written into a temporary folder. Nothing here touches the network.

#![allow(dead_code)]

pub mod listening;
pub mod openai_server;
pub mod speaking;
pub mod video;

use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};

use persona::audio::{resample_all, write_wav};
use persona::tts::espeak::{Espeak, Flow, VoiceSettings};

/// whisper.cpp's ggml attaches gdb on abort unless told not to; set once before any thread
/// of the test binary touches whisper.
pub fn quiet_ggml() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        // SAFETY: tests that use whisper call this first; no thread reads the variable concurrently.
        unsafe { std::env::set_var("GGML_NO_BACKTRACE", "1") };
    });
}

/// A scratch folder that lives as long as the test binary.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir")).path()
}

/// The repo's synthetic whisper model, generated once per test binary.
pub fn tiny_whisper() -> PathBuf {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = scratch().join("tiny-random-whisper.bin");
            persona::stt::write_tiny_whisper(&path, 1).expect("write the synthetic whisper model");
            path
        })
        .clone()
}

/// `text` spoken by espeak-ng with `voice`, at `rate_hz`.
pub fn speak(text: &str, voice: &str, rate_hz: u32) -> Vec<f32> {
    let engine = Espeak::global().expect("espeak-ng is installed (./setup.sh)");
    let settings = VoiceSettings {
        voice: voice.to_string(),
        ..VoiceSettings::default()
    };
    let mut samples = Vec::new();
    engine
        .synthesize(text, &settings, &mut |chunk| {
            samples.extend(chunk.samples.iter().map(|s| *s as f32 / 32768.0));
            Flow::Continue
        })
        .expect("synthesis");
    resample_all(&samples, engine.sample_rate_hz(), rate_hz).expect("resample")
}

/// A conversation: silence, then each utterance followed by `pause_s` of silence.
pub fn conversation(utterances: &[(&str, &str)], lead_s: f32, pause_s: f32, rate_hz: u32) -> Vec<f32> {
    let silence = |s: f32| vec![0.0; (s * rate_hz as f32) as usize];
    let mut out = silence(lead_s);
    for (text, voice) in utterances {
        out.extend(speak(text, voice, rate_hz));
        out.extend(silence(pause_s));
    }
    out
}

pub fn write_conversation(name: &str, utterances: &[(&str, &str)], lead_s: f32, pause_s: f32) -> PathBuf {
    let path = scratch().join(name);
    write_wav(&path, &conversation(utterances, lead_s, pause_s, 16_000), 16_000).expect("write wav");
    path
}

/// The repo's folder (for flows and pipelines).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A pipeline file like pipelines/offline.toml, using the synthetic model, plus `extra` TOML.
pub fn offline_pipeline(name: &str, stt_budget_ms: f64) -> PathBuf {
    let text = format!(
        r#"
name = "{name}"
[output]
width = 256
height = 256
[stages.turn]
end_silence_ms = 600
[stages.stt]
model = "{model}"
max_tokens = 8
budget_ms = {stt_budget_ms}
[stages.dialogue]
flow = "{flow}"
[stages.render]
budget_ms = 40
"#,
        model = tiny_whisper().display(),
        flow = repo().join("flows/front-desk-demo.toml").display(),
    );
    let path = scratch().join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write pipeline");
    path
}

pub fn ffprobe_available() -> bool {
    std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}
