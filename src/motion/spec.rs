//! The motion vector: the one place that says which channels drive the face and their ranges.
//!
//! One [`MotionFrame`] per video frame. Channel names follow ARKit blendshape names where one
//! fits, so rigs authored for ARKit map onto ours. Every backend (rules, energy, the learned
//! model), the renderer and the training scripts use this list; `scripts/` reads the same names
//! from [`Channel::name`] through `persona motion channels`.

use crate::runtime::epoch::Epoch;

/// Motion channels, in vector order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Channel {
    /// Jaw opening, 0 closed .. 1 fully open.
    JawOpen,
    /// Lips pushed forward into a funnel ("oo" in "food").
    MouthFunnel,
    /// Lips pursed tight ("w").
    MouthPucker,
    /// Mouth corners pulled wide ("ee").
    MouthStretch,
    /// Lips pressed together (closure for /p b m/).
    MouthPress,
    /// Lips touching while the jaw may be slightly open.
    MouthClose,
    /// Upper lip raised ("f", "v" show upper teeth).
    MouthUpperUp,
    /// Lower lip pulled down.
    MouthLowerDown,
    /// Smile (both corners up).
    MouthSmile,
    /// Left eyelid closed, 0 open .. 1 shut.
    EyeBlinkLeft,
    /// Right eyelid closed.
    EyeBlinkRight,
    /// Brows raised.
    BrowInnerUp,
    /// Head turn, -1 (left, about -20°) .. 1 (right).
    HeadYaw,
    /// Head nod, -1 (down) .. 1 (up), about ±15°.
    HeadPitch,
    /// Head tilt, -1 .. 1, about ±10°.
    HeadRoll,
    /// Gaze left/right, -1 .. 1.
    EyeLookX,
    /// Gaze down/up, -1 .. 1.
    EyeLookY,
}

/// Number of motion channels.
pub const CHANNEL_COUNT: usize = 17;

impl Channel {
    pub const ALL: [Channel; CHANNEL_COUNT] = [
        Channel::JawOpen,
        Channel::MouthFunnel,
        Channel::MouthPucker,
        Channel::MouthStretch,
        Channel::MouthPress,
        Channel::MouthClose,
        Channel::MouthUpperUp,
        Channel::MouthLowerDown,
        Channel::MouthSmile,
        Channel::EyeBlinkLeft,
        Channel::EyeBlinkRight,
        Channel::BrowInnerUp,
        Channel::HeadYaw,
        Channel::HeadPitch,
        Channel::HeadRoll,
        Channel::EyeLookX,
        Channel::EyeLookY,
    ];

    /// Stable name used in files (model metadata, training data, avatar rigs).
    pub fn name(self) -> &'static str {
        match self {
            Channel::JawOpen => "jawOpen",
            Channel::MouthFunnel => "mouthFunnel",
            Channel::MouthPucker => "mouthPucker",
            Channel::MouthStretch => "mouthStretch",
            Channel::MouthPress => "mouthPress",
            Channel::MouthClose => "mouthClose",
            Channel::MouthUpperUp => "mouthUpperUp",
            Channel::MouthLowerDown => "mouthLowerDown",
            Channel::MouthSmile => "mouthSmile",
            Channel::EyeBlinkLeft => "eyeBlinkLeft",
            Channel::EyeBlinkRight => "eyeBlinkRight",
            Channel::BrowInnerUp => "browInnerUp",
            Channel::HeadYaw => "headYaw",
            Channel::HeadPitch => "headPitch",
            Channel::HeadRoll => "headRoll",
            Channel::EyeLookX => "eyeLookX",
            Channel::EyeLookY => "eyeLookY",
        }
    }

    /// Inclusive value range.
    pub fn range(self) -> (f32, f32) {
        match self {
            Channel::HeadYaw
            | Channel::HeadPitch
            | Channel::HeadRoll
            | Channel::EyeLookX
            | Channel::EyeLookY => (-1.0, 1.0),
            _ => (0.0, 1.0),
        }
    }

    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The face's pose for one video frame.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct MotionVector(pub [f32; CHANNEL_COUNT]);

impl MotionVector {
    /// Rest pose: mouth closed, eyes open, head straight.
    pub const NEUTRAL: MotionVector = MotionVector([0.0; CHANNEL_COUNT]);

    pub fn get(&self, channel: Channel) -> f32 {
        self.0[channel as usize]
    }

    pub fn set(&mut self, channel: Channel, value: f32) {
        let (lo, hi) = channel.range();
        self.0[channel as usize] = value.clamp(lo, hi);
    }

    /// Clamps every channel into its range (backends call this before emitting).
    pub fn clamped(mut self) -> Self {
        for channel in Channel::ALL {
            let value = self.get(channel);
            self.set(channel, value);
        }
        self
    }

    /// Linear blend: `self * (1 - t) + other * t`.
    pub fn lerp(&self, other: &MotionVector, t: f32) -> MotionVector {
        let mut out = *self;
        for (o, b) in out.0.iter_mut().zip(other.0.iter()) {
            *o += (b - *o) * t;
        }
        out
    }
}

/// A motion vector placed on the utterance's audio clock.
#[derive(Clone, Copy, Debug)]
pub struct MotionFrame {
    pub epoch: Epoch,
    /// Index of the video frame within its utterance (frame `k` covers samples
    /// `k * samples_per_frame ..`).
    pub frame_index: u64,
    /// Utterance-local audio sample (at the output rate) the frame belongs to.
    pub sample: u64,
    pub vector: MotionVector,
}

/// Video frame timing on the audio clock, in exact integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameClock {
    pub sample_rate_hz: u32,
    pub fps: u32,
}

impl FrameClock {
    pub fn new(sample_rate_hz: u32, fps: u32) -> Self {
        assert!(fps > 0 && sample_rate_hz > 0);
        FrameClock { sample_rate_hz, fps }
    }

    /// First audio sample of video frame `k` (rounded down when the rate is not a multiple of
    /// the frame rate, without drift: computed from `k`, not accumulated).
    pub fn frame_start_sample(&self, frame_index: u64) -> u64 {
        frame_index * self.sample_rate_hz as u64 / self.fps as u64
    }

    /// The video frame that shows audio sample `sample`.
    pub fn frame_at_sample(&self, sample: u64) -> u64 {
        // Largest k with floor(k * rate / fps) <= sample, i.e. k * rate < (sample + 1) * fps.
        ((sample + 1) * self.fps as u64).div_ceil(self.sample_rate_hz as u64) - 1
    }

    /// Number of video frames needed to cover `samples` of audio.
    pub fn frames_covering(&self, samples: u64) -> u64 {
        (samples * self.fps as u64).div_ceil(self.sample_rate_hz as u64)
    }

    /// Frame duration in nanoseconds (exact for 25 and 30 fps).
    pub fn frame_duration_ns(&self) -> u64 {
        1_000_000_000 / self.fps as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_table_is_consistent() {
        for (i, channel) in Channel::ALL.iter().enumerate() {
            assert_eq!(*channel as usize, i, "{} out of order", channel.name());
            assert_eq!(Channel::from_name(channel.name()), Some(*channel));
        }
    }

    #[test]
    fn set_clamps_to_range() {
        let mut v = MotionVector::NEUTRAL;
        v.set(Channel::JawOpen, 1.7);
        v.set(Channel::HeadYaw, -3.0);
        assert_eq!(v.get(Channel::JawOpen), 1.0);
        assert_eq!(v.get(Channel::HeadYaw), -1.0);
    }

    #[test]
    fn frame_clock_maps_frames_and_samples_exactly() {
        let clock = FrameClock::new(48_000, 25);
        assert_eq!(clock.frame_start_sample(1), 1920);
        assert_eq!(clock.frame_at_sample(0), 0);
        assert_eq!(clock.frame_at_sample(1919), 0);
        assert_eq!(clock.frame_at_sample(1920), 1);
        assert_eq!(clock.frames_covering(1921), 2);
        assert_eq!(clock.frames_covering(3840), 2);
        let odd = FrameClock::new(22_050, 30);
        for k in 0..1000 {
            let start = odd.frame_start_sample(k);
            assert_eq!(odd.frame_at_sample(start), k);
            if start > 0 {
                assert_eq!(odd.frame_at_sample(start - 1), k - 1);
            }
        }
    }
}
