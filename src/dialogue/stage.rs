//! The dialogue stage: answers each final transcript as a stream of clauses, executes tools,
//! and keeps the backend's memory to what the user heard.
//!
//! The loop serves, in order: the playout status (bookkeeping only), shutdown and interrupts
//! (from [`StageCtx`]), then the reply being generated. An interrupt drops the reply stream at once — for a chat
//! backend that closes the HTTP connection — and reports to the backend how much of the
//! interrupted reply was heard: the playout says how many samples of the reply's utterance
//! reached the output ([`crate::playout::PlayoutStatus`]), the TTS says where each word's audio
//! ends and which bytes of the reply text it spoke ([`crate::tts::SpokenWatch`]). A reply that
//! played to its end counts as heard in full.
//!
//! Text from the backend goes through the [`Chunker`]; each piece leaves as a [`ReplyText`]
//! without waiting for the rest, and a piece stuck behind a full edge is abandoned if its epoch
//! goes stale. Tool calls are executed here ([`ToolRunner`]): answers are on disk before the
//! reply goes on. A failed backend ends its reply with the fallback line. Runs on its own thread
//! (`Placement::Thread`): saving an answer syncs a file.

use crate::pipeline::events::{AgentState, EventBus, SessionEvent};
use crate::playout::{PlayoutStatus, StatusWatch};
use crate::runtime::{Epoch, EpochWatch, Event, Receiver, Sender, StageCtx, StageError, TurnMark};
use crate::stt::Transcript;
use crate::tts::SpokenWatch;

use super::chunker::{Chunker, ChunkerSettings};
use super::tools::{Action, ToolRunner};
use super::{Dialogue, Heard, ReplyEvent, ReplyStream, ReplyText, SegmentOutcome};
use futures_util::StreamExt as _;

/// The most reply text one turn may produce; a model that runs on past it is cut off there
/// (its reply ends as if the stream had), so a runaway stream cannot grow without bound.
pub const MAX_REPLY_BYTES: usize = 16 * 1024;

/// What the stage itself says and how it cuts text.
#[derive(Clone, Debug, PartialEq)]
pub struct StageSettings {
    /// Spoken when the backend fails (a timeout, an unreachable server).
    pub fallback_line: String,
    pub chunker: ChunkerSettings,
}

impl Default for StageSettings {
    fn default() -> Self {
        StageSettings {
            fallback_line: "Sorry, I'm having trouble answering right now. Could you say that again?".into(),
            chunker: ChunkerSettings::default(),
        }
    }
}

/// Where the stage learns what was heard (and tells the user interface what it is doing).
pub struct Hearing {
    /// What the output is playing (the playout publishes it every chunk).
    pub playout: StatusWatch,
    /// Which reply text the TTS turned into audio, and where each word ends.
    pub spoken: SpokenWatch,
    /// Where "thinking" and the reply text are published.
    pub events: EventBus,
}

/// The reply being generated.
struct Turn {
    epoch: Epoch,
    stream: ReplyStream,
    chunker: Chunker,
    segment: SegmentOutcome,
    got_text: bool,
    sent_piece: bool,
}

/// How far the output got with the latest reply, from the playout status.
#[derive(Debug, Default)]
struct Playback {
    epoch: Option<Epoch>,
    played_samples: u64,
    started: bool,
    /// It stopped playing while its epoch was still current: it played to the end.
    finished: bool,
}

impl Playback {
    fn track(&mut self, epoch: Epoch) {
        *self = Playback {
            epoch: Some(epoch),
            ..Playback::default()
        };
    }

    fn wants_updates(&self) -> bool {
        self.epoch.is_some() && !self.finished
    }

    /// `current` is the epoch now: a reply that stops playing while still current ended
    /// naturally; one cut off by an interrupt stops after the epoch moved on (the epoch is
    /// bumped before anything reacts to it).
    fn observe(&mut self, status: PlayoutStatus, current: Epoch) {
        let Some(epoch) = self.epoch else {
            return;
        };
        if self.finished {
            return;
        }
        if status.speaking == Some(epoch) {
            self.started = true;
            self.played_samples = self.played_samples.max(status.played_samples);
        } else if self.started && current == epoch {
            self.finished = true;
        }
    }
}

/// The dialogue stage.
pub async fn run_stage(
    mut ctx: StageCtx,
    mut dialogue: Box<dyn Dialogue>,
    mut tools: ToolRunner,
    settings: StageSettings,
    hearing: Hearing,
    mut input: Receiver<Transcript>,
    mut output: Sender<ReplyText>,
) -> Result<(), StageError> {
    let Hearing {
        playout: mut status,
        spoken,
        events,
    } = hearing;
    // A second view of the epoch, so a piece waiting on a full edge can be abandoned.
    let mut stale_watch = ctx.epochs.clone();
    let mut turn: Option<Turn> = None;
    let mut playback = Playback::default();
    let mut input_open = true;
    let mut pieces: Vec<String> = Vec::new();
    loop {
        enum Wake {
            Ctx(Event<Transcript>),
            Reply(Option<ReplyEvent>),
            Status(Option<PlayoutStatus>),
        }
        // The playout status comes first: noting it takes microseconds, and a status published
        // just before an interrupt must be seen before the interrupt is handled (the watch keeps
        // only the latest value, and the playout goes silent right after the interrupt).
        let wake = tokio::select! {
            biased;
            changed = status.changed(), if playback.wants_updates() => Wake::Status(changed),
            event = next_event(&mut ctx, &mut input, input_open) => Wake::Ctx(event),
            event = next_reply(&mut turn), if turn.is_some() => Wake::Reply(event),
        };
        match wake {
            Wake::Status(Some(now)) => playback.observe(now, ctx.epochs.current()),
            Wake::Status(None) => playback = Playback::default(), // the playout is gone
            Wake::Ctx(Event::Shutdown) => return Ok(()),
            Wake::Ctx(Event::Closed) => {
                input_open = false;
                if turn.is_none() {
                    return Ok(());
                }
            }
            Wake::Ctx(Event::Deadline) => {}
            Wake::Ctx(Event::Interrupt(epoch)) => {
                // What has played, read before anything else: the output goes silent next.
                playback.observe(status.current(), epoch);
                if let Some(mut cut) = turn.take_if(|t| t.epoch < epoch) {
                    // Dropping the stream closes its connection now.
                    drop(cut.stream);
                    tracing::info!(
                        turn = cut.epoch.0,
                        by = epoch.0,
                        "reply interrupted; its stream is closed"
                    );
                    cut.segment.interrupted = true;
                    // An interrupted segment never continues.
                    let _ = dialogue.segment_done(cut.segment);
                }
                if let Some(replied) = playback.epoch.filter(|e| *e < epoch) {
                    let heard = Heard {
                        epoch: replied,
                        bytes: (!playback.finished)
                            .then(|| spoken.heard_bytes(replied, playback.played_samples)),
                    };
                    tracing::debug!(turn = replied.0, ?heard.bytes, played_samples = playback.played_samples, "what was heard");
                    dialogue.heard(heard);
                    playback = Playback::default();
                }
            }
            Wake::Ctx(Event::Item(transcript)) => {
                if !transcript.is_final {
                    continue;
                }
                let epoch = transcript.epoch;
                if playback.epoch == Some(epoch) {
                    tracing::debug!(
                        turn = epoch.0,
                        "a second final transcript for a turn already answered; ignored"
                    );
                    continue;
                }
                ctx.metrics.mark(epoch, TurnMark::ReplyStarted);
                events.state(epoch, AgentState::Thinking);
                let stream = dialogue.respond(&transcript.text);
                playback.track(epoch);
                turn = Some(Turn {
                    epoch,
                    stream,
                    chunker: Chunker::new(settings.chunker),
                    segment: SegmentOutcome::default(),
                    got_text: false,
                    sent_piece: false,
                });
            }
            Wake::Reply(Some(event)) => {
                let current = turn.as_mut().expect("a reply event comes from a turn");
                match event {
                    ReplyEvent::Text(text) => {
                        if !current.got_text {
                            current.got_text = true;
                            if dialogue.uses_model() {
                                ctx.metrics.mark(current.epoch, TurnMark::LlmFirstToken);
                            }
                        }
                        current.segment.text.push_str(&text);
                        current.chunker.push(&text, &mut pieces);
                        for piece in pieces.drain(..) {
                            send(&mut ctx, &mut output, &mut stale_watch, current, piece, false).await?;
                        }
                        if current.segment.text.len() > MAX_REPLY_BYTES {
                            tracing::warn!(
                                turn = current.epoch.0,
                                bytes = current.segment.text.len(),
                                "the reply is too long; cutting it off"
                            );
                            // Ends the stream (and its connection); the reply finishes as usual.
                            current.stream = Box::pin(futures_util::stream::empty());
                        }
                    }
                    ReplyEvent::Tool(call) => {
                        let outcome = tools.run(&call);
                        match &call.action {
                            Action::HandOver { .. } => ctx.metrics.count("dialogue_handovers", 1),
                            Action::EndConversation { .. } => {
                                ctx.metrics.count("dialogue_conversations_ended", 1)
                            }
                            Action::RecordAnswer { .. } => ctx.metrics.count("dialogue_answers_recorded", 1),
                            Action::Unknown { .. } => ctx.metrics.count("dialogue_tool_calls_refused", 1),
                        }
                        current.segment.tools.push((call, outcome));
                    }
                    ReplyEvent::Failed(error) => {
                        tracing::error!(turn = current.epoch.0, %error, "the dialogue backend failed; saying the fallback line");
                        ctx.metrics.count("dialogue_failures", 1);
                        current.segment.failed = true;
                    }
                }
            }
            Wake::Reply(None) => {
                let mut current = turn.take().expect("a reply event comes from a turn");
                let tail = current.chunker.finish();
                let outcome = std::mem::take(&mut current.segment);
                let failed = outcome.failed;
                if !outcome.text.trim().is_empty() {
                    let text = outcome.text.trim().to_string();
                    events.publish(|| SessionEvent::Reply {
                        turn: current.epoch.0,
                        text: text.clone(),
                    });
                    ctx.metrics.mark(current.epoch, TurnMark::Reply(text));
                }
                match dialogue.segment_done(outcome) {
                    Some(next) => {
                        if let Some(tail) = tail {
                            send(&mut ctx, &mut output, &mut stale_watch, &mut current, tail, false).await?;
                        }
                        current.stream = next;
                        turn = Some(current);
                        continue;
                    }
                    None if failed => {
                        if let Some(tail) = tail {
                            send(&mut ctx, &mut output, &mut stale_watch, &mut current, tail, false).await?;
                        }
                        let line = settings.fallback_line.clone();
                        ctx.metrics.mark(current.epoch, TurnMark::Reply(line.clone()));
                        events.publish(|| SessionEvent::Reply {
                            turn: current.epoch.0,
                            text: line.clone(),
                        });
                        send(&mut ctx, &mut output, &mut stale_watch, &mut current, line, true).await?;
                    }
                    None => {
                        let last = tail.unwrap_or_default();
                        send(&mut ctx, &mut output, &mut stale_watch, &mut current, last, true).await?;
                    }
                }
                tracing::info!(turn = current.epoch.0, "reply complete");
                if !input_open {
                    return Ok(());
                }
            }
        }
    }
}

/// The next event from the stage context; only interrupts and shutdown once the input closed.
async fn next_event(
    ctx: &mut StageCtx,
    input: &mut Receiver<Transcript>,
    input_open: bool,
) -> Event<Transcript> {
    if input_open {
        ctx.next(input, None).await
    } else {
        ctx.next_without_input(None).await
    }
}

/// The next event of the reply in progress (`None` when its stream ended).
async fn next_reply(turn: &mut Option<Turn>) -> Option<ReplyEvent> {
    match turn {
        Some(turn) => turn.stream.next().await,
        None => std::future::pending().await,
    }
}

/// Resolves once `epoch` is stale.
async fn stale(watch: &mut EpochWatch, epoch: Epoch) {
    while !watch.is_stale(epoch) {
        watch.changed().await;
    }
}

/// Sends one piece of the turn's reply, unless the turn goes stale while the edge is full.
async fn send(
    ctx: &mut StageCtx,
    output: &mut Sender<ReplyText>,
    stale_watch: &mut EpochWatch,
    turn: &mut Turn,
    text: String,
    is_last: bool,
) -> Result<(), StageError> {
    if text.is_empty() && !is_last {
        return Ok(());
    }
    if !turn.sent_piece {
        turn.sent_piece = true;
        ctx.metrics.mark(turn.epoch, TurnMark::FirstClause);
    }
    let piece = ReplyText {
        epoch: turn.epoch,
        text,
        is_last,
    };
    tokio::select! {
        biased;
        () = stale(stale_watch, turn.epoch) => {
            tracing::debug!(turn = turn.epoch.0, "dropped a reply piece of an interrupted turn");
            Ok(())
        }
        sent = ctx.emit(output, piece) => sent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_ends_naturally_only_while_its_epoch_is_current() {
        let speaking = |epoch: u64, played: u64| PlayoutStatus {
            speaking: Some(Epoch(epoch)),
            played_samples: played,
            output_sample: 0,
        };
        let silent = PlayoutStatus::default();

        let mut natural = Playback::default();
        natural.track(Epoch(2));
        natural.observe(silent, Epoch(2)); // not started yet: nothing
        assert!(!natural.finished);
        natural.observe(speaking(2, 960), Epoch(2));
        natural.observe(speaking(2, 1920), Epoch(2));
        natural.observe(silent, Epoch(2));
        assert!(natural.finished);

        let mut cut = Playback::default();
        cut.track(Epoch(2));
        cut.observe(speaking(2, 960), Epoch(2));
        // The interrupt bumped the epoch before the playout went silent.
        cut.observe(silent, Epoch(3));
        assert!(!cut.finished);
        assert_eq!(cut.played_samples, 960);
        // Another utterance playing does not count as this one's progress.
        cut.observe(speaking(3, 50_000), Epoch(3));
        assert_eq!(cut.played_samples, 960);
    }
}
