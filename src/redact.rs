//! Keeping what people say out of the logs.
//!
//! Transcripts and replies are personal data. Command-line tools run on the user's own input and
//! log them (at debug level) for diagnosis; a server talking to strangers must not, unless its
//! operator opts in (`[serve] log_transcripts`). Every log line that would carry user or reply
//! text formats it through [`text`], which prints only its length while logging is off.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static LOG_TEXT: AtomicBool = AtomicBool::new(true);

/// Whether log lines may carry transcripts and replies (process-wide).
pub fn set_log_text(allowed: bool) {
    LOG_TEXT.store(allowed, Ordering::Relaxed);
}

/// `text` for a log line: itself, or `<N chars>` while logging text is off.
pub fn text(text: &str) -> Redacted<'_> {
    Redacted(text)
}

pub struct Redacted<'a>(&'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if LOG_TEXT.load(Ordering::Relaxed) {
            f.write_str(self.0)
        } else {
            write!(f, "<{} chars>", self.0.chars().count())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_hidden_while_logging_it_is_off() {
        set_log_text(false);
        assert_eq!(text("my date of birth").to_string(), "<16 chars>");
        set_log_text(true);
        assert_eq!(text("hello").to_string(), "hello");
    }
}
