//! What listening costs: VAD per 20 ms frame for each backend, the voicing measure, the turn
//! core per frame, Smart Turn's features, and a whisper decode against utterance length.
//!
//! Speech comes from espeak-ng; the whisper model is the repo's synthetic one (random weights,
//! real code path); Silero is timed on `target/bench-models/silero_vad_v5_shaped.onnx` — the
//! real architecture and parameter count with random weights — when
//! `python3 scripts/onnx/make_bench_models.py` has written it (skipped with a note otherwise),
//! and on the committed signature fixture, which measures ONNX Runtime's per-call overhead.
//!
//! Run: `cargo bench --bench listening` (add a filter such as `-- vad` for one group).

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use persona::audio::{AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ, resample_all};
use persona::config::PipelineConfig;
use persona::stt::{AbortSignal, Transcriber, WhisperSettings, WhisperTranscriber, write_tiny_whisper};
use persona::tts::espeak::{Espeak, Flow, VoiceSettings};
use persona::turn::Endpointer;
use persona::turn::smart_turn::features::{LogMel, N_FRAMES, N_MELS};
use persona::turn::voicing::Voicing;
use persona::vad::{SileroVad, VoiceDetector, WebRtcVad};

fn speak(text: &str) -> Vec<f32> {
    let engine = Espeak::global().expect("espeak-ng is installed (./setup.sh)");
    let mut samples = Vec::new();
    engine
        .synthesize(text, &VoiceSettings::default(), &mut |chunk| {
            samples.extend(chunk.samples.iter().map(|s| *s as f32 / 32768.0));
            Flow::Continue
        })
        .expect("synthesis");
    resample_all(&samples, engine.sample_rate_hz(), LISTEN_RATE_HZ).expect("resample")
}

/// About 6 s of speech and pauses, cut into 20 ms frames.
fn conversation_frames() -> Vec<Vec<f32>> {
    let mut audio = vec![0.0; 8_000];
    for text in [
        "What time does the clinic open tomorrow?",
        "Can I bring my daughter with me?",
    ] {
        audio.extend(speak(text));
        audio.extend(vec![0.0; 16_000]);
    }
    audio
        .chunks_exact(LISTEN_FRAME_SAMPLES)
        .map(<[f32]>::to_vec)
        .collect()
}

fn vad(c: &mut Criterion) {
    let frames = conversation_frames();
    let mut group = c.benchmark_group("vad_per_20ms_frame");
    group.throughput(Throughput::Elements(1));
    let mut detectors: Vec<(&str, Box<dyn VoiceDetector>)> = vec![("webrtc", Box::new(WebRtcVad::new(2)))];
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = repo.join("tests/fixtures/onnx/silero_vad_v5_signature.onnx");
    detectors.push((
        "silero_signature_fixture",
        Box::new(SileroVad::load(&fixture).expect("ONNX Runtime (./setup.sh)")),
    ));
    let shaped = repo.join("target/bench-models/silero_vad_v5_shaped.onnx");
    match SileroVad::load(&shaped) {
        Ok(model) => detectors.push(("silero_v5_shaped", Box::new(model))),
        Err(_) => eprintln!(
            "skipping silero_v5_shaped: run `python3 scripts/onnx/make_bench_models.py` to write {}",
            shaped.display()
        ),
    }
    for (name, mut detector) in detectors {
        let mut k = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                k = (k + 1) % frames.len();
                detector.speech_probability(&frames[k]).unwrap()
            })
        });
    }
    group.finish();

    let mut voicing = Voicing::new();
    let mut k = 0;
    c.bench_function("voicing_per_20ms_frame", |b| {
        b.iter(|| {
            k = (k + 1) % frames.len();
            voicing.measure(&frames[k])
        })
    });
}

fn turn_core(c: &mut Criterion) {
    let frames = conversation_frames();
    let mut webrtc = WebRtcVad::new(2);
    let labelled: Vec<(AudioFrame, bool)> = frames
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let frame = AudioFrame::new(LISTEN_RATE_HZ, (k * LISTEN_FRAME_SAMPLES) as u64, f);
            let speech = webrtc.speech_probability(f).unwrap() >= 0.5;
            (frame, speech)
        })
        .collect();
    let config = PipelineConfig::embedded_default().turn;
    let mut group = c.benchmark_group("turn_core_per_20ms_frame");
    group.throughput(Throughput::Elements(labelled.len() as u64));
    // The whole conversation through a fresh core: idle (turns start at once) and with the
    // avatar speaking throughout (every onset is a barge-in candidate, voicing measured).
    for (name, speaking) in [("avatar_idle", false), ("avatar_speaking", true)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut endpointer = Endpointer::new(&config);
                endpointer.set_avatar_speaking(speaking);
                let mut events = 0;
                for (frame, speech) in &labelled {
                    endpointer.handle_frame(frame.clone(), *speech);
                    while endpointer.poll_event().is_some() {
                        events += 1;
                    }
                }
                events
            })
        });
    }
    group.finish();
}

fn smart_turn_features(c: &mut Criterion) {
    let mut audio = Vec::new();
    while audio.len() < 8 * LISTEN_RATE_HZ as usize {
        audio.extend(conversation_frames().concat());
    }
    let mut features = LogMel::new();
    let mut out = vec![0.0; N_MELS * N_FRAMES];
    c.bench_function("smart_turn_log_mel_8s", |b| {
        b.iter(|| features.compute(&audio, &mut out))
    });
}

fn whisper(c: &mut Criterion) {
    // SAFETY: set before whisper.cpp is first used; nothing else reads it concurrently.
    unsafe { std::env::set_var("GGML_NO_BACKTRACE", "1") };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-random-whisper.bin");
    write_tiny_whisper(&path, 1).unwrap();
    let mut stt = WhisperTranscriber::load(
        &path,
        WhisperSettings {
            max_tokens: 32,
            ..WhisperSettings::default()
        },
    )
    .unwrap();
    let speech = conversation_frames().concat();
    let never = AbortSignal::new();
    let mut group = c.benchmark_group("whisper_synthetic_decode");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    for seconds in [1usize, 2, 4, 8, 16] {
        let audio: Vec<f32> = speech
            .iter()
            .cycle()
            .take(seconds * LISTEN_RATE_HZ as usize)
            .copied()
            .collect();
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{seconds}s")),
            &audio,
            |b, audio| b.iter(|| stt.transcribe(audio, &never).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, vad, turn_core, smart_turn_features, whisper);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
