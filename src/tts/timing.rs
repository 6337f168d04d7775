//! Timing marks a TTS engine reports alongside its audio.
//!
//! Positions are utterance-local sample indices at the rate of the audio they describe, so a
//! mark and the audio it labels can never drift apart. Phoneme symbols are espeak-ng's ASCII
//! mnemonics (`p`, `@`, `aI`, `tS` …), the vocabulary of [`crate::motion::rules`].

/// An espeak-ng phoneme mnemonic, at most 8 bytes (stored inline: marks are `Copy`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhonemeSymbol {
    bytes: [u8; 8],
    len: u8,
}

impl PhonemeSymbol {
    /// The symbol for `text`, truncated to 8 bytes at a character boundary.
    pub fn new(text: &str) -> Self {
        let mut end = text.len().min(8);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; 8];
        bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        PhonemeSymbol {
            bytes,
            len: end as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("built from a &str at a char boundary")
    }
}

impl std::fmt::Debug for PhonemeSymbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A phoneme starting at `start_sample`; it lasts until the next mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhonemeMark {
    pub symbol: PhonemeSymbol,
    pub start_sample: u64,
}

/// A word of the input text starting at `start_sample`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WordMark {
    pub start_sample: u64,
    /// Byte offset of the word in the text handed to the engine.
    pub text_start: u32,
    /// Byte length of the word in that text.
    pub text_len: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_round_trip_and_truncate_on_char_boundaries() {
        assert_eq!(PhonemeSymbol::new("aI").as_str(), "aI");
        assert_eq!(PhonemeSymbol::new("abcdefghij").as_str(), "abcdefgh");
        assert_eq!(PhonemeSymbol::new("abcdefgé").as_str(), "abcdefg");
    }
}
