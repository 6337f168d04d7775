//! Reading a written video back: mouth openness from the decoded pixels, audio energy from the
//! decoded audio, and how well they line up.

use std::process::Command;

use persona::render::FaceRenderer;

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

/// Fraction of dark (mouth interior) pixels in the mouth region of each decoded frame.
pub fn mouth_openness(video: &std::path::Path, width: usize, height: usize) -> Vec<f32> {
    let rgba = decode(video, &["-f", "rawvideo", "-pix_fmt", "rgba"]);
    let renderer = FaceRenderer::new(width as u32, height as u32).unwrap();
    let (mx, my, mw, mh) = renderer.mouth_region();
    rgba.chunks(width * height * 4)
        .map(|frame| {
            let mut dark = 0;
            for y in my..my + mh {
                for x in mx..mx + mw {
                    let i = (y as usize * width + x as usize) * 4;
                    let luma =
                        0.299 * frame[i] as f32 + 0.587 * frame[i + 1] as f32 + 0.114 * frame[i + 2] as f32;
                    if luma < 60.0 {
                        dark += 1;
                    }
                }
            }
            dark as f32 / (mw * mh) as f32
        })
        .collect()
}

/// RMS of the decoded audio over each video frame's span.
pub fn frame_energy(video: &std::path::Path, frames: usize) -> Vec<f32> {
    let bytes = decode(video, &["-f", "f32le", "-ac", "1", "-ar", "48000"]);
    let samples: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let per_frame = RATE / FPS;
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
