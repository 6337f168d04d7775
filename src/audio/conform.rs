//! Input conditioning: any capture rate in, 20 ms frames of 16 kHz mono out.
//!
//! Every listening stage (VAD, turn detector, STT) works on [`LISTEN_FRAME_SAMPLES`]-sample
//! frames at [`LISTEN_RATE_HZ`] on a gapless clock that starts at 0; this is the only place
//! that knows the capture rate. A DC offset (a biased microphone or converter) is removed on
//! the way with a one-pole high-pass at about 6 Hz: it would otherwise read as energy to the
//! VAD and as a low hum to whisper. Channels were already averaged when the audio was read.
//! A sans-IO [`Conformer`] plus the stage shell.

use crate::runtime::{Event, Receiver, Sender, StageCtx, StageError};

use super::{AudioError, AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ, StreamResampler};

/// Pole of the DC blocker at 16 kHz: a cut-off near 6 Hz, a 25 ms time constant.
const DC_BLOCK_POLE: f32 = 0.9975;

/// Resamples and re-frames a mono stream to 16 kHz, 20 ms frames.
pub struct Conformer {
    resampler: StreamResampler,
    /// Resampled audio not yet framed (less than one frame after each call).
    pending: Vec<f32>,
    next_sample: u64,
    /// DC blocker state: the last input and output sample.
    dc_in: f32,
    dc_out: f32,
}

impl Conformer {
    pub fn new(input_rate_hz: u32) -> Result<Self, AudioError> {
        let resampler = StreamResampler::new(input_rate_hz, LISTEN_RATE_HZ)?;
        let pending =
            Vec::with_capacity(resampler.max_output_samples(super::MAX_FRAME_SAMPLES) + LISTEN_FRAME_SAMPLES);
        Ok(Conformer {
            resampler,
            pending,
            next_sample: 0,
            dc_in: 0.0,
            dc_out: 0.0,
        })
    }

    /// Feeds captured samples; calls `emit` for each complete 16 kHz frame.
    pub fn push(&mut self, samples: &[f32], mut emit: impl FnMut(AudioFrame)) {
        let from = self.pending.len();
        self.resampler.process(samples, &mut self.pending);
        self.block_dc(from);
        self.drain(false, &mut emit);
    }

    /// End of stream: flushes the resampler and emits the last frame padded with silence.
    pub fn finish(&mut self, mut emit: impl FnMut(AudioFrame)) {
        let from = self.pending.len();
        self.resampler.flush(&mut self.pending);
        self.block_dc(from);
        self.drain(true, &mut emit);
    }

    /// High-passes the newly resampled samples from `from` on; non-finite samples become 0.
    fn block_dc(&mut self, from: usize) {
        for x in &mut self.pending[from..] {
            let input = if x.is_finite() { *x } else { 0.0 };
            self.dc_out = input - self.dc_in + DC_BLOCK_POLE * self.dc_out;
            self.dc_in = input;
            *x = self.dc_out;
        }
    }

    fn drain(&mut self, pad_last: bool, emit: &mut impl FnMut(AudioFrame)) {
        let mut offset = 0;
        while self.pending.len() - offset >= LISTEN_FRAME_SAMPLES {
            let frame = AudioFrame::new(
                LISTEN_RATE_HZ,
                self.next_sample,
                &self.pending[offset..offset + LISTEN_FRAME_SAMPLES],
            );
            self.next_sample += LISTEN_FRAME_SAMPLES as u64;
            offset += LISTEN_FRAME_SAMPLES;
            emit(frame);
        }
        self.pending.drain(..offset);
        if pad_last && !self.pending.is_empty() {
            let mut frame = AudioFrame::silence(LISTEN_RATE_HZ, self.next_sample, LISTEN_FRAME_SAMPLES);
            frame.samples_mut()[..self.pending.len()].copy_from_slice(&self.pending);
            self.next_sample += LISTEN_FRAME_SAMPLES as u64;
            self.pending.clear();
            emit(frame);
        }
    }
}

/// The resample stage.
pub async fn run_stage(
    mut ctx: StageCtx,
    mut conformer: Conformer,
    mut input: Receiver<AudioFrame>,
    mut output: Sender<AudioFrame>,
) -> Result<(), StageError> {
    // Frames produced by one push; at most a few, reused across pushes.
    let mut ready: Vec<AudioFrame> = Vec::with_capacity(8);
    loop {
        let closed = match ctx.next(&mut input, None).await {
            Event::Item(frame) => {
                conformer.push(frame.samples(), |f| ready.push(f));
                false
            }
            Event::Closed => {
                conformer.finish(|f| ready.push(f));
                true
            }
            Event::Shutdown => return Ok(()),
            Event::Interrupt(_) | Event::Deadline => false,
        };
        for frame in ready.drain(..) {
            ctx.emit(&mut output, frame).await?;
        }
        if closed {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_rate_becomes_gapless_16k_frames() {
        for rate_hz in [8_000, 16_000, 22_050, 44_100, 48_000] {
            let mut conformer = Conformer::new(rate_hz).unwrap();
            let second: Vec<f32> = (0..rate_hz).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
            let mut frames = Vec::new();
            for chunk in second.chunks(rate_hz as usize / 50) {
                conformer.push(chunk, |f| frames.push(f));
            }
            conformer.finish(|f| frames.push(f));
            assert_eq!(frames.len(), 50, "1 s at {rate_hz} Hz is 50 frames");
            for (k, frame) in frames.iter().enumerate() {
                assert_eq!(frame.start_sample, (k * LISTEN_FRAME_SAMPLES) as u64);
                assert_eq!(frame.len(), LISTEN_FRAME_SAMPLES);
                assert_eq!(frame.sample_rate_hz, LISTEN_RATE_HZ);
            }
        }
    }

    #[test]
    fn a_dc_offset_and_garbage_samples_are_removed_before_the_listeners_see_them() {
        // Stereo 44.1 kHz with a +0.3 offset, averaged to mono when read, clipped peaks, a NaN.
        let rate_hz = 44_100;
        let mut conformer = Conformer::new(rate_hz).unwrap();
        let mut input: Vec<f32> = (0..rate_hz)
            .map(|i| (0.3 + 0.9 * (i as f32 * 0.05).sin()).clamp(-1.0, 1.0))
            .collect();
        input[1_000] = f32::NAN;
        let mut frames = Vec::new();
        for chunk in input.chunks(882) {
            conformer.push(chunk, |f| frames.push(f));
        }
        conformer.finish(|f| frames.push(f));
        let settled: Vec<f32> = frames[10..].iter().flat_map(|f| f.samples().to_vec()).collect();
        let mean = settled.iter().sum::<f32>() / settled.len() as f32;
        assert!(
            mean.abs() < 0.01,
            "the offset is gone after the first 200 ms: mean {mean}"
        );
        assert!(frames.iter().all(|f| f.samples().iter().all(|x| x.is_finite())));
    }
}
