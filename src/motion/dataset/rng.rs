//! Seeded randomness for the dataset: every random quantity is a function of
//! (seed, stream, index), never of the order in which threads ran.
//!
//! SplitMix64 (Steele, Lea, Flood 2014) seeded by hashing the triple, so two streams or two
//! items never share a sequence. Uniform numbers use only integer arithmetic and one division;
//! normal numbers are an Irwin–Hall sum (additions only), so sequences are exact on every
//! platform.

/// Independent random sequences of one dataset, one per purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(super) enum Stream {
    Split = 1,
    Sentence = 2,
    Voice = 3,
    Prosody = 4,
    Augment = 5,
    Gesture = 6,
    Idle = 7,
    Babble = 8,
    NoiseSignal = 9,
    ReverbSignal = 10,
}

/// A small, fast, seeded generator.
#[derive(Clone, Debug)]
pub(super) struct Rng(u64);

impl Rng {
    /// The sequence for `index` of `stream` under `seed`.
    pub(super) fn new(seed: u64, stream: Stream, index: u64) -> Self {
        let mixed =
            splitmix64(splitmix64(seed ^ (stream as u64).wrapping_mul(0xa076_1d64_78bd_642f)) ^ index);
        Rng(mixed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix64_finish(self.0)
    }

    /// Uniform in [0, 1) with 53 bits.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub(super) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `lo..=hi`.
    pub(super) fn int(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub(super) fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// A uniform index below `len` (which must not be 0).
    pub(super) fn index(&mut self, len: usize) -> usize {
        (self.next_u64() % len as u64) as usize
    }

    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// Approximately standard normal: four uniforms summed, centred and scaled to unit
    /// variance (bounded to ±2√3, which suits noise signals).
    pub(super) fn normal(&mut self) -> f32 {
        let sum: u64 = (0..4).map(|_| self.next_u64() >> 40).sum();
        let sum = sum as f32 / (1_u32 << 24) as f32;
        (sum - 2.0) * 3.0_f32.sqrt()
    }
}

pub(super) fn splitmix64(x: u64) -> u64 {
    splitmix64_finish(x.wrapping_add(0x9e37_79b9_7f4a_7c15))
}

fn splitmix64_finish(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over bytes: a stable hash for assigning sentences to splits.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_indices_are_independent_and_repeatable() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(1, Stream::Split, 0).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut seen = std::collections::HashSet::new();
        for stream in [Stream::Split, Stream::Sentence, Stream::Voice] {
            for index in 0..100 {
                assert!(seen.insert(Rng::new(1, stream, index).next_u64()));
            }
        }
        assert_ne!(
            Rng::new(1, Stream::Split, 0).next_u64(),
            Rng::new(2, Stream::Split, 0).next_u64()
        );
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut rng = Rng::new(9, Stream::NoiseSignal, 0);
        let xs: Vec<f32> = (0..50_000).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / xs.len() as f32;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.03, "{mean} {var}");
        let mut rng = Rng::new(9, Stream::Augment, 0);
        for _ in 0..10_000 {
            let x = rng.range(-12.0, 6.0);
            assert!((-12.0..6.0).contains(&x));
            assert!((3..=5).contains(&rng.int(3, 5)));
        }
    }
}
