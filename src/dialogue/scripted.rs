//! Scripted flows as a dialogue backend: no model, the same questions every time.
//!
//! Each user turn goes through the [`FlowEngine`]; its answer (if any) becomes a
//! `record_answer` tool call, so the runtime saves it — synced to disk — before the next
//! question is spoken, and the end of the flow becomes `end_conversation`. There is no history
//! to cut, so what the user heard changes nothing.

use super::flow::{Flow, FlowEngine, FlowTurn};
use super::tools::{Action, ToolCall};
use super::{Dialogue, Heard, ReplyStream, SegmentOutcome, ready_reply};

/// A flow as a [`Dialogue`].
pub struct ScriptedDialogue {
    engine: FlowEngine,
}

impl ScriptedDialogue {
    pub fn new(flow: Flow) -> ScriptedDialogue {
        ScriptedDialogue {
            engine: FlowEngine::new(flow),
        }
    }

    pub fn engine(&self) -> &FlowEngine {
        &self.engine
    }

    /// The tool calls that carry out one engine turn.
    pub fn tool_calls(turn: &FlowTurn) -> Vec<ToolCall> {
        let mut calls = Vec::new();
        if let Some(recorded) = &turn.recorded {
            calls.push(ToolCall::internal(Action::RecordAnswer {
                field: recorded.step.clone(),
                value: recorded.value.clone(),
                kind: Some(recorded.kind.to_string()),
                heard: Some(recorded.heard.clone()),
            }));
        }
        if turn.finished_now {
            calls.push(ToolCall::internal(Action::EndConversation {
                reason: Some("the flow is complete".into()),
            }));
        }
        calls
    }
}

impl Dialogue for ScriptedDialogue {
    fn uses_model(&self) -> bool {
        false
    }

    fn respond(&mut self, user_said: &str) -> ReplyStream {
        let turn = self.engine.handle(user_said);
        let recorded = turn.recorded.as_ref().is_some_and(|r| !r.value.is_null());
        tracing::debug!(
            flow = %self.engine.flow().name,
            asking = self.engine.asking().unwrap_or("-"),
            recorded,
            "flow turn"
        );
        let calls = Self::tool_calls(&turn);
        ready_reply(calls, turn.say)
    }

    fn segment_done(&mut self, _outcome: SegmentOutcome) -> Option<ReplyStream> {
        None
    }

    fn heard(&mut self, _heard: Heard) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialogue::ReplyEvent;
    use futures_util::StreamExt as _;
    use std::path::Path;

    #[tokio::test]
    async fn a_turn_is_the_answer_to_record_then_the_next_question() {
        let flow = Flow::parse(
            Path::new("t.toml"),
            "name = \"t\"\nclosing = \"Bye.\"\n[[step]]\nid = \"name\"\nprompt = \"Your name?\"\n",
        )
        .unwrap();
        let mut dialogue = ScriptedDialogue::new(flow);
        let first: Vec<ReplyEvent> = dialogue.respond("hello").collect().await;
        assert!(matches!(first.as_slice(), [ReplyEvent::Text(t)] if t == "Your name?"));
        let second: Vec<ReplyEvent> = dialogue.respond("Ada").collect().await;
        match second.as_slice() {
            [
                ReplyEvent::Tool(record),
                ReplyEvent::Tool(end),
                ReplyEvent::Text(text),
            ] => {
                assert!(matches!(&record.action, Action::RecordAnswer { field, .. } if field == "name"));
                assert!(matches!(end.action, Action::EndConversation { .. }));
                assert_eq!(text, "Bye.");
            }
            other => panic!("{other:?}"),
        }
        assert!(dialogue.segment_done(SegmentOutcome::default()).is_none());
    }
}
