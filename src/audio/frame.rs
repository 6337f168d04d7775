//! The unit of audio that travels on every audio edge.
//!
//! An [`AudioFrame`] holds at most 20 ms of mono audio at 48 kHz in a buffer taken from a
//! process-wide pool and given back when the frame is dropped. Moving a frame through an edge
//! moves a pointer, not the samples, and in steady state the pool recycles every buffer, so
//! audio edges never touch the allocator. (Frames used to carry their samples inline; moving
//! 3.8 KB by value several times per hop made the per-hop cost ten times higher — see
//! BENCHMARKS.md.) Frames are stamped with the position of their first sample on the stream's
//! own sample clock, which is the media clock of the whole pipeline.

use std::sync::OnceLock;

use crossbeam_queue::ArrayQueue;

use crate::runtime::epoch::Epoch;

/// Largest frame: 20 ms at 48 kHz.
pub const MAX_FRAME_SAMPLES: usize = 960;

/// Input-side rate every listening stage works at.
pub const LISTEN_RATE_HZ: u32 = 16_000;
/// 20 ms at 16 kHz: the frame size of the listening side (WebRTC VAD accepts 10/20/30 ms).
pub const LISTEN_FRAME_SAMPLES: usize = 320;

/// Free buffers kept for reuse (about 3.9 MB). More frames than this alive at once is fine:
/// the extra buffers are allocated, and freed instead of pooled when they come back.
pub const POOLED_BUFFERS: usize = 1024;

type Samples = Box<[f32; MAX_FRAME_SAMPLES]>;

fn pool() -> &'static ArrayQueue<Samples> {
    static POOL: OnceLock<ArrayQueue<Samples>> = OnceLock::new();
    POOL.get_or_init(|| ArrayQueue::new(POOLED_BUFFERS))
}

fn take_buffer() -> Samples {
    pool().pop().unwrap_or_else(|| {
        let zeroed: Box<[f32]> = vec![0.0; MAX_FRAME_SAMPLES].into_boxed_slice();
        zeroed
            .try_into()
            .expect("the vector has exactly MAX_FRAME_SAMPLES samples")
    })
}

/// A short block of mono `f32` audio in [-1, 1], stamped with where it starts on its clock.
pub struct AudioFrame {
    /// Which conversation epoch produced the frame; `None` for captured (user) audio, which is
    /// never stale.
    pub epoch: Option<Epoch>,
    /// Position of the first sample on the stream's sample clock.
    pub start_sample: u64,
    pub sample_rate_hz: u32,
    len: u16,
    /// Always `Some` until the frame is dropped (the buffer then goes back to the pool).
    buffer: Option<Samples>,
}

impl AudioFrame {
    /// A frame holding a copy of `samples`.
    ///
    /// # Panics
    /// When `samples` is longer than [`MAX_FRAME_SAMPLES`]: callers chunk audio before framing it.
    pub fn new(sample_rate_hz: u32, start_sample: u64, samples: &[f32]) -> Self {
        let mut frame = Self::uninitialised(sample_rate_hz, start_sample, samples.len());
        frame.samples_mut().copy_from_slice(samples);
        frame
    }

    /// `len` samples of silence.
    pub fn silence(sample_rate_hz: u32, start_sample: u64, len: usize) -> Self {
        let mut frame = Self::uninitialised(sample_rate_hz, start_sample, len);
        frame.samples_mut().fill(0.0);
        frame
    }

    /// A frame of `len` samples whose content is whatever the recycled buffer held.
    fn uninitialised(sample_rate_hz: u32, start_sample: u64, len: usize) -> Self {
        assert!(
            len <= MAX_FRAME_SAMPLES,
            "an AudioFrame holds at most {MAX_FRAME_SAMPLES} samples, got {len}"
        );
        Self {
            epoch: None,
            start_sample,
            sample_rate_hz,
            len: len as u16,
            buffer: Some(take_buffer()),
        }
    }

    pub fn with_epoch(mut self, epoch: Epoch) -> Self {
        self.epoch = Some(epoch);
        self
    }

    pub fn samples(&self) -> &[f32] {
        &self.buffer.as_ref().expect("present until drop")[..self.len as usize]
    }

    pub fn samples_mut(&mut self) -> &mut [f32] {
        let len = self.len as usize;
        &mut self.buffer.as_mut().expect("present until drop")[..len]
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

impl Clone for AudioFrame {
    fn clone(&self) -> Self {
        let mut copy = Self::new(self.sample_rate_hz, self.start_sample, self.samples());
        copy.epoch = self.epoch;
        copy
    }
}

impl Drop for AudioFrame {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            // A full pool frees the buffer instead.
            let _ = pool().push(buffer);
        }
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
    fn recycled_buffers_never_leak_old_samples() {
        drop(AudioFrame::new(48_000, 0, &[0.9; MAX_FRAME_SAMPLES]));
        let silent = AudioFrame::silence(48_000, 0, MAX_FRAME_SAMPLES);
        assert!(silent.samples().iter().all(|s| *s == 0.0));
        let short = AudioFrame::new(48_000, 0, &[0.5; 10]);
        assert_eq!(short.samples(), &[0.5; 10]);
        let copy = short.clone().with_epoch(Epoch(3));
        assert_eq!((copy.samples(), copy.epoch), (short.samples(), Some(Epoch(3))));
    }

    #[test]
    fn rms_of_a_full_scale_square_wave_is_one() {
        let samples: Vec<f32> = (0..320).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        assert!((AudioFrame::new(16_000, 0, &samples).rms() - 1.0).abs() < 1e-6);
        assert_eq!(AudioFrame::silence(16_000, 0, 0).rms(), 0.0);
    }
}
