//! Load and latency benchmark for `persona serve`: N pretend browsers (Rust WebRTC peers) hold
//! sessions open with a live (silent) microphone and type a message every few seconds, while the
//! server's CPU, budget violations and dropped frames are read from outside.
//!
//! Start the server (release build, its own process so its CPU is its own):
//!   cargo build --release && target/release/persona serve --addr 127.0.0.1:8080 &
//! then:
//!   cargo run --release --example serve_load -- --url http://127.0.0.1:8080 --sessions 8 \
//!       --server-pid $(pgrep -f 'persona serve')
//!
//! Reports, per typed message: the server's own measurement (message taken → first answer audio
//! and first answer video frame handed to the network, from the session's `latency` event) and
//! what the browser saw (message sent → the `speaking` state arriving on the data channel); the
//! server's CPU per session over the measured window; budget violations and dropped frames in that
//! window; the video frame rate each client received.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use persona::serve::client::{ClientPeer, ClientSettings};
use persona::serve::peer::PeerSettings;
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 8)]
    sessions: usize,
    /// Seconds after connecting before measuring.
    #[arg(long, default_value_t = 10)]
    warmup_s: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 40)]
    measure_s: u64,
    /// Seconds between one session's typed messages (sessions are staggered).
    #[arg(long, default_value_t = 8)]
    message_every_s: u64,
    /// The server's process id, for its CPU time (from /proc).
    #[arg(long)]
    server_pid: Option<u32>,
}

/// One typed message's timings (ms).
#[derive(Default, Clone, Copy)]
struct Sample {
    response_ms: Option<f64>,
    video_response_ms: Option<f64>,
    client_speaking_ms: Option<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let mut clients = Vec::new();
    for i in 0..args.sessions {
        let client = connect(&http, &args.url)
            .await
            .with_context(|| format!("connecting session {i}"))?;
        clients.push(client);
    }
    println!(
        "{} sessions connected; warming up {} s",
        clients.len(),
        args.warmup_s
    );
    let started = Instant::now();
    let warmup_end = started + Duration::from_secs(args.warmup_s);
    let end = warmup_end + Duration::from_secs(args.measure_s);

    let mut tasks = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let every = Duration::from_secs(args.message_every_s);
        let offset = every.mul_f64(i as f64 / args.sessions as f64);
        tasks.push(tokio::spawn(drive(client, warmup_end, end, every, offset)));
    }
    tokio::time::sleep_until(warmup_end.into()).await;
    let cpu_before = args.server_pid.map(cpu_seconds).transpose()?;
    let metrics_before = scrape(&http, &args.url).await?;
    let window_started = Instant::now();
    tokio::time::sleep_until(end.into()).await;
    let window_s = window_started.elapsed().as_secs_f64();
    let cpu_after = args.server_pid.map(cpu_seconds).transpose()?;
    let metrics_after = scrape(&http, &args.url).await?;

    let mut samples = Vec::new();
    let mut fps = Vec::new();
    for task in tasks {
        let (client_samples, frames) = task.await??;
        samples.extend(client_samples);
        fps.push(frames as f64 / window_s);
    }

    println!("\n== {} sessions, {window_s:.0} s measured ==", args.sessions);
    let column = |f: fn(&Sample) -> Option<f64>| {
        let mut v: Vec<f64> = samples.iter().filter_map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    for (name, values) in [
        (
            "typed → first answer audio out (server)",
            column(|s| s.response_ms),
        ),
        (
            "typed → first answer video frame out (server)",
            column(|s| s.video_response_ms),
        ),
        (
            "sent → `speaking` at the client (round trip)",
            column(|s| s.client_speaking_ms),
        ),
    ] {
        println!(
            "{name:48} n={:3} p50={:7.1} ms  p95={:7.1} ms  max={:7.1} ms",
            values.len(),
            quantile(&values, 0.5),
            quantile(&values, 0.95),
            values.last().copied().unwrap_or(f64::NAN)
        );
    }
    let mean_fps = fps.iter().sum::<f64>() / fps.len().max(1) as f64;
    let min_fps = fps.iter().copied().fold(f64::INFINITY, f64::min);
    println!("video received per client: mean {mean_fps:.1} fps, lowest {min_fps:.1} fps");
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let cores = (after - before) / window_s;
        println!(
            "server CPU: {:.2} cores in total, {:.1} % of one core per session",
            cores,
            cores * 100.0 / args.sessions as f64
        );
    }
    for (metric, label) in [
        ("persona_budget_violations_total", "budget violations"),
        (
            "persona_video_frames_dropped_late_total",
            "video frames dropped late",
        ),
        (
            "persona_video_frames_dropped_network_total",
            "video frames dropped at the network",
        ),
    ] {
        let delta = sum_metric(&metrics_after, metric) - sum_metric(&metrics_before, metric);
        println!("{label} in the window: {delta}");
    }
    for line in metrics_after
        .lines()
        .filter(|l| l.starts_with("persona_budget_violations_total{"))
    {
        let before = metrics_before
            .lines()
            .find(|b| b.split(' ').next() == line.split(' ').next())
            .and_then(|b| b.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        let after: f64 = line.rsplit(' ').next().unwrap_or("0").parse().unwrap_or(0.0);
        if after > before {
            println!("  {} +{}", line.split(' ').next().unwrap_or(""), after - before);
        }
    }
    Ok(())
}

async fn connect(http: &reqwest::Client, url: &str) -> anyhow::Result<ClientPeer> {
    let created: Value = http
        .post(format!("{url}/v1/sessions"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = created["token"].as_str().context("token")?;
    let offer_url = created["offer_url"].as_str().context("offer_url")?;
    // Every non-loopback interface, like the server's default: the media crosses a real interface.
    let settings = ClientSettings {
        send_audio: true,
        peer: PeerSettings::default(),
    };
    let (client, offer) = ClientPeer::offer(&settings).await?;
    let response = http
        .post(format!("{url}{offer_url}"))
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("offer refused: {} {}", response.status(), response.text().await?);
    }
    client.accept_answer(&response.text().await?).await?;
    if !client.wait_connected().await {
        bail!("the connection failed");
    }
    Ok(client)
}

/// One session: an open microphone (silence, paced) and a typed message every `every`.
async fn drive(
    client: ClientPeer,
    measure_from: Instant,
    end: Instant,
    every: Duration,
    offset: Duration,
) -> anyhow::Result<(Vec<Sample>, u64)> {
    let client = std::sync::Arc::new(client);
    let mic = {
        let client = client.clone();
        tokio::spawn(async move {
            let second = vec![0.0f32; 48_000];
            while client.send_audio_paced(&second).await.is_ok() {}
        })
    };
    let mut samples = Vec::new();
    let mut frames_at_start = None;
    let mut next_message = Instant::now() + offset;
    let messages = [
        "Hello, my name is Ada.",
        "What are your opening hours?",
        "Can I book an appointment for Tuesday?",
    ];
    let mut sent = 0usize;
    while Instant::now() < end {
        if frames_at_start.is_none() && Instant::now() >= measure_from {
            frames_at_start = Some(client.stats().video_frames);
        }
        tokio::time::sleep_until(next_message.max(Instant::now()).into()).await;
        if Instant::now() >= end {
            break;
        }
        let measured = Instant::now() >= measure_from;
        let at = Instant::now();
        client.send_text(messages[sent % messages.len()]);
        sent += 1;
        next_message = at + every;
        let sample = wait_answer(&client, at, next_message.min(end)).await;
        if measured {
            samples.push(sample);
        }
    }
    let frames = client.stats().video_frames - frames_at_start.unwrap_or(0);
    mic.abort();
    client.close().await;
    Ok((samples, frames))
}

/// Reads events until this message's answer reported its latency (or `until`).
async fn wait_answer(client: &ClientPeer, sent_at: Instant, until: Instant) -> Sample {
    let mut sample = Sample::default();
    let mut turn = None;
    let result = tokio::time::timeout_at(until.into(), async {
        while let Some(event) = client.next_event().await {
            let this_turn = event["turn"].as_u64();
            match event["type"].as_str() {
                Some("transcript") if event["final"] == true => turn = this_turn,
                Some("state") if event["state"] == "speaking" && turn.is_some() && this_turn == turn => {
                    sample.client_speaking_ms = Some(sent_at.elapsed().as_secs_f64() * 1000.0);
                }
                Some("latency") if turn.is_some() && this_turn == turn => {
                    sample.response_ms = event["response_ms"].as_f64();
                    sample.video_response_ms = event["video_response_ms"].as_f64();
                    return;
                }
                _ => {}
            }
        }
    })
    .await;
    if result.is_err() {
        eprintln!("an answer did not complete before the next message");
    }
    sample
}

/// User + system CPU seconds of a process, from /proc.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is the server running?)"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    Ok(ticks / hz)
}

async fn scrape(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    Ok(http.get(format!("{url}/metrics")).send().await?.text().await?)
}

fn sum_metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
