//! End-to-end tests of the WebM writer. Files are checked with our own EBML reader always, and
//! with ffprobe/ffmpeg when they are installed (a skip is printed when they are not).

use std::path::Path;
use std::process::Command;

use super::*;
use crate::encode::mkv::read;

const RATE: u32 = 48_000;

fn config(width: u32, height: u32) -> WebmConfig {
    WebmConfig {
        width,
        height,
        fps: 25,
        sample_rate_hz: RATE,
        video_bitrate_kbps: 400,
        realtime: true,
    }
}

/// A dark frame with a `size`-pixel square of `rgb` whose top-left corner is at (x, y).
fn square_frame(width: u32, height: u32, sample: u64, x: u32, y: u32, size: u32, rgb: [u8; 3]) -> VideoFrame {
    let mut frame = VideoFrame::blank(width, height);
    frame.sample = sample;
    for (i, px) in frame.rgba.chunks_exact_mut(4).enumerate() {
        let (px_x, px_y) = (i as u32 % width, i as u32 / width);
        let inside = (x..x + size).contains(&px_x) && (y..y + size).contains(&px_y);
        let [r, g, b] = if inside { rgb } else { [20, 24, 32] };
        px.copy_from_slice(&[r, g, b, 255]);
    }
    frame
}

/// Whether `tool` runs; prints the skip line when it does not.
fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("skipped: {tool} not found");
    }
    found
}

fn run(tool: &str, args: &[&str], file: &Path) -> (String, String) {
    let output = Command::new(tool).args(args).arg(file).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{tool} {args:?} failed: {stderr}");
    (stdout, stderr)
}

#[test]
fn two_seconds_of_a_moving_square_and_a_tone_play_in_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("square.webm");
    let (width, height) = (320, 240);
    let mut writer = WebmWriter::create(&path, config(width, height)).unwrap();

    let tone: Vec<f32> = (0..2 * RATE as usize)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / RATE as f32).sin())
        .collect();
    let chunk_sizes = [137, 960, 2001, 480, 7, 1500, 333];
    let mut audio_pushed = 0usize;
    let mut chunk = 0;
    let mut push_audio_until = |writer: &mut WebmWriter, until: usize| {
        while audio_pushed < until.min(tone.len()) {
            let n = chunk_sizes[chunk % chunk_sizes.len()].min(tone.len() - audio_pushed);
            writer
                .push_audio(audio_pushed as u64, &tone[audio_pushed..audio_pushed + n])
                .unwrap();
            audio_pushed += n;
            chunk += 1;
        }
    };
    let colours = [[230, 40, 40], [40, 200, 60], [50, 80, 240]];
    for i in 0..50u32 {
        let sample = u64::from(i) * 1920; // 25 fps on the 48 kHz clock
        // Audio runs 0.8 s ahead of video, as a TTS stage ahead of the renderer would.
        push_audio_until(&mut writer, sample as usize + 38_400);
        let frame = square_frame(
            width,
            height,
            sample,
            10 + i * 5,
            20 + i * 3,
            40,
            colours[i as usize / 17],
        );
        writer.push_video(&frame).unwrap();
    }
    push_audio_until(&mut writer, tone.len());
    let stats = writer.finish().unwrap();

    let file = std::fs::read(&path).unwrap();
    assert_eq!(file[..4], [0x1A, 0x45, 0xDF, 0xA3], "EBML magic");
    // 96 000 samples + 312 of lookahead = 100.3 packets of 960.
    assert_eq!(
        stats,
        WebmStats {
            video_frames: 50,
            audio_packets: 101,
            dropped_video_frames: 0,
            duration_ms: 2000,
            bytes: file.len() as u64,
        }
    );
    let blocks = read::blocks(&file);
    assert_eq!(blocks.iter().filter(|b| b.0 == VIDEO_TRACK).count(), 50);
    assert_eq!(blocks.iter().filter(|b| b.0 == AUDIO_TRACK).count(), 101);
    assert!(
        blocks.windows(2).all(|w| w[0].1 <= w[1].1),
        "blocks must be interleaved in timestamp order: {blocks:?}"
    );
    // 101 * 960 - 96 312 = 648 padded samples = 13.5 ms.
    assert_eq!(
        *blocks.iter().rev().find(|b| b.0 == AUDIO_TRACK).unwrap(),
        (AUDIO_TRACK, 2000, 13_500_000)
    );

    if !have("ffprobe") {
        return;
    }
    let (json, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height,r_frame_rate,sample_rate,channels",
            "-of",
            "json",
        ],
        &path,
    );
    let probe: serde_json::Value = serde_json::from_str(&json).unwrap();
    let streams = probe["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(video["codec_name"], "vp8");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(video["r_frame_rate"], "25/1");
    assert_eq!(audio["codec_name"], "opus");
    assert_eq!(
        (audio["sample_rate"].as_str(), audio["channels"].as_u64()),
        (Some("48000"), Some(1))
    );

    // Each stream ends where its last packet ends.
    let (packets, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=stream_index,pts_time,duration_time",
            "-of",
            "csv=p=0",
        ],
        &path,
    );
    let mut end_s = [0f64; 2];
    let mut count = [0usize; 2];
    for line in packets.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let stream: usize = fields[0].parse().unwrap();
        let end = fields[1].parse::<f64>().unwrap() + fields[2].parse::<f64>().unwrap();
        end_s[stream] = end_s[stream].max(end);
        count[stream] += 1;
    }
    let video_index = video["index"].as_u64().unwrap_or(0) as usize;
    println!("ffprobe: stream ends {end_s:?} s, packets {count:?}");
    assert_eq!(count[video_index], 50);
    assert!(
        (end_s[0] - end_s[1]).abs() <= 0.040,
        "video and audio end {end_s:?} s apart"
    );

    if !have("ffmpeg") {
        return;
    }
    let decode = ffmpeg(&path, &["-f", "null", "-"]);
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "ffmpeg decode reported: {}",
        String::from_utf8_lossy(&decode.stderr)
    );
    let frames = ffmpeg(&path, &["-map", "0:v:0", "-f", "framemd5", "-"]);
    let decoded = String::from_utf8_lossy(&frames.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert_eq!(decoded, 50, "decoded video frames");
}

/// `ffmpeg -v error -i <file> <args>`.
fn ffmpeg(file: &Path, args: &[&str]) -> std::process::Output {
    Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn decoded_audio_starts_on_the_output_clock_sample_it_was_pushed_at() {
    // Silence, then a burst from exactly 1.0 s to 1.5 s, next to video frames at 25 fps. If
    // pre-skip were mishandled the burst would decode 312 samples (6.5 ms) late.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("onset.webm");
    let mut writer = WebmWriter::create(&path, config(64, 48)).unwrap();
    let onset = RATE as usize;
    let audio: Vec<f32> = (0..onset * 3 / 2)
        .map(|i| {
            if i >= onset {
                0.8 * (i as f32 * 0.11).sin()
            } else {
                0.0
            }
        })
        .collect();
    for i in 0..38u64 {
        writer
            .push_video(&square_frame(64, 48, i * 1920, 0, 0, 8, [255, 255, 255]))
            .unwrap();
    }
    for (i, chunk) in audio.chunks(4800).enumerate() {
        writer.push_audio((i * 4800) as u64, chunk).unwrap();
    }
    let stats = writer.finish().unwrap();
    assert_eq!(stats.duration_ms, 1520); // last frame at 1.48 s + 40 ms

    if !have("ffmpeg") {
        return;
    }
    let pcm = ffmpeg(
        &path,
        &["-map", "0:a:0", "-f", "f32le", "-ac", "1", "-ar", "48000", "-"],
    );
    assert!(pcm.status.success(), "{}", String::from_utf8_lossy(&pcm.stderr));
    let decoded: Vec<f32> = pcm
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let first_loud = decoded.iter().position(|s| s.abs() > 0.2).unwrap();
    println!(
        "ffmpeg decoded {} samples; burst starts at {first_loud} (sent at {onset})",
        decoded.len()
    );
    assert!(
        first_loud.abs_diff(onset) <= 48,
        "burst at {first_loud}, expected {onset} ± 1 ms"
    );
    assert!(
        decoded.len().abs_diff(audio.len()) <= 960,
        "decoded {} of {} samples",
        decoded.len(),
        audio.len()
    );
}

#[test]
fn keyframes_every_two_seconds_open_clusters_that_the_cues_point_at() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seek.webm");
    let mut writer = WebmWriter::create(&path, config(64, 48)).unwrap();
    let silence = vec![0.0f32; 1920];
    for i in 0..125u32 {
        let sample = u64::from(i) * 1920;
        writer
            .push_video(&square_frame(64, 48, sample, i % 50, 10, 8, [0, 200, 0]))
            .unwrap();
        writer.push_audio(sample, &silence).unwrap();
    }
    writer.finish().unwrap();

    let file = std::fs::read(&path).unwrap();
    let be = |bytes: &Vec<u8>| bytes.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
    let cue_times: Vec<u64> = read::all(&file, 0xB3).iter().map(be).collect();
    assert_eq!(cue_times, [0, 2000, 4000]);
    let segment_id = file
        .windows(4)
        .position(|w| w == [0x18, 0x53, 0x80, 0x67])
        .unwrap();
    let segment_start = segment_id + 4 + 8;
    for position in read::all(&file, 0xF1).iter().map(be) {
        let at = segment_start + position as usize;
        assert_eq!(
            file[at..at + 4],
            [0x1F, 0x43, 0xB6, 0x75],
            "cue must point at a Cluster"
        );
    }

    if !have("ffprobe") {
        return;
    }
    let (packets, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-read_intervals",
            "4.1%+0.1",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
        ],
        &path,
    );
    assert_eq!(
        packets.lines().next(),
        Some("4.000000,K_"),
        "seeking to 4.1 s lands on the 4 s keyframe"
    );
}

#[test]
fn odd_sizes_are_rejected_before_a_file_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.webm");
    let err = WebmWriter::create(&path, config(321, 240)).err().unwrap();
    assert!(
        matches!(
            err,
            EncodeError::OddDimensions {
                width: 321,
                height: 240
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("320x240"),
        "suggests an even size: {err}"
    );
    assert!(!path.exists());
}

#[test]
fn unwritable_paths_and_bad_rates_are_named() {
    let missing = Path::new("/nonexistent-persona-dir/out.webm");
    let err = WebmWriter::create(missing, config(64, 48)).err().unwrap();
    assert!(matches!(err, EncodeError::CreateFile { .. }));
    assert!(
        err.to_string().contains("/nonexistent-persona-dir/out.webm"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut at_16k = config(64, 48);
    at_16k.sample_rate_hz = 16_000;
    let err = WebmWriter::create(&dir.path().join("a.webm"), at_16k)
        .err()
        .unwrap();
    assert!(err.to_string().contains("sample_rate_hz = 16000"), "{err}");
}

#[test]
fn out_of_order_video_frames_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("order.webm");
    let mut writer = WebmWriter::create(&path, config(64, 48)).unwrap();
    for sample in [0, 1920, 1920, 960, 3840] {
        writer
            .push_video(&square_frame(64, 48, sample, 4, 4, 8, [200, 0, 0]))
            .unwrap();
    }
    let stats = writer.finish().unwrap();
    assert_eq!(
        (
            stats.video_frames,
            stats.dropped_video_frames,
            stats.audio_packets
        ),
        (3, 2, 0)
    );
    let blocks = read::blocks(&std::fs::read(&path).unwrap());
    assert_eq!(
        blocks,
        [(VIDEO_TRACK, 0, 0), (VIDEO_TRACK, 40, 0), (VIDEO_TRACK, 80, 0)]
    );
}

#[test]
fn a_frame_of_the_wrong_size_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = WebmWriter::create(&dir.path().join("size.webm"), config(64, 48)).unwrap();
    let err = writer.push_video(&VideoFrame::blank(48, 64)).err().unwrap();
    assert!(err.to_string().contains("48x64"), "{err}");
    let mut short = VideoFrame::blank(64, 48);
    short.rgba.truncate(100);
    assert!(matches!(
        writer.push_video(&short),
        Err(EncodeError::FrameSize { got_bytes: 100, .. })
    ));
}

fn queued(timestamp_ms: u64) -> Queued {
    Queued {
        timestamp_ns: timestamp_ms * 1_000_000,
        keyframe: true,
        data: vec![0],
        discard_padding_ns: 0,
    }
}

fn popped(queue: &mut Interleaver) -> Vec<(u64, u64)> {
    std::iter::from_fn(|| queue.pop_ready())
        .map(|(t, p)| (t, p.timestamp_ns / 1_000_000))
        .collect()
}

#[test]
fn audio_ahead_of_video_waits_for_it_and_comes_out_in_order() {
    let mut queue = Interleaver::default();
    for ms in (0..1000).step_by(20) {
        queue.push(AUDIO_TRACK, queued(ms));
    }
    assert!(popped(&mut queue).is_empty(), "1 s of audio alone is held");
    queue.push(VIDEO_TRACK, queued(0));
    queue.push(VIDEO_TRACK, queued(40));
    // Audio from 40 ms on waits again: video's next frame could still be at 40 ms.
    assert_eq!(
        popped(&mut queue),
        [
            (VIDEO_TRACK, 0),
            (AUDIO_TRACK, 0),
            (AUDIO_TRACK, 20),
            (VIDEO_TRACK, 40)
        ]
    );
    assert_eq!(queue.audio.len(), 48);
}

#[test]
fn a_track_more_than_two_seconds_ahead_is_written_anyway() {
    let mut queue = Interleaver::default();
    for ms in (0..=2000).step_by(40) {
        queue.push(VIDEO_TRACK, queued(ms));
    }
    assert!(popped(&mut queue).is_empty(), "exactly 2 s is still held");
    queue.push(VIDEO_TRACK, queued(2040));
    assert_eq!(popped(&mut queue), [(VIDEO_TRACK, 0)]);
    assert_eq!(queue.video.len(), 51, "the queue stays at 2 s");
}

#[test]
fn the_writer_can_move_to_another_thread() {
    fn is_send<T: Send>() {}
    is_send::<WebmWriter>();
}

/// A frame busier than a face: a gradient with a moving, rippling pattern, so the encoder works.
fn textured_frame(width: u32, height: u32, i: u32) -> VideoFrame {
    let mut frame = VideoFrame::blank(width, height);
    frame.sample = u64::from(i) * 1920;
    let t = i as f32 * 0.15;
    for (n, px) in frame.rgba.chunks_exact_mut(4).enumerate() {
        let (x, y) = ((n as u32 % width) as f32, (n as u32 / width) as f32);
        let ripple = ((x * 0.05 + t).sin() * (y * 0.07 - t * 0.7).cos() * 60.0) as i32;
        let r = (x * 0.3) as i32 + 80 + ripple;
        let g = (y * 0.3) as i32 + 60 + ripple / 2;
        let b = 140 - ripple;
        px.copy_from_slice(&[
            r.clamp(0, 255) as u8,
            g.clamp(0, 255) as u8,
            b.clamp(0, 255) as u8,
            255,
        ]);
    }
    frame
}

/// Encode cost per 512x512 frame. Run with
/// `cargo test --release --lib encode::webm::tests::encode_cost -- --ignored --nocapture`.
#[test]
#[ignore = "timing report, not a check"]
fn encode_cost() {
    let dir = tempfile::tempdir().unwrap();
    for realtime in [true, false] {
        let path = dir.path().join("cost.webm");
        let mut cfg = config(512, 512);
        cfg.realtime = realtime;
        cfg.video_bitrate_kbps = 800;
        let mut writer = WebmWriter::create(&path, cfg).unwrap();
        let frames: Vec<VideoFrame> = (0..250u32).map(|i| textured_frame(512, 512, i)).collect();
        let mut convert = std::time::Duration::ZERO;
        let mut i420 = vec![0; i420_len(512, 512)];
        for frame in &frames[..50] {
            let t = std::time::Instant::now();
            rgba_to_i420(&frame.rgba, 512, 512, &mut i420).unwrap();
            convert += t.elapsed();
        }
        let tone: Vec<f32> = (0..1920).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let start = std::time::Instant::now();
        for frame in &frames {
            writer.push_audio(frame.sample, &tone).unwrap();
            writer.push_video(frame).unwrap();
        }
        let stats = writer.finish().unwrap();
        let per_frame = start.elapsed() / frames.len() as u32;
        println!(
            "512x512 realtime={realtime}: {per_frame:?} per frame (RGBA->I420 {:?}, with 40 ms of Opus), {} kB for 10 s",
            convert / 50,
            stats.bytes / 1000
        );
    }
}
