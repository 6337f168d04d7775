//! Dialogue: what the avatar says back, streamed so speech can start before the reply is done.
//!
//! A [`Dialogue`] backend answers each final user transcript with a [`ReplyStream`] of
//! [`ReplyEvent`]s: text as it is generated, and tool calls (record an answer, end the
//! conversation, hand over to a human) that the stage executes. The stage ([`stage`]) cuts the
//! text into clauses ([`chunker`]) and sends each to TTS as a [`ReplyText`] tagged with the
//! turn's epoch, drops the backend's stream the moment the epoch changes, and tells the backend
//! afterwards how much of its reply the user actually heard ([`Heard`]), so the next request
//! carries only that.
//!
//! Backends, one per file: [`scripted`] (TOML flows for kiosks, no model: [`flow`] and
//! [`answers`] are its engine and answer parsers) and [`openai`] (any OpenAI-compatible chat
//! server, streaming, with tools). Answers are saved by [`store`]; tools are described in
//! [`tools`].

pub mod answers;
pub mod chunker;
pub mod flow;
pub mod openai;
pub mod scripted;
pub mod stage;
pub mod store;
pub mod tools;

use std::path::PathBuf;
use std::pin::Pin;

use futures_util::Stream;
use thiserror::Error;

use crate::runtime::{Epoch, Stamped};

pub use flow::{Flow, FlowEngine};
pub use scripted::ScriptedDialogue;
pub use stage::run_stage;
pub use tools::{Action, ToolCall, ToolOutcome};

#[derive(Debug, Error)]
pub enum DialogueError {
    #[error("cannot read flow file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("flow file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(
        "cannot write answers to {}: {source}. Check that `stages.dialogue.answers_dir` is a writable folder",
        path.display()
    )]
    Store { path: PathBuf, source: std::io::Error },
    #[error("the chat service at {url} failed: {message}")]
    Service { url: String, message: String },
    #[error("the chat service at {url} did not answer within {waited_ms} ms (`stages.dialogue.timeout_ms`)")]
    Timeout { url: String, waited_ms: u64 },
    #[error("the chat backend is misconfigured: {0}")]
    Config(String),
}

/// Text for TTS: a piece of the avatar's reply.
///
/// The pieces of one epoch, in order, concatenate to exactly the text the reply produced (plus
/// the stage's own lines, such as the fallback); byte offsets into that concatenation are how
/// the heard history is cut.
#[derive(Clone, Debug)]
pub struct ReplyText {
    pub epoch: Epoch,
    pub text: String,
    /// The last piece of this reply.
    pub is_last: bool,
}

impl Stamped for ReplyText {
    fn epoch(&self) -> Option<Epoch> {
        Some(self.epoch)
    }
}

/// Something a backend produced while answering.
#[derive(Debug)]
pub enum ReplyEvent {
    /// More reply text (a token or several), in order.
    Text(String),
    /// The backend asks the runtime to act.
    Tool(ToolCall),
    /// The backend could not go on; the stage speaks its fallback line. The stream ends after it.
    Failed(DialogueError),
}

/// A reply being produced. Dropping it abandons the reply (and closes any connection behind it).
pub type ReplyStream = Pin<Box<dyn Stream<Item = ReplyEvent> + Send>>;

/// How one [`ReplyStream`] ended.
#[derive(Debug, Default)]
pub struct SegmentOutcome {
    /// All text the stream produced.
    pub text: String,
    /// Tool calls it made, with what the runtime did about each.
    pub tools: Vec<(ToolCall, ToolOutcome)>,
    /// The stream reported a failure.
    pub failed: bool,
    /// The turn was interrupted before the stream ended (text may be partial).
    pub interrupted: bool,
}

/// How much of a turn's reply the user heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    pub epoch: Epoch,
    /// Bytes from the start of the reply text (all segments of the turn, in order); `None`
    /// when all of it played.
    pub bytes: Option<usize>,
}

/// A dialogue backend. Its methods are called on the dialogue stage's thread, one at a time.
pub trait Dialogue: Send {
    /// Whether replies come from a language model (for `llm_first_token_ms`).
    fn uses_model(&self) -> bool;

    /// Starts the reply to what the user said.
    fn respond(&mut self, user_said: &str) -> ReplyStream;

    /// The last stream ended. Returns a continuation of the same reply (after tool results),
    /// or `None` when the reply is complete. Never continues an interrupted or failed segment.
    fn segment_done(&mut self, outcome: SegmentOutcome) -> Option<ReplyStream>;

    /// What the user heard of the turn's reply, reported once per turn before the next
    /// `respond`. Backends with a history keep only that.
    fn heard(&mut self, heard: Heard);
}

/// A reply that is already known, as one stream: the tool calls (so an answer is on disk
/// before the next question is spoken), then the text.
pub fn ready_reply(tools: Vec<ToolCall>, text: String) -> ReplyStream {
    let events: Vec<ReplyEvent> = tools
        .into_iter()
        .map(ReplyEvent::Tool)
        .chain(std::iter::once(ReplyEvent::Text(text)))
        .collect();
    Box::pin(futures_util::stream::iter(events))
}
