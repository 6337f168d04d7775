//! The rig in a frame: where the avatar's canvas sits in a frame of a given size, and where every
//! vertex goes for a pose. Shared by the CPU and GPU renderers, so both draw the same geometry.
//!
//! A vertex at pose `p` is `rest + Σ weight(target, p) × offset`, then (head layers) turned by
//! `headRoll` about the head pivot, then scaled and moved from canvas to frame pixels. The canvas
//! is scaled to fit the frame and centred; the background fills the rest.

use super::avatar::{Avatar, CanvasRect, Group, sanitize};
use crate::motion::{Channel, MotionVector};

/// The image x direction of the avatar's own right: it faces the viewer, so its right is image
/// left. `headRoll` > 0 tilts the crown towards the avatar's right shoulder.
const IMAGE_X_PER_AVATAR_RIGHT: f32 = -1.0;

/// Canvas pixels → frame pixels: `frame = canvas * scale + offset`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    pub scale: f32,
    pub offset_x: f32,
    pub offset_y: f32,
    pub frame_width: u32,
    pub frame_height: u32,
}

impl Placement {
    /// The whole canvas, as large as fits, centred.
    pub fn fit(avatar: &Avatar, frame_width: u32, frame_height: u32) -> Placement {
        let (cw, ch) = (avatar.canvas_width_px as f32, avatar.canvas_height_px as f32);
        let (fw, fh) = (frame_width as f32, frame_height as f32);
        let scale = (fw / cw).min(fh / ch);
        Placement {
            scale,
            offset_x: 0.5 * (fw - cw * scale),
            offset_y: 0.5 * (fh - ch * scale),
            frame_width,
            frame_height,
        }
    }

    pub fn map(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [x * self.scale + self.offset_x, y * self.scale + self.offset_y]
    }

    /// A canvas rectangle as whole frame pixels (x, y, w, h) covering it, clamped to the frame.
    pub fn rect_px(&self, r: &CanvasRect) -> (u32, u32, u32, u32) {
        let [x0, y0] = self.map([r.x, r.y]);
        let [x1, y1] = self.map([r.x + r.w, r.y + r.h]);
        let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
        let (left, top) = (
            clamp(x0.floor(), self.frame_width),
            clamp(y0.floor(), self.frame_height),
        );
        let (right, bottom) = (
            clamp(x1.ceil(), self.frame_width),
            clamp(y1.ceil(), self.frame_height),
        );
        (left, top, right - left, bottom - top)
    }

    /// How many times each texture should be halved before sampling, so a texel is never much
    /// smaller than a frame pixel (1 when drawn at half size or less, and so on).
    pub fn mip_level(&self) -> u32 {
        let mut level = 0;
        let mut scale = self.scale;
        while scale <= 0.75 && level < 8 {
            scale *= 2.0;
            level += 1;
        }
        level
    }
}

/// Deforms an avatar's meshes into frame pixels; holds the buffers it reuses.
#[derive(Clone, Debug)]
pub struct Deformer {
    placement: Placement,
    pivot: [f32; 2],
    max_roll_rad: f32,
    /// One position buffer per layer, frame pixels, rewritten by [`Deformer::deform`].
    positions: Vec<Vec<[f32; 2]>>,
}

impl Deformer {
    pub fn new(avatar: &Avatar, placement: Placement) -> Deformer {
        let mut deformer = Deformer {
            placement,
            pivot: avatar.head.pivot,
            max_roll_rad: avatar.head.max_roll_deg.to_radians(),
            positions: avatar
                .layers
                .iter()
                .map(|l| vec![[0.0; 2]; l.mesh.rest.len()])
                .collect(),
        };
        deformer.deform(avatar, &MotionVector::NEUTRAL);
        deformer
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Positions of every layer's vertices for `pose` (sanitised: non-finite channels read as 0).
    pub fn deform(&mut self, avatar: &Avatar, pose: &MotionVector) {
        let pose = sanitize(pose);
        let roll = pose.get(Channel::HeadRoll) * self.max_roll_rad * IMAGE_X_PER_AVATAR_RIGHT;
        let (sin, cos) = roll.sin_cos();
        for (layer, out) in avatar.layers.iter().zip(self.positions.iter_mut()) {
            out.copy_from_slice(&layer.mesh.rest);
            for target in &layer.mesh.targets {
                let weight = target.weight(&pose);
                if weight == 0.0 {
                    continue;
                }
                for (&v, [dx, dy]) in target.vertices.iter().zip(&target.offsets) {
                    let p = &mut out[v as usize];
                    p[0] += weight * dx;
                    p[1] += weight * dy;
                }
            }
            let rolls = layer.group == Group::Head && roll != 0.0;
            let [px, py] = self.pivot;
            for p in out.iter_mut() {
                if rolls {
                    let (dx, dy) = (p[0] - px, p[1] - py);
                    *p = [px + cos * dx - sin * dy, py + sin * dx + cos * dy];
                }
                *p = self.placement.map(*p);
            }
        }
    }

    /// Frame-pixel positions of layer `index` from the last [`Deformer::deform`].
    pub fn layer(&self, index: usize) -> &[[f32; 2]] {
        &self.positions[index]
    }
}
