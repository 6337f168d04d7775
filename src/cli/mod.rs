//! Argument parsing, logging set-up and exit codes for the `persona` binary.
//!
//! Exit codes: 0 success, 1 a runtime failure, 2 a usage or configuration error (a bad flag,
//! a malformed pipeline file, a missing model or input file).

mod eval;
mod flow;
mod models;
mod profile;
mod serve;
mod speak;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A real-time conversational avatar: it listens, answers aloud and moves its face in sync.
#[derive(Parser)]
#[command(name = "persona", version, about, long_about = None)]
struct Cli {
    /// More log output on stderr (-v: info, -vv: debug). RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a recorded conversation through a pipeline and report where every millisecond goes.
    Profile(profile::ProfileArgs),
    /// Serve the avatar to browsers: WebRTC sessions, the embeddable widget and a demo page.
    Serve(serve::ServeArgs),
    /// Make the avatar say a sentence and write the video.
    Say(speak::SayArgs),
    /// Lip-sync the avatar to an audio file and write the video.
    Render(speak::RenderArgs),
    /// Check that this machine has what the pipelines need, and say how to fix what is missing.
    Doctor(DoctorArgs),
    /// List, make and check model files.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Rehearse a scripted flow by typing the visitor's answers.
    Flow(flow::FlowArgs),
    /// Measure the quality of a part of the pipeline (lip sync).
    #[command(subcommand)]
    Eval(eval::EvalCommand),
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// Pipeline files to check (default: every file in pipelines/).
    #[arg(long = "pipeline")]
    pipelines: Vec<PathBuf>,
}

/// A failed command: what to print and which exit code to use.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// A usage or configuration problem (exit code 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 2,
            error: error.into(),
        }
    }

    /// A failure while running (exit code 1).
    pub fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 1,
            error: error.into(),
        }
    }
}

pub type CommandResult = Result<(), Failure>;

fn init_logging(verbose: u8) {
    // webrtc and its rtc_* crates warn about normal events of every connect (candidates not
    // paired yet, no server name for DTLS); their warnings show from -v on.
    let default = match verbose {
        0 => "warn,whisper_rs=error,webrtc=error,rtc=error",
        1 => "info,whisper_rs=warn,webrtc=warn,rtc=warn",
        _ => "debug,whisper_rs=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

pub fn main() -> ExitCode {
    // whisper.cpp's ggml tries to attach gdb to itself on an internal abort, which hangs; set
    // before any thread exists, so the unsafe environment write cannot race.
    if std::env::var_os("GGML_NO_BACKTRACE").is_none() {
        // SAFETY: single-threaded at this point (first statement of main, no runtime yet).
        unsafe { std::env::set_var("GGML_NO_BACKTRACE", "1") };
    }
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Profile(args) => run_async(profile::run(args)),
        Command::Serve(args) => run_async(serve::run(args)),
        Command::Say(args) => run_async(speak::say(args)),
        Command::Render(args) => run_async(speak::render(args)),
        Command::Doctor(args) => doctor(args),
        Command::Models(command) => models::run(command),
        Command::Flow(args) => flow::run(args),
        Command::Eval(command) => eval::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, error }) => {
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}

fn run_async(command: impl Future<Output = CommandResult>) -> CommandResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("persona-worker")
        .build()
        .map_err(Failure::runtime)?;
    runtime.block_on(command)
}

fn doctor(args: DoctorArgs) -> CommandResult {
    use persona::doctor::{Check, DoctorContext, Status, render_report, run_checks, worst};
    let repo_root = std::env::current_dir().map_err(Failure::runtime)?;
    let files = if args.pipelines.is_empty() {
        // Every shipped pipeline, when run from the repository.
        let mut found: Vec<PathBuf> = std::fs::read_dir(repo_root.join("pipelines"))
            .map(|dir| {
                dir.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    } else {
        args.pipelines
    };
    let mut pipelines = Vec::new();
    let mut load_errors = Vec::new();
    for file in &files {
        match persona::config::PipelineConfig::load(file) {
            Ok(config) => pipelines.push(config),
            // A pipeline whose model is not downloaded yet is fine: the file is just missing.
            Err(error @ persona::config::ConfigError::MissingFile { .. }) => load_errors.push(
                Check::new(
                    format!("pipeline {}", file.display()),
                    Status::Missing,
                    error.to_string(),
                )
                .with_fix("persona models list   # prints the download command"),
            ),
            Err(error) => load_errors.push(Check::new(
                format!("pipeline {}", file.display()),
                Status::Fail,
                error.to_string(),
            )),
        }
    }
    let mut checks = run_checks(&DoctorContext {
        models_dir: repo_root.join("models"),
        repo_root,
        pipelines,
    });
    checks.extend(load_errors);
    print!("{}", render_report(&checks));
    if worst(&checks) == Status::Fail {
        Err(Failure::runtime(anyhow::anyhow!(
            "some checks failed; the commands above fix them"
        )))
    } else {
        Ok(())
    }
}

/// Runs a session to completion, stopping it cleanly on Ctrl-C.
pub async fn run_session(
    session: persona::pipeline::Session,
) -> Result<std::sync::Arc<persona::runtime::Metrics>, Failure> {
    let trigger = session.shutdown_trigger();
    let interrupted = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping (Ctrl-C)…");
            trigger.trigger();
        }
    });
    let result = session.wait().await;
    interrupted.abort();
    result.map_err(Failure::runtime)
}

/// Loads a pipeline file, or the embedded default when none is given.
pub fn load_pipeline(path: Option<&std::path::Path>) -> Result<persona::config::PipelineConfig, Failure> {
    match path {
        Some(path) => persona::config::PipelineConfig::load(path).map_err(Failure::usage),
        None => Ok(persona::config::PipelineConfig::embedded_default()),
    }
}

/// Checks an output path's extension before any work is done.
pub fn check_video_path(path: &std::path::Path) -> Result<(), Failure> {
    video_output(path).map(|_| ())
}

/// The session output for a video path: the container follows the extension.
pub fn video_output(path: &std::path::Path) -> Result<persona::pipeline::SessionOutput, Failure> {
    use persona::encode::Container;
    use persona::pipeline::SessionOutput;
    match Container::from_path(path) {
        Some(Container::Webm) => Ok(SessionOutput::Webm(path.to_path_buf())),
        Some(Container::Mp4) => Ok(SessionOutput::Mp4(path.to_path_buf())),
        None => Err(Failure::usage(anyhow::anyhow!(
            "cannot write {}: the output format is chosen by the extension, and {} is not supported; use a .webm file (VP8 + Opus) or an .mp4 file (H.264 + Opus)",
            path.display(),
            path.extension().map_or("no extension".to_string(), |e| format!(
                "`.{}`",
                e.to_string_lossy()
            ))
        ))),
    }
}
