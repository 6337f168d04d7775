//! Audio augmentation, so the model hears more than clean espeak-ng: speed, room, noise, level.
//!
//! Applied in this order, each effect drawn per item from the item's seed:
//! 1. **Speed** (half the items, factor 0.9–1.1): the 22 050 Hz audio is declared to have been
//!    recorded at `22 050 · factor` Hz and resampled to 16 kHz from there, like a tape played
//!    fast or slow: tempo and pitch (and formants) shift together. Phoneme marks keep their
//!    sample indices, and the targets are computed on a clock at the declared rate, so they stay
//!    exactly aligned. The rate is a multiple of 100 Hz, which keeps the resampler's blocks short.
//! 2. **Reverb** (40 %): convolution with a synthetic room response, a unit direct path at
//!    delay 0 (alignment is kept) plus exponentially decaying noise after a 2–12 ms gap, RT60
//!    0.2–0.6 s, direct-to-reverberant ratio −2..8 dB; the level is restored afterwards.
//! 3. **Noise** (80 %): white, pink (Paul Kellet's three-pole filter on white noise) or babble
//!    (3–6 other utterances from a shared pool, at random offsets), at an SNR of 10–40 dB
//!    against the active speech level (mean power of the 10 ms blocks within 40 dB of the
//!    loudest).
//! 4. **Gain**: −12..+6 dB, then hard clipping at ±1 (a loud voice pushed +6 dB clips now
//!    and then, as real recordings do).
//!
//! Every draw is recorded in [`Augmentation`], which goes into `index.json`. A clean item has
//! [`Augmentation::none`].

use std::sync::Arc;

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

use super::rng::{Rng, Stream};

/// 16 kHz output rate: the feature rate.
const RATE_HZ: f64 = 16_000.0;
/// Speeds are declared source rates on this grid.
const SPEED_RATE_STEP_HZ: u32 = 100;
/// Blocks for the active speech level: 10 ms.
const LEVEL_BLOCK_SAMPLES: usize = 160;
/// Blocks quieter than the loudest by more than this are not speech.
const ACTIVE_RANGE_DB: f64 = 40.0;

const SPEED_PROBABILITY: f64 = 0.5;
const SPEED_RANGE: (f64, f64) = (0.9, 1.1);
const REVERB_PROBABILITY: f64 = 0.4;
const RT60_RANGE_S: (f64, f64) = (0.2, 0.6);
const DRR_RANGE_DB: (f64, f64) = (-2.0, 8.0);
const PREDELAY_RANGE_MS: (f64, f64) = (2.0, 12.0);
const NOISE_PROBABILITY: f64 = 0.8;
const SNR_RANGE_DB: (f64, f64) = (10.0, 40.0);
const GAIN_RANGE_DB: (f64, f64) = (-12.0, 6.0);
const BABBLE_TALKERS: (u64, u64) = (3, 6);

/// What was done to one item's audio.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(super) struct Augmentation {
    /// Playback speed factor, exactly `source_rate_hz / espeak_rate_hz`; 1 when unchanged.
    pub(super) speed: f64,
    /// The rate the espeak-ng audio was declared to have (its own rate when unchanged).
    pub(super) source_rate_hz: u32,
    pub(super) reverb: Option<Reverb>,
    pub(super) noise: Option<Noise>,
    pub(super) gain_db: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub(super) struct Reverb {
    pub(super) rt60_s: f64,
    pub(super) direct_to_reverberant_db: f64,
    pub(super) predelay_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub(super) struct Noise {
    pub(super) kind: NoiseKind,
    pub(super) snr_db: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum NoiseKind {
    White,
    Pink,
    Babble,
}

impl Augmentation {
    /// The clean item: audio as espeak-ng made it, resampled to 16 kHz.
    pub(super) fn none(espeak_rate_hz: u32) -> Self {
        Augmentation {
            speed: 1.0,
            source_rate_hz: espeak_rate_hz,
            reverb: None,
            noise: None,
            gain_db: 0.0,
        }
    }

    /// Draws an augmentation for an item.
    pub(super) fn draw(rng: &mut Rng, espeak_rate_hz: u32) -> Self {
        let mut source_rate_hz = espeak_rate_hz;
        if rng.chance(SPEED_PROBABILITY) {
            let factor = rng.range(SPEED_RANGE.0, SPEED_RANGE.1);
            let steps = (f64::from(espeak_rate_hz) * factor / f64::from(SPEED_RATE_STEP_HZ)).round() as u32;
            source_rate_hz = steps * SPEED_RATE_STEP_HZ;
        }
        let reverb = rng.chance(REVERB_PROBABILITY).then(|| Reverb {
            rt60_s: round3(rng.range(RT60_RANGE_S.0, RT60_RANGE_S.1)),
            direct_to_reverberant_db: round3(rng.range(DRR_RANGE_DB.0, DRR_RANGE_DB.1)),
            predelay_ms: round3(rng.range(PREDELAY_RANGE_MS.0, PREDELAY_RANGE_MS.1)),
        });
        let noise = rng.chance(NOISE_PROBABILITY).then(|| Noise {
            kind: rng.pick(&[NoiseKind::White, NoiseKind::Pink, NoiseKind::Babble]),
            snr_db: round3(rng.range(SNR_RANGE_DB.0, SNR_RANGE_DB.1)),
        });
        Augmentation {
            speed: f64::from(source_rate_hz) / f64::from(espeak_rate_hz),
            source_rate_hz,
            reverb,
            noise,
            gain_db: round3(rng.range(GAIN_RANGE_DB.0, GAIN_RANGE_DB.1)),
        }
    }

    /// Applies reverb, noise and gain to 16 kHz `audio` in place (speed was applied when the
    /// audio was resampled) and returns how many samples were clipped. `babble` is the shared
    /// pool of other speech at 16 kHz; `seed` drives the noise and room signals.
    pub(super) fn apply(&self, audio: &mut [f32], babble: &[f32], seed: u64) -> u64 {
        if audio.is_empty() {
            return 0;
        }
        let dry_level = active_power(audio);
        if let Some(reverb) = &self.reverb {
            let response = room_response(reverb, &mut Rng::new(seed, Stream::ReverbSignal, 0));
            convolve_in_place(audio, &response);
            let wet_level = active_power(audio);
            if wet_level > 0.0 {
                let scale = (dry_level / wet_level).sqrt() as f32;
                audio.iter_mut().for_each(|x| *x *= scale);
            }
        }
        if let Some(noise) = &self.noise
            && dry_level > 0.0
        {
            let mut rng = Rng::new(seed, Stream::NoiseSignal, 0);
            let signal = noise_signal(noise.kind, audio.len(), babble, &mut rng);
            let noise_power = signal.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / signal.len() as f64;
            if noise_power > 0.0 {
                let target = dry_level / 10_f64.powf(noise.snr_db / 10.0);
                let scale = (target / noise_power).sqrt() as f32;
                for (x, n) in audio.iter_mut().zip(&signal) {
                    *x += n * scale;
                }
            }
        }
        let gain = 10_f64.powf(self.gain_db / 20.0) as f32;
        let mut clipped = 0;
        for x in audio.iter_mut() {
            let y = *x * gain;
            clipped += u64::from(y.abs() > 1.0);
            *x = y.clamp(-1.0, 1.0);
        }
        clipped
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Mean power of the 10 ms blocks within [`ACTIVE_RANGE_DB`] of the loudest: the speech level,
/// not diluted by pauses. 0 for digital silence.
pub(super) fn active_power(audio: &[f32]) -> f64 {
    let blocks: Vec<f64> = audio
        .chunks(LEVEL_BLOCK_SAMPLES)
        .map(|b| b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / b.len() as f64)
        .collect();
    let loudest = blocks.iter().copied().fold(0.0, f64::max);
    if loudest <= 0.0 {
        return 0.0;
    }
    let threshold = loudest * 10_f64.powf(-ACTIVE_RANGE_DB / 10.0);
    let (sum, count) = blocks
        .iter()
        .filter(|p| **p >= threshold)
        .fold((0.0, 0usize), |(s, n), p| (s + p, n + 1));
    sum / count as f64
}

/// A synthetic room impulse response at 16 kHz: direct path, gap, decaying noise tail.
fn room_response(reverb: &Reverb, rng: &mut Rng) -> Vec<f32> {
    let length = (reverb.rt60_s * RATE_HZ).ceil() as usize;
    let predelay = ((reverb.predelay_ms / 1000.0 * RATE_HZ).round() as usize).max(1);
    // Amplitude falls 60 dB (a factor 1000) over RT60.
    let decay_per_sample = (1000_f64).ln() / (reverb.rt60_s * RATE_HZ);
    let mut response = vec![0.0_f32; length.max(predelay + 1)];
    response[0] = 1.0;
    let mut tail_energy = 0.0;
    for (n, h) in response.iter_mut().enumerate().skip(predelay) {
        *h = rng.normal() * (-decay_per_sample * (n - predelay) as f64).exp() as f32;
        tail_energy += f64::from(*h).powi(2);
    }
    if tail_energy > 0.0 {
        let scale = (10_f64.powf(-reverb.direct_to_reverberant_db / 10.0) / tail_energy).sqrt() as f32;
        response[predelay..].iter_mut().for_each(|h| *h *= scale);
    }
    response
}

/// `audio ← (audio * response)[..len]` by FFT convolution: the tail past the end is dropped.
fn convolve_in_place(audio: &mut [f32], response: &[f32]) {
    let n = (audio.len() + response.len() - 1).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let forward = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(n);
    let spectrum = |signal: &[f32], fft: &Arc<dyn realfft::RealToComplex<f32>>| {
        let mut input = fft.make_input_vec();
        input[..signal.len()].copy_from_slice(signal);
        let mut output = fft.make_output_vec();
        fft.process(&mut input, &mut output)
            .expect("buffers come from the plan itself");
        output
    };
    let a = spectrum(audio, &forward);
    let b = spectrum(response, &forward);
    let mut product: Vec<Complex<f32>> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    // The DC and Nyquist bins of a real signal's spectrum are real; rounding may leave a trace
    // of imaginary part, which the inverse transform refuses.
    product[0].im = 0.0;
    let last = product.len() - 1;
    product[last].im = 0.0;
    let mut out = inverse.make_output_vec();
    inverse
        .process(&mut product, &mut out)
        .expect("buffers come from the plan itself");
    let scale = 1.0 / n as f32;
    for (x, y) in audio.iter_mut().zip(&out) {
        *x = y * scale;
    }
}

/// `len` samples of noise of `kind`, any level (the caller scales it).
fn noise_signal(kind: NoiseKind, len: usize, babble: &[f32], rng: &mut Rng) -> Vec<f32> {
    match kind {
        NoiseKind::White => (0..len).map(|_| rng.normal()).collect(),
        NoiseKind::Pink => {
            let (mut b0, mut b1, mut b2) = (0.0_f32, 0.0_f32, 0.0_f32);
            (0..len)
                .map(|_| {
                    let white = rng.normal();
                    b0 = 0.99765 * b0 + white * 0.099_046;
                    b1 = 0.96300 * b1 + white * 0.296_516_4;
                    b2 = 0.57000 * b2 + white * 1.052_691_3;
                    b0 + b1 + b2 + white * 0.1848
                })
                .collect()
        }
        NoiseKind::Babble if babble.is_empty() => (0..len).map(|_| rng.normal()).collect(),
        NoiseKind::Babble => {
            let mut out = vec![0.0_f32; len];
            for _ in 0..rng.int(BABBLE_TALKERS.0, BABBLE_TALKERS.1) {
                let offset = rng.int(0, babble.len() as u64 - 1) as usize;
                for (i, x) in out.iter_mut().enumerate() {
                    *x += babble[(offset + i) % babble.len()];
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speechlike(len: usize) -> Vec<f32> {
        // Bursts of a 300 Hz tone with pauses between them.
        (0..len)
            .map(|n| {
                let on = (n / 4000) % 2 == 0;
                if on {
                    0.3 * (std::f32::consts::TAU * 300.0 * n as f32 / 16_000.0).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn noise_lands_at_the_drawn_snr() {
        for kind in [NoiseKind::White, NoiseKind::Pink, NoiseKind::Babble] {
            for snr_db in [10.0, 25.0, 40.0] {
                let clean = speechlike(32_000);
                let mut noisy = clean.clone();
                let augmentation = Augmentation {
                    noise: Some(Noise { kind, snr_db }),
                    ..Augmentation::none(22_050)
                };
                let babble = speechlike(50_000);
                augmentation.apply(&mut noisy, &babble, 3);
                let noise: Vec<f32> = noisy.iter().zip(&clean).map(|(a, b)| a - b).collect();
                let noise_power =
                    noise.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / noise.len() as f64;
                let measured = 10.0 * (active_power(&clean) / noise_power).log10();
                assert!(
                    (measured - snr_db).abs() < 0.2,
                    "{kind:?}: {measured} dB for {snr_db} dB"
                );
            }
        }
    }

    #[test]
    fn reverb_keeps_level_and_alignment_and_adds_a_tail() {
        let mut click = vec![0.0_f32; 16_000];
        click[1000] = 0.5;
        let augmentation = Augmentation {
            reverb: Some(Reverb {
                rt60_s: 0.4,
                direct_to_reverberant_db: 3.0,
                predelay_ms: 5.0,
            }),
            ..Augmentation::none(22_050)
        };
        let mut wet = click.clone();
        augmentation.apply(&mut wet, &[], 1);
        // Nothing before the click, the direct path exactly at the click, a tail after it.
        assert!(wet[..1000].iter().all(|x| x.abs() < 1e-5));
        let peak = (0..wet.len())
            .max_by(|a, b| wet[*a].abs().total_cmp(&wet[*b].abs()))
            .expect("samples");
        assert_eq!(peak, 1000);
        let tail_early: f32 = wet[1100..1900].iter().map(|x| x * x).sum();
        let tail_late: f32 = wet[1000 + 6000..1000 + 6800].iter().map(|x| x * x).sum();
        assert!(
            tail_early > 0.0 && tail_late < tail_early * 0.01,
            "{tail_early} {tail_late}"
        );
    }

    #[test]
    fn draws_are_seeded_and_within_range() {
        let mut speeds = 0;
        for i in 0..500 {
            let a = Augmentation::draw(&mut Rng::new(1, Stream::Augment, i), 22_050);
            assert_eq!(
                a,
                Augmentation::draw(&mut Rng::new(1, Stream::Augment, i), 22_050)
            );
            assert!((0.89..=1.11).contains(&a.speed));
            assert!((-12.0..=6.0).contains(&a.gain_db));
            if a.source_rate_hz != 22_050 {
                assert_eq!(a.source_rate_hz % SPEED_RATE_STEP_HZ, 0, "{}", a.source_rate_hz);
                speeds += 1;
            }
            if let Some(r) = a.reverb {
                assert!((0.2..=0.6).contains(&r.rt60_s));
            }
            if let Some(n) = a.noise {
                assert!((10.0..=40.0).contains(&n.snr_db));
            }
        }
        assert!((180..320).contains(&speeds), "{speeds} of 500 sped up or down");
    }
}
