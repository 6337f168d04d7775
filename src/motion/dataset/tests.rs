//! End-to-end tests of the generator on tiny specs, with the installed espeak-ng.

use std::path::Path;
use std::sync::OnceLock;

use super::*;
use crate::motion::spec::{CHANNEL_COUNT, Channel};
use crate::motion::visemes::{Viseme, viseme_for};

fn tiny_spec(seed: u64) -> DatasetSpec {
    DatasetSpec {
        seed,
        utterances: 4,
        holdout_voice_fraction: 0.25,
        holdout_sentence_fraction: 0.25,
        babble_utterances: 2,
        wav_items: 1,
        ..DatasetSpec::default()
    }
}

/// One tiny dataset shared by the tests that only read it.
fn shared() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut calls = Vec::new();
        let summary = generate(&tiny_spec(11), dir.path(), &mut |done, total| {
            calls.push((done, total))
        })
        .expect("espeak-ng is installed and the tiny spec is valid");
        assert_eq!(summary.utterances, 4);
        assert_eq!(summary.items, 8, "a clean and an augmented copy per utterance");
        assert_eq!(calls.last(), Some(&(4, 4)));
        dir
    })
    .path()
}

/// Reads a float32 `.npy` written by this module: (rows, cols, values).
fn read_npy(path: &Path) -> (usize, usize, Vec<f32>) {
    let bytes = std::fs::read(path).expect("npy file");
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header = std::str::from_utf8(&bytes[10..npy::HEADER_BYTES]).expect("ascii header");
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("shape in header");
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().expect("a number"))
        .collect();
    let values: Vec<f32> = bytes[npy::HEADER_BYTES..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    assert_eq!(values.len(), dims[0] * dims[1]);
    (dims[0], dims[1], values)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("json file")).expect("valid json")
}

/// Where a child process writes its dataset, and with which seed.
const CHILD_OUT_ENV: &str = "PERSONA_TEST_DATASET_OUT";
const CHILD_SEED_ENV: &str = "PERSONA_TEST_DATASET_SEED";

/// Generates the tiny dataset in a fresh copy of this test binary. espeak-ng's waveform
/// generator keeps state across utterances (phase, sample counter, pitch flutter), so its output
/// depends on everything spoken earlier in the process: only a fresh process starts from the
/// same state.
fn generate_in_child(seed: u64, utterances: usize, out: &Path) {
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "motion::dataset::tests::generate_child",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_OUT_ENV, out)
        .env(CHILD_SEED_ENV, format!("{seed} {utterances}"))
        .output()
        .expect("spawn the test binary");
    assert!(
        output.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[ignore = "run in its own process by same_seed_same_bytes_in_a_fresh_process"]
fn generate_child() {
    let (Some(out), Some(seed)) = (
        std::env::var_os(CHILD_OUT_ENV),
        std::env::var(CHILD_SEED_ENV).ok(),
    ) else {
        return;
    };
    let (seed, utterances) = seed.split_once(' ').expect("seed and utterances");
    let spec = DatasetSpec {
        utterances: utterances.parse().expect("utterances"),
        ..tiny_spec(seed.parse().expect("seed"))
    };
    generate(&spec, Path::new(&out), &mut |_, _| {}).expect("generate");
}

#[test]
fn same_seed_same_bytes_in_a_fresh_process() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("temp dir")).collect();
    generate_in_child(11, 3, dirs[0].path());
    generate_in_child(11, 3, dirs[1].path());
    generate_in_child(12, 1, dirs[2].path());
    for name in [
        output::MELS_FILE,
        output::MOTION_FILE,
        output::IDLE_FILE,
        output::INDEX_FILE,
        output::META_FILE,
    ] {
        let a = std::fs::read(dirs[0].path().join(name)).expect("first");
        let b = std::fs::read(dirs[1].path().join(name)).expect("second");
        assert!(a == b, "{name} differs between two runs with the same seed");
    }
    let a = read_json(&dirs[0].path().join(output::META_FILE));
    let c = read_json(&dirs[2].path().join(output::META_FILE));
    assert_ne!(a["training_data_hash"], c["training_data_hash"]);
    assert_eq!(a["training_data_hash"].as_str().map(str::len), Some(64));
}

#[test]
fn arrays_index_and_meta_agree_and_align() {
    let dir = shared();
    let (mel_rows, mel_cols, mels) = read_npy(&dir.join(output::MELS_FILE));
    let (motion_rows, motion_cols, motion) = read_npy(&dir.join(output::MOTION_FILE));
    assert_eq!((mel_cols, motion_cols), (80, CHANNEL_COUNT));
    assert!(mels.iter().chain(&motion).all(|v| v.is_finite()));
    let index = read_json(&dir.join(output::INDEX_FILE));
    let items = index["items"].as_array().expect("items");
    assert_eq!(items.len(), 8);
    let (mut mel_next, mut motion_next) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let get = |key: &str| item[key].as_u64().unwrap_or_else(|| panic!("{key} in {item}"));
        assert_eq!(get("id"), i as u64);
        assert_eq!(get("mel_offset"), mel_next);
        assert_eq!(get("motion_offset"), motion_next);
        let (n_mel, n_video) = (get("mel_frames"), get("motion_frames"));
        // Alignment: 4 hops of 160 samples per video frame of 640 samples, exactly.
        assert_eq!(n_mel, 4 * n_video);
        assert_eq!(n_video * 640, n_mel * 160);
        let speech = get("speech_samples");
        assert!(
            speech <= n_video * 640 && n_video * 640 < speech + 640,
            "{speech} vs {n_video} frames"
        );
        mel_next += n_mel;
        motion_next += n_video;
        assert_eq!(item["clean"].as_bool(), Some(i % 2 == 0));
        if item["clean"] == true {
            assert_eq!(item["augmentation"]["gain_db"], 0.0);
        }
        // Every phoneme mark lies inside the item's audio.
        for mark in item["phonemes"].as_array().expect("phonemes") {
            assert!(mark[1].as_u64().expect("sample") <= n_video * 640);
        }
    }
    assert_eq!((mel_next, motion_next), (mel_rows as u64, motion_rows as u64));
    let meta = read_json(&dir.join(output::META_FILE));
    assert_eq!(meta["arrays"]["mels"]["shape"], serde_json::json!([mel_rows, 80]));
    assert_eq!(meta["video"]["fps"], 25);
    let names: Vec<&str> = meta["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, Channel::ALL.map(Channel::name).to_vec());
    assert_eq!(
        meta["normalisation"]["mel_mean"].as_array().map(Vec::len),
        Some(80)
    );
    let hash = meta["arrays"]["mels"]["sha256"].as_str().expect("hash");
    assert_eq!(
        hash,
        crate::models::sha256_hex(&dir.join(output::MELS_FILE)).expect("hash")
    );
    assert!(dir.join(output::WAV_DIR).join("00000.wav").exists());
    assert!(!dir.join("mels.npy.part").exists());
}

#[test]
fn every_p_b_m_closes_the_lips_in_the_targets() {
    let dir = shared();
    let (_, _, motion) = read_npy(&dir.join(output::MOTION_FILE));
    let index = read_json(&dir.join(output::INDEX_FILE));
    let frame = |row: u64| &motion[row as usize * CHANNEL_COUNT..(row as usize + 1) * CHANNEL_COUNT];
    let mut closures = 0;
    for item in index["items"].as_array().expect("items") {
        let offset = item["motion_offset"].as_u64().expect("offset");
        let frames = item["motion_frames"].as_u64().expect("frames");
        let marks = item["phonemes"].as_array().expect("phonemes");
        for (i, mark) in marks.iter().enumerate() {
            if viseme_for(mark[0].as_str().expect("symbol")) != Viseme::PP {
                continue;
            }
            let start = mark[1].as_u64().expect("start");
            let end = marks
                .get(i + 1)
                .map_or(start + 1, |m| m[1].as_u64().expect("start"));
            // The closure shows on a frame whose centre falls inside the phoneme, or on the
            // frame holding its midpoint.
            let first = (start / 640).saturating_sub(1);
            let last = (end / 640 + 1).min(frames - 1);
            let closed = (first..=last).any(|k| {
                let v = frame(offset + k);
                v[Channel::MouthPress as usize] == 1.0 && v[Channel::JawOpen as usize] == 0.0
            });
            assert!(closed, "no closure for {mark} in {}", item["text"]);
            closures += 1;
        }
    }
    assert!(closures >= 4, "only {closures} /p b m/ in the tiny dataset");
}

#[test]
fn splits_keep_voices_and_sentences_apart() {
    let plans: Vec<_> = (0..400)
        .map(|u| item::UtterancePlan::new(&DatasetSpec::default(), u).expect("plan"))
        .collect();
    let mut per_split = SplitCounts::default();
    for plan in &plans {
        per_split.add(plan.split, 1);
        let held_sentence = item::in_holdout_bucket(&plan.text, 0.05);
        assert_eq!(
            held_sentence,
            plan.split == Split::HoldoutSentence,
            "{}",
            plan.text
        );
        assert_eq!(plan.voice.is_held_out(), plan.split == Split::HoldoutVoice);
        assert!((120..=260).contains(&plan.rate_wpm) && (30..=70).contains(&plan.pitch));
    }
    assert!(
        per_split.train > 320 && per_split.holdout_voice > 5 && per_split.holdout_sentence > 5,
        "{per_split:?}"
    );
}

#[test]
fn bad_specs_are_refused_with_the_field_named() {
    let cases: [(DatasetSpec, &str); 4] = [
        (
            DatasetSpec {
                utterances: 0,
                ..DatasetSpec::default()
            },
            "utterances",
        ),
        (
            DatasetSpec {
                holdout_voice_fraction: 0.6,
                ..DatasetSpec::default()
            },
            "holdout",
        ),
        (
            DatasetSpec {
                rate_wpm: 50..=200,
                ..DatasetSpec::default()
            },
            "speaking rates",
        ),
        (
            DatasetSpec {
                clean_copy: false,
                augmented_copies: 0,
                ..DatasetSpec::default()
            },
            "no items",
        ),
    ];
    for (spec, needle) in cases {
        let message = spec.validate().expect_err("invalid").to_string();
        assert!(message.contains(needle), "{message}");
    }
}
