//! Prosody of a spoken utterance, measured from its clean audio: how prominent each word is.
//!
//! espeak-ng's phoneme events carry the bare mnemonic (`i:`, not `'i:`), so lexical stress is
//! not available from the marks. Prominence is measured instead, the way a listener hears it:
//! for every word, the pitch (F0) at the centre of each vowel, the loudest vowel's level and
//! its accent vowel (the highest-pitched one, or the longest when none is voiced). espeak-ng
//! puts its pitch accents on stressed syllables and raises the end of questions, so pitch
//! peaks find them. Values are relative to the utterance (semitones above the median vowel
//! pitch, dB above the median word level), so voice, pitch setting and loudness cancel out.
//!
//! F0 is a normalised autocorrelation over 40 ms at the vowel's centre, 60–400 Hz, taking the
//! shortest lag within 10 % of the best correlation (against octave errors) and calling the
//! vowel unvoiced below a correlation of 0.5.

use crate::motion::visemes::phone_for;
use crate::tts::{PhonemeMark, WordMark};

const F0_MIN_HZ: f64 = 60.0;
const F0_MAX_HZ: f64 = 400.0;
const F0_WINDOW_MS: f64 = 40.0;
const VOICED_CORRELATION: f64 = 0.5;
const OCTAVE_TOLERANCE: f64 = 0.9;

/// One word's prominence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct WordProsody {
    /// Onset of the accent vowel, in samples.
    pub(super) accent_sample: u64,
    /// End of the word, in samples.
    pub(super) end_sample: u64,
    /// Highest vowel pitch in semitones above the utterance's median vowel pitch; 0 when the
    /// word has no voiced vowel.
    pub(super) pitch_st: f64,
    /// Loudest vowel level in dB above the utterance's median word level.
    pub(super) level_db: f64,
}

struct Vowel {
    start: u64,
    end: u64,
    f0_hz: Option<f64>,
    level_db: f64,
}

/// Prominence of every word that has a vowel, in order.
pub(super) fn words(
    samples: &[i16],
    rate_hz: u32,
    phonemes: &[PhonemeMark],
    words: &[WordMark],
) -> Vec<WordProsody> {
    let end_of_audio = samples.len() as u64;
    let vowels: Vec<Vowel> = phonemes
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            let phone = phone_for(m.symbol.as_str());
            phone.nucleus().is_vowel() && !phone.weak
        })
        .map(|(i, m)| {
            let end = phonemes
                .get(i + 1)
                .map_or(end_of_audio, |n| n.start_sample)
                .min(end_of_audio);
            let start = m.start_sample.min(end);
            let segment = &samples[start as usize..end as usize];
            let centre = ((start + end) / 2) as usize;
            let half = (F0_WINDOW_MS / 2000.0 * f64::from(rate_hz)) as usize;
            let window = &samples[centre.saturating_sub(half)..(centre + half).min(samples.len())];
            Vowel {
                start,
                end,
                f0_hz: pitch_hz(window, rate_hz),
                level_db: level_db(segment),
            }
        })
        .collect();
    let mut pitches: Vec<f64> = vowels.iter().filter_map(|v| v.f0_hz).collect();
    let median_f0 = median(&mut pitches).unwrap_or(100.0);

    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let end = words.get(i + 1).map_or(end_of_audio, |w| w.start_sample);
        let mine: Vec<&Vowel> = vowels
            .iter()
            .filter(|v| v.start >= word.start_sample && v.start < end.max(word.start_sample + 1))
            .collect();
        let Some(accent) = mine.iter().copied().max_by(|a, b| {
            let key = |v: &Vowel| (v.f0_hz.unwrap_or(0.0), v.end - v.start);
            key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal)
        }) else {
            continue;
        };
        out.push(WordProsody {
            accent_sample: accent.start,
            end_sample: end,
            pitch_st: accent.f0_hz.map_or(0.0, |f| 12.0 * (f / median_f0).log2()),
            level_db: mine.iter().map(|v| v.level_db).fold(f64::MIN, f64::max),
        });
    }
    let mut levels: Vec<f64> = out.iter().map(|w| w.level_db).collect();
    let median_level = median(&mut levels).unwrap_or(0.0);
    for word in &mut out {
        word.level_db -= median_level;
    }
    out
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// RMS level of 16-bit samples in dB relative to full scale; -100 for silence.
fn level_db(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return -100.0;
    }
    let mean_square = samples
        .iter()
        .map(|s| (f64::from(*s) / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64;
    10.0 * mean_square.max(1e-10).log10()
}

/// Fundamental frequency of a short window, or `None` when it is not clearly periodic.
pub(super) fn pitch_hz(window: &[i16], rate_hz: u32) -> Option<f64> {
    let rate = f64::from(rate_hz);
    let min_lag = (rate / F0_MAX_HZ).floor() as usize;
    let max_lag = (rate / F0_MIN_HZ).ceil() as usize;
    if 2 * window.len() < 3 * max_lag {
        return None;
    }
    let mean = window.iter().map(|s| f64::from(*s)).sum::<f64>() / window.len() as f64;
    let x: Vec<f64> = window.iter().map(|s| f64::from(*s) - mean).collect();
    // Running energy, so each lag's normalisation costs two lookups.
    let mut cumulative = Vec::with_capacity(x.len() + 1);
    cumulative.push(0.0);
    for v in &x {
        cumulative.push(cumulative.last().copied().unwrap_or(0.0) + v * v);
    }
    let n = x.len();
    let correlations: Vec<(usize, f64)> = (min_lag..=max_lag)
        .map(|lag| {
            let dot: f64 = x[..n - lag].iter().zip(&x[lag..]).map(|(p, q)| p * q).sum();
            let energy = ((cumulative[n - lag] - cumulative[0]) * (cumulative[n] - cumulative[lag])).sqrt();
            (lag, if energy > 0.0 { dot / energy } else { 0.0 })
        })
        .collect();
    let best = correlations.iter().map(|(_, r)| *r).fold(f64::MIN, f64::max);
    if best < VOICED_CORRELATION {
        return None;
    }
    // The shortest lag nearly as good as the best, at a local maximum: the period, not a
    // multiple of it.
    let lag = correlations
        .windows(3)
        .find(|w| w[1].1 >= OCTAVE_TOLERANCE * best && w[1].1 >= w[0].1 && w[1].1 >= w[2].1)
        .map_or_else(
            || {
                correlations
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|c| c.0)
            },
            |w| Some(w[1].0),
        )?;
    Some(rate / lag as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::PhonemeSymbol;

    const RATE: u32 = 22_050;

    /// A buzzy periodic signal (a decaying pulse each period), like a voiced vowel.
    fn buzz(f0_hz: f64, amplitude: f64, samples: usize) -> Vec<i16> {
        let period = f64::from(RATE) / f0_hz;
        (0..samples)
            .map(|n| {
                let phase = (n as f64 % period) / period;
                (amplitude * (-6.0 * phase).exp() * (std::f64::consts::TAU * 3.0 * phase).cos()) as i16
            })
            .collect()
    }

    #[test]
    fn pitch_is_found_without_octave_errors_and_noise_is_unvoiced() {
        for f0 in [80.0, 120.0, 180.0, 250.0, 350.0] {
            let estimate = pitch_hz(&buzz(f0, 8000.0, 700), RATE).expect("voiced");
            assert!((estimate / f0 - 1.0).abs() < 0.03, "{f0} Hz read as {estimate}");
        }
        let mut state = 1_u32;
        let noise: Vec<i16> = (0..700)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 20) as i16 - 2048
            })
            .collect();
        assert_eq!(pitch_hz(&noise, RATE), None);
        assert_eq!(pitch_hz(&[0; 700], RATE), None);
    }

    #[test]
    fn the_high_pitched_loud_word_stands_out() {
        // Three words, one vowel each: 110 Hz, 160 Hz and louder, 110 Hz.
        let mut samples = Vec::new();
        for (f0, amplitude) in [(110.0, 4000.0), (160.0, 12000.0), (110.0, 4000.0)] {
            samples.extend(vec![0_i16; 2205]);
            samples.extend(buzz(f0, amplitude, 4410));
        }
        let mark = |symbol: &str, sample: u64| PhonemeMark {
            symbol: PhonemeSymbol::new(symbol),
            start_sample: sample,
        };
        let phonemes: Vec<PhonemeMark> = (0..3)
            .flat_map(|i| [mark("b", i * 6615), mark("a", i * 6615 + 2205)])
            .collect();
        let words: Vec<WordMark> = (0..3)
            .map(|i| WordMark {
                start_sample: i * 6615,
                text_start: 0,
                text_len: 1,
            })
            .collect();
        let prosody = super::words(&samples, RATE, &phonemes, &words);
        assert_eq!(prosody.len(), 3);
        assert_eq!(prosody[1].accent_sample, 6615 + 2205);
        assert!(
            (prosody[1].pitch_st - 12.0 * (160.0_f64 / 110.0).log2()).abs() < 0.5,
            "{prosody:?}"
        );
        assert!(
            prosody[1].level_db > 8.0 && prosody[0].level_db.abs() < 0.5,
            "{prosody:?}"
        );
    }
}
