//! `persona say` writes a video whose mouth follows the audio: checked on the decoded file, not
//! on internal state. Mouth openness is measured on the rendered pixels of the mouth region;
//! audio energy and phoneme timings come from the decoded audio and from espeak-ng.

mod common;

use std::process::Command;

use common::video::{assert_closed_in_silence, best_lag, frame_energy, mouth_openness};
use common::*;
use persona::config::{PipelineConfig, TtsBackend};
use persona::tts::espeak::{Espeak, Flow, VoiceSettings};

const SENTENCE: &str = "Hello, I am your intake assistant. Please bring a map.";
const FPS: usize = 25;

/// Spans (in seconds) of the bilabial closures espeak-ng produces for the sentence.
fn bilabial_spans(voice: &VoiceSettings) -> Vec<(f64, f64)> {
    let engine = Espeak::global().unwrap();
    let mut marks = Vec::new();
    engine
        .synthesize(SENTENCE, voice, &mut |chunk| {
            marks.extend(
                chunk
                    .phonemes
                    .iter()
                    .map(|m| (m.symbol.as_str().to_string(), m.start_sample)),
            );
            Flow::Continue
        })
        .unwrap();
    let rate = engine.sample_rate_hz() as f64;
    marks
        .windows(2)
        .filter(|w| matches!(w[0].0.trim_start_matches(['\'', ',']), "p" | "b" | "m"))
        .map(|w| (w[0].1 as f64 / rate, w[1].1 as f64 / rate))
        .collect()
}

#[test]
fn say_writes_a_video_whose_mouth_follows_the_speech() {
    if !ffprobe_available() {
        println!("skipped: ffmpeg/ffprobe not found (./setup.sh installs ffmpeg)");
        return;
    }
    let video = scratch().join("hello.webm");
    let status = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args(["say", SENTENCE, "--out"])
        .arg(&video)
        .status()
        .expect("persona runs");
    assert!(status.success());

    let config = PipelineConfig::embedded_default();
    let (width, height) = (config.output.width as usize, config.output.height as usize);
    let open = mouth_openness(&video, width, height);
    let energy = frame_energy(&video, open.len());
    assert!(
        open.len() > 50,
        "a few seconds of video, got {} frames",
        open.len()
    );

    assert_closed_in_silence(&open, &energy);
    let loudest = energy.iter().cloned().fold(0.0, f32::max);

    // Loud (voiced) frames: mostly open.
    let loud: Vec<usize> = (0..open.len()).filter(|&k| energy[k] > 0.4 * loudest).collect();
    let open_when_loud = loud.iter().filter(|&&k| open[k] > 0.03).count();
    assert!(
        open_when_loud * 10 >= loud.len() * 7,
        "{open_when_loud} of {} loud frames open",
        loud.len()
    );

    // Every /p b m/ closure shows a closed mouth in a frame it overlaps.
    let TtsBackend::Espeak {
        voice,
        rate_wpm,
        pitch,
    } = &config.tts.backend
    else {
        panic!("this test speaks with espeak-ng");
    };
    let settings = VoiceSettings {
        voice: voice.clone(),
        rate_wpm: *rate_wpm,
        pitch: *pitch,
    };
    let spans = bilabial_spans(&settings);
    assert!(spans.len() >= 3, "the sentence has bilabials: {spans:?}");
    for (start, end) in spans {
        let first = (start * FPS as f64) as usize;
        let last = ((end * FPS as f64) as usize).min(open.len() - 1);
        let closed = (first..=last).map(|k| open[k]).fold(f32::MAX, f32::min);
        assert!(
            closed < 0.01,
            "closure at {start:.3}-{end:.3} s: frames {first}..={last} never close ({closed})"
        );
    }

    // The mouth moves with the audio: the lag that best aligns energy and openness is 0 ± 1 frame.
    let (best, r) = best_lag(&energy, &open);
    assert!(best.abs() <= 1, "audio and mouth are offset by {best} frames");
    assert!(r > 0.3, "mouth openness barely follows the audio: r = {r}");
}
