//! A rendered picture and where it sits on the output audio clock.

/// An RGBA8 picture (row-major, no padding) stamped with the output audio sample it shows.
#[derive(Clone)]
pub struct VideoFrame {
    /// Output-clock sample (at the output rate) this frame belongs to: the muxer and transports
    /// derive its presentation time from this and nothing else.
    pub sample: u64,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl VideoFrame {
    pub fn blank(width: u32, height: u32) -> Self {
        VideoFrame {
            sample: 0,
            width,
            height,
            rgba: vec![0; width as usize * height as usize * 4],
        }
    }

    /// Makes the frame `width`×`height`, keeping the buffer when the size is already right.
    pub fn resize(&mut self, width: u32, height: u32) {
        let len = width as usize * height as usize * 4;
        if self.width != width || self.height != height || self.rgba.len() != len {
            self.width = width;
            self.height = height;
            self.rgba.resize(len, 0);
        }
    }

    /// The RGBA value at (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VideoFrame({}x{} @ sample {})",
            self.width, self.height, self.sample
        )
    }
}
