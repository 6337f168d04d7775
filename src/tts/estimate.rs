//! Word and phoneme timing for voices that do not report it (Piper, speech services).
//!
//! espeak-ng says exactly when each word starts; a neural voice only returns audio. Given the
//! words of a stretch of speech, their phonemes (from espeak-ng's own phonemiser) and how long
//! the audio is, this module spreads the audio over the words in proportion to how long each
//! phoneme usually lasts: vowels about twice a consonant, a pause at a comma or a full stop
//! longer still. The marks it returns are estimates — good to a syllable or so, which is what
//! the heard-history cut and the lip shapes need — and say so in the backends' docs.
//!
//! Pure functions: no engine, no clock.

use std::ops::Range;

use super::{PhonemeMark, PhonemeSymbol, WordMark};

/// Relative durations, in "consonant units".
const CONSONANT_WEIGHT: f32 = 1.0;
const VOWEL_WEIGHT: f32 = 2.0;
/// A word with no phonemes (a symbol espeak skipped) still takes a little time.
const EMPTY_WORD_WEIGHT: f32 = 1.0;
/// Silence before the first word of a stretch (voices start with a short breath).
const LEAD_WEIGHT: f32 = 1.0;

/// One word to place: where it is in the text, and its phonemes (espeak mnemonics).
#[derive(Clone, Debug, PartialEq)]
pub struct WordEstimate {
    pub text: Range<usize>,
    pub phonemes: Vec<PhonemeSymbol>,
    /// Weight of the pause after the word (0 inside a clause).
    pub pause_after: f32,
}

/// Pause weight after a clause ending in `terminator`.
pub fn pause_weight(terminator: Option<char>) -> f32 {
    match terminator {
        Some('.' | '?' | '!') => 4.0,
        Some(',' | ';' | ':') => 2.0,
        _ => 0.0,
    }
}

/// Whether an espeak mnemonic is a vowel (its stress marks aside).
pub fn is_vowel(symbol: &str) -> bool {
    symbol.trim_start_matches(['\'', ',']).starts_with([
        'a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U', '@', '3', 'V', '0',
    ])
}

fn phoneme_weight(symbol: &PhonemeSymbol) -> f32 {
    if is_vowel(symbol.as_str()) {
        VOWEL_WEIGHT
    } else {
        CONSONANT_WEIGHT
    }
}

fn word_weight(word: &WordEstimate) -> f32 {
    let spoken: f32 = word.phonemes.iter().map(phoneme_weight).sum();
    if spoken > 0.0 { spoken } else { EMPTY_WORD_WEIGHT }
}

/// Byte ranges of the words of `text` (runs of letters, digits, apostrophes and inner hyphens
/// or periods).
pub fn words(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let is_word_char = |c: char| c.is_alphanumeric() || c == '\'' || c == '’';
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        let joins = (c == '-' || c == '.')
            && start.is_some()
            && chars.get(i + 1).is_some_and(|(_, next)| next.is_alphanumeric());
        if is_word_char(c) || joins {
            start.get_or_insert(at);
        } else if let Some(s) = start.take() {
            out.push(s..at);
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

/// A phonemised clause split into words (separated by spaces) of phonemes (separated by
/// `separator`), as espeak-ng's mnemonic output writes them.
pub fn phoneme_words(phonemes: &str, separator: char) -> Vec<Vec<PhonemeSymbol>> {
    phonemes
        .split(' ')
        .map(|w| {
            w.split(separator)
                .filter(|p| !p.is_empty())
                .map(PhonemeSymbol::new)
                .collect()
        })
        .collect()
}

/// The words of one clause of `text` (`clause`, a byte range of it) paired with the clause's
/// phoneme words, the last word carrying the pause its `terminator` asks for.
pub fn clause_estimates(
    text: &str,
    clause: Range<usize>,
    terminator: Option<char>,
    phoneme_words: &[Vec<PhonemeSymbol>],
) -> Vec<WordEstimate> {
    let text_words: Vec<_> = words(&text[clause.clone()])
        .into_iter()
        .map(|w| w.start + clause.start..w.end + clause.start)
        .collect();
    let mut estimates = pair_words(&text_words, phoneme_words);
    if let Some(last) = estimates.last_mut() {
        last.pause_after = pause_weight(terminator);
    }
    estimates
}

/// Pairs the text words of a clause with the phoneme words espeak produced for it. When the
/// counts agree (the usual case) they pair one to one; when espeak split or merged words
/// (numbers, abbreviations), every text word gets a share of all the clause's phonemes in
/// proportion to its length.
pub fn pair_words(text_words: &[Range<usize>], phoneme_words: &[Vec<PhonemeSymbol>]) -> Vec<WordEstimate> {
    if text_words.len() == phoneme_words.len() {
        return text_words
            .iter()
            .zip(phoneme_words)
            .map(|(text, phonemes)| WordEstimate {
                text: text.clone(),
                phonemes: phonemes.clone(),
                pause_after: 0.0,
            })
            .collect();
    }
    let all: Vec<PhonemeSymbol> = phoneme_words.iter().flatten().copied().collect();
    let total_chars: usize = text_words.iter().map(|w| w.len()).sum::<usize>().max(1);
    let mut out = Vec::with_capacity(text_words.len());
    let mut taken = 0;
    let mut chars_so_far = 0;
    for text in text_words {
        chars_so_far += text.len();
        let until = (all.len() * chars_so_far).div_ceil(total_chars).min(all.len());
        out.push(WordEstimate {
            text: text.clone(),
            phonemes: all[taken..until.max(taken)].to_vec(),
            pause_after: 0.0,
        });
        taken = until.max(taken);
    }
    out
}

/// Marks for `words` spoken over `total_samples` starting at `start_sample`.
pub fn place(
    words: &[WordEstimate],
    start_sample: u64,
    total_samples: u64,
) -> (Vec<WordMark>, Vec<PhonemeMark>) {
    let total_weight: f32 = LEAD_WEIGHT + words.iter().map(|w| word_weight(w) + w.pause_after).sum::<f32>();
    let per_unit = total_samples as f64 / f64::from(total_weight.max(f32::EPSILON));
    let at = |units: f64| start_sample + ((units * per_unit).round() as u64).min(total_samples);
    let mut word_marks = Vec::with_capacity(words.len());
    let mut phoneme_marks = Vec::with_capacity(words.iter().map(|w| w.phonemes.len() + 1).sum::<usize>() + 1);
    phoneme_marks.push(PhonemeMark {
        symbol: PhonemeSymbol::new("_"),
        start_sample,
    });
    let mut units = f64::from(LEAD_WEIGHT);
    for word in words {
        word_marks.push(WordMark {
            start_sample: at(units),
            text_start: word.text.start as u32,
            text_len: word.text.len() as u32,
        });
        if word.phonemes.is_empty() {
            units += f64::from(EMPTY_WORD_WEIGHT);
        }
        for phoneme in &word.phonemes {
            phoneme_marks.push(PhonemeMark {
                symbol: *phoneme,
                start_sample: at(units),
            });
            units += f64::from(phoneme_weight(phoneme));
        }
        if word.pause_after > 0.0 {
            phoneme_marks.push(PhonemeMark {
                symbol: PhonemeSymbol::new("_"),
                start_sample: at(units),
            });
            units += f64::from(word.pause_after);
        }
    }
    (word_marks, phoneme_marks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols(list: &str) -> Vec<PhonemeSymbol> {
        list.split('|')
            .filter(|s| !s.is_empty())
            .map(PhonemeSymbol::new)
            .collect()
    }

    #[test]
    fn words_are_found_with_their_byte_ranges() {
        let text = "Hello, it's twenty-five past (roughly) e.g. now—café.";
        let found: Vec<&str> = words(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(
            found,
            [
                "Hello",
                "it's",
                "twenty-five",
                "past",
                "roughly",
                "e.g",
                "now",
                "café"
            ]
        );
    }

    #[test]
    fn time_is_shared_by_phoneme_weight_and_pauses() {
        // "ba" (consonant + vowel = 3 units), pause 4, "ssss" (4 units); lead 1: 12 units.
        let words = [
            WordEstimate {
                text: 0..2,
                phonemes: symbols("b|a"),
                pause_after: 4.0,
            },
            WordEstimate {
                text: 3..7,
                phonemes: symbols("s|s|s|s"),
                pause_after: 0.0,
            },
        ];
        let (word_marks, phonemes) = place(&words, 1_000, 1_200);
        assert_eq!(word_marks[0].start_sample, 1_100);
        assert_eq!(word_marks[1].start_sample, 1_100 + 700);
        assert_eq!((word_marks[1].text_start, word_marks[1].text_len), (3, 4));
        let pause = phonemes
            .iter()
            .filter(|m| m.symbol.as_str() == "_")
            .nth(1)
            .unwrap();
        assert_eq!(pause.start_sample, 1_400);
        assert!(
            phonemes
                .windows(2)
                .all(|w| w[0].start_sample <= w[1].start_sample)
        );
        assert!(phonemes.iter().all(|m| m.start_sample <= 2_200));
    }

    #[test]
    fn mismatched_word_counts_share_phonemes_by_length() {
        let text_words = [0..2, 3..13];
        let phoneme_words = [symbols("t|w|'E|n|t|i"), symbols("f|'aI|v"), symbols("m|'I|n")];
        let paired = pair_words(&text_words, &phoneme_words);
        assert_eq!(paired.len(), 2);
        assert_eq!(paired.iter().map(|w| w.phonemes.len()).sum::<usize>(), 12);
        assert!(paired[0].phonemes.len() < paired[1].phonemes.len());
        let one_to_one = pair_words(&text_words[..1], &phoneme_words[..1]);
        assert_eq!(one_to_one[0].phonemes.len(), 6);
    }

    #[test]
    fn vowels_are_recognised_among_mnemonics() {
        for v in ["a", "'aI", ",E", "@", "3:", "V", "0", "i:", "u:", "O@"] {
            assert!(is_vowel(v), "{v}");
        }
        for c in ["b", "t", "S", "tS", "D", "T", "n", "l", "r", "w", "j", "N", "z"] {
            assert!(!is_vowel(c), "{c}");
        }
    }
}
