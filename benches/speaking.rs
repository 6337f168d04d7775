//! The speaking half's own costs: espeak-ng's time to first audio and real-time factor, the
//! clause chunker, text normalisation, and the scripted-flow engine.
//!
//! - `espeak/first_audio_12_words`: from calling the engine to its first audio chunk (the
//!   consumer stops there), for a 12-word sentence. Target < 50 ms.
//! - `espeak/whole_12_words`: the whole sentence; throughput is in output samples, so
//!   real-time factor = 22 050 / (samples per second). The RTF is also printed directly (median
//!   of 50 runs). Target < 0.05 on one core.
//! - `chunker/reply_600_bytes`: a 600-byte reply fed in 4-byte tokens (per reply and per token).
//! - `normalize/sentence`: one reply sentence with money, a date and a phone number.
//! - `flow/clinic_intake_12_turns`: the shipped clinic intake, start to summary (per answer).
//!
//! Run: `cargo bench --bench speaking`

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group};
use persona::dialogue::chunker::{Chunker, ChunkerSettings};
use persona::dialogue::flow::{Flow, FlowEngine};
use persona::tts::Flow as Next;
use persona::tts::espeak::{Espeak, VoiceSettings};
use persona::tts::normalize::normalize;

/// Twelve words, the sentence length the target is stated for.
const SENTENCE: &str = "Please take a seat and someone will call your name very soon.";

const REPLY: &str = "Sure, I can help with that. The clinic opens at eight in the morning on weekdays, \
    and at nine on Saturdays. Dr. Patel sees walk-in patients from nine until noon, so if you come \
    early you will usually be seen within half an hour. Please bring your insurance card, a photo \
    ID and a list of any medicines you take. If you need to cancel, call us at least a day ahead. \
    Is there anything else I can help you with today? I can also book a follow-up appointment.";

const CLINIC_ANSWERS: [&str; 12] = [
    "hello",
    "Maria Gonzalez",
    "march fourteenth nineteen ninety",
    "five five five, one two three, four five six seven",
    "no I don't",
    "a sore throat",
    "it can wait a few days",
    "yes",
    "Blue Shield",
    "maria dot gonzalez at example dot com",
    "thank you",
    "bye",
];

fn espeak(c: &mut Criterion) {
    let engine = Espeak::global().expect("espeak-ng is installed (./setup.sh)");
    let voice = VoiceSettings::default();
    assert_eq!(SENTENCE.split_whitespace().count(), 12);
    let mut samples = 0u64;
    engine
        .synthesize(SENTENCE, &voice, &mut |chunk| {
            samples += chunk.samples.len() as u64;
            Next::Continue
        })
        .unwrap();

    // The real-time factor, printed as such.
    let mut times: Vec<f64> = (0..50)
        .map(|_| {
            let started = Instant::now();
            engine
                .synthesize(SENTENCE, &voice, &mut |_| Next::Continue)
                .unwrap();
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let audio_s = samples as f64 / engine.sample_rate_hz() as f64;
    println!(
        "espeak/rtf_12_words: {:.4} (median {:.2} ms for {:.2} s of speech)",
        times[25] / audio_s,
        times[25] * 1000.0,
        audio_s
    );

    let mut group = c.benchmark_group("espeak");
    group.bench_function("first_audio_12_words", |b| {
        b.iter(|| {
            engine
                .synthesize(black_box(SENTENCE), &voice, &mut |_| Next::Stop)
                .unwrap()
        })
    });
    group.throughput(Throughput::Elements(samples));
    group.bench_function("whole_12_words", |b| {
        b.iter(|| {
            engine
                .synthesize(black_box(SENTENCE), &voice, &mut |_| Next::Continue)
                .unwrap()
        })
    });
    group.finish();
}

fn text(c: &mut Criterion) {
    let tokens: Vec<&str> = {
        let mut tokens = Vec::new();
        let mut rest = REPLY;
        while !rest.is_empty() {
            let mut at = rest.len().min(4);
            while !rest.is_char_boundary(at) {
                at += 1;
            }
            tokens.push(&rest[..at]);
            rest = &rest[at..];
        }
        tokens
    };
    let mut group = c.benchmark_group("chunker");
    group.throughput(Throughput::Elements(tokens.len() as u64));
    group.bench_function("reply_600_bytes", |b| {
        let mut pieces = Vec::with_capacity(16);
        b.iter(|| {
            let mut chunker = Chunker::new(ChunkerSettings::default());
            pieces.clear();
            for token in &tokens {
                chunker.push(black_box(token), &mut pieces);
            }
            pieces.extend(chunker.finish());
            pieces.len()
        })
    });
    group.finish();

    c.bench_function("normalize/sentence", |b| {
        b.iter(|| {
            normalize(black_box(
                "It's $45.50 on 2026-03-14; call 555-123-4567 or see https://clinic.example/forms.",
            ))
        })
    });

    let flow = Flow::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/clinic-intake.toml")).unwrap();
    let mut group = c.benchmark_group("flow");
    group.throughput(Throughput::Elements(CLINIC_ANSWERS.len() as u64));
    group.bench_function("clinic_intake_12_turns", |b| {
        b.iter(|| {
            let mut engine = FlowEngine::new(flow.clone());
            for said in CLINIC_ANSWERS {
                black_box(engine.handle(black_box(said)));
            }
            engine.is_finished()
        })
    });
    group.finish();
}

criterion_group!(benches, espeak, text);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
