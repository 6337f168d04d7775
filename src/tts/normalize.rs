//! Text normalisation: what a reply says, rewritten as words a speech engine reads sensibly.
//!
//! Language models write for the eye: `**bold**`, `$1,250.50`, `2024-03-14`, `555-123-4567`,
//! `https://clinic.example/forms`, `Mon-Fri 9-5`. espeak-ng reads those aloud literally
//! ("asterisk asterisk", "dollar one thousand … point five zero", "dash"), and Piper phonemises
//! through espeak-ng, so the TTS stage rewrites them first. Plain numbers, ordinals, times and
//! the common titles (`Dr.`, `St.`) are left alone: the engines already say them well.
//!
//! Every rewrite keeps a map from the spoken text back to the original ([`Normalized::source_range`]),
//! so a word the engine reports in the spoken text can be traced to the words of the reply —
//! that is how the dialogue learns which of *its* words were heard.
//!
//! This module is English-only and rule-based on purpose: a few dozen predictable rules, no
//! guessing. It does not expand numbers into words and does not touch SSML.

use std::ops::Range;

/// Spoken text plus the map back to the text it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalized {
    pub text: String,
    /// Consecutive pieces covering both texts in order: `source` became `spoken`.
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    source: Range<usize>,
    spoken: Range<usize>,
}

impl Normalized {
    /// The byte range of the original text that produced the spoken bytes `spoken`. A range
    /// touching any part of a rewritten token maps to the whole original token.
    pub fn source_range(&self, spoken: Range<usize>) -> Range<usize> {
        let first = self
            .segments
            .partition_point(|s| s.spoken.end <= spoken.start)
            .min(self.segments.len().saturating_sub(1));
        let last = self
            .segments
            .partition_point(|s| s.spoken.start < spoken.end.max(spoken.start + 1))
            .saturating_sub(1)
            .max(first);
        match (self.segments.get(first), self.segments.get(last)) {
            (Some(a), Some(b)) => {
                // Inside an unchanged segment bytes map one to one.
                let start = if a.source.len() == a.spoken.len() {
                    a.source.start + (spoken.start.saturating_sub(a.spoken.start)).min(a.source.len())
                } else {
                    a.source.start
                };
                let end = if b.source.len() == b.spoken.len() {
                    b.source.start + (spoken.end.saturating_sub(b.spoken.start)).min(b.source.len())
                } else {
                    b.source.end
                };
                start..end.max(start)
            }
            _ => 0..0,
        }
    }
}

/// Builds the spoken text and its segments.
struct Writer {
    text: String,
    segments: Vec<Segment>,
}

impl Writer {
    fn push(&mut self, source: Range<usize>, spoken: &str) {
        let start = self.text.len();
        self.text.push_str(spoken);
        self.segments.push(Segment {
            source,
            spoken: start..self.text.len(),
        });
    }
}

/// Rewrites `text` for a speech engine.
pub fn normalize(text: &str) -> Normalized {
    let mut out = Writer {
        text: String::with_capacity(text.len() + 16),
        segments: Vec::new(),
    };
    let tokens = tokens(text);
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].clone();
        let word = &text[token.clone()];
        if word.chars().all(char::is_whitespace) {
            out.push(token, whitespace(word));
            i += 1;
            continue;
        }
        // A currency amount may swallow the magnitude word after it ("$2 million").
        let next_word = tokens
            .get(i + 2)
            .filter(|_| {
                tokens
                    .get(i + 1)
                    .is_some_and(|t| text[t.clone()].trim().is_empty())
            })
            .map(|t| &text[t.clone()]);
        if let Some(next) = next_word
            && let Some(spoken) = money_with_magnitude(word, next)
        {
            let end = tokens[i + 2].end;
            out.push(token.start..end, &spoken);
            i += 3;
            continue;
        }
        let at_line_start = text[..token.start]
            .chars()
            .rev()
            .take_while(|c| *c != '\n')
            .all(char::is_whitespace);
        rewrite_token(word, token.start, at_line_start, &mut out);
        i += 1;
    }
    Normalized {
        text: out.text,
        segments: out.segments,
    }
}

/// Alternating runs of whitespace and non-whitespace, as byte ranges.
fn tokens(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (at, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|s| s != space) {
            out.push(start..at);
            start = at;
        }
        in_space = Some(space);
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

/// Whitespace is kept, except that a blank line (a paragraph break) becomes a pause.
fn whitespace(space: &str) -> &str {
    if space.matches('\n').count() >= 2 {
        ". "
    } else {
        space
    }
}

/// Markdown emphasis and code marks: layout, never spoken.
fn is_markup(c: char) -> bool {
    matches!(c, '*' | '_' | '`' | '~')
}

/// Punctuation as it is spoken: without markdown marks and link brackets.
fn spoken_marks(s: &str) -> String {
    s.chars()
        .filter(|c| !is_markup(*c) && *c != '[' && *c != ']')
        .collect()
}

/// One whitespace-delimited token at byte `at` of the text, rewritten into `out` as up to three
/// segments (leading punctuation, the word, trailing punctuation), so a spoken word maps back to
/// the written word without its punctuation.
fn rewrite_token(token: &str, at: usize, at_line_start: bool, out: &mut Writer) {
    // Markdown list bullets and headings at the start of a line are layout, not words.
    if at_line_start && (token == "-" || token == "*" || token == "•" || token.chars().all(|c| c == '#')) {
        out.push(at..at + token.len(), "");
        return;
    }
    let (lead, core, trail) = split_punctuation(token);
    out.push(at..at + lead.len(), &spoken_marks(lead));
    let core_at = at + lead.len();
    let trail_at = core_at + core.len();
    if core.is_empty() {
        out.push(core_at..at + token.len(), &spoken_marks(trail));
        return;
    }
    if core.contains("](") && trail.starts_with(')') {
        // A markdown link `[label](url)`: the label is spoken, the URL and brackets are not.
        out.push(core_at..trail_at + 1, &strip_markup(core));
        out.push(trail_at + 1..at + token.len(), &spoken_marks(&trail[1..]));
        return;
    }
    match rewrite_core(core, trail) {
        Rewritten::Keep => out.push(core_at..trail_at, &strip_markup(core)),
        Rewritten::Words(words) => out.push(core_at..trail_at, &words),
        Rewritten::WordsOwnPeriod(words) => {
            // The abbreviation's period is part of the word, and is not spoken.
            out.push(core_at..trail_at + 1, &words);
            out.push(trail_at + 1..at + token.len(), &spoken_marks(&trail[1..]));
            return;
        }
    }
    out.push(trail_at..at + token.len(), &spoken_marks(trail));
}

enum Rewritten {
    Keep,
    Words(String),
    /// The token's trailing period belonged to it (`approx.`), so it is dropped.
    WordsOwnPeriod(String),
}

/// A word without markdown marks; a link's `label](url` keeps its label.
fn strip_markup(core: &str) -> String {
    let core = core.split_once("](").map_or(core, |(label, _)| label);
    // Inside a word only `*` and `` ` `` are markup (`snake_case` keeps its underscore).
    core.chars()
        .filter(|c| !matches!(c, '*' | '`' | '[' | ']'))
        .collect()
}

/// Splits leading and trailing punctuation (and markdown marks) off a token:
/// `(**Hello**,` → `(**`, `Hello`, `**,`.
fn split_punctuation(token: &str) -> (&str, &str, &str) {
    let is_lead = |c: char| matches!(c, '(' | '[' | '"' | '\'' | '“' | '‘' | '{') || is_markup(c);
    let is_trail = |c: char| {
        matches!(
            c,
            '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '"' | '\'' | '”' | '’' | '}'
        ) || is_markup(c)
    };
    let core_start = token.find(|c: char| !is_lead(c)).unwrap_or(token.len());
    let core_end = token[core_start..]
        .char_indices()
        .rev()
        .find(|(_, c)| !is_trail(*c))
        .map_or(core_start, |(at, c)| core_start + at + c.len_utf8());
    (
        &token[..core_start],
        &token[core_start..core_end],
        &token[core_end..],
    )
}

fn rewrite_core(core: &str, trail: &str) -> Rewritten {
    let with_period = trail.starts_with('.');
    if core.contains("](") {
        return Rewritten::Words(strip_markup(core));
    }
    if let Some(words) = abbreviation(core, with_period) {
        // Abbreviations that never end a sentence lose their period; the rest keep it (it may
        // be the end of the sentence, and a pause is the safe reading).
        let never_ends = matches!(
            core.to_ascii_lowercase().as_str(),
            "approx" | "e.g" | "i.e" | "vs" | "appt" | "tel" | "dept"
        );
        return if with_period && never_ends {
            Rewritten::WordsOwnPeriod(words.to_string())
        } else {
            Rewritten::Words(words.to_string())
        };
    }
    if let Some(words) = symbol_word(core) {
        return Rewritten::Words(words.to_string());
    }
    if let Some(words) = email(core) {
        return Rewritten::Words(words);
    }
    if let Some(words) = url(core) {
        return Rewritten::Words(words);
    }
    if let Some(words) = money(core) {
        return Rewritten::Words(words);
    }
    if let Some(words) = date(core) {
        return Rewritten::Words(words);
    }
    if let Some(words) = phone(core) {
        return Rewritten::Words(words);
    }
    if let Some(words) = range(core) {
        return Rewritten::Words(words);
    }
    if let Some(words) = number_with_commas(core) {
        return Rewritten::Words(words);
    }
    if core.contains('&') && core.len() > 1 {
        return Rewritten::Words(core.replace('&', " and "));
    }
    if let Some(rest) = core.strip_prefix('#')
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_digit())
    {
        return Rewritten::Words(format!("number {rest}"));
    }
    Rewritten::Keep
}

/// Abbreviations espeak-ng misreads or reads as the end of a sentence.
fn abbreviation(core: &str, with_period: bool) -> Option<&'static str> {
    const WITH_PERIOD: &[(&str, &str)] = &[
        ("approx", "approximately"),
        ("appt", "appointment"),
        ("apt", "apartment"),
        ("ave", "avenue"),
        ("blvd", "boulevard"),
        ("dept", "department"),
        ("etc", "et cetera"),
        ("i.e", "that is"),
        ("e.g", "for example"),
        ("hr", "hour"),
        ("hrs", "hours"),
        ("min", "minutes"),
        ("mins", "minutes"),
        ("no", "number"),
        ("tel", "telephone"),
        ("vs", "versus"),
        ("rd", "road"),
    ];
    const BARE: &[(&str, &str)] = &[
        ("mins", "minutes"),
        ("hrs", "hours"),
        ("approx", "approximately"),
        ("vs", "versus"),
        ("w/", "with"),
        ("w/o", "without"),
        ("24/7", "twenty-four seven"),
    ];
    const DAYS: &[(&str, &str)] = &[
        ("mon", "Monday"),
        ("tue", "Tuesday"),
        ("tues", "Tuesday"),
        ("wed", "Wednesday"),
        ("thu", "Thursday"),
        ("thur", "Thursday"),
        ("thurs", "Thursday"),
        ("fri", "Friday"),
        ("sat", "Saturday"),
        ("sun", "Sunday"),
    ];
    let lower = core.to_ascii_lowercase();
    if with_period {
        // `No.` only before a number is "number"; "No." alone is the word no.
        if let Some((_, words)) = WITH_PERIOD.iter().find(|(abbr, _)| *abbr == lower)
            && lower != "no"
        {
            return Some(words);
        }
        if let Some((_, words)) = DAYS.iter().find(|(abbr, _)| *abbr == lower)
            && core.starts_with(|c: char| c.is_ascii_uppercase())
        {
            return Some(words);
        }
    }
    BARE.iter()
        .find(|(abbr, _)| *abbr == lower)
        .map(|(_, words)| *words)
}

fn symbol_word(core: &str) -> Option<&'static str> {
    Some(match core {
        "&" => "and",
        "+" => "plus",
        "=" => "equals",
        "@" => "at",
        "%" => "percent",
        "/" => "or",
        "->" | "→" => "to",
        _ => return None,
    })
}

fn email(core: &str) -> Option<String> {
    let (local, domain) = core.split_once('@')?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && core
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-@".contains(c));
    plausible.then(|| format!("{} at {}", spell_address(local), spell_address(domain)))
}

fn url(core: &str) -> Option<String> {
    let lower = core.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .map(|r| r.strip_prefix("www.").unwrap_or(r))
        .or_else(|| lower.strip_prefix("www."))?;
    // The query and fragment are noise when spoken.
    let rest = rest.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
    (!rest.is_empty()).then(|| spell_address(rest))
}

/// `john.smith` → `john dot smith`; `/` → `slash`; `-` → `dash`.
fn spell_address(part: &str) -> String {
    let mut out = String::with_capacity(part.len() + 16);
    for c in part.chars() {
        match c {
            '.' => out.push_str(" dot "),
            '/' => out.push_str(" slash "),
            '-' => out.push_str(" dash "),
            '_' => out.push_str(" underscore "),
            '+' => out.push_str(" plus "),
            c => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn currency(core: &str) -> Option<(&'static str, &'static str, &str)> {
    let (singular, plural, amount) = if let Some(a) = core.strip_prefix('$') {
        ("dollar", "dollars", a)
    } else if let Some(a) = core.strip_prefix('€') {
        ("euro", "euros", a)
    } else if let Some(a) = core.strip_prefix('£') {
        ("pound", "pounds", a)
    } else {
        return None;
    };
    let plausible = !amount.is_empty()
        && amount.starts_with(|c: char| c.is_ascii_digit())
        && amount.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.');
    plausible.then_some((singular, plural, amount))
}

fn money(core: &str) -> Option<String> {
    let (singular, plural, amount) = currency(core)?;
    let amount = amount.replace(',', "");
    let (whole, cents) = match amount.split_once('.') {
        Some((whole, cents)) if cents.len() == 2 && cents.chars().all(|c| c.is_ascii_digit()) => {
            (whole.to_string(), Some(cents.trim_start_matches('0').to_string()))
        }
        Some(_) => return Some(format!("{amount} {plural}")),
        None => (amount, None),
    };
    let unit = if whole == "1" { singular } else { plural };
    let cent_unit = if singular == "pound" { "pence" } else { "cents" };
    Some(match cents {
        Some(c) if !c.is_empty() => {
            let cent_unit = if c == "1" && cent_unit == "cents" {
                "cent"
            } else {
                cent_unit
            };
            format!("{whole} {unit} and {c} {cent_unit}")
        }
        _ => format!("{whole} {unit}"),
    })
}

fn money_with_magnitude(word: &str, next: &str) -> Option<String> {
    let (_, plural, amount) = currency(word)?;
    let magnitude = next.trim_end_matches(['.', ',', ';', ':', '!', '?']);
    let trail = &next[magnitude.len()..];
    matches!(
        magnitude.to_ascii_lowercase().as_str(),
        "thousand" | "million" | "billion" | "trillion"
    )
    .then(|| format!("{} {magnitude} {plural}{trail}", amount.replace(',', "")))
}

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `1st`, `2nd`, `11th`, `23rd`: a day of the month as it is written and read.
pub(crate) fn ordinal(day: u32) -> String {
    let suffix = match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{day}{suffix}")
}

pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// `2024-03-14`, `03/14/2024` (US order) or `14/03/2024` (day first, when unambiguous).
fn date(core: &str) -> Option<String> {
    let numbers = |sep: char| -> Option<Vec<u32>> {
        let parts: Vec<&str> = core.split(sep).collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
        {
            return None;
        }
        parts.iter().map(|p| p.parse().ok()).collect()
    };
    let (year, month, day) =
        if let Some(n) = numbers('-').filter(|_| core.len() == 10 && core.as_bytes()[4] == b'-') {
            (n[0], n[1], n[2])
        } else if let Some(n) = numbers('/').filter(|n| n[2] >= 1000) {
            if n[0] > 12 {
                (n[2], n[1], n[0])
            } else {
                (n[2], n[0], n[1])
            }
        } else {
            return None;
        };
    let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year as i32, month);
    valid.then(|| format!("{} {}, {year}", MONTHS[month as usize - 1], ordinal(day)))
}

/// Phone numbers: digits in groups (`555-123-4567`, `(555) 123-4567` arrives as two tokens, so
/// the bracketed area code alone is left as is), read digit by digit with a pause between groups.
fn phone(core: &str) -> Option<String> {
    let body = core.strip_prefix('+').unwrap_or(core);
    let groups: Vec<&str> = body.split(['-', '.']).collect();
    let digits: usize = groups.iter().map(|g| g.len()).sum();
    let date_shaped = groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [4, 2, 2];
    let plausible = groups.len() >= 3
        && !date_shaped
        && (7..=15).contains(&digits)
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_digit()));
    if !plausible {
        return None;
    }
    let spoken: Vec<String> = groups
        .iter()
        .map(|g| g.chars().map(String::from).collect::<Vec<_>>().join(" "))
        .collect();
    let lead = if core.starts_with('+') { "plus " } else { "" };
    Some(format!("{lead}{}", spoken.join(", ")))
}

/// `9-5` → `9 to 5`; `Mon-Fri` → `Monday to Friday`.
fn range(core: &str) -> Option<String> {
    let (a, b) = core.split_once(['-', '–'])?;
    let number = |s: &str| !s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit() || c == ':');
    if number(a) && number(b) {
        return Some(format!("{a} to {b}"));
    }
    let day_a = abbreviation(a, true).filter(|w| w.ends_with("day"));
    let day_b = abbreviation(b, true).filter(|w| w.ends_with("day"));
    match (day_a, day_b) {
        (Some(a), Some(b)) => Some(format!("{a} to {b}")),
        _ => None,
    }
}

fn number_with_commas(core: &str) -> Option<String> {
    let plausible = core.contains(',')
        && core.starts_with(|c: char| c.is_ascii_digit())
        && core.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.')
        && core.split('.').next().is_some_and(|whole| {
            let groups: Vec<&str> = whole.split(',').collect();
            groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3)
        });
    plausible.then(|| core.replace(',', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_forms_become_spoken_ones() {
        let cases = [
            ("**Hello** there", "Hello there"),
            ("It costs $5.50 today.", "It costs 5 dollars and 50 cents today."),
            ("About $1,250.", "About 1250 dollars."),
            ("Only $1.", "Only 1 dollar."),
            ("A $2 million grant", "A 2 million dollars grant"),
            ("Come on 2024-03-14, please", "Come on March 14th, 2024, please"),
            ("or 03/14/2024", "or March 14th, 2024"),
            ("or 14/03/2024", "or March 14th, 2024"),
            ("Call 555-123-4567.", "Call 5 5 5, 1 2 3, 4 5 6 7."),
            ("Open Mon-Fri 9-5.", "Open Monday to Friday 9 to 5."),
            (
                "See https://www.clinic.example/forms/new?x=1 now",
                "See clinic dot example slash forms slash new now",
            ),
            (
                "Mail jo.smith@clinic.example.",
                "Mail jo dot smith at clinic dot example.",
            ),
            ("Wait approx. 10 mins.", "Wait approximately 10 minutes."),
            ("Tom & Jerry", "Tom and Jerry"),
            ("Room #12", "Room number 12"),
            ("We're open 24/7", "We're open twenty-four seven"),
            ("Population 1,250,000 people", "Population 1250000 people"),
            ("Dr. Smith at 3:30 pm", "Dr. Smith at 3:30 pm"),
            ("- first item\n- second", "first item second"),
            ("## Title\n\nBody", "Title. Body"),
            ("Use [the form](https://x.example) today", "Use the form today"),
        ];
        for (input, expected) in cases {
            let got = normalize(input).text;
            let squashed = got.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(squashed, expected, "{input:?}");
        }
    }

    #[test]
    fn invalid_dates_and_plain_numbers_are_left_alone() {
        for input in [
            "2024-02-30",
            "13/13/2024",
            "3.14",
            "1990",
            "the 3rd",
            "9am",
            "50%",
        ] {
            assert_eq!(normalize(input).text, input);
        }
    }

    #[test]
    fn spoken_ranges_map_back_to_the_original_words() {
        let source = "Call 555-123-4567 today, costs $5.50.";
        let n = normalize(source);
        let find = |word: &str| {
            let at = n.text.find(word).unwrap();
            at..at + word.len()
        };
        assert_eq!(&source[n.source_range(find("Call"))], "Call");
        // Any part of a rewritten token maps to the whole token.
        assert_eq!(&source[n.source_range(find("1 2 3"))], "555-123-4567");
        assert_eq!(&source[n.source_range(find("dollars"))], "$5.50");
        assert_eq!(&source[n.source_range(find("today"))], "today");
        // A range spanning several tokens maps to their union.
        let span = find("Call").start..find("today").end;
        assert_eq!(&source[n.source_range(span)], "Call 555-123-4567 today");
    }

    #[test]
    fn unicode_survives() {
        let source = "Café “naïve” — über.";
        let n = normalize(source);
        assert_eq!(n.text, source);
        let at = n.text.find("naïve").unwrap();
        assert_eq!(&source[n.source_range(at..at + "naïve".len())], "naïve");
    }
}
