//! Bit-packed batches of binary samples.
//!
//! A [`BitBatch`] holds n samples x ∈ {0,1}^d as rows of `u64` words, little-endian within a row:
//! bit i of a row lives in word `i / 64` at position `i % 64`. Invariants (asserted in debug
//! builds): the row stride is `words_per_row = ceil(d / 64)` and every padding bit past d is zero,
//! so popcount and Hamming distance can run over whole words.

use crate::KernelError;

/// Number of `u64` words that hold `d` bits.
#[inline]
pub const fn words_for(d: usize) -> usize {
    d.div_ceil(64)
}

/// Mask of the valid bits in the last word of a row of `d` bits (all ones when `d % 64 == 0`).
#[inline]
pub const fn tail_mask(d: usize) -> u64 {
    if d.is_multiple_of(64) {
        u64::MAX
    } else {
        (1u64 << (d % 64)) - 1
    }
}

/// n binary samples of d bits, bit-packed row-major into `u64` words with zero padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitBatch {
    n: usize,
    d: usize,
    stride: usize,
    words: Vec<u64>,
}

impl BitBatch {
    /// An all-zero batch of `n` rows of `d` bits.
    pub fn zeros(n: usize, d: usize) -> Self {
        let stride = words_for(d);
        BitBatch { n, d, stride, words: vec![0; n * stride] }
    }

    /// Packs a dense row-major `n × d` array of 0/1 bytes; any other value is an error.
    pub fn from_dense_u8(n: usize, d: usize, dense: &[u8]) -> Result<Self, KernelError> {
        if dense.len() != n * d {
            return Err(KernelError::Shape { what: "dense u8 batch", expected: n * d, got: dense.len() });
        }
        let mut b = Self::zeros(n, d);
        for r in 0..n {
            for i in 0..d {
                match dense[r * d + i] {
                    0 => {}
                    1 => b.set(r, i, true),
                    v => return Err(KernelError::NotBinary { row: r, col: i, value: v as f64 }),
                }
            }
        }
        Ok(b)
    }

    /// Packs a dense row-major `n × d` array of f32 that must hold exactly 0.0 or 1.0.
    pub fn from_dense_f32(n: usize, d: usize, dense: &[f32]) -> Result<Self, KernelError> {
        if dense.len() != n * d {
            return Err(KernelError::Shape { what: "dense f32 batch", expected: n * d, got: dense.len() });
        }
        let mut b = Self::zeros(n, d);
        for r in 0..n {
            for i in 0..d {
                let v = dense[r * d + i];
                if v == 1.0 {
                    b.set(r, i, true);
                } else if v != 0.0 {
                    return Err(KernelError::NotBinary { row: r, col: i, value: v as f64 });
                }
            }
        }
        Ok(b)
    }

    /// Builds a batch from packed words (`n × words_for(d)`); padding bits must be zero.
    pub fn from_words(n: usize, d: usize, words: Vec<u64>) -> Result<Self, KernelError> {
        let stride = words_for(d);
        if words.len() != n * stride {
            return Err(KernelError::Shape { what: "packed words", expected: n * stride, got: words.len() });
        }
        if stride > 0 {
            let m = tail_mask(d);
            for r in 0..n {
                if words[r * stride + stride - 1] & !m != 0 {
                    return Err(KernelError::Padding { row: r });
                }
            }
        }
        Ok(BitBatch { n, d, stride, words })
    }

    /// Number of samples.
    #[inline]
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of bits per sample.
    #[inline]
    pub fn d(&self) -> usize {
        self.d
    }

    /// Words per row (`ceil(d / 64)`).
    #[inline]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// All packed words, row-major.
    #[inline]
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The packed words of row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> &[u64] {
        &self.words[r * self.stride..(r + 1) * self.stride]
    }

    /// Bit i of row r.
    #[inline]
    pub fn get(&self, r: usize, i: usize) -> bool {
        debug_assert!(i < self.d);
        (self.words[r * self.stride + i / 64] >> (i % 64)) & 1 == 1
    }

    /// Sets bit i of row r to `v`.
    #[inline]
    pub fn set(&mut self, r: usize, i: usize, v: bool) {
        assert!(i < self.d, "bit {i} out of range for d = {}", self.d);
        let w = &mut self.words[r * self.stride + i / 64];
        if v {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
    }

    /// Flips bit i of row r: x ↦ x₋ᵢ.
    #[inline]
    pub fn flip(&mut self, r: usize, i: usize) {
        assert!(i < self.d, "bit {i} out of range for d = {}", self.d);
        self.words[r * self.stride + i / 64] ^= 1 << (i % 64);
    }

    /// Overwrites row r with packed words `src` (padding must be zero).
    pub fn set_row(&mut self, r: usize, src: &[u64]) {
        assert_eq!(src.len(), self.stride);
        self.words[r * self.stride..(r + 1) * self.stride].copy_from_slice(src);
        self.debug_check_padding();
    }

    /// Appends a row of packed words (padding must be zero).
    pub fn push_row(&mut self, src: &[u64]) {
        assert_eq!(src.len(), self.stride);
        self.words.extend_from_slice(src);
        self.n += 1;
        self.debug_check_padding();
    }

    /// A new batch made of the given rows, in order.
    pub fn select_rows(&self, rows: &[usize]) -> BitBatch {
        let mut words = Vec::with_capacity(rows.len() * self.stride);
        for &r in rows {
            words.extend_from_slice(self.row(r));
        }
        BitBatch { n: rows.len(), d: self.d, stride: self.stride, words }
    }

    /// Dense 0/1 bytes, row-major `n × d`.
    pub fn to_dense_u8(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.n * self.d];
        for r in 0..self.n {
            for i in 0..self.d {
                out[r * self.d + i] = self.get(r, i) as u8;
            }
        }
        out
    }

    /// Dense 0.0/1.0 floats, row-major `n × d`.
    pub fn to_dense_f32(&self) -> Vec<f32> {
        self.to_dense_u8().into_iter().map(f32::from).collect()
    }

    /// Number of set bits in each row: Σᵢ xᵢ.
    pub fn popcount_rows(&self) -> Vec<u32> {
        (0..self.n).map(|r| crate::simd::popcount(self.row(r))).collect()
    }

    /// Hamming distance between row `r` of `self` and row `q` of `other` (same d).
    pub fn hamming(&self, r: usize, other: &BitBatch, q: usize) -> u32 {
        debug_assert_eq!(self.d, other.d);
        crate::simd::hamming(self.row(r), other.row(q))
    }

    /// Indices of the set bits of row r, ascending.
    pub fn ones(&self, r: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for_each_one(self.row(r), |i| out.push(i));
        out
    }

    fn debug_check_padding(&self) {
        if cfg!(debug_assertions) && self.stride > 0 {
            let m = tail_mask(self.d);
            for r in 0..self.n {
                debug_assert_eq!(self.words[r * self.stride + self.stride - 1] & !m, 0);
            }
        }
    }
}

/// Calls `f(i)` for every set bit i of a packed row, ascending (tzcnt loop).
#[inline]
pub fn for_each_one(row: &[u64], mut f: impl FnMut(usize)) {
    for (w, &word) in row.iter().enumerate() {
        let mut m = word;
        while m != 0 {
            let b = m.trailing_zeros() as usize;
            f(w * 64 + b);
            m &= m - 1;
        }
    }
}

/// Bit i of a packed row as 0/1.
#[inline]
pub fn bit(row: &[u64], i: usize) -> u32 {
    ((row[i / 64] >> (i % 64)) & 1) as u32
}

/// Spin of bit i of a packed row: s = 2x − 1 ∈ {−1, +1}.
#[inline]
pub fn spin(row: &[u64], i: usize) -> f32 {
    if bit(row, i) == 1 {
        1.0
    } else {
        -1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_round_trip_and_padding() {
        for d in [1usize, 63, 64, 65, 130] {
            let n = 3;
            let dense: Vec<u8> = (0..n * d).map(|k| ((k * 7 + 3) % 3 == 0) as u8).collect();
            let b = BitBatch::from_dense_u8(n, d, &dense).unwrap();
            assert_eq!(b.to_dense_u8(), dense);
            let words = b.words().to_vec();
            assert!(BitBatch::from_words(n, d, words).is_ok());
        }
        let mut bad = vec![0u64; 1];
        bad[0] = 1 << 10;
        assert!(matches!(BitBatch::from_words(1, 5, bad), Err(KernelError::Padding { row: 0 })));
        assert!(BitBatch::from_dense_u8(1, 2, &[0, 2]).is_err());
    }

    #[test]
    fn flip_popcount_hamming() {
        let mut b = BitBatch::zeros(2, 70);
        b.flip(0, 69);
        b.flip(0, 3);
        assert_eq!(b.popcount_rows(), vec![2, 0]);
        assert_eq!(b.hamming(0, &b, 1), 2);
        assert_eq!(b.ones(0), vec![3, 69]);
        b.flip(0, 3);
        assert_eq!(b.ones(0), vec![69]);
    }
}
