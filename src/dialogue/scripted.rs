//! Scripted flows: a fixed sequence of prompts from a TOML file, for kiosks that must ask the
//! same questions every time and work with no language model at all.
//!
//! ```toml
//! name = "front-desk"
//! reprompt = "Sorry, I didn't catch that."   # said before repeating a question
//! closing = "Thank you, someone will be with you shortly."
//!
//! [[step]]
//! id = "name"
//! prompt = "Welcome! What is your name?"
//! ```
//!
//! The runner asks the first prompt after the user's first turn, records each answer against
//! the prompt it answers, and closes after the last. (Answer types, validation, branching and
//! saving answers to disk come with the kiosk work.)

use std::path::Path;

use serde::Deserialize;

use super::{Dialogue, DialogueError, Reply};

/// One question of a flow.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub prompt: String,
}

/// A flow file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub name: String,
    #[serde(default = "default_reprompt")]
    pub reprompt: String,
    pub closing: String,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

fn default_reprompt() -> String {
    "Sorry, I didn't catch that.".into()
}

impl Flow {
    pub fn load(path: &Path) -> Result<Flow, DialogueError> {
        let text = std::fs::read_to_string(path).map_err(|source| DialogueError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Flow, DialogueError> {
        let invalid = |message: String| DialogueError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let flow: Flow = toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
        if flow.steps.is_empty() {
            return Err(invalid(
                "a flow needs at least one [[step]] with an `id` and a `prompt`".into(),
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for step in &flow.steps {
            if step.prompt.trim().is_empty() {
                return Err(invalid(format!("step `{}` has an empty prompt", step.id)));
            }
            if !ids.insert(step.id.as_str()) {
                return Err(invalid(format!(
                    "step id `{}` is used twice; ids must be unique",
                    step.id
                )));
            }
        }
        Ok(flow)
    }
}

/// Walks a flow one user turn at a time.
pub struct FlowRunner {
    flow: Flow,
    /// The step whose prompt was said last.
    asked: Option<usize>,
    answers: Vec<(String, String)>,
    finished: bool,
}

impl FlowRunner {
    pub fn new(flow: Flow) -> Self {
        FlowRunner {
            flow,
            asked: None,
            answers: Vec::new(),
            finished: false,
        }
    }

    /// (step id, answer) pairs so far.
    pub fn answers(&self) -> &[(String, String)] {
        &self.answers
    }
}

impl Dialogue for FlowRunner {
    fn respond(&mut self, user_said: &str) -> Reply {
        let user_said = user_said.trim();
        if self.finished {
            return Reply {
                text: self.flow.closing.clone(),
                ends_conversation: true,
            };
        }
        let next = match self.asked {
            None => 0,
            Some(asked) if user_said.is_empty() => {
                return Reply {
                    text: format!("{} {}", self.flow.reprompt, self.flow.steps[asked].prompt),
                    ends_conversation: false,
                };
            }
            Some(asked) => {
                self.answers
                    .push((self.flow.steps[asked].id.clone(), user_said.to_string()));
                asked + 1
            }
        };
        match self.flow.steps.get(next) {
            Some(step) => {
                self.asked = Some(next);
                Reply {
                    text: step.prompt.clone(),
                    ends_conversation: false,
                }
            }
            None => {
                self.finished = true;
                Reply {
                    text: self.flow.closing.clone(),
                    ends_conversation: true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"
name = "t"
closing = "Bye."
[[step]]
id = "name"
prompt = "Your name?"
[[step]]
id = "why"
prompt = "Why are you here?"
"#;

    #[test]
    fn the_runner_asks_in_order_records_answers_and_closes() {
        let mut runner = FlowRunner::new(Flow::parse(Path::new("t.toml"), FLOW).unwrap());
        assert_eq!(runner.respond("hi").text, "Your name?");
        assert_eq!(runner.respond("").text, "Sorry, I didn't catch that. Your name?");
        assert_eq!(runner.respond("Ada").text, "Why are you here?");
        let last = runner.respond("a checkup");
        assert_eq!(
            last,
            Reply {
                text: "Bye.".into(),
                ends_conversation: true
            }
        );
        assert_eq!(
            runner.answers(),
            [("name".into(), "Ada".into()), ("why".into(), "a checkup".into())]
        );
    }

    #[test]
    fn bad_flows_name_the_problem() {
        let cases = [
            (
                "name = \"x\"\nclosing = \"b\"\nstep = []",
                "at least one [[step]]",
            ),
            (
                "name = \"x\"\nclosing = \"b\"\n[[step]]\nid = \"a\"\nprompt = \" \"",
                "empty prompt",
            ),
            (
                "name = \"x\"\nclosing = \"b\"\n[[step]]\nid = \"a\"\nprompt = \"q\"\n[[step]]\nid = \"a\"\nprompt = \"r\"",
                "used twice",
            ),
            ("name = \"x\"\n[[step]]\nid = \"a\"\nprompt = \"q\"", "closing"),
            (
                "name = \"x\"\nclosing = \"b\"\ncolour = 1\n[[step]]\nid = \"a\"\nprompt = \"q\"",
                "colour",
            ),
        ];
        for (text, needle) in cases {
            let error = Flow::parse(Path::new("flows/x.toml"), text)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("flows/x.toml") && error.contains(needle),
                "{needle}: {error}"
            );
        }
    }
}
