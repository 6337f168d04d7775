//! The CPU renderer on the default avatar: what a viewer would check by eye, measured on pixels.

use std::sync::{Arc, OnceLock};

use super::*;
use crate::motion::Channel;
use crate::render::rig::Deformer;

const SIZE_PX: u32 = 256;

fn avatar() -> Arc<Avatar> {
    static AVATAR: OnceLock<Arc<Avatar>> = OnceLock::new();
    AVATAR.get_or_init(|| Arc::new(Avatar::builtin())).clone()
}

fn pose(channels: &[(Channel, f32)]) -> MotionVector {
    let mut vector = MotionVector::NEUTRAL;
    for &(channel, value) in channels {
        vector.set(channel, value);
    }
    vector
}

fn renderer() -> CpuRenderer {
    CpuRenderer::new(avatar(), SIZE_PX, SIZE_PX, 1).unwrap()
}

fn render(renderer: &mut CpuRenderer, vector: &MotionVector) -> VideoFrame {
    let mut frame = VideoFrame::blank(1, 1);
    renderer.render(vector, &mut frame).unwrap();
    frame
}

fn luma(p: [u8; 4]) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

/// Mouth interior: well below the lip line and the lips.
fn is_dark(p: [u8; 4]) -> bool {
    luma(p) < 60.0
}

/// Eye white: bright and nearly grey (skin is bright but clearly warm).
fn is_eye_white(p: [u8; 4]) -> bool {
    let (lo, hi) = (p[0].min(p[1]).min(p[2]), p[0].max(p[1]).max(p[2]));
    lo >= 190 && hi - lo <= 40
}

fn count(frame: &VideoFrame, (x, y, w, h): (u32, u32, u32, u32), test: fn([u8; 4]) -> bool) -> u32 {
    let mut hits = 0;
    for py in y..y + h {
        for px in x..x + w {
            hits += test(frame.pixel(px, py)) as u32;
        }
    }
    hits
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

fn grow((x, y, w, h): (u32, u32, u32, u32), by: u32) -> (u32, u32, u32, u32) {
    (x.saturating_sub(by), y.saturating_sub(by), w + 2 * by, h + 2 * by)
}

#[test]
fn regions_lie_inside_the_frame_on_the_right_sides() {
    let r = renderer();
    for (x, y, w, h) in [r.mouth_region(), r.eye_regions()[0], r.eye_regions()[1]] {
        assert!(w > 4 && h > 2, "region {w}x{h} too small");
        assert!(x + w <= SIZE_PX && y + h <= SIZE_PX);
    }
    let [right_eye, left_eye] = r.eye_regions();
    assert!(right_eye.0 + right_eye.2 < SIZE_PX / 2 && left_eye.0 > SIZE_PX / 2);
    assert!(r.mouth_region().1 > right_eye.1 + right_eye.3);
}

#[test]
fn frames_are_opaque_and_the_rest_pose_has_a_closed_mouth_and_open_eyes() {
    let mut r = renderer();
    let frame = render(&mut r, &MotionVector::NEUTRAL);
    assert_eq!((frame.width, frame.height), (SIZE_PX, SIZE_PX));
    assert!(frame.rgba.chunks(4).all(|p| p[3] == 255), "every pixel opaque");
    assert_eq!(
        count(&frame, grow(r.mouth_region(), 3), is_dark),
        0,
        "closed mouth shows no interior"
    );
    for eye in r.eye_regions() {
        assert!(
            count(&frame, eye, is_eye_white) > 10,
            "eye white visible in {eye:?}"
        );
    }
}

#[test]
fn the_jaw_opens_the_mouth_and_pressed_lips_close_it_whatever_the_jaw_does() {
    let mut r = renderer();
    let region = grow(r.mouth_region(), 2);
    let mut previous = 0;
    for jaw in [0.2, 0.4, 0.7, 1.0] {
        let frame = render(&mut r, &pose(&[(Channel::JawOpen, jaw)]));
        let dark = count(&frame, region, is_dark);
        assert!(
            dark > previous,
            "jaw {jaw}: {dark} dark pixels, not more than {previous}"
        );
        previous = dark;
    }
    // /p b m/: press and close together seal the lips even with the jaw half open.
    for jaw in [0.0, 0.2, 0.5] {
        let frame = render(
            &mut r,
            &pose(&[
                (Channel::JawOpen, jaw),
                (Channel::MouthPress, 1.0),
                (Channel::MouthClose, 1.0),
            ]),
        );
        assert_eq!(count(&frame, region, is_dark), 0, "sealed lips at jaw {jaw}");
    }
    // Teeth show when the mouth is open: bright, nearly grey pixels in the mouth.
    let mut big = CpuRenderer::new(avatar(), 512, 512, 1).unwrap();
    let open = render(
        &mut big,
        &pose(&[(Channel::JawOpen, 0.7), (Channel::MouthUpperUp, 0.5)]),
    );
    let teeth = count(&open, grow(big.mouth_region(), 4), is_eye_white);
    assert!(teeth > 20, "upper teeth visible: {teeth} pixels");
}

#[test]
fn blinks_close_the_avatars_own_eye() {
    let mut r = renderer();
    let [right_eye, left_eye] = r.eye_regions();
    let open = render(&mut r, &MotionVector::NEUTRAL);
    let left_closed = render(&mut r, &pose(&[(Channel::EyeBlinkLeft, 1.0)]));
    // The avatar's left eye is on the image's right.
    assert_eq!(
        count(&left_closed, grow(left_eye, 1), is_eye_white),
        0,
        "left eye shut"
    );
    assert_eq!(
        count(&left_closed, right_eye, is_eye_white),
        count(&open, right_eye, is_eye_white),
        "right eye untouched"
    );
    let half = render(&mut r, &pose(&[(Channel::EyeBlinkRight, 0.5)]));
    let (before, during) = (
        count(&open, right_eye, is_eye_white),
        count(&half, right_eye, is_eye_white),
    );
    assert!(during > 0 && during < before, "half-closed: {during} of {before}");
}

#[test]
fn the_gaze_moves_the_irises_within_the_eyes() {
    let mut r = renderer();
    let eye = grow(r.eye_regions()[0], 1);
    let is_iris = |p: [u8; 4]| luma(p) < 110.0 && p[0] <= p[1].saturating_add(40);
    let ahead = centroid_x(&render(&mut r, &MotionVector::NEUTRAL), eye, is_iris);
    // eyeLookX > 0 looks to the avatar's right: the image's left.
    let right = centroid_x(&render(&mut r, &pose(&[(Channel::EyeLookX, 1.0)])), eye, is_iris);
    let left = centroid_x(&render(&mut r, &pose(&[(Channel::EyeLookX, -1.0)])), eye, is_iris);
    assert!(
        right < ahead - 1.0 && left > ahead + 1.0,
        "{right} < {ahead} < {left}"
    );
}

#[test]
fn head_turns_move_near_layers_further_than_far_ones() {
    let avatar = avatar();
    let placement = Placement::fit(&avatar, SIZE_PX, SIZE_PX);
    let mut deformer = Deformer::new(&avatar, placement);
    let index = |name: &str| avatar.layers.iter().position(|l| l.name == name).unwrap();
    let mean_x = |d: &Deformer, name: &str| {
        let v = d.layer(index(name));
        v.iter().map(|p| p[0]).sum::<f32>() / v.len() as f32
    };
    let names = ["nose", "face", "ears", "hair_back"];
    let rest: Vec<f32> = names.iter().map(|n| mean_x(&deformer, n)).collect();
    deformer.deform(&avatar, &pose(&[(Channel::HeadYaw, 1.0)]));
    let turned: Vec<f32> = names.iter().map(|n| mean_x(&deformer, n)).collect();
    let shift: Vec<f32> = rest.iter().zip(&turned).map(|(a, b)| b - a).collect();
    // The avatar turns to its right (image left): the nose leads, the face follows, the back
    // hair's silhouette only slides, and the ears, behind the head's centre, go the other way.
    assert!(
        shift[0] < shift[1] && shift[1] < shift[3] && shift[3] < shift[2],
        "{shift:?}"
    );
    assert!(shift[0] < -3.0, "the nose moves image-left: {shift:?}");
}

#[test]
fn roll_turns_the_head_about_the_neck_and_leaves_the_body() {
    let avatar = avatar();
    let placement = Placement::fit(&avatar, SIZE_PX, SIZE_PX);
    let mut deformer = Deformer::new(&avatar, placement);
    let index = |name: &str| avatar.layers.iter().position(|l| l.name == name).unwrap();
    let rest_hair = deformer.layer(index("hair_front")).to_vec();
    let rest_body = deformer.layer(index("body")).to_vec();
    deformer.deform(&avatar, &pose(&[(Channel::HeadRoll, 1.0)]));
    assert_eq!(deformer.layer(index("body")), &rest_body[..]);
    let pivot = placement.map(avatar.head.pivot);
    let (top, _) = rest_hair
        .iter()
        .enumerate()
        .min_by(|a, b| a.1[1].total_cmp(&b.1[1]))
        .unwrap();
    let moved = deformer.layer(index("hair_front"))[top];
    // The crown tilts towards the avatar's right shoulder (image left), keeping its distance.
    assert!(
        moved[0] < rest_hair[top][0] - 2.0,
        "{:?} -> {moved:?}",
        rest_hair[top]
    );
    let dist = |p: [f32; 2]| ((p[0] - pivot[0]).powi(2) + (p[1] - pivot[1]).powi(2)).sqrt();
    assert!((dist(moved) - dist(rest_hair[top])).abs() < 0.01);
}

#[test]
fn broken_poses_render_as_neutral_and_thread_counts_agree() {
    let mut serial = renderer();
    let neutral = render(&mut serial, &MotionVector::NEUTRAL);
    let mut broken = MotionVector::NEUTRAL;
    broken.0[Channel::JawOpen as usize] = f32::NAN;
    broken.0[Channel::HeadYaw as usize] = f32::INFINITY;
    assert_eq!(render(&mut serial, &broken).rgba, neutral.rgba);
    let busy = pose(&[
        (Channel::JawOpen, 0.5),
        (Channel::HeadYaw, -0.4),
        (Channel::EyeBlinkLeft, 0.6),
    ]);
    let reference = render(&mut serial, &busy);
    for threads in [0, 3] {
        let mut parallel = CpuRenderer::new(avatar(), SIZE_PX, SIZE_PX, threads).unwrap();
        assert!(
            render(&mut parallel, &busy).rgba == reference.rgba,
            "{threads} threads differ"
        );
    }
}

#[test]
fn wide_frames_keep_the_avatar_centred_and_the_shoulders_reach_the_edges() {
    let mut r = CpuRenderer::new(avatar(), 640, 360, 1).unwrap();
    let frame = render(&mut r, &MotionVector::NEUTRAL);
    assert_eq!((frame.width, frame.height), (640, 360));
    let (mx, _, mw, _) = r.mouth_region();
    assert!((mx + mw / 2).abs_diff(320) <= 2, "mouth centred");
    // Bottom corners show the sweater, not the background gradient.
    for x in [1, 638] {
        let p = frame.pixel(x, 358);
        assert!(
            p[2] > p[0] + 30,
            "pixel ({x}, 358) is {p:?}, not the blue sweater"
        );
    }
}

#[test]
fn bad_sizes_are_rejected() {
    for (w, h) in [(0, 64), (64, 0), (9000, 64)] {
        assert!(matches!(
            CpuRenderer::new(avatar(), w, h, 1),
            Err(RenderError::FrameSize { .. })
        ));
    }
}

/// Not a test of speed (tests never assert timings): prints the cost for a manual look.
/// `cargo test --release --lib render::cpu::tests::render_time -- --ignored --nocapture`
#[test]
#[ignore]
fn render_time() {
    for (w, h, threads) in [(512, 512, 1), (512, 512, 0), (1920, 1080, 1), (1920, 1080, 0)] {
        let mut r = CpuRenderer::new(avatar(), w, h, threads).unwrap();
        let mut frame = VideoFrame::blank(w, h);
        let n = 60;
        let start = std::time::Instant::now();
        for k in 0..n {
            let p = pose(&[
                (Channel::JawOpen, (k % 10) as f32 / 10.0),
                (Channel::HeadYaw, 0.3),
            ]);
            r.render(&p, &mut frame).unwrap();
        }
        println!(
            "{w}x{h} threads={threads}: {:.2} ms/frame",
            start.elapsed().as_secs_f64() * 1000.0 / n as f64
        );
    }
}
