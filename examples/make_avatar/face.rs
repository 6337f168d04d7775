//! The face: skin (with its shading, cheeks and the chin that drops with the jaw), ears, nose
//! and brows.

use tiny_skia::Shader;

use crate::Part;
use crate::eyes::{EYE_X, EYE_Y};
use crate::head::Depth;
use crate::mouth::{JAW_DROP, MOUTH_Y};
use crate::paint::{Cubic, Pen, Sheet, linear, px, radial, rgb, rgba, to_face};

pub const CHIN_Y: f32 = 0.47;
const NOSE_Y: f32 = 0.13;

pub const SKIN_LIGHT: (u8, u8, u8) = (250, 216, 192);
pub const SKIN_SHADE: (u8, u8, u8) = (206, 150, 124);

/// The face outline (hairline to chin); `chin_drop` lowers the chin.
pub fn face_outline(face: &mut Pen, chin_drop: f32) {
    let chin = CHIN_Y + chin_drop;
    let (jaw_y, jaw_curve_y) = (0.23, 0.36 + 0.5 * chin_drop);
    face.move_to(0.0, -0.50);
    face.cubic_to(0.20, -0.50, 0.33, -0.37, 0.335, -0.12);
    face.cubic_to(0.34, 0.03, 0.322, 0.14, 0.285, jaw_y);
    face.cubic_to(0.235, jaw_curve_y, 0.11, chin, 0.0, chin);
    face.cubic_to(-0.11, chin, -0.235, jaw_curve_y, -0.285, jaw_y);
    face.cubic_to(-0.322, 0.14, -0.34, 0.03, -0.335, -0.12);
    face.cubic_to(-0.33, -0.37, -0.20, -0.50, 0.0, -0.50);
    face.close();
}

fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Skin displacement (face units) at full `jawOpen`: the chin and everything below the lips
/// drops; the jaw's corners, near the hinge, hardly move.
pub fn jaw_field(x: f32, y: f32) -> (f32, f32) {
    let below_mouth = smoothstep((y - (MOUTH_Y - 0.005)) / 0.07);
    let towards_chin = 1.0 - 0.15 * smoothstep((y - 0.36) / 0.11);
    let centre = 1.0 - smoothstep((x.abs() - 0.07) / 0.24);
    (0.0, JAW_DROP * below_mouth * towards_chin * centre)
}

/// Skin displacement at full `mouthSmile`: cheeks lift, the skin at the mouth corners follows
/// the corners up and out.
pub fn smile_field(x: f32, y: f32) -> (f32, f32) {
    let bump = |cx: f32, cy: f32, r: f32| {
        let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() / r;
        let f = (1.0 - d * d).max(0.0);
        f * f
    };
    let side = x.signum();
    let cheek = bump(side * 0.19, 0.12, 0.13);
    let corner = bump(side * 0.11, MOUTH_Y, 0.075);
    (side * 0.012 * corner, -0.018 * cheek - 0.032 * corner)
}

pub fn skin() -> Part {
    let mut sheet = Sheet::new();
    let mut face = Pen::new(0.0, 0.0);
    face_outline(&mut face, 0.0);
    let face = face.finish();
    let at = Pen::new(0.0, 0.0);
    // Lit from the upper left: a broad plateau of light skin, shading towards the rim.
    sheet.fill(
        face.clone(),
        radial(
            at.at(-0.07, -0.08),
            px(0.60),
            px(0.68),
            &[
                (0.0, rgb(SKIN_LIGHT.0, SKIN_LIGHT.1, SKIN_LIGHT.2)),
                (0.45, rgb(246, 208, 182)),
                (1.0, rgb(SKIN_SHADE.0, SKIN_SHADE.1, SKIN_SHADE.2)),
            ],
        ),
    );
    let inside = sheet.mask_of(&face);
    let soft = |sheet: &mut Sheet, cx: f32, cy: f32, rx: f32, ry: f32, colour: (u8, u8, u8), alpha: u8| {
        let mut e = Pen::new(0.0, 0.0);
        e.ellipse(cx, cy, rx, ry);
        sheet.fill_masked(
            e.finish(),
            radial(
                at.at(cx, cy),
                px(rx),
                px(ry),
                &[
                    (0.0, rgba(colour.0, colour.1, colour.2, alpha)),
                    (1.0, rgba(colour.0, colour.1, colour.2, 0)),
                ],
            ),
            &inside,
        );
    };
    // The shadow side (image right) and under the cheekbones.
    soft(&mut sheet, 0.33, 0.05, 0.16, 0.40, (170, 100, 80), 60);
    for flip in [-1.0f32, 1.0] {
        soft(&mut sheet, flip * 0.19, 0.12, 0.095, 0.07, (236, 126, 118), 62);
        soft(&mut sheet, flip * 0.25, 0.27, 0.08, 0.10, (180, 110, 90), 30);
        // Eye sockets: a soft darker halo that gives the eyes depth.
        soft(
            &mut sheet,
            flip * EYE_X,
            EYE_Y - 0.012,
            0.105,
            0.072,
            (176, 108, 92),
            62,
        );
        // Lower lid rim.
        let mut rim = Pen::new(flip * EYE_X, EYE_Y).flipped(flip);
        rim.ribbon(
            &Cubic([(-0.066, 0.007), (-0.028, 0.029), (0.034, 0.025), (0.070, -0.003)]),
            [0.002, 0.005, 0.003],
        );
        sheet.fill_masked(rim.finish(), Shader::SolidColor(rgba(160, 96, 84, 110)), &inside);
        // Lid crease highlight under the brow.
        soft(
            &mut sheet,
            flip * (EYE_X + 0.01),
            EYE_Y - 0.06,
            0.07,
            0.02,
            (255, 236, 220),
            50,
        );
    }
    // Forehead and nose-bridge light, chin light, the hollow under the lower lip.
    soft(&mut sheet, -0.05, -0.30, 0.20, 0.10, (255, 238, 224), 60);
    soft(&mut sheet, 0.0, CHIN_Y - 0.06, 0.08, 0.04, (255, 232, 214), 45);
    soft(&mut sheet, 0.0, MOUTH_Y + 0.075, 0.075, 0.022, (176, 110, 90), 70);
    // Philtrum: two faint ridges above the upper lip.
    for flip in [-1.0f32, 1.0] {
        let mut ridge = Pen::new(0.0, 0.0).flipped(flip);
        ridge.ribbon(
            &Cubic([
                (0.013, NOSE_Y + 0.075),
                (0.016, NOSE_Y + 0.095),
                (0.020, MOUTH_Y - 0.05),
                (0.023, MOUTH_Y - 0.036),
            ]),
            [0.003, 0.008, 0.006],
        );
        sheet.fill_masked(
            ridge.finish(),
            Shader::SolidColor(rgba(200, 140, 116, 16)),
            &inside,
        );
    }
    // A thin darker rim where the face meets the hair and the neck.
    sheet.fill_masked(
        face.clone(),
        linear(
            at.at(0.0, 0.30),
            at.at(0.0, CHIN_Y),
            &[(0.0, rgba(150, 90, 70, 0)), (1.0, rgba(150, 90, 70, 40))],
        ),
        &inside,
    );
    crate::eyes::paint_flicks(&mut sheet);
    // A fine grid: near the silhouette a head turn shears the skin strongly.
    Part::rigid("face", "head", None, sheet, 12, |mesh| {
        mesh.add_turns(|_| Depth::Surface(0.0));
        mesh.add_field("jawOpen", |p| face_offset(p, jaw_field));
        mesh.add_field("mouthSmile", |p| face_offset(p, smile_field));
    })
}

/// A face-unit field as a canvas-pixel offset at canvas point `p`.
pub fn face_offset(p: [f32; 2], field: impl Fn(f32, f32) -> (f32, f32)) -> [f32; 2] {
    let (x, y) = to_face(p[0], p[1]);
    let (dx, dy) = field(x, y);
    [px(dx), px(dy)]
}

pub fn ears() -> Part {
    let mut sheet = Sheet::new();
    for flip in [-1.0f32, 1.0] {
        let pen = || Pen::new(flip * 0.335, 0.03).flipped(flip);
        let mut ear = pen();
        ear.move_to(-0.02, -0.08);
        ear.cubic_to(0.03, -0.105, 0.068, -0.062, 0.058, 0.0);
        ear.cubic_to(0.052, 0.052, 0.032, 0.088, 0.0, 0.094);
        // The inner side hides behind the face, far enough in that a head turn never shows it.
        ear.cubic_to(-0.04, 0.10, -0.075, 0.06, -0.075, 0.0);
        ear.cubic_to(-0.075, -0.05, -0.05, -0.075, -0.02, -0.08);
        ear.close();
        sheet.fill(
            ear.finish(),
            linear(
                pen().at(-0.02, 0.0),
                pen().at(0.06, 0.0),
                &[(0.0, rgb(196, 138, 112)), (1.0, rgb(232, 180, 152))],
            ),
        );
        let mut fold = pen();
        fold.ribbon(
            &Cubic([(0.006, -0.058), (0.046, -0.062), (0.046, 0.02), (0.012, 0.052)]),
            [0.003, 0.009, 0.003],
        );
        sheet.fill(fold.finish(), Shader::SolidColor(rgba(168, 104, 86, 150)));
    }
    Part::rigid("ears", "head", None, sheet, 16, |mesh| {
        mesh.add_turns(|_| Depth::Fixed(-0.10));
    })
}

pub fn nose() -> Part {
    let mut sheet = Sheet::new();
    let pen = || Pen::new(0.0, NOSE_Y);
    // Bridge: a soft shadow on the side away from the light (upper left).
    let mut bridge = pen();
    bridge.ribbon(
        &Cubic([(0.024, -0.15), (0.033, -0.09), (0.036, -0.04), (0.044, -0.01)]),
        [0.006, 0.018, 0.012],
    );
    sheet.fill(bridge.finish(), Shader::SolidColor(rgba(186, 122, 98, 50)));
    let mut light = pen();
    light.ribbon(
        &Cubic([(-0.008, -0.15), (-0.010, -0.10), (-0.010, -0.06), (-0.006, -0.03)]),
        [0.004, 0.012, 0.008],
    );
    sheet.fill(light.finish(), Shader::SolidColor(rgba(255, 238, 222, 45)));
    // Tip highlight.
    let mut tip = pen();
    tip.ellipse(-0.004, -0.012, 0.027, 0.023);
    sheet.fill(
        tip.finish(),
        radial(
            pen().at(-0.004, -0.012),
            px(0.027),
            px(0.023),
            &[(0.0, rgba(255, 234, 218, 120)), (1.0, rgba(255, 234, 218, 0))],
        ),
    );
    for flip in [-1.0f32, 1.0] {
        let mut wing = pen().flipped(flip);
        wing.ribbon(
            &Cubic([(0.028, -0.03), (0.058, -0.02), (0.060, 0.012), (0.036, 0.018)]),
            [0.002, 0.008, 0.003],
        );
        sheet.fill(wing.finish(), Shader::SolidColor(rgba(172, 104, 86, 150)));
        let mut nostril = pen().flipped(flip);
        nostril.ellipse(0.019, 0.017, 0.011, 0.0055);
        sheet.fill(nostril.finish(), Shader::SolidColor(rgba(116, 60, 50, 190)));
    }
    let mut under = pen();
    under.ribbon(
        &Cubic([(-0.026, 0.014), (-0.01, 0.027), (0.01, 0.027), (0.026, 0.014)]),
        [0.001, 0.006, 0.001],
    );
    sheet.fill(under.finish(), Shader::SolidColor(rgba(158, 94, 78, 110)));
    let mut cast = pen();
    cast.ellipse(0.0, 0.036, 0.035, 0.010);
    sheet.fill(
        cast.finish(),
        radial(
            pen().at(0.0, 0.036),
            px(0.035),
            px(0.010),
            &[(0.0, rgba(170, 104, 86, 60)), (1.0, rgba(170, 104, 86, 0))],
        ),
    );
    Part::rigid("nose", "head", None, sheet, 12, |mesh| {
        mesh.add_turns(|p| {
            let (_, y) = to_face(p[0], p[1]);
            // The tip stands out furthest; the bridge rises from the face.
            let rise = smoothstep((y - (NOSE_Y - 0.16)) / 0.14);
            Depth::Surface(0.01 + 0.05 * rise)
        });
    })
}

const BROW_Y: f32 = -0.105;
const BROW_RAISE_INNER: f32 = 0.040;
const BROW_RAISE_OUTER: f32 = 0.012;

pub fn brows() -> Part {
    let mut sheet = Sheet::new();
    for flip in [-1.0f32, 1.0] {
        let spine = Cubic([(-0.075, 0.012), (-0.03, -0.020), (0.040, -0.026), (0.095, 0.010)]);
        let mut brow = Pen::new(flip * EYE_X, BROW_Y).flipped(flip);
        brow.ribbon(&spine, [0.024, 0.022, 0.006]);
        let brow = brow.finish();
        let p = Pen::new(flip * EYE_X, BROW_Y).flipped(flip);
        sheet.fill(
            brow.clone(),
            linear(
                p.at(-0.075, 0.0),
                p.at(0.095, 0.0),
                &[
                    (0.0, rgba(70, 46, 36, 220)),
                    (0.4, rgb(58, 38, 30)),
                    (1.0, rgba(58, 38, 30, 230)),
                ],
            ),
        );
        // Hair-like texture: fine lighter strokes along the brow.
        let inside = sheet.mask_of(&brow);
        for i in 0..9 {
            let f = i as f32 / 8.0;
            let x = -0.07 + 0.16 * f;
            let mut hair = Pen::new(flip * EYE_X, BROW_Y).flipped(flip);
            hair.ribbon(
                &Cubic([
                    (x, 0.010),
                    (x + 0.008, 0.0),
                    (x + 0.016, -0.010),
                    (x + 0.026, -0.018),
                ]),
                [0.001, 0.003, 0.001],
            );
            sheet.fill_masked(hair.finish(), Shader::SolidColor(rgba(110, 78, 60, 90)), &inside);
        }
    }
    Part::rigid("brows", "head", None, sheet, 12, |mesh| {
        mesh.add_turns(|_| Depth::Surface(0.01));
        mesh.add_field("browInnerUp", |p| {
            face_offset(p, |x, _| {
                let along = ((x.abs() - (EYE_X - 0.075)) / 0.17).clamp(0.0, 1.0);
                (
                    0.0,
                    -(BROW_RAISE_INNER + (BROW_RAISE_OUTER - BROW_RAISE_INNER) * along),
                )
            })
        });
    })
}
