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
    /// large enough; only a newly grown vector is zero-filled.
    pub(crate) fn take(&self, len: usize) -> Buf {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let pick = g.iter().enumerate().filter(|(_, v)| v.len() >= len).min_by_key(|(_, v)| v.len()).map(|(i, _)| i);
        let v = match pick {
            Some(i) => g.swap_remove(i),
            None => {
                // None is large enough: replace one (the pool stays bounded) by a new zeroed one.
                g.pop();
                drop(g);
                AlignedVec::zeros(len)
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
