//! Any OpenAI-compatible chat server as a dialogue backend (OpenAI, vLLM, llama.cpp server,
//! Ollama): streaming, with tools, remembering only what the user heard.
//!
//! Each user turn is one streamed `chat/completions` request: the system prompt (with the
//! persona), the history, the user's words and the three runtime tools. Tokens become
//! [`ReplyEvent::Text`] as they arrive; tool-call deltas are gathered per call index and become
//! [`ReplyEvent::Tool`] when the model finishes. The stage executes the tools; if the model
//! stopped to call tools that do not end the conversation, [`Dialogue::segment_done`] returns a
//! follow-up request carrying the results, at most [`MAX_TOOL_ROUNDS`] per turn.
//!
//! Failure handling: the request (and every gap between stream chunks) is bounded by the
//! configured timeout; a connection error before anything arrived is retried once; anything
//! else ends the stream with [`ReplyEvent::Failed`], and the stage speaks its fallback line.
//! The stream owns the HTTP response, so dropping it (the stage does, the moment the epoch
//! changes) closes the connection.
//!
//! History: the assistant's messages of a turn are recorded as generated, then cut by
//! [`Dialogue::heard`] to the bytes the user heard, before the next request is built — so no
//! request ever carries words that did not reach the speaker. The history is bounded; the
//! oldest turns go first.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestSystemMessageContent,
    ChatCompletionRequestToolMessage, ChatCompletionRequestToolMessageContent,
    ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent, ChatCompletionResponseStream,
    ChatCompletionTool, ChatCompletionTools, CreateChatCompletionRequest, CreateChatCompletionStreamResponse,
    FinishReason, FunctionCall, FunctionObject,
};
use futures_util::StreamExt as _;

use super::tools::{ToolCall, schemas};
use super::{Dialogue, DialogueError, Heard, ReplyEvent, ReplyStream, SegmentOutcome, ready_reply};
use crate::config::Secret;

/// Follow-up requests after tool calls, per user turn.
pub const MAX_TOOL_ROUNDS: usize = 3;
/// Messages kept in the history (the system prompt is not counted).
pub const MAX_HISTORY_MESSAGES: usize = 64;
/// Tool calls gathered from one response; more are ignored.
const MAX_TOOL_CALLS: usize = 8;
/// Argument bytes gathered per tool call.
const MAX_TOOL_ARGUMENT_BYTES: usize = 8_192;

/// What the pipeline file says about the chat backend (`[stages.dialogue]` with
/// `backend = "openai"`).
pub use crate::config::ChatConfig as ChatSettings;

/// The backend.
pub struct ChatDialogue {
    settings: ChatSettings,
    client: Client<OpenAIConfig>,
    system: ChatCompletionRequestMessage,
    history: Vec<ChatCompletionRequestMessage>,
    /// The current turn: where its messages start, and its assistant text segments.
    turn: TurnLog,
    handed_over: bool,
    /// The conversation ended; the next turn starts a fresh one.
    reset_pending: bool,
}

#[derive(Debug, Default)]
struct TurnLog {
    /// Assistant messages of this turn holding text: (index in history, text bytes).
    segments: Vec<(usize, usize)>,
    tool_rounds: usize,
}

impl ChatDialogue {
    pub fn new(settings: ChatSettings) -> Result<ChatDialogue, DialogueError> {
        if settings.model.trim().is_empty() {
            return Err(DialogueError::Config(
                "no model is set: give `stages.dialogue.model` or OPENAI_MODEL".into(),
            ));
        }
        let mut config = OpenAIConfig::new().with_api_base(settings.base_url.trim_end_matches('/'));
        // Local servers need no key; an empty one keeps the Authorization header harmless.
        config = config.with_api_key(settings.api_key.as_ref().map(Secret::expose).unwrap_or_default());
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout)
            .build()
            .map_err(|e| DialogueError::Config(format!("cannot create the HTTP client: {e}")))?;
        // Plain reqwest underneath: retries are this module's policy (one, on connection
        // errors), not the client's default backoff.
        let client = Client::with_config(config).with_http_service(ReqwestService::new(http));
        let mut system_text = settings.system_prompt.trim().to_string();
        if let Some(persona) = settings
            .persona
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            system_text.push_str("\n\n");
            system_text.push_str(persona);
        }
        let system = ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
            content: ChatCompletionRequestSystemMessageContent::Text(system_text),
            name: None,
        });
        Ok(ChatDialogue {
            settings,
            client,
            system,
            history: Vec::new(),
            turn: TurnLog::default(),
            handed_over: false,
            reset_pending: false,
        })
    }

    /// The messages the next request would carry (system prompt first).
    pub fn messages(&self) -> Vec<ChatCompletionRequestMessage> {
        std::iter::once(self.system.clone())
            .chain(self.history.iter().cloned())
            .collect()
    }

    fn request(&self) -> CreateChatCompletionRequest {
        let tools = self.settings.tools.then(|| {
            schemas()
                .into_iter()
                .map(|(name, description, parameters)| {
                    ChatCompletionTools::Function(ChatCompletionTool {
                        function: FunctionObject {
                            name: name.to_string(),
                            description: Some(description.to_string()),
                            parameters: Some(parameters),
                            strict: None,
                        },
                    })
                })
                .collect()
        });
        CreateChatCompletionRequest {
            messages: self.messages(),
            model: self.settings.model.clone(),
            temperature: self.settings.temperature,
            max_completion_tokens: self.settings.max_tokens,
            tools,
            stream: Some(true),
            ..Default::default()
        }
    }

    fn stream(&self) -> ReplyStream {
        let request = Request {
            client: self.client.clone(),
            body: self.request(),
            url: self.settings.base_url.clone(),
            timeout: self.settings.timeout,
        };
        Box::pin(request.into_stream())
    }

    /// Drops the oldest turns (whole turns: from one user message to the next) beyond the bound.
    fn trim_history(&mut self) {
        while self.history.len() > MAX_HISTORY_MESSAGES {
            let next_user = self
                .history
                .iter()
                .skip(1)
                .position(|m| matches!(m, ChatCompletionRequestMessage::User(_)))
                .map_or(self.history.len(), |p| p + 1);
            self.history.drain(..next_user);
            self.turn.segments.retain_mut(|(index, _)| {
                if *index >= next_user {
                    *index -= next_user;
                    true
                } else {
                    false
                }
            });
        }
    }
}

impl Dialogue for ChatDialogue {
    fn uses_model(&self) -> bool {
        true
    }

    fn respond(&mut self, user_said: &str) -> ReplyStream {
        if self.reset_pending {
            self.history.clear();
            self.reset_pending = false;
        }
        self.turn = TurnLog::default();
        if self.handed_over {
            return ready_reply(Vec::new(), self.settings.handover_line.clone());
        }
        self.history.push(ChatCompletionRequestMessage::User(
            ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(user_said.trim().to_string()),
                name: None,
            },
        ));
        self.trim_history();
        self.stream()
    }

    fn segment_done(&mut self, outcome: SegmentOutcome) -> Option<ReplyStream> {
        let tool_calls: Vec<ChatCompletionMessageToolCalls> = outcome
            .tools
            .iter()
            .filter(|(call, _)| !call.id.is_empty())
            .map(|(call, _)| {
                ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                    id: call.id.clone(),
                    function: FunctionCall {
                        name: call.name.clone(),
                        arguments: call.arguments.clone(),
                    },
                })
            })
            .collect();
        if !outcome.text.is_empty() || !tool_calls.is_empty() {
            if !outcome.text.is_empty() {
                self.turn.segments.push((self.history.len(), outcome.text.len()));
            }
            self.history.push(ChatCompletionRequestMessage::Assistant(
                ChatCompletionRequestAssistantMessage {
                    content: (!outcome.text.is_empty())
                        .then(|| ChatCompletionRequestAssistantMessageContent::Text(outcome.text.clone())),
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    ..Default::default()
                },
            ));
            for (call, result) in outcome.tools.iter().filter(|(call, _)| !call.id.is_empty()) {
                self.history.push(ChatCompletionRequestMessage::Tool(
                    ChatCompletionRequestToolMessage {
                        content: ChatCompletionRequestToolMessageContent::Text(result.message().to_string()),
                        tool_call_id: call.id.clone(),
                    },
                ));
            }
        }
        let terminal = outcome.tools.iter().any(|(call, _)| call.is_terminal());
        if outcome
            .tools
            .iter()
            .any(|(call, _)| matches!(call.action, super::Action::HandOver { .. }))
        {
            self.handed_over = true;
        }
        if outcome
            .tools
            .iter()
            .any(|(call, _)| matches!(call.action, super::Action::EndConversation { .. }))
        {
            self.reset_pending = true;
        }
        self.trim_history();
        let wants_results = !outcome.tools.is_empty() && outcome.text.trim().is_empty();
        if outcome.interrupted || outcome.failed || terminal || !wants_results {
            return None;
        }
        if self.turn.tool_rounds >= MAX_TOOL_ROUNDS {
            tracing::warn!(
                rounds = MAX_TOOL_ROUNDS,
                "the model kept calling tools; ending its reply"
            );
            return None;
        }
        self.turn.tool_rounds += 1;
        Some(self.stream())
    }

    fn heard(&mut self, heard: Heard) {
        let Some(mut left) = heard.bytes else {
            return;
        };
        let mut remove = Vec::new();
        for &(index, len) in &self.turn.segments {
            let Some(ChatCompletionRequestMessage::Assistant(message)) = self.history.get_mut(index) else {
                continue;
            };
            if left >= len {
                left -= len;
                continue;
            }
            let Some(ChatCompletionRequestAssistantMessageContent::Text(text)) = &mut message.content else {
                continue;
            };
            let mut cut = left.min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let kept = text[..cut].trim_end().to_string();
            left = 0;
            tracing::debug!(
                turn = heard.epoch.0,
                heard = %crate::redact::text(&kept),
                dropped = %crate::redact::text(text[cut..].trim()),
                "history keeps only what was heard"
            );
            if kept.is_empty() {
                message.content = None;
                if message.tool_calls.is_none() {
                    remove.push(index);
                }
            } else {
                *text = kept;
            }
        }
        for index in remove.into_iter().rev() {
            self.history.remove(index);
        }
        self.turn.segments.clear();
    }
}

/// One streamed request, as a stream of reply events.
struct Request {
    client: Client<OpenAIConfig>,
    body: CreateChatCompletionRequest,
    url: String,
    timeout: Duration,
}

/// A tool call being gathered from deltas.
#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

enum State {
    Connect {
        attempt: u32,
    },
    Streaming {
        stream: ChatCompletionResponseStream,
        calls: Vec<PartialCall>,
        produced: bool,
        attempt: u32,
    },
    Done,
}

impl Request {
    fn into_stream(self) -> impl futures_util::Stream<Item = ReplyEvent> + Send + 'static {
        futures_util::stream::unfold(
            (self, State::Connect { attempt: 0 }),
            |(request, state)| async move {
                let (events, next) = request.step(state).await;
                if events.is_empty() && matches!(next, State::Done) {
                    return None;
                }
                Some((futures_util::stream::iter(events), (request, next)))
            },
        )
        .flatten()
    }

    fn failed(&self, message: String) -> ReplyEvent {
        ReplyEvent::Failed(DialogueError::Service {
            url: self.url.clone(),
            message,
        })
    }

    fn timed_out(&self) -> ReplyEvent {
        ReplyEvent::Failed(DialogueError::Timeout {
            url: self.url.clone(),
            waited_ms: self.timeout.as_millis() as u64,
        })
    }

    /// Advances by one network event: connecting, or one chunk of the stream.
    async fn step(&self, state: State) -> (Vec<ReplyEvent>, State) {
        match state {
            State::Done => (Vec::new(), State::Done),
            State::Connect { attempt } => {
                let opened =
                    tokio::time::timeout(self.timeout, self.client.chat().create_stream(self.body.clone()))
                        .await;
                match opened {
                    Ok(Ok(stream)) => (
                        Vec::new(),
                        State::Streaming {
                            stream,
                            calls: Vec::new(),
                            produced: false,
                            attempt,
                        },
                    ),
                    Ok(Err(error)) if attempt == 0 && is_connection_error(&error) => {
                        tracing::warn!(%error, url = %self.url, "chat request failed to connect; retrying once");
                        (Vec::new(), State::Connect { attempt: 1 })
                    }
                    Ok(Err(error)) => (vec![self.failed(describe(&error))], State::Done),
                    Err(_) => (vec![self.timed_out()], State::Done),
                }
            }
            State::Streaming {
                mut stream,
                mut calls,
                produced,
                attempt,
            } => match tokio::time::timeout(self.timeout, stream.next()).await {
                Err(_) => (vec![self.timed_out()], State::Done),
                Ok(None) => (finish_calls(&mut calls), State::Done),
                Ok(Some(Err(error))) if !produced && attempt == 0 && is_connection_error(&error) => {
                    tracing::warn!(%error, url = %self.url, "chat stream broke before any token; retrying once");
                    (Vec::new(), State::Connect { attempt: 1 })
                }
                Ok(Some(Err(error))) => (vec![self.failed(describe(&error))], State::Done),
                Ok(Some(Ok(chunk))) => {
                    let (events, finished) = absorb(chunk, &mut calls);
                    let produced = produced || !events.is_empty();
                    if finished {
                        let mut events = events;
                        events.extend(finish_calls(&mut calls));
                        (events, State::Done)
                    } else {
                        (
                            events,
                            State::Streaming {
                                stream,
                                calls,
                                produced,
                                attempt,
                            },
                        )
                    }
                }
            },
        }
    }
}

/// Text and tool-call deltas of one chunk; `true` once the model said it finished.
fn absorb(
    chunk: CreateChatCompletionStreamResponse,
    calls: &mut Vec<PartialCall>,
) -> (Vec<ReplyEvent>, bool) {
    let mut events = Vec::new();
    let mut finished = false;
    // n = 1: only the first choice is ours.
    if let Some(choice) = chunk.choices.into_iter().find(|c| c.index == 0) {
        if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
            events.push(ReplyEvent::Text(text));
        }
        for delta in choice.delta.tool_calls.unwrap_or_default() {
            let index = delta.index as usize;
            if index >= MAX_TOOL_CALLS {
                continue;
            }
            if calls.len() <= index {
                calls.resize_with(index + 1, PartialCall::default);
            }
            let call = &mut calls[index];
            if let Some(id) = delta.id {
                call.id = id;
            }
            if let Some(function) = delta.function {
                if let Some(name) = function.name {
                    call.name.push_str(&name);
                }
                if let Some(arguments) = function.arguments
                    && call.arguments.len() + arguments.len() <= MAX_TOOL_ARGUMENT_BYTES
                {
                    call.arguments.push_str(&arguments);
                }
            }
        }
        finished = matches!(
            choice.finish_reason,
            Some(
                FinishReason::Stop
                    | FinishReason::ToolCalls
                    | FinishReason::Length
                    | FinishReason::ContentFilter
            )
        );
    }
    (events, finished)
}

/// The gathered tool calls as events (each once).
fn finish_calls(calls: &mut Vec<PartialCall>) -> Vec<ReplyEvent> {
    calls
        .drain(..)
        .filter(|c| !c.name.is_empty())
        .enumerate()
        .map(|(n, c)| {
            let id = if c.id.is_empty() {
                format!("call_{n}")
            } else {
                c.id
            };
            ReplyEvent::Tool(ToolCall::parse(id, c.name, c.arguments))
        })
        .collect()
}

/// Errors worth one retry: the connection, not the request, failed.
fn is_connection_error(error: &OpenAIError) -> bool {
    match error {
        OpenAIError::Reqwest(e) => e.is_connect() || e.is_request() || e.is_body(),
        OpenAIError::StreamError(_) => true,
        _ => false,
    }
}

fn describe(error: &OpenAIError) -> String {
    match error {
        OpenAIError::Reqwest(e) if e.is_connect() => format!("cannot connect ({e})"),
        OpenAIError::ApiError(api) => format!("HTTP {}: {}", api.status_code, api.api_error.message),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialogue::ToolOutcome;
    use crate::dialogue::tools::Action;
    use crate::runtime::Epoch;

    fn dialogue() -> ChatDialogue {
        ChatDialogue::new(ChatSettings {
            base_url: "http://127.0.0.1:9/v1".into(),
            model: "test".into(),
            api_key: None,
            system_prompt: "Be brief.".into(),
            persona: Some("You are Ava.".into()),
            temperature: None,
            max_tokens: None,
            timeout: Duration::from_secs(1),
            tools: true,
            handover_line: "Someone is coming.".into(),
        })
        .unwrap()
    }

    fn assistant_texts(d: &ChatDialogue) -> Vec<Option<String>> {
        d.history
            .iter()
            .filter_map(|m| match m {
                ChatCompletionRequestMessage::Assistant(a) => Some(a.content.as_ref().map(|c| match c {
                    ChatCompletionRequestAssistantMessageContent::Text(t) => t.clone(),
                    _ => String::new(),
                })),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn heard_cuts_the_turns_assistant_text_across_segments() {
        let mut d = dialogue();
        drop(d.respond("Hi"));
        let record = ToolCall::parse(
            "c1".into(),
            "record_answer".into(),
            r#"{"field":"a","value":"b"}"#.into(),
        );
        // First segment: text and a tool call; second: more text.
        assert!(
            d.segment_done(SegmentOutcome {
                text: "Noted. ".into(),
                tools: vec![(record, ToolOutcome::Done("recorded a".into()))],
                ..Default::default()
            })
            .is_none(),
            "text came with the call, so no follow-up is needed"
        );
        d.turn.tool_rounds = 0;
        d.segment_done(SegmentOutcome {
            text: "What else can I do for you today?".into(),
            ..Default::default()
        });
        d.heard(Heard {
            epoch: Epoch(1),
            bytes: Some("Noted. What else can".len()),
        });
        assert_eq!(
            assistant_texts(&d),
            [Some("Noted. ".to_string()), Some("What else can".to_string())]
        );
        // The system prompt carries the persona.
        let ChatCompletionRequestMessage::System(system) = &d.messages()[0] else {
            panic!("the first message is the system prompt");
        };
        assert_eq!(
            system.content,
            ChatCompletionRequestSystemMessageContent::Text("Be brief.\n\nYou are Ava.".into())
        );
    }

    #[tokio::test]
    async fn nothing_heard_removes_the_text_but_keeps_tool_calls() {
        let mut d = dialogue();
        drop(d.respond("Hi"));
        let record = ToolCall::parse(
            "c1".into(),
            "record_answer".into(),
            r#"{"field":"a","value":"b"}"#.into(),
        );
        let follow_up = d.segment_done(SegmentOutcome {
            text: String::new(),
            tools: vec![(record, ToolOutcome::Done("recorded a".into()))],
            ..Default::default()
        });
        assert!(
            follow_up.is_some(),
            "a bare tool call asks for the model to go on"
        );
        d.segment_done(SegmentOutcome {
            text: "Thanks!".into(),
            ..Default::default()
        });
        d.heard(Heard {
            epoch: Epoch(1),
            bytes: Some(0),
        });
        assert_eq!(assistant_texts(&d), [None]);
        assert!(matches!(
            d.history.last(),
            Some(ChatCompletionRequestMessage::Tool(_))
        ));
    }

    #[tokio::test]
    async fn a_hand_over_answers_later_turns_itself() {
        let mut d = dialogue();
        drop(d.respond("I want a person"));
        let handover = ToolCall::internal(Action::HandOver {
            reason: "asked".into(),
        });
        let mut handover = handover;
        handover.id = "c9".into();
        assert!(
            d.segment_done(SegmentOutcome {
                tools: vec![(handover, ToolOutcome::Done("called".into()))],
                ..Default::default()
            })
            .is_none()
        );
        let events: Vec<ReplyEvent> = d.respond("hello?").collect().await;
        assert!(matches!(events.as_slice(), [ReplyEvent::Text(t)] if t == "Someone is coming."));
    }

    #[test]
    fn the_history_is_bounded_by_whole_turns() {
        let mut d = dialogue();
        for n in 0..100 {
            d.history.push(ChatCompletionRequestMessage::User(
                ChatCompletionRequestUserMessage {
                    content: ChatCompletionRequestUserMessageContent::Text(format!("q{n}")),
                    name: None,
                },
            ));
            d.history.push(ChatCompletionRequestMessage::Assistant(
                ChatCompletionRequestAssistantMessage {
                    content: Some(ChatCompletionRequestAssistantMessageContent::Text(format!(
                        "a{n}"
                    ))),
                    ..Default::default()
                },
            ));
            d.trim_history();
        }
        assert!(d.history.len() <= MAX_HISTORY_MESSAGES);
        assert!(matches!(d.history[0], ChatCompletionRequestMessage::User(_)));
    }
}
