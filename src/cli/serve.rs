//! `persona serve`: the web agent on an address, until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use persona::config::PipelineConfig;

use super::{CommandResult, Failure};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Pipeline file: the avatar every visitor talks to, and its [serve] limits.
    #[arg(long, default_value = "pipelines/web.toml")]
    pipeline: PathBuf,
    /// Address to listen on (0.0.0.0:8080 for other machines; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
}

pub async fn run(args: ServeArgs) -> CommandResult {
    let config = PipelineConfig::load(&args.pipeline).map_err(Failure::usage)?;
    persona::redact::set_log_text(config.serve.log_transcripts);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C: ending every session and stopping");
    };
    eprintln!(
        "persona serve: {} on http://{} (Ctrl-C stops)",
        args.pipeline.display(),
        args.addr
    );
    persona::serve::serve(config, args.addr, stop)
        .await
        .map_err(Failure::runtime)
}
