//! Reusable buffers of the MLP kernels (f32 rows and bf16 packs), handed out without zero-filling.

use crate::aligned::AlignedVec;
use crate::bf16;

/// Reusable bf16 packs (like [`Pool`]); a clone starts empty.
#[derive(Debug, Default)]
pub(super) struct PackPool(std::sync::Mutex<Vec<bf16::PackedB>>);

impl Clone for PackPool {
    fn clone(&self) -> Self {
        PackPool::default()
    }
}

impl PackPool {
    /// A pack shaped k × n with unspecified contents.
    pub(super) fn take(&self, k: usize, n: usize) -> bf16::PackedB {
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        p.reset(k, n);
        p
    }

    pub(super) fn give(&self, p: bf16::PackedB) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() < 16 {
            g.push(p);
        }
    }
}

/// Reusable f32 buffers: chunks of ~8 MB would otherwise be mapped, zeroed by the kernel and
/// unmapped on every call (page faults measured at ~20% of an exact-RM step). Buffers are
/// 64-byte aligned: a large `Vec<f32>` from glibc starts 16 bytes past a page, so every 512-bit
/// load of an H-wide row (H a multiple of 16) split a cache line.
#[derive(Debug, Default)]
pub(crate) struct Pool(std::sync::Mutex<Vec<AlignedVec>>);

impl Clone for Pool {
    fn clone(&self) -> Self {
        Pool::default()
    }
}

/// A pooled buffer: the first `len` floats of an aligned vector kept at its full length, so
/// handing it out again never zero-fills (every user overwrites the `len` floats it gets).
#[derive(Debug, Default)]
pub(crate) struct Buf {
    v: AlignedVec,
    len: usize,
}

impl std::ops::Deref for Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.v[..self.len]
    }
}

impl std::ops::DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.v[..self.len]
    }
}

impl Pool {
    /// A buffer of `len` floats with unspecified contents, reusing the smallest pooled one that is
    /// large enough. When none is, the largest smaller one is replaced (the pool stays bounded)
    /// by a new zeroed vector with 1/8 headroom: the row count of a step varies a little (the
    /// i.i.d. estimators merge repeated draws), and an exact fit made every new maximum map and
    /// fault in fresh pages (≈ 240 page faults per step at d = 64, `perf stat -e page-faults`).
    /// The headroom is zeroed memory that stays unmapped until used.
    pub(crate) fn take(&self, len: usize) -> Buf {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let pick = g.iter().enumerate().filter(|(_, v)| v.len() >= len).min_by_key(|(_, v)| v.len()).map(|(i, _)| i);
        let v = match pick {
            Some(i) => g.swap_remove(i),
            None => {
                if let Some(i) = g.iter().enumerate().max_by_key(|(_, v)| v.len()).map(|(i, _)| i) {
                    g.swap_remove(i);
                }
                drop(g);
                AlignedVec::zeros(len + len / 8)
            }
        };
        Buf { v, len }
    }

    pub(crate) fn give(&self, b: Buf) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() < 64 {
            g.push(b.v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer a little larger than the pooled one reuses it (headroom), a much larger one
    /// replaces it, and the pool does not grow past what was given back.
    #[test]
    fn slightly_larger_requests_reuse_the_pooled_buffer() {
        let pool = Pool::default();
        let b = pool.take(1000);
        let p = b.as_ptr();
        pool.give(b);
        let b = pool.take(1100);
        assert_eq!((b.as_ptr(), b.len(), b.v.len()), (p, 1100, 1125), "1100 fits the 1000 + 125 headroom");
        pool.give(b);
        let b = pool.take(2000);
        assert_eq!((b.len(), b.v.len()), (2000, 2250), "a new vector with 1/8 headroom");
        pool.give(b);
        assert_eq!(pool.0.lock().unwrap().len(), 1, "the smaller buffer was replaced");
        assert!(AlignedVec::<f32>::zeros(100_000).iter().all(|&v| v == 0.0));
        assert!(AlignedVec::<f32>::zeros(0).is_empty());
    }

    /// Pooled buffers start on a cache line, whether new, reused or replaced by a larger one.
    #[test]
    fn buffers_are_cache_line_aligned() {
        let pool = Pool::default();
        for len in [1usize, 17, 256 * 1408, 3, 256 * 4096] {
            let b = pool.take(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % 64, 0, "len {len}");
            pool.give(b);
        }
    }
}
