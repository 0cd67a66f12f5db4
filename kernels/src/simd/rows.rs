//! Row-wise f32 operations of the MLP's flip paths: y = a·x, y += a·x, y −= x, y *= a, y = u − v,
//! y = b + t·w, and the dot product a·b. Written once as plain loops and compiled per ISA like the other primitives: the
//! default build targets baseline x86-64, where these loops run 4 wide (SSE); dispatched, they
//! run 16 wide on AVX-512. Same operations in the same order on every ISA (Rust never contracts
//! a·x + y into an FMA), so every ISA gives the same bits.

use super::{detected, isa, Isa};

/// Defines `$name(args)` on the run-time ISA and `$with(isa, args) -> Option<()>` (`None` when
/// this CPU lacks the ISA) from one loop body. The per-ISA clones live in a module named like the
/// function (modules and functions have separate namespaces); `$name` skips `$with`'s feature
/// check because `isa()` never exceeds the detected ISA (these run once per row).
macro_rules! row_op {
    ($(#[$m:meta])* $name:ident, $with:ident, ($($arg:ident: $ty:ty),*), $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[inline(always)]
            fn body($($arg: $ty),*) $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            unsafe fn v512($($arg: $ty),*) {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn v256($($arg: $ty),*) {
                body($($arg),*)
            }

            /// Runs on `isa`, which the caller has checked against the CPU.
            #[inline]
            pub(super) fn run(isa: Isa, $($arg: $ty),*) {
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the caller checked that the CPU has AVX-512 F/DQ/VL.
                    Isa::Avx512 => unsafe { v512($($arg),*) },
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the caller checked that the CPU has AVX2 and FMA.
                    Isa::Avx2 => unsafe { v256($($arg),*) },
                    _ => body($($arg),*),
                }
            }
        }

        $(#[$m])*
        #[inline]
        pub fn $name($($arg: $ty),*) {
            $name::run(isa(), $($arg),*)
        }

        #[doc = concat!("[`", stringify!($name), "`] with an explicit ISA; `None` if this CPU lacks it.")]
        pub fn $with(isa: Isa, $($arg: $ty),*) -> Option<()> {
            if isa > detected() {
                return None;
            }
            $name::run(isa, $($arg),*);
            Some(())
        }
    };
}

row_op!(
    /// yₖ = a·xₖ.
    scale_into,
    scale_into_with,
    (y: &mut [f32], a: f32, x: &[f32]),
    {
        assert_eq!(y.len(), x.len(), "scale_into: lengths");
        y.iter_mut().zip(x).for_each(|(o, &v)| *o = a * v);
    }
);

row_op!(
    /// yₖ += a·xₖ.
    axpy,
    axpy_with,
    (y: &mut [f32], a: f32, x: &[f32]),
    {
        assert_eq!(y.len(), x.len(), "axpy: lengths");
        y.iter_mut().zip(x).for_each(|(o, &v)| *o += a * v);
    }
);

row_op!(
    /// *out = Σₖ aₖ·bₖ as 16 partial sums (element k into lane k mod 16) added in a fixed tree, so
    /// every ISA gives the same bits; O(len). The output energy E = b_L + z_L·W_L of each row.
    dot_into,
    dot_into_with,
    (out: &mut f32, a: &[f32], b: &[f32]),
    {
        assert_eq!(a.len(), b.len(), "dot_into: lengths");
        let mut acc = [0f32; 16];
        let (ac, bc) = (a.chunks_exact(16), b.chunks_exact(16));
        let (ar, br) = (ac.remainder(), bc.remainder());
        for (x, y) in ac.zip(bc) {
            for k in 0..16 {
                acc[k] += x[k] * y[k];
            }
        }
        for (k, (x, y)) in ar.iter().zip(br).enumerate() {
            acc[k] += x * y;
        }
        let mut w = 8;
        while w > 0 {
            for k in 0..w {
                acc[k] += acc[k + w];
            }
            w /= 2;
        }
        *out = acc[0];
    }
);

row_op!(
    /// yₖ −= xₖ.
    sub_assign,
    sub_assign_with,
    (y: &mut [f32], x: &[f32]),
    {
        assert_eq!(y.len(), x.len(), "sub_assign: lengths");
        y.iter_mut().zip(x).for_each(|(o, &v)| *o -= v);
    }
);

row_op!(
    /// yₖ *= a.
    scale,
    scale_with,
    (y: &mut [f32], a: f32),
    {
        y.iter_mut().for_each(|o| *o *= a);
    }
);

row_op!(
    /// yₖ = uₖ − vₖ.
    diff_into,
    diff_into_with,
    (y: &mut [f32], u: &[f32], v: &[f32]),
    {
        assert!(y.len() == u.len() && y.len() == v.len(), "diff_into: lengths");
        y.iter_mut().zip(u).zip(v).for_each(|((o, &a), &b)| *o = a - b);
    }
);

row_op!(
    /// yₖ = bₖ + t·wₖ (a flipped first-layer row: base pre-activation ± a row of W₀ᵀ).
    add_scaled_into,
    add_scaled_into_with,
    (y: &mut [f32], b: &[f32], t: f32, w: &[f32]),
    {
        assert!(y.len() == b.len() && y.len() == w.len(), "add_scaled_into: lengths");
        y.iter_mut().zip(b).zip(w).for_each(|((o, &bb), &ww)| *o = bb + t * ww);
    }
);
