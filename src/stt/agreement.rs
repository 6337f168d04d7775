//! LocalAgreement-2: which words of a streaming transcript are settled.
//!
//! Streaming whisper re-decodes the growing audio of a turn and gets a whole new hypothesis each
//! time; the last words of a hypothesis often change once more audio arrives. A word is
//! *committed* once two consecutive hypotheses agree on it and on everything before it (the
//! longest common word prefix). Committed words never change again for the rest of the turn;
//! the words after them are *tentative* and shown as such.
//!
//! Words are compared case-insensitively and without surrounding punctuation ("Hello," and
//! "hello" agree); the text shown keeps the spelling of the latest hypothesis. This is a plain
//! value: the STT stage owns one per utterance.

/// The state of one utterance's streaming transcript.
#[derive(Debug, Default)]
pub struct LocalAgreement {
    /// Words settled so far, as first committed.
    committed: Vec<String>,
    /// The previous hypothesis, split into words.
    previous: Vec<String>,
    hypotheses: u32,
}

/// What one new hypothesis settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// The committed words followed by the latest tentative ones.
    pub text: String,
    /// Byte length of the committed prefix of `text` (`&text[..committed_len]` never changes).
    pub committed_len: usize,
    /// Words committed by this hypothesis.
    pub newly_committed: usize,
}

/// A word as compared: lower case, without surrounding punctuation.
fn key(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()
}

impl LocalAgreement {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything (a new utterance).
    pub fn reset(&mut self) {
        self.committed.clear();
        self.previous.clear();
        self.hypotheses = 0;
    }

    /// Hypotheses seen since the last reset.
    pub fn hypotheses(&self) -> u32 {
        self.hypotheses
    }

    /// The committed words, joined.
    pub fn committed_text(&self) -> String {
        self.committed.join(" ")
    }

    /// Takes the next full-window hypothesis.
    pub fn update(&mut self, hypothesis: &str) -> Agreement {
        self.hypotheses += 1;
        let current: Vec<String> = hypothesis.split_whitespace().map(str::to_string).collect();
        let agreed = self
            .previous
            .iter()
            .zip(&current)
            .take_while(|(a, b)| key(a) == key(b))
            .count();
        let before = self.committed.len();
        // Committed words are final even if a later hypothesis drops them; only agreement
        // beyond them commits more.
        if agreed > before {
            self.committed.extend(current[before..agreed].iter().cloned());
        }
        let newly_committed = self.committed.len() - before;
        let tentative = current.iter().skip(self.committed.len());
        let committed_text = self.committed.join(" ");
        let committed_len = committed_text.len();
        let mut text = committed_text;
        for word in tentative {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(word);
        }
        self.previous = current;
        Agreement {
            text,
            committed_len,
            newly_committed,
        }
    }

    /// The final transcript: the final hypothesis, with the committed words kept as they were
    /// shown (a final decode that disagrees with a committed word does not un-say it).
    pub fn finish(&mut self, final_hypothesis: &str) -> String {
        let current: Vec<&str> = final_hypothesis.split_whitespace().collect();
        let agreed = self
            .committed
            .iter()
            .zip(&current)
            .take_while(|(a, b)| key(a) == key(b))
            .count();
        let text = if agreed == self.committed.len() {
            // The usual case: the final extends what was committed.
            let mut words: Vec<&str> = self.committed.iter().map(String::as_str).collect();
            words.extend(&current[agreed..]);
            words.join(" ")
        } else {
            // The final decode saw more audio and changed its mind about committed words: the
            // final is the better transcript of the whole turn.
            tracing::debug!(
                committed = %crate::redact::text(&self.committed.join(" ")),
                final_hypothesis = %crate::redact::text(final_hypothesis),
                "the final transcript revises committed words"
            );
            current.join(" ")
        };
        self.reset();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_commit_when_two_consecutive_hypotheses_agree() {
        let mut a = LocalAgreement::new();
        let first = a.update("What time");
        assert_eq!(first.committed_len, 0, "one hypothesis commits nothing");
        assert_eq!(first.text, "What time");

        let second = a.update("What time does the");
        assert_eq!(&second.text[..second.committed_len], "What time");
        assert_eq!(second.newly_committed, 2);
        assert_eq!(second.text, "What time does the");

        // "the" becomes "they": only "does" is newly agreed.
        let third = a.update("what time does they clinic");
        assert_eq!(&third.text[..third.committed_len], "What time does");
        assert_eq!(third.newly_committed, 1);
        assert_eq!(third.text, "What time does they clinic");
    }

    #[test]
    fn committed_words_stay_even_when_a_later_hypothesis_drops_them() {
        let mut a = LocalAgreement::new();
        a.update("I want to");
        a.update("I want to book");
        let odd = a.update("Hi, want");
        assert_eq!(&odd.text[..odd.committed_len], "I want to");
        assert_eq!(odd.text, "I want to", "nothing beyond the committed words");
        assert_eq!(odd.newly_committed, 0);
    }

    #[test]
    fn punctuation_and_case_do_not_block_agreement() {
        let mut a = LocalAgreement::new();
        a.update("hello there");
        let b = a.update("Hello, there.");
        assert_eq!(b.newly_committed, 2);
        assert_eq!(b.text, "Hello, there.", "the latest spelling is shown");
        assert_eq!(b.committed_len, b.text.len());
    }

    #[test]
    fn the_final_extends_the_committed_prefix_and_resets() {
        let mut a = LocalAgreement::new();
        a.update("Can I bring");
        a.update("Can I bring my");
        assert_eq!(a.finish("can I bring my daughter?"), "Can I bring my daughter?");
        assert_eq!(a.hypotheses(), 0);
        assert_eq!(a.committed_text(), "");
        // A final that disagrees with committed words replaces them.
        a.update("Where should");
        a.update("Where should I");
        assert_eq!(a.finish("Wear shoes, I park."), "Wear shoes, I park.");
    }
}
