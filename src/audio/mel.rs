//! The Slaney mel scale and mel filter banks, shared by every feature extractor.
//!
//! One definition serves whisper's model files ([`crate::stt::synthetic`]) and the motion
//! model's log-mel features ([`crate::motion::features`]), so the two can never disagree about
//! what "mel bin 26" means. Plain functions of their arguments: no FFT, no state.

/// A Slaney-style mel filter bank (librosa's default, which OpenAI's whisper features use):
/// `n_mels` triangles equally spaced on the Slaney mel scale from 0 Hz to Nyquist, each scaled
/// to unit area in Hz. Row-major, `n_mels` rows of `n_fft_samples / 2 + 1` FFT bins.
pub fn slaney_mel_filterbank(n_mels: usize, n_fft_samples: usize, sample_rate_hz: u32) -> Vec<f32> {
    let n_bins = n_fft_samples / 2 + 1;
    let rate_hz = f64::from(sample_rate_hz);
    let mel_max = hz_to_mel(rate_hz / 2.0);
    let edges_hz: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(mel_max * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut bank = vec![0.0_f32; n_mels * n_bins];
    for (m, row) in bank.chunks_exact_mut(n_bins).enumerate() {
        let (lo_hz, centre_hz, hi_hz) = (edges_hz[m], edges_hz[m + 1], edges_hz[m + 2]);
        let area_norm = 2.0 / (hi_hz - lo_hz);
        for (k, w) in row.iter_mut().enumerate() {
            let f_hz = k as f64 * rate_hz / n_fft_samples as f64;
            let rising = (f_hz - lo_hz) / (centre_hz - lo_hz);
            let falling = (hi_hz - f_hz) / (hi_hz - centre_hz);
            *w = (rising.min(falling).max(0.0) * area_norm) as f32;
        }
    }
    bank
}

/// Centre frequency of filter `m` of [`slaney_mel_filterbank`]`(n_mels, _, sample_rate_hz)`.
pub fn slaney_mel_centre_hz(m: usize, n_mels: usize, sample_rate_hz: u32) -> f64 {
    let mel_max = hz_to_mel(f64::from(sample_rate_hz) / 2.0);
    mel_to_hz(mel_max * (m + 1) as f64 / (n_mels + 1) as f64)
}

// The Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
const MEL_LINEAR_HZ_PER_MEL: f64 = 200.0 / 3.0;
const MEL_BREAK_HZ: f64 = 1000.0;
const MEL_BREAK: f64 = MEL_BREAK_HZ / MEL_LINEAR_HZ_PER_MEL;

fn mel_log_step() -> f64 {
    6.4_f64.ln() / 27.0
}

/// Hz to Slaney mels.
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz < MEL_BREAK_HZ {
        hz / MEL_LINEAR_HZ_PER_MEL
    } else {
        MEL_BREAK + (hz / MEL_BREAK_HZ).ln() / mel_log_step()
    }
}

/// Slaney mels to Hz.
pub fn mel_to_hz(mel: f64) -> f64 {
    if mel < MEL_BREAK {
        mel * MEL_LINEAR_HZ_PER_MEL
    } else {
        MEL_BREAK_HZ * (mel_log_step() * (mel - MEL_BREAK)).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bank(n_mels: usize, n_fft_samples: usize, sample_rate_hz: u32) {
        let n_bins = n_fft_samples / 2 + 1;
        let bank = slaney_mel_filterbank(n_mels, n_fft_samples, sample_rate_hz);
        assert_eq!(bank.len(), n_mels * n_bins);
        let bin_hz = f64::from(sample_rate_hz) / n_fft_samples as f64;
        let mut last_peak_bin = 0;
        for (m, row) in bank.chunks_exact(n_bins).enumerate() {
            assert!(row.iter().all(|w| w.is_finite() && *w >= 0.0), "row {m}");
            let (peak_bin, peak) =
                row.iter().enumerate().fold(
                    (0, 0.0_f32),
                    |best, (k, &w)| if w > best.1 { (k, w) } else { best },
                );
            assert!(peak > 0.0, "filter {m} is empty");
            assert!(
                peak_bin >= last_peak_bin,
                "filter {m} peaks below filter {}",
                m - 1
            );
            last_peak_bin = peak_bin;
            // Slaney normalisation gives each triangle unit area in Hz; sampling at FFT bins
            // is only accurate once a triangle spans several bins.
            let nonzero_bins = row.iter().filter(|w| **w > 0.0).count();
            if nonzero_bins >= 8 {
                let area = f64::from(row.iter().sum::<f32>()) * bin_hz;
                assert!((area - 1.0).abs() < 0.05, "filter {m} has area {area}");
            }
        }
        // Every bin below Nyquist is covered by at most two overlapping triangles.
        for k in 0..n_bins {
            let cover = (0..n_mels).filter(|m| bank[m * n_bins + k] > 0.0).count();
            assert!(cover <= 2, "bin {k} is covered by {cover} filters");
        }
    }

    #[test]
    fn mel_filters_are_unit_area_triangles_in_order() {
        // whisper's bank and the motion features' bank.
        check_bank(80, 400, 16_000);
        check_bank(80, 512, 16_000);
    }

    #[test]
    fn mel_scale_round_trips_and_breaks_at_1_khz() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        for hz in [0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9, "{hz} Hz");
        }
        assert!(
            (slaney_mel_centre_hz(79, 80, 16_000) - mel_to_hz(hz_to_mel(8000.0) * 80.0 / 81.0)).abs() < 1e-9
        );
    }
}
