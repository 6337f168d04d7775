//! A typed walk over one TOML table that remembers where it is, so every error names the file,
//! the dotted key and what was expected, and unknown keys are caught (a typo in a pipeline file
//! must not be silently ignored).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::{Table, Value};

use super::ConfigError;

/// A view of one table at `prefix` inside `file`.
pub struct Section<'a> {
    file: &'a Path,
    prefix: String,
    table: Option<&'a Table>,
    used: BTreeSet<&'static str>,
}

impl<'a> Section<'a> {
    pub fn root(file: &'a Path, table: &'a Table) -> Self {
        Section {
            file,
            prefix: String::new(),
            table: Some(table),
            used: BTreeSet::new(),
        }
    }

    /// The sub-table `key`; a missing key reads as an empty table (all defaults).
    pub fn section(&mut self, key: &'static str) -> Result<Section<'a>, ConfigError> {
        self.used.insert(key);
        let table = match self.table.and_then(|t| t.get(key)) {
            None => None,
            Some(Value::Table(table)) => Some(table),
            Some(other) => return Err(self.wrong_type(key, "a table", other)),
        };
        Ok(Section {
            file: self.file,
            prefix: self.key_path(key),
            table,
            used: BTreeSet::new(),
        })
    }

    /// The pipeline file being read.
    pub fn file(&self) -> &Path {
        self.file
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: self.key_path(key),
            message: message.into(),
        }
    }

    fn wrong_type(&self, key: &str, expected: &str, found: &Value) -> ConfigError {
        self.error(key, format!("expected {expected}, found {}", describe(found)))
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.insert(key);
        self.table.and_then(|t| t.get(key))
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.is_some_and(|t| t.contains_key(key))
    }

    pub fn string(&mut self, key: &'static str, default: &str) -> Result<String, ConfigError> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// A string, or `None` when the key is absent.
    pub fn optional_string(&mut self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    pub fn boolean(&mut self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Boolean(b)) => Ok(*b),
            Some(other) => Err(self.wrong_type(key, "true or false", other)),
        }
    }

    /// A number (integer or float) within `min..=max`, or `None` when absent.
    pub fn optional_float(
        &mut self,
        key: &'static str,
        min: f64,
        max: f64,
    ) -> Result<Option<f64>, ConfigError> {
        let value = match self.get(key) {
            None => return Ok(None),
            Some(Value::Integer(i)) => *i as f64,
            Some(Value::Float(f)) => *f,
            Some(other) => return Err(self.wrong_type(key, &format!("a number from {min} to {max}"), other)),
        };
        if value.is_finite() && (min..=max).contains(&value) {
            Ok(Some(value))
        } else {
            Err(self.error(
                key,
                format!("{value} is out of range: expected a number from {min} to {max}"),
            ))
        }
    }

    /// A string or an integer, as text (speaker names or numbers), or `None` when absent.
    pub fn name_or_number(&mut self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Integer(i)) => Ok(Some(i.to_string())),
            Some(other) => Err(self.wrong_type(key, "a name or a number", other)),
        }
    }

    /// A string that must be one of `choices`.
    pub fn choice(
        &mut self,
        key: &'static str,
        default: &str,
        choices: &[&str],
    ) -> Result<String, ConfigError> {
        let value = self.string(key, default)?;
        if choices.contains(&value.as_str()) {
            Ok(value)
        } else {
            Err(self.error(key, format!("`{value}` is not one of: {}", choices.join(", "))))
        }
    }

    pub fn integer(
        &mut self,
        key: &'static str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        let value = match self.get(key) {
            None => default,
            Some(Value::Integer(i)) => *i,
            Some(other) => {
                return Err(self.wrong_type(key, &format!("an integer from {min} to {max}"), other));
            }
        };
        if (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(self.error(
                key,
                format!("{value} is out of range: expected an integer from {min} to {max}"),
            ))
        }
    }

    /// A number (integers allowed) in `min..=max`.
    pub fn number(
        &mut self,
        key: &'static str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<f64, ConfigError> {
        let value = match self.get(key) {
            None => default,
            Some(Value::Integer(i)) => *i as f64,
            Some(Value::Float(f)) => *f,
            Some(other) => return Err(self.wrong_type(key, &format!("a number from {min} to {max}"), other)),
        };
        if value.is_finite() && (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(self.error(
                key,
                format!("{value} is out of range: expected a number from {min} to {max}"),
            ))
        }
    }

    /// An array of strings.
    pub fn strings(&mut self, key: &'static str, default: &[&str]) -> Result<Vec<String>, ConfigError> {
        match self.get(key) {
            None => Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.error(
                        key,
                        format!("item {i} should be a string, found {}", describe(other)),
                    )),
                })
                .collect(),
            Some(other) => Err(self.wrong_type(key, "an array of strings", other)),
        }
    }

    /// A duration written as a number of milliseconds.
    pub fn millis(
        &mut self,
        key: &'static str,
        default_ms: u64,
        min_ms: u64,
        max_ms: u64,
    ) -> Result<Duration, ConfigError> {
        let ms = self.integer(key, default_ms as i64, min_ms as i64, max_ms as i64)?;
        Ok(Duration::from_millis(ms as u64))
    }

    /// The optional latency budget of a stage, `budget_ms` (a positive number of milliseconds;
    /// fractions allowed so a test can set an impossibly low one).
    pub fn budget(&mut self, default_ms: Option<f64>) -> Result<Option<Duration>, ConfigError> {
        let value = match self.get("budget_ms") {
            None => default_ms,
            Some(Value::Integer(i)) => Some(*i as f64),
            Some(Value::Float(f)) => Some(*f),
            Some(other) => {
                return Err(self.wrong_type("budget_ms", "a positive number of milliseconds", other));
            }
        };
        match value {
            None => Ok(None),
            Some(ms) if ms.is_finite() && ms > 0.0 && ms <= 600_000.0 => {
                Ok(Some(Duration::from_secs_f64(ms / 1000.0)))
            }
            Some(ms) => Err(self.error(
                "budget_ms",
                format!("{ms} is not a positive number of milliseconds (at most 600000)"),
            )),
        }
    }

    /// A path relative to the pipeline file's folder (absolute paths are kept). `None` when absent.
    pub fn path(&mut self, key: &'static str) -> Result<Option<PathBuf>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => {
                Err(self.error(key, "expected a file path, found an empty string"))
            }
            Some(Value::String(s)) => {
                let base = self.file.parent().unwrap_or(Path::new("."));
                Ok(Some(base.join(s)))
            }
            Some(other) => Err(self.wrong_type(key, "a file path", other)),
        }
    }

    /// Like [`Section::path`], but the file must exist.
    pub fn existing_file(
        &mut self,
        key: &'static str,
        what: &str,
        hint: &str,
    ) -> Result<PathBuf, ConfigError> {
        let Some(path) = self.path(key)? else {
            return Err(self.error(key, format!("is required: the path of the {what}")));
        };
        if path.is_file() {
            Ok(path)
        } else {
            Err(ConfigError::MissingFile {
                file: self.file.to_path_buf(),
                key: self.key_path(key),
                what: what.to_string(),
                missing: path,
                hint: hint.to_string(),
            })
        }
    }

    /// Integer-valued entries of this table, for free-form maps (edge capacities).
    pub fn integer_entries(&mut self) -> Result<Vec<(String, i64)>, ConfigError> {
        let Some(table) = self.table else {
            return Ok(Vec::new());
        };
        table
            .iter()
            .map(|(key, value)| match value {
                Value::Integer(i) => Ok((key.clone(), *i)),
                other => Err(self.error(key, format!("expected an integer, found {}", describe(other)))),
            })
            .collect()
    }

    /// Rejects keys this section did not read.
    pub fn finish(self) -> Result<(), ConfigError> {
        let Some(table) = self.table else {
            return Ok(());
        };
        for key in table.keys() {
            if !self.used.contains(key.as_str()) {
                let known: Vec<&str> = self.used.iter().copied().collect();
                return Err(self.error(
                    key,
                    format!(
                        "unknown key (known keys here: {})",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::Datetime(d) => format!("the date {d}"),
        Value::Array(_) => "an array".into(),
        Value::Table(_) => "a table".into(),
    }
}
