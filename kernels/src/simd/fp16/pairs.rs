//! The fp16 engine of the bf16 module's pair layout ([`crate::bf16::Half::F16`]): a pack's
//! u32 holds the fp16 halves of rows 2kk and 2kk+1 (instead of bf16 ones), A's pair is broadcast
//! as one dword and `vfmadd231ph` multiplies both halves of every lane, so each lane sums the even
//! or the odd products in fp16; a flush adds the two into C in f32.

use super::{available, pack_row, to_f16};

/// Pair steps of k (two products per lane each) summed in fp16 by the pair product before a flush.
pub const FLUSH_PAIRS: usize = 64;

/// Rounds `src` into `dst`'s fp16 pair layout (`dst[kk]` = (src[2kk], src[2kk+1]), the high
/// half zero past the end), as [`crate::bf16::pack_row`] does with bf16; `dst.len()` =
/// ⌈src.len()/2⌉.
pub(crate) fn pack_row_pairs(src: &[f32], dst: &mut [u32]) {
    let k = src.len();
    assert_eq!(dst.len(), k.div_ceil(2), "fp16::pack_row_pairs: shapes");
    let even = k / 2 * 2;
    // SAFETY: a u32 slice reinterpreted as twice as many u16 (alignment of u16 ≤ u32); on
    // little-endian x86 the low half of dst[kk] is element 2kk.
    let halves = unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut u16, 2 * dst.len()) };
    pack_row(&src[..even], &mut halves[..even]);
    if k % 2 == 1 {
        dst[k / 2] = to_f16(src[k - 1]) as u32;
    }
}

/// Two rows as one fp16 pair row: `dst[c]` = (lo[c], hi[c] or 0), the layout of a
/// [`crate::bf16::PackedB`] pair row.
pub(crate) fn pack_pair(lo: &[f32], hi: Option<&[f32]>, dst: &mut [u32]) {
    let n = lo.len();
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: avx512f checked; whole 16-column blocks of the rows and `dst`.
        done = unsafe { x86::interleave_blocks(lo, hi, dst) };
    }
    for c in done..n {
        let h = hi.map_or(0, |h| to_f16(h[c]) as u32);
        dst[c] = to_f16(lo[c]) as u32 | h << 16;
    }
}

/// C (rows × n) (+)= A·B on the bf16 module's pair layout holding fp16 halves: A's pair (r, kk) at
/// `ap[r·rs + kk·ks]`, B's pair row kk at `b[kk·n..]`, k2 pair rows; n a multiple of 16 and
/// [`available`] (checked). Each fp16 lane sums the even or the odd products of up to
/// [`FLUSH_PAIRS`] pairs before the two are added into C in f32.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pair_gemm(
    c: &mut [f32],
    rows: usize,
    ap: &[u32],
    rs: usize,
    ks: usize,
    k2: usize,
    b: &[u32],
    n: usize,
    accumulate: bool,
) {
    assert!(available() && n.is_multiple_of(16), "fp16::pair_gemm: needs AVX512-FP16 and n = 16·j");
    assert!(c.len() >= rows * n && b.len() >= k2 * n, "fp16::pair_gemm: shapes");
    if rows == 0 || n == 0 {
        return;
    }
    assert!(k2 == 0 || ap.len() > (rows - 1) * rs + (k2 - 1) * ks, "fp16::pair_gemm: A shape");
    if !accumulate {
        c[..rows * n].fill(0.0);
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: avx512f + avx512fp16 checked; every index the kernel reads is bounded above.
    unsafe {
        x86::pair_block(c, rows, &x86::Pairs { ap, rs, ks, k2, b, n })
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::FLUSH_PAIRS;
    use std::arch::x86_64::*;

    /// The operands of one pair product: A's pair (r, kk) at `ap[r·rs + kk·ks]`, k2 pair rows, B's
    /// pair row kk at `b[kk·n..]`.
    #[derive(Clone, Copy)]
    pub(super) struct Pairs<'a> {
        pub(super) ap: &'a [u32],
        pub(super) rs: usize,
        pub(super) ks: usize,
        pub(super) k2: usize,
        pub(super) b: &'a [u32],
        pub(super) n: usize,
    }
    /// Converts whole 16-column blocks of two rows into fp16 pairs (`lo` in the low halves, `hi`
    /// or zero in the high ones); returns columns done.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn interleave_blocks(lo: &[f32], hi: Option<&[f32]>, dst: &mut [u32]) -> usize {
        const R: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        let blocks = lo.len().min(dst.len()) / 16;
        for b in 0..blocks {
            // SAFETY: block b covers lo/hi[16b..16b+16] and dst[16b..16b+16], in bounds.
            unsafe {
                let mut v = _mm512_cvtepu16_epi32(_mm512_cvtps_ph::<R>(_mm512_loadu_ps(lo.as_ptr().add(16 * b))));
                if let Some(hi) = hi {
                    let h = _mm512_cvtepu16_epi32(_mm512_cvtps_ph::<R>(_mm512_loadu_ps(hi.as_ptr().add(16 * b))));
                    v = _mm512_or_si512(v, _mm512_slli_epi32::<16>(h));
                }
                _mm512_storeu_si512(dst.as_mut_ptr().add(16 * b) as *mut _, v);
            }
        }
        16 * blocks
    }

    /// C[p..p+16] += the even plus the odd fp16 lanes of the pair accumulator `h`, in f32.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn add_pairs(p: *mut f32, h: __m512i) {
        // SAFETY: the caller passes 16 writable floats at p.
        unsafe {
            let even = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h));
            let odd = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(h)));
            _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), _mm512_add_ps(even, odd)));
        }
    }

    /// [`super::pair_gemm`]: 12-row × 32-column tiles in assembly, the rest in 1–4-row ×
    /// 16-column intrinsic tiles.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pair_block(c: &mut [f32], rows: usize, p: &Pairs<'_>) {
        let n = p.n;
        let mut r = 0;
        // SAFETY: tiles stay inside the bounds the caller asserted.
        unsafe {
            while r + 12 <= rows {
                let mut col = 0;
                while col + 32 <= n {
                    pair_tile12(c, r, col, p);
                    col += 32;
                }
                while col < n {
                    for q in 0..3 {
                        pair_tile::<4>(c, r + 4 * q, col, p);
                    }
                    col += 16;
                }
                r += 12;
            }
            while r < rows {
                let t = (rows - r).min(4);
                for col in (0..n).step_by(16) {
                    match t {
                        4 => pair_tile::<4>(c, r, col, p),
                        3 => pair_tile::<3>(c, r, col, p),
                        2 => pair_tile::<2>(c, r, col, p),
                        _ => pair_tile::<1>(c, r, col, p),
                    }
                }
                r += t;
            }
        }
    }

    /// C[r0..r0+R, col..col+16] += A·B, pair by pair: R accumulators, one `vpbroadcastd` of A's
    /// pair per row and step.
    #[target_feature(enable = "avx512f")]
    unsafe fn pair_tile<const R: usize>(c: &mut [f32], r0: usize, col: usize, p: &Pairs<'_>) {
        let Pairs { ap, rs, ks, k2, b, n } = *p;
        // SAFETY: rows r0..r0+R, pairs < k2, columns col..col+16 ≤ n: in bounds by the caller.
        unsafe {
            let mut k0 = 0;
            while k0 < k2 {
                let k1 = (k0 + FLUSH_PAIRS).min(k2);
                let mut acc = [_mm512_setzero_si512(); R];
                for kk in k0..k1 {
                    let bv = _mm512_loadu_si512(b.as_ptr().add(kk * n + col) as *const _);
                    for (i, a) in acc.iter_mut().enumerate() {
                        let x = _mm512_set1_epi32(*ap.get_unchecked((r0 + i) * rs + kk * ks) as i32);
                        std::arch::asm!(
                            "vfmadd231ph {acc}, {b}, {x}",
                            acc = inout(zmm_reg) *a,
                            b = in(zmm_reg) bv,
                            x = in(zmm_reg) x,
                            options(pure, nomem, nostack),
                        );
                    }
                }
                for (i, &h) in acc.iter().enumerate() {
                    add_pairs(c.as_mut_ptr().add((r0 + i) * n + col), h);
                }
                k0 = k1;
            }
        }
    }

    /// C[r0..r0+12, col..col+32] += A·B with the pair loop in one assembly block: accumulators
    /// zmm0–23 (row i, 16-column half v in zmm(2i + v)), B's two pair slices in zmm24/25, A's pair
    /// broadcast into zmm26/27 (`vpbroadcastd` from memory: a load, no shuffle uop).
    #[target_feature(enable = "avx512f")]
    unsafe fn pair_tile12(c: &mut [f32], r0: usize, col: usize, p: &Pairs<'_>) {
        let Pairs { ap, rs, ks, k2, b, n } = *p;
        let (s, ks4, bs) = (4 * rs, 4 * ks, 4 * n);
        let mut k0 = 0;
        while k0 < k2 {
            let steps = FLUSH_PAIRS.min(k2 - k0);
            let mut acc = [_mm512_setzero_si512(); 24];
            // SAFETY: rows r0..r0+12 of A (pair stride s bytes between rows, ks4 between steps)
            // and B pair rows k0..k0+steps at columns col..col+32 ≤ n are in bounds by the
            // caller; the block only reads memory and writes the named registers.
            unsafe {
                let p = ap.as_ptr().add(r0 * rs + k0 * ks);
                let pb = b.as_ptr().add(k0 * n + col);
                std::arch::asm!(
                    "2:",
                    "vmovups zmm24, [{pb}]",
                    "vmovups zmm25, [{pb} + 64]",
                    "vpbroadcastd zmm26, dword ptr [{p}]",
                    "vpbroadcastd zmm27, dword ptr [{p} + {s}]",
                    "vfmadd231ph zmm0, zmm24, zmm26",
                    "vfmadd231ph zmm1, zmm25, zmm26",
                    "vfmadd231ph zmm2, zmm24, zmm27",
                    "vfmadd231ph zmm3, zmm25, zmm27",
                    "vpbroadcastd zmm26, dword ptr [{p} + 2*{s}]",
                    "vpbroadcastd zmm27, dword ptr [{p} + {s3}]",
                    "vfmadd231ph zmm4, zmm24, zmm26",
                    "vfmadd231ph zmm5, zmm25, zmm26",
                    "vfmadd231ph zmm6, zmm24, zmm27",
                    "vfmadd231ph zmm7, zmm25, zmm27",
                    "vpbroadcastd zmm26, dword ptr [{q}]",
                    "vpbroadcastd zmm27, dword ptr [{q} + {s}]",
                    "vfmadd231ph zmm8, zmm24, zmm26",
                    "vfmadd231ph zmm9, zmm25, zmm26",
                    "vfmadd231ph zmm10, zmm24, zmm27",
                    "vfmadd231ph zmm11, zmm25, zmm27",
                    "vpbroadcastd zmm26, dword ptr [{q} + 2*{s}]",
                    "vpbroadcastd zmm27, dword ptr [{q} + {s3}]",
                    "vfmadd231ph zmm12, zmm24, zmm26",
                    "vfmadd231ph zmm13, zmm25, zmm26",
                    "vfmadd231ph zmm14, zmm24, zmm27",
                    "vfmadd231ph zmm15, zmm25, zmm27",
                    "vpbroadcastd zmm26, dword ptr [{t}]",
                    "vpbroadcastd zmm27, dword ptr [{t} + {s}]",
                    "vfmadd231ph zmm16, zmm24, zmm26",
                    "vfmadd231ph zmm17, zmm25, zmm26",
                    "vfmadd231ph zmm18, zmm24, zmm27",
                    "vfmadd231ph zmm19, zmm25, zmm27",
                    "vpbroadcastd zmm26, dword ptr [{t} + 2*{s}]",
                    "vpbroadcastd zmm27, dword ptr [{t} + {s3}]",
                    "vfmadd231ph zmm20, zmm24, zmm26",
                    "vfmadd231ph zmm21, zmm25, zmm26",
                    "vfmadd231ph zmm22, zmm24, zmm27",
                    "vfmadd231ph zmm23, zmm25, zmm27",
                    "add {p}, {ks4}",
                    "add {q}, {ks4}",
                    "add {t}, {ks4}",
                    "add {pb}, {bs}",
                    "dec {cnt}",
                    "jnz 2b",
                    p = inout(reg) p => _,
                    q = inout(reg) p.add(4 * rs) => _,
                    t = inout(reg) p.add(8 * rs) => _,
                    pb = inout(reg) pb => _,
                    cnt = inout(reg) steps => _,
                    s = in(reg) s,
                    s3 = in(reg) 3 * s,
                    ks4 = in(reg) ks4,
                    bs = in(reg) bs,
                    inout("zmm0") acc[0], inout("zmm1") acc[1], inout("zmm2") acc[2], inout("zmm3") acc[3],
                    inout("zmm4") acc[4], inout("zmm5") acc[5], inout("zmm6") acc[6], inout("zmm7") acc[7],
                    inout("zmm8") acc[8], inout("zmm9") acc[9], inout("zmm10") acc[10], inout("zmm11") acc[11],
                    inout("zmm12") acc[12], inout("zmm13") acc[13], inout("zmm14") acc[14], inout("zmm15") acc[15],
                    inout("zmm16") acc[16], inout("zmm17") acc[17], inout("zmm18") acc[18], inout("zmm19") acc[19],
                    inout("zmm20") acc[20], inout("zmm21") acc[21], inout("zmm22") acc[22], inout("zmm23") acc[23],
                    out("zmm24") _, out("zmm25") _, out("zmm26") _, out("zmm27") _,
                    options(readonly, nostack),
                );
                for (j, &h) in acc.iter().enumerate() {
                    add_pairs(c.as_mut_ptr().add((r0 + j / 2) * n + col + 16 * (j % 2)), h);
                }
            }
            k0 += steps;
        }
    }
}
