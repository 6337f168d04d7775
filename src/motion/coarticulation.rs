//! Coarticulation: how neighbouring visemes blend into one mouth pose at an instant.
//!
//! A dominance model after Cohen and Massaro: every segment of the viseme track pulls each group
//! of mouth channels towards its target with a weight (its *dominance*) that is flat while the
//! segment sounds and falls smoothly to exactly zero within a *reach* before and after it; the
//! pose is the dominance-weighted mean of the targets, channel by channel. Groups have their own
//! dominance, so a consonant that does not care about lip rounding (/s t k/) lets the rounding
//! of an upcoming /u/ through early, while /p b m/ own the lip closure.
//!
//! Because the falloff reaches zero at a finite distance, a pose depends only on segments within
//! [`MAX_REACH_MS`] of it: that is what makes streaming exact. This module knows nothing of
//! frames, streaming or phoneme symbols; [`crate::motion::rules`] builds the track and samples it.

use super::spec::{CHANNEL_COUNT, Channel, MotionVector};
use super::visemes::{VISEME_COUNT, Viseme};

/// The furthest any segment's dominance reaches before or after it.
pub const MAX_REACH_MS: u32 = 100;

/// A stretch of the viseme track.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    pub start_sample: u64,
    /// `None` while the next phoneme has not arrived: the segment lasts at least until the
    /// horizon the caller samples within.
    pub end_sample: Option<u64>,
    pub viseme: Viseme,
    /// The viseme's target, already shaped by stress.
    pub target: MotionVector,
    /// Scales every dominance: below 1 for phonemes that yield to their neighbours.
    pub weight: f32,
}

/// Channel groups that share a dominance: they move together for articulatory reasons.
const GROUP_COUNT: usize = 4;
const JAW: usize = 0;
const ROUND: usize = 1;
const SPREAD: usize = 2;
const LIPS: usize = 3;

fn channel_group(channel: Channel) -> Option<usize> {
    match channel {
        // Stress-driven brow raises ride on the jaw: both follow the syllable nucleus.
        Channel::JawOpen | Channel::MouthLowerDown | Channel::BrowInnerUp => Some(JAW),
        Channel::MouthFunnel | Channel::MouthPucker => Some(ROUND),
        Channel::MouthStretch | Channel::MouthSmile => Some(SPREAD),
        Channel::MouthPress | Channel::MouthClose | Channel::MouthUpperUp => Some(LIPS),
        _ => None,
    }
}

/// Per-viseme blending parameters, by group (jaw, round, spread, lips).
struct Articulation {
    dominance: [f32; GROUP_COUNT],
    /// Anticipation: how far before the segment it starts to pull.
    reach_before_ms: [u32; GROUP_COUNT],
    /// Carry-over: how long after the segment it keeps pulling.
    reach_after_ms: [u32; GROUP_COUNT],
}

fn articulation(viseme: Viseme) -> Articulation {
    use Viseme::*;
    let dominance = match viseme {
        // Pauses hold firmly so the mouth really comes to rest, but not so firmly that the
        // first and last phonemes of a phrase are swallowed.
        Sil => [0.6, 0.5, 0.5, 0.6],
        // Closures own the lips and the jaw; rounding and spreading are free to anticipate
        // the next vowel ("boo" is rounded during the /b/).
        PP => [0.9, 0.2, 0.3, 1.0],
        FF => [0.6, 0.3, 0.4, 0.9],
        TH => [0.5, 0.2, 0.3, 0.6],
        // Alveolars and velars are made with the tongue: the lips and jaw are largely free.
        DD => [0.35, 0.15, 0.25, 0.3],
        KK => [0.3, 0.15, 0.2, 0.2],
        CH => [0.6, 0.7, 0.7, 0.6],
        // Sibilants need a nearly closed jaw; their lips take the neighbours' rounding.
        SS => [0.7, 0.2, 0.5, 0.5],
        RR => [0.4, 0.6, 0.5, 0.4],
        WW => [0.5, 1.0, 0.9, 0.5],
        AA => [1.0, 0.5, 0.5, 0.6],
        E => [0.9, 0.5, 0.7, 0.5],
        I => [0.8, 0.6, 0.9, 0.5],
        O => [0.9, 0.9, 0.8, 0.5],
        U => [0.8, 1.0, 0.9, 0.5],
        Schwa => [0.5, 0.2, 0.2, 0.3],
    };
    let (before, after) = if viseme == Sil {
        (60, 60)
    } else if viseme.is_vowel() {
        (90, 100)
    } else {
        (70, 70)
    };
    let mut reach_before_ms = [before; GROUP_COUNT];
    let mut reach_after_ms = [after; GROUP_COUNT];
    if viseme == PP {
        // A plosive releases abruptly: the lips part and the jaw drops within a few ms.
        reach_after_ms[LIPS] = 30;
        reach_after_ms[JAW] = 40;
    }
    if matches!(viseme, WW | O | U | CH | RR) {
        // Anticipatory rounding spans a consonant cluster ("strew" rounds during the /s/).
        reach_before_ms[ROUND] = MAX_REACH_MS;
        reach_after_ms[ROUND] = 100;
    }
    Articulation {
        dominance,
        reach_before_ms,
        reach_after_ms,
    }
}

/// Smooth falloff on `[0, 1]`: 1 at 0, exactly 0 from 1 on, with zero slope at both ends.
fn falloff(x: f64) -> f64 {
    if x >= 1.0 {
        return 0.0;
    }
    let y = 1.0 - x * x;
    y * y * y
}

/// The dominance tables converted to samples at one rate.
#[derive(Clone, Debug)]
pub(crate) struct Coarticulator {
    dominance: [[f64; GROUP_COUNT]; VISEME_COUNT],
    reach_before_samples: [[f64; GROUP_COUNT]; VISEME_COUNT],
    reach_after_samples: [[f64; GROUP_COUNT]; VISEME_COUNT],
}

impl Coarticulator {
    pub fn new(sample_rate_hz: u32) -> Self {
        let mut this = Coarticulator {
            dominance: [[0.0; GROUP_COUNT]; VISEME_COUNT],
            reach_before_samples: [[0.0; GROUP_COUNT]; VISEME_COUNT],
            reach_after_samples: [[0.0; GROUP_COUNT]; VISEME_COUNT],
        };
        let samples = |ms: u32| ms as f64 * sample_rate_hz as f64 / 1000.0;
        for viseme in Viseme::ALL {
            let art = articulation(viseme);
            let v = viseme as usize;
            for g in 0..GROUP_COUNT {
                this.dominance[v][g] = art.dominance[g] as f64;
                this.reach_before_samples[v][g] = samples(art.reach_before_ms[g]);
                this.reach_after_samples[v][g] = samples(art.reach_after_ms[g]);
            }
        }
        this
    }

    /// The longest reach in the tables, in milliseconds (tests hold it to [`MAX_REACH_MS`]).
    #[cfg(test)]
    pub fn longest_reach_ms() -> u32 {
        Viseme::ALL
            .into_iter()
            .map(articulation)
            .flat_map(|a| a.reach_before_ms.into_iter().chain(a.reach_after_ms))
            .max()
            .unwrap_or(0)
    }

    /// The pose at `t_sample` (fractional: frame centres fall between samples).
    ///
    /// Segments outside their reach contribute nothing and are skipped, so the result depends
    /// only on the segments within [`MAX_REACH_MS`] of `t_sample`, visited in order. Channels no
    /// segment pulls stay 0.
    pub fn pose_at<'a>(&self, segments: impl Iterator<Item = &'a Segment>, t_sample: f64) -> MotionVector {
        let mut numerator = [0.0f64; CHANNEL_COUNT];
        let mut denominator = [0.0f64; GROUP_COUNT];
        for segment in segments {
            let v = segment.viseme as usize;
            let start = segment.start_sample as f64;
            let (distance, reach) = if t_sample < start {
                (start - t_sample, &self.reach_before_samples[v])
            } else {
                match segment.end_sample {
                    Some(end) if t_sample >= end as f64 => {
                        (t_sample - end as f64, &self.reach_after_samples[v])
                    }
                    _ => (0.0, &self.reach_after_samples[v]),
                }
            };
            let mut weights = [0.0f64; GROUP_COUNT];
            for g in 0..GROUP_COUNT {
                let near = if distance == 0.0 {
                    1.0
                } else {
                    falloff(distance / reach[g])
                };
                weights[g] = segment.weight as f64 * self.dominance[v][g] * near;
            }
            if weights.iter().all(|w| *w == 0.0) {
                continue;
            }
            for channel in Channel::ALL {
                if let Some(g) = channel_group(channel) {
                    numerator[channel as usize] += weights[g] * segment.target.get(channel) as f64;
                }
            }
            for g in 0..GROUP_COUNT {
                denominator[g] += weights[g];
            }
        }
        let mut pose = MotionVector::NEUTRAL;
        for channel in Channel::ALL {
            if let Some(g) = channel_group(channel)
                && denominator[g] > 0.0
            {
                pose.set(channel, (numerator[channel as usize] / denominator[g]) as f32);
            }
        }
        pose
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(start_sample: u64, end_sample: u64, viseme: Viseme) -> Segment {
        Segment {
            start_sample,
            end_sample: Some(end_sample),
            viseme,
            target: viseme.target(),
            weight: 1.0,
        }
    }

    #[test]
    fn no_reach_exceeds_the_declared_maximum() {
        assert_eq!(Coarticulator::longest_reach_ms(), MAX_REACH_MS);
    }

    #[test]
    fn a_long_segment_reaches_its_target_in_the_middle() {
        let co = Coarticulator::new(48_000);
        let track = [
            segment(0, 4800, Viseme::Sil),
            segment(4800, 24_000, Viseme::AA),
            segment(24_000, 30_000, Viseme::Sil),
        ];
        let mid = co.pose_at(track.iter(), 14_400.0);
        assert!((mid.get(Channel::JawOpen) - Viseme::AA.target().get(Channel::JawOpen)).abs() < 1e-6);
        let rest = co.pose_at(track.iter(), 29_999.0);
        assert_eq!(rest.get(Channel::JawOpen), 0.0);
    }

    #[test]
    fn rounding_is_anticipated_through_an_alveolar_cluster() {
        // "s t u:" at 48 kHz: 80 ms /s/, 60 ms /t/, then /u:/.
        let co = Coarticulator::new(48_000);
        let track = [
            segment(0, 3840, Viseme::SS),
            segment(3840, 6720, Viseme::DD),
            segment(6720, 16_320, Viseme::U),
        ];
        let in_t = co.pose_at(track.iter(), 5280.0);
        assert!(in_t.get(Channel::MouthPucker) > 0.3, "{in_t:?}");
        let track_unrounded = [
            segment(0, 3840, Viseme::SS),
            segment(3840, 6720, Viseme::DD),
            segment(6720, 16_320, Viseme::I),
        ];
        let in_t_before_i = co.pose_at(track_unrounded.iter(), 5280.0);
        assert_eq!(in_t_before_i.get(Channel::MouthPucker), 0.0);
    }

    #[test]
    fn segments_beyond_their_reach_do_not_count() {
        let co = Coarticulator::new(48_000);
        let near = [segment(0, 9600, Viseme::AA)];
        let with_far = [
            segment(0, 9600, Viseme::AA),
            segment(9600 + 4800, 20_000, Viseme::U),
        ];
        let a = co.pose_at(near.iter(), 9600.0);
        let b = co.pose_at(with_far.iter(), 9600.0);
        assert_eq!(a, b);
    }
}
