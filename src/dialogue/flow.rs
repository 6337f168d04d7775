//! Scripted flows: named questions from a TOML file, each with an answer type, a re-ask line,
//! branches on the answer, and a summary at the end — for kiosks that must ask the same
//! questions every time, check the answers and keep them, with no language model at all.
//!
//! ```toml
//! name = "front-desk"
//! reprompt = "Sorry, I didn't catch that."  # said before repeating a question after silence
//! closing = "Thank you, someone will be with you shortly."
//! summary = "I have you down as {name}, born {dob}."  # optional; {step id} is the answer
//! max_attempts = 3         # invalid answers before the question is skipped (recorded as null)
//! date_order = "month_first"  # how 03/04/1990 reads ("day_first" for 3 April)
//!
//! [[step]]
//! id = "dob"
//! prompt = "What is your date of birth?"
//! type = "date"            # text (default), yes_no, number, date, email, phone, choice
//! retry = "Please say the month, the day and the year."   # optional; each type has one
//!
//! [[step]]
//! id = "insured"
//! prompt = "Do you have insurance?"
//! type = "yes_no"
//! when = [{ equals = "no", goto = "end" }]   # branches, first match wins; `end` finishes
//! next = "insurer"                           # otherwise (default: the following step)
//! ```
//!
//! A branch may `say` something instead of the step's `ack`; a branch to `end` that says
//! something ends the flow with that line alone (no summary, no closing), for endings such as
//! "you are not eligible". The summary drops any sentence that mentions an unanswered step.
//!
//! Number steps take `min`, `max`, `integer` and branch with `below` / `at_least`; choice steps
//! take `choices = ["a", { value = "b", aliases = ["bee"] }]`. `ack` on a step is said after a
//! valid answer, before the next question (`"Thanks, {name}."`).
//!
//! [`FlowEngine`] is the sans-IO core: it takes what the user said and returns what to say and
//! which answer to record. It reads no clock and writes no file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::DialogueError;
use super::answers::{AnswerType, Choice, DateOrder};

/// The reserved branch target that finishes the flow.
pub const END: &str = "end";
const DEFAULT_MAX_ATTEMPTS: u32 = 3;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    name: String,
    #[serde(default = "default_reprompt")]
    reprompt: String,
    closing: String,
    summary: Option<String>,
    max_attempts: Option<u32>,
    skip_line: Option<String>,
    date_order: Option<String>,
    #[serde(rename = "step", default)]
    steps: Vec<StepFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    id: String,
    prompt: String,
    #[serde(rename = "type", default = "default_type")]
    kind: String,
    retry: Option<String>,
    ack: Option<String>,
    choices: Option<Vec<ChoiceFile>>,
    min: Option<f64>,
    max: Option<f64>,
    #[serde(default)]
    integer: bool,
    next: Option<String>,
    #[serde(default)]
    when: Vec<BranchFile>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ChoiceFile {
    Plain(String),
    Full {
        value: String,
        #[serde(default)]
        aliases: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchFile {
    equals: Option<String>,
    below: Option<f64>,
    at_least: Option<f64>,
    goto: String,
    say: Option<String>,
}

fn default_reprompt() -> String {
    "Sorry, I didn't catch that.".into()
}

fn default_type() -> String {
    "text".into()
}

/// Where a flow goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Step(usize),
    End,
}

/// What a branch tests.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The answer's value equals this (`yes`, a choice, a text) — case-insensitively.
    Equals(String),
    Below(f64),
    AtLeast(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    pub condition: Condition,
    pub goto: Target,
    /// Said instead of the step's ack; ending the flow, instead of the summary and closing.
    pub say: Option<String>,
}

/// One question.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub id: String,
    pub prompt: String,
    pub answer: AnswerType,
    pub retry: String,
    pub ack: Option<String>,
    pub branches: Vec<Branch>,
    pub next: Target,
}

/// A checked flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub name: String,
    pub reprompt: String,
    pub closing: String,
    pub summary: Option<String>,
    pub max_attempts: u32,
    pub skip_line: String,
    pub steps: Vec<Step>,
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
        let file: FlowFile =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
        if file.steps.is_empty() {
            return Err(invalid(
                "a flow needs at least one [[step]] with an `id` and a `prompt`".into(),
            ));
        }
        let mut index = BTreeMap::new();
        for (at, step) in file.steps.iter().enumerate() {
            if step.id == END {
                return Err(invalid(format!(
                    "`{END}` is reserved (it finishes the flow); rename the step"
                )));
            }
            if step.id.trim().is_empty() {
                return Err(invalid(format!("step {} has an empty `id`", at + 1)));
            }
            if index.insert(step.id.as_str(), at).is_some() {
                return Err(invalid(format!(
                    "step id `{}` is used twice; ids must be unique",
                    step.id
                )));
            }
        }
        let target = |from: &str, name: &str| -> Result<Target, DialogueError> {
            if name == END {
                return Ok(Target::End);
            }
            index.get(name).map(|&at| Target::Step(at)).ok_or_else(|| {
                invalid(format!(
                    "step `{from}` goes to `{name}`, which is not a step (use a step id or `{END}`)"
                ))
            })
        };
        let date_order = match file.date_order.as_deref() {
            None | Some("month_first") => DateOrder::MonthFirst,
            Some("day_first") => DateOrder::DayFirst,
            Some(other) => {
                return Err(invalid(format!(
                    "date_order `{other}` is not one of: month_first, day_first"
                )));
            }
        };
        let mut steps = Vec::with_capacity(file.steps.len());
        for (at, step) in file.steps.iter().enumerate() {
            let id = step.id.as_str();
            if step.prompt.trim().is_empty() {
                return Err(invalid(format!("step `{id}` has an empty prompt")));
            }
            let only = |what: &str, present: bool, kinds: &str| -> Result<(), DialogueError> {
                if present {
                    Err(invalid(format!(
                        "step `{id}`: `{what}` applies to {kinds} steps only"
                    )))
                } else {
                    Ok(())
                }
            };
            if step.kind != "number" {
                only("min", step.min.is_some(), "number")?;
                only("max", step.max.is_some(), "number")?;
                only("integer", step.integer, "number")?;
            }
            if step.kind != "choice" {
                only("choices", step.choices.is_some(), "choice")?;
            }
            let answer = match step.kind.as_str() {
                "text" => AnswerType::Text,
                "yes_no" => AnswerType::YesNo,
                "number" => {
                    if let (Some(min), Some(max)) = (step.min, step.max)
                        && min > max
                    {
                        return Err(invalid(format!("step `{id}`: min {min} is above max {max}")));
                    }
                    AnswerType::Number {
                        min: step.min,
                        max: step.max,
                        integer: step.integer,
                    }
                }
                "date" => AnswerType::Date { order: date_order },
                "email" => AnswerType::Email,
                "phone" => AnswerType::Phone,
                "choice" => {
                    let choices: Vec<Choice> = step
                        .choices
                        .as_ref()
                        .map(|list| {
                            list.iter()
                                .map(|c| match c {
                                    ChoiceFile::Plain(value) => Choice {
                                        value: value.clone(),
                                        aliases: Vec::new(),
                                    },
                                    ChoiceFile::Full { value, aliases } => Choice {
                                        value: value.clone(),
                                        aliases: aliases.clone(),
                                    },
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if choices.len() < 2 {
                        return Err(invalid(format!(
                            "step `{id}` is a choice but lists {} choices; give at least two in `choices`",
                            choices.len()
                        )));
                    }
                    AnswerType::Choice { choices }
                }
                other => {
                    return Err(invalid(format!(
                        "step `{id}` has type `{other}`; use one of: text, yes_no, number, date, email, phone, choice"
                    )));
                }
            };
            let mut branches = Vec::with_capacity(step.when.len());
            for branch in &step.when {
                let condition = match (&branch.equals, branch.below, branch.at_least) {
                    (Some(value), None, None) => {
                        check_equals(id, &answer, value).map_err(invalid)?;
                        Condition::Equals(value.clone())
                    }
                    (None, Some(below), None) if matches!(answer, AnswerType::Number { .. }) => {
                        Condition::Below(below)
                    }
                    (None, None, Some(at_least)) if matches!(answer, AnswerType::Number { .. }) => {
                        Condition::AtLeast(at_least)
                    }
                    (None, Some(_), None) | (None, None, Some(_)) => {
                        return Err(invalid(format!(
                            "step `{id}`: `below` and `at_least` apply to number steps only"
                        )));
                    }
                    _ => {
                        return Err(invalid(format!(
                            "step `{id}`: each `when` needs exactly one of `equals`, `below`, `at_least`, and a `goto`"
                        )));
                    }
                };
                branches.push(Branch {
                    condition,
                    goto: target(id, &branch.goto)?,
                    say: branch.say.clone(),
                });
            }
            let next = match &step.next {
                Some(name) => target(id, name)?,
                None if at + 1 < file.steps.len() => Target::Step(at + 1),
                None => Target::End,
            };
            steps.push(Step {
                id: step.id.clone(),
                prompt: step.prompt.trim().to_string(),
                retry: step.retry.clone().unwrap_or_else(|| answer.default_retry()),
                ack: step.ack.clone(),
                answer,
                branches,
                next,
            });
        }
        let flow = Flow {
            name: file.name,
            reprompt: file.reprompt,
            closing: file.closing,
            summary: file.summary,
            max_attempts: file.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1),
            skip_line: file.skip_line.unwrap_or_else(|| "Let's move on.".into()),
            steps,
        };
        let ids: BTreeSet<&str> = flow.steps.iter().map(|s| s.id.as_str()).collect();
        let mut texts: Vec<(String, &str)> = vec![("closing".into(), flow.closing.as_str())];
        if let Some(summary) = &flow.summary {
            texts.push(("summary".into(), summary));
        }
        for step in &flow.steps {
            texts.push((format!("step `{}` prompt", step.id), &step.prompt));
            if let Some(ack) = &step.ack {
                texts.push((format!("step `{}` ack", step.id), ack));
            }
            for branch in &step.branches {
                if let Some(say) = &branch.say {
                    texts.push((format!("step `{}` branch", step.id), say));
                }
            }
        }
        for (what, text) in texts {
            for name in placeholders(text) {
                if !ids.contains(name) {
                    return Err(invalid(format!(
                        "the {what} mentions {{{name}}}, but no step has that id"
                    )));
                }
            }
        }
        Ok(flow)
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

fn check_equals(id: &str, answer: &AnswerType, value: &str) -> Result<(), String> {
    match answer {
        AnswerType::YesNo if !matches!(value, "yes" | "no") => Err(format!(
            "step `{id}` is yes_no: `equals` must be \"yes\" or \"no\", not {value:?}"
        )),
        AnswerType::Choice { choices } if !choices.iter().any(|c| c.value.eq_ignore_ascii_case(value)) => {
            Err(format!(
                "step `{id}`: `equals = {value:?}` is not one of its choices"
            ))
        }
        _ => Ok(()),
    }
}

/// `{name}` placeholders in `text`.
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-'))
}

/// An answer the engine decided to record.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub step: String,
    pub kind: &'static str,
    /// `null` when the question was skipped after too many invalid answers.
    pub value: Value,
    /// What the user said, verbatim.
    pub heard: String,
}

/// What the engine does with one user turn.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowTurn {
    pub say: String,
    pub recorded: Option<Recorded>,
    /// The flow finished with this turn (its summary and closing are in `say`).
    pub finished_now: bool,
    /// The flow is over (now or earlier).
    pub finished: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotStarted,
    Asking { step: usize, attempts: u32 },
    Finished,
}

/// Walks a flow one user turn at a time. The first turn (whatever was said: "hello") gets the
/// first question.
pub struct FlowEngine {
    flow: Flow,
    state: State,
    /// Spoken forms of the answers so far, by step id (for placeholders).
    spoken: BTreeMap<String, String>,
}

impl FlowEngine {
    pub fn new(flow: Flow) -> FlowEngine {
        FlowEngine {
            flow,
            state: State::NotStarted,
            spoken: BTreeMap::new(),
        }
    }

    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    /// The id of the question waiting for an answer.
    pub fn asking(&self) -> Option<&str> {
        match self.state {
            State::Asking { step, .. } => Some(&self.flow.steps[step].id),
            _ => None,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Answers given so far (spoken forms), by step id.
    pub fn answers(&self) -> &BTreeMap<String, String> {
        &self.spoken
    }

    pub fn handle(&mut self, user_said: &str) -> FlowTurn {
        let said = user_said.trim();
        match self.state {
            State::NotStarted => self.go(Target::Step(0), None, None, false),
            State::Finished => FlowTurn {
                say: self.fill(&self.flow.closing),
                recorded: None,
                finished_now: false,
                finished: true,
            },
            State::Asking { step, .. } if said.is_empty() => FlowTurn {
                say: format!(
                    "{} {}",
                    self.flow.reprompt,
                    self.fill(&self.flow.steps[step].prompt)
                ),
                recorded: None,
                finished_now: false,
                finished: false,
            },
            State::Asking { step, attempts } => {
                let current = &self.flow.steps[step];
                match current.answer.parse(said) {
                    Some(answer) => {
                        let branch = current
                            .branches
                            .iter()
                            .find(|b| matches(&b.condition, &answer.value));
                        let target = branch.map_or(current.next, |b| b.goto);
                        let branch_say = branch.and_then(|b| b.say.clone());
                        let recorded = Recorded {
                            step: current.id.clone(),
                            kind: current.answer.name(),
                            value: answer.value,
                            heard: said.to_string(),
                        };
                        let ack = branch_say.clone().or_else(|| current.ack.clone());
                        self.spoken.insert(recorded.step.clone(), answer.spoken);
                        let ack = ack.map(|a| self.fill(&a));
                        self.go(target, Some(recorded), ack, branch_say.is_some())
                    }
                    None if attempts + 1 >= self.flow.max_attempts => {
                        let recorded = Recorded {
                            step: current.id.clone(),
                            kind: current.answer.name(),
                            value: Value::Null,
                            heard: said.to_string(),
                        };
                        let skip = self.flow.skip_line.clone();
                        let next = current.next;
                        self.go(next, Some(recorded), Some(skip), false)
                    }
                    None => {
                        self.state = State::Asking {
                            step,
                            attempts: attempts + 1,
                        };
                        FlowTurn {
                            say: format!("{} {}", current.retry, self.fill(&current.prompt)),
                            recorded: None,
                            finished_now: false,
                            finished: false,
                        }
                    }
                }
            }
        }
    }

    /// Moves to `target`, saying `lead` first. `lead_ends` makes `lead` the whole ending when
    /// the target is the end (a branch's own farewell).
    fn go(
        &mut self,
        target: Target,
        recorded: Option<Recorded>,
        lead: Option<String>,
        lead_ends: bool,
    ) -> FlowTurn {
        let mut say = lead
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .unwrap_or_default();
        let mut push = |text: String| {
            let text = text.trim();
            if text.is_empty() {
                return;
            }
            if !say.is_empty() {
                say.push(' ');
            }
            say.push_str(text);
        };
        match target {
            Target::Step(step) => {
                self.state = State::Asking { step, attempts: 0 };
                push(self.fill(&self.flow.steps[step].prompt));
                FlowTurn {
                    say,
                    recorded,
                    finished_now: false,
                    finished: false,
                }
            }
            Target::End => {
                self.state = State::Finished;
                if !lead_ends {
                    if let Some(summary) = &self.flow.summary {
                        push(self.fill_answered(summary));
                    }
                    push(self.fill(&self.flow.closing));
                }
                FlowTurn {
                    say,
                    recorded,
                    finished_now: true,
                    finished: true,
                }
            }
        }
    }

    /// `text` filled in, without the sentences that mention a step with no answer.
    fn fill_answered(&self, text: &str) -> String {
        let mut kept = Vec::new();
        for sentence in text.split_inclusive(['.', '!', '?']) {
            if placeholders(sentence).all(|name| self.spoken.contains_key(name)) {
                kept.push(self.fill(sentence).trim().to_string());
            }
        }
        kept.join(" ")
    }

    /// `text` with `{step id}` replaced by that answer ("not given" when there is none).
    fn fill(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.split_once('}') {
                Some((name, tail)) if self.flow.steps.iter().any(|s| s.id == name) => {
                    out.push_str(self.spoken.get(name).map_or("not given", String::as_str));
                    rest = tail;
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

fn matches(condition: &Condition, value: &Value) -> bool {
    match condition {
        Condition::Equals(expected) => match value {
            Value::String(s) => s.eq_ignore_ascii_case(expected),
            Value::Number(n) => n
                .as_f64()
                .is_some_and(|n| expected.parse::<f64>().is_ok_and(|e| e == n)),
            other => other.as_str() == Some(expected.as_str()),
        },
        Condition::Below(limit) => value.as_f64().is_some_and(|v| v < *limit),
        Condition::AtLeast(limit) => value.as_f64().is_some_and(|v| v >= *limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FLOW: &str = r#"
name = "t"
closing = "Bye."
summary = "You are {name}, {age} years old."
max_attempts = 2
[[step]]
id = "name"
prompt = "Your name?"
ack = "Thanks, {name}."
[[step]]
id = "age"
prompt = "How old are you?"
type = "number"
min = 0
max = 120
when = [{ below = 18, goto = "guardian" }]
next = "end"
[[step]]
id = "guardian"
prompt = "Is a parent with you?"
type = "yes_no"
"#;

    fn engine() -> FlowEngine {
        FlowEngine::new(Flow::parse(Path::new("t.toml"), FLOW).unwrap())
    }

    #[test]
    fn valid_answers_advance_and_branch_and_the_summary_reads_them_back() {
        let mut flow = engine();
        assert_eq!(flow.handle("hello").say, "Your name?");
        let turn = flow.handle("Ada");
        assert_eq!(turn.say, "Thanks, Ada. How old are you?");
        assert_eq!(turn.recorded.unwrap().value, json!("Ada"));
        let turn = flow.handle("thirty six");
        assert_eq!(turn.say, "You are Ada, 36 years old. Bye.");
        assert!(turn.finished_now && turn.finished);
        assert_eq!(turn.recorded.unwrap().value, json!(36));
        let after = flow.handle("anything else?");
        assert_eq!(after.say, "Bye.");
        assert!(after.finished && !after.finished_now && after.recorded.is_none());
    }

    #[test]
    fn invalid_answers_re_ask_then_skip() {
        let mut flow = engine();
        flow.handle("hi");
        flow.handle("Bo");
        assert_eq!(
            flow.handle("").say,
            "Sorry, I didn't catch that. How old are you?"
        );
        let turn = flow.handle("old enough");
        assert_eq!(turn.say, "Please say a number from 0 to 120. How old are you?");
        assert_eq!(turn.recorded, None);
        // Second invalid answer: max_attempts = 2, so the question is skipped, recorded as null.
        let turn = flow.handle("ancient");
        assert_eq!(turn.recorded.as_ref().unwrap().value, Value::Null);
        assert_eq!(turn.recorded.unwrap().heard, "ancient");
        // The summary's sentence about the unanswered age is left out.
        assert_eq!(turn.say, "Let's move on. Bye.");
    }

    #[test]
    fn a_branch_goes_to_its_step() {
        let mut flow = engine();
        flow.handle("hi");
        flow.handle("Tim");
        assert_eq!(flow.handle("twelve").say, "Is a parent with you?");
        assert_eq!(flow.asking(), Some("guardian"));
        let last = flow.handle("yes she is");
        assert_eq!(last.recorded.unwrap().value, json!("yes"));
        assert!(last.finished_now);
    }

    #[test]
    fn bad_flows_name_the_problem() {
        let step = "[[step]]\nid = \"a\"\nprompt = \"q\"\n";
        let cases = [
            (
                "name = \"x\"\nclosing = \"b\"\nstep = []".to_string(),
                "at least one [[step]]",
            ),
            (
                "name = \"x\"\nclosing = \"b\"\n[[step]]\nid = \"a\"\nprompt = \" \"".into(),
                "empty prompt",
            ),
            (
                format!("name = \"x\"\nclosing = \"b\"\n{step}{step}"),
                "used twice",
            ),
            (format!("name = \"x\"\n{step}"), "closing"),
            (
                format!("name = \"x\"\nclosing = \"b\"\ncolour = 1\n{step}"),
                "colour",
            ),
            (
                format!("name = \"x\"\nclosing = \"b\"\n{step}type = \"colour\""),
                "type `colour`",
            ),
            (
                format!("name = \"x\"\nclosing = \"b\"\n{step}next = \"z\""),
                "`z`, which is not a step",
            ),
            (
                format!("name = \"x\"\nclosing = \"b\"\n{step}type = \"choice\"\nchoices = [\"one\"]"),
                "at least two",
            ),
            (
                format!(
                    "name = \"x\"\nclosing = \"b\"\n{step}type = \"yes_no\"\nwhen = [{{ equals = \"maybe\", goto = \"end\" }}]"
                ),
                "\"yes\" or \"no\"",
            ),
            (
                format!("name = \"x\"\nclosing = \"b\"\n{step}when = [{{ below = 3, goto = \"end\" }}]"),
                "number steps only",
            ),
            (
                format!("name = \"x\"\nclosing = \"b\"\n{step}min = 3"),
                "`min` applies to number",
            ),
            (
                format!("name = \"x\"\nclosing = \"Bye {{who}}\"\n{step}"),
                "{who}",
            ),
            (
                "name = \"x\"\nclosing = \"b\"\n[[step]]\nid = \"end\"\nprompt = \"q\"".to_string(),
                "reserved",
            ),
        ];
        for (text, needle) in cases {
            let error = Flow::parse(Path::new("flows/x.toml"), &text)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("flows/x.toml") && error.contains(needle),
                "{needle}: {error}"
            );
        }
    }

    #[test]
    fn the_shipped_flows_load() {
        for name in ["front-desk-demo", "clinic-intake", "recruiting-prescreen"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("flows/{name}.toml"));
            let flow = Flow::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!flow.steps.is_empty());
        }
    }
}
