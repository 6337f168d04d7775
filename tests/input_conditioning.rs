//! Whatever the microphone or file gives — any rate, any channel count, a DC offset, clipping —
//! the listening side gets 16 kHz mono and still finds the turns; a file that cannot be used
//! gets a clear message and a usage exit code, never a panic.

mod common;

use std::path::Path;
use std::process::Command;

use common::listening::speak_at;
use common::*;
use persona::config::PipelineConfig;
use persona::pipeline::{Session, SessionInput, SessionOutput};
use persona::profile::ProfileReport;
use persona::transport::{Pacing, WavSource};

/// Writes `mono_16k` as a 44.1 kHz stereo 16-bit WAV with a DC offset and clipped peaks.
fn write_rough_stereo(path: &Path, mono_16k: &[f32]) {
    let audio = persona::audio::resample_all(mono_16k, 16_000, 44_100).unwrap();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for x in audio {
        // Too much gain (clipping), a biased converter (+0.2), the right channel a bit quieter.
        let left = (3.0 * x + 0.2).clamp(-1.0, 1.0);
        let right = (2.5 * x + 0.2).clamp(-1.0, 1.0);
        for v in [left, right] {
            writer.write_sample((v * i16::MAX as f32) as i16).unwrap();
        }
    }
    writer.finalize().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clipped_stereo_44k_recording_with_a_dc_offset_still_gives_its_turns() {
    quiet_ggml();
    let mut speech = vec![0.0; 8_000];
    speech.extend(speak_at("What time does the clinic open tomorrow?", "en-us", 170));
    speech.extend(vec![0.0; 24_000]);
    speech.extend(speak_at("Where should I park?", "en-gb-x-rp", 170));
    speech.extend(vec![0.0; 24_000]);
    let path = scratch().join("rough-stereo.wav");
    write_rough_stereo(&path, &speech);

    let source = WavSource::open(&path).expect("a rough recording is still readable");
    assert_eq!(source.audio.source_channels, 2);
    let warnings = source.audio.diagnostics.warnings();
    assert!(
        warnings.iter().any(|w| w.contains("clipped")) && warnings.iter().any(|w| w.contains("DC offset")),
        "{warnings:?}"
    );
    let config = PipelineConfig::load(&offline_pipeline("rough-input", 500.0)).expect("pipeline");
    let session = Session::start(
        &config,
        SessionInput::Conversation {
            source,
            pacing: Pacing::AsFastAsPossible,
        },
        SessionOutput::Discard,
    )
    .expect("the session starts");
    let metrics = session.wait().await.expect("the session ends cleanly");
    let report = ProfileReport::from_metrics(&metrics, "rough".into(), path.display().to_string(), 0.0);
    assert_eq!(report.turns.len(), 2, "{}", report.render_text());
}

fn persona(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_persona"))
        .args(args)
        .env("GGML_NO_BACKTRACE", "1")
        .output()
        .expect("the persona binary runs")
}

#[test]
fn unusable_input_files_are_reported_by_name_with_a_usage_exit_code() {
    let dir = scratch().join("bad-inputs");
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&empty, spec)
        .unwrap()
        .finalize()
        .unwrap();
    let text = dir.join("notes.wav");
    std::fs::write(&text, "this is not audio").unwrap();
    let alaw_file = dir.join("a-law.wav");
    // A WAV header for 8 kHz A-law (format tag 6): a format persona does not read.
    let mut alaw = Vec::new();
    alaw.extend_from_slice(b"RIFF");
    alaw.extend_from_slice(&(36u32 + 8).to_le_bytes());
    alaw.extend_from_slice(b"WAVEfmt ");
    alaw.extend_from_slice(&16u32.to_le_bytes());
    alaw.extend_from_slice(&6u16.to_le_bytes());
    alaw.extend_from_slice(&1u16.to_le_bytes());
    alaw.extend_from_slice(&8_000u32.to_le_bytes());
    alaw.extend_from_slice(&8_000u32.to_le_bytes());
    alaw.extend_from_slice(&1u16.to_le_bytes());
    alaw.extend_from_slice(&8u16.to_le_bytes());
    alaw.extend_from_slice(b"data");
    alaw.extend_from_slice(&8u32.to_le_bytes());
    alaw.extend_from_slice(&[0xd5; 8]);
    std::fs::write(&alaw_file, alaw).unwrap();
    let pipeline = offline_pipeline("bad-inputs", 500.0);

    for (file, expected) in [
        (&empty, "contains no audio samples"),
        (&text, "is not a readable WAV file"),
        (&alaw_file, "unsupported"),
    ] {
        let out = persona(&[
            "profile",
            "--pipeline",
            pipeline.to_str().unwrap(),
            "--input",
            file.to_str().unwrap(),
            "--fast",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", file.display());
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
        assert!(stderr.contains(expected), "{}: {stderr}", file.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
