//! SplitMix64, the one source of randomness of the synthetic data: tiny, fast and the same on
//! every machine, so one seed gives the same persons in every simulator, test and benchmark.

/// One step of SplitMix64: advances `state` and returns the next value.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic random stream.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        splitmix64(&mut self.0)
    }

    /// `N` bytes of the stream.
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        out
    }

    /// A value in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    /// An index into a collection of `len` items (0 when it is empty).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True with the given probability in per mille.
    pub(crate) fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// A value in `low..=high` (`low` when the range is empty).
    pub(crate) fn between<T>(&mut self, low: T, high: T) -> T
    where
        T: Copy + Into<i64> + TryFrom<i64>,
    {
        let (from, to) = (low.into(), high.into());
        if to <= from {
            return low;
        }
        let value = from + self.below((to - from + 1) as u64) as i64;
        T::try_from(value).unwrap_or(low)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// Index of the first share in `per_mille` whose running total exceeds a random draw.
    pub(crate) fn share(&mut self, per_mille: &[u32]) -> usize {
        let mut draw = self.below(1000) as u32;
        for (index, &share) in per_mille.iter().enumerate() {
            if draw < share {
                return index;
            }
            draw -= share;
        }
        per_mille.len() - 1
    }
}

/// Draws indices with fixed weights.
pub(crate) struct Weighted {
    cumulative: Vec<u64>,
}

impl Weighted {
    pub(crate) fn new(weights: impl IntoIterator<Item = u64>) -> Self {
        let mut total = 0;
        let cumulative = weights
            .into_iter()
            .map(|weight| {
                total += weight;
                total
            })
            .collect();
        Self { cumulative }
    }

    /// Zipf-like: index `i` has weight 1 / (i + offset), so a few entries are very common and
    /// many are rare. Tables list their entries most frequent first.
    pub(crate) fn zipf(len: usize, offset: usize) -> Self {
        Self::new((0..len).map(|index| 1_000_000_000 / (index + offset) as u64))
    }

    pub(crate) fn sample(&self, random: &mut Random) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        let draw = random.next() % total.max(1);
        self.cumulative.partition_point(|&sum| sum <= draw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_empty_ranges_give_the_low_end() {
        let mut random = Random::new(7);
        let drawn: Vec<i64> = (0..2000).map(|_| random.between(-2i64, 2)).collect();
        assert_eq!(drawn.iter().min(), Some(&-2));
        assert_eq!(drawn.iter().max(), Some(&2));
        assert_eq!(random.between(5u16, 3), 5);
        assert_eq!(random.index(0), 0);
    }

    #[test]
    fn the_same_seed_gives_the_same_stream() {
        let (mut a, mut b) = (Random::new(42), Random::new(42));
        assert!((0..100).all(|_| a.next() == b.next()));
    }
}
