//! A recorded conversation as a live microphone: the capture stage for WAV files.
//!
//! The whole file is read and checked before the pipeline starts (a bad file is an error up
//! front, not a failure mid-run). The stage then emits 20 ms frames on the file's own clock,
//! either paced like a real microphone (each frame leaves when its last sample would have been
//! captured) or as fast as the pipeline accepts them (tests, offline rendering).

use std::path::Path;

use tokio::time::Instant;

use crate::audio::{AudioError, AudioFrame, DecodedAudio, MAX_FRAME_SAMPLES, read_wav};
use crate::runtime::{Sender, StageCtx, StageError};

/// How the source releases frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// Like a microphone: frame `k` leaves at `start + end_time(k)`.
    RealTime,
    /// As fast as the next edge accepts (it must be a waiting edge, or audio is lost).
    AsFastAsPossible,
}

/// Checked audio ready to be played into a pipeline.
pub struct WavSource {
    pub audio: DecodedAudio,
}

impl WavSource {
    /// Reads and checks `path`; warnings about the recording (clipping, DC offset) are logged.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let audio = read_wav(path)?;
        for warning in audio.diagnostics.warnings() {
            tracing::warn!(file = %path.display(), "{warning}");
        }
        Ok(WavSource { audio })
    }

    pub fn from_samples(samples: Vec<f32>, sample_rate_hz: u32) -> Self {
        let duration_ms = samples.len() as u64 * 1000 / sample_rate_hz.max(1) as u64;
        WavSource {
            audio: DecodedAudio {
                samples,
                sample_rate_hz,
                source_channels: 1,
                diagnostics: crate::audio::AudioDiagnostics {
                    peak: 0.0,
                    clipped_fraction: 0.0,
                    dc_offset: 0.0,
                    duration_ms,
                },
            },
        }
    }

    pub fn duration_ms(&self) -> f64 {
        self.audio.samples.len() as f64 * 1000.0 / self.audio.sample_rate_hz as f64
    }

    /// Samples per emitted frame: 20 ms, or less at rates above 48 kHz (frames are bounded).
    pub fn frame_samples(&self) -> usize {
        (self.audio.sample_rate_hz as usize / 50).min(MAX_FRAME_SAMPLES)
    }
}

/// The capture stage: plays the file into `output`, then closes it (which drains the pipeline).
pub async fn run_stage(
    mut ctx: StageCtx,
    source: WavSource,
    pacing: Pacing,
    mut output: Sender<AudioFrame>,
) -> Result<(), StageError> {
    let rate_hz = source.audio.sample_rate_hz;
    let frame_samples = source.frame_samples();
    let start = Instant::now();
    for frame in crate::audio::frame::frames_of(&source.audio.samples, rate_hz, 0, frame_samples) {
        if pacing == Pacing::RealTime {
            let due =
                start + std::time::Duration::from_nanos(frame.end_sample() * 1_000_000_000 / rate_hz as u64);
            if !ctx.sleep_until(due).await {
                return Ok(());
            }
        } else if ctx.shutdown.is_requested() {
            return Ok(());
        }
        ctx.set_cause(Instant::now());
        ctx.emit(&mut output, frame).await?;
    }
    Ok(())
}
