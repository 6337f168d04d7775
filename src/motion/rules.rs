//! Rule-based motion: espeak-ng phoneme timings to one mouth pose per video frame.
//!
//! [`RulesMotion`] is a streaming, sans-IO core. Phoneme marks arrive in batches with
//! utterance-local sample positions; each becomes a stretch of the viseme track (diphthongs split
//! into their parts), and every video frame samples the coarticulated track
//! (the `coarticulation` module) at its centre. Two rules sit on top of the blend: every /p b m/
//! closes the lips fully on at least one frame, however short it is, and the last frame of an
//! utterance is at rest. Primary stress opens the jaw a little wider and lifts the brows a
//! little; nothing is random, so the same marks always give the same frames.
//!
//! A frame is emitted as soon as nothing that could still arrive can change it, so output is
//! identical however input and `advance` calls are split. That needs [`RulesMotion::lookahead_samples`]
//! of audio (marks, or the caller's word that no mark is missing) past the frame's centre.
//!
//! Not here: clocks, threads, channels (the motion actor owns those), audio, and anything away
//! from the mouth except the stress brows ([`super::idle`] adds blinks, head and gaze).

use std::collections::VecDeque;

use super::coarticulation::{Coarticulator, MAX_REACH_MS, Segment};
use super::spec::{Channel, FrameClock, MotionFrame, MotionVector};
use super::visemes::{MOUTH_CHANNELS, Phone, Stress, Viseme, phone_for};
use crate::runtime::epoch::Epoch;
use crate::tts::PhonemeMark;

/// How a diphthong's duration is shared among its parts, in percent (the nucleus is longest).
const TWO_PART_SPLIT_PERCENT: [u64; 1] = [55];
const THREE_PART_SPLIT_PERCENT: [u64; 2] = [40, 70];

/// Weight of a phoneme that takes its neighbours' shape (/h/, glottal stop).
const WEAK_WEIGHT: f32 = 0.15;

/// Stress shaping of vowel targets: (jaw and lower-lip gain, brow raise).
const PRIMARY_STRESS: (f32, f32) = (1.15, 0.15);
const SECONDARY_STRESS: (f32, f32) = (1.06, 0.05);

/// Streaming phoneme-timing → motion-frame generator for one utterance.
#[derive(Debug)]
pub struct RulesMotion {
    clock: FrameClock,
    epoch: Epoch,
    coarticulator: Coarticulator,
    /// Segments whose end is known, in time order; pruned once no frame can reach them.
    closed: VecDeque<Segment>,
    /// The latest phoneme: its end is the next mark's start, not known yet. Before the first
    /// mark it is the silence the utterance starts in.
    open: OpenPhone,
    audio_known_until_sample: u64,
    next_frame_index: u64,
    /// Set by `finish`: the number of frames the utterance has.
    frame_count: Option<u64>,
    lookahead_samples: u64,
    clamped_marks: u64,
}

#[derive(Clone, Copy, Debug)]
struct OpenPhone {
    phone: Phone,
    start_sample: u64,
}

impl RulesMotion {
    pub fn new(clock: FrameClock, epoch: Epoch) -> Self {
        let reach_samples = (MAX_REACH_MS as u64 * clock.sample_rate_hz as u64).div_ceil(1000);
        // The closure rule looks one frame centre ahead, which matters only at very low frame rates.
        let frame_samples = (clock.sample_rate_hz as u64).div_ceil(clock.fps as u64);
        RulesMotion {
            clock,
            epoch,
            coarticulator: Coarticulator::new(clock.sample_rate_hz),
            closed: VecDeque::new(),
            open: OpenPhone {
                phone: phone_for("_"),
                start_sample: 0,
            },
            audio_known_until_sample: 0,
            next_frame_index: 0,
            frame_count: None,
            lookahead_samples: reach_samples.max(frame_samples),
            clamped_marks: 0,
        }
    }

    /// Audio needed past a frame's centre before the frame can be emitted: the furthest a
    /// phoneme's influence reaches back in time (anticipatory rounding), 100 ms.
    pub fn lookahead_samples(&self) -> u64 {
        self.lookahead_samples
    }

    /// Marks whose position went backwards (before an earlier mark, or before audio the caller
    /// already declared complete) and were moved forward. Nonzero means a caller bug.
    pub fn clamped_marks(&self) -> u64 {
        self.clamped_marks
    }

    /// Adds phoneme marks, positions in samples at the clock's rate, in order. Marks after
    /// `finish` are ignored.
    pub fn push_phonemes(&mut self, marks: &[PhonemeMark]) {
        if self.frame_count.is_some() {
            return;
        }
        for mark in marks {
            let floor = self.open.start_sample.max(self.audio_known_until_sample);
            if mark.start_sample < floor {
                self.clamped_marks += 1;
            }
            let start_sample = mark.start_sample.max(floor);
            self.close_open_phone(start_sample);
            self.open = OpenPhone {
                phone: phone_for(mark.symbol.as_str()),
                start_sample,
            };
        }
    }

    /// Declares that every mark before `audio_known_until_sample` has been pushed, and emits
    /// every frame that is now final.
    pub fn advance(&mut self, audio_known_until_sample: u64, out: &mut Vec<MotionFrame>) {
        if self.frame_count.is_some() {
            return;
        }
        self.audio_known_until_sample = self.audio_known_until_sample.max(audio_known_until_sample);
        let horizon = self.horizon_sample();
        loop {
            let centre_x2 = self.frame_centre_x2(self.next_frame_index);
            if centre_x2.saturating_add(2 * self.lookahead_samples) > horizon.saturating_mul(2) {
                break;
            }
            self.emit_next(out);
        }
    }

    /// Ends the utterance at `total_samples` and emits the remaining frames, up to
    /// `clock.frames_covering(total_samples)`; the last one is at rest.
    pub fn finish(&mut self, total_samples: u64, out: &mut Vec<MotionFrame>) {
        if self.frame_count.is_some() {
            return;
        }
        let end_sample = total_samples.max(self.open.start_sample);
        self.close_open_phone(end_sample);
        self.open = OpenPhone {
            phone: phone_for("_"),
            start_sample: end_sample,
        };
        let frame_count = self.clock.frames_covering(total_samples);
        self.frame_count = Some(frame_count);
        while self.next_frame_index < frame_count {
            self.emit_next(out);
        }
    }

    /// Every mark before this sample is known, and the open phone lasts at least until it.
    fn horizon_sample(&self) -> u64 {
        if self.open.phone.parts.len() > 1 {
            // A diphthong's parts are placed by its duration, unknown until the next mark.
            self.open.start_sample
        } else {
            self.open.start_sample.max(self.audio_known_until_sample)
        }
    }

    /// Twice the centre of frame `k`, in samples (exact in integers).
    fn frame_centre_x2(&self, frame_index: u64) -> u64 {
        self.clock.frame_start_sample(frame_index) + self.clock.frame_start_sample(frame_index + 1)
    }

    fn close_open_phone(&mut self, end_sample: u64) {
        let OpenPhone { phone, start_sample } = self.open;
        let duration = end_sample - start_sample;
        let splits: &[u64] = match phone.parts.len() {
            1 => &[],
            2 => &TWO_PART_SPLIT_PERCENT,
            _ => &THREE_PART_SPLIT_PERCENT,
        };
        let mut part_start = start_sample;
        for (i, viseme) in phone.parts.iter().enumerate() {
            let part_end = match splits.get(i) {
                Some(percent) => start_sample + duration * percent / 100,
                None => end_sample,
            };
            if part_end > part_start {
                self.closed.push_back(Segment {
                    start_sample: part_start,
                    end_sample: Some(part_end),
                    viseme: *viseme,
                    target: shaped_target(*viseme, phone.stress),
                    weight: if phone.weak { WEAK_WEIGHT } else { 1.0 },
                });
            }
            part_start = part_end;
        }
    }

    fn open_segment(&self) -> Segment {
        let viseme = self.open.phone.nucleus();
        Segment {
            start_sample: self.open.start_sample,
            end_sample: None,
            viseme,
            target: shaped_target(viseme, self.open.phone.stress),
            weight: if self.open.phone.weak { WEAK_WEIGHT } else { 1.0 },
        }
    }

    fn emit_next(&mut self, out: &mut Vec<MotionFrame>) {
        let frame_index = self.next_frame_index;
        let centre_x2 = self.frame_centre_x2(frame_index);
        let open = self.open_segment();
        let track = self.closed.iter().chain(std::iter::once(&open));
        let mut vector = self.coarticulator.pose_at(track, centre_x2 as f64 / 2.0);
        if self.closes_lips(frame_index) {
            close_lips(&mut vector);
        }
        if self.frame_count == Some(frame_index + 1) {
            // The utterance ends here, whatever its last phoneme was: hand over a mouth at rest.
            for channel in MOUTH_CHANNELS.into_iter().chain([Channel::BrowInnerUp]) {
                vector.set(channel, 0.0);
            }
        }
        out.push(MotionFrame {
            epoch: self.epoch,
            frame_index,
            sample: self.clock.frame_start_sample(frame_index),
            vector: vector.clamped(),
        });
        self.next_frame_index += 1;
        self.prune();
    }

    /// Whether frame `k` shows a /p b m/ closure: its centre falls inside one, or it holds the
    /// midpoint of one so short that no frame centre falls inside it.
    fn closes_lips(&self, frame_index: u64) -> bool {
        let centre_x2 = self.frame_centre_x2(frame_index);
        let open = self.open_segment();
        self.closed.iter().chain(std::iter::once(&open)).any(|segment| {
            if segment.viseme != Viseme::PP {
                return false;
            }
            let start_x2 = 2 * segment.start_sample;
            let Some(end_sample) = segment.end_sample else {
                // Open: lasts past the horizon, so it holds a frame centre of its own.
                return start_x2 <= centre_x2;
            };
            if start_x2 <= centre_x2 && centre_x2 < 2 * end_sample {
                return true;
            }
            let first = self.clock.frame_at_sample(segment.start_sample);
            let first_inside = if self.frame_centre_x2(first) >= start_x2 {
                first
            } else {
                first + 1
            };
            let holds_a_centre = self.frame_centre_x2(first_inside) < 2 * end_sample;
            let midpoint = segment.start_sample + (end_sample - segment.start_sample) / 2;
            !holds_a_centre && self.clock.frame_at_sample(midpoint) == frame_index
        })
    }

    /// Drops segments no future frame can reach, so memory stays flat over long utterances.
    fn prune(&mut self) {
        let next_start = self.clock.frame_start_sample(self.next_frame_index);
        while let Some(front) = self.closed.front() {
            let end_sample = front.end_sample.unwrap_or(u64::MAX);
            if end_sample.saturating_add(self.lookahead_samples) >= next_start {
                break;
            }
            self.closed.pop_front();
        }
    }
}

/// A viseme's target with stress applied: stressed vowels open wider and lift the brows.
fn shaped_target(viseme: Viseme, stress: Stress) -> MotionVector {
    let mut target = viseme.target();
    if !viseme.is_vowel() {
        return target;
    }
    let (gain, brow) = match stress {
        Stress::Primary => PRIMARY_STRESS,
        Stress::Secondary => SECONDARY_STRESS,
        Stress::Unmarked | Stress::Unstressed => return target,
    };
    for channel in [Channel::JawOpen, Channel::MouthLowerDown] {
        target.set(channel, target.get(channel) * gain);
    }
    target.set(Channel::BrowInnerUp, brow);
    target
}

/// The /p b m/ pose: lips sealed and pressed, jaw shut; rounding is kept ("boo").
fn close_lips(vector: &mut MotionVector) {
    vector.set(Channel::JawOpen, 0.0);
    vector.set(Channel::MouthPress, 1.0);
    vector.set(Channel::MouthClose, 1.0);
    vector.set(Channel::MouthUpperUp, 0.0);
    vector.set(Channel::MouthLowerDown, 0.0);
    vector.set(Channel::MouthStretch, vector.get(Channel::MouthStretch).min(0.2));
}

#[cfg(test)]
mod tests;
