//! Buffers aligned to 64 bytes, so that AVX-512 loads and AMX tile rows of rows whose length is a
//! multiple of 64 bytes never split a cache line (a `Vec` from the allocator is 16-byte aligned;
//! split loads cost the RBM flip kernel ≈ 20%, `cargo bench -p rmbench-benches --bench elementwise
//! -- rbm`, and halved the AMX product, `--bench dense -- prepacked`).

use std::marker::PhantomData;

/// Element types stored in an [`AlignedVec`]: plain numbers for which every bit pattern, all
/// zeros included, is a valid value, with alignment ≤ 64.
pub trait Plain: Copy + Default + Send + Sync + 'static + private::Sealed {}

mod private {
    pub trait Sealed {}
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl private::Sealed for $t {}
        impl Plain for $t {}
    )*};
}
plain!(f32, u32, u16);

/// One cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([u8; 64]);

const ZERO_LINE: Line = Line([0; 64]);

/// A zero-initialized, 64-byte-aligned run of `T` (f32 unless named).
#[derive(Clone, Debug)]
pub struct AlignedVec<T: Plain = f32> {
    lines: Vec<Line>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Plain> Default for AlignedVec<T> {
    fn default() -> Self {
        AlignedVec { lines: Vec::new(), len: 0, _t: PhantomData }
    }
}

fn lines_for<T>(len: usize) -> usize {
    len.checked_mul(std::mem::size_of::<T>()).expect("AlignedVec: size overflows").div_ceil(64)
}

impl<T: Plain> AlignedVec<T> {
    /// `len` zeros, from zeroed memory (for a large buffer, fresh pages the kernel maps as they
    /// are first touched: no fill pass, and a tail that is never written never becomes resident).
    pub fn zeros(len: usize) -> Self {
        let n = lines_for::<T>(len);
        if n == 0 {
            return AlignedVec { len, ..Default::default() };
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
        AlignedVec { lines, len, _t: PhantomData }
    }

    /// Sets the length to `len`, keeping the first min(len, old) elements; elements past the
    /// old length read as zero or as what an earlier, longer length left there. Never shrinks
    /// the storage.
    pub fn resize(&mut self, len: usize) {
        let n = lines_for::<T>(len);
        if n > self.lines.len() {
            self.lines.resize(n, ZERO_LINE);
        }
        self.len = len;
    }
}

impl<T: Plain + PartialEq> PartialEq for AlignedVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl<T: Plain> std::ops::Deref for AlignedVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `lines` holds ≥ len·size_of::<T>() initialized bytes, 64-byte aligned, and every
        // bit pattern is a valid T (`Plain`).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }
}

impl<T: Plain> std::ops::DerefMut for AlignedVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
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

    /// Growing keeps the elements and the alignment; u32 and u16 are sized in their own units.
    #[test]
    fn resize_keeps_contents_and_alignment() {
        let mut v = AlignedVec::<u32>::zeros(5);
        v.iter_mut().enumerate().for_each(|(i, x)| *x = i as u32 + 1);
        for len in [3usize, 40, 1000, 7] {
            v.resize(len);
            assert_eq!(v.len(), len);
            assert_eq!(v.as_ptr() as usize % 64, 0);
            assert_eq!(&v[..3], &[1, 2, 3]);
        }
        assert!(v[5..7].iter().all(|&x| x == 0), "grown elements read zero");
        let h = AlignedVec::<u16>::zeros(33);
        assert_eq!((h.len(), h.lines.len()), (33, 2));
    }
}
