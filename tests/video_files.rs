//! `persona say` writes files that players accept: WebM (VP8 + Opus) by default and MP4 (H.264 +
//! Opus) on request, at the configured size and rate, with audio and video lasting the same time
//! to within a frame, and a mouth that moves with the audio in both.

mod common;

use std::path::Path;
use std::process::Command;

use common::video::{assert_closed_in_silence, best_lag, frame_energy_at, mouth_openness, probe};
use common::*;

const SENTENCE: &str = "Good morning. Please take a seat, the nurse will be with you shortly.";

fn say(out: &Path, pipeline: Option<&Path>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_persona"));
    command.args(["say", SENTENCE, "--out"]).arg(out);
    if let Some(pipeline) = pipeline {
        command.arg("--pipeline").arg(pipeline);
    }
    let output = command.output().expect("persona runs");
    assert!(
        output.status.success(),
        "persona say failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn check(video: &Path, codecs: (&str, &str), size: (u32, u32), fps: u32) {
    let p = probe(video);
    assert_eq!((p.video_codec.as_str(), p.audio_codec.as_str()), codecs, "{p:?}");
    assert_eq!((p.width, p.height), size, "{p:?}");
    assert_eq!(p.frame_rate, format!("{fps}/1"), "{p:?}");
    let (v, a) = (p.video_seconds(fps as f64), p.audio_seconds());
    assert!(a > 2.0, "a few seconds of speech: {p:?}");
    assert!(
        (v - a).abs() <= 1.0 / fps as f64 + 1e-6,
        "video {v:.3} s vs audio {a:.3} s: {p:?}"
    );

    let open = mouth_openness(video, size.0 as usize, size.1 as usize);
    let energy = frame_energy_at(video, open.len(), fps as usize);
    assert_closed_in_silence(&open, &energy);
    let (lag, r) = best_lag(&energy, &open);
    assert!(lag.abs() <= 1 && r > 0.3, "mouth follows audio: lag {lag}, r {r}");
}

#[test]
fn webm_is_vp8_and_opus_at_the_configured_size_and_rate() {
    if !ffprobe_available() {
        println!("skipped: ffmpeg/ffprobe not found (./setup.sh installs ffmpeg)");
        return;
    }
    let video = scratch().join("files.webm");
    say(&video, None);
    check(&video, ("vp8", "opus"), (512, 512), 25);
}

#[test]
fn mp4_is_h264_and_opus_and_follows_the_pipelines_size_and_rate() {
    if !ffprobe_available() {
        println!("skipped: ffmpeg/ffprobe not found (./setup.sh installs ffmpeg)");
        return;
    }
    let pipeline = scratch().join("wide.toml");
    std::fs::write(&pipeline, "[output]\nwidth = 640\nheight = 360\nfps = 30\n").unwrap();
    let video = scratch().join("files.mp4");
    say(&video, Some(&pipeline));
    check(&video, ("h264", "opus"), (640, 360), 30);
}

#[test]
fn an_unknown_extension_is_a_usage_error_naming_the_formats() {
    let out = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args(["say", "hello", "--out", "/tmp/never-written.avi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(".webm") && stderr.contains(".mp4") && stderr.contains("`.avi`"),
        "{stderr}"
    );
}
