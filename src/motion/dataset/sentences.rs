//! Sentences for the dataset: a small seeded grammar over word lists chosen for phonetic
//! coverage, a pool of hand-written phonetically dense sentences, and the user's own.
//!
//! The word lists lean on what the mouth shows: many /p b m/ (closures), rounded vowels and /w/
//! (pucker and funnel), /f v/, /θ ð/, /ʃ ʒ tʃ dʒ/ and every English vowel and diphthong
//! (`beige`, `measure` and `vision` for /ʒ/, `boy` and `noise` for /ɔɪ/, `book` and `wool` for
//! /ʊ/, `bird` for /ɜː/ …). Templates mix statements, questions (yes/no and wh-), commands and
//! exclamations, and numbers written as digits (cardinals, years, decimals, percentages,
//! clock times) so espeak-ng reads them aloud its own way.
//!
//! Not here: which split a sentence belongs to (see the parent module), or voices.

use super::rng::Rng;

/// What kind of sentence a template makes; questions end in a rise that the brow track follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SentenceKind {
    Statement,
    Question,
    Command,
    Exclamation,
}

impl SentenceKind {
    /// The kind a sentence's final punctuation implies (for the pool and user sentences).
    pub(crate) fn of(text: &str) -> SentenceKind {
        match text.trim_end().chars().last() {
            Some('?') => SentenceKind::Question,
            Some('!') => SentenceKind::Exclamation,
            _ => SentenceKind::Statement,
        }
    }
}

const NAMES: &[&str] = &[
    "Bob",
    "Maya",
    "Paul",
    "Beth",
    "Judy",
    "George",
    "Ruth",
    "Theo",
    "Zoe",
    "Hugo",
    "Owen",
    "Yusuf",
    "Chloe",
    "Vince",
    "Kathy",
    "Mum",
    "Grandpa",
    "Doctor Moore",
    "Miss Bloom",
    "Uncle Joe",
    "Pablo",
    "Sophie",
    "Matthew",
    "Noor",
    "Boris",
    "Amber",
    "Bruno",
    "Morag",
    "Wendy",
    "Rupert",
    "Shirin",
    "Tom",
    "Pam",
    "Jamie",
    "Pooja",
];

/// (singular, plural)
const NOUNS: &[(&str, &str)] = &[
    ("map", "maps"),
    ("box", "boxes"),
    ("boat", "boats"),
    ("book", "books"),
    ("moon", "moons"),
    ("bubble", "bubbles"),
    ("pumpkin", "pumpkins"),
    ("umbrella", "umbrellas"),
    ("window", "windows"),
    ("voice", "voices"),
    ("treasure", "treasures"),
    ("thumb", "thumbs"),
    ("feather", "feathers"),
    ("judge", "judges"),
    ("cheese", "cheeses"),
    ("shoe", "shoes"),
    ("garage", "garages"),
    ("yacht", "yachts"),
    ("poem", "poems"),
    ("mirror", "mirrors"),
    ("puppy", "puppies"),
    ("bottle", "bottles"),
    ("spoon", "spoons"),
    ("broom", "brooms"),
    ("pearl", "pearls"),
    ("bird", "birds"),
    ("oyster", "oysters"),
    ("mouth", "mouths"),
    ("cloud", "clouds"),
    ("tower", "towers"),
    ("flower", "flowers"),
    ("hammer", "hammers"),
    ("chair", "chairs"),
    ("bridge", "bridges"),
    ("village", "villages"),
    ("jacket", "jackets"),
    ("kitchen", "kitchens"),
    ("engine", "engines"),
    ("violin", "violins"),
    ("zebra", "zebras"),
    ("tomato", "tomatoes"),
    ("computer", "computers"),
    ("message", "messages"),
    ("vision", "visions"),
    ("toy", "toys"),
    ("coin", "coins"),
    ("pillow", "pillows"),
    ("marble", "marbles"),
    ("rope", "ropes"),
    ("pebble", "pebbles"),
    ("photo", "photos"),
    ("number", "numbers"),
    ("banana", "bananas"),
    ("room", "rooms"),
    ("wolf", "wolves"),
    ("hook", "hooks"),
    ("boot", "boots"),
    ("noodle", "noodles"),
    ("mop", "mops"),
    ("bamboo pole", "bamboo poles"),
    ("yellow boat", "yellow boats"),
    ("thermometer", "thermometers"),
    ("measuring jug", "measuring jugs"),
];

const ADJECTIVES: &[&str] = &[
    "blue",
    "big",
    "bumpy",
    "smooth",
    "purple",
    "warm",
    "cool",
    "brown",
    "yellow",
    "enormous",
    "tiny",
    "beautiful",
    "old",
    "shiny",
    "usual",
    "rough",
    "thin",
    "pleasant",
    "muddy",
    "gloomy",
    "beige",
    "wobbly",
    "broken",
    "noisy",
    "huge",
    "frozen",
    "open",
    "orange",
    "pink",
    "soft",
    "heavy",
    "obvious",
    "awful",
    "cheap",
    "fresh",
    "genuine",
    "leathery",
    "moist",
    "round",
    "zany",
];

/// (base form, past tense); all transitive.
const VERBS: &[(&str, &str)] = &[
    ("move", "moved"),
    ("push", "pushed"),
    ("bring", "brought"),
    ("open", "opened"),
    ("paint", "painted"),
    ("borrow", "borrowed"),
    ("measure", "measured"),
    ("throw", "threw"),
    ("choose", "chose"),
    ("carry", "carried"),
    ("fix", "fixed"),
    ("wash", "washed"),
    ("buy", "bought"),
    ("bake", "baked"),
    ("build", "built"),
    ("zip", "zipped"),
    ("hug", "hugged"),
    ("pour", "poured"),
    ("polish", "polished"),
    ("weigh", "weighed"),
    ("bump", "bumped"),
    ("mop", "mopped"),
    ("grab", "grabbed"),
    ("examine", "examined"),
    ("enjoy", "enjoyed"),
    ("lose", "lost"),
    ("prove", "proved"),
    ("soothe", "soothed"),
    ("wrap", "wrapped"),
    ("shove", "shoved"),
];

const PLACES: &[&str] = &[
    "in the bathroom",
    "by the pool",
    "under the bridge",
    "on the roof",
    "at the museum",
    "near the harbour",
    "behind the shop",
    "through the woods",
    "across the bay",
    "over the moon",
    "in the boot of the car",
    "at the bottom of the pit",
    "beyond the mountains",
    "on board the ship",
    "next to the fountain",
    "in our room",
];

const TIMES: &[&str] = &[
    "this morning",
    "yesterday",
    "on Monday",
    "at noon",
    "before breakfast",
    "every summer",
    "tomorrow evening",
    "at nine o'clock",
    "in June",
    "before the storm",
    "after lunch",
    "by Thursday",
];

const ADVERBS: &[&str] = &[
    "slowly",
    "happily",
    "carefully",
    "quietly",
    "boldly",
    "smoothly",
    "abruptly",
    "thoroughly",
    "politely",
    "patiently",
];

const INTERJECTIONS: &[&str] = &[
    "Wow", "Oh", "Hmm", "Well", "Oops", "Yes", "Oh boy", "Look", "Whoa", "Bravo",
];

const RELATIVES: &[&str] = &[
    "mother",
    "brother",
    "father",
    "cousin",
    "neighbour",
    "boss",
    "teacher",
    "aunt",
];

/// Hand-written, phonetically dense sentences: rare sounds (/ʒ ð θ ɔɪ ʊ/), clusters and
/// closure runs ("bubble", "probably") that random templates hit less often.
pub(crate) const POOL: &[&str] = &[
    "The beige measure of his vision was unusual.",
    "Both thin thieves thought that this weather was rather smooth.",
    "Bobby bought a big blue balloon for the baby.",
    "Peter Piper picked a peck of pickled peppers.",
    "Mum made marmalade from a mountain of plums.",
    "Would you move the wooden boots to the room?",
    "The boy's noisy toy annoyed the loyal employee.",
    "How now, brown cow, about the loud cloud?",
    "She sells sea shells by the sea shore, surely.",
    "Judge George enjoyed the huge orange fudge.",
    "Which church chose the cheap cheese?",
    "Who put the good book on the wool cushion?",
    "The third bird heard the early word first.",
    "Five vivid violets wave over the valley.",
    "Please pass the paper plates, Pam.",
    "Oh no, the yellow yo-yo rolled over the road!",
    "Why would Ruth refuse the blue fruit juice?",
    "My pet pup probably poked the pillow.",
    "Zoe was amazed by the zigzag of the zebra.",
    "The treasure is hidden in the garage, in a beige box.",
    "Are you sure the pure cure will work?",
    "Thank you for the map, it helped a lot.",
    "Hello, my name is Amber, and I am happy to help you.",
    "Could you repeat that phone number, please?",
    "It's about twenty past three, I think.",
    "Good morning! What would you like to do today?",
    "I'm sorry, I didn't quite catch that.",
    "We'll be there in about five minutes.",
];

/// One sentence drawn from the grammar (templates and the pool).
pub(crate) fn generate(rng: &mut Rng) -> (String, SentenceKind) {
    if rng.chance(0.12) {
        let text = rng.pick(POOL);
        return (text.to_string(), SentenceKind::of(text));
    }
    let name = |rng: &mut Rng| rng.pick(NAMES);
    let noun = |rng: &mut Rng| rng.pick(NOUNS).0;
    let plural = |rng: &mut Rng| rng.pick(NOUNS).1;
    let adj = |rng: &mut Rng| rng.pick(ADJECTIVES);
    let base = |rng: &mut Rng| rng.pick(VERBS).0;
    let past = |rng: &mut Rng| rng.pick(VERBS).1;
    let place = |rng: &mut Rng| rng.pick(PLACES);
    let time = |rng: &mut Rng| rng.pick(TIMES);
    let adverb = |rng: &mut Rng| rng.pick(ADVERBS);
    use SentenceKind::*;
    let template = rng.int(0, 17);
    let (text, kind) = match template {
        0 => (
            format!(
                "{} {} the {} {} {}.",
                name(rng),
                past(rng),
                adj(rng),
                noun(rng),
                place(rng)
            ),
            Statement,
        ),
        1 => (
            format!(
                "{} {} {} {} {} {}.",
                name(rng),
                past(rng),
                small_number(rng),
                adj(rng),
                plural(rng),
                time(rng)
            ),
            Statement,
        ),
        2 => (
            format!(
                "Did {} {} the {} {}?",
                name(rng),
                base(rng),
                noun(rng),
                place(rng)
            ),
            Question,
        ),
        3 => (
            format!(
                "Why did {} {} the {} {}?",
                name(rng),
                base(rng),
                adj(rng),
                noun(rng)
            ),
            Question,
        ),
        4 => (
            format!("How many {} can you {} {}?", plural(rng), base(rng), time(rng)),
            Question,
        ),
        5 => (
            format!(
                "Please {} the {} {} {}.",
                base(rng),
                noun(rng),
                adverb(rng),
                place(rng)
            ),
            Command,
        ),
        6 => (
            format!(
                "{}, the {} is so {}!",
                rng.pick(INTERJECTIONS),
                noun(rng),
                adj(rng)
            ),
            Exclamation,
        ),
        7 => (
            format!("Is the {} {} or {}?", noun(rng), adj(rng), adj(rng)),
            Question,
        ),
        8 => (
            format!("We paid {} pounds for a {} {}.", number(rng), adj(rng), noun(rng)),
            Statement,
        ),
        9 => (
            format!(
                "My {} {} {} {} in {}.",
                rng.pick(RELATIVES),
                past(rng),
                small_number(rng),
                plural(rng),
                rng.int(1900, 2099)
            ),
            Statement,
        ),
        10 => (
            format!("Would you like to {} my {} {}?", base(rng), noun(rng), time(rng)),
            Question,
        ),
        11 => (
            format!(
                "{} and {} {} the {}, but the {} was {}.",
                name(rng),
                name(rng),
                past(rng),
                noun(rng),
                noun(rng),
                adj(rng)
            ),
            Statement,
        ),
        12 => (format!("Where is the {} {}?", adj(rng), noun(rng)), Question),
        13 => (
            format!(
                "Remember: {} {}, {} {}, and one {}.",
                small_number(rng),
                plural(rng),
                small_number(rng),
                plural(rng),
                noun(rng)
            ),
            Command,
        ),
        14 => (
            format!(
                "The meeting starts at {}, so {} the {} {}.",
                clock_time(rng),
                base(rng),
                noun(rng),
                adverb(rng)
            ),
            Command,
        ),
        15 => (
            format!(
                "About {} of the {} were {}, {} said.",
                percentage(rng),
                plural(rng),
                adj(rng),
                name(rng)
            ),
            Statement,
        ),
        16 => (
            format!(
                "{}, {} {} the {} {}!",
                rng.pick(INTERJECTIONS),
                name(rng),
                past(rng),
                noun(rng),
                place(rng)
            ),
            Exclamation,
        ),
        _ => (
            format!(
                "Do you think {} will {} {} {} {}?",
                name(rng),
                base(rng),
                number(rng),
                plural(rng),
                time(rng)
            ),
            Question,
        ),
    };
    (text, kind)
}

fn small_number(rng: &mut Rng) -> String {
    rng.int(2, 19).to_string()
}

/// Cardinals of every size, now and then with a decimal part.
fn number(rng: &mut Rng) -> String {
    let magnitude = rng.int(0, 3) as u32;
    let value = rng.int(0, 10_u64.pow(magnitude + 1) - 1);
    if rng.chance(0.15) {
        format!("{value}.{}", rng.int(1, 99))
    } else {
        value.to_string()
    }
}

fn percentage(rng: &mut Rng) -> String {
    format!("{}%", rng.int(1, 99))
}

fn clock_time(rng: &mut Rng) -> String {
    format!("{}:{:02}", rng.int(1, 12), rng.int(0, 11) * 5)
}

/// Lower-case, single-spaced form used to decide a sentence's split, so that spacing or case
/// never lets the same sentence into two splits.
pub(crate) fn normalise(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::dataset::rng::Stream;

    #[test]
    fn the_grammar_is_seeded_varied_and_mixes_kinds() {
        let draw = |seed| {
            (0..400)
                .map(|i| generate(&mut Rng::new(seed, Stream::Sentence, i)))
                .collect::<Vec<_>>()
        };
        let a = draw(1);
        assert_eq!(a, draw(1));
        assert_ne!(a, draw(2));
        let distinct: std::collections::HashSet<&String> = a.iter().map(|(t, _)| t).collect();
        assert!(distinct.len() > 300, "{} distinct of 400", distinct.len());
        for kind in [
            SentenceKind::Statement,
            SentenceKind::Question,
            SentenceKind::Command,
            SentenceKind::Exclamation,
        ] {
            let n = a.iter().filter(|(_, k)| *k == kind).count();
            assert!(n >= 20, "{kind:?}: {n}");
        }
        assert!(a.iter().any(|(t, _)| t.chars().any(|c| c.is_ascii_digit())));
        for (text, kind) in &a {
            assert!(text.len() < 200 && text.is_ascii(), "{text}");
            if *kind == SentenceKind::Question {
                assert!(text.ends_with('?'), "{text}");
            }
        }
    }

    #[test]
    fn normalising_ignores_case_and_spacing() {
        assert_eq!(normalise("  Bob  bought\ta MAP. "), "bob bought a map.");
    }
}
