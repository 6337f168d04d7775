//! The espeak-ng voices the dataset speaks with, and which of them are held out.
//!
//! A voice is an English base voice (an accent, named as espeak-ng's voice file: `en-us`, `en`
//! for British English, `en-gb-scotland` …; `espeak-ng --voices=en` lists them) plus an
//! optional variant (`+f3`, `+klatt2`, `+Andy` …, the files of espeak-ng's `voices/!v`, listed
//! by `espeak-ng --voices=variant`), selected through the C API as one name such as
//! `en-gb-x-rp+f3`. Variants change the formants, pitch range and breathiness; the Klatt
//! variants switch the synthesiser itself.
//!
//! **Split.** Two base voices and twelve variants never appear in `train`: a voice is held out
//! when its base or its variant is. `holdout_voice` items use only such voices; `train` and
//! `holdout_sentence` items only voices whose base and variant are both in training. Novelty
//! variants (robots, whispers, croaks) are left out entirely: no TTS the avatar will hear sounds
//! like them. MBROLA voices are left out because they need data this machine lacks and speak at
//! another sample rate.

use super::rng::Rng;

/// Base voices heard in training.
pub(super) const TRAIN_BASES: &[&str] = &[
    "en-us",
    // British English: espeak-ng selects voices by file name, and this one's file is `gmw/en`.
    "en",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-us-nyc",
];
/// Base voices kept for evaluation.
pub(super) const HOLDOUT_BASES: &[&str] = &["en-029", "en-gb-x-gbcwmd"];

/// Variants heard in training; "" is the base voice's own.
pub(super) const TRAIN_VARIANTS: &[&str] = &[
    "", "f1", "f2", "f3", "f5", "m1", "m2", "m3", "m4", "m5", "m7", "klatt", "klatt2", "klatt4", "klatt6",
    "Andy", "Annie", "steph", "steph2", "linda", "robert", "paul", "john", "max", "michel", "travis",
    "victor", "shelby", "belinda", "aunty", "grandma", "grandpa", "david", "ed", "Mike", "Michael",
    "norbert", "quincy", "rob", "zac", "anika", "Alicia", "Andrea", "Lee", "Alex", "Jacky", "adam",
];
/// Variants kept for evaluation.
pub(super) const HOLDOUT_VARIANTS: &[&str] = &[
    "f4", "m6", "m8", "klatt3", "klatt5", "steph3", "edward", "benjamin", "caleb", "iven", "Gene", "Marco",
];

/// A base voice and a variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Voice {
    pub(super) base: &'static str,
    pub(super) variant: &'static str,
}

impl Voice {
    /// The name espeak-ng's `espeak_SetVoiceByName` takes: `base` or `base+variant`.
    pub(super) fn espeak_name(&self) -> String {
        if self.variant.is_empty() {
            self.base.to_string()
        } else {
            format!("{}+{}", self.base, self.variant)
        }
    }

    #[cfg(test)]
    pub(super) fn is_held_out(&self) -> bool {
        HOLDOUT_BASES.contains(&self.base) || HOLDOUT_VARIANTS.contains(&self.variant)
    }
}

/// A training voice: base and variant both from the training lists.
pub(super) fn train_voice(rng: &mut Rng) -> Voice {
    Voice {
        base: rng.pick(TRAIN_BASES),
        variant: rng.pick(TRAIN_VARIANTS),
    }
}

/// A held-out voice: a held-out base with any variant, or any base with a held-out variant,
/// each half the time.
pub(super) fn holdout_voice(rng: &mut Rng) -> Voice {
    if rng.chance(0.5) {
        let variants: Vec<&'static str> = TRAIN_VARIANTS.iter().chain(HOLDOUT_VARIANTS).copied().collect();
        Voice {
            base: rng.pick(HOLDOUT_BASES),
            variant: rng.pick(&variants),
        }
    } else {
        let bases: Vec<&'static str> = TRAIN_BASES.iter().chain(HOLDOUT_BASES).copied().collect();
        Voice {
            base: rng.pick(&bases),
            variant: rng.pick(HOLDOUT_VARIANTS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::dataset::rng::Stream;

    #[test]
    fn lists_are_disjoint_and_draws_respect_the_split() {
        for b in HOLDOUT_BASES {
            assert!(!TRAIN_BASES.contains(b), "{b}");
        }
        for v in HOLDOUT_VARIANTS {
            assert!(!TRAIN_VARIANTS.contains(v), "{v}");
        }
        for i in 0..2000 {
            let mut rng = Rng::new(5, Stream::Voice, i);
            assert!(!train_voice(&mut rng).is_held_out());
            assert!(holdout_voice(&mut rng).is_held_out());
        }
        let named = Voice {
            base: "en-gb-x-rp",
            variant: "f3",
        };
        assert_eq!(named.espeak_name(), "en-gb-x-rp+f3");
        assert_eq!(
            Voice {
                base: "en-us",
                variant: ""
            }
            .espeak_name(),
            "en-us"
        );
    }
}
