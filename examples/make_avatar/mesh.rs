//! Meshes and their targets, and the JSON the avatar loader reads.
//!
//! Two kinds. A *grid* mesh covers a rigid painting (hair, skin, nose): vertices on a regular grid
//! over the painted area, cells with nothing painted left out, texture coordinates equal to the
//! rest positions; targets are displacement fields evaluated at the vertices. A *patch* mesh is a
//! parametric shape (lips, eye openings): vertex (s, t) sits at `shape(pose, s, t)`, its texture
//! coordinate at the shape for the pose the texture was painted in, its rest position at the
//! neutral pose, and each target is the shape at the target's pose minus the rest.

use std::collections::BTreeMap;
use std::fmt::Write;

use persona::motion::MotionVector;

use crate::head::{Depth, turn_offset, turn_targets};
use crate::paint::{Sheet, to_canvas};

pub struct MeshOut {
    pub vertices: Vec<[f32; 2]>,
    /// Canvas pixels of the painted sheet (converted to image pixels when written).
    pub uvs: Vec<[f32; 2]>,
    pub triangles: Vec<[u32; 3]>,
    pub targets: BTreeMap<String, Vec<[f32; 2]>>,
}

impl MeshOut {
    /// A grid of `cell`-pixel squares over the painted part of `sheet` inside `bounds`.
    pub fn grid(sheet: &Sheet, bounds: (i32, i32, i32, i32), cell: i32) -> MeshOut {
        let (x0, y0, x1, y1) = bounds;
        let cols = ((x1 - x0) + cell - 1) / cell;
        let rows = ((y1 - y0) + cell - 1) / cell;
        let painted = |cx: i32, cy: i32| {
            // Any texel with alpha in the cell, or the one-pixel ring around it.
            let data = sheet.pixmap.data();
            let w = sheet.pixmap.width() as i32;
            let pad = (sheet.pixmap.width() as i32 - crate::paint::CANVAS as i32) / 2;
            let (ax, ay) = (x0 + cx * cell - 1, y0 + cy * cell - 1);
            for y in ay..=ay + cell + 1 {
                for x in ax..=ax + cell + 1 {
                    let (px, py) = (x + pad, y + pad);
                    if px >= 0 && py >= 0 && px < w && py < w && data[((py * w + px) * 4 + 3) as usize] > 0 {
                        return true;
                    }
                }
            }
            false
        };
        let mut index = BTreeMap::new();
        let mut mesh = MeshOut::empty();
        for cy in 0..rows {
            for cx in 0..cols {
                if !painted(cx, cy) {
                    continue;
                }
                let corners = [(cx, cy), (cx + 1, cy), (cx + 1, cy + 1), (cx, cy + 1)].map(|(gx, gy)| {
                    *index.entry((gx, gy)).or_insert_with(|| {
                        let p = [
                            ((x0 + gx * cell) as f32).min(x1 as f32),
                            ((y0 + gy * cell) as f32).min(y1 as f32),
                        ];
                        mesh.vertices.push(p);
                        mesh.uvs.push(p);
                        mesh.vertices.len() as u32 - 1
                    })
                });
                mesh.triangles.push([corners[0], corners[1], corners[2]]);
                mesh.triangles.push([corners[0], corners[2], corners[3]]);
            }
        }
        mesh
    }

    fn empty() -> MeshOut {
        MeshOut {
            vertices: Vec::new(),
            uvs: Vec::new(),
            triangles: Vec::new(),
            targets: BTreeMap::new(),
        }
    }

    /// Adds `field(rest position)` to target `key`.
    pub fn add_field(&mut self, key: &str, field: impl Fn([f32; 2]) -> [f32; 2]) {
        let n = self.vertices.len();
        let offsets = self
            .targets
            .entry(key.to_string())
            .or_insert_with(|| vec![[0.0; 2]; n]);
        for (o, v) in offsets.iter_mut().zip(&self.vertices) {
            let d = field(*v);
            o[0] += d[0];
            o[1] += d[1];
        }
    }

    /// The four head-turn targets for points at `depth(rest position)`.
    pub fn add_turns(&mut self, depth: impl Fn([f32; 2]) -> Depth) {
        for (key, yaw, pitch) in turn_targets() {
            self.add_field(key, |p| turn_offset(depth(p), p, yaw, pitch));
        }
    }

    /// Appends another mesh's vertices and triangles (its targets are merged by key).
    pub fn append(&mut self, other: MeshOut) {
        let base = self.vertices.len() as u32;
        let (n_self, n_other) = (self.vertices.len(), other.vertices.len());
        self.vertices.extend(other.vertices);
        self.uvs.extend(other.uvs);
        self.triangles
            .extend(other.triangles.iter().map(|t| t.map(|v| v + base)));
        for offsets in self.targets.values_mut() {
            offsets.resize(n_self + n_other, [0.0; 2]);
        }
        for (key, offsets) in other.targets {
            let entry = self.targets.entry(key).or_insert_with(|| vec![[0.0; 2]; n_self]);
            entry.resize(n_self, [0.0; 2]);
            entry.extend(offsets);
        }
    }

    /// JSON for the loader: texture coordinates relative to the cropped image at `origin`
    /// (canvas pixels) divided by `shrink`; targets sparse (vertices that move).
    pub fn to_json(&self, origin: (i32, i32), shrink: u32, image_size: (u32, u32)) -> String {
        let num = |v: f32| {
            let r = (v * 100.0).round() / 100.0;
            if r == 0.0 { "0".to_string() } else { format!("{r}") }
        };
        let pair = |p: [f32; 2]| format!("[{},{}]", num(p[0]), num(p[1]));
        let mut out = String::from("{\"vertices\":[");
        out += &self
            .vertices
            .iter()
            .map(|v| pair(*v))
            .collect::<Vec<_>>()
            .join(",");
        out += "],\"uvs\":[";
        let uv = |p: [f32; 2]| {
            let u = ((p[0] - origin.0 as f32) / shrink as f32).clamp(0.0, image_size.0 as f32);
            let v = ((p[1] - origin.1 as f32) / shrink as f32).clamp(0.0, image_size.1 as f32);
            pair([u, v])
        };
        out += &self.uvs.iter().map(|p| uv(*p)).collect::<Vec<_>>().join(",");
        out += "],\"triangles\":[";
        out += &self
            .triangles
            .iter()
            .map(|t| format!("[{},{},{}]", t[0], t[1], t[2]))
            .collect::<Vec<_>>()
            .join(",");
        out += "],\"targets\":{";
        let mut first = true;
        for (key, offsets) in &self.targets {
            let moving: Vec<usize> = (0..offsets.len())
                .filter(|&i| offsets[i][0].abs() >= 0.005 || offsets[i][1].abs() >= 0.005)
                .collect();
            if moving.is_empty() {
                continue;
            }
            if !first {
                out += ",";
            }
            first = false;
            let _ = write!(out, "\"{key}\":{{\"vertices\":[");
            out += &moving.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            out += "],\"offsets\":[";
            out += &moving
                .iter()
                .map(|&i| pair(offsets[i]))
                .collect::<Vec<_>>()
                .join(",");
            out += "]}";
        }
        out += "}}\n";
        out
    }
}

/// A parametric shape: `point(pose, s, t)` in face units for s across (0..=1) and t through
/// (`rows`, may reach outside 0..=1 for the anti-aliasing margin).
pub struct Patch<'a> {
    pub cols: usize,
    pub rows: &'a [f32],
    pub point: &'a dyn Fn(&MotionVector, f32, f32) -> (f32, f32),
    /// The pose the texture is painted in.
    pub texture_pose: MotionVector,
    /// Depth for the head-turn targets.
    pub depth: Depth,
}

impl Patch<'_> {
    /// The mesh with targets `(key, [(pose, coefficient)])`: each target's offset is
    /// `Σ coefficient × shape(pose)`, and the coefficients of a target sum to zero.
    pub fn mesh(&self, targets: &[(&str, Vec<(MotionVector, f32)>)]) -> MeshOut {
        let mut mesh = MeshOut::empty();
        let canvas = |(x, y): (f32, f32)| {
            let (px, py) = to_canvas(x, y);
            [px, py]
        };
        let params: Vec<(f32, f32)> = self
            .rows
            .iter()
            .flat_map(|&t| (0..=self.cols).map(move |c| (c as f32 / self.cols as f32, t)))
            .collect();
        for &(s, t) in &params {
            mesh.vertices
                .push(canvas((self.point)(&MotionVector::NEUTRAL, s, t)));
            mesh.uvs.push(canvas((self.point)(&self.texture_pose, s, t)));
        }
        let stride = self.cols as u32 + 1;
        for r in 0..self.rows.len() as u32 - 1 {
            for c in 0..self.cols as u32 {
                let a = r * stride + c;
                let (b, d, e) = (a + 1, a + stride, a + stride + 1);
                mesh.triangles.push([a, b, e]);
                mesh.triangles.push([a, e, d]);
            }
        }
        for (key, poses) in targets {
            let offsets = params
                .iter()
                .map(|&(s, t)| {
                    let mut sum = [0.0f32; 2];
                    for (pose, k) in poses {
                        let p = canvas((self.point)(pose, s, t));
                        sum[0] += k * p[0];
                        sum[1] += k * p[1];
                    }
                    sum
                })
                .collect();
            mesh.targets.insert(key.to_string(), offsets);
        }
        let depth = self.depth;
        mesh.add_turns(|_| depth);
        mesh
    }
}

/// Target poses for a single channel at full value: shape(pose) − shape(rest).
pub fn single(pose: MotionVector) -> Vec<(MotionVector, f32)> {
    vec![(pose, 1.0), (MotionVector::NEUTRAL, -1.0)]
}

/// A corrective for `a` and `b` together, scaled by `k`: k × (shape(a+b) − shape(a) − shape(b) +
/// shape(rest)), so that weights a=b=1 give exactly k of the way to shape(a+b).
pub fn corrective(a: MotionVector, b: MotionVector, k: f32) -> Vec<(MotionVector, f32)> {
    let mut both = a;
    for (o, v) in both.0.iter_mut().zip(b.0.iter()) {
        *o += v;
    }
    vec![(both, k), (a, -k), (b, -k), (MotionVector::NEUTRAL, k)]
}
