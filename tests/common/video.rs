//! Reading a written video back: mouth openness from the decoded pixels, audio energy from the
//! decoded audio, and how well they line up.

use std::process::Command;

use persona::render::Avatar;
use persona::render::rig::Placement;

const FPS: usize = 25;
const RATE: usize = 48_000;

pub fn decode(video: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(args)
        .arg("-")
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Fraction of the mouth region showing the mouth's interior in each decoded frame: the dark
/// cavity or the teeth (bright and nearly grey; skin and lips are clearly warm). Zero when the
/// lips are together.
pub fn mouth_openness(video: &std::path::Path, width: usize, height: usize) -> Vec<f32> {
    let rgba = decode(video, &["-f", "rawvideo", "-pix_fmt", "rgba"]);
    let avatar = Avatar::builtin();
    let (mx, my, mw, mh) =
        Placement::fit(&avatar, width as u32, height as u32).rect_px(&avatar.regions.mouth);
    rgba.chunks(width * height * 4)
        .map(|frame| {
            let mut dark = 0;
            for y in my..my + mh {
                for x in mx..mx + mw {
                    let i = (y as usize * width + x as usize) * 4;
                    let (r, g, b) = (frame[i], frame[i + 1], frame[i + 2]);
                    let luma = 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
                    let (lo, hi) = (r.min(g).min(b), r.max(g).max(b));
                    let teeth = lo >= 190 && hi - lo <= 40;
                    if luma < 60.0 || teeth {
                        dark += 1;
                    }
                }
            }
            dark as f32 / (mw * mh) as f32
        })
        .collect()
}

/// RMS of the decoded audio over each video frame's span (25 fps).
pub fn frame_energy(video: &std::path::Path, frames: usize) -> Vec<f32> {
    frame_energy_at(video, frames, FPS)
}

/// RMS of the decoded audio over each video frame's span at `fps`.
pub fn frame_energy_at(video: &std::path::Path, frames: usize, fps: usize) -> Vec<f32> {
    let bytes = decode(video, &["-vn", "-f", "f32le", "-ac", "1", "-ar", "48000"]);
    let samples: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let per_frame = RATE / fps;
    (0..frames)
        .map(|k| {
            let span = &samples[(k * per_frame).min(samples.len())..((k + 1) * per_frame).min(samples.len())];
            if span.is_empty() {
                0.0
            } else {
                (span.iter().map(|s| s * s).sum::<f32>() / span.len() as f32).sqrt()
            }
        })
        .collect()
}

/// The lag (in frames, -5..=5) at which mouth openness best follows audio energy, and the
/// correlation there.
pub fn best_lag(energy: &[f32], open: &[f32]) -> (isize, f32) {
    let correlation = |lag: isize| -> f32 {
        let pairs: Vec<(f32, f32)> = (0..open.len() as isize)
            .filter_map(|k| {
                let j = k + lag;
                (j >= 0 && (j as usize) < open.len()).then(|| (energy[k as usize], open[j as usize]))
            })
            .collect();
        let n = pairs.len() as f32;
        let (me, mo) = (
            pairs.iter().map(|p| p.0).sum::<f32>() / n,
            pairs.iter().map(|p| p.1).sum::<f32>() / n,
        );
        let cov: f32 = pairs.iter().map(|(e, o)| (e - me) * (o - mo)).sum();
        let ve: f32 = pairs.iter().map(|(e, _)| (e - me).powi(2)).sum();
        let vo: f32 = pairs.iter().map(|(_, o)| (o - mo).powi(2)).sum();
        cov / (ve.sqrt() * vo.sqrt()).max(1e-9)
    };
    let best = (-5..=5)
        .max_by(|a, b| correlation(*a).total_cmp(&correlation(*b)))
        .expect("non-empty range");
    (best, correlation(best))
}

/// What ffprobe and ffmpeg say a video file holds.
#[derive(Debug)]
pub struct Probe {
    pub video_codec: String,
    pub audio_codec: String,
    pub width: u32,
    pub height: u32,
    /// Nominal frame rate as ffprobe reports it, e.g. "25/1".
    pub frame_rate: String,
    /// Frames decoded.
    pub video_frames: usize,
    /// Mono 48 kHz samples decoded.
    pub audio_samples: usize,
}

impl Probe {
    pub fn video_seconds(&self, fps: f64) -> f64 {
        self.video_frames as f64 / fps
    }

    pub fn audio_seconds(&self) -> f64 {
        self.audio_samples as f64 / RATE as f64
    }
}

/// Codecs, size and rate from ffprobe; frame and sample counts by decoding everything.
pub fn probe(video: &std::path::Path) -> Probe {
    let stream = |selector: &str, entries: &str| -> Vec<String> {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", selector, "-show_entries"])
            .arg(format!("stream={entries}"))
            .args(["-of", "default=noprint_wrappers=1:nokey=1"])
            .arg(video)
            .output()
            .expect("ffprobe runs");
        assert!(
            out.status.success(),
            "ffprobe failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let v = stream("v:0", "codec_name,width,height,r_frame_rate");
    let a = stream("a:0", "codec_name");
    assert_eq!(v.len(), 4, "one video stream: {v:?}");
    assert_eq!(a.len(), 1, "one audio stream: {a:?}");
    let frames = decode(video, &["-f", "rawvideo", "-pix_fmt", "gray"]);
    let width: u32 = v[1].parse().unwrap();
    let height: u32 = v[2].parse().unwrap();
    let audio = decode(video, &["-vn", "-f", "f32le", "-ac", "1", "-ar", "48000"]);
    Probe {
        video_codec: v[0].clone(),
        audio_codec: a[0].clone(),
        width,
        height,
        frame_rate: v[3].clone(),
        video_frames: frames.len() / (width * height) as usize,
        audio_samples: audio.len() / 4,
    }
}

/// Asserts the mouth is closed in silence: in frames at least two frames (80 ms, past any
/// anticipation) from speech, and in the last frame. (espeak-ng starts speaking within the first
/// frame, so the first frame is not silent.)
pub fn assert_closed_in_silence(open: &[f32], energy: &[f32]) {
    let loudest = energy.iter().cloned().fold(0.0, f32::max);
    let quiet = |k: usize| energy[k] < 0.02 * loudest;
    let silent = (2..open.len().saturating_sub(2))
        .filter(|&k| (k - 2..=k + 2).all(quiet))
        .chain([open.len() - 1]);
    for k in silent {
        assert!(
            open[k] < 0.02,
            "frame {k} is silent but the mouth is open: {}",
            open[k]
        );
    }
}
