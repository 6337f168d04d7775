//! The learned motion model as a user meets it: the default backend of `persona say`, the rule
//! backend still selectable, a broken model refused before anything runs, and `persona eval
//! lipsync` scoring both backends.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn persona() -> Command {
    Command::new(env!("CARGO_BIN_EXE_persona"))
}

fn shipped_model() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/motion-fm.onnx")
}

#[test]
fn the_rule_backend_stays_selectable() {
    let dir = scratch().join("rules");
    std::fs::create_dir_all(&dir).unwrap();
    let pipeline = dir.join("rules.toml");
    std::fs::write(&pipeline, "[stages.motion]\nbackend = \"rules\"\n").unwrap();
    let video = dir.join("rules.webm");
    let out = persona()
        .args(["say", "Bob bought a map.", "--pipeline"])
        .arg(&pipeline)
        .arg("--out")
        .arg(&video)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::metadata(&video).unwrap().len() > 1000);
}

#[test]
fn a_corrupt_motion_model_is_refused_before_anything_runs() {
    let dir = scratch().join("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("motion.onnx");
    let bytes = std::fs::read(shipped_model()).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 3]).unwrap();
    std::fs::copy(
        shipped_model().with_extension("json"),
        model.with_extension("json"),
    )
    .unwrap();
    let pipeline = dir.join("broken.toml");
    std::fs::write(&pipeline, "[stages.motion]\nmodel = \"motion.onnx\"\n").unwrap();
    let video = dir.join("never.webm");
    let out = persona()
        .args(["say", "Hello.", "--pipeline"])
        .arg(&pipeline)
        .arg("--out")
        .arg(&video)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a broken model is a configuration error"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("motion.onnx") && stderr.contains("corrupt"),
        "{stderr}"
    );
    assert!(!video.exists(), "nothing was written");
}

#[test]
fn eval_lipsync_scores_the_model_and_the_rules_side_by_side() {
    let dir = scratch().join("eval");
    std::fs::create_dir_all(&dir).unwrap();
    let sentences = dir.join("sentences.txt");
    std::fs::write(
        &sentences,
        "# two short ones\nWould you like to move my toy this morning?\nDid Bob polish the message near the harbour?\n",
    )
    .unwrap();
    let json = dir.join("report.json");
    let out = persona()
        .args(["eval", "lipsync", "--sentences"])
        .arg(&sentences)
        .args(["--voices", "en-029,en-us+f4", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("viseme onset error, median (ms)"), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["utterances"], 4);
    assert_eq!(report["held_out_sentences"], 2);
    // The rule backend closes every /p b m/ by construction and follows the audio exactly.
    let rules = &report["rules_scores"];
    assert!(rules["bilabials"].as_u64().unwrap() >= 8, "{rules}");
    assert_eq!(rules["closure_recall"], 1.0);
    assert_eq!(rules["audio_jaw_lag_frames"], 0);
    // The model hears only audio; it must still close the lips and keep time.
    let model = &report["model_scores"];
    assert!(model["closure_recall"].as_f64().unwrap() >= 0.8, "{model}");
    assert!(
        model["audio_jaw_lag_frames"].as_i64().unwrap().abs() <= 1,
        "{model}"
    );
    assert!(
        model["onset_error_ms"]["median"].as_f64().unwrap() < 60.0,
        "{model}"
    );

    // A sentence file with nothing in it is a usage error naming the file.
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "# nothing\n").unwrap();
    let out = persona()
        .args(["eval", "lipsync", "--sentences"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty.txt"));
}
