//! The listening side driven by hand, on the input's sample clock: espeak speech and synthetic
//! noises through the real WebRTC VAD into the turn core, with the avatar's state scripted.

use persona::audio::{AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ};
use persona::config::{PipelineConfig, TurnConfig};
use persona::tts::espeak::{Espeak, Flow, VoiceSettings};
use persona::turn::{EndpointEvent, Endpointer};
use persona::vad::{VoiceDetector, WebRtcVad};

/// `text` spoken by espeak-ng with `voice` at `rate_wpm` words per minute, 16 kHz.
pub fn speak_at(text: &str, voice: &str, rate_wpm: u32) -> Vec<f32> {
    let engine = Espeak::global().expect("espeak-ng is installed (./setup.sh)");
    let settings = VoiceSettings {
        voice: voice.to_string(),
        rate_wpm,
        ..VoiceSettings::default()
    };
    let mut samples = Vec::new();
    engine
        .synthesize(text, &settings, &mut |chunk| {
            samples.extend(chunk.samples.iter().map(|s| *s as f32 / 32768.0));
            Flow::Continue
        })
        .expect("synthesis");
    persona::audio::resample_all(&samples, engine.sample_rate_hz(), LISTEN_RATE_HZ).expect("resample")
}

pub fn silence(ms: u32) -> Vec<f32> {
    vec![0.0; ms as usize * LISTEN_RATE_HZ as usize / 1000]
}

fn noise(len: usize, seed: u32) -> impl Iterator<Item = f32> {
    let mut state = seed.max(1);
    (0..len).map(move |_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as f32 / u32::MAX as f32 * 2.0 - 1.0
    })
}

/// A click: a 150 ms train of sharp decaying transients (a pen, a knock, a tap on the mic).
pub fn click(ms: u32) -> Vec<f32> {
    let len = ms as usize * LISTEN_RATE_HZ as usize / 1000;
    let mut out = vec![0.0; len];
    // A transient every 30 ms, each a 5 ms burst of noise decaying fast.
    for start in (0..len).step_by(LISTEN_RATE_HZ as usize * 30 / 1000) {
        for (i, n) in noise(80, start as u32 + 3).enumerate() {
            if start + i < len {
                out[start + i] = 0.8 * n * (-(i as f32) / 12.0).exp();
            }
        }
    }
    out
}

/// A cough-like burst: broadband noise, shaped by a sharp attack and a slower decay, loud.
pub fn cough(ms: u32) -> Vec<f32> {
    let len = ms as usize * LISTEN_RATE_HZ as usize / 1000;
    let mut low = 0.0_f32;
    noise(len, 0x00C0_FFEE)
        .enumerate()
        .map(|(i, n)| {
            let t = i as f32 / len as f32;
            let envelope = (t * 20.0).min(1.0) * (-(t * 4.0)).exp();
            // A gentle low-pass: a cough's energy sits below 3 kHz.
            low += 0.5 * (n - low);
            0.7 * envelope * low
        })
        .collect()
}

/// The endpointer's events for `audio` with the avatar speaking where `speaking(ms)` says.
pub fn listen(config: &TurnConfig, audio: &[f32], speaking: impl Fn(f64) -> bool) -> Vec<EndpointEvent> {
    listen_with_words(config, audio, speaking, &[])
}

/// [`listen`], with what STT would have heard: at each `(ms, text)` the open turn's transcript
/// (covering the audio up to then) is handed to the endpointer.
pub fn listen_with_words(
    config: &TurnConfig,
    audio: &[f32],
    speaking: impl Fn(f64) -> bool,
    words: &[(f64, &str)],
) -> Vec<EndpointEvent> {
    let mut vad = WebRtcVad::new(2);
    let mut endpointer = Endpointer::new(config);
    let mut events = Vec::new();
    let mut start = 0u64;
    for chunk in audio.chunks(LISTEN_FRAME_SAMPLES) {
        let mut frame = AudioFrame::silence(LISTEN_RATE_HZ, start, LISTEN_FRAME_SAMPLES);
        frame.samples_mut()[..chunk.len()].copy_from_slice(chunk);
        start += LISTEN_FRAME_SAMPLES as u64;
        let speech = vad.speech_probability(frame.samples()).expect("vad") >= 0.5;
        endpointer.set_avatar_speaking(speaking(ms(frame.start_sample)));
        endpointer.handle_frame(frame, speech);
        for (_, text) in words
            .iter()
            .filter(|(at, _)| (ms(start - LISTEN_FRAME_SAMPLES as u64)..ms(start)).contains(at))
        {
            if let Some(utterance) = endpointer.utterance() {
                endpointer.handle_transcript(utterance, text, start);
                endpointer.poll_decision(start);
            }
        }
        events.extend(std::iter::from_fn(|| endpointer.poll_event()));
    }
    endpointer.finish(start);
    events.extend(std::iter::from_fn(|| endpointer.poll_event()));
    events
}

pub fn ms(sample: u64) -> f64 {
    sample as f64 * 1000.0 / LISTEN_RATE_HZ as f64
}

/// The embedded default turn settings (what a pipeline file without `[stages.turn]` gets).
pub fn default_turn() -> TurnConfig {
    PipelineConfig::embedded_default().turn
}

/// Events as short strings with times in ms, audio left out.
pub fn summary(events: &[EndpointEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Started {
                speech_start_sample, ..
            } => Some(format!("start@{:.0}", ms(*speech_start_sample))),
            EndpointEvent::Candidate {
                speech_start_sample, ..
            } => Some(format!("candidate@{:.0}", ms(*speech_start_sample))),
            EndpointEvent::Confirmed {
                decided_at_sample,
                reason,
                ..
            } => Some(format!(
                "confirm@{:.0}:{}",
                ms(*decided_at_sample),
                reason.as_str()
            )),
            EndpointEvent::Rejected {
                decided_at_sample,
                reason,
                ..
            } => Some(format!(
                "reject@{:.0}:{}",
                ms(*decided_at_sample),
                reason.as_str()
            )),
            EndpointEvent::Ended {
                speech_end_sample,
                decided_at_sample,
                reason,
                ..
            } => Some(format!(
                "end@{:.0}/{:.0}:{reason:?}",
                ms(*speech_end_sample),
                ms(*decided_at_sample)
            )),
            EndpointEvent::ModelRequest { .. } | EndpointEvent::Audio { .. } => None,
        })
        .collect()
}
