//! `persona eval lipsync`: scores the learned motion model and the rule backend side by side.

use std::path::PathBuf;

use anyhow::Context;
use persona::motion::eval::{BackendReport, DEFAULT_VOICES, LipsyncSpec, Stats};

use super::{CommandResult, Failure};

#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// Speak sentences with espeak-ng and score the motion model against the rule backend:
    /// viseme onset error, /p b m/ closure recall, audio-jaw offset, blinks, head smoothness.
    Lipsync(LipsyncArgs),
}

#[derive(clap::Args)]
pub struct LipsyncArgs {
    /// Sentences to speak, one per line (`#` starts a comment), e.g. scripts/motion/eval_sentences.txt.
    #[arg(long)]
    sentences: PathBuf,
    /// espeak-ng voices, comma-separated (default: voices held out of the model's training).
    #[arg(long, value_delimiter = ',')]
    voices: Vec<String>,
    /// Write the full report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The motion model (default: the shipped models/motion-fm.onnx).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Audio per model call, in milliseconds (a multiple of 40).
    #[arg(long, default_value_t = 200)]
    chunk_ms: u32,
    /// Seed of the model's noise and of the idle motion.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Speaking rate, words per minute.
    #[arg(long, default_value_t = 170)]
    rate: u32,
    /// Voice pitch, 0..=100.
    #[arg(long, default_value_t = 50)]
    pitch: u8,
}

pub fn run(command: EvalCommand) -> CommandResult {
    match command {
        EvalCommand::Lipsync(args) => lipsync(args),
    }
}

fn lipsync(args: LipsyncArgs) -> CommandResult {
    let sentences = persona::motion::dataset::load_sentences(&args.sentences).map_err(Failure::usage)?;
    let voices = if args.voices.is_empty() {
        DEFAULT_VOICES.iter().map(|v| v.to_string()).collect()
    } else {
        args.voices
    };
    if args.chunk_ms == 0 || !args.chunk_ms.is_multiple_of(40) {
        return Err(Failure::usage(anyhow::anyhow!(
            "--chunk-ms {} must be a positive multiple of 40 (the model's frame)",
            args.chunk_ms
        )));
    }
    let model = match args.model {
        Some(path) => path,
        None => persona::motion::model::shipped_model().map_err(Failure::usage)?,
    };
    let spec = LipsyncSpec {
        sentences,
        voices,
        rate_wpm: args.rate,
        pitch: args.pitch,
        model,
        chunk_frames: (args.chunk_ms / 40) as usize,
        seed: args.seed,
    };
    let total = spec.sentences.len() * spec.voices.len();
    eprintln!(
        "speaking {} sentences with {} voices ({total} utterances)…",
        spec.sentences.len(),
        spec.voices.len()
    );
    let report = persona::motion::eval::run(&spec, &mut |done, total| {
        if done % 20 == 0 || done == total {
            eprintln!("  {done}/{total}");
        }
    })
    .map_err(|e| match e {
        persona::motion::eval::EvalError::Model(_) | persona::motion::eval::EvalError::Empty => {
            Failure::usage(e)
        }
        other => Failure::runtime(other),
    })?;

    println!(
        "{} utterances ({:.0} s of speech), {} sentences ({} held out of training), voices: {}",
        report.utterances,
        report.speech_seconds,
        report.sentences,
        report.held_out_sentences,
        report.voices.join(", ")
    );
    println!(
        "model {} (training data {})",
        report.model,
        &report.model_training_data_hash[..12.min(report.model_training_data_hash.len())]
    );
    println!();
    println!("{:<44} {:>12} {:>12}", "", "model", "rules");
    let (m, r) = (&report.model_scores, &report.rules_scores);
    let row = |name: &str, a: String, b: String| println!("{name:<44} {a:>12} {b:>12}");
    let ms = |s: &Stats, f: fn(&Stats) -> Option<f64>| f(s).map_or("-".into(), |v| format!("{v:.1}"));
    row(
        "viseme onset error, median (ms)",
        ms(&m.onset_error_ms, |s| s.median),
        ms(&r.onset_error_ms, |s| s.median),
    );
    row(
        "viseme onset error, p90 (ms)",
        ms(&m.onset_error_ms, |s| s.p90),
        ms(&r.onset_error_ms, |s| s.p90),
    );
    let bias = |b: &BackendReport| b.onset_bias_ms.map_or("-".into(), |v| format!("{v:+.1}"));
    row("viseme onset bias (ms, + late)", bias(m), bias(r));
    let missed = |b: &BackendReport| format!("{}/{}", b.transitions_missed, b.transitions);
    row("viseme transitions never made", missed(m), missed(r));
    let pct = |v: f64| format!("{:.1} %", 100.0 * v);
    row(
        "/p b m/ closure recall (seal >= 0.5)",
        pct(m.closure_recall),
        pct(r.closure_recall),
    );
    row(
        "/p b m/ full closure recall (seal >= 0.9)",
        pct(m.full_closure_recall),
        pct(r.full_closure_recall),
    );
    row(
        "audio-jaw offset, pooled (frames)",
        format!("{:+} (r {:.2})", m.audio_jaw_lag_frames, m.audio_jaw_correlation),
        format!("{:+} (r {:.2})", r.audio_jaw_lag_frames, r.audio_jaw_correlation),
    );
    row(
        "utterances with offset within ±1 frame",
        pct(m.utterance_lag_within_one_frame),
        pct(r.utterance_lag_within_one_frame),
    );
    let blink = |b: &BackendReport| {
        format!(
            "{} / {:.1}-{:.1}",
            b.blinks,
            b.blink_interval_min_s.unwrap_or(f64::NAN),
            b.blink_interval_max_s.unwrap_or(f64::NAN)
        )
    };
    row("blinks / interval range (s)", blink(m), blink(r));
    row(
        "head: max second difference (per frame²)",
        format!("{:.4}", m.head_max_second_difference),
        format!("{:.4}", r.head_max_second_difference),
    );
    row(
        "head: yaw / pitch std",
        format!("{:.3}/{:.3}", m.head_yaw_std, m.head_pitch_std),
        format!("{:.3}/{:.3}", r.head_yaw_std, r.head_pitch_std),
    );
    row(
        "speech gestures: head pitch / brow std",
        format!("{:.3}/{:.3}", m.speech_head_pitch_std, m.speech_brow_std),
        format!("{:.3}/{:.3}", r.speech_head_pitch_std, r.speech_brow_std),
    );
    println!();
    println!(
        "model inference: {:.2} ms per 40 ms frame (one thread, {} frames per chunk); {:.0} s in all",
        report.model_ms_per_frame, report.chunk_frames, report.elapsed_s
    );
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&report).expect("the report serialises");
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("could not write {}", path.display()))
            .map_err(Failure::runtime)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
