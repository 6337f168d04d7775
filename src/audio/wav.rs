//! WAV files in and out, with a health check of what was read.
//!
//! [`read_wav`] turns any PCM integer (8/16/24/32-bit) or 32-bit float WAV into mono `f32` at the
//! file's own rate, and measures the things that silently ruin recognition downstream: clipping
//! and DC offset. [`write_wav`] writes 16-bit mono for tools and tests.
//!
//! This module does not resample (see [`super::resample`]), does not stream (files are read
//! whole; they are inputs for tests and tools, not live audio) and does not decode compressed
//! formats.

use std::io::ErrorKind;
use std::path::Path;

use hound::{SampleFormat, WavReader, WavSpec, WavWriter};

use super::{AudioError, is_plausible_rate};

/// A sample at or beyond this magnitude counts as clipped. Slightly below 1.0 because converters
/// that clip rarely land exactly on full scale.
const CLIP_LEVEL: f32 = 0.999;
/// Warn when more than this fraction of samples is clipped (0.1 %): a few clipped peaks are
/// harmless, a steady stream of them means the gain is too high.
const CLIP_WARN_FRACTION: f32 = 0.001;
/// Warn when the mean sample value exceeds this: a biased microphone or a broken converter.
const DC_WARN_LEVEL: f32 = 0.05;

/// Mono audio decoded from a file, with a health report.
#[derive(Clone, Debug)]
pub struct DecodedAudio {
    /// Mono samples in [-1, 1]; channels are averaged.
    pub samples: Vec<f32>,
    pub sample_rate_hz: u32,
    /// Channel count of the file before the downmix.
    pub source_channels: u16,
    pub diagnostics: AudioDiagnostics,
}

/// Measurements of decoded audio that predict trouble downstream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AudioDiagnostics {
    /// Largest magnitude of any sample of any channel, in [0, 1].
    pub peak: f32,
    /// Fraction of samples (all channels, before the downmix) at full scale: `|x| >= 0.999`, or an
    /// integer sample at its format's extreme value.
    pub clipped_fraction: f32,
    /// Mean of the mono samples.
    pub dc_offset: f32,
    pub duration_ms: u64,
}

impl AudioDiagnostics {
    /// Human-readable warnings, one per problem found; empty when the audio looks healthy.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.clipped_fraction > CLIP_WARN_FRACTION {
            warnings.push(format!(
                "{:.2} % of samples are clipped (at full scale); lower the recording gain, \
                 clipped speech degrades voice detection and transcription",
                self.clipped_fraction * 100.0
            ));
        }
        if self.dc_offset.abs() > DC_WARN_LEVEL {
            warnings.push(format!(
                "the audio has a DC offset of {:+.3} (mean sample value, expected near 0); remove it \
                 with `audio::remove_dc` or check the microphone's bias",
                self.dc_offset
            ));
        }
        warnings
    }
}

/// Reads a WAV file into mono `f32` samples, averaging its channels.
pub fn read_wav(path: &Path) -> Result<DecodedAudio, AudioError> {
    if path.is_dir() {
        // Opening a directory succeeds on Linux and only reading fails, with an error that
        // would read like a permissions problem.
        return Err(AudioError::NotWav {
            path: path.to_path_buf(),
            detail: "it is a directory".to_string(),
        });
    }
    let mut reader = WavReader::open(path).map_err(|e| open_error(path, e))?;
    let spec = reader.spec();
    check_format(path, &spec)?;
    if !is_plausible_rate(spec.sample_rate) {
        return Err(AudioError::ImplausibleSampleRate {
            path: path.to_path_buf(),
            sample_rate_hz: spec.sample_rate,
        });
    }
    if reader.len() == 0 {
        return Err(AudioError::Empty {
            path: path.to_path_buf(),
        });
    }

    let channels = usize::from(spec.channels);
    let frames = reader.duration() as usize;
    let mut mixer = Downmixer::new(channels, frames);
    match spec.sample_format {
        SampleFormat::Float => {
            for sample in reader.samples::<f32>() {
                let value = sample.map_err(|e| data_error(path, e))?;
                mixer.push(value, false);
            }
        }
        SampleFormat::Int => {
            let full_scale = (1_i64 << (spec.bits_per_sample - 1)) as f32;
            let max = (1_i64 << (spec.bits_per_sample - 1)) - 1;
            let min = -(1_i64 << (spec.bits_per_sample - 1));
            for sample in reader.samples::<i32>() {
                let raw = i64::from(sample.map_err(|e| data_error(path, e))?);
                mixer.push(raw as f32 / full_scale, raw >= max || raw <= min);
            }
        }
    }
    let (samples, mut diagnostics) = mixer.finish();
    diagnostics.duration_ms = samples.len() as u64 * 1000 / u64::from(spec.sample_rate);
    for warning in diagnostics.warnings() {
        tracing::warn!(path = %path.display(), "{warning}");
    }
    Ok(DecodedAudio {
        samples,
        sample_rate_hz: spec.sample_rate,
        source_channels: spec.channels,
        diagnostics,
    })
}

/// Writes mono samples as a 16-bit PCM WAV file. Samples outside [-1, 1] are clipped; NaN and
/// infinities are written as silence.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate_hz: u32) -> Result<(), AudioError> {
    if !is_plausible_rate(sample_rate_hz) {
        return Err(AudioError::UnsupportedWriteRate {
            path: path.to_path_buf(),
            sample_rate_hz,
        });
    }
    let spec = WavSpec {
        channels: 1,
        sample_rate: sample_rate_hz,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    let write_error = |e: hound::Error| AudioError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let mut writer = WavWriter::create(path, spec).map_err(write_error)?;
    for &sample in samples {
        let value = if sample.is_finite() {
            sample.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        writer
            .write_sample((value * f32::from(i16::MAX)).round() as i16)
            .map_err(write_error)?;
    }
    writer.finalize().map_err(write_error)
}

/// Subtracts the mean from `samples`, removing a constant DC offset. Does nothing to an empty
/// slice.
pub fn remove_dc(samples: &mut [f32]) {
    if samples.is_empty() {
        return;
    }
    // Sum in f64: an f32 running sum loses the offset under the signal after a few seconds.
    let mean = (samples.iter().map(|&s| f64::from(s)).sum::<f64>() / samples.len() as f64) as f32;
    for sample in samples {
        *sample -= mean;
    }
}

/// Averages interleaved channels into mono while measuring peak, clipping and DC.
struct Downmixer {
    channels: usize,
    mono: Vec<f32>,
    frame_sum: f32,
    in_frame: usize,
    peak: f32,
    clipped: u64,
    total: u64,
    non_finite: u64,
    dc_sum: f64,
}

impl Downmixer {
    fn new(channels: usize, frames: usize) -> Self {
        Self {
            channels,
            mono: Vec::with_capacity(frames),
            frame_sum: 0.0,
            in_frame: 0,
            peak: 0.0,
            clipped: 0,
            total: 0,
            non_finite: 0,
            dc_sum: 0.0,
        }
    }

    /// Adds the next interleaved sample; `at_extreme` marks an integer sample at its format's
    /// limit (8-bit full scale is 127/128, below the clip level as a float).
    fn push(&mut self, value: f32, at_extreme: bool) {
        let value = if value.is_finite() {
            value.clamp(-1.0, 1.0)
        } else {
            self.non_finite += 1;
            0.0
        };
        self.total += 1;
        self.peak = self.peak.max(value.abs());
        if at_extreme || value.abs() >= CLIP_LEVEL {
            self.clipped += 1;
        }
        self.frame_sum += value;
        self.in_frame += 1;
        if self.in_frame == self.channels {
            let mono = self.frame_sum / self.channels as f32;
            self.dc_sum += f64::from(mono);
            self.mono.push(mono);
            self.frame_sum = 0.0;
            self.in_frame = 0;
        }
    }

    fn finish(self) -> (Vec<f32>, AudioDiagnostics) {
        if self.non_finite > 0 {
            tracing::warn!(
                count = self.non_finite,
                "float WAV contained NaN or infinite samples; they were replaced by silence"
            );
        }
        let frames = self.mono.len().max(1) as f64;
        let diagnostics = AudioDiagnostics {
            peak: self.peak,
            clipped_fraction: (self.clipped as f64 / self.total.max(1) as f64) as f32,
            dc_offset: (self.dc_sum / frames) as f32,
            duration_ms: 0,
        };
        (self.mono, diagnostics)
    }
}

fn check_format(path: &Path, spec: &WavSpec) -> Result<(), AudioError> {
    let supported = match spec.sample_format {
        SampleFormat::Int => matches!(spec.bits_per_sample, 8 | 16 | 24 | 32),
        SampleFormat::Float => spec.bits_per_sample == 32,
    };
    if supported {
        return Ok(());
    }
    let kind = match spec.sample_format {
        SampleFormat::Int => "integer PCM",
        SampleFormat::Float => "float",
    };
    Err(AudioError::UnsupportedFormat {
        path: path.to_path_buf(),
        format: format!("{}-bit {kind}", spec.bits_per_sample),
    })
}

/// Maps a failure to open a file or parse its header.
fn open_error(path: &Path, error: hound::Error) -> AudioError {
    let path_buf = path.to_path_buf();
    match error {
        hound::Error::IoError(io) if io.kind() == ErrorKind::NotFound => {
            AudioError::FileMissing { path: path_buf }
        }
        hound::Error::IoError(io) if is_early_end(&io) => AudioError::NotWav {
            path: path_buf,
            detail: "the file ends inside the WAV header".to_string(),
        },
        hound::Error::IoError(io) => AudioError::Unreadable {
            path: path_buf,
            detail: io.to_string(),
        },
        // hound refuses non-32-bit float while parsing the header; that is a format we do
        // not support, not a broken file.
        hound::Error::FormatError("bits per sample is not 32") => AudioError::UnsupportedFormat {
            path: path_buf,
            format: "float samples that are not 32-bit (64-bit float?)".to_string(),
        },
        hound::Error::FormatError(message) => AudioError::NotWav {
            path: path_buf,
            detail: message.to_string(),
        },
        hound::Error::Unsupported => AudioError::UnsupportedFormat {
            path: path_buf,
            format: "a compressed or uncommon encoding (not plain PCM or IEEE float)".to_string(),
        },
        other => AudioError::NotWav {
            path: path_buf,
            detail: other.to_string(),
        },
    }
}

/// Whether hound hit the end of the file: it reports a short read as a plain `Other` error
/// with this message rather than as `UnexpectedEof`.
fn is_early_end(error: &std::io::Error) -> bool {
    error.kind() == ErrorKind::UnexpectedEof || error.to_string().contains("Failed to read enough bytes")
}

/// Maps a failure while reading sample data, after the header parsed fine.
fn data_error(path: &Path, error: hound::Error) -> AudioError {
    let detail = match error {
        hound::Error::IoError(io) if is_early_end(&io) => {
            "the data chunk is truncated: the file ends before the length its header declares".to_string()
        }
        other => other.to_string(),
    };
    AudioError::NotWav {
        path: path.to_path_buf(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write_with_hound(path: &Path, spec: WavSpec, samples: &[i32]) {
        let mut writer = WavWriter::create(path, spec).unwrap();
        for &sample in samples {
            writer.write_sample(sample).unwrap();
        }
        writer.finalize().unwrap();
    }

    fn int_spec(channels: u16, sample_rate: u32, bits_per_sample: u16) -> WavSpec {
        WavSpec {
            channels,
            sample_rate,
            bits_per_sample,
            sample_format: SampleFormat::Int,
        }
    }

    /// A canonical 44-byte WAV header with a hand-picked format tag and bit depth, for
    /// encodings hound cannot write.
    fn raw_wav(format_tag: u16, bits_per_sample: u16, data: &[u8]) -> Vec<u8> {
        let channels = 1_u16;
        let rate = 16_000_u32;
        let block_align = channels * bits_per_sample / 8;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16_u32.to_le_bytes());
        bytes.extend_from_slice(&format_tag.to_le_bytes());
        bytes.extend_from_slice(&channels.to_le_bytes());
        bytes.extend_from_slice(&rate.to_le_bytes());
        bytes.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
        bytes.extend_from_slice(&block_align.to_le_bytes());
        bytes.extend_from_slice(&bits_per_sample.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.wav");
        let samples: Vec<f32> = (0..16_000)
            .map(|n| 0.5 * (std::f32::consts::TAU * 440.0 * n as f32 / 16_000.0).sin())
            .collect();
        write_wav(&path, &samples, 16_000).unwrap();

        let decoded = read_wav(&path).unwrap();
        assert_eq!(decoded.sample_rate_hz, 16_000);
        assert_eq!(decoded.source_channels, 1);
        assert_eq!(decoded.samples.len(), samples.len());
        for (got, want) in decoded.samples.iter().zip(&samples) {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
        let diagnostics = decoded.diagnostics;
        assert_eq!(diagnostics.duration_ms, 1000);
        assert!((diagnostics.peak - 0.5).abs() < 1e-3);
        assert_eq!(diagnostics.clipped_fraction, 0.0);
        assert!(diagnostics.dc_offset.abs() < 1e-3);
        assert!(diagnostics.warnings().is_empty());
    }

    #[test]
    fn stereo_is_averaged_to_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        // Left at +0.5, right at -0.25 full scale: the mono mix is +0.125.
        let frames = 4410;
        let interleaved: Vec<i32> = (0..frames).flat_map(|_| [16_384, -8_192]).collect();
        write_with_hound(&path, int_spec(2, 44_100, 16), &interleaved);

        let decoded = read_wav(&path).unwrap();
        assert_eq!(decoded.source_channels, 2);
        assert_eq!(decoded.sample_rate_hz, 44_100);
        assert_eq!(decoded.samples.len(), frames);
        assert!(decoded.samples.iter().all(|&s| (s - 0.125).abs() < 1e-6));
        assert_eq!(decoded.diagnostics.duration_ms, 100);
        // The peak is measured per channel, before the mix hides it.
        assert!((decoded.diagnostics.peak - 0.5).abs() < 1e-6);
    }

    #[test]
    fn every_supported_depth_decodes_to_the_same_scale() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [(8, 64), (16, 16_384), (24, 4_194_304), (32, 1_073_741_824)];
        for (bits, half_scale) in cases {
            let path = dir.path().join(format!("half-{bits}.wav"));
            write_with_hound(&path, int_spec(1, 16_000, bits), &[half_scale, -half_scale, 0]);
            let decoded = read_wav(&path).unwrap();
            assert_eq!(decoded.samples, vec![0.5, -0.5, 0.0], "{bits}-bit");
        }

        let path = dir.path().join("float.wav");
        let spec = WavSpec {
            sample_format: SampleFormat::Float,
            ..int_spec(1, 16_000, 32)
        };
        let mut writer = WavWriter::create(&path, spec).unwrap();
        for sample in [0.5_f32, -0.5, 1.5, f32::NAN] {
            writer.write_sample(sample).unwrap();
        }
        writer.finalize().unwrap();
        let decoded = read_wav(&path).unwrap();
        // Out-of-range floats are clipped into [-1, 1]; NaN becomes silence.
        assert_eq!(decoded.samples, vec![0.5, -0.5, 1.0, 0.0]);
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let path = PathBuf::from("/definitely/not/here/speech.wav");
        let error = read_wav(&path).unwrap_err();
        assert!(matches!(error, AudioError::FileMissing { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("/definitely/not/here/speech.wav"), "{message}");
        assert!(message.contains("does not exist"), "{message}");
    }

    #[test]
    fn a_junk_file_is_not_a_wav() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.wav");
        std::fs::write(&path, "these are my notes, not audio\n".repeat(10)).unwrap();
        let error = read_wav(&path).unwrap_err();
        assert!(matches!(error, AudioError::NotWav { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("not a readable WAV file"), "{message}");

        let message = read_wav(dir.path()).unwrap_err().to_string();
        assert!(message.contains("is a directory"), "{message}");

        let short = dir.path().join("short.wav");
        std::fs::write(&short, b"RIFF").unwrap();
        let message = read_wav(&short).unwrap_err().to_string();
        assert!(message.contains("ends inside the WAV header"), "{message}");
    }

    #[test]
    fn a_truncated_data_chunk_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.wav");
        let mut bytes = raw_wav(1, 16, &[0; 200]);
        bytes.truncate(bytes.len() - 100);
        std::fs::write(&path, bytes).unwrap();
        let message = read_wav(&path).unwrap_err().to_string();
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn a_zero_length_wav_has_no_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.wav");
        write_with_hound(&path, int_spec(1, 16_000, 16), &[]);
        let error = read_wav(&path).unwrap_err();
        assert!(matches!(error, AudioError::Empty { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("contains no audio samples"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }

    #[test]
    fn unsupported_encodings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("adpcm.wav", raw_wav(2, 16, &[0; 16]), "compressed"),
            ("double.wav", raw_wav(3, 64, &[0; 16]), "64-bit float"),
        ];
        for (name, bytes, expected) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let error = read_wav(&path).unwrap_err();
            assert!(
                matches!(error, AudioError::UnsupportedFormat { .. }),
                "{name}: {error:?}"
            );
            assert!(error.to_string().contains(expected), "{name}: {error}");
        }
    }

    #[test]
    fn implausible_sample_rates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for rate in [4_000, 384_000] {
            let path = dir.path().join(format!("rate-{rate}.wav"));
            write_with_hound(&path, int_spec(1, rate, 16), &[0; 10]);
            let error = read_wav(&path).unwrap_err();
            assert!(
                matches!(error, AudioError::ImplausibleSampleRate { .. }),
                "{error:?}"
            );
            assert!(error.to_string().contains(&format!("{rate} Hz")), "{error}");
        }
        let error = write_wav(&dir.path().join("bad.wav"), &[0.0], 0).unwrap_err();
        assert!(matches!(
            error,
            AudioError::UnsupportedWriteRate {
                sample_rate_hz: 0,
                ..
            }
        ));
    }

    #[test]
    fn writing_into_a_missing_folder_names_the_path() {
        let path = PathBuf::from("/definitely/not/here/out.wav");
        let message = write_wav(&path, &[0.0; 10], 16_000).unwrap_err().to_string();
        assert!(message.contains("/definitely/not/here/out.wav"), "{message}");
    }

    #[test]
    fn diagnostics_flag_clipping_and_dc_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hot.wav");
        // A square wave between +full scale and 0: 50 % clipped, mean 0.5.
        let samples: Vec<f32> = (0..8000).map(|n| if n % 2 == 0 { 1.0 } else { 0.0 }).collect();
        write_wav(&path, &samples, 16_000).unwrap();
        let diagnostics = read_wav(&path).unwrap().diagnostics;
        assert!((diagnostics.clipped_fraction - 0.5).abs() < 1e-6);
        assert!((diagnostics.dc_offset - 0.5).abs() < 1e-3);
        let warnings = diagnostics.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("50.00 % of samples are clipped"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("DC offset of +0.500"), "{warnings:?}");

        // 8-bit full scale is 127/128, below the float clip level, yet it is clipped.
        let path = dir.path().join("hot-8bit.wav");
        write_with_hound(&path, int_spec(1, 16_000, 8), &[127, -128, 0, 0]);
        assert_eq!(read_wav(&path).unwrap().diagnostics.clipped_fraction, 0.5);

        // Just under the thresholds: no warnings.
        let quiet = AudioDiagnostics {
            peak: 0.9,
            clipped_fraction: 0.001,
            dc_offset: -0.05,
            duration_ms: 1000,
        };
        assert!(quiet.warnings().is_empty());
    }

    #[test]
    fn remove_dc_centres_the_signal() {
        let mut samples: Vec<f32> = (0..1000)
            .map(|n| 0.2 + if n % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        remove_dc(&mut samples);
        let mean = samples.iter().sum::<f32>() / samples.len() as f32;
        assert!(mean.abs() < 1e-6);
        assert!((samples[0] - 0.1).abs() < 1e-6);
        remove_dc(&mut []);
    }
}
