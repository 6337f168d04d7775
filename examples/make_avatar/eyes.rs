//! Eyes: almond openings whose upper lids close onto the lower lids, irises that follow the gaze
//! (clipped by the openings), the lid's shadow on the eyeball, and the lids with their lashes.
//!
//! Designed for the image-right eye in a local frame (x away from the nose) and mirrored. The
//! image-right eye is the avatar's left (`eyeBlinkLeft`).

use persona::motion::{Channel, MotionVector};
use tiny_skia::Shader;

use crate::Part;
use crate::head::{Depth, IMAGE_X_PER_AVATAR_RIGHT, pose};
use crate::mesh::{MeshOut, Patch, single};
use crate::paint::{Cubic, Pen, Sheet, linear, px, radial, rgb, rgba, to_canvas};

pub const EYE_X: f32 = 0.13;
pub const EYE_Y: f32 = -0.015;
const EYE_DZ: f32 = -0.01;
const EYE_INNER: (f32, f32) = (-0.066, 0.004);
const EYE_OUTER: (f32, f32) = (0.070, -0.006);
const UPPER: Cubic = Cubic([EYE_INNER, (-0.036, -0.046), (0.036, -0.050), EYE_OUTER]);
const LOWER: Cubic = Cubic([EYE_INNER, (-0.028, 0.026), (0.034, 0.022), EYE_OUTER]);
const LID_FOLD: f32 = 0.013;
const IRIS_RADIUS: f32 = 0.033;
const PUPIL_RADIUS: f32 = 0.013;
/// Iris travel at full gaze (face units).
const GAZE_X: f32 = 0.030;
const GAZE_Y: f32 = 0.014;
const IRIS_Y: f32 = -0.004;

/// The two eyes as (image side sign, blink channel).
const SIDES: [(f32, Channel); 2] = [(-1.0, Channel::EyeBlinkRight), (1.0, Channel::EyeBlinkLeft)];

/// How far eye `blink` (side's channel) is shut for `pose`: blinks, lids that follow the gaze
/// down, widen with raised brows and squint a little with a smile.
fn shut(pose: &MotionVector, blink: Channel) -> f32 {
    let b = pose.get(blink);
    let look_y = pose.get(Channel::EyeLookY);
    let drift = 0.25 * (-look_y).max(0.0) - 0.10 * look_y.max(0.0) - 0.08 * pose.get(Channel::BrowInnerUp)
        + 0.12 * pose.get(Channel::MouthSmile);
    b + (1.0 - b) * drift
}

fn upper(pose: &MotionVector, blink: Channel) -> Cubic {
    UPPER.lerp(&LOWER, shut(pose, blink))
}

/// Eye-local point → face units for side `flip`.
fn place(flip: f32, (x, y): (f32, f32)) -> (f32, f32) {
    (flip * EYE_X + flip * x, EYE_Y + y)
}

/// Targets every eye patch has: its own blink and the channels that move the lids.
fn lid_targets(blink: Channel) -> Vec<(&'static str, Vec<(MotionVector, f32)>)> {
    vec![
        (blink.name(), single(pose(&[(blink, 1.0)]))),
        ("eyeLookY-", single(pose(&[(Channel::EyeLookY, -1.0)]))),
        ("eyeLookY+", single(pose(&[(Channel::EyeLookY, 1.0)]))),
        ("browInnerUp", single(pose(&[(Channel::BrowInnerUp, 1.0)]))),
        ("mouthSmile", single(pose(&[(Channel::MouthSmile, 1.0)]))),
    ]
}

fn opening_path(flip: f32, top: &Cubic, bottom: &Cubic) -> Option<tiny_skia::Path> {
    let mut pen = Pen::new(flip * EYE_X, EYE_Y).flipped(flip);
    pen.move_to(EYE_INNER.0, EYE_INNER.1);
    let c = top.0;
    pen.cubic_to(c[1].0, c[1].1, c[2].0, c[2].1, c[3].0, c[3].1);
    let c = bottom.0;
    pen.cubic_to(c[2].0, c[2].1, c[1].0, c[1].1, c[0].0, c[0].1);
    pen.close();
    pen.finish()
}

pub fn whites() -> Part {
    let mut sheet = Sheet::new();
    let mut mesh: Option<MeshOut> = None;
    for (flip, blink) in SIDES {
        let centre = Pen::new(flip * EYE_X, EYE_Y).at(0.0, -0.005);
        sheet.fill(
            opening_path(flip, &UPPER, &LOWER),
            radial(
                centre,
                px(0.078),
                px(0.05),
                &[
                    (0.0, rgb(250, 248, 246)),
                    (0.55, rgb(240, 235, 233)),
                    (1.0, rgb(214, 190, 186)),
                ],
            ),
        );
        let point = move |pose: &MotionVector, s: f32, t: f32| {
            let top = upper(pose, blink).at(s);
            let bottom = LOWER.at(s);
            place(
                flip,
                (top.0 + (bottom.0 - top.0) * t, top.1 + (bottom.1 - top.1) * t),
            )
        };
        let part = Patch {
            cols: 16,
            rows: &[-0.35, 0.0, 0.25, 0.5, 0.75, 1.0, 1.35],
            point: &point,
            texture_pose: MotionVector::NEUTRAL,
            depth: Depth::Surface(EYE_DZ),
        }
        .mesh(&lid_targets(blink));
        match &mut mesh {
            None => mesh = Some(part),
            Some(m) => m.append(part),
        }
    }
    Part::shaped("eye_whites", "head", None, sheet, mesh.expect("two eyes"))
}

pub fn irises() -> Part {
    let mut sheet = Sheet::new();
    for (flip, _) in SIDES {
        let (cx, cy) = (flip * EYE_X, EYE_Y + IRIS_Y);
        let pen = || Pen::new(cx, cy);
        let mut iris = pen();
        iris.ellipse(0.0, 0.0, IRIS_RADIUS, IRIS_RADIUS);
        let iris = iris.finish();
        sheet.fill(
            iris.clone(),
            radial(
                pen().at(0.0, 0.0),
                px(IRIS_RADIUS),
                px(IRIS_RADIUS),
                &[
                    (0.0, rgb(70, 88, 72)),
                    (0.35, rgb(104, 132, 108)),
                    (0.75, rgb(78, 104, 92)),
                    (0.92, rgb(52, 70, 64)),
                    (1.0, rgb(34, 44, 42)),
                ],
            ),
        );
        let inside = sheet.mask_of(&iris);
        // Radial fibres.
        for k in 0..28 {
            let a = k as f32 / 28.0 * std::f32::consts::TAU;
            let (s, c) = a.sin_cos();
            let mut fibre = pen();
            let (r0, r1) = (PUPIL_RADIUS * 1.1, IRIS_RADIUS * 0.9);
            fibre.ribbon(
                &Cubic([
                    (c * r0, s * r0),
                    (c * r0 * 1.5, s * r0 * 1.5),
                    (c * r1 * 0.8, s * r1 * 0.8),
                    (c * r1, s * r1),
                ]),
                [0.0015, 0.003, 0.001],
            );
            let colour = if k % 2 == 0 {
                rgba(150, 176, 140, 70)
            } else {
                rgba(40, 56, 48, 60)
            };
            sheet.fill_masked(fibre.finish(), Shader::SolidColor(colour), &inside);
        }
        let mut pupil = pen();
        pupil.ellipse(0.0, 0.0, PUPIL_RADIUS, PUPIL_RADIUS);
        sheet.fill(pupil.finish(), Shader::SolidColor(rgb(12, 12, 16)));
        let mut glint = pen();
        glint.ellipse(-0.011, -0.012, 0.0068, 0.0068);
        sheet.fill(glint.finish(), Shader::SolidColor(rgba(255, 255, 255, 230)));
        let mut glint2 = pen();
        glint2.ellipse(0.010, 0.011, 0.003, 0.003);
        sheet.fill(glint2.finish(), Shader::SolidColor(rgba(255, 255, 255, 120)));
    }
    Part::rigid("irises", "head", Some("eye_whites"), sheet, 10, |mesh| {
        mesh.add_turns(|_| Depth::Surface(EYE_DZ + 0.006));
        // +eyeLookX looks to the avatar's right: image left.
        mesh.add_field("eyeLookX", |_| [px(GAZE_X * IMAGE_X_PER_AVATAR_RIGHT), 0.0]);
        mesh.add_field("eyeLookY", |_| [0.0, px(-GAZE_Y)]);
    })
}

/// The upper lid's shadow on the eyeball, moving with the lid, clipped by the opening.
pub fn lid_shadow() -> Part {
    const DEPTH: f32 = 0.032;
    let mut sheet = Sheet::new();
    let mut mesh: Option<MeshOut> = None;
    for (flip, blink) in SIDES {
        let point = move |pose: &MotionVector, s: f32, t: f32| {
            let top = upper(pose, blink).at(s);
            place(flip, (top.0, top.1 + DEPTH * t))
        };
        // Painted as a band below the rest lid line, dark at the lid.
        let mut band = Pen::new(0.0, 0.0);
        let n = 32;
        let pts: Vec<(f32, f32)> = (0..=n)
            .map(|i| point(&MotionVector::NEUTRAL, i as f32 / n as f32, -0.2))
            .chain(
                (0..=n)
                    .rev()
                    .map(|i| point(&MotionVector::NEUTRAL, i as f32 / n as f32, 1.0)),
            )
            .collect();
        band.polygon(&pts);
        let top = Pen::new(flip * EYE_X, EYE_Y).flipped(flip);
        let (_, lid_mid) = UPPER.at(0.5);
        sheet.fill(
            band.finish(),
            linear(
                top.at(0.0, lid_mid),
                top.at(0.0, lid_mid + DEPTH),
                &[
                    (0.0, rgba(96, 60, 54, 150)),
                    (0.5, rgba(96, 60, 54, 50)),
                    (1.0, rgba(96, 60, 54, 0)),
                ],
            ),
        );
        let part = Patch {
            cols: 16,
            rows: &[-0.4, 0.0, 0.5, 1.0, 1.3],
            point: &point,
            texture_pose: MotionVector::NEUTRAL,
            depth: Depth::Surface(EYE_DZ),
        }
        .mesh(&lid_targets(blink));
        match &mut mesh {
            None => mesh = Some(part),
            Some(m) => m.append(part),
        }
    }
    Part::shaped(
        "lid_shadow",
        "head",
        Some("eye_whites"),
        sheet,
        mesh.expect("two eyes"),
    )
}

/// Row `r` of the lid: 0 and 1 stay at the fold (margin, fold); 2..=5 ride with the lid line
/// (above the lashes, the lid line, the lashes, the margin below them).
fn lid_row(pose: &MotionVector, blink: Channel, s: f32, r: f32) -> (f32, f32) {
    let fold = UPPER.offset(0.0, -LID_FOLD).at(s);
    let lid = upper(pose, blink).at(s);
    match r as i32 {
        0 => (fold.0, fold.1 - 0.014),
        1 => fold,
        2 => (lid.0, lid.1 - 0.008),
        3 => lid,
        4 => (lid.0, lid.1 + 0.007),
        _ => (lid.0, lid.1 + 0.016),
    }
}

pub fn lids() -> Part {
    let mut sheet = Sheet::new();
    let mut mesh: Option<MeshOut> = None;
    for (flip, blink) in SIDES {
        let pen = || Pen::new(flip * EYE_X, EYE_Y).flipped(flip);
        let fold = UPPER.offset(0.0, -LID_FOLD);
        // Lid skin from the fold down to the lid line.
        let mut lid = pen();
        lid.move_to(EYE_INNER.0, EYE_INNER.1 - LID_FOLD);
        let c = fold.0;
        lid.cubic_to(c[1].0, c[1].1, c[2].0, c[2].1, c[3].0, c[3].1);
        lid.line_to(EYE_OUTER.0, EYE_OUTER.1);
        let c = UPPER.0;
        lid.cubic_to(c[2].0, c[2].1, c[1].0, c[1].1, c[0].0, c[0].1);
        lid.close();
        let (_, fold_top) = fold.at(0.5);
        let (_, lid_line) = UPPER.at(0.5);
        sheet.fill(
            lid.finish(),
            linear(
                pen().at(0.0, fold_top),
                pen().at(0.0, lid_line),
                &[
                    (0.0, rgb(240, 200, 176)),
                    (0.6, rgb(234, 188, 164)),
                    (1.0, rgb(222, 170, 148)),
                ],
            ),
        );
        // Crease above the lid.
        let mut crease = pen();
        crease.ribbon(&fold.offset(0.004, -0.005), [0.001, 0.005, 0.002]);
        sheet.fill(crease.finish(), Shader::SolidColor(rgba(146, 90, 76, 120)));
        // Lash line along the lid edge, heavier towards the outer corner.
        let mut lash = pen();
        lash.ribbon(&UPPER, [0.004, 0.009, 0.011]);
        sheet.fill(lash.finish(), Shader::SolidColor(rgb(38, 24, 22)));
        let point = move |pose: &MotionVector, s: f32, r: f32| place(flip, lid_row(pose, blink, s, r));
        let part = Patch {
            cols: 16,
            rows: &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            point: &point,
            texture_pose: MotionVector::NEUTRAL,
            depth: Depth::Surface(EYE_DZ + 0.004),
        }
        .mesh(&lid_targets(blink));
        match &mut mesh {
            None => mesh = Some(part),
            Some(m) => m.append(part),
        }
    }
    Part::shaped("eyelids", "head", None, sheet, mesh.expect("two eyes"))
}

/// The lash flick past the outer corner; it does not move with the lid (the corner does not), so
/// it is painted on the face.
pub fn paint_flicks(sheet: &mut Sheet) {
    for (flip, _) in SIDES {
        let mut flick = Pen::new(flip * EYE_X, EYE_Y).flipped(flip);
        let (ox, oy) = EYE_OUTER;
        flick.move_to(ox - 0.014, oy - 0.006);
        flick.quad_to(ox + 0.006, oy - 0.004, ox + 0.016, oy - 0.016);
        flick.quad_to(ox + 0.004, oy + 0.002, ox - 0.010, oy + 0.003);
        flick.close();
        sheet.fill(flick.finish(), Shader::SolidColor(rgb(38, 24, 22)));
    }
}

/// Canvas rectangles of the eye openings at rest: the avatar's right (image left) first.
pub fn regions() -> [[f32; 4]; 2] {
    SIDES.map(|(flip, _)| {
        let pts: Vec<(f32, f32)> = (0..=32)
            .flat_map(|i| {
                let s = i as f32 / 32.0;
                [UPPER.at(s), LOWER.at(s)]
            })
            .map(|p| {
                let (x, y) = place(flip, p);
                to_canvas(x, y)
            })
            .collect();
        bounds(&pts)
    })
}

pub fn bounds(pts: &[(f32, f32)]) -> [f32; 4] {
    let x0 = pts.iter().map(|p| p.0).fold(f32::MAX, f32::min).floor();
    let y0 = pts.iter().map(|p| p.1).fold(f32::MAX, f32::min).floor();
    let x1 = pts.iter().map(|p| p.0).fold(f32::MIN, f32::max).ceil();
    let y1 = pts.iter().map(|p| p.1).fold(f32::MIN, f32::max).ceil();
    [x0, y0, x1 - x0, y1 - y0]
}
