//! `persona profile`: a recorded conversation through a pipeline, and where the time went.

use std::path::PathBuf;

use anyhow::Context as _;
use persona::pipeline::{Session, SessionInput, SessionOutput};
use persona::profile::ProfileReport;
use persona::transport::{Pacing, WavSource};

use super::speak::build_failure;
use super::{CommandResult, Failure, check_video_path, run_session};

#[derive(clap::Args)]
pub struct ProfileArgs {
    /// Pipeline file (e.g. pipelines/offline.toml).
    #[arg(long)]
    pipeline: PathBuf,
    /// The user's side of the conversation (WAV, any rate and channel count).
    #[arg(long)]
    input: PathBuf,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write the avatar's side of the session as a video (.webm).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Feed the input as fast as the pipeline takes it instead of in real time (latencies then
    /// measure throughput, not what a user would feel).
    #[arg(long)]
    fast: bool,
}

pub async fn run(args: ProfileArgs) -> CommandResult {
    if let Some(out) = &args.out {
        check_video_path(out)?;
    }
    let config = persona::config::PipelineConfig::load(&args.pipeline).map_err(Failure::usage)?;
    let source = WavSource::open(&args.input).map_err(Failure::usage)?;
    let input_duration_ms = source.duration_ms();
    let pacing = if args.fast {
        Pacing::AsFastAsPossible
    } else {
        Pacing::RealTime
    };
    let output = match &args.out {
        Some(path) => super::video_output(path)?,
        None => SessionOutput::Discard,
    };
    eprintln!(
        "profiling {} through {} ({:.1} s of input{})…",
        args.input.display(),
        args.pipeline.display(),
        input_duration_ms / 1000.0,
        if args.fast { ", fast" } else { ", real time" }
    );
    let session = Session::start(&config, SessionInput::Conversation { source, pacing }, output)
        .map_err(build_failure)?;
    let metrics = run_session(session).await?;
    let report = ProfileReport::from_metrics(
        &metrics,
        args.pipeline.display().to_string(),
        args.input.display().to_string(),
        input_duration_ms,
    );
    print!("{}", report.render_text());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(Failure::runtime)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the JSON report to {}", path.display()))
            .map_err(Failure::runtime)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.out {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
