//! Clause chunking: streamed reply text cut into pieces TTS can start on before the reply ends.
//!
//! Text arrives a token at a time. A piece is released at the end of a sentence (`.`, `!`,
//! `?`, `…`, then whitespace), at a line break, at a clause mark (`,` `;` `:` or a dash) once the
//! piece is long enough to sound natural on its own, or — with no boundary in sight — at the
//! last space before the length cap. The first piece of a reply may be shorter, so speech starts
//! sooner. A full stop after a title or a common abbreviation ("Dr.", "e.g.") or an initial
//! ("J. Smith") is not a sentence end, and a period inside a number or an address ("3.5",
//! "example.com") never is, because a boundary needs whitespace after it.
//!
//! Pieces are exact consecutive slices of the input: concatenated, they give back the text
//! byte for byte (the heard history counts bytes). Sans-IO: no clock, no allocation beyond the
//! pending text.

/// When to cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkerSettings {
    /// The first piece may end at a clause mark once it is this long (bytes).
    pub first_clause_min_bytes: usize,
    /// Later pieces end at a clause mark only once this long.
    pub clause_min_bytes: usize,
    /// No piece grows past this without a cut (at the last space).
    pub max_bytes: usize,
}

impl Default for ChunkerSettings {
    fn default() -> Self {
        ChunkerSettings {
            first_clause_min_bytes: 12,
            clause_min_bytes: 50,
            max_bytes: 160,
        }
    }
}

/// Titles: their period never ends a sentence (lowercase, without the period).
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "rev", "capt", "sgt",
];
/// Abbreviations: their period ends a sentence only when a capital letter follows.
const ABBREVIATIONS: &[&str] = &[
    "vs", "etc", "approx", "appt", "no", "dept", "ave", "blvd", "rd", "fig", "inc", "ltd", "co", "jan",
    "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "min", "mins", "hr", "hrs",
];

/// What a period after a word means.
enum Period {
    /// It ends the sentence.
    Ends,
    /// It never does here (a title, an initial).
    Never,
    /// It does if the next word starts with a capital (an abbreviation: "a.m.", "etc.").
    IfCapitalFollows,
}

/// The streaming chunker.
#[derive(Debug)]
pub struct Chunker {
    settings: ChunkerSettings,
    pending: String,
    /// Whether a piece was released already (the first piece may be short).
    released: bool,
}

impl Chunker {
    pub fn new(settings: ChunkerSettings) -> Chunker {
        Chunker {
            settings,
            pending: String::with_capacity(settings.max_bytes * 2),
            released: false,
        }
    }

    /// Adds streamed text; complete pieces are appended to `out`.
    pub fn push(&mut self, text: &str, out: &mut Vec<String>) {
        self.pending.push_str(text);
        while let Some(cut) = self.next_cut() {
            let rest = self.pending.split_off(cut);
            out.push(std::mem::replace(&mut self.pending, rest));
            self.released = true;
        }
    }

    /// The text not released yet (the end of the reply), if any.
    pub fn finish(&mut self) -> Option<String> {
        self.released = false;
        if self.pending.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.pending))
        }
    }

    /// Whether text is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Starts a new reply (the first piece may be short again).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.released = false;
    }

    /// Byte offset where the pending text should be cut, if anywhere yet.
    fn next_cut(&self) -> Option<usize> {
        let text = self.pending.as_str();
        let clause_min = if self.released {
            self.settings.clause_min_bytes
        } else {
            self.settings.first_clause_min_bytes
        };
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        for (i, &(at, c)) in chars.iter().enumerate() {
            if c == '\n' {
                // A line break ends a piece (lists, paragraphs); leading breaks stay with the
                // next piece.
                if text[..at].trim().is_empty() {
                    continue;
                }
                return Some(at + 1);
            }
            let is_sentence = matches!(c, '.' | '!' | '?' | '…');
            let is_clause = matches!(c, ',' | ';' | ':' | '—' | '–');
            if !is_sentence && !is_clause {
                continue;
            }
            // Closing quotes and brackets belong to the piece.
            let mut j = i + 1;
            while chars
                .get(j)
                .is_some_and(|(_, c)| matches!(c, '"' | '\'' | '”' | '’' | ')' | ']'))
            {
                j += 1;
            }
            // A boundary needs whitespace after it, so wait for the next character.
            let &(space_at, next) = chars.get(j)?;
            if !next.is_whitespace() {
                continue;
            }
            if is_sentence && c == '.' {
                match period_after(&text[..at]) {
                    Period::Ends => {}
                    Period::Never => continue,
                    Period::IfCapitalFollows => match text[space_at..].chars().find(|c| !c.is_whitespace()) {
                        None => return None,
                        Some(next) if next.is_uppercase() => {}
                        Some(_) => continue,
                    },
                }
            }
            if is_clause && text[..at].trim().len() < clause_min {
                continue;
            }
            return Some(space_at);
        }
        if text.len() > self.settings.max_bytes {
            let mut limit = self.settings.max_bytes;
            while !text.is_char_boundary(limit) {
                limit -= 1;
            }
            let cut = text[..limit]
                .rfind(char::is_whitespace)
                .filter(|&at| at > 0)
                .unwrap_or(limit);
            return Some(cut);
        }
        None
    }
}

/// What a period right after `before` means, judging by the word it ends.
fn period_after(before: &str) -> Period {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '"')
        .next()
        .unwrap_or("");
    let lower = word.to_lowercase();
    let mut letters = word.chars();
    let initial = matches!((letters.next(), letters.next()), (Some(c), None) if c.is_uppercase());
    if initial || TITLES.contains(&lower.as_str()) {
        Period::Never
    } else if ABBREVIATIONS.contains(&lower.as_str())
        || (word.contains('.') && word.chars().any(char::is_alphabetic))
    {
        // "a.m", "e.g", "U.S": dotted abbreviations.
        Period::IfCapitalFollows
    } else {
        Period::Ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` in tokens of `step` characters; returns the pieces, tail included.
    fn chunk(text: &str, step: usize) -> Vec<String> {
        let mut chunker = Chunker::new(ChunkerSettings::default());
        let mut out = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        for token in chars.chunks(step) {
            chunker.push(&token.iter().collect::<String>(), &mut out);
        }
        out.extend(chunker.finish());
        out
    }

    #[test]
    fn sentences_and_long_clauses_become_pieces_that_rebuild_the_text() {
        let text = "Sure, I can help with that. The clinic opens at 8 a.m. on weekdays, and Dr. Smith \
                    sees walk-in patients from 9 until noon. Would you like the address? It's 12 Main St., \
                    next to the library.";
        for step in [1, 3, 7, 200] {
            let pieces = chunk(text, step);
            assert_eq!(pieces.concat(), text, "step {step}");
            assert_eq!(
                pieces.iter().map(|p| p.trim()).collect::<Vec<_>>(),
                [
                    "Sure, I can help with that.",
                    "The clinic opens at 8 a.m. on weekdays, and Dr. Smith sees walk-in patients from 9 until noon.",
                    "Would you like the address?",
                    "It's 12 Main St., next to the library.",
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn the_first_piece_may_end_at_a_clause() {
        let pieces = chunk(
            "Of course, your appointment is on Tuesday at ten, with the nurse, in room four.",
            2,
        );
        assert_eq!(
            pieces[0].trim(),
            "Of course, your appointment is on Tuesday at ten,"
        );
        // Later clauses need more text before they are cut.
        assert_eq!(pieces[1].trim(), "with the nurse, in room four.");
    }

    #[test]
    fn numbers_addresses_and_initials_do_not_end_sentences() {
        let pieces = chunk(
            "Version 3.5 of example.com was written by J. R. Tolkien. Then more.",
            1,
        );
        assert_eq!(
            pieces[0].trim(),
            "Version 3.5 of example.com was written by J. R. Tolkien."
        );
    }

    #[test]
    fn long_text_without_punctuation_is_cut_at_a_space_before_the_cap() {
        let words = "word ".repeat(60);
        let pieces = chunk(&words, 5);
        assert!(pieces.len() >= 2);
        assert!(
            pieces
                .iter()
                .all(|p| p.len() <= ChunkerSettings::default().max_bytes)
        );
        assert_eq!(pieces.concat(), words);
        assert!(pieces[0].ends_with("word"), "{:?}", pieces[0]);
    }

    #[test]
    fn line_breaks_end_pieces_and_unicode_is_safe() {
        let text = "Bring:\n- your card\n- a list of medicines\nÇa va? Très bien… Merci.";
        let pieces = chunk(text, 1);
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().any(|p| p.trim() == "- your card"), "{pieces:?}");
        assert!(pieces.iter().any(|p| p.trim() == "Ça va?"), "{pieces:?}");
    }
}
