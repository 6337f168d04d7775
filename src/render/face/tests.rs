use std::path::PathBuf;
use std::time::Instant;

use super::*;
use crate::motion::Channel;

const SIZE_PX: u32 = 256;

fn pose(channels: &[(Channel, f32)]) -> MotionVector {
    let mut vector = MotionVector::NEUTRAL;
    for &(channel, value) in channels {
        vector.set(channel, value);
    }
    vector
}

fn render(renderer: &mut FaceRenderer, vector: &MotionVector) -> VideoFrame {
    let mut frame = VideoFrame::blank(renderer.width(), renderer.height());
    renderer.render(vector, &mut frame);
    frame
}

fn renderer() -> FaceRenderer {
    FaceRenderer::new(SIZE_PX, SIZE_PX).expect("256x256 is a valid size")
}

/// Rec. 601 luma, 0..255.
fn luma(p: [u8; 4]) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

/// Mouth interior: well below the lip line (luma ~80) and the lips (~110).
fn is_dark(p: [u8; 4]) -> bool {
    luma(p) < 60.0
}

/// Eye white: bright and nearly grey (skin is bright but clearly warm).
fn is_eye_white(p: [u8; 4]) -> bool {
    let (lo, hi) = (p[0].min(p[1]).min(p[2]), p[0].max(p[1]).max(p[2]));
    lo >= 190 && hi - lo <= 40
}

fn fraction(frame: &VideoFrame, (x, y, w, h): (u32, u32, u32, u32), test: fn([u8; 4]) -> bool) -> f32 {
    let mut hits = 0;
    for py in y..y + h {
        for px in x..x + w {
            hits += test(frame.pixel(px, py)) as u32;
        }
    }
    hits as f32 / (w * h).max(1) as f32
}

fn count(frame: &VideoFrame, region: (u32, u32, u32, u32), test: fn([u8; 4]) -> bool) -> u32 {
    (fraction(frame, region, test) * (region.2 * region.3) as f32).round() as u32
}

/// Mean x of the pixels passing `test` inside `region`.
fn centroid_x(frame: &VideoFrame, (x, y, w, h): (u32, u32, u32, u32), test: fn([u8; 4]) -> bool) -> f32 {
    let (mut sum, mut n) = (0.0, 0.0);
    for py in y..y + h {
        for px in x..x + w {
            if test(frame.pixel(px, py)) {
                sum += px as f32;
                n += 1.0;
            }
        }
    }
    sum / n
}

#[test]
fn regions_lie_inside_the_frame_and_are_not_empty() {
    let r = renderer();
    for (x, y, w, h) in [r.mouth_region(), r.eye_regions()[0], r.eye_regions()[1]] {
        assert!(w > 4 && h > 4, "region {w}x{h} too small");
        assert!(x + w <= SIZE_PX && y + h <= SIZE_PX);
    }
    let [left, right] = r.eye_regions();
    assert!(
        left.0 + left.2 < SIZE_PX / 2 && right.0 > SIZE_PX / 2,
        "eyes are ordered left, right"
    );
    assert!(r.mouth_region().1 > left.1 + left.3, "mouth is below the eyes");
}

#[test]
fn neutral_mouth_is_a_closed_line_of_lips() {
    let mut r = renderer();
    let frame = render(&mut r, &MotionVector::NEUTRAL);
    assert_eq!(count(&frame, r.mouth_region(), is_dark), 0);
}

#[test]
fn open_jaw_shows_a_dark_interior() {
    let mut r = renderer();
    let frame = render(&mut r, &pose(&[(Channel::JawOpen, 1.0)]));
    let dark = fraction(&frame, r.mouth_region(), is_dark);
    assert!(
        dark > 0.2,
        "only {:.1} % of the mouth region is dark",
        dark * 100.0
    );
}

#[test]
fn sealed_lips_hide_the_interior_whatever_else_the_mouth_does() {
    let mut r = renderer();
    let region = r.mouth_region();
    for seal in [Channel::MouthClose, Channel::MouthPress] {
        for (name, extra) in [
            ("jaw 0.6", vec![(Channel::JawOpen, 0.6)]),
            ("jaw 1", vec![(Channel::JawOpen, 1.0)]),
            (
                "funnel",
                vec![(Channel::JawOpen, 0.5), (Channel::MouthFunnel, 1.0)],
            ),
            (
                "pucker",
                vec![(Channel::MouthPucker, 1.0), (Channel::MouthLowerDown, 1.0)],
            ),
            (
                "upper up",
                vec![(Channel::MouthUpperUp, 1.0), (Channel::MouthStretch, 1.0)],
            ),
            ("smile", vec![(Channel::MouthSmile, 1.0), (Channel::JawOpen, 0.3)]),
        ] {
            for level in [0.92, 1.0] {
                let mut channels = extra.clone();
                channels.push((seal, level));
                let frame = render(&mut r, &pose(&channels));
                let dark = count(&frame, region, is_dark);
                assert_eq!(dark, 0, "{} {level} with {name}: {dark} dark pixels", seal.name());
            }
        }
    }
}

#[test]
fn other_openings_show_some_interior() {
    let mut r = renderer();
    for (name, channels) in [
        ("half jaw", vec![(Channel::JawOpen, 0.5)]),
        ("oo", vec![(Channel::JawOpen, 0.3), (Channel::MouthFunnel, 1.0)]),
        ("ee", vec![(Channel::JawOpen, 0.3), (Channel::MouthStretch, 1.0)]),
        ("grin", vec![(Channel::JawOpen, 0.4), (Channel::MouthSmile, 1.0)]),
    ] {
        let frame = render(&mut r, &pose(&channels));
        let dark = count(&frame, r.mouth_region(), is_dark);
        assert!(dark > 10, "{name}: only {dark} dark pixels");
    }
}

#[test]
fn closed_eyelids_cover_the_eye_whites() {
    let mut r = renderer();
    let open = render(&mut r, &MotionVector::NEUTRAL);
    let shut = render(
        &mut r,
        &pose(&[(Channel::EyeBlinkLeft, 1.0), (Channel::EyeBlinkRight, 1.0)]),
    );
    for region in r.eye_regions() {
        let open_white = fraction(&open, region, is_eye_white);
        let shut_white = fraction(&shut, region, is_eye_white);
        assert!(
            open_white > 0.15,
            "open eye: only {:.1} % white",
            open_white * 100.0
        );
        assert!(shut_white < 0.005, "shut eye: {:.1} % white", shut_white * 100.0);
    }
}

#[test]
fn each_blink_channel_closes_the_avatars_own_eye() {
    let mut r = renderer();
    // The avatar faces the viewer: its left eye is on the image right.
    let frame = render(&mut r, &pose(&[(Channel::EyeBlinkLeft, 1.0)]));
    let [image_left, image_right] = r.eye_regions();
    assert!(fraction(&frame, image_left, is_eye_white) > 0.15);
    assert!(fraction(&frame, image_right, is_eye_white) < 0.005);
}

#[test]
fn head_pose_and_gaze_change_the_picture() {
    let mut r = renderer();
    let neutral = render(&mut r, &MotionVector::NEUTRAL);
    for channel in [
        Channel::HeadRoll,
        Channel::HeadYaw,
        Channel::HeadPitch,
        Channel::EyeLookX,
        Channel::EyeLookY,
        Channel::BrowInnerUp,
    ] {
        let (lo, hi) = channel.range();
        for value in [if lo < 0.0 { lo } else { hi }, 0.5 * hi] {
            let frame = render(&mut r, &pose(&[(channel, value)]));
            let changed = frame
                .rgba
                .chunks(4)
                .zip(neutral.rgba.chunks(4))
                .filter(|(a, b)| a != b)
                .count();
            assert!(
                changed > 50,
                "{} = {value} changed only {changed} pixels",
                channel.name()
            );
        }
    }
}

#[test]
fn yaw_moves_the_features_further_than_the_silhouette() {
    let mut r = renderer();
    let open = [(Channel::JawOpen, 1.0)];
    let straight = render(&mut r, &pose(&open));
    let turned = render(&mut r, &pose(&[open[0], (Channel::HeadYaw, 1.0)]));
    // Around the mouth only: hair, pupils and lashes are dark too.
    let (x, y, w, h) = r.mouth_region();
    let around = (x - w / 2, y, 2 * w, 2 * h);
    let mouth_shift_px = centroid_x(&turned, around, is_dark) - centroid_x(&straight, around, is_dark);
    // Turning to the avatar's right moves its face towards image left.
    let outline_shift_px = -0.025 * r.layout.scale_px;
    assert!(
        mouth_shift_px < 3.0 * outline_shift_px,
        "mouth moved {mouth_shift_px:.1} px, the outline {outline_shift_px:.1} px"
    );
}

#[test]
fn rendering_is_deterministic_and_opaque() {
    let mut r = renderer();
    let busy = pose(&[
        (Channel::JawOpen, 0.7),
        (Channel::MouthSmile, 0.5),
        (Channel::HeadRoll, 1.0),
        (Channel::HeadYaw, -1.0),
        (Channel::HeadPitch, 1.0),
        (Channel::EyeBlinkLeft, 0.5),
        (Channel::EyeLookX, 1.0),
    ]);
    let first = render(&mut r, &busy);
    render(&mut r, &MotionVector::NEUTRAL);
    let second = render(&mut r, &busy);
    assert!(first.rgba == second.rgba, "same pose gave different bytes");
    let mut all_max = MotionVector::NEUTRAL;
    for channel in Channel::ALL {
        all_max.set(channel, 1.0);
    }
    for frame in [
        first,
        render(&mut r, &all_max),
        render(&mut r, &MotionVector::NEUTRAL),
    ] {
        assert!(frame.rgba.chunks(4).all(|p| p[3] == 255), "a pixel is not opaque");
    }
}

#[test]
fn non_finite_channels_read_as_neutral() {
    let mut r = renderer();
    let neutral = render(&mut r, &MotionVector::NEUTRAL);
    let mut broken = MotionVector::NEUTRAL;
    broken.0[Channel::JawOpen as usize] = f32::NAN;
    broken.0[Channel::HeadRoll as usize] = f32::INFINITY;
    broken.0[Channel::EyeLookX as usize] = f32::NEG_INFINITY;
    assert!(render(&mut r, &broken).rgba == neutral.rgba);
    // Out-of-range values are clamped, not extrapolated.
    let mut wild = MotionVector::NEUTRAL;
    wild.0[Channel::JawOpen as usize] = 40.0;
    assert!(render(&mut r, &wild).rgba == render(&mut r, &pose(&[(Channel::JawOpen, 1.0)])).rgba);
}

#[test]
fn render_resizes_the_frame_and_keeps_its_sample() {
    let mut r = FaceRenderer::new(64, 48).expect("valid size");
    let mut frame = VideoFrame::blank(3, 2);
    frame.sample = 1234;
    r.render(&MotionVector::NEUTRAL, &mut frame);
    assert_eq!(
        (frame.width, frame.height, frame.rgba.len()),
        (64, 48, 64 * 48 * 4)
    );
    assert_eq!(frame.sample, 1234);
}

#[test]
fn bad_sizes_are_rejected() {
    for (width, height) in [
        (0, 10),
        (10, 0),
        (0, 0),
        (8193, 10),
        (10, 8193),
        (u32::MAX, u32::MAX),
    ] {
        let err = FaceRenderer::new(width, height)
            .err()
            .expect("size must be rejected");
        assert_eq!(
            err,
            RenderError::FrameSize {
                width,
                height,
                max: MAX_FRAME_SIDE_PX
            }
        );
        assert!(err.to_string().contains(&format!("{width}x{height}")), "{err}");
    }
}

#[test]
fn extreme_shapes_render_without_panicking() {
    let mut all_max = MotionVector::NEUTRAL;
    let mut all_min = MotionVector::NEUTRAL;
    for channel in Channel::ALL {
        all_max.set(channel, 1.0);
        all_min.set(channel, -1.0);
    }
    for (w, h) in [(1, 1), (2, 7), (7, 2), (8192, 1), (1, 8192), (33, 17)] {
        let mut r = FaceRenderer::new(w, h).expect("valid size");
        for vector in [MotionVector::NEUTRAL, all_max, all_min] {
            let frame = render(&mut r, &vector);
            assert!(frame.rgba.chunks(4).all(|p| p[3] == 255));
        }
    }
}

fn preview_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("face-previews")
}

fn save_png(frame: &VideoFrame, path: &std::path::Path) {
    tiny_skia::PixmapRef::from_bytes(&frame.rgba, frame.width, frame.height)
        .expect("frame is sized width * height * 4")
        .save_png(path)
        .expect("preview PNG can be written");
}

/// Writes PNGs of a few poses for a human to look at:
/// `cargo test --lib render::face::tests::write_previews -- --ignored --nocapture`.
#[test]
#[ignore = "writes preview PNGs for a human to look at"]
fn write_previews() {
    let dir = preview_dir();
    std::fs::create_dir_all(&dir).expect("preview directory can be created");
    let mut r = FaceRenderer::new(512, 512).expect("valid size");
    let poses: [(&str, Vec<(Channel, f32)>); 12] = [
        ("neutral", vec![]),
        ("open", vec![(Channel::JawOpen, 1.0)]),
        ("half-open", vec![(Channel::JawOpen, 0.4)]),
        ("oo", vec![(Channel::JawOpen, 0.3), (Channel::MouthFunnel, 1.0)]),
        ("pucker", vec![(Channel::MouthPucker, 1.0)]),
        (
            "ee-smile",
            vec![
                (Channel::JawOpen, 0.25),
                (Channel::MouthStretch, 0.6),
                (Channel::MouthSmile, 1.0),
            ],
        ),
        ("f-v", vec![(Channel::MouthUpperUp, 1.0), (Channel::JawOpen, 0.1)]),
        ("press", vec![(Channel::MouthPress, 1.0), (Channel::JawOpen, 0.6)]),
        (
            "blink",
            vec![(Channel::EyeBlinkLeft, 1.0), (Channel::EyeBlinkRight, 1.0)],
        ),
        (
            "half-blink-look",
            vec![
                (Channel::EyeBlinkLeft, 0.5),
                (Channel::EyeBlinkRight, 0.5),
                (Channel::EyeLookX, 1.0),
                (Channel::EyeLookY, -1.0),
            ],
        ),
        (
            "brows-yaw",
            vec![
                (Channel::BrowInnerUp, 1.0),
                (Channel::HeadYaw, 1.0),
                (Channel::JawOpen, 0.3),
            ],
        ),
        (
            "roll-pitch",
            vec![
                (Channel::HeadRoll, 1.0),
                (Channel::HeadPitch, 1.0),
                (Channel::HeadYaw, -0.6),
                (Channel::MouthSmile, 0.6),
            ],
        ),
    ];
    const COLUMNS: u32 = 4;
    const TILE_PX: u32 = 256;
    let rows = (poses.len() as u32).div_ceil(COLUMNS);
    let sheet_px = (COLUMNS * TILE_PX, rows * TILE_PX);
    let mut sheet = tiny_skia::Pixmap::new(sheet_px.0, sheet_px.1).expect("sheet size is valid");
    // Close-ups of the mouth (at 2x) to judge the lip shapes.
    let mut mouths = tiny_skia::Pixmap::new(sheet_px.0, rows * TILE_PX / 2).expect("sheet size is valid");
    let (mx, my, mw, mh) = r.mouth_region();
    let (mouth_x, mouth_y) = ((mx + mw / 2) as f32, (my + mh / 2) as f32);
    let mut small = FaceRenderer::new(TILE_PX, TILE_PX).expect("valid size");
    for (i, (name, channels)) in poses.iter().enumerate() {
        let vector = pose(channels);
        let big = render(&mut r, &vector);
        save_png(&big, &dir.join(format!("{name}.png")));
        let tile = render(&mut small, &vector);
        let tile = tiny_skia::PixmapRef::from_bytes(&tile.rgba, TILE_PX, TILE_PX).expect("tile size");
        let (col, row) = ((i as u32 % COLUMNS) as f32, (i as u32 / COLUMNS) as f32);
        let paint = tiny_skia::PixmapPaint::default();
        let at = tiny_skia::Transform::from_translate(col * TILE_PX as f32, row * TILE_PX as f32);
        sheet.draw_pixmap(0, 0, tile, &paint, at, None);
        let big = tiny_skia::PixmapRef::from_bytes(&big.rgba, 512, 512).expect("frame size");
        let zoom = tiny_skia::Transform::from_row(
            2.0,
            0.0,
            0.0,
            2.0,
            (col + 0.5) * TILE_PX as f32 - 2.0 * mouth_x,
            (row + 0.5) * TILE_PX as f32 / 2.0 - 2.0 * mouth_y,
        );
        let cell = tiny_skia::Rect::from_xywh(
            col * TILE_PX as f32,
            row * TILE_PX as f32 / 2.0,
            TILE_PX as f32,
            TILE_PX as f32 / 2.0,
        )
        .expect("cell is a valid rect");
        let mut clip = tiny_skia::Mask::new(mouths.width(), mouths.height()).expect("mask size");
        clip.fill_path(
            &tiny_skia::PathBuilder::from_rect(cell),
            tiny_skia::FillRule::Winding,
            false,
            tiny_skia::Transform::identity(),
        );
        mouths.draw_pixmap(0, 0, big, &paint, zoom, Some(&clip));
    }
    sheet
        .save_png(dir.join("sheet.png"))
        .expect("sheet PNG can be written");
    mouths
        .save_png(dir.join("mouths.png"))
        .expect("mouth sheet PNG can be written");
    let mut wide = FaceRenderer::new(640, 360).expect("valid size");
    save_png(
        &render(&mut wide, &pose(&[(Channel::JawOpen, 0.5)])),
        &dir.join("wide-640x360.png"),
    );
    println!("previews written to {}", dir.display());
}

/// Render time per frame at 512×512 over a sweep of poses. Run in release:
/// `cargo test --release --lib render::face::tests::render_time_512 -- --ignored --nocapture`.
#[test]
#[ignore = "timing report, run in release"]
fn render_time_512() {
    const FRAMES: usize = 600;
    let mut r = FaceRenderer::new(512, 512).expect("valid size");
    let mut frame = VideoFrame::blank(512, 512);
    let vector_at = |i: usize| {
        let t = i as f32 / 25.0;
        pose(&[
            (Channel::JawOpen, 0.5 + 0.5 * (t * 7.0).sin()),
            (Channel::MouthSmile, 0.5 + 0.5 * (t * 0.7).sin()),
            (Channel::MouthFunnel, (0.5 * (t * 2.3).sin()).max(0.0)),
            (Channel::EyeBlinkLeft, if i % 90 < 4 { 1.0 } else { 0.0 }),
            (Channel::EyeBlinkRight, if i % 90 < 4 { 1.0 } else { 0.0 }),
            (Channel::HeadYaw, 0.4 * (t * 0.5).sin()),
            (Channel::HeadRoll, 0.3 * (t * 0.3).sin()),
            (Channel::EyeLookX, 0.5 * (t * 0.9).sin()),
        ])
    };
    for i in 0..30 {
        r.render(&vector_at(i), &mut frame);
    }
    let mut times_us: Vec<f64> = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        let vector = vector_at(i);
        let start = Instant::now();
        r.render(&vector, &mut frame);
        times_us.push(start.elapsed().as_secs_f64() * 1e6);
    }
    times_us.sort_by(f64::total_cmp);
    let mean_us = times_us.iter().sum::<f64>() / FRAMES as f64;
    println!(
        "512x512 render over {FRAMES} frames: mean {:.0} us, median {:.0} us, p95 {:.0} us, max {:.0} us ({})",
        mean_us,
        times_us[FRAMES / 2],
        times_us[FRAMES * 95 / 100],
        times_us[FRAMES - 1],
        if cfg!(debug_assertions) {
            "debug build: use --release"
        } else {
            "release build"
        },
    );
}
