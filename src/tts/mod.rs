//! Text to speech, with the timing of every phoneme and word.

pub mod timing;

pub use timing::{PhonemeMark, PhonemeSymbol, WordMark};
