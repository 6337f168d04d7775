//! Generates the audio-to-motion training data until `persona motion dataset` is wired:
//!
//! ```text
//! cargo run --release --example motion_dataset -- --out data/motion --utterances 2000 --seed 1
//! ```
//!
//! Options: `--out DIR` (required), `--utterances N`, `--seed N`, `--sentences FILE` (one
//! sentence per line, mixed in with the grammar's), `--augmented-copies N`, `--no-clean`,
//! `--wavs N` (write the first N items' audio to DIR/wav/), `--holdout-voice F`,
//! `--holdout-sentence F`. The format is described in scripts/motion/README.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use persona::motion::dataset::{DatasetSpec, generate, load_sentences};

const USAGE: &str = "usage: motion_dataset --out DIR [--utterances N] [--seed N] [--sentences FILE] \
                     [--augmented-copies N] [--no-clean] [--wavs N] [--holdout-voice F] [--holdout-sentence F]";

fn main() -> ExitCode {
    let (spec, out) = match parse(std::env::args().skip(1).collect()) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mut report = |done: usize, total: usize| {
        let elapsed_s = started.elapsed().as_secs_f64();
        eprintln!(
            "{done}/{total} utterances, {elapsed_s:.1} s, {:.1} utterances/s",
            done as f64 / elapsed_s.max(1e-9)
        );
    };
    match generate(&spec, &out, &mut report) {
        Ok(summary) => {
            println!(
                "wrote {} items ({} utterances: {} train, {} holdout_voice, {} holdout_sentence) to {}",
                summary.items,
                summary.utterances,
                summary.utterances_per_split.train,
                summary.utterances_per_split.holdout_voice,
                summary.utterances_per_split.holdout_sentence,
                out.display()
            );
            println!(
                "{:.2} h of distinct speech, {:.2} h of item audio; {} feature frames, {} video frames",
                summary.speech_seconds / 3600.0,
                summary.audio_seconds / 3600.0,
                summary.mel_frames,
                summary.video_frames
            );
            println!(
                "took {:.1} s ({:.1} s inside espeak-ng); training data hash {}",
                summary.elapsed.as_secs_f64(),
                summary.synthesis.as_secs_f64(),
                summary.training_data_hash
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

fn parse(args: Vec<String>) -> Result<(DatasetSpec, PathBuf), String> {
    let mut spec = DatasetSpec::default();
    let mut out = None;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--utterances" => spec.utterances = number(&value("--utterances")?, "--utterances")?,
            "--seed" => spec.seed = number(&value("--seed")?, "--seed")?,
            "--augmented-copies" => {
                spec.augmented_copies = number(&value("--augmented-copies")?, "--augmented-copies")?
            }
            "--wavs" => spec.wav_items = number(&value("--wavs")?, "--wavs")?,
            "--holdout-voice" => {
                spec.holdout_voice_fraction = number(&value("--holdout-voice")?, "--holdout-voice")?
            }
            "--holdout-sentence" => {
                spec.holdout_sentence_fraction = number(&value("--holdout-sentence")?, "--holdout-sentence")?
            }
            "--no-clean" => spec.clean_copy = false,
            "--sentences" => {
                let path = PathBuf::from(value("--sentences")?);
                spec.extra_sentences = load_sentences(&path).map_err(|e| e.to_string())?;
            }
            "-h" | "--help" => return Err("generates the motion model's training data".into()),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    spec.validate().map_err(|e| e.to_string())?;
    let out = out.ok_or("--out DIR is required")?;
    Ok((spec, out))
}

fn number<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag} expects a number, got `{text}`"))
}
