//! The mouth: lips shaped by the jaw and mouth channels; the interior (a dark cavity that exists
//! only while the lips are apart) with upper teeth that stay with the skull, lower teeth and a
//! tongue that ride the jaw, all clipped by the cavity.
//!
//! `mouthPress` and `mouthClose` each take back half of what the jaw opens between the lips (two
//! corrective targets), so together — the rules backend's /p b m/ — the lips meet whatever the
//! jaw does.

use persona::motion::{Channel, MotionVector};
use tiny_skia::Shader;

use crate::Part;
use crate::eyes::bounds;
use crate::head::{Depth, pose};
use crate::mesh::{Patch, corrective, single};
use crate::paint::{Cubic, Pen, Sheet, linear, px, radial, rgb, rgba, to_canvas};

pub const MOUTH_Y: f32 = 0.275;
/// Lower-lip travel at full `jawOpen` (face units).
pub const JAW_DROP: f32 = 0.085;
const HALF_WIDTH: f32 = 0.105;
const UPPER_LIP: f32 = 0.030;
const LOWER_LIP: f32 = 0.034;
/// `mouthPress`/`mouthClose` from which the lips are sealed.
const SEALED_FROM: f32 = 0.9;
const DEPTH: Depth = Depth::Surface(0.03);

/// The lips for one pose, in mouth-local face units (origin at the rest lip line's centre).
struct Shape {
    half_width: f32,
    inner_half_width: f32,
    corner_y: f32,
    upper_outer: f32,
    peak_x: f32,
    philtrum_dip: f32,
    upper_inner: f32,
    lower_inner: f32,
    lower_outer: f32,
    roundness: f32,
}

impl Shape {
    fn new(p: &MotionVector) -> Shape {
        let get = |c: Channel| p.get(c);
        let (jaw, funnel, pucker) = (
            get(Channel::JawOpen),
            get(Channel::MouthFunnel),
            get(Channel::MouthPucker),
        );
        let (stretch, press, close) = (
            get(Channel::MouthStretch),
            get(Channel::MouthPress),
            get(Channel::MouthClose),
        );
        let (upper_up, lower_down, smile) = (
            get(Channel::MouthUpperUp),
            get(Channel::MouthLowerDown),
            get(Channel::MouthSmile),
        );
        let seal = press.max(close);
        let t = ((SEALED_FROM - seal) / SEALED_FROM).clamp(0.0, 1.0);
        let open_scale = t * t * (3.0 - 2.0 * t);
        let roundness = (funnel + pucker).min(1.0);
        let half_width = HALF_WIDTH
            * (1.0 + 0.22 * stretch + 0.14 * smile)
            * (1.0 - 0.30 * pucker - 0.20 * funnel).max(0.45)
            * (1.0 - 0.06 * jaw);
        let jaw_drop = JAW_DROP * jaw;
        let open_upper = (0.006 * jaw + 0.020 * upper_up + 0.008 * funnel) * open_scale;
        let open_lower = (jaw_drop + 0.024 * lower_down + 0.014 * funnel) * open_scale;
        // Sealed lips stretch to meet while the jaw still opens behind them.
        let sealed_drop = jaw_drop * (1.0 - open_scale);
        let line_y = 0.45 * sealed_drop;
        let thin =
            (1.0 - 0.45 * press) * (1.0 - 0.12 * smile) * (1.0 - 0.15 * stretch) * (1.0 + 0.35 * roundness);
        let upper_inner = line_y - open_upper;
        let lower_inner = line_y + open_lower;
        let corner_y =
            -0.004 - 0.04 * smile + 0.006 * stretch + upper_inner + 0.32 * (lower_inner - upper_inner);
        Shape {
            half_width,
            inner_half_width: half_width * (1.0 - 0.28 * roundness),
            corner_y,
            upper_outer: -UPPER_LIP * thin - 0.6 * open_upper,
            peak_x: 0.26 * half_width,
            philtrum_dip: 0.006 * (1.0 - roundness),
            upper_inner,
            lower_inner,
            lower_outer: line_y + open_lower + LOWER_LIP * thin + 0.55 * sealed_drop,
            roundness,
        }
    }

    fn control_y(&self, mid: f32) -> f32 {
        (4.0 * mid - self.corner_y) / 3.0
    }

    fn inner(&self, mid: f32) -> Cubic {
        let (w, a) = (self.inner_half_width, 0.55 + 0.4 * self.roundness);
        let k = self.control_y(mid);
        Cubic([(-w, self.corner_y), (-a * w, k), (a * w, k), (w, self.corner_y)])
    }

    /// Upper lip's inner edge at s (0 left corner .. 1 right corner).
    fn upper_inner(&self, s: f32) -> (f32, f32) {
        self.inner(self.upper_inner).at(s)
    }

    fn lower_inner(&self, s: f32) -> (f32, f32) {
        self.inner(self.lower_inner).at(s)
    }

    fn lower_outer(&self, s: f32) -> (f32, f32) {
        let (w, cy) = (self.half_width, self.corner_y);
        let b = 0.6 + 0.25 * self.roundness;
        let k = self.control_y(self.lower_outer);
        Cubic([(-w, cy), (-b * w, k), (b * w, k), (w, cy)]).at(s)
    }

    /// The upper lip's outer edge: corner, Cupid's-bow peak, the dip, peak, corner.
    fn upper_outer(&self, s: f32) -> (f32, f32) {
        let (w, cy, uo, px) = (self.half_width, self.corner_y, self.upper_outer, self.peak_x);
        let rise = cy + (uo - cy) * 0.3;
        let side = Cubic([
            (-w, cy),
            (-w + 0.35 * (w - px), rise),
            (-px - 0.2 * (w - px), uo),
            (-px, uo),
        ]);
        let dip = uo + self.philtrum_dip;
        let quad = |a: (f32, f32), c: (f32, f32), b: (f32, f32), t: f32| {
            let u = 1.0 - t;
            (
                u * u * a.0 + 2.0 * u * t * c.0 + t * t * b.0,
                u * u * a.1 + 2.0 * u * t * c.1 + t * t * b.1,
            )
        };
        let edge = (w - px) / (2.0 * w);
        let mirror = |(x, y): (f32, f32)| (-x, y);
        if s < edge {
            side.at(s / edge)
        } else if s < 0.5 {
            quad((-px, uo), (-0.45 * px, uo), (0.0, dip), (s - edge) / (0.5 - edge))
        } else if s < 1.0 - edge {
            mirror(quad(
                (-px, uo),
                (-0.45 * px, uo),
                (0.0, dip),
                (1.0 - edge - s) / (0.5 - edge),
            ))
        } else {
            mirror(side.at((1.0 - s) / edge))
        }
    }
}

fn at_mouth((x, y): (f32, f32)) -> (f32, f32) {
    (x, MOUTH_Y + y)
}

fn lerp(a: (f32, f32), b: (f32, f32), t: f32) -> (f32, f32) {
    (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
}

/// The pose the lips and the cavity are painted in: open, so both lips' inner edges and the
/// cavity have real, anti-aliased edges in the images.
fn texture_pose() -> MotionVector {
    pose(&[
        (Channel::JawOpen, 0.55),
        (Channel::MouthLowerDown, 0.3),
        (Channel::MouthUpperUp, 0.2),
    ])
}

fn mouth_targets() -> Vec<(&'static str, Vec<(MotionVector, f32)>)> {
    let one = |c: Channel| pose(&[(c, 1.0)]);
    let mut targets: Vec<(&'static str, Vec<(MotionVector, f32)>)> = [
        Channel::JawOpen,
        Channel::MouthFunnel,
        Channel::MouthPucker,
        Channel::MouthStretch,
        Channel::MouthPress,
        Channel::MouthClose,
        Channel::MouthUpperUp,
        Channel::MouthLowerDown,
        Channel::MouthSmile,
    ]
    .into_iter()
    .map(|c| (c.name(), single(one(c))))
    .collect();
    targets.push((
        "jawOpen*mouthClose",
        corrective(one(Channel::JawOpen), one(Channel::MouthClose), 0.5),
    ));
    targets.push((
        "jawOpen*mouthPress",
        corrective(one(Channel::JawOpen), one(Channel::MouthPress), 0.5),
    ));
    targets
}

fn polygon(sheet_points: impl Iterator<Item = (f32, f32)>) -> Option<tiny_skia::Path> {
    let pts: Vec<(f32, f32)> = sheet_points.collect();
    let mut pen = Pen::new(0.0, 0.0);
    pen.polygon(&pts);
    pen.finish()
}

const SAMPLES: usize = 48;

fn samples() -> impl DoubleEndedIterator<Item = f32> + Clone {
    (0..=SAMPLES).map(|i| i as f32 / SAMPLES as f32)
}

pub fn lips() -> Part {
    let tp = texture_pose();
    let shape = Shape::new(&tp);
    let mut sheet = Sheet::new();
    let upper = polygon(
        samples()
            .map(|s| at_mouth(shape.upper_outer(s)))
            .chain(samples().rev().map(|s| at_mouth(shape.upper_inner(s)))),
    );
    let lower = polygon(
        samples()
            .map(|s| at_mouth(shape.lower_inner(s)))
            .chain(samples().rev().map(|s| at_mouth(shape.lower_outer(s)))),
    );
    let pen = Pen::new(0.0, MOUTH_Y);
    sheet.fill(
        upper.clone(),
        linear(
            pen.at(0.0, shape.upper_outer),
            pen.at(0.0, shape.upper_inner),
            &[
                (0.0, rgb(184, 96, 96)),
                (0.6, rgb(168, 84, 86)),
                (1.0, rgb(150, 72, 76)),
            ],
        ),
    );
    sheet.fill(
        lower.clone(),
        linear(
            pen.at(0.0, shape.lower_inner),
            pen.at(0.0, shape.lower_outer),
            &[
                (0.0, rgb(170, 86, 90)),
                (0.45, rgb(210, 124, 122)),
                (1.0, rgb(184, 100, 98)),
            ],
        ),
    );
    // A highlight on the lower lip and the dark line inside the upper lip (when closed, the line
    // where the lips meet; kept well above the interior's darkness so a closed mouth never reads
    // as open).
    let lower_mask = sheet.mask_of(&lower);
    let mid_lower = 0.5 * (shape.lower_inner + shape.lower_outer);
    let mut shine = Pen::new(-0.015, MOUTH_Y + mid_lower - 0.002);
    shine.ellipse(0.0, 0.0, 0.04, 0.008);
    sheet.fill_masked(
        shine.finish(),
        radial(
            Pen::new(-0.015, MOUTH_Y + mid_lower - 0.002).at(0.0, 0.0),
            px(0.04),
            px(0.008),
            &[(0.0, rgba(255, 210, 200, 110)), (1.0, rgba(255, 210, 200, 0))],
        ),
        &lower_mask,
    );
    let upper_mask = sheet.mask_of(&upper);
    let mut line = Pen::new(0.0, MOUTH_Y);
    line.ribbon(&shape.inner(shape.upper_inner), [0.004, 0.008, 0.004]);
    sheet.fill_masked(line.finish(), Shader::SolidColor(rgb(128, 58, 62)), &upper_mask);
    // The vermilion border: a faint lighter rim along the upper lip's outer edge.
    let mut rim = Pen::new(0.0, 0.0);
    let rim_pts: Vec<(f32, f32)> = samples()
        .map(|s| at_mouth(shape.upper_outer(s)))
        .chain(samples().rev().map(|s| {
            let (x, y) = shape.upper_outer(s);
            at_mouth((x, y + 0.004))
        }))
        .collect();
    rim.polygon(&rim_pts);
    sheet.fill_masked(
        rim.finish(),
        Shader::SolidColor(rgba(236, 160, 150, 70)),
        &upper_mask,
    );

    let upper_point = |pose: &MotionVector, s: f32, t: f32| {
        let shape = Shape::new(pose);
        at_mouth(lerp(shape.upper_outer(s), shape.upper_inner(s), t))
    };
    let lower_point = |pose: &MotionVector, s: f32, t: f32| {
        let shape = Shape::new(pose);
        at_mouth(lerp(shape.lower_inner(s), shape.lower_outer(s), t))
    };
    let targets = mouth_targets();
    let mut mesh = Patch {
        cols: 24,
        rows: &[-0.3, 0.0, 0.35, 0.7, 1.0, 1.25],
        point: &upper_point,
        texture_pose: tp,
        depth: DEPTH,
    }
    .mesh(&targets);
    mesh.append(
        Patch {
            cols: 24,
            rows: &[-0.3, 0.0, 0.35, 0.7, 1.0, 1.3],
            point: &lower_point,
            texture_pose: tp,
            depth: DEPTH,
        }
        .mesh(&targets),
    );
    Part::shaped("lips", "head", None, sheet, mesh)
}

/// The interior's rows reach under the lips a little, so no seam shows at their inner edges.
const CAVITY_ROWS: [f32; 6] = [-0.2, 0.0, 0.35, 0.65, 1.0, 1.2];

pub fn cavity() -> Part {
    let tp = texture_pose();
    let shape = Shape::new(&tp);
    let mut sheet = Sheet::new();
    let point = |pose: &MotionVector, s: f32, t: f32| {
        let shape = Shape::new(pose);
        at_mouth(lerp(shape.upper_inner(s), shape.lower_inner(s), t))
    };
    let outline = polygon(
        samples()
            .map(|s| point(&tp, s, CAVITY_ROWS[0]))
            .chain(samples().rev().map(|s| point(&tp, s, CAVITY_ROWS[5]))),
    );
    let mid = 0.5 * (shape.upper_inner + shape.lower_inner);
    sheet.fill(
        outline,
        radial(
            Pen::new(0.0, MOUTH_Y).at(0.0, mid),
            px(shape.inner_half_width),
            px(0.6 * (shape.lower_inner - shape.upper_inner)),
            &[
                (0.0, rgb(30, 8, 12)),
                (0.7, rgb(52, 16, 22)),
                (1.0, rgb(74, 26, 32)),
            ],
        ),
    );
    let mesh = Patch {
        cols: 24,
        rows: &CAVITY_ROWS,
        point: &point,
        texture_pose: tp,
        depth: DEPTH,
    }
    .mesh(&mouth_targets());
    Part::shaped("mouth_cavity", "head", None, sheet, mesh)
}

pub fn upper_teeth() -> Part {
    let mut sheet = Sheet::new();
    let pen = || Pen::new(0.0, MOUTH_Y);
    let tw = 0.076;
    let mut teeth = pen();
    teeth.move_to(-tw, -0.04);
    teeth.line_to(tw, -0.04);
    // The biting edge: highest at the corners, lowest in the middle.
    teeth.line_to(tw, -0.004);
    teeth.cubic_to(0.5 * tw, 0.0093, -0.5 * tw, 0.0093, -tw, -0.004);
    teeth.close();
    let teeth = teeth.finish();
    sheet.fill(
        teeth.clone(),
        linear(
            pen().at(-tw, 0.0),
            pen().at(tw, 0.0),
            &[
                (0.0, rgb(150, 128, 120)),
                (0.3, rgb(232, 226, 216)),
                (0.5, rgb(244, 240, 232)),
                (0.7, rgb(232, 226, 216)),
                (1.0, rgb(150, 128, 120)),
            ],
        ),
    );
    let inside = sheet.mask_of(&teeth);
    for x in [-0.052f32, -0.026, 0.0, 0.026, 0.052] {
        let mut gap = pen();
        gap.ribbon(
            &Cubic([(x, -0.012), (x, -0.004), (x, 0.002), (x * 1.04, 0.008)]),
            [0.0015, 0.002, 0.001],
        );
        sheet.fill_masked(
            gap.finish(),
            Shader::SolidColor(rgba(140, 118, 108, 110)),
            &inside,
        );
    }
    // Shadow of the upper lip on the teeth.
    sheet.fill_masked(
        teeth,
        linear(
            pen().at(0.0, -0.02),
            pen().at(0.0, -0.006),
            &[(0.0, rgba(60, 30, 30, 110)), (1.0, rgba(60, 30, 30, 0))],
        ),
        &inside,
    );
    Part::rigid("teeth_upper", "head", Some("mouth_cavity"), sheet, 8, |mesh| {
        mesh.add_turns(|_| DEPTH);
    })
}

pub fn lower_teeth() -> Part {
    let mut sheet = Sheet::new();
    let pen = || Pen::new(0.0, MOUTH_Y);
    let tw = 0.066;
    let top = -0.004;
    let mut teeth = pen();
    teeth.move_to(-tw, top + 0.004);
    teeth.cubic_to(-0.5 * tw, top - 0.004, 0.5 * tw, top - 0.004, tw, top + 0.004);
    teeth.line_to(tw, top + 0.04);
    teeth.line_to(-tw, top + 0.04);
    teeth.close();
    let teeth = teeth.finish();
    sheet.fill(
        teeth.clone(),
        linear(
            pen().at(-tw, 0.0),
            pen().at(tw, 0.0),
            &[
                (0.0, rgb(130, 110, 104)),
                (0.5, rgb(220, 214, 204)),
                (1.0, rgb(130, 110, 104)),
            ],
        ),
    );
    let inside = sheet.mask_of(&teeth);
    sheet.fill_masked(
        teeth,
        linear(
            pen().at(0.0, top),
            pen().at(0.0, top + 0.02),
            &[(0.0, rgba(0, 0, 0, 0)), (1.0, rgba(60, 26, 30, 160))],
        ),
        &inside,
    );
    Part::rigid("teeth_lower", "head", Some("mouth_cavity"), sheet, 8, |mesh| {
        mesh.add_turns(|_| DEPTH);
        mesh.add_field("jawOpen", |_| [0.0, px(0.9 * JAW_DROP)]);
    })
}

pub fn tongue() -> Part {
    let mut sheet = Sheet::new();
    let pen = || Pen::new(0.0, MOUTH_Y);
    let mut tongue = pen();
    // Low in the mouth: it shows only when the jaw is well open.
    tongue.ellipse(0.0, 0.05, 0.056, 0.034);
    sheet.fill(
        tongue.finish(),
        radial(
            pen().at(0.0, 0.042),
            px(0.056),
            px(0.034),
            &[
                (0.0, rgb(176, 82, 90)),
                (0.7, rgb(140, 58, 68)),
                (1.0, rgb(100, 36, 46)),
            ],
        ),
    );
    Part::rigid("tongue", "head", Some("mouth_cavity"), sheet, 8, |mesh| {
        mesh.add_turns(|_| DEPTH);
        mesh.add_field("jawOpen", |_| [0.0, px(0.85 * JAW_DROP)]);
    })
}

/// Canvas rectangle of the closed lips at rest.
pub fn region() -> [f32; 4] {
    let shape = Shape::new(&MotionVector::NEUTRAL);
    let pts: Vec<(f32, f32)> = samples()
        .flat_map(|s| [shape.upper_outer(s), shape.lower_outer(s)])
        .map(|p| {
            let (x, y) = at_mouth(p);
            to_canvas(x, y)
        })
        .collect();
    bounds(&pts)
}
