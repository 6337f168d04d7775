//! Using persona as a library: make the avatar say a sentence and write the video.
//!
//! `cargo run --example speak_to_file -- "Nice to meet you." out.webm`

use persona::config::PipelineConfig;
use persona::pipeline::{Session, SessionInput, SessionOutput};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let text = args.next().unwrap_or_else(|| "Nice to meet you.".to_string());
    let out = args.next().unwrap_or_else(|| "speak_to_file.webm".to_string());

    // Built-in defaults; `PipelineConfig::load("pipelines/offline.toml".as_ref())?` reads a file.
    let config = PipelineConfig::embedded_default();
    let session = Session::start(
        &config,
        SessionInput::Speech { text },
        SessionOutput::Webm(out.clone().into()),
    )?;
    let metrics = session.wait().await?;
    for stage in metrics.stage_summaries() {
        println!(
            "{:>8}: p50 {:.2} ms over {} items",
            stage.name, stage.p50_ms, stage.items
        );
    }
    println!("wrote {out}");
    Ok(())
}
