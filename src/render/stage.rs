//! The render stage: draws the pose of each frame request and passes audio and marks through
//! in presentation order.
//!
//! Video drops late frames: in real time a request carries the instant its frame is due on
//! screen, and one that could only be drawn more than two frame periods late is skipped
//! (counted as `video_frames_dropped_late`) so a slow renderer catches up instead of drifting.
//! Audio is never dropped here.

use std::time::Duration;

use tokio::time::Instant;

use crate::audio::AudioFrame;
use crate::playout::{AvItem, OutputMark};
use crate::runtime::{Epoch, Event, Receiver, Sender, StageCtx, StageError, Stamped};

use super::{FaceRenderer, VideoFrame};

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
    mut renderer: FaceRenderer,
    fps: u32,
    mut input: Receiver<AvItem>,
    mut output: Sender<OutputItem>,
) -> Result<(), StageError> {
    let late_tolerance = Duration::from_nanos(2_000_000_000 / fps as u64);
    let mut dropped_late = 0u64;
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
                if due.is_some_and(|due| Instant::now() > due + late_tolerance) {
                    dropped_late += 1;
                    continue;
                }
                let mut frame = VideoFrame::blank(renderer.width(), renderer.height());
                renderer.render(&request.pose, &mut frame);
                frame.sample = request.sample;
                OutputItem::Video {
                    frame,
                    epoch: request.epoch,
                }
            }
        };
        ctx.emit(&mut output, out).await?;
    }
    if dropped_late > 0 {
        tracing::warn!(dropped_late, "the renderer fell behind and skipped late frames");
    }
    ctx.metrics.count("video_frames_dropped_late", dropped_late);
    Ok(())
}
