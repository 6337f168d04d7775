//! Tests of the rule-based generator on synthetic phoneme timings at 48 kHz, 25 fps.

use super::*;
use crate::tts::PhonemeSymbol;

const RATE_HZ: u32 = 48_000;
const FPS: u32 = 25;

fn clock() -> FrameClock {
    FrameClock::new(RATE_HZ, FPS)
}

fn ms(ms: u64) -> u64 {
    ms * RATE_HZ as u64 / 1000
}

/// Marks from `(symbol, start in ms)`.
fn marks(spec: &[(&str, u64)]) -> Vec<PhonemeMark> {
    spec.iter()
        .map(|(symbol, start_ms)| PhonemeMark {
            symbol: PhonemeSymbol::new(symbol),
            start_sample: ms(*start_ms),
        })
        .collect()
}

fn one_shot(marks: &[PhonemeMark], total_samples: u64) -> Vec<MotionFrame> {
    one_shot_at(clock(), marks, total_samples)
}

fn one_shot_at(clock: FrameClock, marks: &[PhonemeMark], total_samples: u64) -> Vec<MotionFrame> {
    let mut motion = RulesMotion::new(clock, Epoch(3));
    let mut out = Vec::new();
    motion.push_phonemes(marks);
    motion.finish(total_samples, &mut out);
    out
}

/// The frame whose centre is at `t_ms`-ish: the one showing that instant.
fn frame_at_ms(frames: &[MotionFrame], t_ms: u64) -> &MotionFrame {
    &frames[clock().frame_at_sample(ms(t_ms)) as usize]
}

fn is_closed(vector: &MotionVector) -> bool {
    vector.get(Channel::JawOpen) == 0.0
        && vector.get(Channel::MouthClose) == 1.0
        && vector.get(Channel::MouthPress) == 1.0
}

/// A deterministic pseudo-random sequence for test data (no dependency, no global state).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// "Pack my box with five dozen liquor jugs, okay now." as espeak-ng spells it, with plausible random
/// durations (vowels longer than consonants) and pauses around it.
fn sentence(seed: u64) -> (Vec<PhonemeMark>, u64) {
    let symbols = [
        "_", "p", "'a", "k", "m", "aI", "b", "'0", "k", "s", "w", "I", "D", "f", "'aI", "v", "_!", "d", "'V",
        "z", "@", "n", "l", "'I", "k", "3", "dZ", "'V", "g", "z", "_!", "oU", "k", "'eI", "n", "'aU", "_",
    ];
    let mut rng = Lcg(seed);
    let mut position_samples = 0;
    let mut out = Vec::new();
    for symbol in symbols {
        out.push(PhonemeMark {
            symbol: PhonemeSymbol::new(symbol),
            start_sample: position_samples,
        });
        let phone = phone_for(symbol);
        let duration_ms = if phone.is_silence() {
            150 + rng.below(200)
        } else if phone.nucleus().is_vowel() {
            70 + rng.below(180)
        } else {
            // Down to 12 ms: some closures are shorter than a frame.
            12 + rng.below(90)
        };
        // Not a whole number of milliseconds, to exercise fractional frame boundaries.
        position_samples += ms(duration_ms) + rng.below(48);
    }
    (out, position_samples + rng.below(ms(100)))
}

fn assert_same_frames(a: &[MotionFrame], b: &[MotionFrame]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            (x.epoch, x.frame_index, x.sample),
            (y.epoch, y.frame_index, y.sample)
        );
        assert_eq!(x.vector, y.vector, "frame {}", x.frame_index);
    }
}

#[test]
fn lookahead_is_100_ms_and_pinned() {
    assert_eq!(RulesMotion::new(clock(), Epoch(0)).lookahead_samples(), 4800);
    assert_eq!(
        RulesMotion::new(FrameClock::new(16_000, 30), Epoch(0)).lookahead_samples(),
        1600
    );
    assert_eq!(
        RulesMotion::new(FrameClock::new(22_050, 25), Epoch(0)).lookahead_samples(),
        2205
    );
    // At 2 fps a frame is longer than the reach, and the closure rule needs a frame centre.
    assert_eq!(
        RulesMotion::new(FrameClock::new(48_000, 2), Epoch(0)).lookahead_samples(),
        24_000
    );
}

#[test]
fn a_frame_is_emitted_exactly_when_its_lookahead_is_known() {
    let mut motion = RulesMotion::new(clock(), Epoch(0));
    let mut out = Vec::new();
    motion.push_phonemes(&marks(&[("_", 0), ("b", 100), ("'A:", 160)]));
    // Frame 4 is centred on 180 ms = 8640 samples; it needs audio known to 8640 + 4800.
    motion.advance(8640 + 4800 - 1, &mut out);
    assert_eq!(out.len(), 4);
    motion.advance(8640 + 4800, &mut out);
    assert_eq!(out.len(), 5);
    // Marks alone move the horizon too: a mark at 400 ms says nothing comes before it.
    motion.push_phonemes(&marks(&[("p", 400)]));
    motion.advance(0, &mut out);
    let last_centre_samples =
        (clock().frame_start_sample(out.len() as u64 - 1) + clock().frame_start_sample(out.len() as u64)) / 2;
    assert!(last_centre_samples + motion.lookahead_samples() <= ms(400));
    assert!(last_centre_samples + ms(40) + motion.lookahead_samples() > ms(400));
}

#[test]
fn an_open_diphthong_holds_frames_until_its_end_is_known() {
    let mut motion = RulesMotion::new(clock(), Epoch(0));
    let mut out = Vec::new();
    motion.push_phonemes(&marks(&[("_", 0), ("f", 100), ("'aI", 200)]));
    motion.advance(ms(2000), &mut out);
    let held = out.len();
    assert_eq!(held as u64, clock().frame_at_sample(ms(200) - 4800 - ms(20)) + 1);
    motion.push_phonemes(&marks(&[("v", 400)]));
    motion.advance(ms(2000), &mut out);
    assert!(out.len() > held + 5);
}

#[test]
fn bob_closes_on_each_b_and_rests_in_silence() {
    let total = ms(900);
    let frames = one_shot(
        &marks(&[("_", 0), ("b", 200), ("'O:", 280), ("b", 480), ("_", 560)]),
        total,
    );
    assert_eq!(frames.len() as u64, clock().frames_covering(total));
    for t_ms in [220, 260, 500, 540] {
        let frame = frame_at_ms(&frames, t_ms);
        assert!(is_closed(&frame.vector), "{t_ms} ms: {:?}", frame.vector);
    }
    let vowel = frame_at_ms(&frames, 380).vector;
    assert!(vowel.get(Channel::JawOpen) > 0.4, "{vowel:?}");
    assert!(vowel.get(Channel::MouthFunnel) > 0.5, "{vowel:?}");
    assert!(vowel.get(Channel::BrowInnerUp) > 0.1, "stressed vowel: {vowel:?}");
    for t_ms in [0, 60, 100, 700, 780, 880] {
        let rest = frame_at_ms(&frames, t_ms).vector;
        assert!(rest.get(Channel::JawOpen) < 0.02, "{t_ms} ms: {rest:?}");
        assert!(rest.get(Channel::MouthFunnel) < 0.05, "{t_ms} ms: {rest:?}");
    }
}

#[test]
fn a_closure_shorter_than_a_frame_still_closes_one_frame() {
    // Frame centres at 20, 60, 100 ms …: a /p/ from 62 to 77 ms holds none of them.
    let frames = one_shot(&marks(&[("'a", 0), ("p", 62), ("'a", 77), ("_", 300)]), ms(400));
    let closed: Vec<u64> = frames
        .iter()
        .filter(|f| is_closed(&f.vector))
        .map(|f| f.frame_index)
        .collect();
    assert_eq!(closed, vec![1]);
    // And one that straddles a frame boundary lands on the frame holding its midpoint.
    let frames = one_shot(&marks(&[("'a", 0), ("m", 70), ("'a", 95), ("_", 300)]), ms(400));
    let closed: Vec<u64> = frames
        .iter()
        .filter(|f| is_closed(&f.vector))
        .map(|f| f.frame_index)
        .collect();
    assert_eq!(closed, vec![2]);
}

#[test]
fn every_closure_in_a_sentence_is_shown() {
    for seed in 0..20 {
        let (marks, total) = sentence(seed);
        let frames = one_shot(&marks, total);
        for (i, mark) in marks.iter().enumerate() {
            if viseme_for_mark(mark) != Viseme::PP {
                continue;
            }
            let end = marks.get(i + 1).map_or(total, |m| m.start_sample);
            let first = clock().frame_at_sample(mark.start_sample);
            let last = clock().frame_at_sample(end.saturating_sub(1));
            let shown = (first..=last).any(|k| is_closed(&frames[k as usize].vector));
            assert!(
                shown,
                "seed {seed}: {:?} at {}..{end} never closes",
                mark.symbol, mark.start_sample
            );
        }
    }
}

fn viseme_for_mark(mark: &PhonemeMark) -> Viseme {
    phone_for(mark.symbol.as_str()).nucleus()
}

#[test]
fn rounding_is_anticipated_before_a_rounded_vowel() {
    let pucker_during_st = |vowel: &str| {
        let frames = one_shot(
            &marks(&[("_", 0), ("s", 200), ("t", 290), (vowel, 350), ("_", 550)]),
            ms(800),
        );
        frame_at_ms(&frames, 300).vector.get(Channel::MouthPucker)
    };
    let before_u = pucker_during_st("'u:");
    let before_i = pucker_during_st("'i:");
    assert!(before_u > 0.3, "{before_u}");
    assert!(before_i < 0.05, "{before_i}");
}

#[test]
fn frames_are_consecutive_and_end_at_rest() {
    let (marks, total) = sentence(7);
    let frames = one_shot(&marks, total);
    assert_eq!(frames.len() as u64, clock().frames_covering(total));
    for (k, frame) in frames.iter().enumerate() {
        assert_eq!(frame.frame_index, k as u64);
        assert_eq!(frame.sample, clock().frame_start_sample(k as u64));
        assert_eq!(frame.epoch, Epoch(3));
        assert_eq!(frame.vector, frame.vector.clamped());
    }
    let last = frames.last().expect("a sentence has frames").vector;
    for channel in MOUTH_CHANNELS {
        assert_eq!(last.get(channel), 0.0, "{}", channel.name());
    }
    // Speech that runs to the very end still hands over a mouth at rest.
    let cut = one_shot(&marks[..5], marks[5].start_sample);
    assert_eq!(cut.last().expect("frames").vector.get(Channel::JawOpen), 0.0);
}

#[test]
fn streamed_output_equals_one_shot_output_exactly() {
    // Also at clocks whose frames are not a whole number of samples (positions are read at
    // each clock's rate, so the same marks make a slower or faster sentence).
    let clocks = [clock(), FrameClock::new(22_050, 30), FrameClock::new(16_000, 30)];
    for seed in 0..30 {
        let clock = clocks[seed as usize % clocks.len()];
        let (marks, total) = sentence(seed);
        let expected = one_shot_at(clock, &marks, total);
        let mut rng = Lcg(seed ^ 0x5eed);
        let mut motion = RulesMotion::new(clock, Epoch(3));
        let mut out = Vec::new();
        let mut pushed = 0;
        while pushed < marks.len() {
            let batch = 1 + rng.below(4) as usize;
            let end = (pushed + batch).min(marks.len());
            motion.push_phonemes(&marks[pushed..end]);
            pushed = end;
            // Audio is known up to somewhere before the next unpushed mark (or anywhere, at times
            // not at all).
            let limit = marks.get(pushed).map_or(total, |m| m.start_sample);
            for _ in 0..rng.below(3) {
                motion.advance(rng.below(limit + 1), &mut out);
            }
            if rng.below(2) == 0 {
                motion.advance(limit, &mut out);
            }
        }
        if rng.below(2) == 0 {
            motion.advance(total, &mut out);
        }
        motion.finish(total, &mut out);
        assert_eq!(motion.clamped_marks(), 0);
        assert_same_frames(&out, &expected);
    }
}

#[test]
fn backwards_marks_are_clamped_and_counted() {
    let mut motion = RulesMotion::new(clock(), Epoch(0));
    let mut out = Vec::new();
    motion.push_phonemes(&marks(&[("_", 0), ("'a", 300)]));
    motion.advance(ms(500), &mut out);
    motion.push_phonemes(&marks(&[("t", 200), ("_", 600)]));
    assert_eq!(motion.clamped_marks(), 1);
    motion.finish(ms(800), &mut out);
    assert_eq!(out.len() as u64, clock().frames_covering(ms(800)));
    assert!(out.iter().enumerate().all(|(k, f)| f.frame_index == k as u64));
}

#[test]
fn no_marks_is_a_still_face() {
    let mut motion = RulesMotion::new(clock(), Epoch(0));
    let mut out = Vec::new();
    motion.advance(ms(500), &mut out);
    motion.finish(ms(1000), &mut out);
    assert_eq!(out.len(), 25);
    assert!(out.iter().all(|f| f.vector == MotionVector::NEUTRAL));
}

#[test]
fn h_takes_the_shape_of_the_next_vowel() {
    let frames = one_shot(&marks(&[("_", 0), ("h", 200), ("'u:", 300), ("_", 500)]), ms(700));
    let during_h = frame_at_ms(&frames, 260).vector;
    assert!(during_h.get(Channel::MouthPucker) > 0.5, "{during_h:?}");
}

#[test]
fn memory_stays_flat_over_a_long_utterance() {
    let mut motion = RulesMotion::new(clock(), Epoch(0));
    let mut out = Vec::new();
    let mut rng = Lcg(1);
    let mut position = 0;
    for _ in 0..5000 {
        let symbol = ["p", "'a", "t", "O:", "s", "_"][rng.below(6) as usize];
        motion.push_phonemes(&[PhonemeMark {
            symbol: PhonemeSymbol::new(symbol),
            start_sample: position,
        }]);
        position += ms(40 + rng.below(100));
        motion.advance(position, &mut out);
        assert!(motion.closed.len() < 16, "{} segments held", motion.closed.len());
    }
}
