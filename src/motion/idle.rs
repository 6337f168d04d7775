//! Idle motion: the small movements that make a still face look alive.
//!
//! [`IdleMotion`] draws blinks (every 2–6 s, about 150 ms, both eyes, now and then a double
//! blink), a slow head drift (smoothed noise, small amplitude), breathing in the head pitch and
//! occasional gaze shifts, all from a seed. Every pose is a pure function of the seed and the
//! frame index: there is no state to drift, any frame can be recomputed out of order, and a
//! replay gives the same face. Random numbers come from hashing (seed, stream, index), and the
//! time line is cut into fixed slots, each holding one random event, so finding the events near a
//! frame takes constant time.
//!
//! Not here: the mouth (speech backends own it; [`IdleMotion::overlay`] leaves it alone), and
//! reacting to the conversation (looking at the user, nodding on emphasis): that is the job of a
//! later, prosody-aware stage.

use super::spec::{Channel, FrameClock, MotionVector};

/// When speech stops (its utterance ended or was interrupted), what it added to the pose eases
/// out over these times instead of snapping away: the mouth quickly, head and brows slowly.
pub const RELEASE_MOUTH_S: f64 = 0.12;
pub const RELEASE_GESTURE_S: f64 = 0.48;

/// One blink per slot, placed at the slot's middle ± this jitter: consecutive blinks are
/// `BLINK_SLOT_S ± 2 * BLINK_JITTER_S` apart, inside 2–6 s.
const BLINK_SLOT_S: f64 = 4.0;
const BLINK_JITTER_S: f64 = 0.9;
/// Eyelid closing and reopening times around the fully closed instant (150 ms in all).
const BLINK_CLOSE_S: f64 = 0.06;
const BLINK_OPEN_S: f64 = 0.09;
const DOUBLE_BLINK_PROBABILITY: f64 = 0.15;
/// From the first blink's closed instant to the second's.
const DOUBLE_BLINK_GAP_S: f64 = 0.3;

/// Head drift: per channel, two octaves of smoothed noise as (knot spacing s, amplitude).
const YAW_OCTAVES: [(f64, f64); 2] = [(3.1, 0.12), (1.3, 0.03)];
const PITCH_OCTAVES: [(f64, f64); 2] = [(2.7, 0.07), (1.1, 0.02)];
const ROLL_OCTAVES: [(f64, f64); 2] = [(3.7, 0.05), (1.7, 0.015)];
/// About 15 breaths a minute, a barely visible nod.
const BREATH_PERIOD_S: f64 = 4.2;
const BREATH_PITCH: f64 = 0.012;

/// One fixation per slot, starting at a random point in its first part.
const GAZE_SLOT_S: f64 = 1.9;
const GAZE_JITTER_S: f64 = 0.8;
/// Chance that a fixation returns to the camera (the user) rather than wandering.
const GAZE_HOME_PROBABILITY: f64 = 0.45;
const GAZE_RANGE_X: f64 = 0.3;
const GAZE_RANGE_Y: f64 = 0.15;
/// Saccades are fast.
const SACCADE_S: f64 = 0.05;

// Hash streams, so each random quantity is independent of the others.
const STREAM_BLINK_TIME: u64 = 1;
const STREAM_BLINK_DOUBLE: u64 = 2;
const STREAM_YAW: u64 = 3;
const STREAM_PITCH: u64 = 4;
const STREAM_ROLL: u64 = 5;
const STREAM_BREATH: u64 = 6;
const STREAM_GAZE_TIME: u64 = 7;
const STREAM_GAZE_HOME: u64 = 8;
const STREAM_GAZE_X: u64 = 9;
const STREAM_GAZE_Y: u64 = 10;

/// The channels [`IdleMotion::overlay`] drives: blinks (by maximum), head and gaze (by
/// addition). Everything else belongs to the speech backend.
pub const OVERLAY_CHANNELS: [Channel; 7] = [
    Channel::EyeBlinkLeft,
    Channel::EyeBlinkRight,
    Channel::HeadYaw,
    Channel::HeadPitch,
    Channel::HeadRoll,
    Channel::EyeLookX,
    Channel::EyeLookY,
];

/// Seeded, random-access generator of blinks, head drift and gaze.
#[derive(Clone, Copy, Debug)]
pub struct IdleMotion {
    clock: FrameClock,
    seed: u64,
}

impl IdleMotion {
    pub fn new(clock: FrameClock, seed: u64) -> Self {
        IdleMotion { clock, seed }
    }

    /// The idle pose at a frame: mouth at rest, eyes, head and gaze moving.
    pub fn pose_at_frame(&self, frame_index: u64) -> MotionVector {
        let t = self.frame_centre_s(frame_index);
        let mut pose = MotionVector::NEUTRAL;
        let blink = self.blink_at(t) as f32;
        pose.set(Channel::EyeBlinkLeft, blink);
        pose.set(Channel::EyeBlinkRight, blink);
        let breath_phase = std::f64::consts::TAU * (t / BREATH_PERIOD_S + self.unit(STREAM_BREATH, 0));
        pose.set(Channel::HeadYaw, self.drift(STREAM_YAW, &YAW_OCTAVES, t) as f32);
        pose.set(
            Channel::HeadPitch,
            (self.drift(STREAM_PITCH, &PITCH_OCTAVES, t) + BREATH_PITCH * breath_phase.sin()) as f32,
        );
        pose.set(
            Channel::HeadRoll,
            self.drift(STREAM_ROLL, &ROLL_OCTAVES, t) as f32,
        );
        let (x, y) = self.gaze_at(t);
        pose.set(Channel::EyeLookX, x as f32);
        pose.set(Channel::EyeLookY, y as f32);
        pose
    }

    /// `speech` with blinks, head motion and gaze added; mouth channels (and brows) untouched.
    pub fn overlay(&self, frame_index: u64, speech: &MotionVector) -> MotionVector {
        let idle = self.pose_at_frame(frame_index);
        let mut out = *speech;
        for channel in [Channel::EyeBlinkLeft, Channel::EyeBlinkRight] {
            out.set(channel, speech.get(channel).max(idle.get(channel)));
        }
        for channel in [
            Channel::HeadYaw,
            Channel::HeadPitch,
            Channel::HeadRoll,
            Channel::EyeLookX,
            Channel::EyeLookY,
        ] {
            out.set(channel, speech.get(channel) + idle.get(channel));
        }
        out
    }

    /// The pose at `frame_index`, `frames_since` frames after the first frame without speech,
    /// speech having last shown `last_speech`: the idle pose with what speech added easing out
    /// (smoothstep; the mouth over [`RELEASE_MOUTH_S`], the rest over [`RELEASE_GESTURE_S`]).
    /// `None` once it has gone: the pose is then [`Self::pose_at_frame`].
    pub fn release(
        &self,
        frame_index: u64,
        last_speech: &MotionVector,
        frames_since: u64,
    ) -> Option<MotionVector> {
        let fps = f64::from(self.clock.fps);
        let gesture_frames = (RELEASE_GESTURE_S * fps).round().max(1.0);
        if frames_since as f64 >= gesture_frames {
            return None;
        }
        let mouth_frames = (RELEASE_MOUTH_S * fps).round().max(1.0);
        // Weight of the speech part: 1 just before the release began, 0 once it is over.
        let weight = |frames: f64| (1.0 - smoothstep((frames_since + 1) as f64 / frames)) as f32;
        let (mouth, gesture) = (weight(mouth_frames), weight(gesture_frames));
        let mut faded = MotionVector::NEUTRAL;
        for channel in Channel::ALL {
            let w = if MOUTH_CHANNELS_RELEASE.contains(&channel) {
                mouth
            } else {
                gesture
            };
            faded.set(channel, last_speech.get(channel) * w);
        }
        Some(self.overlay(frame_index, &faded))
    }

    fn frame_centre_s(&self, frame_index: u64) -> f64 {
        let centre_x2 =
            self.clock.frame_start_sample(frame_index) + self.clock.frame_start_sample(frame_index + 1);
        centre_x2 as f64 / 2.0 / self.clock.sample_rate_hz as f64
    }

    /// Eyelid closure at `t`: the strongest of the blinks near it.
    fn blink_at(&self, t: f64) -> f64 {
        let slot = (t / BLINK_SLOT_S).floor() as i64;
        let mut closed = 0.0f64;
        for n in (slot - 1).max(0)..=slot + 1 {
            let first = self.blink_closed_time(n);
            closed = closed.max(blink_shape(t - first));
            if self.unit(STREAM_BLINK_DOUBLE, n) < DOUBLE_BLINK_PROBABILITY {
                let second = self.snap_to_frame_centre(first + DOUBLE_BLINK_GAP_S);
                closed = closed.max(blink_shape(t - second));
            }
        }
        closed
    }

    /// When blink `n` is fully closed, snapped to a frame centre so every blink shows one
    /// fully closed frame whatever the frame rate.
    fn blink_closed_time(&self, n: i64) -> f64 {
        let jitter = (2.0 * self.unit(STREAM_BLINK_TIME, n) - 1.0) * BLINK_JITTER_S;
        self.snap_to_frame_centre((n as f64 + 0.5) * BLINK_SLOT_S + jitter)
    }

    fn snap_to_frame_centre(&self, t: f64) -> f64 {
        let sample = (t * self.clock.sample_rate_hz as f64).max(0.0) as u64;
        self.frame_centre_s(self.clock.frame_at_sample(sample))
    }

    /// Smoothed noise: Catmull-Rom through random knots, summed over octaves. Continuous in
    /// value and velocity, so the head never jerks; bounded by 1.25 × the summed amplitudes.
    fn drift(&self, stream: u64, octaves: &[(f64, f64)], t: f64) -> f64 {
        octaves
            .iter()
            .enumerate()
            .map(|(octave, &(spacing_s, amplitude))| {
                let stream = stream * 16 + octave as u64;
                let u = t / spacing_s;
                let i = u.floor() as i64;
                let f = u - i as f64;
                let knot = |k: i64| 2.0 * self.unit(stream, k) - 1.0;
                amplitude * catmull_rom(knot(i - 1), knot(i), knot(i + 1), knot(i + 2), f)
            })
            .sum()
    }

    /// Gaze at `t`: the current fixation's target, reached by a quick saccade from the last one.
    fn gaze_at(&self, t: f64) -> (f64, f64) {
        let mut n = (t / GAZE_SLOT_S).floor() as i64;
        if t < self.fixation_start(n) {
            n -= 1;
        }
        let (x0, y0) = self.fixation_target(n - 1);
        let (x1, y1) = self.fixation_target(n);
        let s = smoothstep((t - self.fixation_start(n)) / SACCADE_S);
        (x0 + (x1 - x0) * s, y0 + (y1 - y0) * s)
    }

    fn fixation_start(&self, n: i64) -> f64 {
        n as f64 * GAZE_SLOT_S + self.unit(STREAM_GAZE_TIME, n) * GAZE_JITTER_S
    }

    fn fixation_target(&self, n: i64) -> (f64, f64) {
        // Before the first slot, and on "home" fixations, look at the camera.
        if n < 0 || self.unit(STREAM_GAZE_HOME, n) < GAZE_HOME_PROBABILITY {
            return (0.0, 0.0);
        }
        (
            (2.0 * self.unit(STREAM_GAZE_X, n) - 1.0) * GAZE_RANGE_X,
            (2.0 * self.unit(STREAM_GAZE_Y, n) - 1.0) * GAZE_RANGE_Y,
        )
    }

    /// A uniform number in [0, 1) determined by (seed, stream, index) alone.
    fn unit(&self, stream: u64, index: i64) -> f64 {
        let mixed =
            splitmix64(splitmix64(self.seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ index as u64);
        (mixed >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Channels released at the mouth's pace.
const MOUTH_CHANNELS_RELEASE: [Channel; 9] = crate::motion::visemes::MOUTH_CHANNELS;

/// Eyelid closure `dt` seconds after the fully closed instant: 0 outside the blink.
fn blink_shape(dt: f64) -> f64 {
    if (-BLINK_CLOSE_S..=0.0).contains(&dt) {
        smoothstep(1.0 + dt / BLINK_CLOSE_S)
    } else if dt > 0.0 && dt < BLINK_OPEN_S {
        1.0 - smoothstep(dt / BLINK_OPEN_S)
    } else {
        0.0
    }
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

fn catmull_rom(p0: f64, p1: f64, p2: f64, p3: f64, f: f64) -> f64 {
    let f2 = f * f;
    let f3 = f2 * f;
    0.5 * (2.0 * p1
        + (p2 - p0) * f
        + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * f2
        + (3.0 * p1 - p0 - 3.0 * p2 + p3) * f3)
}

pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::visemes::MOUTH_CHANNELS;

    const FPS: u32 = 25;

    fn idle(seed: u64) -> IdleMotion {
        IdleMotion::new(FrameClock::new(48_000, FPS), seed)
    }

    /// Frames at which a blink (or the first of a double blink) is fully closed.
    fn blink_events(motion: &IdleMotion, frames: u64) -> (Vec<u64>, usize) {
        let mut events: Vec<u64> = Vec::new();
        let mut doubles = 0;
        for k in 0..frames {
            if motion.pose_at_frame(k).get(Channel::EyeBlinkLeft) < 0.999 {
                continue;
            }
            match events.last() {
                // The second blink of a double belongs to the same event.
                Some(&last) if k - last < FPS as u64 / 2 => doubles += 1,
                _ => events.push(k),
            }
        }
        (events, doubles)
    }

    #[test]
    fn blinks_come_every_two_to_six_seconds() {
        for seed in 0..20 {
            let motion = idle(seed);
            let (events, _) = blink_events(&motion, 60 * FPS as u64);
            assert!(events.len() >= 10, "seed {seed}: {events:?}");
            for pair in events.windows(2) {
                let interval_s = (pair[1] - pair[0]) as f64 / FPS as f64;
                assert!(
                    (2.0..=6.0).contains(&interval_s),
                    "seed {seed}: {interval_s} s in {events:?}"
                );
            }
        }
    }

    #[test]
    fn blinks_are_short_both_eyes_and_sometimes_double() {
        let motion = idle(42);
        let mut doubles = 0;
        let mut events = 0;
        for seed in 0..10 {
            let (e, d) = blink_events(&idle(seed), 120 * FPS as u64);
            events += e.len();
            doubles += d;
        }
        assert!(
            doubles > 0 && doubles * 3 < events,
            "{doubles} doubles in {events} blinks"
        );
        for k in 0..60 * FPS as u64 {
            let pose = motion.pose_at_frame(k);
            assert_eq!(pose.get(Channel::EyeBlinkLeft), pose.get(Channel::EyeBlinkRight));
        }
        // About 150 ms: no more than 4 frames with the eyelid noticeably down per blink.
        let (events, _) = blink_events(&motion, 60 * FPS as u64);
        let down = (0..60 * FPS as u64)
            .filter(|k| motion.pose_at_frame(*k).get(Channel::EyeBlinkLeft) > 0.1)
            .count();
        assert!(
            down <= events.len() * 8,
            "{down} frames down for {} blinks",
            events.len()
        );
    }

    #[test]
    fn head_drifts_gently_and_stays_small() {
        for seed in 0..10 {
            let motion = idle(seed);
            let poses: Vec<MotionVector> = (0..60 * FPS as u64).map(|k| motion.pose_at_frame(k)).collect();
            for channel in [Channel::HeadYaw, Channel::HeadPitch, Channel::HeadRoll] {
                let track: Vec<f32> = poses.iter().map(|p| p.get(channel)).collect();
                assert!(
                    track.iter().all(|x| x.abs() <= 0.3),
                    "seed {seed} {}",
                    channel.name()
                );
                let moved = track.iter().cloned().fold(f32::MIN, f32::max)
                    - track.iter().cloned().fold(f32::MAX, f32::min);
                assert!(
                    moved > 0.02,
                    "seed {seed} {} barely moves: {moved}",
                    channel.name()
                );
                for w in track.windows(3) {
                    let second_difference = (w[2] - 2.0 * w[1] + w[0]).abs();
                    assert!(
                        second_difference < 0.002,
                        "seed {seed} {}: {second_difference}",
                        channel.name()
                    );
                }
            }
        }
    }

    #[test]
    fn gaze_shifts_now_and_then_within_range() {
        let motion = idle(3);
        let xs: Vec<f32> = (0..60 * FPS as u64)
            .map(|k| motion.pose_at_frame(k).get(Channel::EyeLookX))
            .collect();
        let shifts = xs.windows(2).filter(|w| (w[1] - w[0]).abs() > 0.02).count();
        assert!(shifts >= 5, "{shifts} gaze shifts in a minute");
        assert!(xs.iter().all(|x| x.abs() <= GAZE_RANGE_X as f32));
    }

    #[test]
    fn same_seed_same_face_in_any_order() {
        let a = idle(7);
        let b = idle(7);
        let forward: Vec<MotionVector> = (0..3000).map(|k| a.pose_at_frame(k)).collect();
        let backward: Vec<MotionVector> = (0..3000).rev().map(|k| b.pose_at_frame(k)).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        let other = idle(8);
        assert!((0..3000).any(|k| other.pose_at_frame(k) != forward[k as usize]));
        // Far into a long session too.
        assert_eq!(a.pose_at_frame(10_000_000), b.pose_at_frame(10_000_000));
    }

    #[test]
    fn speech_eases_out_instead_of_snapping_away() {
        let motion = idle(5);
        let mut speech = MotionVector::NEUTRAL;
        speech.set(Channel::JawOpen, 0.5);
        speech.set(Channel::HeadYaw, 0.1);
        speech.set(Channel::BrowInnerUp, 0.4);
        let end = 100;
        let mut track = vec![motion.overlay(end - 2, &speech), motion.overlay(end - 1, &speech)];
        let mut k = end;
        while let Some(pose) = motion.release(k, &speech, k - end) {
            track.push(pose);
            k += 1;
        }
        assert_eq!(k - end, (RELEASE_GESTURE_S * FPS as f64).round() as u64);
        for _ in 0..3 {
            track.push(motion.pose_at_frame(k));
            k += 1;
        }
        // The mouth is shut within the mouth's release time, the head follows smoothly.
        let mouth_frames = (RELEASE_MOUTH_S * FPS as f64).round() as usize;
        assert_eq!(track[2 + mouth_frames - 1].get(Channel::JawOpen), 0.0);
        for w in track.windows(3) {
            let d2 = (w[2].get(Channel::HeadYaw) - 2.0 * w[1].get(Channel::HeadYaw)
                + w[0].get(Channel::HeadYaw))
            .abs();
            assert!(d2 < 0.02, "head jerks by {d2} per frame²");
        }
        let last = track.last().unwrap();
        assert_eq!(*last, motion.pose_at_frame(k - 1));
    }

    #[test]
    fn overlay_leaves_the_mouth_alone() {
        let motion = idle(1);
        let mut speech = MotionVector::NEUTRAL;
        for (i, channel) in MOUTH_CHANNELS.into_iter().enumerate() {
            speech.set(channel, 0.1 * i as f32);
        }
        speech.set(Channel::BrowInnerUp, 0.2);
        for k in 0..1000 {
            let out = motion.overlay(k, &speech);
            for channel in MOUTH_CHANNELS.into_iter().chain([Channel::BrowInnerUp]) {
                assert_eq!(out.get(channel), speech.get(channel));
            }
            let alone = motion.pose_at_frame(k);
            assert_eq!(out.get(Channel::HeadYaw), alone.get(Channel::HeadYaw));
            assert_eq!(out.get(Channel::EyeBlinkRight), alone.get(Channel::EyeBlinkRight));
        }
    }
}
