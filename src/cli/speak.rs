//! `persona say` and `persona render`: offline videos of the avatar speaking.

use std::path::PathBuf;

use persona::pipeline::{PipelineError, Session, SessionInput};
use persona::transport::WavSource;

use super::{CommandResult, Failure, load_pipeline, run_session, video_output};

#[derive(clap::Args)]
pub struct SayArgs {
    /// What the avatar says.
    text: String,
    /// Output video: .webm (VP8 + Opus) or .mp4 (H.264 + Opus).
    #[arg(long)]
    out: PathBuf,
    /// Pipeline file for the voice, motion and video settings (default: built-in defaults).
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// espeak-ng voice, overriding the pipeline's (e.g. en-us, en-gb-x-rp, en-us+f3).
    #[arg(long)]
    voice: Option<String>,
    /// Speaking rate in words per minute, overriding the pipeline's.
    #[arg(long)]
    rate: Option<u32>,
}

#[derive(clap::Args)]
pub struct RenderArgs {
    /// Speech to lip-sync (WAV, any rate and channel count).
    #[arg(long)]
    audio: PathBuf,
    /// Output video: .webm (VP8 + Opus) or .mp4 (H.264 + Opus).
    #[arg(long)]
    out: PathBuf,
    /// Pipeline file for the motion and video settings (default: built-in defaults).
    #[arg(long)]
    pipeline: Option<PathBuf>,
}

/// Errors found while building a session are the user's to fix (exit code 2).
pub fn build_failure(error: PipelineError) -> Failure {
    match error {
        PipelineError::Start(_) => Failure::runtime(error),
        _ => Failure::usage(error),
    }
}

pub async fn say(args: SayArgs) -> CommandResult {
    let output = video_output(&args.out)?;
    if args.text.trim().is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "nothing to say: the text is empty"
        )));
    }
    let mut config = load_pipeline(args.pipeline.as_deref())?;
    match &mut config.tts.backend {
        persona::config::TtsBackend::Espeak { voice, rate_wpm, .. } => {
            if let Some(v) = args.voice {
                *voice = v;
            }
            if let Some(rate) = args.rate {
                *rate_wpm = rate;
            }
        }
        persona::config::TtsBackend::OpenAi(speech) if args.rate.is_none() => {
            if let Some(v) = args.voice {
                speech.voice = v;
            }
        }
        _ if args.voice.is_some() || args.rate.is_some() => {
            return Err(Failure::usage(anyhow::anyhow!(
                "--voice and --rate set an espeak-ng voice (and --voice a speech service's), but the pipeline's \
                 `stages.tts.backend` is another; change the voice in the pipeline file instead"
            )));
        }
        _ => {}
    }
    let session =
        Session::start(&config, SessionInput::Speech { text: args.text }, output).map_err(build_failure)?;
    run_session(session).await?;
    println!("wrote {}", args.out.display());
    Ok(())
}

pub async fn render(args: RenderArgs) -> CommandResult {
    let output = video_output(&args.out)?;
    let config = load_pipeline(args.pipeline.as_deref())?;
    let source = WavSource::open(&args.audio).map_err(Failure::usage)?;
    let session =
        Session::start(&config, SessionInput::Animation { source }, output).map_err(build_failure)?;
    run_session(session).await?;
    println!("wrote {}", args.out.display());
    Ok(())
}
