//! The output sink: where the avatar's audio and video finally go, and where "first audio out"
//! and "first video out" of each turn are measured.
//!
//! Targets: a video file (WebM with VP8 + Opus, or MP4 with H.264 + Opus, stamped from the output
//! clock), a network peer ([`super::live`]: VP8 + Opus packets for WebRTC), or nothing (profiling
//! without writing a file). The sink is also where the agent's state is known for sure — it is
//! speaking when its first audio leaves — so it publishes the state and each turn's latency.

use std::path::PathBuf;

use super::live::LiveEncoder;
use crate::encode::{FileStats, MediaFile};
use crate::pipeline::events::{AgentState, EventBus, SessionEvent};
use crate::playout::OutputMark;
use crate::render::stage::OutputItem;
use crate::runtime::{Epoch, Event, Receiver, StageCtx, StageError, TurnMark};

/// Where the output goes.
pub enum SinkTarget {
    File { path: PathBuf, writer: Box<MediaFile> },
    Live(Box<LiveEncoder>),
    Discard,
}

/// The sink stage (on its own thread: encoding is heavy).
pub async fn run_stage(
    mut ctx: StageCtx,
    target: SinkTarget,
    output_rate_hz: u32,
    mut input: Receiver<OutputItem>,
    events: EventBus,
) -> Result<(), StageError> {
    let (path, mut writer, mut live) = match target {
        SinkTarget::File { path, writer } => (Some(path), Some(writer), None),
        SinkTarget::Live(encoder) => (None, None, Some(encoder)),
        SinkTarget::Discard => (None, None, None),
    };
    let mut latency_sent: Option<Epoch> = None;
    let mut last_audio_epoch: Option<Epoch> = None;
    let mut last_video_epoch: Option<Epoch> = None;
    loop {
        let item = match ctx.next(&mut input, None).await {
            Event::Item(item) => item,
            Event::Interrupt(_) | Event::Deadline => continue,
            Event::Closed | Event::Shutdown => break,
        };
        let epoch = match &item {
            OutputItem::Audio(frame) => frame.epoch,
            OutputItem::Video { epoch, .. } => *epoch,
            OutputItem::Mark(_) => None,
        };
        match item {
            OutputItem::Audio(frame) => {
                if let Some(writer) = writer.as_mut() {
                    writer
                        .push_audio(frame.start_sample, frame.samples())
                        .map_err(|e| StageError::failed(ctx.name, e))?;
                }
                if let Some(live) = live.as_mut() {
                    live.push_audio(frame.start_sample, frame.samples())
                        .map_err(|e| StageError::failed(ctx.name, e))?;
                }
                if let Some(epoch) = frame.epoch
                    && last_audio_epoch != Some(epoch)
                {
                    last_audio_epoch = Some(epoch);
                    let media_ms = frame.start_sample as f64 * 1000.0 / frame.sample_rate_hz as f64;
                    ctx.metrics.mark(epoch, TurnMark::FirstAudioOut { media_ms });
                    events.state(epoch, AgentState::Speaking);
                }
            }
            OutputItem::Video { frame, epoch } => {
                if let Some(writer) = writer.as_mut() {
                    writer
                        .push_video(&frame)
                        .map_err(|e| StageError::failed(ctx.name, e))?;
                }
                if let Some(live) = live.as_mut()
                    && !live
                        .push_video(&frame)
                        .map_err(|e| StageError::failed(ctx.name, e))?
                {
                    ctx.metrics.count("sink_video_frames_dropped", 1);
                }
                if let Some(epoch) = epoch
                    && last_video_epoch != Some(epoch)
                {
                    last_video_epoch = Some(epoch);
                    let media_ms = frame.sample as f64 * 1000.0 / output_rate_hz as f64;
                    ctx.metrics.mark(epoch, TurnMark::FirstVideoOut { media_ms });
                }
            }
            OutputItem::Mark(OutputMark::Silenced { interrupted }) => {
                ctx.metrics.mark(interrupted, TurnMark::Silenced);
                events.state(interrupted, AgentState::Listening);
            }
            OutputItem::Mark(OutputMark::UtteranceFinished(epoch)) => {
                events.state(epoch, AgentState::Listening);
            }
            OutputItem::Mark(OutputMark::UtteranceStarted(_)) => {}
        }
        // Once a turn's first audio and first video are both out, its latency is known.
        if let Some(epoch) = epoch
            && last_audio_epoch == Some(epoch)
            && last_video_epoch == Some(epoch)
            && latency_sent != Some(epoch)
        {
            latency_sent = Some(epoch);
            if let Some(record) = ctx.metrics.turns().record(epoch) {
                events.publish(|| SessionEvent::latency(&record));
            }
        }
        ctx.record_output(epoch);
    }
    if let (Some(path), Some(writer)) = (path, writer) {
        let stats: FileStats = writer.finish().map_err(|e| StageError::failed(ctx.name, e))?;
        tracing::info!(
            file = %path.display(),
            video_frames = stats.video_frames,
            duration_ms = stats.duration_ms,
            bytes = stats.bytes,
            "wrote video"
        );
        ctx.metrics.count("sink_video_frames", stats.video_frames);
    }
    Ok(())
}
