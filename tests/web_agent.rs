//! `persona serve` end to end on loopback: a Rust WebRTC peer plays the browser — it creates a
//! session over HTTP, offers, connects, speaks and types — against the real server, pipeline,
//! encoders and peer. Also the refusals (bad SDP, bad token, foreign origin, full) and the
//! clean-up of a client that vanishes mid-answer.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use persona::config::PipelineConfig;
use persona::serve::client::{ClientPeer, ClientSettings};
use persona::serve::{Sessions, router};
use serde_json::Value;

/// Generous: a loaded 2-core CI machine builds a pipeline and connects ICE in well under this.
const DEADLINE: Duration = Duration::from_secs(60);

struct Server {
    url: String,
    sessions: Sessions,
}

fn web_pipeline_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/web.toml")
}

/// The shipped web pipeline with media kept on loopback and `max_sessions`.
fn web_pipeline_text(max_sessions: usize) -> String {
    let text = std::fs::read_to_string(web_pipeline_path()).expect("pipelines/web.toml");
    text.replace("[serve]\n", "[serve]\nice_bind = \"127.0.0.1\"\n")
        .replace("max_sessions = 8", &format!("max_sessions = {max_sessions}"))
}

fn parse_web_pipeline(text: &str) -> PipelineConfig {
    PipelineConfig::parse(&web_pipeline_path(), text).expect("the web pipeline parses")
}

async fn start_server(max_sessions: usize) -> Server {
    serve(parse_web_pipeline(&web_pipeline_text(max_sessions))).await
}

async fn serve(pipeline: PipelineConfig) -> Server {
    let sessions = Sessions::new(std::sync::Arc::new(pipeline));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = router(sessions.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        url: format!("http://{addr}"),
        sessions,
    }
}

struct Created {
    id: String,
    token: String,
    offer_url: String,
}

async fn create(http: &reqwest::Client, server: &Server) -> Created {
    let response = http
        .post(format!("{}/v1/sessions", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    Created {
        id: body["id"].as_str().unwrap().to_string(),
        token: body["token"].as_str().unwrap().to_string(),
        offer_url: body["offer_url"].as_str().unwrap().to_string(),
    }
}

async fn post_offer(
    http: &reqwest::Client,
    server: &Server,
    created: &Created,
    sdp: String,
) -> reqwest::Response {
    http.post(format!("{}{}", server.url, created.offer_url))
        .bearer_auth(&created.token)
        .header("content-type", "application/sdp")
        .body(sdp)
        .send()
        .await
        .unwrap()
}

/// Connects a pretend browser to a new session.
async fn connect(http: &reqwest::Client, server: &Server) -> (ClientPeer, Created) {
    let created = create(http, server).await;
    let (client, offer) = ClientPeer::offer(&ClientSettings::default()).await.unwrap();
    let response = post_offer(http, server, &created, offer).await;
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/sdp",
        "the answer is SDP"
    );
    let answer = response.text().await.unwrap();
    client.accept_answer(&answer).await.unwrap();
    assert!(client.wait_connected().await, "ICE + DTLS connect on loopback");
    (client, created)
}

/// Reads events until `wanted` matches one (returned), failing on timeout.
/// Events may arrive in any order across kinds (captions are published as speech is made, before
/// it plays), so events already seen count too.
async fn wait_event(client: &ClientPeer, seen: &mut Vec<Value>, wanted: impl Fn(&Value) -> bool) -> Value {
    if let Some(event) = seen.iter().find(|e| wanted(e)) {
        return event.clone();
    }
    let found = tokio::time::timeout(DEADLINE, async {
        while let Some(event) = client.next_event().await {
            seen.push(event.clone());
            if wanted(&event) {
                return Some(event);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(event)) => event,
        _ => panic!("the expected event never came; events so far: {seen:#?}"),
    }
}

/// The message of a JSON error response.
async fn error_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("errors are JSON");
    body["error"]
        .as_str()
        .expect("with an `error` message")
        .to_string()
}

async fn metrics_text(http: &reqwest::Client, server: &Server) -> String {
    http.get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn active_sessions(http: &reqwest::Client, server: &Server) -> u64 {
    metrics_text(http, server)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("persona_active_sessions "))
        .expect("the metric is exported")
        .trim()
        .parse()
        .unwrap()
}

/// A short utterance at 48 kHz (espeak-ng through the project's own TTS).
fn speech_48k(text: &str) -> Vec<f32> {
    use persona::tts::SpeechSynth;
    let mut synth = persona::tts::espeak::EspeakSynth::new(persona::tts::espeak::VoiceSettings {
        voice: "en-us".into(),
        rate_wpm: 160,
        pitch: 50,
    })
    .unwrap();
    let mut samples = Vec::new();
    synth
        .synthesize(text, &mut |chunk| {
            samples.extend(chunk.samples.iter().map(|&s| f32::from(s) / 32_768.0));
            persona::tts::Flow::Continue
        })
        .unwrap();
    persona::audio::resample_all(&samples, synth.sample_rate_hz(), 48_000).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_peer_talks_to_the_agent_and_gets_a_spoken_answer() {
    let server = start_server(4).await;
    let http = reqwest::Client::new();
    let (client, _created) = connect(&http, &server).await;
    let mut seen = Vec::new();

    // The face and the (idle) audio arrive as soon as the connection is up.
    let media = tokio::time::timeout(
        DEADLINE,
        client.wait_stats(|s| s.video_frames >= 25 && s.audio_packets >= 25 && s.video_keyframes >= 1),
    )
    .await;
    assert!(
        matches!(media, Ok(true)),
        "video and audio flow: {:?}",
        client.stats()
    );

    // A keyframe request (what a browser sends after losing video) is answered at once, not at
    // the next scheduled keyframe 50 frames later.
    let before = client.stats();
    client.request_keyframe().await.unwrap();
    let answered = tokio::time::timeout(
        DEADLINE,
        client.wait_stats(|s| s.video_keyframes > before.video_keyframes),
    )
    .await;
    assert!(matches!(answered, Ok(true)));
    let frames_waited = client.stats().video_frames - before.video_frames;
    assert!(
        frames_waited <= 12,
        "the keyframe came {frames_waited} frames after the request"
    );
    wait_event(&client, &mut seen, |e| {
        e["type"] == "state" && e["state"] == "listening"
    })
    .await;

    // Speech: the listening side hears a turn (the synthetic whisper's words are noise, but the
    // turn, its final transcript and the answer are real).
    let mut speech = speech_48k("Hello, I would like to book an appointment please.");
    speech.extend(std::iter::repeat_n(0.0, 48_000 * 2));
    client.send_audio_paced(&speech).await.unwrap();
    let spoken = wait_event(&client, &mut seen, |e| {
        e["type"] == "transcript" && e["final"] == true
    })
    .await;
    let spoken_turn = spoken["turn"].as_u64().unwrap();
    wait_event(&client, &mut seen, |e| {
        e["type"] == "state" && e["state"] == "speaking" && e["turn"].as_u64() == Some(spoken_turn)
    })
    .await;

    // Typed text interrupts and gets its own spoken answer, with captions and a latency report.
    client.reset_firsts();
    let before = client.stats();
    client.send_text("My name is Ada.");
    let typed = wait_event(&client, &mut seen, |e| {
        e["type"] == "transcript" && e["final"] == true && e["text"] == "My name is Ada."
    })
    .await;
    let turn = typed["turn"].as_u64().unwrap();
    assert!(turn > spoken_turn, "a typed message is a new turn");
    wait_event(&client, &mut seen, |e| {
        e["type"] == "state" && e["state"] == "thinking" && e["turn"].as_u64() == Some(turn)
    })
    .await;
    wait_event(&client, &mut seen, |e| {
        e["type"] == "state" && e["state"] == "speaking" && e["turn"].as_u64() == Some(turn)
    })
    .await;
    // What was heard before the answer (the interrupted first reply) must not count as it.
    client.take_audio();
    let caption = wait_event(&client, &mut seen, |e| {
        e["type"] == "caption" && e["turn"].as_u64() == Some(turn)
    })
    .await;
    assert!(!caption["word"].as_str().unwrap().is_empty(), "{caption}");
    assert!(caption["start_ms"].as_f64().unwrap() >= 0.0);
    let latency = wait_event(&client, &mut seen, |e| {
        e["type"] == "latency" && e["turn"].as_u64() == Some(turn)
    })
    .await;
    let response_ms = latency["response_ms"]
        .as_f64()
        .expect("typed turns have a response time");
    assert!(response_ms > 0.0, "{latency}");
    let reply = wait_event(&client, &mut seen, |e| {
        e["type"] == "reply" && e["turn"].as_u64() == Some(turn)
    })
    .await;
    assert!(!reply["text"].as_str().unwrap().is_empty());

    // The answer was audible: loud audio arrived after the message, and video kept flowing.
    let heard = tokio::time::timeout(DEADLINE, async {
        loop {
            let audio = client.take_audio();
            let peak = audio.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            if peak > 0.05 {
                return peak;
            }
            client
                .wait_stats(|s| s.audio_packets > before.audio_packets + 5)
                .await;
        }
    })
    .await
    .expect("the spoken answer's audio arrives");
    assert!(heard > 0.05);
    // Video travels beside the events, not behind them: wait for it rather than race it.
    let video_flowed = tokio::time::timeout(
        DEADLINE,
        client.wait_stats(|s| s.video_frames > before.video_frames),
    )
    .await;
    assert!(
        matches!(video_flowed, Ok(true)),
        "video kept flowing: {:?}",
        client.stats()
    );
    let after = client.stats();
    assert!(after.first_audio_at.is_some() && after.first_video_at.is_some());
    assert_eq!(after.video_broken_frames, 0, "every VP8 frame arrived whole");

    client.close().await;
    let cleaned = tokio::time::timeout(DEADLINE, async {
        while server.sessions.active() > 0 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(cleaned.is_ok(), "the session is cleaned up after the client left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_refusals() {
    let server = start_server(2).await;
    let http = reqwest::Client::new();

    // A foreign page may not create sessions.
    let response = http
        .post(format!("{}/v1/sessions", server.url))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let error = error_of(response).await;
    assert!(error.contains("allowed_origins"), "{error}");

    // Bad SDP: 400 with a message.
    let created = create(&http, &server).await;
    let response = post_offer(&http, &server, &created, "v=0\r\nthis is not an offer\r\n".into()).await;
    assert_eq!(response.status(), 400);
    let error = error_of(response).await;
    assert!(error.starts_with("bad SDP offer"), "{error}");

    // No token, a forged token, another session's token: 401.
    let other = create(&http, &server).await;
    for token in [None, Some("forged.123.abc"), Some(other.token.as_str())] {
        let mut request = http
            .post(format!("{}/v1/sessions/{}/offer", server.url, created.id))
            .header("content-type", "application/sdp")
            .body("v=0\r\n");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "token {token:?}");
        let error = error_of(response).await;
        assert!(error.contains("token"), "{error}");
    }

    // Full: 429 with Retry-After (the bad offer freed its slot; two are held now).
    let third = create(&http, &server).await;
    let response = http
        .post(format!("{}/v1/sessions", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));

    // Too large a body: 413.
    let response = post_offer(&http, &server, &third, "a".repeat(200 * 1024)).await;
    assert_eq!(response.status(), 413);

    // Ending frees the slots.
    for session in [&other, &third] {
        let response = http
            .delete(format!("{}/v1/sessions/{}", server.url, session.id))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    assert_eq!(active_sessions(&http, &server).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_vanishes_mid_answer_is_cleaned_up() {
    let server = start_server(2).await;
    // No idle keep-alive connections: their server-side tasks would count as live tasks.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let baseline_tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let (client, _created) = connect(&http, &server).await;
    let mut seen = Vec::new();
    client.send_text("Hello there, can you tell me about your opening hours?");
    wait_event(&client, &mut seen, |e| {
        e["type"] == "state" && e["state"] == "speaking"
    })
    .await;
    assert_eq!(active_sessions(&http, &server).await, 1);

    // The tab closes without a word: no DELETE, no goodbye.
    client.close().await;
    drop(client);
    let cleaned = tokio::time::timeout(DEADLINE, async {
        loop {
            let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
            if server.sessions.active() == 0 && tasks <= baseline_tasks {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    assert!(
        cleaned.is_ok(),
        "active sessions {} (want 0), live tasks {tasks} (baseline {baseline_tasks})",
        server.sessions.active()
    );
    assert_eq!(active_sessions(&http, &server).await, 0);
    let metrics = metrics_text(&http, &server).await;
    assert!(
        metrics.contains("persona_sessions_total{event=\"ended\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("persona_stage_latency_seconds_bucket{stage=\"render\""),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_speech_recognition_typed_text_is_still_answered() {
    let text = web_pipeline_text(1);
    let stt_start = text
        .find("[stages.stt]")
        .expect("the web pipeline has an STT section");
    let stt_end = stt_start + text[stt_start + 1..].find("\n[").expect("a section follows") + 1;
    let server = serve(parse_web_pipeline(&format!(
        "{}{}",
        &text[..stt_start],
        &text[stt_end..]
    )))
    .await;
    let http = reqwest::Client::new();
    let (client, _created) = connect(&http, &server).await;
    let mut seen = Vec::new();
    client.send_text("Hello?");
    let typed = wait_event(&client, &mut seen, |e| {
        e["type"] == "transcript" && e["final"] == true
    })
    .await;
    let turn = typed["turn"].as_u64();
    wait_event(&client, &mut seen, |e| {
        e["type"] == "state" && e["state"] == "speaking" && e["turn"].as_u64() == turn
    })
    .await;
    client.close().await;
}
