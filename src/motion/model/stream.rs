//! [`ModelMotion`]: the sans-IO streaming core of the learned backend, one per utterance.
//!
//! Audio arrives at the output rate, is resampled to 16 kHz ([`StreamResampler`]) and turned into
//! log-mel frames ([`LogMelStream`]) as it comes. Once the features of the next chunk (its
//! frames plus the model's lookahead) are in, [`ModelMotion::poll_request`] hands out a
//! [`ChunkRequest`]: the feature window, the last `context_frames` poses this stream produced
//! (rest before the utterance), and noise for the chunk's frames. The caller runs it (directly
//! with [`MotionNet`], or through the shared [`super::MotionWorker`]) and gives the result to
//! [`ModelMotion::complete`], which emits poses at the output frame rate. One chunk is in flight
//! at a time, because the next one is conditioned on it.
//!
//! **Seamless chunks.** Chunks are conditioned on the poses just before them, and the audio a
//! frame hears does not depend on where the chunk boundaries fall: the network's audio encoder
//! sees exactly the same features for a frame in any chunk. The noise of frame `j` depends only
//! on the seed and `j`, so a chunk size changes nothing but the conditioning. The whole utterance
//! in one chunk (`chunk_frames` larger than the utterance) is the reference the streamed output is
//! tested against.
//!
//! **Determinism.** The noise comes from a counter-based generator keyed by (seed, frame,
//! channel): the same seed and audio give the same poses however the audio was split.
//!
//! **Frame rates.** The model runs at its own 25 fps; an output at another frame rate samples the
//! model's frames at its frame centres, linearly interpolated.
//!
//! Not here: threads, clocks, the ONNX session.

use std::collections::VecDeque;

use super::ModelError;
use super::meta::ModelMeta;
use super::net::{ChunkRequest, MotionNet};
use crate::audio::{AudioFrame, StreamResampler};
use crate::motion::features::{self, LOG_FLOOR, LogMelStream, MEL_BINS, MelFrame};
use crate::motion::idle::splitmix64;
use crate::motion::spec::{CHANNEL_COUNT, Channel, FrameClock, MotionFrame, MotionVector};
use crate::runtime::epoch::Epoch;

/// Time constant of the two-pole low-pass on the model's gesture channels (brows and head).
/// The network's gestures are sampled, and its least-weighted channels carry frame-to-frame
/// jitter of a few thousandths plus small steps where chunks meet; this removes both and delays
/// gestures by about two frames, which nobody sees (they are not tied to phonemes). The mouth is
/// never filtered.
pub const GESTURE_SMOOTHING_S: f64 = 0.06;
/// The channels the low-pass smooths.
const GESTURE_CHANNELS: [Channel; 4] = [
    Channel::BrowInnerUp,
    Channel::HeadYaw,
    Channel::HeadPitch,
    Channel::HeadRoll,
];

/// Longest chunk: more than any utterance (11 hours at 25 fps). Asking for it runs a finished
/// utterance in one call, the whole-utterance reference.
pub const MAX_CHUNK_FRAMES: usize = 1 << 20;

/// Streaming audio → motion for one utterance.
pub struct ModelMotion {
    clock: FrameClock,
    epoch: Epoch,
    seed: u64,
    chunk_frames: usize,
    context_frames: usize,
    lookahead_features: usize,
    features_per_frame: usize,
    samples_per_frame_16k: u64,
    model_fps: u32,
    generated: [bool; CHANNEL_COUNT],
    resampler: StreamResampler,
    resampled: Vec<f32>,
    mel: LogMelStream,
    /// Feature frames `mel_first ..`, 80 values each.
    mel_buf: Vec<f32>,
    mel_first: u64,
    /// Once finished: feature frames computed from audio; later ones are digital silence.
    mel_total: Option<u64>,
    samples_16k: u64,
    /// The last `context_frames` poses produced, oldest first (channel units, clamped).
    history: VecDeque<[f32; CHANNEL_COUNT]>,
    /// Model frames produced so far.
    model_done: u64,
    model_total: Option<u64>,
    /// Frames of the chunk handed out and not completed yet.
    in_flight: Option<usize>,
    /// Gesture low-pass: per-frame coefficient and the two poles' states, from rest.
    smoothing: f32,
    poles: [[f32; GESTURE_CHANNELS.len()]; 2],
    /// Produced model frames still needed for output frames, oldest first.
    produced: VecDeque<(u64, MotionVector)>,
    next_output: u64,
    output_total: Option<u64>,
}

impl ModelMotion {
    /// A stream for one utterance whose audio arrives at `clock.sample_rate_hz` and whose poses
    /// leave at `clock.fps`. `session_seed` and `epoch` decide the noise. `chunk_frames` (model
    /// frames per call) is clamped to 1..=[`MAX_CHUNK_FRAMES`].
    pub fn new(
        meta: &ModelMeta,
        clock: FrameClock,
        epoch: Epoch,
        session_seed: u64,
        chunk_frames: usize,
    ) -> Result<ModelMotion, ModelError> {
        let resampler =
            StreamResampler::new(clock.sample_rate_hz, features::SAMPLE_RATE_HZ).map_err(|e| {
                ModelError::UnsupportedRate {
                    rate_hz: clock.sample_rate_hz,
                    detail: e.to_string(),
                }
            })?;
        Ok(ModelMotion {
            clock,
            epoch,
            seed: splitmix64(session_seed ^ splitmix64(epoch.0.wrapping_add(0x6d6f_7469_6f6e))),
            chunk_frames: chunk_frames.clamp(1, MAX_CHUNK_FRAMES),
            context_frames: meta.context_frames,
            lookahead_features: meta.lookahead_features,
            features_per_frame: meta.features_per_frame,
            samples_per_frame_16k: meta.samples_per_frame() as u64,
            model_fps: meta.fps,
            generated: meta.generated_mask(),
            resampler,
            resampled: Vec::new(),
            mel: LogMelStream::new(),
            mel_buf: Vec::new(),
            mel_first: 0,
            mel_total: None,
            samples_16k: 0,
            history: VecDeque::with_capacity(meta.context_frames),
            model_done: 0,
            model_total: None,
            in_flight: None,
            smoothing: (1.0 - (-1.0 / (GESTURE_SMOOTHING_S * f64::from(meta.fps))).exp()) as f32,
            poles: [[0.0; GESTURE_CHANNELS.len()]; 2],
            produced: VecDeque::new(),
            next_output: 0,
            output_total: None,
        })
    }

    /// Worst-case wait from an audio sample's arrival to the pose of the frame holding it being
    /// computable: the frame's whole chunk, the lookahead, one feature hop and the resampler.
    pub fn latency_ns(&self) -> u64 {
        let chunk_ns = self.chunk_frames as u64 * 1_000_000_000 / u64::from(self.model_fps);
        let lookahead_ns = self.lookahead_features as u64 * features::LATENCY_NS;
        chunk_ns + lookahead_ns + features::LATENCY_NS + self.resampler.latency_ns()
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Appends audio at the stream's rate.
    pub fn push_audio(&mut self, samples: &[f32]) {
        if self.mel_total.is_some() {
            return;
        }
        self.resampled.clear();
        self.resampler.process(samples, &mut self.resampled);
        self.feed_16k();
    }

    /// Appends an audio frame, checking that it has the stream's rate.
    pub fn push_frame(&mut self, frame: &AudioFrame) -> Result<(), ModelError> {
        if frame.sample_rate_hz != self.clock.sample_rate_hz {
            return Err(ModelError::WrongStreamRate {
                rate_hz: frame.sample_rate_hz,
                expected_hz: self.clock.sample_rate_hz,
            });
        }
        self.push_audio(frame.samples());
        Ok(())
    }

    /// Ends the utterance at `total_samples` (output rate): the rest of the audio is flushed, the
    /// last model frame padded with silence, and features past the end read as silence.
    pub fn finish(&mut self, total_samples: u64) {
        if self.mel_total.is_some() {
            return;
        }
        self.resampled.clear();
        self.resampler.flush(&mut self.resampled);
        self.feed_16k();
        let output_total = self.clock.frames_covering(total_samples);
        let needed_by_output = match output_total {
            0 => 0,
            n => {
                let (lo, frac) = self.model_position(n - 1);
                lo + u64::from(frac > 0.0) + 1
            }
        };
        let model_total = self
            .samples_16k
            .div_ceil(self.samples_per_frame_16k)
            .max(needed_by_output);
        // Pad to whole model frames, exactly as the training items were.
        let pad = (model_total * self.samples_per_frame_16k).saturating_sub(self.samples_16k);
        self.resampled.clear();
        self.resampled.resize(pad as usize, 0.0);
        self.feed_16k();
        self.mel.finish();
        self.drain_mel();
        self.mel_total = Some(model_total * self.features_per_frame as u64);
        self.model_total = Some(model_total);
        self.output_total = Some(output_total);
    }

    /// Whether every pose of the finished utterance has been emitted.
    pub fn is_done(&self) -> bool {
        self.output_total == Some(self.next_output)
    }

    /// The next chunk to run, once its audio is in and no chunk is in flight.
    pub fn poll_request(&mut self) -> Option<ChunkRequest> {
        if self.in_flight.is_some() {
            return None;
        }
        let start = self.model_done;
        let frames = match self.model_total {
            Some(total) if start >= total => return None,
            Some(total) => self.chunk_frames.min((total - start) as usize),
            None => self.chunk_frames,
        };
        let fpf = self.features_per_frame as i64;
        let first = fpf * (start as i64 - self.context_frames as i64) - self.lookahead_features as i64;
        let window = fpf as usize * (self.context_frames + frames) + 2 * self.lookahead_features;
        let last = first + window as i64 - 1;
        if self.mel_total.is_none() && last >= (self.mel_first + self.buffered_mel_frames()) as i64 {
            return None;
        }
        self.prune_mel(first);
        let mut mel = Vec::with_capacity(window * MEL_BINS);
        for index in first..=last {
            mel.extend_from_slice(&self.mel_frame(index));
        }
        let mut prev_motion = Vec::with_capacity(self.context_frames * CHANNEL_COUNT);
        for _ in self.history.len()..self.context_frames {
            prev_motion.extend_from_slice(&[0.0; CHANNEL_COUNT]);
        }
        for frame in &self.history {
            prev_motion.extend_from_slice(frame);
        }
        let mut noise = Vec::with_capacity(frames * CHANNEL_COUNT);
        for j in start..start + frames as u64 {
            noise.extend((0..CHANNEL_COUNT).map(|c| gaussian(self.seed, j, c)));
        }
        self.in_flight = Some(frames);
        Some(ChunkRequest {
            frames,
            mel,
            prev_motion,
            noise,
        })
    }

    /// Takes the poses of the chunk [`Self::poll_request`] handed out (`[F, 17]`, channel
    /// units) and appends every output frame that is now complete to `out`.
    ///
    /// # Panics
    /// Without a chunk in flight, or with a result of the wrong size: a bug in the caller.
    pub fn complete(&mut self, motion: &[f32], out: &mut Vec<MotionFrame>) {
        let frames = self
            .in_flight
            .take()
            .expect("complete() answers the chunk poll_request() handed out");
        assert_eq!(motion.len(), frames * CHANNEL_COUNT, "one pose per chunk frame");
        for values in motion.chunks_exact(CHANNEL_COUNT) {
            let mut vector = MotionVector::NEUTRAL;
            for channel in Channel::ALL {
                let value = values[channel as usize];
                if self.generated[channel as usize] && value.is_finite() {
                    vector.set(channel, value);
                }
            }
            for (i, channel) in GESTURE_CHANNELS.into_iter().enumerate() {
                let [first, second] = &mut self.poles;
                first[i] += self.smoothing * (vector.get(channel) - first[i]);
                second[i] += self.smoothing * (first[i] - second[i]);
                vector.set(channel, second[i]);
            }
            if self.history.len() == self.context_frames {
                self.history.pop_front();
            }
            self.history.push_back(vector.0);
            self.produced.push_back((self.model_done, vector));
            self.model_done += 1;
        }
        self.emit(out);
    }

    /// Runs every chunk that is ready on `net`, here and now (tools, tests, benchmarks; the
    /// pipeline goes through the worker).
    pub fn run_ready(&mut self, net: &mut MotionNet, out: &mut Vec<MotionFrame>) -> Result<(), ModelError> {
        while let Some(request) = self.poll_request() {
            let result = net.run(&[&request]);
            match result {
                Ok(mut poses) => self.complete(&poses.remove(0), out),
                Err(error) => {
                    self.in_flight = None;
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    fn feed_16k(&mut self) {
        self.mel.push(&self.resampled);
        self.samples_16k += self.resampled.len() as u64;
        self.drain_mel();
    }

    fn drain_mel(&mut self) {
        let mut frame = [0.0; MEL_BINS];
        while self.mel.pop_frame_into(&mut frame) {
            self.mel_buf.extend_from_slice(&frame);
        }
    }

    fn buffered_mel_frames(&self) -> u64 {
        (self.mel_buf.len() / MEL_BINS) as u64
    }

    /// Feature frame `index` of the utterance; silence before it starts and after it ends.
    fn mel_frame(&self, index: i64) -> MelFrame {
        let silence = [LOG_FLOOR.ln(); MEL_BINS];
        if index < 0 || self.mel_total.is_some_and(|total| index as u64 >= total) {
            return silence;
        }
        let offset = (index as u64 - self.mel_first) as usize * MEL_BINS;
        let mut frame = [0.0; MEL_BINS];
        frame.copy_from_slice(&self.mel_buf[offset..offset + MEL_BINS]);
        frame
    }

    /// Forgets feature frames before `first`, which no later chunk reads.
    fn prune_mel(&mut self, first: i64) {
        if first <= self.mel_first as i64 {
            return;
        }
        let drop = (first as u64 - self.mel_first).min(self.buffered_mel_frames());
        self.mel_buf.drain(..drop as usize * MEL_BINS);
        self.mel_first += drop;
    }

    /// Where output frame `k`'s centre falls among the model's frames: the frame before it and
    /// how far towards the next.
    fn model_position(&self, k: u64) -> (u64, f32) {
        let centre_x2 = self.clock.frame_start_sample(k) + self.clock.frame_start_sample(k + 1);
        // Model frame j's centre is at (j + 0.5) / model_fps s; solve for j in exact integers
        // where possible: u = centre * model_fps - 0.5 (in model frames).
        let numerator = centre_x2 as u128 * u128::from(self.model_fps);
        let denominator = 2 * u128::from(self.clock.sample_rate_hz);
        // u + 0.5 = numerator / denominator
        let half = denominator / 2;
        if numerator < half {
            return (0, 0.0);
        }
        let shifted = numerator - half;
        let lo = (shifted / denominator) as u64;
        let frac = (shifted % denominator) as f64 / denominator as f64;
        (lo, frac as f32)
    }

    fn emit(&mut self, out: &mut Vec<MotionFrame>) {
        loop {
            if self.output_total.is_some_and(|total| self.next_output >= total) {
                return;
            }
            let k = self.next_output;
            let (mut lo, mut frac) = self.model_position(k);
            if let Some(total) = self.model_total {
                let last = total.saturating_sub(1);
                if lo >= last {
                    lo = last;
                    frac = 0.0;
                }
            }
            let needed = lo + u64::from(frac > 0.0);
            if needed >= self.model_done {
                return;
            }
            while self.produced.len() > 1 && self.produced[0].0 < lo {
                self.produced.pop_front();
            }
            let (first_index, first) = self.produced[0];
            debug_assert_eq!(first_index, lo);
            let vector = if frac > 0.0 {
                first.lerp(&self.produced[1].1, frac)
            } else {
                first
            };
            out.push(MotionFrame {
                epoch: self.epoch,
                frame_index: k,
                sample: self.clock.frame_start_sample(k),
                vector: vector.clamped(),
            });
            self.next_output += 1;
        }
    }
}

/// A standard normal number determined by (seed, frame, channel) alone (Box–Muller on two
/// hashed uniforms).
pub fn gaussian(seed: u64, frame: u64, channel: usize) -> f32 {
    let a = splitmix64(seed ^ splitmix64(frame.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ channel as u64));
    let b = splitmix64(a);
    let unit = |x: u64| ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let radius = (-2.0 * unit(a).ln()).sqrt();
    (radius * (std::f64::consts::TAU * unit(b)).cos()) as f32
}
