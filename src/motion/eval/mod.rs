//! `persona eval lipsync`: how well a motion backend moves the mouth, measured against espeak-ng's
//! own phoneme timings, with the learned model and the rule backend side by side.
//!
//! Every sentence is spoken with every voice. The rule backend gets espeak-ng's phoneme marks
//! (its best case: it is the model's teacher); the model hears only the audio, streamed in
//! chunks exactly as the pipeline runs it. Both tracks are scored by [`metrics`]: viseme onset
//! error, /p b m/ closure recall, the audio–jaw offset; then both are laid end to end with
//! silences between them, composed with the idle motion as the playout composes them, and scored
//! for blinks and head motion. Sentences are reported as held out when their text falls in the
//! dataset's `holdout_sentence` bucket (no training item ever used them).
//!
//! Not here: argument parsing and printing (`persona eval lipsync` in the CLI).

pub mod metrics;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use thiserror::Error;

use super::idle::IdleMotion;
use super::model::{ModelError, ModelMotion, MotionNet};
use super::rules::RulesMotion;
use super::spec::{Channel, FrameClock, MotionFrame, MotionVector};
use crate::onnx::SessionOptions;
use crate::runtime::epoch::Epoch;
use crate::tts::espeak::{Espeak, Flow, VoiceSettings};
use crate::tts::{PhonemeMark, TtsError};
use metrics::{TimedPhone, Track};

/// Held-out voices: bases and variants the training data never used (see
/// `src/motion/dataset/voices.rs`).
pub const DEFAULT_VOICES: &[&str] = &[
    "en-029",
    "en-gb-x-gbcwmd+m3",
    "en-us+f4",
    "en-gb-scotland+m6",
    "en-us-nyc+Gene",
    "en+klatt5",
];
const FPS: u32 = 25;
/// Silence laid between utterances when composing the long track (as a conversation would).
const GAP_S: f64 = 0.8;
/// Audio handed to the model at a time, as the TTS stage frames it.
const PUSH_MS: u32 = 20;

#[derive(Debug, Error)]
pub enum EvalError {
    #[error(transparent)]
    Tts(#[from] TtsError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("espeak-ng produced no audio for {text:?} with voice `{voice}`; remove the sentence")]
    Silent { voice: String, text: String },
    #[error("nothing to evaluate: give at least one sentence and one voice")]
    Empty,
}

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct LipsyncSpec {
    pub sentences: Vec<String>,
    pub voices: Vec<String>,
    pub rate_wpm: u32,
    pub pitch: u8,
    pub model: PathBuf,
    /// Model frames per chunk (the pipeline's default is 5: 200 ms).
    pub chunk_frames: usize,
    pub seed: u64,
}

/// Summary statistics of a list of values.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub count: usize,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub mean: Option<f64>,
}

impl Stats {
    fn of(values: &[f64]) -> Stats {
        Stats {
            count: values.len(),
            median: metrics::quantile(values, 0.5),
            p90: metrics::quantile(values, 0.9),
            mean: (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64),
        }
    }
}

/// One backend's scores.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BackendReport {
    /// |onset error| in ms over the detected transitions.
    pub onset_error_ms: Stats,
    /// Signed onset error (positive: the mouth is late).
    pub onset_bias_ms: Option<f64>,
    pub transitions: usize,
    pub transitions_missed: usize,
    pub bilabials: usize,
    /// Share of /p b m/ with sealed lips on an overlapping frame (`max(press, close) ≥ 0.5`).
    pub closure_recall: f64,
    /// The same with `≥ 0.9` (drawn fully shut).
    pub full_closure_recall: f64,
    /// Audio–jaw lag over all utterances laid end to end (frames; positive: jaw late).
    pub audio_jaw_lag_frames: isize,
    pub audio_jaw_correlation: f32,
    /// Per utterance: the median lag and the share within ±1 frame.
    pub utterance_lag_median_frames: Option<f64>,
    pub utterance_lag_within_one_frame: f64,
    /// Blink events on the composed track and the intervals between them (s).
    pub blinks: usize,
    pub blink_interval_s: Stats,
    pub blink_interval_min_s: Option<f64>,
    pub blink_interval_max_s: Option<f64>,
    /// Head motion on the composed track: largest second difference (per frame²) of yaw, pitch
    /// and roll, and their standard deviations.
    pub head_max_second_difference: f32,
    pub head_yaw_std: f32,
    pub head_pitch_std: f32,
    pub head_roll_std: f32,
    /// What the backend itself adds to the head and brows while speaking (std of its output).
    pub speech_head_pitch_std: f32,
    pub speech_head_yaw_std: f32,
    pub speech_brow_std: f32,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct LipsyncReport {
    pub model: String,
    pub model_training_data_hash: String,
    pub voices: Vec<String>,
    pub sentences: usize,
    pub held_out_sentences: usize,
    pub utterances: usize,
    pub speech_seconds: f64,
    pub chunk_frames: usize,
    pub seed: u64,
    pub model_scores: BackendReport,
    pub rules_scores: BackendReport,
    /// Model inference time per 40 ms frame on this machine (one thread), for reference.
    pub model_ms_per_frame: f64,
    pub elapsed_s: f64,
}

/// One spoken utterance and both backends' poses for it.
struct Spoken {
    audio: Vec<f32>,
    phones: Vec<TimedPhone>,
    rules: Vec<MotionVector>,
    model: Vec<MotionVector>,
}

/// Runs the evaluation; `progress(done, total)` after each utterance.
pub fn run(spec: &LipsyncSpec, progress: &mut dyn FnMut(usize, usize)) -> Result<LipsyncReport, EvalError> {
    let started = Instant::now();
    if spec.sentences.is_empty() || spec.voices.is_empty() {
        return Err(EvalError::Empty);
    }
    let engine = Espeak::global()?;
    let rate_hz = engine.sample_rate_hz();
    let clock = FrameClock::new(rate_hz, FPS);
    let mut net = MotionNet::load(&spec.model, SessionOptions::default())?;
    let total = spec.sentences.len() * spec.voices.len();
    let mut spoken = Vec::with_capacity(total);
    let mut model_time = std::time::Duration::ZERO;
    let mut model_frames = 0u64;
    for voice in &spec.voices {
        for text in &spec.sentences {
            let settings = VoiceSettings {
                voice: voice.clone(),
                rate_wpm: spec.rate_wpm,
                pitch: spec.pitch,
            };
            let (audio, marks) = speak(engine, text, &settings)?;
            if audio.is_empty() {
                return Err(EvalError::Silent {
                    voice: voice.clone(),
                    text: text.clone(),
                });
            }
            let total_samples = audio.len() as u64;
            let epoch = Epoch(spoken.len() as u64);
            let mut rules = RulesMotion::new(clock, epoch);
            let mut rule_frames = Vec::new();
            rules.push_phonemes(&marks);
            rules.finish(total_samples, &mut rule_frames);

            let model_started = Instant::now();
            let mut stream = ModelMotion::new(net.meta(), clock, epoch, spec.seed, spec.chunk_frames)?;
            let mut frames: Vec<MotionFrame> = Vec::new();
            for piece in audio.chunks((rate_hz * PUSH_MS / 1000) as usize) {
                stream.push_audio(piece);
                stream.run_ready(&mut net, &mut frames)?;
            }
            stream.finish(total_samples);
            stream.run_ready(&mut net, &mut frames)?;
            model_time += model_started.elapsed();
            model_frames += frames.len() as u64;

            let marks: Vec<(String, u64)> = marks
                .iter()
                .map(|m| (m.symbol.as_str().to_string(), m.start_sample))
                .collect();
            spoken.push(Spoken {
                phones: metrics::phones_from_marks(&marks, total_samples),
                audio,
                rules: rule_frames.iter().map(|f| f.vector).collect(),
                model: frames.iter().map(|f| f.vector).collect(),
            });
            progress(spoken.len(), total);
        }
    }
    let idle = IdleMotion::new(clock, spec.seed);
    let held_out = spec
        .sentences
        .iter()
        .filter(|s| super::dataset::is_holdout_sentence(s))
        .count();
    Ok(LipsyncReport {
        model: spec.model.display().to_string(),
        model_training_data_hash: net.meta().training_data_hash.clone(),
        voices: spec.voices.clone(),
        sentences: spec.sentences.len(),
        held_out_sentences: held_out,
        utterances: spoken.len(),
        speech_seconds: spoken.iter().map(|s| s.audio.len()).sum::<usize>() as f64 / f64::from(rate_hz),
        chunk_frames: spec.chunk_frames,
        seed: spec.seed,
        model_scores: score(&spoken, clock, &idle, |s| &s.model),
        rules_scores: score(&spoken, clock, &idle, |s| &s.rules),
        model_ms_per_frame: model_time.as_secs_f64() * 1000.0 / model_frames.max(1) as f64,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// Speaks `text`: f32 audio at the engine's rate and the phoneme marks.
fn speak(
    engine: &Espeak,
    text: &str,
    voice: &VoiceSettings,
) -> Result<(Vec<f32>, Vec<PhonemeMark>), EvalError> {
    let mut audio = Vec::new();
    let mut marks = Vec::new();
    engine.synthesize(text, voice, &mut |chunk| {
        audio.extend(chunk.samples.iter().map(|s| f32::from(*s) / 32768.0));
        marks.extend_from_slice(chunk.phonemes);
        Flow::Continue
    })?;
    Ok((audio, marks))
}

fn score(
    spoken: &[Spoken],
    clock: FrameClock,
    idle: &IdleMotion,
    poses_of: impl Fn(&Spoken) -> &Vec<MotionVector>,
) -> BackendReport {
    let mut report = BackendReport::default();
    let mut abs_errors = Vec::new();
    let mut signed_sum = 0.0;
    let (mut closed, mut full) = (0, 0);
    let mut lags = Vec::new();
    let (mut all_energy, mut all_jaw) = (Vec::new(), Vec::new());
    let mut speech_poses = Vec::new();
    // The composed track: idle before, each utterance, a silence after each.
    let gap_frames = (GAP_S * f64::from(clock.fps)).round() as u64;
    let mut composed = Vec::new();
    let mut k: u64 = 0;
    for _ in 0..gap_frames {
        composed.push(idle.pose_at_frame(k));
        k += 1;
    }
    for utterance in spoken {
        let poses = poses_of(utterance);
        let track = Track { clock, poses };
        let (errors, missed) = metrics::onset_errors(&track, &utterance.phones);
        report.transitions += errors.len() + missed;
        report.transitions_missed += missed;
        signed_sum += errors.iter().sum::<f64>();
        abs_errors.extend(errors.iter().map(|e| e.abs()));
        let (c, f, total) = metrics::closures(&track, &utterance.phones);
        closed += c;
        full += f;
        report.bilabials += total;
        let energy = metrics::frame_energy(&utterance.audio, clock, poses.len());
        let jaw: Vec<f32> = poses.iter().map(|p| p.get(Channel::JawOpen)).collect();
        lags.push(metrics::best_lag(&energy, &jaw).0 as f64);
        all_energy.extend_from_slice(&energy);
        all_jaw.extend_from_slice(&jaw);
        speech_poses.extend_from_slice(poses);
        for pose in poses {
            composed.push(idle.overlay(k, pose));
            k += 1;
        }
        let last = poses.last().copied().unwrap_or(MotionVector::NEUTRAL);
        for since in 0..gap_frames {
            composed.push(
                idle.release(k, &last, since)
                    .unwrap_or_else(|| idle.pose_at_frame(k)),
            );
            k += 1;
            // Keep the energy/jaw series aligned across utterances: silence, mouth at rest.
            all_energy.push(0.0);
            all_jaw.push(0.0);
        }
    }
    report.onset_error_ms = Stats::of(&abs_errors);
    report.onset_bias_ms = (!abs_errors.is_empty()).then(|| signed_sum / abs_errors.len() as f64);
    report.closure_recall = closed as f64 / report.bilabials.max(1) as f64;
    report.full_closure_recall = full as f64 / report.bilabials.max(1) as f64;
    let (lag, r) = metrics::best_lag(&all_energy, &all_jaw);
    report.audio_jaw_lag_frames = lag;
    report.audio_jaw_correlation = r;
    report.utterance_lag_median_frames = metrics::quantile(&lags, 0.5);
    report.utterance_lag_within_one_frame =
        lags.iter().filter(|l| l.abs() <= 1.0).count() as f64 / lags.len().max(1) as f64;

    let blinks = metrics::blink_events(&composed, clock.fps);
    let intervals: Vec<f64> = blinks
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / f64::from(clock.fps))
        .collect();
    report.blinks = blinks.len();
    report.blink_interval_s = Stats::of(&intervals);
    report.blink_interval_min_s = intervals.iter().copied().reduce(f64::min);
    report.blink_interval_max_s = intervals.iter().copied().reduce(f64::max);
    report.head_max_second_difference = [Channel::HeadYaw, Channel::HeadPitch, Channel::HeadRoll]
        .into_iter()
        .map(|c| metrics::max_second_difference(&composed, c))
        .fold(0.0, f32::max);
    report.head_yaw_std = metrics::spread(&composed, Channel::HeadYaw);
    report.head_pitch_std = metrics::spread(&composed, Channel::HeadPitch);
    report.head_roll_std = metrics::spread(&composed, Channel::HeadRoll);
    report.speech_head_pitch_std = metrics::spread(&speech_poses, Channel::HeadPitch);
    report.speech_head_yaw_std = metrics::spread(&speech_poses, Channel::HeadYaw);
    report.speech_brow_std = metrics::spread(&speech_poses, Channel::BrowInnerUp);
    report
}
