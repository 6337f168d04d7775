//! Playout: the output media clock. It decides when each utterance plays and which pose each
//! video frame shows (see [`core`]); the stage shell adds wall-clock pacing in real time.

pub mod core;
pub mod status;

use tokio::time::Instant;

use crate::audio::AudioFrame;
use crate::motion::stage::SpeechItem;
use crate::runtime::{Epoch, Event, Receiver, Sender, StageCtx, StageError, Stamped, TurnMark};

pub use self::core::{
    FrameRequest, OutputMark, Playout, PlayoutMode, PlayoutOutput, PlayoutSettings, PlayoutStats,
};
pub use status::{PlayoutStatus, StatusPublisher, StatusWatch, status_channel};

/// What the playout sends towards the output, in presentation order.
#[derive(Debug)]
pub enum AvItem {
    Audio(AudioFrame),
    /// `due`: when the frame should be on screen (real time), so a late renderer can skip it.
    Frame {
        request: FrameRequest,
        due: Option<Instant>,
    },
    Mark(OutputMark),
}

impl Stamped for AvItem {
    fn epoch(&self) -> Option<Epoch> {
        match self {
            AvItem::Audio(frame) => frame.epoch,
            AvItem::Frame { request, .. } => request.epoch,
            // Marks report on epochs that may be stale by design (an interrupted utterance).
            AvItem::Mark(_) => None,
        }
    }
}

fn due_at(origin: Instant, sample: u64, rate_hz: u32) -> Instant {
    origin + std::time::Duration::from_nanos(sample * 1_000_000_000 / rate_hz as u64)
}

/// The playout stage.
pub async fn run_stage(
    mut ctx: StageCtx,
    mut playout: Playout,
    settings: PlayoutSettings,
    status: StatusPublisher,
    mut input: Receiver<SpeechItem>,
    mut output: Sender<AvItem>,
) -> Result<(), StageError> {
    let realtime = settings.mode == PlayoutMode::RealTime;
    let rate_hz = settings.sample_rate_hz;
    let origin = Instant::now();
    let mut input_open = true;
    loop {
        let deadline = realtime.then(|| due_at(origin, playout.next_chunk_sample(), rate_hz));
        // Offline output is not paced, so buffering stays small without pushing back.
        let event = if input_open && (playout.wants_input() || !realtime) {
            ctx.next(&mut input, deadline).await
        } else if deadline.is_none() && !input_open {
            // Offline with nothing more to come: whatever can be emitted was; finish below.
            Event::Deadline
        } else {
            ctx.next_without_input(deadline).await
        };
        match event {
            Event::Item(item) => playout.push(item),
            Event::Interrupt(epoch) => {
                if let Some(cut) = playout.interrupt(epoch) {
                    tracing::info!(turn = cut.0, by = epoch.0, "speech interrupted");
                    ctx.metrics.mark(cut, TurnMark::Interrupted);
                }
            }
            Event::Closed => {
                input_open = false;
                playout.close_input();
            }
            Event::Deadline => {}
            Event::Shutdown => return Ok(()),
        }
        let now_sample = if realtime {
            (Instant::now().saturating_duration_since(origin).as_nanos() * rate_hz as u128 / 1_000_000_000)
                as u64
        } else {
            u64::MAX
        };
        playout.step(now_sample);
        status.publish(playout.status());
        while let Some(out) = playout.poll_output() {
            let item = match out {
                PlayoutOutput::Audio(frame) => AvItem::Audio(frame),
                PlayoutOutput::Video(request) => AvItem::Frame {
                    due: realtime.then(|| due_at(origin, request.sample, rate_hz)),
                    request,
                },
                PlayoutOutput::Mark(mark) => AvItem::Mark(mark),
            };
            ctx.emit(&mut output, item).await?;
        }
        if playout.is_finished() {
            let stats = playout.stats();
            ctx.metrics
                .count("playout_underrun_chunks", stats.underrun_chunks);
            ctx.metrics.count("playout_late_poses", stats.late_poses);
            ctx.metrics.count("playout_utterances", stats.utterances);
            ctx.metrics.count("playout_interrupted", stats.interrupted);
            return Ok(());
        }
        if !input_open && !realtime && playout.poll_output().is_none() {
            // Offline and stuck: the input ended mid-utterance without its End (an upstream
            // stage failed). Nothing more can be emitted.
            if !playout.is_finished() {
                return Err(StageError::failed(
                    ctx.name,
                    "the input ended in the middle of an utterance",
                ));
            }
        }
    }
}
