//! Motion targets for one item: the rule backend's mouth (the teacher) plus non-mouth tracks
//! drawn from stochastic processes tied to the speech, so they are plausible but not a fixed
//! function of the audio.
//!
//! - **Mouth** (the nine mouth channels): [`RulesMotion`] on espeak-ng's phoneme marks, exactly
//!   as the runtime's rule backend computes it: coarticulated, /p b m/ always closing a frame,
//!   the last frame at rest.
//! - **Brows** (`browInnerUp`): a raise with some probability on each word, the more likely
//!   the higher its pitch peak and the louder it is than the rest of the utterance
//!   ([`super::prosody`]); the last word of a question raises the brows 60 % of the time, of an
//!   exclamation 45 %. A raise starts up to 100 ms before the accent vowel, rises in 100–160 ms,
//!   holds to the end of the word and falls in 200–350 ms. This replaces the rule backend's
//!   stress brows (espeak-ng's phoneme events carry no stress marks, so those never fire).
//! - **Nods** (`headPitch`, down): on words with a probability that grows with their loudness
//!   and pitch, at least 600 ms apart; a raised-cosine dip of 0.04–0.10 over 350–550 ms peaking
//!   up to 60 ms after the accent vowel starts (second difference ≤ 0.02 per frame² at 25 fps).
//! - **Posture shifts** (`headYaw`, `headRoll`): at each pause of 100 ms or more, with
//!   probability 0.4, the head eases (smoothstep, 600–900 ms) to a new small offset.
//! - **Blinks, head drift, breathing, gaze**: [`IdleMotion`] with the item's seed, entered at a
//!   random point up to 10 s into its timeline so that blink phase differs between items.
//!
//! Gesture times live in the espeak-ng audio's sample indices, like the marks, so they follow a
//! speed change exactly; the clean and augmented copies of an utterance get the same gestures.

use super::prosody;
use super::rng::{Rng, Stream};
use super::sentences::SentenceKind;
use crate::motion::idle::{IdleMotion, OVERLAY_CHANNELS};
use crate::motion::rules::RulesMotion;
use crate::motion::spec::{Channel, FrameClock, MotionVector};
use crate::runtime::epoch::Epoch;
use crate::tts::{PhonemeMark, WordMark};

/// Pitch peaks count up to this many semitones either way: beyond it the tracker is more
/// likely wrong (an octave error on a fast final rise) than the voice.
const PITCH_EFFECT_LIMIT_ST: f64 = 8.0;

const BROW_BASE_PROBABILITY: f64 = 0.08;
const BROW_PER_SEMITONE: f64 = 0.05;
const BROW_PER_DB: f64 = 0.02;
const BROW_PROBABILITY_RANGE: (f64, f64) = (0.02, 0.4);
const BROW_QUESTION_PROBABILITY: f64 = 0.6;
const BROW_EXCLAMATION_PROBABILITY: f64 = 0.45;
const BROW_AMPLITUDE: (f64, f64) = (0.2, 0.6);
const BROW_QUESTION_AMPLITUDE: (f64, f64) = (0.35, 0.75);
const BROW_LEAD_MS: (f64, f64) = (0.0, 100.0);
const BROW_ATTACK_MS: (f64, f64) = (100.0, 160.0);
const BROW_EXTRA_HOLD_MS: (f64, f64) = (0.0, 150.0);
const BROW_RELEASE_MS: (f64, f64) = (200.0, 350.0);

const NOD_BASE_PROBABILITY: f64 = 0.12;
const NOD_PER_DB: f64 = 0.04;
const NOD_PER_SEMITONE: f64 = 0.02;
const NOD_PROBABILITY_RANGE: (f64, f64) = (0.03, 0.4);
const NOD_AMPLITUDE: (f64, f64) = (0.04, 0.10);
const NOD_DURATION_MS: (f64, f64) = (350.0, 550.0);
const NOD_PEAK_DELAY_MS: (f64, f64) = (0.0, 60.0);
const NOD_MIN_GAP_MS: f64 = 600.0;

const SHIFT_MIN_PAUSE_MS: f64 = 100.0;
const SHIFT_PROBABILITY: f64 = 0.4;
const SHIFT_DURATION_MS: (f64, f64) = (600.0, 900.0);
const SHIFT_YAW: f64 = 0.1;
const SHIFT_ROLL: f64 = 0.05;

const IDLE_MAX_OFFSET_S: f64 = 10.0;

/// One utterance as espeak-ng spoke it, at its own sample rate.
pub(super) struct Spoken<'a> {
    pub(super) samples: &'a [i16],
    pub(super) phonemes: &'a [PhonemeMark],
    pub(super) words: &'a [WordMark],
    pub(super) kind: SentenceKind,
    /// espeak-ng's rate, which gesture durations in milliseconds are measured against.
    pub(super) rate_hz: u32,
}

/// Motion targets at `fps` for `spoken` played as if recorded at `source_rate_hz`: one vector
/// per video frame, `FrameClock::new(source_rate_hz, fps).frames_covering(len)` of them, and
/// beside each the part of it that [`IdleMotion`] contributed (blinks, head drift and breathing,
/// gaze; zero on the mouth and brows), so that a model can learn the speech-driven rest alone.
/// `gestures` come from [`Gestures::plan`] with the same `seed`.
pub(super) fn motion_targets(
    spoken: &Spoken<'_>,
    gestures: &Gestures,
    source_rate_hz: u32,
    fps: u32,
    seed: u64,
) -> Vec<(MotionVector, MotionVector)> {
    let clock = FrameClock::new(source_rate_hz, fps);
    let total_samples = spoken.samples.len() as u64;
    let mut rules = RulesMotion::new(clock, Epoch(0));
    let mut frames = Vec::new();
    rules.push_phonemes(spoken.phonemes);
    rules.finish(total_samples, &mut frames);
    debug_assert_eq!(frames.len() as u64, clock.frames_covering(total_samples));

    let idle = IdleMotion::new(clock, seed);
    let idle_offset_frames =
        Rng::new(seed, Stream::Idle, 0).int(0, (IDLE_MAX_OFFSET_S * f64::from(fps)) as u64);
    frames
        .iter()
        .map(|frame| {
            let k = frame.frame_index;
            let centre = (clock.frame_start_sample(k) + clock.frame_start_sample(k + 1)) as f64 / 2.0;
            let mut v = frame.vector;
            v.set(Channel::BrowInnerUp, gestures.brow(centre) as f32);
            let mut v = idle.overlay(k + idle_offset_frames, &v);
            let (yaw, roll) = gestures.posture(centre);
            v.set(
                Channel::HeadPitch,
                v.get(Channel::HeadPitch) - gestures.nod(centre) as f32,
            );
            v.set(Channel::HeadYaw, v.get(Channel::HeadYaw) + yaw as f32);
            v.set(Channel::HeadRoll, v.get(Channel::HeadRoll) + roll as f32);
            (
                v.clamped(),
                idle_part(&idle.pose_at_frame(k + idle_offset_frames)),
            )
        })
        .collect()
}

/// The channels [`IdleMotion::overlay`] writes, from an idle pose; zero elsewhere.
fn idle_part(idle: &MotionVector) -> MotionVector {
    let mut part = MotionVector::NEUTRAL;
    for channel in OVERLAY_CHANNELS {
        part.set(channel, idle.get(channel));
    }
    part
}

/// A raise-hold-fall envelope in samples, smoothstep edges.
#[derive(Clone, Copy, Debug)]
struct Raise {
    start: f64,
    attack: f64,
    hold: f64,
    release: f64,
    amplitude: f64,
}

impl Raise {
    fn at(&self, t: f64) -> f64 {
        let x = t - self.start;
        let shape = if x <= 0.0 {
            0.0
        } else if x < self.attack {
            smoothstep(x / self.attack)
        } else if x < self.attack + self.hold {
            1.0
        } else {
            1.0 - smoothstep((x - self.attack - self.hold) / self.release)
        };
        self.amplitude * shape
    }
}

/// A raised-cosine bump in samples.
#[derive(Clone, Copy, Debug)]
struct Bump {
    start: f64,
    duration: f64,
    amplitude: f64,
}

impl Bump {
    fn at(&self, t: f64) -> f64 {
        let x = (t - self.start) / self.duration;
        if (0.0..1.0).contains(&x) {
            self.amplitude * 0.5 * (1.0 - (std::f64::consts::TAU * x).cos())
        } else {
            0.0
        }
    }
}

/// A move from one posture to the next, smoothstep, in samples.
#[derive(Clone, Copy, Debug)]
struct Shift {
    start: f64,
    duration: f64,
    yaw: f64,
    roll: f64,
}

/// An utterance's planned gestures, in the espeak-ng audio's sample indices: the same for every
/// copy of the utterance, whatever its speed.
pub(super) struct Gestures {
    brows: Vec<Raise>,
    nods: Vec<Bump>,
    shifts: Vec<Shift>,
}

impl Gestures {
    pub(super) fn plan(spoken: &Spoken<'_>, seed: u64) -> Gestures {
        let mut rng = Rng::new(seed, Stream::Gesture, 0);
        let samples_per_ms = f64::from(spoken.rate_hz) / 1000.0;
        let ms = |rng: &mut Rng, range: (f64, f64)| rng.range(range.0, range.1) * samples_per_ms;
        let words = prosody::words(spoken.samples, spoken.rate_hz, spoken.phonemes, spoken.words);

        let mut brows = Vec::new();
        let mut nods: Vec<Bump> = Vec::new();
        for (i, word) in words.iter().enumerate() {
            let last = i + 1 == words.len();
            let pitch_st = word.pitch_st.clamp(-PITCH_EFFECT_LIMIT_ST, PITCH_EFFECT_LIMIT_ST);
            let mut p = (BROW_BASE_PROBABILITY + BROW_PER_SEMITONE * pitch_st + BROW_PER_DB * word.level_db)
                .clamp(BROW_PROBABILITY_RANGE.0, BROW_PROBABILITY_RANGE.1);
            let mut amplitude = BROW_AMPLITUDE;
            match spoken.kind {
                SentenceKind::Question if last => {
                    (p, amplitude) = (BROW_QUESTION_PROBABILITY, BROW_QUESTION_AMPLITUDE)
                }
                SentenceKind::Exclamation if last => p = BROW_EXCLAMATION_PROBABILITY,
                _ => {}
            }
            // Draw every quantity whether or not the raise happens, so one decision does not
            // shift the random sequence of all later ones.
            let happens = rng.chance(p);
            let level = rng.range(amplitude.0, amplitude.1);
            let start = (word.accent_sample as f64 - ms(&mut rng, BROW_LEAD_MS)).max(0.0);
            let attack = ms(&mut rng, BROW_ATTACK_MS);
            let hold = (word.end_sample as f64 - start - attack).max(0.0) + ms(&mut rng, BROW_EXTRA_HOLD_MS);
            let release = ms(&mut rng, BROW_RELEASE_MS);
            if happens {
                brows.push(Raise {
                    start,
                    attack,
                    hold,
                    release,
                    amplitude: level,
                });
            }

            let p_nod = (NOD_BASE_PROBABILITY + NOD_PER_DB * word.level_db + NOD_PER_SEMITONE * pitch_st)
                .clamp(NOD_PROBABILITY_RANGE.0, NOD_PROBABILITY_RANGE.1);
            let happens = rng.chance(p_nod);
            let amplitude = rng.range(NOD_AMPLITUDE.0, NOD_AMPLITUDE.1);
            let duration = ms(&mut rng, NOD_DURATION_MS);
            let start =
                (word.accent_sample as f64 + ms(&mut rng, NOD_PEAK_DELAY_MS) - duration / 2.0).max(0.0);
            let clear = nods
                .last()
                .is_none_or(|prev| start - prev.start >= NOD_MIN_GAP_MS * samples_per_ms);
            if happens && clear {
                nods.push(Bump {
                    start,
                    duration,
                    amplitude,
                });
            }
        }

        let mut shifts = Vec::new();
        for (i, mark) in spoken.phonemes.iter().enumerate() {
            if !mark.symbol.as_str().starts_with('_') {
                continue;
            }
            let end = spoken
                .phonemes
                .get(i + 1)
                .map_or(spoken.samples.len() as u64, |next| next.start_sample);
            let pause_ms = end.saturating_sub(mark.start_sample) as f64 / samples_per_ms;
            let happens = rng.chance(SHIFT_PROBABILITY);
            let duration = ms(&mut rng, SHIFT_DURATION_MS);
            let yaw = rng.range(-SHIFT_YAW, SHIFT_YAW);
            let roll = rng.range(-SHIFT_ROLL, SHIFT_ROLL);
            if pause_ms >= SHIFT_MIN_PAUSE_MS && happens {
                shifts.push(Shift {
                    start: mark.start_sample as f64,
                    duration,
                    yaw,
                    roll,
                });
            }
        }
        Gestures { brows, nods, shifts }
    }

    fn brow(&self, t: f64) -> f64 {
        self.brows.iter().map(|r| r.at(t)).fold(0.0, f64::max)
    }

    fn nod(&self, t: f64) -> f64 {
        self.nods.iter().map(|b| b.at(t)).sum()
    }

    /// (yaw, roll) offsets at `t`: each shift eases from the previous posture to its own.
    fn posture(&self, t: f64) -> (f64, f64) {
        let (mut yaw, mut roll) = (0.0, 0.0);
        for shift in &self.shifts {
            if t <= shift.start {
                break;
            }
            let s = smoothstep((t - shift.start) / shift.duration);
            yaw += (shift.yaw - yaw) * s;
            roll += (shift.roll - roll) * s;
        }
        (yaw, roll)
    }
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::PhonemeSymbol;

    const RATE: u32 = 22_050;

    fn mark(symbol: &str, ms: u64) -> PhonemeMark {
        PhonemeMark {
            symbol: PhonemeSymbol::new(symbol),
            start_sample: ms * RATE as u64 / 1000,
        }
    }

    fn word(ms: u64) -> WordMark {
        WordMark {
            start_sample: ms * RATE as u64 / 1000,
            text_start: 0,
            text_len: 1,
        }
    }

    /// "Bob ate, boom?" with a loud steady signal.
    fn spoken_parts() -> (Vec<i16>, Vec<PhonemeMark>, Vec<WordMark>) {
        let samples = vec![8000_i16; RATE as usize * 2];
        let phonemes = vec![
            mark("_", 0),
            mark("b", 100),
            mark("'0", 160),
            mark("b", 300),
            mark("'eI", 380),
            mark("t", 520),
            mark("_:", 600),
            mark("b", 900),
            mark("'u:", 980),
            mark("m", 1200),
            mark("_", 1400),
        ];
        let words = vec![word(100), word(380), word(900)];
        (samples, phonemes, words)
    }

    #[test]
    fn same_seed_same_targets_and_speed_keeps_alignment() {
        let (samples, phonemes, words) = spoken_parts();
        let spoken = Spoken {
            samples: &samples,
            phonemes: &phonemes,
            words: &words,
            kind: SentenceKind::Question,
            rate_hz: RATE,
        };
        let gestures = Gestures::plan(&spoken, 7);
        let a = motion_targets(&spoken, &gestures, RATE, 25, 7);
        assert_eq!(
            a,
            motion_targets(&spoken, &Gestures::plan(&spoken, 7), RATE, 25, 7)
        );
        assert_eq!(a.len(), 50);
        // The idle part is exactly what the overlay added: blinks whole, head and gaze by sum.
        for (full, idle) in &a {
            for channel in Channel::ALL {
                if !OVERLAY_CHANNELS.contains(&channel) {
                    assert_eq!(idle.get(channel), 0.0, "{}", channel.name());
                }
            }
            for channel in [Channel::EyeBlinkLeft, Channel::EyeBlinkRight, Channel::EyeLookX] {
                assert_eq!(full.get(channel), idle.get(channel), "{}", channel.name());
            }
        }
        assert!(a.iter().any(|(_, idle)| idle.get(Channel::HeadYaw) != 0.0));
        // Played 10 % fast: 10 % fewer frames, closures still where the /b/ now falls.
        let fast: Vec<MotionVector> = motion_targets(&spoken, &gestures, 24_300, 25, 7)
            .into_iter()
            .map(|(full, _)| full)
            .collect();
        assert_eq!(
            fast.len() as u64,
            FrameClock::new(24_300, 25).frames_covering(samples.len() as u64)
        );
        let clock = FrameClock::new(24_300, 25);
        for b in [&phonemes[1], &phonemes[3], &phonemes[7]] {
            let k = clock.frame_at_sample(b.start_sample + 40 * 24_300 / 1000) as usize;
            let closed = (k.saturating_sub(1)..=k + 1)
                .any(|j| fast[j].get(Channel::MouthPress) == 1.0 && fast[j].get(Channel::JawOpen) == 0.0);
            assert!(closed, "no closure near frame {k}");
        }
    }

    #[test]
    fn gestures_vary_by_seed_and_stay_smooth_and_in_range() {
        let (samples, phonemes, words) = spoken_parts();
        let spoken = Spoken {
            samples: &samples,
            phonemes: &phonemes,
            words: &words,
            kind: SentenceKind::Question,
            rate_hz: RATE,
        };
        let mut raised = 0;
        let mut nodded = 0;
        let mut distinct = std::collections::HashSet::new();
        for seed in 0..200 {
            let gestures = Gestures::plan(&spoken, seed);
            let frames: Vec<MotionVector> = motion_targets(&spoken, &gestures, RATE, 25, seed)
                .into_iter()
                .map(|(full, _)| full)
                .collect();
            let brow: Vec<f32> = frames.iter().map(|v| v.get(Channel::BrowInnerUp)).collect();
            distinct.insert(brow.iter().map(|b| (b * 1000.0) as i32).collect::<Vec<_>>());
            if brow.iter().any(|b| *b > 0.1) {
                raised += 1;
            }
            if !gestures.nods.is_empty() {
                nodded += 1;
            }
            for channel in [Channel::HeadPitch, Channel::HeadYaw, Channel::HeadRoll] {
                let track: Vec<f32> = frames.iter().map(|v| v.get(channel)).collect();
                for w in track.windows(3) {
                    let d2 = (w[2] - 2.0 * w[1] + w[0]).abs();
                    assert!(d2 < 0.03, "seed {seed} {}: {d2}", channel.name());
                }
            }
        }
        // The question's last accent raises the brows 60 % of the time, others add more.
        assert!((120..200).contains(&raised), "{raised} of 200 raised the brows");
        assert!((30..170).contains(&nodded), "{nodded} of 200 nodded");
        assert!(distinct.len() > 50);
    }
}
