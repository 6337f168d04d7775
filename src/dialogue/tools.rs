//! Tools: what a dialogue backend may ask the runtime to do, and how the runtime does it.
//!
//! Three actions, the same for a language model (as function tools) and for scripted flows:
//! record an answer (appended to the session's answer file), end the conversation, and hand
//! over to a human. A model's call arrives as a name and JSON arguments; [`ToolCall::parse`]
//! checks them, and a malformed call becomes [`Action::Unknown`] with the reason, which is
//! reported back to the model as a failed tool result rather than stopping the reply.
//! [`ToolRunner`] executes calls; it owns the answer file.

use serde_json::{Value, json};

use super::store::AnswerStore;

pub const RECORD_ANSWER: &str = "record_answer";
pub const END_CONVERSATION: &str = "end_conversation";
pub const HAND_OVER: &str = "hand_over_to_human";

/// Longest field name and value accepted from a model (an answer, not an essay).
const MAX_FIELD_BYTES: usize = 64;
const MAX_VALUE_BYTES: usize = 2_000;

/// A call as the backend made it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The backend's id for the call (a model's `tool_call_id`; empty for scripted flows).
    pub id: String,
    pub name: String,
    /// The raw JSON arguments, as sent.
    pub arguments: String,
    pub action: Action,
}

/// What the runtime is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Save an answer. `value` is `null` for a question left unanswered.
    RecordAnswer {
        field: String,
        value: Value,
        /// The answer type (scripted flows), e.g. `date`.
        kind: Option<String>,
        /// What the user said, verbatim (scripted flows).
        heard: Option<String>,
    },
    EndConversation {
        reason: Option<String>,
    },
    HandOver {
        reason: String,
    },
    /// Not a call the runtime understands; `problem` says why.
    Unknown {
        problem: String,
    },
}

/// What came of a call; the message goes back to a model as the tool result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolOutcome {
    Done(String),
    Failed(String),
}

impl ToolOutcome {
    pub fn message(&self) -> &str {
        match self {
            ToolOutcome::Done(m) | ToolOutcome::Failed(m) => m,
        }
    }
}

impl ToolCall {
    /// A call made by the runtime's own logic (scripted flows).
    pub fn internal(action: Action) -> ToolCall {
        let name = match &action {
            Action::RecordAnswer { .. } => RECORD_ANSWER,
            Action::EndConversation { .. } => END_CONVERSATION,
            Action::HandOver { .. } => HAND_OVER,
            Action::Unknown { .. } => "unknown",
        };
        ToolCall {
            id: String::new(),
            name: name.to_string(),
            arguments: String::new(),
            action,
        }
    }

    /// Checks a model's call.
    pub fn parse(id: String, name: String, arguments: String) -> ToolCall {
        let action = parse_action(&name, &arguments).unwrap_or_else(|problem| Action::Unknown { problem });
        ToolCall {
            id,
            name,
            arguments,
            action,
        }
    }

    /// Whether the conversation stops after this call (nothing follows it in this reply).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.action,
            Action::EndConversation { .. } | Action::HandOver { .. }
        )
    }
}

fn parse_action(name: &str, arguments: &str) -> Result<Action, String> {
    let args: Value = if arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(arguments).map_err(|e| format!("the arguments are not valid JSON ({e})"))?
    };
    let text = |key: &str, max: usize| -> Result<Option<String>, String> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= max => Ok(Some(s.trim().to_string())),
            Some(Value::String(_)) => Err(format!("`{key}` is longer than {max} bytes")),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(format!("`{key}` must be a string, not {other}")),
        }
    };
    match name {
        RECORD_ANSWER => {
            let field = text("field", MAX_FIELD_BYTES)?
                .filter(|f| !f.is_empty())
                .ok_or("`field` (the name of what is being recorded) is required")?;
            let value = text("value", MAX_VALUE_BYTES)?.ok_or("`value` is required")?;
            Ok(Action::RecordAnswer {
                field,
                value: Value::String(value),
                kind: None,
                heard: None,
            })
        }
        END_CONVERSATION => Ok(Action::EndConversation {
            reason: text("reason", MAX_VALUE_BYTES)?,
        }),
        HAND_OVER => Ok(Action::HandOver {
            reason: text("reason", MAX_VALUE_BYTES)?.unwrap_or_default(),
        }),
        other => Err(format!(
            "there is no tool `{other}`; the tools are {RECORD_ANSWER}, {END_CONVERSATION} and {HAND_OVER}"
        )),
    }
}

/// The tools as (name, description, JSON schema of the arguments), for a model.
pub fn schemas() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            RECORD_ANSWER,
            "Save one piece of information the user gave, such as their name or date of birth. \
             Call it once per answer, as soon as the user has given it.",
            json!({
                "type": "object",
                "properties": {
                    "field": {"type": "string", "description": "what the answer is about, in snake_case, e.g. full_name"},
                    "value": {"type": "string", "description": "the answer, as the user gave it"}
                },
                "required": ["field", "value"],
                "additionalProperties": false
            }),
        ),
        (
            END_CONVERSATION,
            "End the conversation after your reply, when the user's business is done or they say goodbye.",
            json!({
                "type": "object",
                "properties": {"reason": {"type": "string"}},
                "additionalProperties": false
            }),
        ),
        (
            HAND_OVER,
            "Hand the user over to a member of staff: when they ask for a person, are upset, or \
             need something you cannot do.",
            json!({
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "why, in a few words"}},
                "required": ["reason"],
                "additionalProperties": false
            }),
        ),
    ]
}

/// Executes calls. Owns the session's answer file, if answers are saved.
pub struct ToolRunner {
    store: Option<AnswerStore>,
}

impl ToolRunner {
    pub fn new(store: Option<AnswerStore>) -> ToolRunner {
        ToolRunner { store }
    }

    pub fn store(&self) -> Option<&AnswerStore> {
        self.store.as_ref()
    }

    /// Runs `call`. Answers are on disk (written and synced) when this returns `Done`.
    pub fn run(&mut self, call: &ToolCall) -> ToolOutcome {
        match &call.action {
            Action::RecordAnswer {
                field,
                value,
                kind,
                heard,
            } => {
                let Some(store) = self.store.as_mut() else {
                    tracing::info!(%field, %value, "answer (not saved: no `answers_dir`)");
                    return ToolOutcome::Done(format!("noted {field}"));
                };
                let mut record = json!({"event": "answer", "field": field, "value": value});
                if let Some(kind) = kind {
                    record["type"] = json!(kind);
                }
                if let Some(heard) = heard {
                    record["heard"] = json!(heard);
                }
                match store.append(record) {
                    Ok(()) => ToolOutcome::Done(format!("recorded {field}")),
                    Err(error) => {
                        tracing::error!(%error, %field, "could not save an answer");
                        ToolOutcome::Failed(format!(
                            "could not save {field}: the answer file is not writable"
                        ))
                    }
                }
            }
            Action::EndConversation { reason } => {
                tracing::info!(reason = reason.as_deref().unwrap_or(""), "the conversation ends");
                self.event(json!({"event": "end", "reason": reason}));
                ToolOutcome::Done("the conversation will end after this reply".into())
            }
            Action::HandOver { reason } => {
                tracing::warn!(%reason, "handing the user over to a member of staff");
                self.event(json!({"event": "handover", "reason": reason}));
                ToolOutcome::Done("a member of staff has been called".into())
            }
            Action::Unknown { problem } => {
                tracing::warn!(tool = %call.name, %problem, "refused a tool call");
                ToolOutcome::Failed(problem.clone())
            }
        }
    }

    fn event(&mut self, record: Value) {
        if let Some(store) = self.store.as_mut()
            && let Err(error) = store.append(record)
        {
            tracing::error!(%error, "could not write to the answer file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_calls_are_checked() {
        let call = |name: &str, args: &str| ToolCall::parse("c1".into(), name.into(), args.into()).action;
        assert_eq!(
            call(
                RECORD_ANSWER,
                r#"{"field": "full_name", "value": " Ada Lovelace "}"#
            ),
            Action::RecordAnswer {
                field: "full_name".into(),
                value: json!("Ada Lovelace"),
                kind: None,
                heard: None
            }
        );
        assert_eq!(
            call(RECORD_ANSWER, r#"{"field": "age", "value": 36}"#),
            Action::RecordAnswer {
                field: "age".into(),
                value: json!("36"),
                kind: None,
                heard: None
            }
        );
        assert_eq!(
            call(END_CONVERSATION, ""),
            Action::EndConversation { reason: None }
        );
        assert_eq!(
            call(HAND_OVER, r#"{"reason":"asked for a nurse"}"#),
            Action::HandOver {
                reason: "asked for a nurse".into()
            }
        );
        for (name, args, needle) in [
            (RECORD_ANSWER, r#"{"value": "x"}"#, "`field`"),
            (RECORD_ANSWER, r#"{"field": "x""#, "not valid JSON"),
            (
                RECORD_ANSWER,
                r#"{"field": "x", "value": [1]}"#,
                "must be a string",
            ),
            ("launch_rocket", "{}", "no tool `launch_rocket`"),
        ] {
            match call(name, args) {
                Action::Unknown { problem } => assert!(problem.contains(needle), "{problem}"),
                other => panic!("{name} {args}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_runner_saves_answers_and_reports_unknown_tools() {
        let dir = tempfile::tempdir().unwrap();
        let store = AnswerStore::create(dir.path(), "test").unwrap();
        let path = store.path().to_path_buf();
        let mut runner = ToolRunner::new(Some(store));
        let outcome = runner.run(&ToolCall::parse(
            "1".into(),
            RECORD_ANSWER.into(),
            r#"{"field":"name","value":"Ada"}"#.into(),
        ));
        assert_eq!(outcome, ToolOutcome::Done("recorded name".into()));
        let refused = runner.run(&ToolCall::parse("2".into(), "nope".into(), "{}".into()));
        assert!(matches!(refused, ToolOutcome::Failed(_)));
        runner.run(&ToolCall::internal(Action::HandOver {
            reason: "asked".into(),
        }));
        let lines: Vec<Value> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["field"], "name");
        assert_eq!(lines[0]["value"], "Ada");
        assert_eq!(lines[1]["event"], "handover");
    }
}
