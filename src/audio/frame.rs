//! The unit of audio that travels on every audio edge.
//!
//! An [`AudioFrame`] holds at most 20 ms of mono audio at 48 kHz inline, so moving one through a
//! ring buffer copies a fixed-size value and never touches the allocator: audio edges stay
//! allocation-free in steady state. Frames are stamped with the position of their first sample
//! on the stream's own sample clock, which is the media clock of the whole pipeline.

use crate::runtime::epoch::Epoch;

/// Largest frame: 20 ms at 48 kHz.
pub const MAX_FRAME_SAMPLES: usize = 960;

/// Input-side rate every listening stage works at.
pub const LISTEN_RATE_HZ: u32 = 16_000;
/// 20 ms at 16 kHz: the frame size of the listening side (WebRTC VAD accepts 10/20/30 ms).
pub const LISTEN_FRAME_SAMPLES: usize = 320;

/// A short block of mono `f32` audio in [-1, 1], stamped with where it starts on its clock.
#[derive(Clone)]
pub struct AudioFrame {
    /// Which conversation epoch produced the frame; `None` for captured (user) audio, which is
    /// never stale.
    pub epoch: Option<Epoch>,
    /// Position of the first sample on the stream's sample clock.
    pub start_sample: u64,
    pub sample_rate_hz: u32,
    len: u16,
    samples: [f32; MAX_FRAME_SAMPLES],
}

impl AudioFrame {
    /// A frame holding a copy of `samples`.
    ///
    /// # Panics
    /// When `samples` is longer than [`MAX_FRAME_SAMPLES`]: callers chunk audio before framing it.
    pub fn new(sample_rate_hz: u32, start_sample: u64, samples: &[f32]) -> Self {
        assert!(
            samples.len() <= MAX_FRAME_SAMPLES,
            "an AudioFrame holds at most {MAX_FRAME_SAMPLES} samples, got {}",
            samples.len()
        );
        let mut frame = Self::silence(sample_rate_hz, start_sample, samples.len());
        frame.samples[..samples.len()].copy_from_slice(samples);
        frame
    }

    /// `len` samples of silence.
    pub fn silence(sample_rate_hz: u32, start_sample: u64, len: usize) -> Self {
        assert!(
            len <= MAX_FRAME_SAMPLES,
            "an AudioFrame holds at most {MAX_FRAME_SAMPLES} samples"
        );
        Self {
            epoch: None,
            start_sample,
            sample_rate_hz,
            len: len as u16,
            samples: [0.0; MAX_FRAME_SAMPLES],
        }
    }

    pub fn with_epoch(mut self, epoch: Epoch) -> Self {
        self.epoch = Some(epoch);
        self
    }

    pub fn samples(&self) -> &[f32] {
        &self.samples[..self.len as usize]
    }

    pub fn samples_mut(&mut self) -> &mut [f32] {
        &mut self.samples[..self.len as usize]
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One past the last sample on the stream's clock.
    pub fn end_sample(&self) -> u64 {
        self.start_sample + self.len as u64
    }

    /// Root-mean-square level of the frame (0 for an empty frame).
    pub fn rms(&self) -> f32 {
        let samples = self.samples();
        if samples.is_empty() {
            return 0.0;
        }
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
    }
}

impl std::fmt::Debug for AudioFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioFrame")
            .field("epoch", &self.epoch)
            .field("start_sample", &self.start_sample)
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("len", &self.len)
            .finish()
    }
}

/// Splits a long buffer into frames of `frame_len` samples (the last one may be shorter),
/// numbering samples from `first_sample`.
pub fn frames_of(
    samples: &[f32],
    sample_rate_hz: u32,
    first_sample: u64,
    frame_len: usize,
) -> impl Iterator<Item = AudioFrame> + '_ {
    assert!(frame_len > 0 && frame_len <= MAX_FRAME_SAMPLES);
    samples
        .chunks(frame_len)
        .enumerate()
        .map(move |(i, chunk)| AudioFrame::new(sample_rate_hz, first_sample + (i * frame_len) as u64, chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_their_position_on_the_clock() {
        let samples: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let frames: Vec<_> = frames_of(&samples, 16_000, 500, 320).collect();
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[1].start_sample, 820);
        assert_eq!(frames[3].len(), 40);
        assert_eq!(frames[3].end_sample(), 1500);
        assert_eq!(frames[2].samples()[0], samples[640]);
    }

    #[test]
    fn rms_of_a_full_scale_square_wave_is_one() {
        let samples: Vec<f32> = (0..320).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        assert!((AudioFrame::new(16_000, 0, &samples).rms() - 1.0).abs() < 1e-6);
        assert_eq!(AudioFrame::silence(16_000, 0, 0).rms(), 0.0);
    }
}
