//! Turn taking: deciding when the user has started and finished a turn.
//!
//! The sans-IO [`Endpointer`] decides; this module's stage shell turns its decisions into
//! epochs. A turn start bumps the epoch through the [`Interrupter`] — which is also barge-in:
//! everything still in flight for the previous turn (a reply being synthesised or played) goes
//! stale at once — and tags the turn's audio and end marker with the new epoch for STT.

pub mod endpointer;

use crate::audio::AudioFrame;
use crate::audio::LISTEN_RATE_HZ;
use crate::runtime::{Epoch, Event, Interrupter, Receiver, Sender, StageCtx, StageError, Stamped, TurnMark};
use crate::vad::VadFrame;

pub use endpointer::{EndpointEvent, Endpointer};

/// What the turn stage tells STT.
#[derive(Debug)]
pub enum TurnItem {
    /// A user turn began.
    Start { epoch: Epoch },
    /// Audio of the turn, 16 kHz.
    Audio { epoch: Epoch, frame: AudioFrame },
    /// The user finished; transcribe now.
    End { epoch: Epoch },
}

impl Stamped for TurnItem {
    fn epoch(&self) -> Option<Epoch> {
        Some(match self {
            TurnItem::Start { epoch } | TurnItem::Audio { epoch, .. } | TurnItem::End { epoch } => *epoch,
        })
    }
}

fn media_ms(sample: u64) -> f64 {
    sample as f64 * 1000.0 / LISTEN_RATE_HZ as f64
}

/// The turn stage: endpointing plus the epoch bump at every turn start.
pub async fn run_stage(
    mut ctx: StageCtx,
    mut endpointer: Endpointer,
    interrupter: Interrupter,
    mut input: Receiver<VadFrame>,
    mut output: Sender<TurnItem>,
) -> Result<(), StageError> {
    let mut epoch = interrupter.current();
    let mut input_end_sample = 0;
    loop {
        match ctx.next(&mut input, None).await {
            Event::Item(VadFrame { frame, speech, .. }) => {
                input_end_sample = frame.end_sample();
                endpointer.handle_frame(frame, speech);
            }
            Event::Closed => endpointer.finish(input_end_sample),
            Event::Shutdown => return Ok(()),
            Event::Interrupt(_) | Event::Deadline => continue,
        }
        while let Some(event) = endpointer.poll_event() {
            let item = match event {
                EndpointEvent::Started { speech_start_sample } => {
                    epoch = interrupter.bump();
                    tracing::info!(
                        turn = epoch.0,
                        at_ms = media_ms(speech_start_sample),
                        "user turn started"
                    );
                    ctx.metrics.mark(
                        epoch,
                        TurnMark::UserSpeechStart {
                            media_ms: media_ms(speech_start_sample),
                        },
                    );
                    TurnItem::Start { epoch }
                }
                EndpointEvent::Audio(frame) => TurnItem::Audio { epoch, frame },
                ended @ EndpointEvent::Ended { .. } => {
                    let delay_ms = ended.endpoint_delay_ms().unwrap_or_default();
                    let EndpointEvent::Ended {
                        speech_end_sample,
                        reason,
                        ..
                    } = ended
                    else {
                        unreachable!("matched as Ended above")
                    };
                    tracing::info!(turn = epoch.0, ?reason, delay_ms, "user turn ended");
                    ctx.metrics.mark(
                        epoch,
                        TurnMark::UserSpeechEnd {
                            media_ms: media_ms(speech_end_sample),
                        },
                    );
                    ctx.metrics.mark(epoch, TurnMark::Endpoint { reason, delay_ms });
                    TurnItem::End { epoch }
                }
            };
            ctx.emit(&mut output, item).await?;
        }
        if input.is_finished() && !endpointer.in_turn() {
            return Ok(());
        }
    }
}
