//! Motion from audio alone: a mouth that opens with loudness, for audio without phoneme timings
//! (`persona render --audio file.wav`, or a TTS engine that reports none).
//!
//! [`EnergyMotion`] is a streaming, sans-IO core. Per video frame it measures the level (RMS, in
//! dBFS) and a brightness (the RMS frequency, from the energy of the first difference). The level
//! is gated by an adaptive noise floor and normalised against a slowly decaying peak, so quiet and
//! loud speakers move the jaw alike; openness is smoothed with a fast attack and a slower release.
//! Openness drives the jaw and lower lip; brightness tilts the lips between spread (bright, front
//! vowels, sibilants, which also narrow the jaw) and rounded (dark); silence seals the lips with
//! MouthClose. It has no lookahead: a frame is ready as soon as its last sample arrives.
//!
//! Not here: phoneme identity (no /p b m/ closures; [`super::rules`] does that when timings
//! exist), voice activity decisions for the conversation (that is `vad`), resampling.

use super::spec::{Channel, FrameClock, MotionFrame, MotionVector};
use crate::runtime::epoch::Epoch;

/// Levels below this are silence whatever the noise floor says.
const ABSOLUTE_GATE_DBFS: f32 = -60.0;
/// Speech must stand this far above the tracked noise floor.
const GATE_ABOVE_FLOOR_DB: f32 = 9.0;
/// How fast the noise floor creeps up while the signal stays above it.
const FLOOR_RISE_DB_PER_S: f32 = 3.0;
/// Lowest noise floor tracked (digital silence would otherwise drive it to minus infinity).
const FLOOR_MIN_DBFS: f32 = -100.0;
/// Prior for the loudest speech level, before any has been heard.
const INITIAL_PEAK_DBFS: f32 = -20.0;
/// How fast the peak forgets a loud passage while speech goes on.
const PEAK_DECAY_DB_PER_S: f32 = 6.0;
/// Levels from the peak down to this far below it map onto openness 1 .. 0.
const RANGE_DB: f32 = 30.0;

const ATTACK_MS: f32 = 20.0;
const RELEASE_MS: f32 = 50.0;
/// Below this openness a closing mouth is shut: the release would otherwise never quite end.
const SHUT_BELOW: f32 = 0.02;
/// Brightness and frication are smoothed symmetrically.
const TIMBRE_MS: f32 = 40.0;

/// Channel gains for a fully open, neutral-timbre frame.
const JAW_MAX: f32 = 0.65;
const LOWER_LIP_MAX: f32 = 0.3;

/// Streaming audio → motion-frame generator for one stream.
#[derive(Debug)]
pub struct EnergyMotion {
    clock: FrameClock,
    epoch: Epoch,
    /// The frame being accumulated.
    frame: FrameStats,
    /// Last sample of the previous call, so the first difference runs across calls.
    previous_sample: f32,
    samples_seen: u64,
    next_frame_index: u64,
    floor_dbfs: f32,
    peak_dbfs: f32,
    openness: f32,
    brightness: f32,
    frication: f32,
    coefficients: Coefficients,
    ready: Vec<MotionFrame>,
    finished: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct FrameStats {
    sum_squares: f64,
    sum_diff_squares: f64,
    count: u64,
}

/// Per-frame constants derived from the clock.
#[derive(Clone, Copy, Debug)]
struct Coefficients {
    attack: f32,
    release: f32,
    timbre: f32,
    floor_rise_db: f32,
    peak_decay_db: f32,
}

impl Coefficients {
    fn new(clock: FrameClock) -> Self {
        let frame_ms = 1000.0 / clock.fps as f32;
        let one_pole = |tau_ms: f32| 1.0 - (-frame_ms / tau_ms).exp();
        Coefficients {
            attack: one_pole(ATTACK_MS),
            release: one_pole(RELEASE_MS),
            timbre: one_pole(TIMBRE_MS),
            floor_rise_db: FLOOR_RISE_DB_PER_S * frame_ms / 1000.0,
            peak_decay_db: PEAK_DECAY_DB_PER_S * frame_ms / 1000.0,
        }
    }
}

impl EnergyMotion {
    pub fn new(clock: FrameClock, epoch: Epoch) -> Self {
        EnergyMotion {
            clock,
            epoch,
            frame: FrameStats::default(),
            previous_sample: 0.0,
            samples_seen: 0,
            next_frame_index: 0,
            floor_dbfs: FLOOR_MIN_DBFS,
            peak_dbfs: INITIAL_PEAK_DBFS,
            openness: 0.0,
            brightness: 0.5,
            frication: 0.0,
            coefficients: Coefficients::new(clock),
            ready: Vec::new(),
            finished: false,
        }
    }

    /// Algorithmic latency: none beyond the frame itself.
    pub fn lookahead_samples(&self) -> u64 {
        0
    }

    /// Adds mono samples in [-1, 1] at the clock's rate. Ignored after `finish`.
    pub fn push_audio(&mut self, samples: &[f32]) {
        if self.finished {
            return;
        }
        let mut rest = samples;
        while !rest.is_empty() {
            let frame_end = self.clock.frame_start_sample(self.next_frame_index + 1);
            let room = (frame_end - self.samples_seen) as usize;
            let (now, later) = rest.split_at(room.min(rest.len()));
            for &sample in now {
                // Non-finite input would poison every later frame through the trackers.
                let sample = if sample.is_finite() {
                    sample.clamp(-1.0, 1.0)
                } else {
                    0.0
                };
                let diff = sample - self.previous_sample;
                self.frame.sum_squares += (sample * sample) as f64;
                self.frame.sum_diff_squares += (diff * diff) as f64;
                self.frame.count += 1;
                self.previous_sample = sample;
            }
            self.samples_seen += now.len() as u64;
            rest = later;
            if self.samples_seen == frame_end {
                self.complete_frame();
            }
        }
    }

    /// Moves every completed frame to `out`.
    pub fn advance(&mut self, out: &mut Vec<MotionFrame>) {
        out.append(&mut self.ready);
    }

    /// Completes the last, partial frame and moves everything left to `out`: in all,
    /// `clock.frames_covering(samples pushed)` frames.
    pub fn finish(&mut self, out: &mut Vec<MotionFrame>) {
        if !self.finished && self.frame.count > 0 {
            self.complete_frame();
        }
        self.finished = true;
        self.advance(out);
    }

    fn complete_frame(&mut self) {
        let stats = std::mem::take(&mut self.frame);
        let c = self.coefficients;
        let (level_dbfs, rms_frequency_hz) = if stats.count == 0 {
            (FLOOR_MIN_DBFS, 0.0)
        } else {
            let mean_square = stats.sum_squares / stats.count as f64;
            let level = (10.0 * (mean_square + 1e-12).log10()) as f32;
            // For a sinusoid of frequency f, E[diff²] / E[x²] = (2 sin(π f / rate))²; inverting
            // it gives a brightness measure in Hz for any signal.
            let ratio = stats.sum_diff_squares / (stats.sum_squares + 1e-20);
            let half_chord = (ratio.sqrt() / 2.0).min(1.0);
            let hz = self.clock.sample_rate_hz as f64 / std::f64::consts::PI * half_chord.asin();
            (level, hz as f32)
        };

        if level_dbfs < self.floor_dbfs {
            self.floor_dbfs = level_dbfs.max(FLOOR_MIN_DBFS);
        } else {
            self.floor_dbfs = (self.floor_dbfs + c.floor_rise_db).min(level_dbfs);
        }
        // Loud enough to be speech however long it lasts: the floor stays well under the peak.
        self.floor_dbfs = self.floor_dbfs.min(self.peak_dbfs - 2.0 * GATE_ABOVE_FLOOR_DB);
        let speaking = level_dbfs > ABSOLUTE_GATE_DBFS.max(self.floor_dbfs + GATE_ABOVE_FLOOR_DB);
        if speaking {
            self.peak_dbfs = (self.peak_dbfs - c.peak_decay_db).max(level_dbfs);
        }

        let (open_target, bright_target, fric_target) = if speaking {
            let open = ((level_dbfs - (self.peak_dbfs - RANGE_DB)) / RANGE_DB).clamp(0.0, 1.0);
            let bright = ((rms_frequency_hz / 300.0).log2() / (3000.0f32 / 300.0).log2()).clamp(0.0, 1.0);
            (open, bright, smoothstep(2500.0, 6000.0, rms_frequency_hz))
        } else {
            (0.0, self.brightness, 0.0)
        };
        let rate = if open_target > self.openness {
            c.attack
        } else {
            c.release
        };
        self.openness += (open_target - self.openness) * rate;
        if open_target == 0.0 && self.openness < SHUT_BELOW {
            self.openness = 0.0;
        }
        self.brightness += (bright_target - self.brightness) * c.timbre;
        self.frication += (fric_target - self.frication) * c.timbre;

        let open = self.openness;
        let mut vector = MotionVector::NEUTRAL;
        // Sibilants are loud but made with the teeth nearly together.
        vector.set(Channel::JawOpen, JAW_MAX * open * (1.0 - 0.6 * self.frication));
        vector.set(Channel::MouthLowerDown, LOWER_LIP_MAX * open);
        vector.set(Channel::MouthStretch, open * (0.1 + 0.25 * self.brightness));
        vector.set(Channel::MouthFunnel, open * 0.25 * (1.0 - self.brightness));
        vector.set(Channel::MouthClose, 1.0 - smoothstep(0.0, 0.2, open));
        self.ready.push(MotionFrame {
            epoch: self.epoch,
            frame_index: self.next_frame_index,
            sample: self.clock.frame_start_sample(self.next_frame_index),
            vector,
        });
        self.next_frame_index += 1;
    }
}

fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE_HZ: u32 = 48_000;

    fn clock() -> FrameClock {
        FrameClock::new(RATE_HZ, 25)
    }

    fn run(samples: &[f32]) -> Vec<MotionFrame> {
        let mut motion = EnergyMotion::new(clock(), Epoch(1));
        let mut out = Vec::new();
        motion.push_audio(samples);
        motion.finish(&mut out);
        out
    }

    fn silence(seconds: f32) -> Vec<f32> {
        vec![0.0; (seconds * RATE_HZ as f32) as usize]
    }

    /// A 150 Hz sawtooth through a one-pole low-pass (a crude glottal source and vocal tract).
    fn voiced(seconds: f32, amplitude: f32) -> Vec<f32> {
        let n = (seconds * RATE_HZ as f32) as usize;
        let mut low = 0.0f32;
        (0..n)
            .map(|i| {
                let phase = (i as f32 * 150.0 / RATE_HZ as f32).fract();
                low += (2.0 * phase - 1.0 - low) * 0.2;
                amplitude * low
            })
            .collect()
    }

    fn tone(seconds: f32, hz: f32, amplitude: f32) -> Vec<f32> {
        let n = (seconds * RATE_HZ as f32) as usize;
        (0..n)
            .map(|i| amplitude * (std::f32::consts::TAU * hz * i as f32 / RATE_HZ as f32).sin())
            .collect()
    }

    fn frames_between(frames: &[MotionFrame], from_s: f32, to_s: f32) -> impl Iterator<Item = &MotionVector> {
        frames
            .iter()
            .filter(move |f| {
                let t = f.sample as f32 / RATE_HZ as f32;
                t >= from_s && t < to_s
            })
            .map(|f| &f.vector)
    }

    #[test]
    fn silence_is_a_closed_mouth() {
        let frames = run(&silence(2.0));
        assert_eq!(frames.len(), 50);
        for frame in &frames {
            assert_eq!(frame.vector.get(Channel::JawOpen), 0.0);
            assert_eq!(frame.vector.get(Channel::MouthClose), 1.0);
        }
    }

    #[test]
    fn a_voiced_burst_opens_the_jaw_and_silence_closes_it_again() {
        let audio = [silence(0.5), voiced(1.0, 0.3), silence(1.0)].concat();
        let frames = run(&audio);
        for v in frames_between(&frames, 0.0, 0.47) {
            assert_eq!(v.get(Channel::JawOpen), 0.0);
        }
        for v in frames_between(&frames, 0.6, 1.5) {
            assert!(v.get(Channel::JawOpen) > 0.4, "{v:?}");
            assert!(v.get(Channel::MouthClose) < 0.05, "{v:?}");
        }
        for v in frames_between(&frames, 1.7, 2.5) {
            assert!(v.get(Channel::JawOpen) < 0.01, "{v:?}");
            assert!(v.get(Channel::MouthClose) > 0.95, "{v:?}");
        }
    }

    #[test]
    fn quiet_and_loud_voices_open_the_jaw_alike_once_adapted() {
        let jaw_late = |amplitude| {
            let frames = run(&voiced(4.0, amplitude));
            let late: Vec<f32> = frames_between(&frames, 3.0, 4.0)
                .map(|v| v.get(Channel::JawOpen))
                .collect();
            late.iter().sum::<f32>() / late.len() as f32
        };
        let loud = jaw_late(0.5);
        let quiet = jaw_late(0.02);
        assert!(loud > 0.5, "{loud}");
        assert!((quiet - loud).abs() < 0.1, "quiet {quiet}, loud {loud}");
    }

    #[test]
    fn bright_sounds_spread_the_lips_and_dark_ones_round_them() {
        let last = |audio: Vec<f32>| run(&audio).last().expect("frames").vector;
        let dark = last(tone(0.5, 200.0, 0.3));
        let bright = last(tone(0.5, 2500.0, 0.3));
        assert!(
            dark.get(Channel::MouthFunnel) > dark.get(Channel::MouthStretch),
            "{dark:?}"
        );
        assert!(
            bright.get(Channel::MouthStretch) > bright.get(Channel::MouthFunnel),
            "{bright:?}"
        );
        let hiss = last(tone(0.5, 7000.0, 0.3));
        assert!(
            hiss.get(Channel::JawOpen) < dark.get(Channel::JawOpen) * 0.6,
            "{hiss:?} vs {dark:?}"
        );
    }

    #[test]
    fn frames_cover_the_audio_however_it_is_chunked() {
        let audio = [silence(0.3), voiced(0.77, 0.2), silence(0.2)].concat();
        let audio = &audio[..audio.len() - 123];
        let expected = run(audio);
        assert_eq!(expected.len() as u64, clock().frames_covering(audio.len() as u64));
        for (k, frame) in expected.iter().enumerate() {
            assert_eq!(frame.frame_index, k as u64);
            assert_eq!(frame.sample, clock().frame_start_sample(k as u64));
        }
        for chunk in [1, 7, 480, 1919, 1920, 5000] {
            let mut motion = EnergyMotion::new(clock(), Epoch(1));
            let mut out = Vec::new();
            for piece in audio.chunks(chunk) {
                motion.push_audio(piece);
                motion.advance(&mut out);
            }
            motion.finish(&mut out);
            assert_eq!(out.len(), expected.len());
            for (a, b) in out.iter().zip(&expected) {
                assert_eq!(
                    (a.frame_index, a.vector),
                    (b.frame_index, b.vector),
                    "chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn garbage_samples_do_not_poison_the_stream() {
        let audio = [vec![f32::NAN, f32::INFINITY, 40.0], voiced(0.5, 0.3)].concat();
        let frames = run(&audio);
        assert!(frames.iter().all(|f| f.vector.0.iter().all(|x| x.is_finite())));
        assert!(frames.last().expect("frames").vector.get(Channel::JawOpen) > 0.3);
    }
}
