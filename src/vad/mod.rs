//! Voice activity detection: is there speech in this 20 ms frame?
//!
//! A [`VoiceDetector`] scores one 20 ms, 16 kHz frame; the VAD stage labels every captured frame
//! and passes it on to the turn detector. Backends live one per file: [`webrtc`] (the embedded
//! default, a GMM, microseconds per frame) and [`silero`] (Silero VAD v5 through ONNX Runtime).
//! Both give a probability per frame and the stage applies one threshold, so the turn core sees
//! the same kind of decision from either. The stage never drops or reorders audio: it only
//! annotates it.

pub mod silero;
pub mod webrtc;

use thiserror::Error;

use crate::audio::{AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ};
use crate::runtime::{Epoch, Event, Receiver, Sender, StageCtx, StageError, Stamped};

pub use silero::SileroVad;
pub use webrtc::WebRtcVad;

#[derive(Debug, Error)]
pub enum VadError {
    #[error("the VAD needs {expected} samples at {rate_hz} Hz per frame, got {got}")]
    FrameSize {
        expected: usize,
        rate_hz: u32,
        got: usize,
    },
    #[error("the VAD rejected a frame: {0}")]
    Backend(String),
}

/// Scores speech in 20 ms frames of 16 kHz mono audio.
pub trait VoiceDetector: Send {
    /// Speech probability of one frame, in [0, 1] (hard-decision backends answer 0 or 1).
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError>;
    /// Forgets the stream so far (a new stream starts).
    fn reset(&mut self);
}

/// A captured frame with its speech decision.
#[derive(Clone, Debug)]
pub struct VadFrame {
    pub frame: AudioFrame,
    pub probability: f32,
    pub speech: bool,
}

impl Stamped for VadFrame {
    fn epoch(&self) -> Option<Epoch> {
        None
    }
}

/// Probability at or above which a frame counts as speech, unless the pipeline sets another.
pub const SPEECH_THRESHOLD: f32 = 0.5;

/// The VAD stage: labels each 16 kHz frame as speech when its probability reaches `threshold`.
pub async fn run_stage(
    mut ctx: StageCtx,
    mut detector: Box<dyn VoiceDetector>,
    threshold: f32,
    mut input: Receiver<AudioFrame>,
    mut output: Sender<VadFrame>,
) -> Result<(), StageError> {
    // One input is one stream: no state from anything before it.
    detector.reset();
    loop {
        match ctx.next(&mut input, None).await {
            Event::Item(frame) => {
                if frame.sample_rate_hz != LISTEN_RATE_HZ || frame.len() != LISTEN_FRAME_SAMPLES {
                    return Err(StageError::failed(
                        ctx.name,
                        VadError::FrameSize {
                            expected: LISTEN_FRAME_SAMPLES,
                            rate_hz: LISTEN_RATE_HZ,
                            got: frame.len(),
                        },
                    ));
                }
                let probability = detector
                    .speech_probability(frame.samples())
                    .map_err(|e| StageError::failed(ctx.name, e))?;
                let labelled = VadFrame {
                    frame,
                    probability,
                    speech: probability >= threshold,
                };
                ctx.emit(&mut output, labelled).await?;
            }
            Event::Closed | Event::Shutdown => return Ok(()),
            Event::Interrupt(_) | Event::Deadline => {}
        }
    }
}
