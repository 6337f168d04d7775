//! Dialogue: what the avatar says back.
//!
//! A [`Dialogue`] backend answers each final user transcript; the stage forwards its reply to
//! TTS tagged with the turn's epoch, so a reply to an interrupted turn is dropped on the way.
//! Backends live one per file: [`scripted`] (fixed flows for kiosks, no LLM).

pub mod scripted;

use thiserror::Error;

use crate::runtime::{Epoch, Event, Receiver, Sender, StageCtx, StageError, Stamped, TurnMark};
use crate::stt::Transcript;

pub use scripted::{Flow, FlowRunner};

#[derive(Debug, Error)]
pub enum DialogueError {
    #[error("cannot read flow file {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("flow file {}: {message}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        message: String,
    },
}

/// What the avatar answers to one user turn.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub text: String,
    /// The conversation is over after this reply.
    pub ends_conversation: bool,
}

/// A dialogue backend.
pub trait Dialogue: Send {
    fn respond(&mut self, user_said: &str) -> Reply;
}

/// Text for TTS: a piece of the avatar's reply.
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

/// The dialogue stage.
pub async fn run_stage(
    mut ctx: StageCtx,
    mut dialogue: Box<dyn Dialogue>,
    mut input: Receiver<Transcript>,
    mut output: Sender<ReplyText>,
) -> Result<(), StageError> {
    loop {
        match ctx.next(&mut input, None).await {
            Event::Item(transcript) if transcript.is_final => {
                let reply = dialogue.respond(&transcript.text);
                tracing::info!(
                    turn = transcript.epoch.0,
                    ends = reply.ends_conversation,
                    "reply ready"
                );
                ctx.metrics
                    .mark(transcript.epoch, TurnMark::Reply(reply.text.clone()));
                let text = ReplyText {
                    epoch: transcript.epoch,
                    text: reply.text,
                    is_last: true,
                };
                ctx.emit(&mut output, text).await?;
            }
            Event::Item(_) | Event::Interrupt(_) | Event::Deadline => {}
            Event::Closed | Event::Shutdown => return Ok(()),
        }
    }
}
