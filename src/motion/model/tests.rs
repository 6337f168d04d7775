//! Tests of the learned backend on the shipped model: it loads, streams real speech into a track
//! as long as the audio, joins chunks without seams, replays from its seed, batches sessions, and
//! refuses wrong sample rates and broken files with messages that say what to do.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::*;
use crate::audio::{AudioFrame, read_wav, write_wav};
use crate::motion::spec::{CHANNEL_COUNT, Channel, FrameClock, MotionFrame, MotionVector};
use crate::motion::visemes::MOUTH_CHANNELS;
use crate::onnx::SessionOptions;
use crate::runtime::epoch::Epoch;
use crate::tts::espeak::{Espeak, Flow, VoiceSettings};

const SENTENCE: &str = "Please bring your insurance card, and maybe a book for the waiting room.";

fn model_path() -> PathBuf {
    shipped_model().expect("the model is committed in models/")
}

fn net() -> MotionNet {
    MotionNet::load(&model_path(), SessionOptions::default()).expect("the shipped model loads")
}

/// espeak-ng speech with silence around it, at espeak's rate.
fn speech() -> &'static (Vec<f32>, u32) {
    static SPEECH: OnceLock<(Vec<f32>, u32)> = OnceLock::new();
    SPEECH.get_or_init(|| {
        let engine = Espeak::global().expect("espeak-ng is installed");
        let rate = engine.sample_rate_hz();
        let mut audio = vec![0.0; rate as usize / 2];
        engine
            .synthesize(SENTENCE, &VoiceSettings::default(), &mut |chunk| {
                audio.extend(chunk.samples.iter().map(|s| f32::from(*s) / 32768.0));
                Flow::Continue
            })
            .expect("espeak-ng speaks");
        audio.extend(std::iter::repeat_n(0.0, rate as usize / 2));
        (audio, rate)
    })
}

/// Streams `audio` in pieces of `piece` samples with chunks of `chunk_frames`.
fn stream(
    net: &mut MotionNet,
    audio: &[f32],
    clock: FrameClock,
    seed: u64,
    chunk_frames: usize,
    piece: usize,
) -> Vec<MotionFrame> {
    let mut motion = ModelMotion::new(net.meta(), clock, Epoch(3), seed, chunk_frames).expect("stream");
    let mut frames = Vec::new();
    for part in audio.chunks(piece) {
        motion.push_audio(part);
        motion.run_ready(net, &mut frames).expect("model runs");
    }
    motion.finish(audio.len() as u64);
    motion.run_ready(net, &mut frames).expect("model runs");
    assert!(motion.is_done());
    frames
}

fn mouth_gap(a: &MotionVector, b: &MotionVector) -> f32 {
    MOUTH_CHANNELS
        .iter()
        .map(|c| (a.get(*c) - b.get(*c)).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_shipped_model_streams_a_wav_into_a_track_as_long_as_the_audio() {
    let (audio, rate) = speech();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    write_wav(&wav, audio, *rate).unwrap();
    let decoded = read_wav(&wav).unwrap();
    let mut net = net();
    for (rate_hz, fps) in [(decoded.sample_rate_hz, 25), (48_000, 25), (48_000, 30)] {
        let samples = crate::audio::resample_all(&decoded.samples, decoded.sample_rate_hz, rate_hz).unwrap();
        let clock = FrameClock::new(rate_hz, fps);
        let frames = stream(&mut net, &samples, clock, 1, 5, rate_hz as usize / 50);
        assert_eq!(
            frames.len() as u64,
            clock.frames_covering(samples.len() as u64),
            "{rate_hz} Hz, {fps} fps"
        );
        for (k, frame) in frames.iter().enumerate() {
            assert_eq!(frame.frame_index, k as u64);
            assert_eq!(frame.sample, clock.frame_start_sample(k as u64));
            assert_eq!(frame.epoch, Epoch(3));
            assert_eq!(frame.vector, frame.vector.clamped());
            // Blinks and gaze belong to the idle overlay.
            for channel in [Channel::EyeBlinkLeft, Channel::EyeLookX, Channel::EyeLookY] {
                assert_eq!(frame.vector.get(channel), 0.0);
            }
        }
        // The mouth rests in the leading silence and opens while speaking.
        let lead = (fps / 4) as usize;
        let jaw: Vec<f32> = frames.iter().map(|f| f.vector.get(Channel::JawOpen)).collect();
        assert!(jaw[..lead].iter().all(|j| *j < 0.1), "{:?}", &jaw[..lead]);
        assert!(
            jaw.iter().filter(|j| **j > 0.15).count() > frames.len() / 5,
            "{jaw:?}"
        );
    }
}

#[test]
fn chunked_output_matches_the_whole_utterance_away_from_the_first_chunk() {
    let (audio, rate) = speech();
    let clock = FrameClock::new(*rate, 25);
    let mut net = net();
    let whole = stream(&mut net, audio, clock, 9, usize::MAX, 441);
    let chunked = stream(&mut net, audio, clock, 9, 5, 441);
    assert_eq!(whole.len(), chunked.len());
    // The network saw every frame with its neighbours in both runs (chunks overlap by
    // OVERLAP_FRAMES), but with other noise around it and another context: the tolerance is on
    // the mean and the 90th percentile, with a looser bound on any one frame.
    let mut gaps: Vec<f32> = whole
        .iter()
        .zip(&chunked)
        .skip(5)
        .map(|(w, c)| mouth_gap(&w.vector, &c.vector))
        .collect();
    gaps.sort_by(f32::total_cmp);
    let mean = gaps.iter().sum::<f32>() / gaps.len() as f32;
    let p90 = gaps[gaps.len() * 9 / 10];
    let worst = gaps[gaps.len() - 1];
    eprintln!("mouth gaps: mean {mean}, p90 {p90}, worst {worst}");
    assert!(mean < 0.03, "mean mouth difference {mean}");
    assert!(p90 < 0.08, "90th percentile mouth difference {p90}");
    assert!(worst < 0.4, "largest mouth difference {worst}");
    // No seams: the track moves no more across chunk boundaries than inside chunks.
    let step = |k: usize| mouth_gap(&chunked[k].vector, &chunked[k - 1].vector);
    let across: Vec<f32> = (5..chunked.len()).step_by(5).map(step).collect();
    let inside: Vec<f32> = (1..chunked.len()).filter(|k| k % 5 != 0).map(step).collect();
    let mean_of = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    // Without the overlap frame the track moved ~1.75× as far across a boundary as inside a
    // chunk; with it, ~1.2×.
    assert!(
        mean_of(&across) < 1.5 * mean_of(&inside) + 0.01,
        "steps across chunk boundaries {} vs inside {}",
        mean_of(&across),
        mean_of(&inside)
    );
}

#[test]
fn a_seed_replays_exactly_however_the_audio_is_split() {
    let (audio, rate) = speech();
    let clock = FrameClock::new(*rate, 25);
    let mut net = net();
    let a = stream(&mut net, audio, clock, 5, 5, 441);
    let b = stream(&mut net, audio, clock, 5, 5, 1000);
    let c = stream(&mut net, audio, clock, 5, 5, audio.len());
    let vectors = |frames: &[MotionFrame]| frames.iter().map(|f| f.vector).collect::<Vec<_>>();
    assert_eq!(vectors(&a), vectors(&b));
    assert_eq!(vectors(&a), vectors(&c));
    // Another seed: the same mouth, other gestures.
    let other = stream(&mut net, audio, clock, 6, 5, 441);
    assert_ne!(vectors(&a), vectors(&other));
    let mouth_mean = a
        .iter()
        .zip(&other)
        .map(|(x, y)| mouth_gap(&x.vector, &y.vector))
        .sum::<f32>()
        / a.len() as f32;
    assert!(mouth_mean < 0.05, "the mouth depends on the noise: {mouth_mean}");
}

#[test]
fn noise_is_standard_normal_and_keyed_by_frame() {
    let values: Vec<f32> = (0..20_000)
        .map(|j| stream::gaussian(42, j, (j % 17) as usize))
        .collect();
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32;
    assert!(
        mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
        "mean {mean} var {var}"
    );
    assert_eq!(stream::gaussian(1, 7, 3), stream::gaussian(1, 7, 3));
    assert_ne!(stream::gaussian(1, 7, 3), stream::gaussian(2, 7, 3));
}

#[test]
fn latency_is_a_chunk_plus_the_lookahead_plus_framing() {
    let net = net();
    let meta = net.meta();
    assert_eq!(meta.lookahead_ms, 80);
    assert!(meta.lookahead_ms <= meta::MAX_LOOKAHEAD_MS);
    assert!((2..=4).contains(&meta.steps));
    assert!(
        (1_000_000..=5_000_000).contains(&meta.parameters),
        "{} parameters",
        meta.parameters
    );
    let at_16k = ModelMotion::new(meta, FrameClock::new(16_000, 25), Epoch(0), 0, 5).unwrap();
    // 200 ms chunk + one 40 ms overlap frame + 80 ms lookahead + one 10 ms hop; no resampling
    // at 16 kHz.
    assert_eq!(at_16k.latency_ns(), 330_000_000);
    let at_48k = ModelMotion::new(meta, FrameClock::new(48_000, 25), Epoch(0), 0, 5).unwrap();
    assert!(at_48k.latency_ns() > 330_000_000 && at_48k.latency_ns() < 360_000_000);
}

#[test]
fn the_worker_batches_sessions_and_answers_each_with_its_own_poses() {
    let worker = MotionWorker::start(&model_path(), SessionOptions::default()).unwrap();
    let mut net = net();
    let meta = net.meta().clone();
    let (audio, rate) = speech();
    let clock = FrameClock::new(*rate, 25);
    // Eight sessions' first chunks, each with its own seed.
    let requests: Vec<ChunkRequest> = (0..8)
        .map(|seed| {
            let mut motion = ModelMotion::new(&meta, clock, Epoch(0), seed, 5).unwrap();
            motion.push_audio(&audio[..audio.len() / 2]);
            motion.poll_request().expect("enough audio for a chunk")
        })
        .collect();
    let alone: Vec<Vec<f32>> = requests
        .iter()
        .map(|r| net.run(&[r]).unwrap().remove(0))
        .collect();
    let answers: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .map(|r| {
                let worker = worker.clone();
                let request = r.clone();
                scope.spawn(move || worker.infer_blocking(request).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (got, want) in answers.iter().zip(&alone) {
        assert_eq!(got.len(), (5 + OVERLAP_FRAMES) * CHANNEL_COUNT);
        let diff = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-4, "batched and unbatched differ by {diff}");
    }
    let stats = worker.stats();
    assert_eq!(stats.chunks, 8);
    assert!(stats.calls <= 8 && stats.largest_batch >= 1);
    // One batch of all eight, run directly, equals the single runs too.
    let refs: Vec<&ChunkRequest> = requests.iter().collect();
    let batched = net.run(&refs).unwrap();
    for (got, want) in batched.iter().zip(&alone) {
        let diff = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-4, "batch of eight differs by {diff}");
    }
    // Sessions share one worker per model.
    let a = MotionWorker::shared(&model_path(), SessionOptions::default()).unwrap();
    let b = MotionWorker::shared(&model_path(), SessionOptions::default()).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
}

#[test]
fn a_wrong_sample_rate_is_a_clear_error() {
    let net = net();
    let meta = net.meta();
    // Audio at an impossible rate.
    let error = ModelMotion::new(meta, FrameClock::new(1_000, 25), Epoch(0), 0, 5)
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(message.contains("1000 Hz"), "{message}");
    // Audio at another rate than the stream was set up for.
    let mut motion = ModelMotion::new(meta, FrameClock::new(48_000, 25), Epoch(0), 0, 5).unwrap();
    let error = motion
        .push_frame(&AudioFrame::silence(16_000, 0, 320))
        .expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains("16000 Hz") && message.contains("48000 Hz"),
        "{message}"
    );
    // A model trained on features at another rate.
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path());
    edit_meta(&model, |meta| meta["sample_rate_hz"] = 22_050.into());
    let error = MotionNet::load(&model, SessionOptions::default())
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(matches!(error, ModelError::SampleRate { .. }), "{message}");
    assert!(
        message.contains("22050 Hz") && message.contains("16000 Hz"),
        "{message}"
    );
}

fn copy_model(dir: &Path) -> PathBuf {
    let from = model_path();
    let to = dir.join("motion.onnx");
    std::fs::copy(&from, &to).unwrap();
    std::fs::copy(ModelMeta::path_for(&from), ModelMeta::path_for(&to)).unwrap();
    to
}

fn edit_meta(model: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = ModelMeta::path_for(model);
    let mut meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut meta);
    std::fs::write(&path, serde_json::to_string(&meta).unwrap()).unwrap();
}

#[test]
fn broken_model_files_are_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let load = |path: &Path| {
        MotionNet::load(path, SessionOptions::default())
            .err()
            .expect("refused")
    };

    // Missing model.
    let error = load(&dir.path().join("nothing.onnx"));
    assert!(error.to_string().contains("nothing.onnx"), "{error}");

    // Truncated model: the metadata's SHA-256 catches it.
    let model = copy_model(dir.path());
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let error = load(&model);
    let message = error.to_string();
    assert!(matches!(error, ModelError::ModelHash { .. }), "{message}");
    assert!(
        message.contains("motion.onnx") && message.contains("corrupt"),
        "{message}"
    );

    // Garbage whose metadata was "fixed" to match: ONNX Runtime refuses it, naming the file.
    std::fs::write(&model, b"not a protobuf at all").unwrap();
    let hash = crate::models::sha256_hex(&model).unwrap();
    edit_meta(&model, |meta| meta["model_sha256"] = hash.into());
    let error = load(&model);
    let message = error.to_string();
    assert!(
        matches!(error, ModelError::Onnx(crate::onnx::OnnxError::ModelLoad { .. })),
        "{message}"
    );
    assert!(message.contains("motion.onnx"), "{message}");

    // Metadata missing, unparsable, or for other channels.
    let model = copy_model(dir.path());
    std::fs::remove_file(ModelMeta::path_for(&model)).unwrap();
    let message = load(&model).to_string();
    assert!(
        message.contains("motion.json") && message.contains("beside"),
        "{message}"
    );
    std::fs::write(ModelMeta::path_for(&model), "{ not json").unwrap();
    let message = load(&model).to_string();
    assert!(
        message.contains("motion.json") && message.contains("not usable"),
        "{message}"
    );
    let model = copy_model(dir.path());
    edit_meta(&model, |meta| meta["channels"][0] = "jawWide".into());
    let message = load(&model).to_string();
    assert!(
        message.contains("jawWide") && message.contains("spec.rs"),
        "{message}"
    );

    // Another ONNX model with matching metadata: the signature check names what it lacks.
    let other = dir.path().join("add_one.onnx");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/add_one.onnx"),
        &other,
    )
    .unwrap();
    std::fs::copy(ModelMeta::path_for(&model_path()), ModelMeta::path_for(&other)).unwrap();
    let hash = crate::models::sha256_hex(&other).unwrap();
    edit_meta(&other, |meta| meta["model_sha256"] = hash.into());
    let message = load(&other).to_string();
    assert!(message.contains("input `mel`"), "{message}");
}
