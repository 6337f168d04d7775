//! Streaming sample-rate conversion of mono audio between any two plausible rates.
//!
//! [`StreamResampler`] wraps rubato's FFT resampler (fixed ratio, exact for integer rates) and
//! adds what a pipeline needs around it: it accepts input in chunks of any length, removes the
//! filter's start-up delay so that output sample `n` lies at input time `n / to_hz`, and on
//! [`StreamResampler::flush`] emits exactly `round(input_len * to_hz / from_hz)` samples in all.
//! Equal rates pass samples through untouched; otherwise non-finite samples (a broken float
//! WAV, a glitching driver) are read as silence rather than poisoning the filter.
//!
//! It does not track clocks, does not drift-correct between devices (that needs an adjustable
//! ratio), and handles one channel only: every stage downmixes first.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use super::{AudioError, is_plausible_rate};

/// Shortest FFT block on either side. Below this the anti-aliasing cutoff drops noticeably
/// (about 0.9 of Nyquist at 128 points with a Blackman-Harris² window).
const MIN_BLOCK_SAMPLES: usize = 128;
/// Blocks span at least this much input, 10 ms: shorter blocks only add per-block overhead
/// without lowering latency below what the ear notices.
const MIN_BLOCK_MS: usize = 10;

/// Converts a stream of mono samples from one rate to another, chunk by chunk.
///
/// Internal buffers are allocated once in [`StreamResampler::new`]; `process` and `flush`
/// never allocate except to grow the caller's `out`.
pub struct StreamResampler {
    from_hz: u32,
    to_hz: u32,
    /// `None` when the rates are equal: samples pass through.
    fft: Option<FftStage>,
    input_total_samples: u64,
    output_total_samples: u64,
}

/// The FFT resampler and the buffers that adapt arbitrary chunks to its fixed blocks.
struct FftStage {
    resampler: Fft<f32>,
    block_in_samples: usize,
    block_out_samples: usize,
    /// Output samples of start-up delay (half a block, the centre of rubato's linear-phase
    /// filter): this many leading samples are dropped after a reset.
    delay_samples: usize,
    /// Leading output samples still to drop.
    delay_left_samples: usize,
    /// Input gathered towards the next block; capacity `block_in_samples`.
    pending: Vec<f32>,
    /// One block of output; length `block_out_samples`.
    block_out: Vec<f32>,
}

impl StreamResampler {
    /// A resampler from `from_hz` to `to_hz`. Both rates must lie in
    /// [`super::MIN_SAMPLE_RATE_HZ`]..=[`super::MAX_SAMPLE_RATE_HZ`].
    ///
    /// Rates with a small common divisor need long blocks (44 100 → 16 000 moves 882 input
    /// samples at a time); coprime rates can need a second of audio per block, which is
    /// logged as a warning.
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, AudioError> {
        if !is_plausible_rate(from_hz) || !is_plausible_rate(to_hz) {
            return Err(AudioError::UnsupportedResampleRate { from_hz, to_hz });
        }
        let fft = (from_hz != to_hz).then(|| FftStage::new(from_hz, to_hz));
        let resampler = Self {
            from_hz,
            to_hz,
            fft,
            input_total_samples: 0,
            output_total_samples: 0,
        };
        let latency_ms = resampler.latency_ns() / 1_000_000;
        if latency_ms > 100 {
            tracing::warn!(
                from_hz,
                to_hz,
                latency_ms,
                "these sample rates share only a small common divisor, so resampling between them \
                 needs long blocks; prefer standard rates (16 000, 22 050, 44 100, 48 000 Hz)"
            );
        }
        Ok(resampler)
    }

    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Worst-case delay, in output samples, between an input sample arriving and the output
    /// sample at the same instant leaving `process`: the filter's look-ahead (half a block)
    /// plus one block of buffering. 0 for a pass-through.
    pub fn latency_samples(&self) -> usize {
        self.fft
            .as_ref()
            .map_or(0, |fft| fft.delay_samples + fft.block_out_samples)
    }

    /// [`Self::latency_samples`] in nanoseconds, rounded up.
    pub fn latency_ns(&self) -> u64 {
        (self.latency_samples() as u64 * 1_000_000_000).div_ceil(u64::from(self.to_hz))
    }

    /// Most samples one `process` call with `input_samples` samples can append, so callers can
    /// reserve `out` once and keep the hot path free of allocation.
    pub fn max_output_samples(&self, input_samples: usize) -> usize {
        match &self.fft {
            None => input_samples,
            Some(fft) => (input_samples / fft.block_in_samples + 1) * fft.block_out_samples,
        }
    }

    /// Resamples `input` (any length, including 0) and appends whatever output is ready to `out`.
    /// Up to one block of input stays buffered until more arrives or [`Self::flush`] is called.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.input_total_samples += input.len() as u64;
        let appended = match &mut self.fft {
            None => {
                out.extend_from_slice(input);
                input.len()
            }
            Some(fft) => fft.process(input, out),
        };
        self.output_total_samples += appended as u64;
    }

    /// Emits the buffered tail so that the stream's output totals
    /// `round(input_len * to_hz / from_hz)` samples, then resets for a new stream.
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        if let Some(fft) = &mut self.fft {
            let target = expected_output_samples(self.input_total_samples, self.from_hz, self.to_hz);
            let missing = target.saturating_sub(self.output_total_samples) as usize;
            fft.drain(missing, out);
            fft.reset();
        }
        self.input_total_samples = 0;
        self.output_total_samples = 0;
    }

    /// Drops buffered input and filter state without emitting anything, as after an interrupt.
    pub fn reset(&mut self) {
        if let Some(fft) = &mut self.fft {
            fft.reset();
        }
        self.input_total_samples = 0;
        self.output_total_samples = 0;
    }
}

impl FftStage {
    fn new(from_hz: u32, to_hz: u32) -> Self {
        let (from, to) = (from_hz as usize, to_hz as usize);
        let divisor = gcd(from, to);
        let (unit_in, unit_out) = (from / divisor, to / divisor);
        // Blocks are whole multiples of (unit_in, unit_out) so they hold an exact ratio. The
        // multiple is even so that half a block (the filter's centre) is a whole number of
        // samples on both sides: then dropping that many output samples aligns output and
        // input exactly, with no sub-sample offset.
        let min_in = MIN_BLOCK_SAMPLES.max(from * MIN_BLOCK_MS / 1000);
        let units = min_in.div_ceil(unit_in).max(MIN_BLOCK_SAMPLES.div_ceil(unit_out));
        let units = units + units % 2;
        let block_in_samples = units * unit_in;
        let block_out_samples = units * unit_out;
        // One sub-chunk per call, so rubato's FFT size equals our block and every call turns
        // exactly one block in into one block out.
        let resampler = Fft::<f32>::new_custom(
            from,
            to,
            block_in_samples,
            1,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Input,
        )
        .expect("rates were validated as non-zero and the block size is positive");
        debug_assert_eq!(resampler.input_frames_next(), block_in_samples);
        debug_assert_eq!(resampler.output_frames_next(), block_out_samples);
        let delay_samples = block_out_samples / 2;
        debug_assert_eq!(resampler.output_delay(), delay_samples);
        Self {
            resampler,
            block_in_samples,
            block_out_samples,
            delay_samples,
            delay_left_samples: delay_samples,
            pending: Vec::with_capacity(block_in_samples),
            block_out: vec![0.0; block_out_samples],
        }
    }

    /// Buffers `input`, runs every completed block, appends their output; returns how many
    /// samples were appended.
    fn process(&mut self, mut input: &[f32], out: &mut Vec<f32>) -> usize {
        let mut appended = 0;
        while !input.is_empty() {
            let take = (self.block_in_samples - self.pending.len()).min(input.len());
            // A NaN or infinity would poison the FFT (rubato then fails on the whole block):
            // it is read as silence.
            self.pending
                .extend(input[..take].iter().map(|&x| if x.is_finite() { x } else { 0.0 }));
            input = &input[take..];
            if self.pending.len() == self.block_in_samples {
                appended += self.run_block(out, usize::MAX);
            }
        }
        appended
    }

    /// Pads the pending block with silence and runs blocks until `wanted` more samples have
    /// been appended.
    fn drain(&mut self, mut wanted: usize, out: &mut Vec<f32>) {
        while wanted > 0 {
            self.pending.resize(self.block_in_samples, 0.0);
            wanted -= self.run_block(out, wanted);
        }
    }

    /// Resamples the full pending block, drops what is left of the start-up delay and appends
    /// at most `limit` samples.
    fn run_block(&mut self, out: &mut Vec<f32>, limit: usize) -> usize {
        let input = InterleavedSlice::new(&self.pending[..], 1, self.block_in_samples)
            .expect("pending holds exactly one block");
        let mut output = InterleavedSlice::new_mut(&mut self.block_out[..], 1, self.block_out_samples)
            .expect("block_out holds exactly one block");
        let (consumed, produced) = self
            .resampler
            .process_into_buffer(&input, &mut output, None)
            .expect("buffers are sized from the resampler's own block sizes");
        debug_assert_eq!(
            (consumed, produced),
            (self.block_in_samples, self.block_out_samples)
        );
        self.pending.clear();

        let skip = self.delay_left_samples.min(produced);
        self.delay_left_samples -= skip;
        let ready = &self.block_out[skip..produced];
        let ready = &ready[..ready.len().min(limit)];
        out.extend_from_slice(ready);
        ready.len()
    }

    fn reset(&mut self) {
        self.resampler.reset();
        self.pending.clear();
        self.delay_left_samples = self.delay_samples;
    }
}

/// Resamples a whole clip at once.
pub fn resample_all(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    let mut resampler = StreamResampler::new(from_hz, to_hz)?;
    let mut out =
        Vec::with_capacity(expected_output_samples(samples.len() as u64, from_hz, to_hz) as usize + 1);
    resampler.process(samples, &mut out);
    resampler.flush(&mut out);
    Ok(out)
}

/// `round(input_samples * to_hz / from_hz)` in exact integer arithmetic (halves round up).
fn expected_output_samples(input_samples: u64, from_hz: u32, to_hz: u32) -> u64 {
    let scaled = u128::from(input_samples) * u128::from(to_hz);
    let from = u128::from(from_hz);
    ((2 * scaled + from) / (2 * from)) as u64
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq_hz: f32, rate_hz: u32, len: usize, amplitude: f32) -> Vec<f32> {
        (0..len)
            .map(|n| amplitude * (std::f32::consts::TAU * freq_hz * n as f32 / rate_hz as f32).sin())
            .collect()
    }

    fn zero_crossings(samples: &[f32]) -> usize {
        samples
            .windows(2)
            .filter(|pair| (pair[0] < 0.0) != (pair[1] < 0.0))
            .count()
    }

    fn rms(samples: &[f32]) -> f32 {
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
    }

    #[test]
    fn latency_is_pinned_for_the_rates_persona_uses() {
        // (from, to, latency in output samples): half a block of filter delay plus one block.
        let table = [
            (22_050, 48_000, 320 + 640),
            (48_000, 16_000, 80 + 160),
            (16_000, 48_000, 240 + 480),
            (44_100, 16_000, 160 + 320),
            (22_050, 16_000, 320 + 640),
            (48_000, 48_000, 0),
        ];
        for (from_hz, to_hz, latency) in table {
            let resampler = StreamResampler::new(from_hz, to_hz).unwrap();
            assert_eq!(resampler.latency_samples(), latency, "{from_hz} -> {to_hz}");
        }
        assert_eq!(
            StreamResampler::new(48_000, 16_000).unwrap().latency_ns(),
            15_000_000
        );
    }

    #[test]
    fn output_never_lags_input_by_more_than_the_declared_latency() {
        for (from_hz, to_hz) in [(22_050, 48_000), (48_000, 16_000), (44_100, 16_000)] {
            let mut resampler = StreamResampler::new(from_hz, to_hz).unwrap();
            let latency = resampler.latency_samples() as u64;
            let input = sine(300.0, from_hz, from_hz as usize / 5, 0.5);
            let mut out = Vec::new();
            for (fed, sample) in input.iter().enumerate() {
                resampler.process(std::slice::from_ref(sample), &mut out);
                let due = (fed as u64 + 1) * u64::from(to_hz) / u64::from(from_hz);
                assert!(
                    out.len() as u64 + latency >= due,
                    "{from_hz} -> {to_hz}: after {} inputs only {} outputs, {due} due",
                    fed + 1,
                    out.len()
                );
            }
        }
    }

    #[test]
    fn a_sine_keeps_frequency_amplitude_and_phase() {
        for (from_hz, to_hz) in [(22_050, 48_000), (44_100, 16_000)] {
            let input = sine(440.0, from_hz, from_hz as usize, 0.5);
            let output = resample_all(&input, from_hz, to_hz).unwrap();
            assert_eq!(output.len(), to_hz as usize);

            // Away from the ends (where the clip starts and stops abruptly) the output is the
            // same sine sampled at the new rate: same frequency, amplitude and phase, which
            // also proves the start-up delay was removed exactly.
            let ideal = sine(440.0, to_hz, to_hz as usize, 0.5);
            let margin = to_hz as usize / 20;
            let worst = output[margin..output.len() - margin]
                .iter()
                .zip(&ideal[margin..])
                .map(|(got, want)| (got - want).abs())
                .fold(0.0_f32, f32::max);
            assert!(worst < 1e-3, "{from_hz} -> {to_hz}: worst deviation {worst}");

            let crossings = zero_crossings(&output[margin..output.len() - margin]);
            let seconds = (output.len() - 2 * margin) as f32 / to_hz as f32;
            let measured_hz = crossings as f32 / 2.0 / seconds;
            assert!(
                (measured_hz - 440.0).abs() < 2.0,
                "{from_hz} -> {to_hz}: {measured_hz} Hz"
            );
            let level = rms(&output[margin..output.len() - margin]);
            assert!(
                (level - 0.5 / 2.0_f32.sqrt()).abs() < 2e-3,
                "{from_hz} -> {to_hz}: rms {level}"
            );
        }
    }

    #[test]
    fn an_impulse_lands_at_the_same_instant() {
        // 2205 samples at 22 050 Hz is 100 ms, which is sample 4800 at 48 kHz.
        let mut input = vec![0.0; 22_050];
        input[2205] = 1.0;
        let output = resample_all(&input, 22_050, 48_000).unwrap();
        let peak = (0..output.len())
            .max_by(|&a, &b| output[a].total_cmp(&output[b]))
            .unwrap();
        assert_eq!(peak, 4800);
    }

    #[test]
    fn streaming_in_odd_chunks_matches_one_shot() {
        for (from_hz, to_hz) in [(22_050, 48_000), (44_100, 16_000)] {
            let input = sine(440.0, from_hz, from_hz as usize / 2 + 17, 0.5);
            let one_shot = resample_all(&input, from_hz, to_hz).unwrap();
            for chunk in [1, 37, 441, 1000] {
                let mut resampler = StreamResampler::new(from_hz, to_hz).unwrap();
                let mut streamed = Vec::new();
                for piece in input.chunks(chunk) {
                    resampler.process(piece, &mut streamed);
                }
                resampler.flush(&mut streamed);
                assert_eq!(streamed.len(), one_shot.len(), "chunk {chunk}");
                for (n, (a, b)) in streamed.iter().zip(&one_shot).enumerate() {
                    assert!((a - b).abs() < 1e-4, "chunk {chunk}, sample {n}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn output_length_is_the_rounded_ratio() {
        for (from_hz, to_hz) in [
            (22_050, 48_000),
            (44_100, 16_000),
            (48_000, 16_000),
            (16_000, 44_100),
        ] {
            for len in [0, 1, 2, 3, 100, 293, 294, 295, 12_345, 22_050] {
                let output = resample_all(&vec![0.25; len], from_hz, to_hz).unwrap();
                let expected = (len as f64 * f64::from(to_hz) / f64::from(from_hz)).round() as usize;
                assert_eq!(output.len(), expected, "{len} samples {from_hz} -> {to_hz}");
            }
        }
    }

    #[test]
    fn flush_resets_for_the_next_stream() {
        let first = sine(300.0, 16_000, 5000, 0.3);
        let second = sine(700.0, 16_000, 3000, 0.3);
        let mut resampler = StreamResampler::new(16_000, 48_000).unwrap();
        let mut out = Vec::new();
        resampler.process(&first, &mut out);
        resampler.flush(&mut out);
        assert_eq!(out.len(), 15_000);
        out.clear();
        resampler.process(&second, &mut out);
        resampler.flush(&mut out);
        assert_eq!(out, resample_all(&second, 16_000, 48_000).unwrap());
    }

    #[test]
    fn equal_rates_pass_through_bit_exact() {
        let input: Vec<f32> = (0..5000)
            .map(|n| ((n * 7919) % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        let mut resampler = StreamResampler::new(16_000, 16_000).unwrap();
        assert_eq!(resampler.latency_samples(), 0);
        let mut out = Vec::new();
        for piece in input.chunks(37) {
            resampler.process(piece, &mut out);
        }
        resampler.flush(&mut out);
        assert_eq!(
            out.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
            input.iter().map(|s| s.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn steady_state_keeps_its_buffers() {
        let mut resampler = StreamResampler::new(22_050, 48_000).unwrap();
        let input = sine(440.0, 22_050, 441, 0.5);
        let mut out = Vec::with_capacity(resampler.max_output_samples(input.len()));
        let fft = resampler.fft.as_ref().unwrap();
        let buffers = (
            fft.pending.as_ptr(),
            fft.pending.capacity(),
            fft.block_out.as_ptr(),
        );
        let out_capacity = out.capacity();
        for _ in 0..100 {
            out.clear();
            resampler.process(&input, &mut out);
            assert!(out.len() <= out_capacity);
        }
        let fft = resampler.fft.as_ref().unwrap();
        assert_eq!(
            buffers,
            (
                fft.pending.as_ptr(),
                fft.pending.capacity(),
                fft.block_out.as_ptr()
            )
        );
        assert_eq!(out.capacity(), out_capacity);
    }

    #[test]
    fn implausible_rates_are_refused_by_name() {
        for (from_hz, to_hz) in [(0, 16_000), (16_000, 1_000_000)] {
            let error = StreamResampler::new(from_hz, to_hz).err().unwrap();
            assert!(matches!(error, AudioError::UnsupportedResampleRate { .. }));
            let message = error.to_string();
            assert!(message.contains(&from_hz.to_string()) && message.contains(&to_hz.to_string()));
        }
    }
}
