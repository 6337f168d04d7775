//! Answer types of scripted flows, and how a spoken answer becomes a checked value.
//!
//! Answers arrive as speech-to-text transcripts, so they are parsed the way people say them:
//! "yeah, I do", "about five years", "March fourteenth nineteen ninety", "jane dot doe at
//! example dot com", "five five five, one two three, four five six seven". Each parser either
//! returns the value (stored in the answer file, compared by branches) with a form to read back
//! in a summary, or `None`, and the flow re-asks. Rules are deliberately plain and English-only;
//! nothing guesses beyond what was said.

use crate::tts::normalize::{MONTHS, days_in_month, ordinal};
use serde_json::{Value, json};

/// What a step expects.
#[derive(Clone, Debug, PartialEq)]
pub enum AnswerType {
    /// Anything with a letter or digit in it.
    Text,
    YesNo,
    /// A number within `min..=max` (either bound optional); `integer` refuses fractions.
    Number {
        min: Option<f64>,
        max: Option<f64>,
        integer: bool,
    },
    /// A calendar date; numeric dates are read in `order`.
    Date {
        order: DateOrder,
    },
    Email,
    Phone,
    Choice {
        choices: Vec<Choice>,
    },
}

/// How a numeric date like 03/04/2024 is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateOrder {
    MonthFirst,
    DayFirst,
}

/// One option of a choice step, and other ways people say it.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub value: String,
    pub aliases: Vec<String>,
}

/// A checked answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// What is stored and compared (`"yes"`, `5`, `"1990-03-14"`, `"jane.doe@example.com"` …).
    pub value: Value,
    /// How it reads back in a summary (`"March 14th, 1990"`).
    pub spoken: String,
}

impl AnswerType {
    /// The type's name in flow files and answer records.
    pub fn name(&self) -> &'static str {
        match self {
            AnswerType::Text => "text",
            AnswerType::YesNo => "yes_no",
            AnswerType::Number { .. } => "number",
            AnswerType::Date { .. } => "date",
            AnswerType::Email => "email",
            AnswerType::Phone => "phone",
            AnswerType::Choice { .. } => "choice",
        }
    }

    /// The line said before re-asking, when a step does not set its own.
    pub fn default_retry(&self) -> String {
        match self {
            AnswerType::Text => "Sorry, I didn't catch that.".into(),
            AnswerType::YesNo => "Sorry, please answer yes or no.".into(),
            AnswerType::Number { min, max, .. } => match (min, max) {
                (Some(min), Some(max)) => format!("Please say a number from {min} to {max}."),
                (Some(min), None) => format!("Please say a number, {min} or more."),
                (None, Some(max)) => format!("Please say a number, {max} or less."),
                (None, None) => "Please say a number.".into(),
            },
            AnswerType::Date { .. } => {
                "Please say the date with the month, the day and the year, like March 14th, 1990.".into()
            }
            AnswerType::Email => {
                "Please say the email address slowly, like jane dot doe at example dot com.".into()
            }
            AnswerType::Phone => "Please say the phone number digit by digit.".into(),
            AnswerType::Choice { choices } => {
                let names: Vec<&str> = choices.iter().map(|c| c.value.as_str()).collect();
                format!("Please choose one of: {}.", or_list(&names))
            }
        }
    }

    /// Parses what the user said.
    pub fn parse(&self, heard: &str) -> Option<Answer> {
        let heard = heard.trim();
        match self {
            AnswerType::Text => heard.chars().any(char::is_alphanumeric).then(|| Answer {
                value: json!(heard.trim_end_matches(['.', '!', '?']).trim()),
                spoken: heard.trim_end_matches(['.', '!', '?']).trim().to_string(),
            }),
            AnswerType::YesNo => yes_no(heard).map(|yes| {
                let word = if yes { "yes" } else { "no" };
                Answer {
                    value: json!(word),
                    spoken: word.into(),
                }
            }),
            AnswerType::Number { min, max, integer } => {
                let n = number(heard)?;
                let in_range = min.is_none_or(|min| n >= min)
                    && max.is_none_or(|max| n <= max)
                    && (!integer || n.fract() == 0.0);
                in_range.then(|| Answer {
                    value: if n.fract() == 0.0 && n.abs() < 1e15 {
                        json!(n as i64)
                    } else {
                        json!(n)
                    },
                    spoken: format_number(n),
                })
            }
            AnswerType::Date { order } => date(heard, *order).map(|(y, m, d)| Answer {
                value: json!(format!("{y:04}-{m:02}-{d:02}")),
                spoken: format!("{} {}, {y}", MONTHS[m as usize - 1], ordinal(d)),
            }),
            AnswerType::Email => email(heard).map(|address| Answer {
                spoken: address.replace('.', " dot ").replace('@', " at "),
                value: json!(address),
            }),
            AnswerType::Phone => phone(heard).map(|digits| Answer {
                spoken: group_digits(&digits),
                value: json!(digits),
            }),
            AnswerType::Choice { choices } => choice(heard, choices).map(|c| Answer {
                value: json!(c.value),
                spoken: c.value.clone(),
            }),
        }
    }
}

fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Lowercase words: letters, digits and apostrophes; everything else separates.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('’', "'"))
        .collect()
}

/// `Some(true)` for yes, `Some(false)` for no: the first word that decides.
pub fn yes_no(heard: &str) -> Option<bool> {
    const YES: &[&str] = &[
        "yes",
        "yeah",
        "yep",
        "yup",
        "ya",
        "yea",
        "sure",
        "correct",
        "right",
        "absolutely",
        "definitely",
        "certainly",
        "affirmative",
        "indeed",
        "ok",
        "okay",
        "true",
    ];
    const NO: &[&str] = &[
        "no", "nope", "nah", "not", "never", "negative", "don't", "dont", "doesn't", "haven't", "hasn't",
        "didn't", "isn't", "wasn't", "can't", "cannot", "won't", "aren't", "false", "none",
    ];
    const AUXILIARY: &[&str] = &[
        "do", "does", "did", "am", "is", "are", "have", "has", "can", "will", "was",
    ];
    let words = words(heard);
    for (i, word) in words.iter().enumerate() {
        if NO.contains(&word.as_str()) {
            return Some(false);
        }
        if YES.contains(&word.as_str()) {
            return Some(true);
        }
        if word == "of" && words.get(i + 1).is_some_and(|w| w == "course") {
            return Some(true);
        }
        // "I do", "I have": yes, unless a negation follows ("I do not").
        if AUXILIARY.contains(&word.as_str())
            && i > 0
            && matches!(words[i - 1].as_str(), "i" | "we" | "it" | "she" | "he" | "they")
        {
            let negated = words[i + 1..].iter().any(|w| NO.contains(&w.as_str()));
            return Some(!negated);
        }
    }
    None
}

const UNITS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: &[&str] = &[
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const ORDINALS: &[&str] = &[
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
];

fn unit_value(word: &str) -> Option<u32> {
    UNITS.iter().position(|u| *u == word).map(|p| p as u32)
}

fn tens_value(word: &str) -> Option<u32> {
    TENS.iter()
        .position(|t| !t.is_empty() && *t == word)
        .map(|p| p as u32 * 10)
}

fn ordinal_value(word: &str) -> Option<u32> {
    if let Some(p) = ORDINALS.iter().position(|o| *o == word) {
        return Some(p as u32);
    }
    match word {
        "twentieth" => Some(20),
        "thirtieth" => Some(30),
        _ => None,
    }
}

/// Digits with an optional ordinal suffix: `14`, `14th`, `1st`.
fn digits_value(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    let suffix_ok = matches!(suffix, "" | "st" | "nd" | "rd" | "th");
    (suffix_ok && !digits.is_empty() && digits.len() <= 9 && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The first number in what was said: digits (`5`, `2.5`, `1,200`) or words ("twenty five",
/// "two and a half", "a hundred", "none").
pub fn number(heard: &str) -> Option<f64> {
    for token in heard.split(|c: char| c.is_whitespace() || c == '$') {
        let token = token.trim_matches(|c: char| !c.is_ascii_digit());
        if !token.is_empty() && token.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            let cleaned: String = token.chars().filter(|c| *c != ',').collect();
            if let Ok(n) = cleaned.parse::<f64>() {
                return Some(n);
            }
        }
    }
    let words: Vec<String> = words(&heard.replace('-', " "));
    let mut i = 0;
    while i < words.len() {
        if let Some((n, _)) = number_words(&words[i..]) {
            return Some(n);
        }
        if words[i] == "none" || words[i] == "zero" {
            return Some(0.0);
        }
        i += 1;
    }
    None
}

/// A number spelled out at the start of `words`: its value and how many words it took.
fn number_words(words: &[String]) -> Option<(f64, usize)> {
    let mut total: u64 = 0;
    let mut current: u64 = 0;
    let mut used = 0;
    let mut any = false;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if let Some(u) = unit_value(w) {
            current += u64::from(u);
            any = true;
        } else if let Some(t) = tens_value(w) {
            current += u64::from(t);
            any = true;
        } else if w == "hundred" && (any || i > 0) {
            current = current.max(1) * 100;
            any = true;
        } else if (w == "thousand" || w == "million") && (any || i > 0) {
            let scale = if w == "thousand" { 1_000 } else { 1_000_000 };
            total += current.max(1) * scale;
            current = 0;
            any = true;
        } else if (w == "a" || w == "an")
            && words
                .get(i + 1)
                .is_some_and(|n| n == "hundred" || n == "thousand")
        {
            current = 1;
        } else if w == "and"
            && any
            && words
                .get(i + 1)
                .is_some_and(|n| unit_value(n).is_some() || tens_value(n).is_some())
        {
            // "a hundred and five"
        } else if w == "and"
            && any
            && words.get(i + 1).is_some_and(|n| n == "a")
            && words.get(i + 2).is_some_and(|n| n == "half")
        {
            return Some(((total + current) as f64 + 0.5, i + 3));
        } else if w == "point" && any {
            let mut fraction = String::new();
            let mut j = i + 1;
            while let Some(d) = words.get(j).and_then(|w| unit_value(w)).filter(|d| *d < 10) {
                fraction.push(char::from_digit(d, 10).expect("a digit"));
                j += 1;
            }
            if fraction.is_empty() {
                break;
            }
            let value: f64 = format!("{}.{fraction}", total + current).parse().ok()?;
            return Some((value, j));
        } else {
            break;
        }
        used = i + 1;
        i += 1;
    }
    if any {
        Some(((total + current) as f64, used))
    } else if words.first().is_some_and(|w| w == "half")
        || (words.first().is_some_and(|w| w == "a") && words.get(1).is_some_and(|w| w == "half"))
    {
        Some((0.5, if words[0] == "a" { 2 } else { 1 }))
    } else {
        None
    }
}

/// A month by name or by its first three (or more) letters.
fn month_value(word: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| word.len() >= 3 && m.to_ascii_lowercase().starts_with(word))
        .map(|p| p as u32 + 1)
}

fn valid_date(y: i64, m: u32, d: u32) -> Option<(i32, u32, u32)> {
    let y = i32::try_from(y).ok()?;
    ((1900..=2100).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
        .then_some((y, m, d))
}

/// A day of the month at the start of `words`: `14`, `14th`, "fourteenth", "twenty first",
/// "fourteen". Returns the day and the words used.
fn day_words(words: &[String]) -> Option<(u32, usize)> {
    let first = words.first()?;
    if let Some(d) = digits_value(first).filter(|d| (1..=31).contains(d)) {
        return Some((d, 1));
    }
    if let Some(d) = ordinal_value(first).filter(|d| *d >= 1) {
        return Some((d, 1));
    }
    if let Some(t) = tens_value(first).filter(|t| *t <= 30) {
        if let Some(next) = words.get(1)
            && let Some(u) = ordinal_value(next)
                .or_else(|| unit_value(next))
                .filter(|u| (1..=9).contains(u))
        {
            return Some((t + u, 2));
        }
        return Some((t, 1));
    }
    unit_value(first).filter(|d| *d >= 1).map(|d| (d, 1))
}

/// A year at the start of `words`: `1990`, "nineteen ninety", "nineteen eighty five", "two
/// thousand and five", "twenty twenty four".
fn year_words(words: &[String]) -> Option<i64> {
    let first = words.first()?;
    if let Some(y) = digits_value(first).filter(|_| first.len() == 4) {
        return Some(i64::from(y));
    }
    // "two thousand (and) five"
    if let Some((n, _)) = number_words(words).filter(|(n, _)| *n >= 1000.0) {
        return Some(n as i64);
    }
    // century + two digits: "nineteen ninety", "twenty twenty four", "nineteen oh five".
    let century = unit_value(first)
        .filter(|c| (10..=19).contains(c))
        .or_else(|| tens_value(first).filter(|t| *t == 20))?;
    let rest = &words[1..];
    let (tail, _) = match rest.first().map(String::as_str) {
        Some("oh" | "o") => {
            let digit = rest.get(1).and_then(|w| unit_value(w)).filter(|d| *d < 10)?;
            (f64::from(digit), 2)
        }
        Some("hundred") => (0.0, 1),
        _ => number_words(rest).filter(|(n, _)| *n < 100.0)?,
    };
    Some(i64::from(century) * 100 + tail as i64)
}

/// A calendar date, as (year, month, day).
pub fn date(heard: &str, order: DateOrder) -> Option<(i32, u32, u32)> {
    // Numeric forms first: 1990-03-14, 3/14/1990, 14.03.1990.
    for token in heard.split(|c: char| c.is_whitespace() || c == ',') {
        let token = token.trim_end_matches('.');
        let parts: Vec<&str> = token.split(['-', '/', '.']).collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            let n: Vec<i64> = parts.iter().filter_map(|p| p.parse().ok()).collect();
            let found = if parts[0].len() == 4 {
                valid_date(n[0], n[1] as u32, n[2] as u32)
            } else {
                let year = if parts[2].len() == 2 { 2000 + n[2] } else { n[2] };
                let (m, d) = match order {
                    DateOrder::MonthFirst if n[0] <= 12 => (n[0], n[1]),
                    _ => (n[1], n[0]),
                };
                valid_date(year, m as u32, d as u32)
            };
            if found.is_some() {
                return found;
            }
        }
    }
    let words: Vec<String> = words(&heard.replace('-', " "))
        .into_iter()
        .filter(|w| {
            !matches!(
                w.as_str(),
                "the" | "of" | "on" | "in" | "born" | "it's" | "its" | "is" | "was"
            )
        })
        .collect();
    let month_at = words.iter().position(|w| month_value(w).is_some())?;
    let month = month_value(&words[month_at])?;
    // "March 14th 1990" / "March fourteenth nineteen ninety"
    if let Some((day, used)) = day_words(&words[month_at + 1..])
        && let Some(year) = year_words(&words[month_at + 1 + used..])
        && let Some(found) = valid_date(year, month, day)
    {
        return Some(found);
    }
    // "14th (of) March 1990"
    let before = &words[..month_at];
    for start in 0..before.len() {
        if let Some((day, used)) = day_words(&before[start..])
            && start + used == before.len()
            && let Some(year) = year_words(&words[month_at + 1..])
            && let Some(found) = valid_date(year, month, day)
        {
            return Some(found);
        }
    }
    None
}

/// An email address, spoken ("jane dot doe at example dot com") or written.
pub fn email(heard: &str) -> Option<String> {
    let lower = heard.to_lowercase();
    let mut address = String::new();
    for word in lower.split_whitespace() {
        let word = word.trim_matches(|c: char| matches!(c, ',' | '!' | '?' | '"'));
        match word {
            "at" => address.push('@'),
            "dot" | "period" | "point" => address.push('.'),
            "underscore" => address.push('_'),
            "dash" | "hyphen" | "minus" => address.push('-'),
            "plus" => address.push('+'),
            "is" | "my" | "email" | "address" | "it's" | "its" => {}
            other => address.push_str(other),
        }
    }
    let address = address.trim_end_matches('.').to_string();
    let (local, domain) = address.split_once('@')?;
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    (local_ok && domain_ok).then_some(address)
}

/// A phone number as its digits (with a leading `+` when said): 7 to 15 digits, from digits
/// or digit words ("oh" is zero; "double five" is 55).
pub fn phone(heard: &str) -> Option<String> {
    let lower = heard.to_lowercase();
    let mut digits = String::new();
    let mut repeat = 1;
    let mut plus = false;
    for word in
        lower.split(|c: char| c.is_whitespace() || c == ',' || c == '-' || c == '.' || c == '(' || c == ')')
    {
        if word.is_empty() {
            continue;
        }
        let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '+');
        if let Some(rest) = word.strip_prefix('+') {
            plus = digits.is_empty();
            if rest.chars().all(|c| c.is_ascii_digit()) {
                digits.push_str(rest);
            }
            continue;
        }
        if word.chars().all(|c| c.is_ascii_digit()) && !word.is_empty() {
            digits.push_str(word);
            continue;
        }
        let digit = match word {
            "oh" | "o" | "zero" => Some(0),
            "plus" => {
                plus = digits.is_empty();
                None
            }
            "double" => {
                repeat = 2;
                continue;
            }
            "triple" => {
                repeat = 3;
                continue;
            }
            w => unit_value(w).filter(|d| *d < 10),
        };
        if let Some(d) = digit {
            for _ in 0..repeat {
                digits.push(char::from_digit(d, 10).expect("a digit"));
            }
        }
        repeat = 1;
    }
    ((7..=15).contains(&digits.len())).then(|| if plus { format!("+{digits}") } else { digits })
}

/// Digits grouped for reading back: 555-123-4567 for ten digits, else in threes.
fn group_digits(digits: &str) -> String {
    let (plus, body) = match digits.strip_prefix('+') {
        Some(body) => ("+", body),
        None => ("", digits),
    };
    let grouped = if body.len() == 10 {
        format!("{}-{}-{}", &body[..3], &body[3..6], &body[6..])
    } else {
        body.as_bytes()
            .chunks(3)
            .map(|c| std::str::from_utf8(c).expect("ASCII digits"))
            .collect::<Vec<_>>()
            .join("-")
    };
    format!("{plus}{grouped}")
}

/// The one choice that was said (by name, alias, or position: "the second one").
pub fn choice<'c>(heard: &str, choices: &'c [Choice]) -> Option<&'c Choice> {
    let said = words(&heard.replace('-', " "));
    let said_line = format!(" {} ", said.join(" "));
    let phrase = |text: &str| format!(" {} ", words(&text.replace('-', " ")).join(" "));
    let matched: Vec<&Choice> = choices
        .iter()
        .filter(|c| {
            std::iter::once(&c.value)
                .chain(&c.aliases)
                .any(|p| said_line.contains(&phrase(p)))
        })
        .collect();
    match matched.as_slice() {
        [one] => Some(one),
        [] => {
            // "the first one", "option two", "number three"
            let position = said.iter().find_map(|w| {
                ordinal_value(w).filter(|p| *p >= 1).or_else(|| {
                    (said.len() <= 3)
                        .then(|| unit_value(w))
                        .flatten()
                        .filter(|p| *p >= 1)
                })
            })?;
            choices.get(position as usize - 1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_and_no_the_way_people_say_them() {
        for yes in [
            "Yes.",
            "yeah I do",
            "Sure!",
            "I do",
            "I have, yes",
            "of course",
            "Correct",
            "yep",
        ] {
            assert_eq!(yes_no(yes), Some(true), "{yes}");
        }
        for no in [
            "No.",
            "nope",
            "I don't",
            "I do not",
            "not really",
            "I have never",
            "Nah, no licence",
        ] {
            assert_eq!(yes_no(no), Some(false), "{no}");
        }
        for neither in ["", "maybe", "the weather is nice", "um"] {
            assert_eq!(yes_no(neither), None, "{neither}");
        }
    }

    #[test]
    fn numbers_in_digits_and_words() {
        let cases: &[(&str, f64)] = &[
            ("5", 5.0),
            ("about 12 years", 12.0),
            ("1,200 dollars", 1200.0),
            ("2.5", 2.5),
            ("twenty five", 25.0),
            ("twenty-five", 25.0),
            ("I have three years", 3.0),
            ("a hundred and five", 105.0),
            ("two thousand three hundred", 2300.0),
            ("two and a half", 2.5),
            ("three point five", 3.5),
            ("none", 0.0),
            ("zero", 0.0),
        ];
        for (said, expected) in cases {
            assert_eq!(number(said), Some(*expected), "{said}");
        }
        assert_eq!(number("lots"), None);
        let years = AnswerType::Number {
            min: Some(0.0),
            max: Some(60.0),
            integer: true,
        };
        assert_eq!(years.parse("five").unwrap().value, json!(5));
        assert!(years.parse("seventy").is_none());
        assert!(years.parse("two and a half").is_none());
    }

    #[test]
    fn dates_spoken_and_written() {
        let order = DateOrder::MonthFirst;
        let cases = [
            ("March 14th, 1990", (1990, 3, 14)),
            ("march fourteenth nineteen ninety", (1990, 3, 14)),
            ("the 14th of March 1990", (1990, 3, 14)),
            ("fourteenth of march nineteen ninety", (1990, 3, 14)),
            ("It's July twenty first, nineteen eighty five", (1985, 7, 21)),
            ("January 3 two thousand and five", (2005, 1, 3)),
            ("Sept 9 2024", (2024, 9, 9)),
            ("December thirty first twenty twenty four", (2024, 12, 31)),
            ("May 5, nineteen oh five", (1905, 5, 5)),
            ("1990-03-14", (1990, 3, 14)),
            ("3/14/1990", (1990, 3, 14)),
            ("born on 14/3/1990", (1990, 3, 14)),
        ];
        for (said, expected) in cases {
            assert_eq!(date(said, order), Some(expected), "{said}");
        }
        assert_eq!(date("3/4/1990", DateOrder::DayFirst), Some((1990, 4, 3)));
        for bad in [
            "February 30th 1990",
            "March 1990",
            "sometime in the spring",
            "13/13/1990",
            "March 14th",
        ] {
            assert_eq!(date(bad, order), None, "{bad}");
        }
        let answer = AnswerType::Date { order }
            .parse("march fourteenth nineteen ninety")
            .unwrap();
        assert_eq!(answer.value, json!("1990-03-14"));
        assert_eq!(answer.spoken, "March 14th, 1990");
    }

    #[test]
    fn emails_spoken_and_written() {
        assert_eq!(
            email("jane dot doe at example dot com").as_deref(),
            Some("jane.doe@example.com")
        );
        assert_eq!(
            email("My email is Jane.Doe@Example.com.").as_deref(),
            Some("jane.doe@example.com")
        );
        assert_eq!(
            email("j underscore smith at mail dot co dot uk").as_deref(),
            Some("j_smith@mail.co.uk")
        );
        for bad in [
            "jane at example",
            "at example dot com",
            "jane doe",
            "jane@@example.com",
            "jane at example dot c",
        ] {
            assert_eq!(email(bad), None, "{bad}");
        }
    }

    #[test]
    fn phone_numbers_digit_by_digit() {
        assert_eq!(phone("555-123-4567").as_deref(), Some("5551234567"));
        assert_eq!(
            phone("five five five, one two three, four five six seven").as_deref(),
            Some("5551234567")
        );
        assert_eq!(
            phone("oh seven double nine one two three four five six").as_deref(),
            Some("0799123456")
        );
        assert_eq!(
            phone("plus four four seven nine one one one two three four five six").as_deref(),
            Some("+447911123456")
        );
        assert_eq!(phone("(555) 123 4567").as_deref(), Some("5551234567"));
        assert_eq!(phone("five five five"), None);
        let answer = AnswerType::Phone.parse("555 123 4567").unwrap();
        assert_eq!(answer.spoken, "555-123-4567");
    }

    #[test]
    fn choices_by_name_alias_or_position() {
        let choices = vec![
            Choice {
                value: "full-time".into(),
                aliases: vec!["permanent".into()],
            },
            Choice {
                value: "part-time".into(),
                aliases: vec![],
            },
            Choice {
                value: "either".into(),
                aliases: vec!["both".into(), "don't mind".into()],
            },
        ];
        let pick = |said: &str| choice(said, &choices).map(|c| c.value.as_str());
        assert_eq!(pick("Full time please"), Some("full-time"));
        assert_eq!(pick("part-time"), Some("part-time"));
        assert_eq!(pick("a permanent job"), Some("full-time"));
        assert_eq!(pick("I don't mind"), Some("either"));
        assert_eq!(pick("the second one"), Some("part-time"));
        assert_eq!(pick("full time or part time"), None);
        assert_eq!(pick("weekends"), None);
    }

    #[test]
    fn text_needs_a_letter_or_digit() {
        assert_eq!(
            AnswerType::Text.parse("  Ada Lovelace. ").unwrap().value,
            json!("Ada Lovelace")
        );
        assert!(AnswerType::Text.parse(" ... ").is_none());
        assert!(AnswerType::Text.parse("").is_none());
    }
}
