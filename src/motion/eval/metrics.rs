//! Lip-sync and liveliness metrics computed from a pose track, the audio and espeak-ng's phoneme
//! timings: no borrowed model, no human labels.
//!
//! Poses are taken at their frame centres (where every backend samples its track) and linearly
//! interpolated between them.
//!
//! - **Viseme onset error.** For each phoneme whose viseme differs clearly from the one before
//!   it, the onset is an instant at which the mouth goes from closer to the previous viseme's
//!   target to closer to the new one's (Euclidean, mouth channels): of those crossings between
//!   [`ONSET_SEARCH_BEFORE_MS`] before the phoneme and [`ONSET_SEARCH_AFTER_MS`] after its end,
//!   the one nearest the phoneme's start. The error is that instant minus the phoneme's start. A
//!   transition with no such crossing in the window (the mouth never took the old shape near it,
//!   or never reached the new one) is a *miss*, counted apart.
//! - **/p b m/ closure recall.** A bilabial is closed when a frame overlapping it has the lips
//!   sealed (`max(mouthPress, mouthClose) ≥` [`SEALED`]); "full" recall asks for
//!   [`FULLY_SEALED`], what the renderer draws as shut lips.
//! - **Audio–jaw offset.** The lag (frames, ±[`MAX_LAG_FRAMES`]) maximising the Pearson
//!   correlation of each frame's audio RMS and `jawOpen`; positive means the jaw lags the audio.
//! - **Blinks.** Events where the eyelids fully close (doubles within 0.5 s count once) and the
//!   intervals between them.
//! - **Head smoothness.** The largest second difference of head yaw/pitch/roll per frame², and
//!   how much the head moves at all.

use crate::motion::spec::{Channel, FrameClock, MotionVector};
use crate::motion::visemes::{MOUTH_CHANNELS, Viseme, phone_for};

pub const ONSET_SEARCH_BEFORE_MS: f64 = 150.0;
pub const ONSET_SEARCH_AFTER_MS: f64 = 100.0;
/// Targets closer than this (Euclidean, mouth channels) are not a visible transition.
pub const MIN_VISEME_CONTRAST: f32 = 0.15;
pub const SEALED: f32 = 0.5;
pub const FULLY_SEALED: f32 = 0.9;
pub const MAX_LAG_FRAMES: isize = 5;
const BLINK_CLOSED: f32 = 0.999;

/// A phoneme on the audio's sample clock.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedPhone {
    pub symbol: String,
    pub start_sample: u64,
    pub end_sample: u64,
}

/// Phonemes from consecutive marks; the last one ends at `total_samples`.
pub fn phones_from_marks(marks: &[(String, u64)], total_samples: u64) -> Vec<TimedPhone> {
    marks
        .iter()
        .enumerate()
        .map(|(i, (symbol, start))| TimedPhone {
            symbol: symbol.clone(),
            start_sample: *start,
            end_sample: marks.get(i + 1).map_or(total_samples, |next| next.1).max(*start),
        })
        .collect()
}

/// A pose track on a frame clock.
pub struct Track<'a> {
    pub clock: FrameClock,
    pub poses: &'a [MotionVector],
}

impl Track<'_> {
    /// The pose at `t` seconds, interpolated between frame centres (held at the ends).
    fn pose_at(&self, t: f64) -> MotionVector {
        let fps = self.clock.fps as f64;
        let u = t * fps - 0.5;
        let last = self.poses.len() - 1;
        if u <= 0.0 {
            return self.poses[0];
        }
        let k = (u.floor() as usize).min(last);
        if k >= last {
            return self.poses[last];
        }
        self.poses[k].lerp(&self.poses[k + 1], (u - k as f64) as f32)
    }

    fn seconds(&self, sample: u64) -> f64 {
        sample as f64 / self.clock.sample_rate_hz as f64
    }
}

fn mouth_distance(a: &MotionVector, b: &MotionVector) -> f32 {
    MOUTH_CHANNELS
        .iter()
        .map(|c| (a.get(*c) - b.get(*c)).powi(2))
        .sum::<f32>()
        .sqrt()
}

/// Onset errors in ms (signed) of every clear viseme transition, and how many were missed.
pub fn onset_errors(track: &Track<'_>, phones: &[TimedPhone]) -> (Vec<f64>, usize) {
    let mut errors = Vec::new();
    let mut missed = 0;
    if track.poses.is_empty() {
        return (errors, missed);
    }
    for pair in phones.windows(2) {
        let (previous, phone) = (&pair[0], &pair[1]);
        let (before, now) = (phone_for(&previous.symbol), phone_for(&phone.symbol));
        if now.weak || before.weak {
            continue;
        }
        let from = *before.parts.last().expect("a phone has a viseme");
        let to = now.nucleus();
        let (from_target, to_target) = (from.target(), to.target());
        if to == from || mouth_distance(&from_target, &to_target) < MIN_VISEME_CONTRAST {
            continue;
        }
        let start = track.seconds(phone.start_sample);
        let window_start = start - ONSET_SEARCH_BEFORE_MS / 1000.0;
        let window_end = track.seconds(phone.end_sample) + ONSET_SEARCH_AFTER_MS / 1000.0;
        let closer = |t: f64| {
            let pose = track.pose_at(t);
            mouth_distance(&pose, &to_target) - mouth_distance(&pose, &from_target)
        };
        // Walk the piecewise-linear track at 1 ms steps (fine enough against 40 ms frames) and
        // keep the crossing from "closer to the old viseme" to "closer to the new" nearest to
        // the phoneme's start.
        let step = 0.001;
        let mut t = window_start.max(0.0);
        let mut was_closer_to_old = closer(t) >= 0.0;
        let mut onset: Option<f64> = None;
        while t <= window_end {
            let closer_to_old = closer(t) >= 0.0;
            if was_closer_to_old
                && !closer_to_old
                && onset.is_none_or(|o| (t - start).abs() < (o - start).abs())
            {
                onset = Some(t);
            }
            was_closer_to_old = closer_to_old;
            t += step;
        }
        match onset {
            Some(t) => errors.push((t - start) * 1000.0),
            None => missed += 1,
        }
    }
    (errors, missed)
}

/// (closed, fully closed, total) over the /p b m/ phonemes.
pub fn closures(track: &Track<'_>, phones: &[TimedPhone]) -> (usize, usize, usize) {
    let (mut closed, mut full, mut total) = (0, 0, 0);
    for phone in phones {
        if phone_for(&phone.symbol).nucleus() != Viseme::PP || track.poses.is_empty() {
            continue;
        }
        total += 1;
        let first = track.clock.frame_at_sample(phone.start_sample) as usize;
        let last = track
            .clock
            .frame_at_sample(phone.end_sample.saturating_sub(1).max(phone.start_sample))
            as usize;
        let seal = (first..=last.min(track.poses.len() - 1))
            .map(|k| {
                let pose = &track.poses[k.min(track.poses.len() - 1)];
                pose.get(Channel::MouthPress).max(pose.get(Channel::MouthClose))
            })
            .fold(0.0f32, f32::max);
        closed += usize::from(seal >= SEALED);
        full += usize::from(seal >= FULLY_SEALED);
    }
    (closed, full, total)
}

/// Audio RMS over each frame's samples.
pub fn frame_energy(audio: &[f32], clock: FrameClock, frames: usize) -> Vec<f32> {
    (0..frames as u64)
        .map(|k| {
            let start = (clock.frame_start_sample(k) as usize).min(audio.len());
            let end = (clock.frame_start_sample(k + 1) as usize).min(audio.len());
            let span = &audio[start..end];
            if span.is_empty() {
                0.0
            } else {
                (span.iter().map(|s| s * s).sum::<f32>() / span.len() as f32).sqrt()
            }
        })
        .collect()
}

/// Pearson correlation of `a[k]` with `b[k + lag]` over the overlap.
pub fn correlation_at(a: &[f32], b: &[f32], lag: isize) -> f32 {
    let pairs: Vec<(f32, f32)> = (0..a.len() as isize)
        .filter_map(|k| {
            let j = k + lag;
            (j >= 0 && (j as usize) < b.len()).then(|| (a[k as usize], b[j as usize]))
        })
        .collect();
    if pairs.len() < 3 {
        return 0.0;
    }
    let n = pairs.len() as f32;
    let (ma, mb) = (
        pairs.iter().map(|p| p.0).sum::<f32>() / n,
        pairs.iter().map(|p| p.1).sum::<f32>() / n,
    );
    let cov: f32 = pairs.iter().map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f32 = pairs.iter().map(|(x, _)| (x - ma).powi(2)).sum();
    let vb: f32 = pairs.iter().map(|(_, y)| (y - mb).powi(2)).sum();
    cov / (va.sqrt() * vb.sqrt()).max(1e-9)
}

/// The lag in ±[`MAX_LAG_FRAMES`] at which `b` best follows `a`, and the correlation there.
pub fn best_lag(a: &[f32], b: &[f32]) -> (isize, f32) {
    let best = (-MAX_LAG_FRAMES..=MAX_LAG_FRAMES)
        .max_by(|x, y| correlation_at(a, b, *x).total_cmp(&correlation_at(a, b, *y)))
        .expect("non-empty range");
    (best, correlation_at(a, b, best))
}

/// Frames at which a blink (the first of a double) is fully closed.
pub fn blink_events(poses: &[MotionVector], fps: u32) -> Vec<usize> {
    let mut events: Vec<usize> = Vec::new();
    for (k, pose) in poses.iter().enumerate() {
        if pose.get(Channel::EyeBlinkLeft) < BLINK_CLOSED {
            continue;
        }
        match events.last() {
            Some(&last) if k - last < fps as usize / 2 => {}
            _ => events.push(k),
        }
    }
    events
}

/// Largest absolute second difference of a channel, per frame².
pub fn max_second_difference(poses: &[MotionVector], channel: Channel) -> f32 {
    poses
        .windows(3)
        .map(|w| (w[2].get(channel) - 2.0 * w[1].get(channel) + w[0].get(channel)).abs())
        .fold(0.0, f32::max)
}

/// Standard deviation of a channel.
pub fn spread(poses: &[MotionVector], channel: Channel) -> f32 {
    if poses.is_empty() {
        return 0.0;
    }
    let n = poses.len() as f32;
    let mean = poses.iter().map(|p| p.get(channel)).sum::<f32>() / n;
    (poses.iter().map(|p| (p.get(channel) - mean).powi(2)).sum::<f32>() / n).sqrt()
}

/// The `q`-quantile (0..=1) of `values` by linear interpolation; `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = position.floor() as usize;
    let hi = position.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    fn clock() -> FrameClock {
        FrameClock::new(RATE, 25)
    }

    fn ms(ms: u64) -> u64 {
        ms * RATE as u64 / 1000
    }

    #[test]
    fn a_track_that_switches_at_the_phoneme_start_has_a_small_onset_error() {
        // "a" then "m" at 400 ms, then "a" again at 600 ms.
        let marks = vec![
            ("a".to_string(), 0),
            ("m".to_string(), ms(400)),
            ("a".to_string(), ms(600)),
        ];
        let phones = phones_from_marks(&marks, ms(1000));
        let poses: Vec<MotionVector> = (0..25)
            .map(|k| {
                let centre_ms = 40 * k + 20;
                if (400..600).contains(&centre_ms) {
                    Viseme::PP.target()
                } else {
                    Viseme::AA.target()
                }
            })
            .collect();
        let track = Track {
            clock: clock(),
            poses: &poses,
        };
        let (errors, missed) = onset_errors(&track, &phones);
        assert_eq!(missed, 0);
        assert_eq!(errors.len(), 2);
        // Frame centres at 380 and 420 ms: the midpoint crossing is at 400 ms.
        for e in &errors {
            assert!(e.abs() <= 21.0, "{errors:?}");
        }
        assert_eq!(closures(&track, &phones), (1, 1, 1));
        // The same track a frame late is about 40 ms late.
        let mut late = vec![Viseme::AA.target()];
        late.extend_from_slice(&poses[..24]);
        let track = Track {
            clock: clock(),
            poses: &late,
        };
        let (errors, _) = onset_errors(&track, &phones);
        assert!(errors.iter().all(|e| (19.0..=61.0).contains(e)), "{errors:?}");
    }

    #[test]
    fn a_mouth_that_never_closes_misses_the_closure_and_the_transition() {
        let marks = vec![
            ("a".to_string(), 0),
            ("b".to_string(), ms(400)),
            ("a".to_string(), ms(480)),
        ];
        let phones = phones_from_marks(&marks, ms(1000));
        let poses = vec![Viseme::AA.target(); 25];
        let track = Track {
            clock: clock(),
            poses: &poses,
        };
        assert_eq!(closures(&track, &phones), (0, 0, 1));
        let (errors, missed) = onset_errors(&track, &phones);
        // Neither transition happens: the mouth never leaves "a".
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(missed, 2);
    }

    #[test]
    fn best_lag_finds_a_delay() {
        let a: Vec<f32> = (0..200).map(|k| ((k as f32) * 0.3).sin().max(0.0)).collect();
        let mut b = vec![0.0; 2];
        b.extend_from_slice(&a[..198]);
        assert_eq!(best_lag(&a, &b).0, 2);
        assert_eq!(best_lag(&a, &a).0, 0);
    }

    #[test]
    fn blinks_and_smoothness_are_measured() {
        let mut poses = vec![MotionVector::NEUTRAL; 300];
        for k in [10, 12, 110, 250] {
            poses[k].set(Channel::EyeBlinkLeft, 1.0);
        }
        assert_eq!(blink_events(&poses, 25), vec![10, 110, 250]);
        poses[50].set(Channel::HeadYaw, 0.1);
        assert!((max_second_difference(&poses, Channel::HeadYaw) - 0.2).abs() < 1e-6);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
