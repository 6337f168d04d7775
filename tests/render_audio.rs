//! `persona render --audio` lip-syncs the face to any recording: the mouth opens with the
//! speech and is closed in the silences around it.

mod common;

use std::process::Command;

use common::video::{best_lag, frame_energy, mouth_openness};
use common::*;

#[test]
fn render_moves_the_mouth_with_a_recording_it_has_no_timings_for() {
    if !ffprobe_available() {
        println!("skipped: ffmpeg/ffprobe not found (./setup.sh installs ffmpeg)");
        return;
    }
    // A 44.1 kHz stereo recording with silence around the speech: any format must work.
    let speech = conversation(
        &[("Thank you for waiting, the doctor will see you now.", "en-us+m3")],
        0.6,
        0.8,
        44_100,
    );
    let stereo: Vec<f32> = speech.iter().flat_map(|s| [*s, *s]).collect();
    let wav = scratch().join("recording.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    for s in stereo {
        writer.write_sample((s * 32767.0) as i16).unwrap();
    }
    writer.finalize().unwrap();

    let video = scratch().join("recording.webm");
    let status = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args(["render", "--audio"])
        .arg(&wav)
        .arg("--out")
        .arg(&video)
        .status()
        .unwrap();
    assert!(status.success());

    let open = mouth_openness(&video, 512, 512);
    let energy = frame_energy(&video, open.len());
    let expected_frames = (speech.len() as f64 / 44_100.0 * 25.0).ceil() as usize;
    assert!(
        open.len().abs_diff(expected_frames) <= 1,
        "{} frames for {expected_frames} expected",
        open.len()
    );
    assert!(
        open[..10].iter().all(|o| *o < 0.02),
        "closed in the leading silence: {:?}",
        &open[..10]
    );
    assert!(
        open[open.len() - 10..].iter().all(|o| *o < 0.02),
        "closed in the trailing silence"
    );
    assert!(
        open.iter().filter(|o| **o > 0.05).count() > 10,
        "the mouth opens while speaking"
    );
    let (lag, r) = best_lag(&energy, &open);
    assert!(lag.abs() <= 1 && r > 0.3, "mouth follows audio: lag {lag}, r {r}");
}

#[test]
fn a_missing_or_broken_input_is_a_usage_error_that_names_the_file() {
    let broken = scratch().join("broken.wav");
    std::fs::write(&broken, b"RIFF....not really a wave file").unwrap();
    for input in [scratch().join("does-not-exist.wav"), broken] {
        let out = Command::new(env!("CARGO_BIN_EXE_persona"))
            .args(["render", "--audio"])
            .arg(&input)
            .args(["--out", "/tmp/never-written.webm"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&*input.to_string_lossy()), "{stderr}");
    }
}
