//! Visemes: the mouth shapes speech is drawn with, and the map from espeak-ng phonemes to them.
//!
//! Sixteen visemes, close to the Oculus/Meta set (silence, PP, FF, TH, DD, kk, CH, SS, RR, aa, E,
//! I, O, U) plus WW for /w/-rounding and a neutral-open schwa, each with a target pose on the
//! mouth channels of [`MotionVector`]. [`phone_for`] reads an espeak-ng English phoneme mnemonic
//! (`p`, `'aI`, `i@3`, `_:` …) into the visemes it passes through, its stress and whether it is
//! articulated mostly elsewhere (/h/, a glottal stop), so it takes its neighbours' shape.
//!
//! Deliberately not here: timing and blending (see [`crate::motion::rules`]), and anything that
//! is not the mouth (brows, eyes, head are the job of prosody and [`crate::motion::idle`]).

use super::spec::{Channel, MotionVector};

/// A mouth shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Viseme {
    /// Silence and pauses: the rest pose.
    Sil,
    /// /p b m/: lips closed and pressed.
    PP,
    /// /f v/: lower lip against the upper teeth.
    FF,
    /// /θ ð/: tongue between the teeth.
    TH,
    /// /t d n l/ and flaps: alveolar, jaw slightly open.
    DD,
    /// /k g ŋ x/: velar, jaw slightly open.
    KK,
    /// /tʃ dʒ ʃ ʒ/: lips pushed out, teeth nearly closed.
    CH,
    /// /s z/: teeth closed, lips spread.
    SS,
    /// /ɹ/ and r-coloured vowels: lips slightly rounded.
    RR,
    /// /w/: lips tightly rounded.
    WW,
    /// Open vowels /æ ɑ ʌ/.
    AA,
    /// Mid front vowels /ɛ e/.
    E,
    /// Close front vowels /ɪ i/ and /j/.
    I,
    /// Rounded back vowels /ɔ o/.
    O,
    /// Close rounded vowels /ʊ u/.
    U,
    /// Neutral, slightly open: /ə/ and the fallback for unknown vowels.
    Schwa,
}

/// Number of visemes.
pub const VISEME_COUNT: usize = 16;

impl Viseme {
    pub const ALL: [Viseme; VISEME_COUNT] = [
        Viseme::Sil,
        Viseme::PP,
        Viseme::FF,
        Viseme::TH,
        Viseme::DD,
        Viseme::KK,
        Viseme::CH,
        Viseme::SS,
        Viseme::RR,
        Viseme::WW,
        Viseme::AA,
        Viseme::E,
        Viseme::I,
        Viseme::O,
        Viseme::U,
        Viseme::Schwa,
    ];

    /// Stable short name (the Oculus names where one exists), for logs and training data.
    pub fn name(self) -> &'static str {
        match self {
            Viseme::Sil => "sil",
            Viseme::PP => "PP",
            Viseme::FF => "FF",
            Viseme::TH => "TH",
            Viseme::DD => "DD",
            Viseme::KK => "kk",
            Viseme::CH => "CH",
            Viseme::SS => "SS",
            Viseme::RR => "RR",
            Viseme::WW => "WW",
            Viseme::AA => "aa",
            Viseme::E => "E",
            Viseme::I => "I",
            Viseme::O => "O",
            Viseme::U => "U",
            Viseme::Schwa => "@",
        }
    }

    pub fn is_vowel(self) -> bool {
        matches!(
            self,
            Viseme::AA | Viseme::E | Viseme::I | Viseme::O | Viseme::U | Viseme::Schwa
        )
    }

    /// The pose this viseme aims for, on the mouth channels only (everything else stays 0).
    pub fn target(self) -> MotionVector {
        // Columns: jaw, funnel, pucker, stretch, press, close, upper up, lower down, smile.
        // Jaw openings stay well under 1: conversational speech rarely opens fully, and the
        // stress scaling in `rules` needs headroom.
        let mouth: [f32; 9] = match self {
            Viseme::Sil => [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Viseme::PP => [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0],
            Viseme::FF => [0.08, 0.0, 0.0, 0.1, 0.0, 0.25, 0.35, 0.0, 0.0],
            Viseme::TH => [0.15, 0.0, 0.0, 0.1, 0.0, 0.0, 0.1, 0.2, 0.0],
            Viseme::DD => [0.18, 0.0, 0.0, 0.15, 0.0, 0.0, 0.05, 0.1, 0.0],
            Viseme::KK => [0.25, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.1, 0.0],
            Viseme::CH => [0.12, 0.55, 0.25, 0.0, 0.0, 0.0, 0.3, 0.3, 0.0],
            Viseme::SS => [0.06, 0.0, 0.0, 0.4, 0.0, 0.0, 0.15, 0.15, 0.05],
            Viseme::RR => [0.15, 0.35, 0.35, 0.0, 0.0, 0.0, 0.05, 0.05, 0.0],
            Viseme::WW => [0.08, 0.4, 0.85, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Viseme::AA => [0.6, 0.0, 0.0, 0.1, 0.0, 0.0, 0.1, 0.35, 0.0],
            Viseme::E => [0.38, 0.0, 0.0, 0.4, 0.0, 0.0, 0.15, 0.25, 0.05],
            Viseme::I => [0.2, 0.0, 0.0, 0.6, 0.0, 0.0, 0.1, 0.1, 0.15],
            Viseme::O => [0.45, 0.65, 0.3, 0.0, 0.0, 0.0, 0.0, 0.1, 0.0],
            Viseme::U => [0.18, 0.45, 0.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Viseme::Schwa => [0.28, 0.0, 0.0, 0.05, 0.0, 0.0, 0.05, 0.1, 0.0],
        };
        let mut pose = MotionVector::NEUTRAL;
        for (channel, value) in MOUTH_CHANNELS.iter().zip(mouth) {
            pose.set(*channel, value);
        }
        pose
    }
}

/// The channels a viseme drives, in the column order of [`Viseme::target`]'s table.
pub const MOUTH_CHANNELS: [Channel; 9] = [
    Channel::JawOpen,
    Channel::MouthFunnel,
    Channel::MouthPucker,
    Channel::MouthStretch,
    Channel::MouthPress,
    Channel::MouthClose,
    Channel::MouthUpperUp,
    Channel::MouthLowerDown,
    Channel::MouthSmile,
];

/// Lexical stress espeak-ng marks on a syllable's vowel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stress {
    /// No mark (espeak leaves most unstressed vowels and all consonants unmarked).
    Unmarked,
    /// `'`
    Primary,
    /// `,`
    Secondary,
    /// `%`
    Unstressed,
}

/// How a symbol was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// In the table as written (after stress marks).
    Exact,
    /// In the table after dropping variant suffixes (`#`, digits, `/`, `-`, `:` …).
    Variant,
    /// Not recognised; guessed from its first letter.
    Fallback,
}

/// What one espeak-ng phoneme does to the mouth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phone {
    /// Visemes the phoneme passes through, in order: one for most, two or three for diphthongs.
    pub parts: &'static [Viseme],
    pub stress: Stress,
    /// Articulated mostly away from the lips and jaw (/h/, glottal stop, a glide): it yields to
    /// its neighbours instead of pulling the mouth to its own target.
    pub weak: bool,
    pub matched: Match,
}

impl Phone {
    /// The main viseme (a diphthong's first part).
    pub fn nucleus(&self) -> Viseme {
        self.parts[0]
    }

    pub fn is_silence(&self) -> bool {
        self.parts == [Viseme::Sil]
    }
}

/// The viseme for an espeak-ng phoneme mnemonic (a diphthong's first part); never fails.
pub fn viseme_for(symbol: &str) -> Viseme {
    phone_for(symbol).nucleus()
}

/// Reads an espeak-ng English phoneme mnemonic, with its stress mark, into a [`Phone`].
///
/// Pauses and boundaries (`_`, `_:`, `_!`, `||` …) and the empty string are silence. An unknown
/// symbol becomes a neutral open mouth when it looks like a vowel and an alveolar otherwise:
/// the least conspicuous guesses.
pub fn phone_for(symbol: &str) -> Phone {
    let symbol = symbol.trim();
    let (stress, core) = split_stress(symbol);
    let phone = |parts, weak, matched| Phone {
        parts,
        stress,
        weak,
        matched,
    };
    if core.is_empty() || core.starts_with('_') || core.starts_with('|') {
        return phone(&[Viseme::Sil], false, Match::Exact);
    }
    if let Some((parts, weak)) = lookup(core) {
        return phone(parts, weak, Match::Exact);
    }
    let mut variant = core;
    while let Some(last) = variant.chars().last() {
        if variant.len() <= 1 || !is_variant_suffix(last) {
            break;
        }
        variant = &variant[..variant.len() - last.len_utf8()];
        if let Some((parts, weak)) = lookup(variant) {
            return phone(parts, weak, Match::Variant);
        }
    }
    let first = core.chars().next().unwrap_or('_');
    if "aeiouyAEIOUVY@0368&".contains(first) {
        phone(&[Viseme::Schwa], false, Match::Fallback)
    } else if first.is_alphanumeric() {
        phone(&[Viseme::DD], false, Match::Fallback)
    } else {
        // Punctuation we do not know marks a boundary inside speech, not a pause: stay out of
        // the way rather than snap the mouth somewhere.
        phone(&[Viseme::Schwa], true, Match::Fallback)
    }
}

fn split_stress(symbol: &str) -> (Stress, &str) {
    let mut stress = Stress::Unmarked;
    let mut core = symbol;
    while let Some(mark) = core.chars().next() {
        let this = match mark {
            '\'' => Stress::Primary,
            ',' => Stress::Secondary,
            '%' => Stress::Unstressed,
            // `=` moves stress to the preceding syllable: nothing to say about this one.
            '=' => Stress::Unmarked,
            _ => break,
        };
        if stress == Stress::Unmarked {
            stress = this;
        }
        core = &core[1..];
    }
    (stress, core)
}

fn is_variant_suffix(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '#' | '/' | '-' | '~' | ':' | '^' | '!' | '.' | '\'' | ',')
}

/// The table: espeak-ng's English mnemonics (phsource `ph_english`, `ph_english_us` and the
/// shared base set) to visemes and weakness.
fn lookup(core: &str) -> Option<(&'static [Viseme], bool)> {
    use Viseme::*;
    let parts: &'static [Viseme] = match core {
        // Consonants.
        "p" | "b" | "m" | "m-" => &[PP],
        "f" | "v" => &[FF],
        "T" | "D" => &[TH],
        "t" | "d" | "n" | "l" | "t#" | "d#" | "t2" | "d2" | "n-" | "l-" | "l/" | "l/2" | "L" => &[DD],
        "k" | "g" | "N" | "x" | "k#" | "g#" => &[KK],
        "tS" | "dZ" | "S" | "Z" | "S;" | "Z;" => &[CH],
        "s" | "z" | "z#" | "z/2" | "s#" | "s2" => &[SS],
        "r" | "r-" | "r/" | "R" | "R2" => &[RR],
        "w" | "w#" | "W" | "hw" => &[WW],
        "j" => &[I],
        "h" | "?" | "h#" => return Some((&[Schwa], true)),
        // The palatal glide espeak inserts between a front vowel and the next vowel.
        ";" => return Some((&[I], true)),
        // Monophthongs.
        "a" | "a2" | "aa" | "A:" | "A" | "A#" | "A~" | "0" | "0#" | "02" | "V" => &[AA],
        "E" | "E2" | "E#" | "E3" | "e" | "e#" | "e:" => &[E],
        "I" | "I2" | "I#" | "I2#" | "i" | "i:" => &[I],
        "O" | "O:" | "O2" | "o" | "o:" | "O~" => &[O],
        "U" | "u" | "u:" => &[U],
        "@" | "@2" | "@5" | "@#" | "@-" | "a#" | "a#2" => &[Schwa],
        "3" | "3:" | "IR" | "VR" => &[RR],
        // Diphthongs and r-coloured vowels: the mouth glides through each part in turn.
        "@L" => &[Schwa, DD],
        "aI" => &[AA, I],
        "aI@" => &[AA, I, Schwa],
        "aI3" => &[AA, I, RR],
        "aU" => &[AA, U],
        "aU@" => &[AA, U, RR],
        "eI" => &[E, I],
        "OI" => &[O, I],
        "oU" | "oU#" => &[O, U],
        "e@" => &[E, RR],
        "i@" => &[I, Schwa],
        "i@3" => &[I, RR],
        "U@" => &[U, RR],
        "O@" | "o@" => &[O, RR],
        "A@" => &[AA, RR],
        _ => return None,
    };
    Some((parts, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every symbol espeak-ng 1.51 (`-v en-us -q -x --sep=' '`) produced for a set of pangrams,
    /// minimal pairs and syllabic-consonant words, stress marks included.
    const EN_US_PANGRAM_SYMBOLS: &[&str] = &[
        "k", "n", "t", "'I", "s", "m", "z", "f", "b", "3", "'V", "w", "r", "l", "@", "v", "d", "D", "'E",
        "p", "dZ", "Z", "'0", "i", "N", "'aI", "'a", "j", "h", "T", "@L", "g", "I", "@2", "'oU", "'eI",
        "'aU", "t#", "tS", "n-", "aI", "V", "?", "'u:", "'A:", "u:", "oU", ",u:", "'i:", "'O@", "'3:", "a#",
        "a", "_!", "S", "I2", "E", ";", ",aU", "'o@", "'i@3", "'e@", "'aa", "'U@", "'O:", "'O2", "x", "t2",
        "i:", "U", "OI", "O@", "O:", "A@", "@-", ",oU", ",i:", ",aI", ",I", ",E", "'i@", "'aI3", "'U", "'OI",
        "'A@", "'@",
    ];

    #[test]
    fn every_symbol_en_us_produces_is_in_the_table() {
        for symbol in EN_US_PANGRAM_SYMBOLS {
            let phone = phone_for(symbol);
            assert_eq!(phone.matched, Match::Exact, "{symbol} fell through to {phone:?}");
        }
    }

    #[test]
    fn consonant_classes_map_to_their_visemes() {
        let cases: &[(&[&str], Viseme)] = &[
            (&["p", "b", "m"], Viseme::PP),
            (&["f", "v"], Viseme::FF),
            (&["T", "D"], Viseme::TH),
            (&["t", "d", "n", "l", "t#", "n-"], Viseme::DD),
            (&["k", "g", "N"], Viseme::KK),
            (&["tS", "dZ", "S", "Z"], Viseme::CH),
            (&["s", "z"], Viseme::SS),
            (&["r"], Viseme::RR),
            (&["w"], Viseme::WW),
        ];
        for (symbols, viseme) in cases {
            for symbol in *symbols {
                assert_eq!(viseme_for(symbol), *viseme, "{symbol}");
            }
        }
    }

    #[test]
    fn vowels_map_to_their_visemes_with_stress() {
        let cases: &[(&str, Viseme, Stress)] = &[
            ("'A:", Viseme::AA, Stress::Primary),
            ("a", Viseme::AA, Stress::Unmarked),
            (",E", Viseme::E, Stress::Secondary),
            ("i:", Viseme::I, Stress::Unmarked),
            ("'O:", Viseme::O, Stress::Primary),
            ("u:", Viseme::U, Stress::Unmarked),
            ("%@", Viseme::Schwa, Stress::Unstressed),
            ("3:", Viseme::RR, Stress::Unmarked),
            ("'V", Viseme::AA, Stress::Primary),
        ];
        for (symbol, viseme, stress) in cases {
            let phone = phone_for(symbol);
            assert_eq!((phone.nucleus(), phone.stress), (*viseme, *stress), "{symbol}");
        }
    }

    #[test]
    fn diphthongs_glide_through_their_parts() {
        assert_eq!(phone_for("'aI").parts, &[Viseme::AA, Viseme::I]);
        assert_eq!(phone_for("aU").parts, &[Viseme::AA, Viseme::U]);
        assert_eq!(phone_for(",oU").parts, &[Viseme::O, Viseme::U]);
        assert_eq!(phone_for("aI3").parts, &[Viseme::AA, Viseme::I, Viseme::RR]);
    }

    #[test]
    fn pauses_and_boundaries_are_silence() {
        for symbol in ["_", "_:", "_!", "_|", "||", "|", "", " ", "'"] {
            assert!(phone_for(symbol).is_silence(), "{symbol:?}");
        }
    }

    #[test]
    fn h_and_glottal_stop_yield_to_neighbours() {
        assert!(phone_for("h").weak);
        assert!(phone_for("?").weak);
        assert!(!phone_for("p").weak);
    }

    #[test]
    fn unknown_symbols_fall_back_sensibly() {
        assert_eq!(phone_for("u:2").matched, Match::Variant);
        assert_eq!(viseme_for("u:2"), Viseme::U);
        assert_eq!(viseme_for("l/3"), Viseme::DD);
        let vowelish = phone_for("Y:");
        assert_eq!(
            (vowelish.nucleus(), vowelish.matched),
            (Viseme::Schwa, Match::Fallback)
        );
        assert_eq!(viseme_for("q"), Viseme::DD);
        assert_eq!(viseme_for("ħ"), Viseme::DD);
        assert!(phone_for("*").weak);
    }

    #[test]
    fn targets_stay_on_the_mouth_and_in_range() {
        for viseme in Viseme::ALL {
            let target = viseme.target();
            for channel in Channel::ALL {
                let value = target.get(channel);
                if !MOUTH_CHANNELS.contains(&channel) {
                    assert_eq!(value, 0.0, "{} drives {}", viseme.name(), channel.name());
                }
            }
        }
        assert_eq!(Viseme::Sil.target(), MotionVector::NEUTRAL);
        let closed = Viseme::PP.target();
        assert_eq!(closed.get(Channel::MouthClose), 1.0);
        assert_eq!(closed.get(Channel::JawOpen), 0.0);
        assert_eq!(Viseme::ALL.len(), VISEME_COUNT);
        for (i, viseme) in Viseme::ALL.iter().enumerate() {
            assert_eq!(*viseme as usize, i);
        }
    }

    /// Asks the real espeak-ng for the mnemonics of more text and checks none falls through.
    #[test]
    fn espeak_ng_en_us_symbols_are_in_the_table() {
        let text = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen \
                    liquor jugs! How vexingly quick daft zebras jump; a wizard's job is to vex \
                    chumps quickly in fog. Whenever the bottle, little button and rhythm measure \
                    pleasure, though: cure, poor, air, ear, hour, fire, thought, bird, bath, \
                    cloth, loch, genre, usual, vision, azure, communication, 2024?";
        let output = match std::process::Command::new("espeak-ng")
            .args(["-v", "en-us", "-q", "-x", "--sep= ", text])
            .output()
        {
            Ok(output) if output.status.success() => output,
            Ok(output) => {
                println!("skipped: espeak-ng exited with {}", output.status);
                return;
            }
            Err(error) => {
                println!("skipped: espeak-ng is not on PATH ({error}); `apt install espeak-ng` adds it");
                return;
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut seen = 0;
        for symbol in stdout.split_whitespace() {
            seen += 1;
            assert_eq!(
                phone_for(symbol).matched,
                Match::Exact,
                "espeak-ng produced {symbol:?}"
            );
        }
        assert!(seen > 100, "espeak-ng produced only {seen} symbols:\n{stdout}");
    }
}
