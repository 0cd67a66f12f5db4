//! f32 buffers aligned to 64 bytes, so that AVX-512 loads of rows whose length is a multiple of
//! 16 never split a cache line (a `Vec<f32>` from the allocator is 16-byte aligned; split loads
//! cost the RBM flip kernel ≈ 20%, `cargo bench -p rmbench-benches --bench elementwise -- rbm`).

/// One cache line of floats.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A zero-initialized, 64-byte-aligned, fixed-length run of f32.
#[derive(Clone, Debug, Default)]
pub struct AlignedVec {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedVec {
    /// `len` zeros, from zeroed memory (for a large buffer, fresh pages the kernel maps as they
    /// are first touched: no fill pass, and a tail that is never written never becomes resident).
    pub fn zeros(len: usize) -> Self {
        let n = len.div_ceil(16);
        if n == 0 {
            return AlignedVec { lines: Vec::new(), len };
        }
        let layout = std::alloc::Layout::array::<Line>(n).expect("AlignedVec: size overflows");
        // SAFETY: layout has non-zero size (n ≥ 1, Line is 64 bytes); all-zero bits are a valid
        // Line; the allocation is made with Vec<Line>'s own layout for capacity n, so the Vec
        // owns and frees it correctly.
        let lines = unsafe {
            let p = std::alloc::alloc_zeroed(layout).cast::<Line>();
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Vec::from_raw_parts(p, n, n)
        };
        AlignedVec { lines, len }
    }
}

impl std::ops::Deref for AlignedVec {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `lines` holds ⌈len/16⌉·16 ≥ len initialized f32 (Line is repr(C) over [f32; 16]).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }
}

impl std::ops::DerefMut for AlignedVec {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::AlignedVec;

    #[test]
    fn aligned_zeroed_and_sized() {
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let mut v = AlignedVec::zeros(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
            assert_eq!(v.as_ptr() as usize % 64, 0);
            v.iter_mut().enumerate().for_each(|(i, x)| *x = i as f32);
            assert_eq!(v.clone().last().copied(), len.checked_sub(1).map(|l| l as f32));
        }
    }
}
