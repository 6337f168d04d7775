//! Log-mel features for the audio-to-motion model: the one implementation that training data
//! and streaming inference share, so the model sees at run time exactly what it was trained on.
//!
//! Input is 16 kHz mono `f32` in [-1, 1]. Every 10 ms hop ([`HOP_SAMPLES`]) yields one frame of
//! [`MEL_BINS`] values:
//!
//! 1. a 25 ms window ([`WINDOW_SAMPLES`]) times a periodic Hann window
//!    (`0.5 - 0.5 cos(2π n / 400)`, as `torch.hann_window(400)`), zero-padded to
//!    [`FFT_SAMPLES`] = 512 (a power of two, and 31.25 Hz bins, so even the narrowest low
//!    filters of the 80-band bank span at least two bins);
//! 2. the power spectrum `|X_k|²` of bins 0..=256 (no 1/N scaling);
//! 3. an 80-band Slaney mel filter bank from 0 Hz to 8 kHz, unit area per triangle
//!    ([`crate::audio::mel::slaney_mel_filterbank`], librosa's default);
//! 4. the natural log with a floor: `ln(max(mel, 1e-10))`. The floor sits just below 16-bit
//!    quantisation noise (which averages `3.7e-10` in these units, `LSB²/12 · Σw² · Σweights`;
//!    its log-mel values lie about 1.1 above the floor), so a real 16-bit recording hovers just
//!    above it and only digital silence sits on it (`ln(1e-10) ≈ -23.03`). A full-scale 1 kHz
//!    sine reads about +5.7 in its band.
//!
//! No normalisation is applied here: per-bin mean and standard deviation belong to a trained
//! model and travel in its metadata (the dataset generator computes them over its training
//! split).
//!
//! **Framing is causal.** Frame `i` covers samples `[160 i - 240, 160 i + 160)`; samples before
//! the stream's start are zeros. The window therefore ends at the end of hop `i` and the frame
//! is final as soon as sample `160 i + 159` has been pushed: no lookahead, and a sample waits at
//! most one hop ([`LATENCY_NS`], 10 ms) before the frame holding it comes out. The window's
//! centre lies at sample `160 i - 40`. [`LogMelStream::finish`] zero-pads the last partial hop,
//! so `n` samples give `ceil(n / 160)` frames. At 25 fps a video frame spans 640 samples:
//! video frame `k` owns feature frames `4k .. 4k + 4`, whose windows end at the four hop
//! boundaries inside it.
//!
//! Not here: resampling (callers convert to 16 kHz first, e.g. with
//! [`crate::audio::StreamResampler`]), voice activity, normalisation, threads or clocks.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::audio::mel::slaney_mel_filterbank;

/// Sample rate the features are defined at.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// Analysis window: 25 ms.
pub const WINDOW_SAMPLES: usize = 400;
/// Hop between frames: 10 ms.
pub const HOP_SAMPLES: usize = 160;
/// FFT length: the window zero-padded to the next power of two.
pub const FFT_SAMPLES: usize = 512;
/// Power-spectrum bins, 0 Hz ..= 8 kHz.
pub const FFT_BINS: usize = FFT_SAMPLES / 2 + 1;
/// Mel bands per frame.
pub const MEL_BINS: usize = 80;
/// Mel energies are floored here before the natural log.
pub const LOG_FLOOR: f32 = 1e-10;
/// Past samples a frame's window reaches back before its own hop: 15 ms.
pub const LOOKBACK_SAMPLES: usize = WINDOW_SAMPLES - HOP_SAMPLES;
/// Longest wait from a sample's arrival to the frame that holds it: one hop, 10 ms.
pub const LATENCY_NS: u64 = HOP_SAMPLES as u64 * 1_000_000_000 / SAMPLE_RATE_HZ as u64;

/// One frame of log-mel features.
pub type MelFrame = [f32; MEL_BINS];

/// First sample (possibly negative: zeros before the stream) of frame `i`'s window.
pub const fn window_start_sample(frame_index: u64) -> i64 {
    (frame_index * HOP_SAMPLES as u64) as i64 - LOOKBACK_SAMPLES as i64
}

/// Frames a stream of `samples` samples yields once finished: `ceil(samples / 160)`.
pub const fn frames_for_samples(samples: u64) -> u64 {
    samples.div_ceil(HOP_SAMPLES as u64)
}

/// Streaming log-mel extractor for one 16 kHz mono stream.
///
/// Streamed and one-shot use give bit-identical frames however the input is split. All buffers
/// are allocated in [`LogMelStream::new`]; `push` only grows the sample buffer when the caller
/// pushes more than it pops, and popping a frame never allocates.
pub struct LogMelStream {
    fft: Arc<dyn RealToComplex<f32>>,
    /// Periodic Hann window, `WINDOW_SAMPLES` long.
    window: Vec<f32>,
    /// The mel bank, stored sparsely: band `m` weighs bins `band_first_bin[m] ..` with
    /// `band_weights[band_offset[m] .. band_offset[m + 1]]`.
    band_first_bin: [usize; MEL_BINS],
    band_offset: [usize; MEL_BINS + 1],
    band_weights: Vec<f32>,
    /// Samples not yet consumed; `samples[read_pos]` is the first sample of the next frame's
    /// window. Starts with `LOOKBACK_SAMPLES` zeros (the silence before the stream).
    samples: Vec<f32>,
    read_pos: usize,
    fft_input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
    pushed_samples: u64,
    popped_frames: u64,
    finished: bool,
}

impl Default for LogMelStream {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMelStream {
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_SAMPLES);
        let window = (0..WINDOW_SAMPLES)
            .map(|n| {
                let phase = std::f64::consts::TAU * n as f64 / WINDOW_SAMPLES as f64;
                (0.5 - 0.5 * phase.cos()) as f32
            })
            .collect();
        let bank = slaney_mel_filterbank(MEL_BINS, FFT_SAMPLES, SAMPLE_RATE_HZ);
        let mut band_first_bin = [0; MEL_BINS];
        let mut band_offset = [0; MEL_BINS + 1];
        let mut band_weights = Vec::new();
        for (m, row) in bank.chunks_exact(FFT_BINS).enumerate() {
            let first = row.iter().position(|w| *w > 0.0).unwrap_or(0);
            let last = row.iter().rposition(|w| *w > 0.0).unwrap_or(0);
            band_first_bin[m] = first;
            band_weights.extend_from_slice(&row[first..=last]);
            band_offset[m + 1] = band_weights.len();
        }
        let mut samples = Vec::with_capacity(LOOKBACK_SAMPLES + 8 * WINDOW_SAMPLES);
        samples.resize(LOOKBACK_SAMPLES, 0.0);
        LogMelStream {
            fft_input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            band_first_bin,
            band_offset,
            band_weights,
            samples,
            read_pos: 0,
            power: vec![0.0; FFT_BINS],
            pushed_samples: 0,
            popped_frames: 0,
            finished: false,
        }
    }

    /// Algorithmic latency: no lookahead; a sample waits at most one hop for its frame.
    pub fn latency_ns(&self) -> u64 {
        LATENCY_NS
    }

    /// Samples pushed since the stream started (padding excluded).
    pub fn pushed_samples(&self) -> u64 {
        self.pushed_samples
    }

    /// Frames popped so far: the index of the next frame.
    pub fn popped_frames(&self) -> u64 {
        self.popped_frames
    }

    /// Appends 16 kHz samples.
    ///
    /// # Panics
    /// After [`Self::finish`]: the stream has ended; call [`Self::reset`] to start another.
    pub fn push(&mut self, samples: &[f32]) {
        assert!(
            !self.finished,
            "LogMelStream::push after finish; call reset() to start a new stream"
        );
        if self.read_pos > 0 {
            // Drop consumed samples before growing, so the buffer stays about one window long
            // when the caller pops as it goes.
            self.samples.copy_within(self.read_pos.., 0);
            self.samples.truncate(self.samples.len() - self.read_pos);
            self.read_pos = 0;
        }
        self.samples.extend_from_slice(samples);
        self.pushed_samples += samples.len() as u64;
    }

    /// Ends the stream: zero-pads the last partial hop so that every pushed sample lies in some
    /// frame. Frames already computable stay available to pop.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        let partial = (self.pushed_samples % HOP_SAMPLES as u64) as usize;
        if partial != 0 {
            self.samples
                .resize(self.samples.len() + HOP_SAMPLES - partial, 0.0);
        }
        self.finished = true;
    }

    /// Forgets everything: the next sample pushed is sample 0 of a new stream.
    pub fn reset(&mut self) {
        self.samples.clear();
        self.samples.resize(LOOKBACK_SAMPLES, 0.0);
        self.read_pos = 0;
        self.pushed_samples = 0;
        self.popped_frames = 0;
        self.finished = false;
    }

    /// The next frame, once its window is complete.
    pub fn pop_frame(&mut self) -> Option<MelFrame> {
        let mut frame = [0.0; MEL_BINS];
        self.pop_frame_into(&mut frame).then_some(frame)
    }

    /// Writes the next frame into `out` and returns true, or returns false (leaving `out`
    /// alone) while its window is incomplete.
    pub fn pop_frame_into(&mut self, out: &mut MelFrame) -> bool {
        if self.samples.len() - self.read_pos < WINDOW_SAMPLES {
            return false;
        }
        let window = &self.samples[self.read_pos..self.read_pos + WINDOW_SAMPLES];
        for ((x, s), w) in self.fft_input.iter_mut().zip(window).zip(&self.window) {
            *x = s * w;
        }
        self.fft_input[WINDOW_SAMPLES..].fill(0.0);
        self.fft
            .process_with_scratch(&mut self.fft_input, &mut self.spectrum, &mut self.scratch)
            .expect("FFT buffers come from the plan itself");
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.re * c.re + c.im * c.im;
        }
        for (m, value) in out.iter_mut().enumerate() {
            let weights = &self.band_weights[self.band_offset[m]..self.band_offset[m + 1]];
            let first = self.band_first_bin[m];
            let energy: f32 = weights
                .iter()
                .zip(&self.power[first..first + weights.len()])
                .map(|(w, p)| w * p)
                .sum();
            *value = energy.max(LOG_FLOOR).ln();
        }
        self.read_pos += HOP_SAMPLES;
        self.popped_frames += 1;
        true
    }
}

/// Features of a whole clip, frames concatenated (`ceil(len / 160) * 80` values).
pub fn log_mel_all(samples: &[f32]) -> Vec<f32> {
    let mut stream = LogMelStream::new();
    stream.push(samples);
    stream.finish();
    let mut out = Vec::with_capacity(frames_for_samples(samples.len() as u64) as usize * MEL_BINS);
    let mut frame = [0.0; MEL_BINS];
    while stream.pop_frame_into(&mut frame) {
        out.extend_from_slice(&frame);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::mel::slaney_mel_centre_hz;

    fn tone(freq_hz: f64, amplitude: f64, samples: usize) -> Vec<f32> {
        (0..samples)
            .map(|n| {
                (amplitude * (std::f64::consts::TAU * freq_hz * n as f64 / SAMPLE_RATE_HZ as f64).sin())
                    as f32
            })
            .collect()
    }

    /// Deterministic noise plus a chirp: every bin and every frame differs.
    fn test_signal(samples: usize) -> Vec<f32> {
        let mut state = 0x1234_5678_u32;
        (0..samples)
            .map(|n| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let noise = (state as f32 / u32::MAX as f32 - 0.5) * 0.1;
                let t = n as f32 / SAMPLE_RATE_HZ as f32;
                noise + 0.5 * (std::f32::consts::TAU * (200.0 + 1500.0 * t) * t).sin()
            })
            .collect()
    }

    #[test]
    fn latency_and_framing_are_pinned() {
        assert_eq!(LATENCY_NS, 10_000_000);
        assert_eq!(LogMelStream::new().latency_ns(), 10_000_000);
        assert_eq!(LOOKBACK_SAMPLES, 240);
        assert_eq!(window_start_sample(0), -240);
        assert_eq!(window_start_sample(4), 400);
        // Video frame k at 25 fps (640 samples) owns feature frames 4k..4k+4: the last one's
        // window ends exactly where the video frame ends.
        let k = 7_u64;
        let last = 4 * k + 3;
        assert_eq!(
            window_start_sample(last) + WINDOW_SAMPLES as i64,
            (640 * (k + 1)) as i64
        );
        assert_eq!(frames_for_samples(0), 0);
        assert_eq!(frames_for_samples(1), 1);
        assert_eq!(frames_for_samples(160), 1);
        assert_eq!(frames_for_samples(161), 2);
    }

    #[test]
    fn every_band_sees_at_least_two_fft_bins() {
        let stream = LogMelStream::new();
        for m in 0..MEL_BINS {
            let weights = &stream.band_weights[stream.band_offset[m]..stream.band_offset[m + 1]];
            let nonzero = weights.iter().filter(|w| **w > 0.0).count();
            assert!(nonzero >= 2, "band {m} weighs {nonzero} bins");
        }
        // The last band runs up to the bin below Nyquist (where its triangle reaches zero).
        assert_eq!(
            stream.band_first_bin[MEL_BINS - 1] + stream.band_offset[MEL_BINS]
                - stream.band_offset[MEL_BINS - 1],
            FFT_BINS - 1
        );
    }

    #[test]
    fn a_frame_is_ready_exactly_when_its_hop_ends() {
        let mut stream = LogMelStream::new();
        stream.push(&vec![0.1; HOP_SAMPLES - 1]);
        assert!(stream.pop_frame().is_none());
        stream.push(&[0.1]);
        assert!(stream.pop_frame().is_some());
        assert!(stream.pop_frame().is_none());
        stream.push(&vec![0.1; 2 * HOP_SAMPLES + 5]);
        assert!(stream.pop_frame().is_some());
        assert!(stream.pop_frame().is_some());
        assert!(stream.pop_frame().is_none());
        stream.finish();
        assert!(stream.pop_frame().is_some(), "the partial hop is padded");
        assert!(stream.pop_frame().is_none());
        assert_eq!(
            stream.popped_frames(),
            frames_for_samples(stream.pushed_samples())
        );
    }

    #[test]
    fn streamed_output_equals_one_shot_output_exactly() {
        let signal = test_signal(16_000 + 77);
        let one_shot = log_mel_all(&signal);
        assert_eq!(one_shot.len(), 101 * MEL_BINS);
        for chunk_sizes in [
            &[1_usize][..],
            &[7, 159, 160, 161],
            &[400, 3],
            &[1000, 1, 2, 4096],
        ] {
            let mut stream = LogMelStream::new();
            let mut streamed = Vec::new();
            let mut rest = &signal[..];
            let mut sizes = chunk_sizes.iter().cycle();
            while !rest.is_empty() {
                let take = (*sizes.next().expect("cycle")).min(rest.len());
                stream.push(&rest[..take]);
                rest = &rest[take..];
                while let Some(frame) = stream.pop_frame() {
                    streamed.extend_from_slice(&frame);
                }
            }
            stream.finish();
            while let Some(frame) = stream.pop_frame() {
                streamed.extend_from_slice(&frame);
            }
            assert_eq!(streamed.len(), one_shot.len(), "chunks {chunk_sizes:?}");
            let identical = streamed
                .iter()
                .zip(&one_shot)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(identical, "chunks {chunk_sizes:?} changed the features");
        }
        // Reset gives a fresh stream.
        let mut stream = LogMelStream::new();
        stream.push(&signal[..5000]);
        while stream.pop_frame().is_some() {}
        stream.reset();
        stream.push(&signal);
        stream.finish();
        let mut again = Vec::new();
        while let Some(frame) = stream.pop_frame() {
            again.extend_from_slice(&frame);
        }
        assert!(
            again
                .iter()
                .zip(&one_shot)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn popping_as_you_go_keeps_the_buffer_at_its_first_size() {
        let signal = test_signal(16_000 * 5);
        let mut stream = LogMelStream::new();
        let capacity = stream.samples.capacity();
        let mut frame = [0.0; MEL_BINS];
        for chunk in signal.chunks(320) {
            stream.push(chunk);
            while stream.pop_frame_into(&mut frame) {}
        }
        assert_eq!(stream.samples.capacity(), capacity, "the sample buffer grew");
        assert_eq!(stream.popped_frames(), 500);
    }

    #[test]
    fn a_1_khz_tone_peaks_in_the_band_centred_nearest_1_khz() {
        let features = log_mel_all(&tone(1000.0, 0.5, 8000));
        let expected = (0..MEL_BINS)
            .min_by(|a, b| {
                let da = (slaney_mel_centre_hz(*a, MEL_BINS, SAMPLE_RATE_HZ) - 1000.0).abs();
                let db = (slaney_mel_centre_hz(*b, MEL_BINS, SAMPLE_RATE_HZ) - 1000.0).abs();
                da.total_cmp(&db)
            })
            .expect("80 bands");
        assert_eq!(expected, 26, "band 26 is centred at about 1005 Hz");
        // Skip the first frames, whose windows reach into the silence before the stream.
        for (i, frame) in features.chunks_exact(MEL_BINS).enumerate().skip(3) {
            let peak = (0..MEL_BINS)
                .max_by(|a, b| frame[*a].total_cmp(&frame[*b]))
                .expect("80 bands");
            assert_eq!(peak, expected, "frame {i}");
            // Far bands see only window leakage: at least 10 nepers (~43 dB) down.
            assert!(frame[expected] - frame[70] > 10.0, "frame {i}: {frame:?}");
        }
        // Amplitude 0.5: peak power (0.5 * 200)^2 spread over a ~37 Hz-wide band of
        // area-normalised weights: ln of a few tens.
        let level = features[10 * MEL_BINS + expected];
        assert!((2.0..5.0).contains(&level), "level {level}");
    }

    #[test]
    fn silence_sits_on_the_floor_and_16_bit_quantisation_noise_above_it() {
        let features = log_mel_all(&vec![0.0; 3200]);
        assert!(features.iter().all(|v| *v == LOG_FLOOR.ln()));
        // Quantisation noise of 16-bit audio: uniform within half a step either side.
        let mut state = 0x9e37_79b9_u32;
        let noise: Vec<f32> = (0..32_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32 - 0.5) / 32768.0
            })
            .collect();
        let features = log_mel_all(&noise);
        let frames: Vec<&[f32]> = features.chunks_exact(MEL_BINS).skip(3).collect();
        for band in 0..MEL_BINS {
            let mean = frames.iter().map(|f| f[band]).sum::<f32>() / frames.len() as f32;
            assert!(
                mean > LOG_FLOOR.ln() + 0.5,
                "band {band}: mean {mean} is too close to the floor"
            );
        }
    }
}
