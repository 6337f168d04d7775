//! A recorded conversation through the whole offline pipeline, in real time: turns, a video of
//! the avatar's side, and a latency report with budgets.

mod common;

use common::*;
use persona::config::PipelineConfig;
use persona::pipeline::{Session, SessionInput, SessionOutput};
use persona::profile::ProfileReport;
use persona::runtime::EndpointReason;
use persona::transport::{Pacing, WavSource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_questions_become_three_turns_a_video_and_a_report_with_an_impossible_budget_flagged() {
    quiet_ggml();
    let input = write_conversation(
        "three-questions.wav",
        &[
            ("What time does the clinic open tomorrow?", "en-us"),
            ("Can I bring my daughter with me?", "en-us+f3"),
            ("Where should I park?", "en-gb-x-rp"),
        ],
        0.5,
        // Long enough that each answer starts before the next question even when the machine
        // is busy (a slow decode would otherwise be overtaken by the next turn and dropped).
        2.5,
    );
    // The STT budget is impossibly low: every turn must be flagged.
    let pipeline = offline_pipeline("three-questions", 0.001);
    let config = PipelineConfig::load(&pipeline).expect("valid pipeline");
    let video = scratch().join("three-questions.webm");
    let source = WavSource::open(&input).expect("readable input");
    let input_ms = source.duration_ms();

    let session = Session::start(
        &config,
        SessionInput::Conversation {
            source,
            pacing: Pacing::RealTime,
        },
        SessionOutput::Webm(video.clone()),
    )
    .expect("the session starts");
    let metrics = session.wait().await.expect("the session ends cleanly");
    let report = ProfileReport::from_metrics(&metrics, "test".into(), input.display().to_string(), input_ms);
    println!("{}", report.render_text());

    assert_eq!(report.turns.len(), 3, "one turn per question");
    for turn in &report.turns {
        let end = turn.user_speech_end_ms.expect("speech end");
        assert_eq!(turn.endpoint_reason, Some(EndpointReason::Silence));
        assert!(turn.transcript.is_some(), "turn {} was transcribed", turn.turn);
        let audio = turn.first_audio_ms.expect("the avatar answered");
        let video = turn.first_video_ms.expect("the avatar's face moved");
        assert!(audio > end, "the answer comes after the question");
        assert!(
            video > end,
            "the face answers after the question (drawn at {video} ms)"
        );
        // Lip sync is a property of the media clock, not of how fast frames were drawn.
        let audio_at = turn.first_audio_media_ms.unwrap();
        let video_at = turn.first_video_media_ms.unwrap();
        assert!(
            (0.0..40.0).contains(&(video_at - audio_at)),
            "turn {}: the first answer frame shows {video_at} ms, the answer audio starts at {audio_at} ms",
            turn.turn
        );
        let stt = &turn.stages["stt"];
        assert!(
            stt.over_budget,
            "turn {}: stt must be over its 0.001 ms budget",
            turn.turn
        );
    }
    assert!(report.stages["stt"].violations >= 3);
    for stage in [
        "capture", "resample", "vad", "turn", "stt", "dialogue", "tts", "motion", "playout", "render", "sink",
    ] {
        assert!(report.stages[stage].items > 0, "stage {stage} measured nothing");
    }
    let json = serde_json::to_value(&report).unwrap();
    for key in ["user_speech_end_ms", "first_audio_ms", "first_video_ms"] {
        assert!(json["turns"][0][key].is_number(), "{key}");
    }
    assert!(json["stages"]["tts"]["p99_ms"].is_number());

    if ffprobe_available() {
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name:format=duration",
                "-of",
                "csv=p=0",
            ])
            .arg(&video)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&probe.stdout);
        assert!(text.contains("vp8") && text.contains("opus"), "{text}");
        let duration_s: f64 = text.lines().last().unwrap().trim().parse().unwrap();
        assert!(
            duration_s * 1000.0 >= input_ms - 500.0,
            "the video covers the session: {duration_s} s"
        );
    } else {
        println!("skipped the ffprobe checks: ffprobe not found (./setup.sh installs ffmpeg)");
    }
}
