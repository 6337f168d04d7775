//! Stopping a session (Ctrl-C in the CLI) ends every stage promptly and still leaves a playable
//! video: the sink finalises the file instead of being killed mid-write.

mod common;

use std::time::Duration;

use common::*;
use persona::config::PipelineConfig;
use persona::pipeline::{Session, SessionInput, SessionOutput};
use persona::transport::{Pacing, WavSource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_mid_conversation_ends_cleanly_with_a_finished_file() {
    quiet_ggml();
    let input = write_conversation(
        "long.wav",
        &[("Good morning, I would like to book an appointment.", "en-us")],
        0.5,
        20.0,
    );
    let config = PipelineConfig::load(&offline_pipeline("shutdown", 500.0)).unwrap();
    let video = scratch().join("stopped.webm");
    let session = Session::start(
        &config,
        SessionInput::Conversation {
            source: WavSource::open(&input).unwrap(),
            pacing: Pacing::RealTime,
        },
        SessionOutput::Webm(video.clone()),
    )
    .unwrap();
    let stop = session.shutdown_trigger();
    let metrics = session.metrics.clone();
    let stopper = tokio::spawn(async move {
        // Stop once the avatar has started answering the first question.
        while metrics
            .turns()
            .records()
            .iter()
            .all(|t| t.first_audio_ms.is_none())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.trigger();
    });
    // Generous bound only so a hang fails the test instead of blocking CI.
    let ended = tokio::time::timeout(Duration::from_secs(60), session.wait()).await;
    stopper.await.unwrap();
    ended
        .expect("the session ends after the stop")
        .expect("stopping is not an error");

    if ffprobe_available() {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&video)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "the stopped file decodes: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
