//! The render stage: draws the pose of each frame request and passes audio and marks through
//! in presentation order.
//!
//! Video drops late frames: in real time a request carries the instant its frame is due on
//! screen, and [`FramePacer`] skips one that could only be drawn more than a frame period late
//! (counted as `video_frames_dropped_late`), so a slow renderer keeps a steady, lower frame rate
//! instead of drifting. Audio is never dropped here.

use tokio::time::Instant;

use crate::audio::AudioFrame;
use crate::playout::{AvItem, OutputMark};
use crate::runtime::{Epoch, Event, Receiver, Sender, StageCtx, StageError, Stamped};

use super::pacing::{Decision, FramePacer};
use super::{Renderer, VideoFrame};

/// What leaves the renderer for the output.
#[derive(Debug)]
pub enum OutputItem {
    Audio(AudioFrame),
    Video { frame: VideoFrame, epoch: Option<Epoch> },
    Mark(OutputMark),
}

impl Stamped for OutputItem {
    fn epoch(&self) -> Option<Epoch> {
        match self {
            OutputItem::Audio(frame) => frame.epoch,
            OutputItem::Video { epoch, .. } => *epoch,
            OutputItem::Mark(_) => None,
        }
    }
}

/// The render stage (on its own thread).
pub async fn run_stage(
    mut ctx: StageCtx,
    mut renderer: Box<dyn Renderer>,
    fps: u32,
    mut input: Receiver<AvItem>,
    mut output: Sender<OutputItem>,
) -> Result<(), StageError> {
    let mut pacer = FramePacer::new(fps);
    loop {
        let item = match ctx.next(&mut input, None).await {
            Event::Item(item) => item,
            Event::Interrupt(_) | Event::Deadline => continue,
            Event::Closed | Event::Shutdown => break,
        };
        let out = match item {
            AvItem::Audio(frame) => {
                ctx.forward(&mut output, OutputItem::Audio(frame)).await?;
                continue;
            }
            AvItem::Mark(mark) => {
                ctx.forward(&mut output, OutputItem::Mark(mark)).await?;
                continue;
            }
            AvItem::Frame { request, due } => {
                let started = Instant::now();
                if pacer.decide(started, due) == Decision::Skip {
                    continue;
                }
                let mut frame = VideoFrame::blank(renderer.width(), renderer.height());
                renderer
                    .render(&request.pose, &mut frame)
                    .map_err(|e| StageError::failed(ctx.name, e))?;
                pacer.rendered(started.elapsed());
                frame.sample = request.sample;
                OutputItem::Video {
                    frame,
                    epoch: request.epoch,
                }
            }
        };
        ctx.emit(&mut output, out).await?;
    }
    let dropped_late = pacer.skipped();
    if dropped_late > 0 {
        tracing::warn!(
            dropped_late,
            rendered = pacer.rendered_count(),
            backend = renderer.backend(),
            "the renderer fell behind and skipped late frames"
        );
    }
    ctx.metrics.count("video_frames_dropped_late", dropped_late);
    Ok(())
}
