//! Whisper-style log-mel features of the last 8 s of a turn: what Smart Turn v3 reads.
//!
//! The recipe (the one `transformers.WhisperFeatureExtractor(chunk_length=8)` applies, which the
//! model was trained on): keep the last 8 s of 16 kHz audio, left-padded with zeros when shorter;
//! normalise the waveform to zero mean and unit variance; a centred STFT with a 400-sample
//! periodic Hann window every 160 samples (reflect padding at both ends), power spectrum, an
//! 80-band Slaney mel filter bank over 0–8 kHz; `log10` (floored at 1e-10), the last frame
//! dropped (800 remain), values below the maximum minus 8 raised to it, then `(x + 4) / 4`.
//!
//! Buffers are allocated once per extractor; [`LogMel::compute`] allocates nothing.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::audio::mel::slaney_mel_filterbank;

pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// 8 s of audio.
pub const AUDIO_SAMPLES: usize = 8 * SAMPLE_RATE_HZ as usize;
pub const N_MELS: usize = 80;
pub const N_FRAMES: usize = 800;
const N_FFT: usize = 400;
const HOP: usize = 160;
const N_BINS: usize = N_FFT / 2 + 1;
const PAD: usize = N_FFT / 2;
const MEL_FLOOR: f32 = 1e-10;
const VARIANCE_EPSILON: f32 = 1e-7;

/// The feature extractor, with its buffers.
pub struct LogMel {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// `N_MELS` rows of `N_BINS`.
    filters: Vec<f32>,
    /// The normalised 8 s with reflect padding: `AUDIO_SAMPLES + 2 * PAD`.
    padded: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        // Periodic Hann (as torch.hann_window): one period over N_FFT + 1 points, last dropped.
        let window = (0..N_FFT)
            .map(|n| {
                let phase = 2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64;
                (0.5 - 0.5 * phase.cos()) as f32
            })
            .collect();
        LogMel {
            window,
            filters: slaney_mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE_HZ),
            padded: vec![0.0; AUDIO_SAMPLES + 2 * PAD],
            frame: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            power: vec![0.0; N_BINS],
            fft,
        }
    }

    /// Writes the `N_MELS` × `N_FRAMES` features of `audio` (16 kHz, the latest last) into
    /// `out`, row-major (mel band, then frame), the layout of the model's `[1, 80, 800]` input.
    pub fn compute(&mut self, audio: &[f32], out: &mut [f32]) {
        assert_eq!(out.len(), N_MELS * N_FRAMES, "the output holds 80 x 800 features");
        // The last 8 s, left-padded with silence.
        let tail = &audio[audio.len().saturating_sub(AUDIO_SAMPLES)..];
        let body = &mut self.padded[PAD..PAD + AUDIO_SAMPLES];
        let lead = AUDIO_SAMPLES - tail.len();
        body[..lead].fill(0.0);
        for (out, &x) in body[lead..].iter_mut().zip(tail) {
            *out = if x.is_finite() { x } else { 0.0 };
        }
        // Zero mean, unit variance over the whole 8 s (padding included, as in training).
        let n = AUDIO_SAMPLES as f64;
        let mean = body.iter().map(|&x| x as f64).sum::<f64>() / n;
        let variance = body.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let scale = 1.0 / (variance as f32 + VARIANCE_EPSILON).sqrt();
        for x in body.iter_mut() {
            *x = (*x - mean as f32) * scale;
        }
        // Reflect padding (the edge sample is not repeated).
        for i in 0..PAD {
            self.padded[PAD - 1 - i] = self.padded[PAD + 1 + i];
            self.padded[PAD + AUDIO_SAMPLES + i] = self.padded[PAD + AUDIO_SAMPLES - 2 - i];
        }

        let mut max = f32::NEG_INFINITY;
        for t in 0..N_FRAMES {
            let start = t * HOP;
            for ((out, &x), &w) in self
                .frame
                .iter_mut()
                .zip(&self.padded[start..start + N_FFT])
                .zip(&self.window)
            {
                *out = x * w;
            }
            self.fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .expect("buffers are sized by the plan");
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = c.norm_sqr();
            }
            for (m, row) in self.filters.chunks_exact(N_BINS).enumerate() {
                let energy: f32 = row.iter().zip(&self.power).map(|(w, p)| w * p).sum();
                let value = energy.max(MEL_FLOOR).log10();
                max = max.max(value);
                out[m * N_FRAMES + t] = value;
            }
        }
        let floor = max - 8.0;
        for value in out.iter_mut() {
            *value = (value.max(floor) + 4.0) / 4.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::mel::slaney_mel_centre_hz;

    fn features(audio: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; N_MELS * N_FRAMES];
        LogMel::new().compute(audio, &mut out);
        out
    }

    fn tone(hz: f32, seconds: f32, amplitude: f32) -> Vec<f32> {
        (0..(seconds * SAMPLE_RATE_HZ as f32) as usize)
            .map(|i| amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / SAMPLE_RATE_HZ as f32).sin())
            .collect()
    }

    #[test]
    fn a_tone_lights_its_mel_band_in_the_frames_it_occupies() {
        // 2 s of 1 kHz: left-padded, so it fills the last quarter of the 800 frames.
        let f = features(&tone(1_000.0, 2.0, 0.3));
        let max = f.iter().copied().fold(f32::MIN, f32::max);
        let min = f.iter().copied().fold(f32::MAX, f32::min);
        assert!(
            max - min <= 2.0 + 1e-5,
            "dynamic range is clamped to 8 in log10, /4"
        );
        let band = (0..N_MELS)
            .min_by(|&a, &b| {
                let da = (slaney_mel_centre_hz(a, N_MELS, SAMPLE_RATE_HZ) - 1_000.0).abs();
                let db = (slaney_mel_centre_hz(b, N_MELS, SAMPLE_RATE_HZ) - 1_000.0).abs();
                da.total_cmp(&db)
            })
            .unwrap();
        let at = |m: usize, t: usize| f[m * N_FRAMES + t];
        let loudest = (0..N_MELS)
            .max_by(|&a, &b| at(a, 700).total_cmp(&at(b, 700)))
            .unwrap();
        assert!(
            loudest.abs_diff(band) <= 1,
            "1 kHz is in band {band}, loudest is {loudest}"
        );
        assert!(at(band, 700) > at(band, 100) + 1.0, "the padded start is quiet");
    }

    #[test]
    fn the_gain_of_the_recording_does_not_matter() {
        let loud = features(&tone(440.0, 3.0, 0.5));
        let quiet = features(&tone(440.0, 3.0, 0.01));
        let worst = loud
            .iter()
            .zip(&quiet)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        assert!(
            worst < 1e-3,
            "waveform normalisation makes features gain-free: {worst}"
        );
    }

    #[test]
    fn only_the_last_eight_seconds_count() {
        let mut long = tone(300.0, 2.0, 0.4);
        long.extend(tone(2_000.0, 8.0, 0.4));
        let short = tone(2_000.0, 8.0, 0.4);
        assert_eq!(features(&long), features(&short));
        // NaN is read as silence, not propagated.
        let mut broken = short.clone();
        broken[100] = f32::NAN;
        assert!(features(&broken).iter().all(|v| v.is_finite()));
    }
}
