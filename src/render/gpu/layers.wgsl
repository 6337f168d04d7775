// The GPU renderer's shaders: the background gradient, and textured layers composited "over"
// with premultiplied alpha (the blend state does the compositing), optionally clipped by the
// coverage of a mask layer. Matches src/render/cpu/raster.rs up to rounding.

struct Frame {
    // Frame size in pixels.
    size: vec2<f32>,
    _pad: vec2<f32>,
    // Background colours, 0..1.
    top: vec4<f32>,
    bottom: vec4<f32>,
};

@group(0) @binding(0) var<uniform> frame: Frame;
@group(1) @binding(0) var layer_texture: texture_2d<f32>;
@group(1) @binding(1) var layer_sampler: sampler;
@group(2) @binding(0) var mask_texture: texture_2d<f32>;

struct Varyings {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// Vertices arrive in frame pixels (y down).
@vertex
fn vs_layer(@location(0) position_px: vec2<f32>, @location(1) uv: vec2<f32>) -> Varyings {
    var out: Varyings;
    let ndc = vec2<f32>(position_px.x / frame.size.x * 2.0 - 1.0, 1.0 - position_px.y / frame.size.y * 2.0);
    out.position = vec4<f32>(ndc, 0.0, 1.0);
    out.uv = uv;
    return out;
}

@fragment
fn fs_layer(in: Varyings) -> @location(0) vec4<f32> {
    return textureSample(layer_texture, layer_sampler, in.uv);
}

@fragment
fn fs_layer_masked(in: Varyings) -> @location(0) vec4<f32> {
    let colour = textureSample(layer_texture, layer_sampler, in.uv);
    let coverage = textureLoad(mask_texture, vec2<i32>(in.position.xy), 0).a;
    return colour * coverage;
}

// One triangle covering the frame.
@vertex
fn vs_background(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    let x = f32(i32(index & 1u) * 4 - 1);
    let y = f32(i32(index >> 1u) * 4 - 1);
    return vec4<f32>(x, y, 0.0, 1.0);
}

@fragment
fn fs_background(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    // position.y is the pixel centre, y + 1/2, as the CPU renderer's t.
    let t = position.y / frame.size.y;
    return vec4<f32>(mix(frame.top.rgb, frame.bottom.rgb, t), 1.0);
}
