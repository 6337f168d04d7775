//! What the words of a partial transcript say about turn taking.
//!
//! Two questions, answered from text alone:
//!
//! - **Is the user done?** [`completeness`] reads the end of a transcript: a trailing "and" or
//!   "um", digits of a phone number still being read out, or an e-mail address being spelled
//!   mean the user is mid-phrase (wait longer); a finished sentence means a short wait is enough.
//! - **Is this an interruption?** [`Words::content_words`] counts the words that are not
//!   backchannels ("mhm", "yeah", "okay", "right" — a configurable list), so "okay" while the
//!   avatar talks is not taken as the user taking the floor, and "okay, but what about Tuesday"
//!   is.
//!
//! Whisper writes non-speech as annotations — `[BLANK_AUDIO]`, `(coughs)`, `*laughs*`, `♪` —
//! which are never words here. Plain functions; nothing here knows about time or audio.

/// How a transcript ends, for the endpointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Completeness {
    /// Ends like a finished sentence: the short wait applies.
    Complete,
    /// Nothing either way (no punctuation, or no words).
    Unknown,
    /// Ends mid-phrase: the long wait applies.
    Incomplete(IncompleteCue),
}

/// Why a transcript looks unfinished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteCue {
    /// A conjunction, article, preposition or filler as the last word ("and", "the", "um").
    TrailingWord,
    /// A trailing comma, dash or ellipsis.
    TrailingPunctuation,
    /// Digits being read out, fewer than a phone number has.
    Digits,
    /// An e-mail address or a name being spelled letter by letter.
    Spelling,
}

/// Last words after which a sentence cannot have ended.
const TRAILING_WORDS: &[&str] = &[
    // conjunctions
    "and", "or", "but", "so", "because", "cause", "if", "then", "than", "that", "which", "who", "when",
    "while", "although", "though", "unless", "until", "whether", "where",
    // articles, determiners, possessives
    "the", "a", "an", "my", "your", "our", "their", "his", "her", "its", "this", "these", "those", "some",
    // prepositions
    "to", "of", "in", "on", "at", "for", "with", "from", "by", "about", "into", "like", "as",
    // auxiliaries and pronouns that need more
    "i", "i'm", "is", "are", "was", "were", "be", "am", "have", "has", "had", "will", "would", "can", "could",
    "should", "do", "does", "did", "it's", "there's", // fillers
    "um", "umm", "uh", "uhh", "er", "erm", "ah", "hmm", "mm", "well", "like", "you know",
];

/// Words that are digits when read out.
const DIGIT_WORDS: &[&str] = &[
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "double", "triple",
];

/// Words that only occur while an address is being spelled.
const SPELLING_WORDS: &[&str] = &["at", "dot", "underscore", "dash", "hyphen", "period"];

/// Digits a phone number has at least (national numbers without the country code).
const PHONE_DIGITS: usize = 10;

/// The backchannels the embedded default ignores while the avatar talks.
pub const DEFAULT_BACKCHANNELS: &[&str] = &[
    "mhm",
    "mm",
    "mmhmm",
    "mm-hmm",
    "uh-huh",
    "uh huh",
    "hmm",
    "yeah",
    "yep",
    "yes",
    "okay",
    "ok",
    "right",
    "sure",
    "alright",
    "all right",
    "i see",
    "got it",
    "cool",
    "nice",
    "oh",
    "ah",
];

/// A transcript reduced to its spoken words (lower case, no punctuation, no annotations).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Words {
    words: Vec<String>,
}

impl Words {
    pub fn of(text: &str) -> Words {
        Words {
            words: spoken(text).split_whitespace().map(str::to_string).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Words not covered by a backchannel phrase from `backchannels` (phrases may have several
    /// words: "uh huh", "i see"). "okay so what about tuesday" has four.
    pub fn content_words(&self, backchannels: &[String]) -> usize {
        let phrases: Vec<Vec<String>> = backchannels
            .iter()
            .map(|p| spoken(p).split_whitespace().map(str::to_string).collect())
            .filter(|p: &Vec<String>| !p.is_empty())
            .collect();
        let mut content = 0;
        let mut at = 0;
        while at < self.words.len() {
            let matched = phrases
                .iter()
                .filter(|p| self.words[at..].starts_with(p))
                .map(Vec::len)
                .max();
            match matched {
                Some(len) => at += len,
                None => {
                    content += 1;
                    at += 1;
                }
            }
        }
        content
    }
}

/// The spoken part of a transcript: annotations removed, lower case, punctuation dropped
/// except apostrophes and hyphens inside words.
fn spoken(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in without_annotations(text).chars() {
        if c.is_alphanumeric() || c == '\'' || c == '-' {
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    // A hyphen or apostrophe left alone (a dash between words) is a separator.
    out.split_whitespace()
        .map(|w| w.trim_matches(|c| c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The digits at the end of a transcript: (groups, digits). Numerals count their digits, each
/// group separated by spaces, dashes or dots ("555-12": 2 groups, 5 digits); spoken digits
/// count one each ("five five five": 3 groups). A lone "oh" is not a digit.
fn trailing_digits(trimmed: &str, words: &[String]) -> (usize, usize) {
    let tail: String = trimmed
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | ',' | '(' | ')' | '+'))
        .collect();
    let numeral_groups = tail
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .count();
    let numeral_digits = tail.chars().filter(char::is_ascii_digit).count();
    let spoken_run: Vec<&String> = words
        .iter()
        .rev()
        .take_while(|w| DIGIT_WORDS.contains(&w.as_str()) || w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    let spoken_digits = if spoken_run.iter().all(|w| w.as_str() == "oh") {
        0
    } else {
        spoken_run
            .iter()
            .map(|w| {
                if w.chars().all(|c| c.is_ascii_digit()) {
                    w.len()
                } else {
                    1
                }
            })
            .sum()
    };
    if spoken_digits > numeral_digits {
        (spoken_run.len(), spoken_digits)
    } else {
        (numeral_groups, numeral_digits)
    }
}

/// `text` without whisper's non-speech annotations, punctuation kept.
fn without_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0_i32;
    let mut in_stars = false;
    for c in text.chars() {
        match c {
            '[' | '(' | '{' | '<' => depth += 1,
            ']' | ')' | '}' | '>' => depth = (depth - 1).max(0),
            '*' => in_stars = !in_stars,
            '♪' | '♫' => {}
            _ if depth > 0 || in_stars => {}
            c => out.push(c),
        }
    }
    out
}

/// Reads the end of a transcript (see the module docs).
pub fn completeness(text: &str) -> Completeness {
    let spoken_text = without_annotations(text);
    let trimmed = spoken_text.trim_end();
    let words = Words::of(trimmed);
    let Some(last) = words.words.last() else {
        return Completeness::Unknown;
    };

    let sentence_end = trimmed.ends_with(['.', '?', '!']);
    let (groups, digits) = trailing_digits(trimmed, &words.words);
    if digits < PHONE_DIGITS && (groups >= 2 || (groups == 1 && digits >= 3 && !sentence_end)) {
        return Completeness::Incomplete(IncompleteCue::Digits);
    }

    // Spelling: letters read out one by one, or an address in progress.
    let single_letters = words
        .words
        .iter()
        .rev()
        .take_while(|w| w.chars().count() == 1 && w.chars().all(char::is_alphabetic))
        .count();
    let spelling_word = SPELLING_WORDS.contains(&last.as_str()) && words.len() > 1;
    let address_in_progress = trimmed.contains('@') && !sentence_end;
    if single_letters >= 2 || spelling_word || address_in_progress {
        return Completeness::Incomplete(IncompleteCue::Spelling);
    }

    if trimmed.ends_with([',', ';', ':', '-', '—', '–']) || trimmed.ends_with("...") || trimmed.ends_with('…')
    {
        return Completeness::Incomplete(IncompleteCue::TrailingPunctuation);
    }
    let last_two = words
        .words
        .len()
        .checked_sub(2)
        .map(|i| format!("{} {}", words.words[i], words.words[i + 1]));
    if TRAILING_WORDS.contains(&last.as_str())
        || last_two.is_some_and(|p| TRAILING_WORDS.contains(&p.as_str()))
    {
        return Completeness::Incomplete(IncompleteCue::TrailingWord);
    }
    if sentence_end {
        return Completeness::Complete;
    }
    Completeness::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backchannels() -> Vec<String> {
        DEFAULT_BACKCHANNELS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn transcripts_are_classified_by_how_they_end() {
        use Completeness::*;
        use IncompleteCue::*;
        let cases: &[(&str, Completeness)] = &[
            ("What time does the clinic open tomorrow?", Complete),
            ("I would like to book an appointment.", Complete),
            ("I need a new prescription and", Incomplete(TrailingWord)),
            (
                "I need a new prescription, and...",
                Incomplete(TrailingPunctuation),
            ),
            ("So I was thinking, um", Incomplete(TrailingWord)),
            ("Can I bring my daughter with", Incomplete(TrailingWord)),
            ("Well, you know", Incomplete(TrailingWord)),
            ("My number is 555 12", Incomplete(Digits)),
            ("My number is five five five, one two", Incomplete(Digits)),
            ("My number is 555-123-4567.", Complete),
            ("It's 0 7 7 0 0 9 0 0 1 2 3", Unknown),
            ("My email is j o h n", Incomplete(Spelling)),
            ("john dot smith at", Incomplete(Spelling)),
            ("It's john@example", Incomplete(Spelling)),
            ("It's john@example.com.", Complete),
            ("I'm a", Incomplete(TrailingWord)),
            ("I am ready", Unknown),
            ("I'll take the blue one.", Complete),
            ("I'm 42.", Complete),
            ("My number is 555", Incomplete(Digits)),
            ("Oh.", Complete),
            ("", Unknown),
            ("[BLANK_AUDIO]", Unknown),
            ("Thank you. (coughs)", Complete),
        ];
        for (text, expected) in cases {
            assert_eq!(completeness(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn backchannels_are_not_content_words() {
        let b = backchannels();
        let content = |t: &str| Words::of(t).content_words(&b);
        assert_eq!(content("Mhm."), 0);
        assert_eq!(content("Yeah, yeah. Okay!"), 0);
        assert_eq!(content("Uh-huh, I see."), 0);
        assert_eq!(content("uh huh"), 0);
        assert_eq!(content("Okay, but what about Tuesday?"), 4);
        assert_eq!(content("Wait, stop."), 2);
        assert_eq!(content("Right."), 0);
        assert_eq!(content("[BLANK_AUDIO] (coughs) *clears throat* ♪"), 0);
        assert_eq!(Words::of("(coughs) hello").len(), 1);
        // The list is configuration: without "right", it counts.
        assert_eq!(Words::of("Right.").content_words(&["mhm".to_string()]), 1);
    }
}
