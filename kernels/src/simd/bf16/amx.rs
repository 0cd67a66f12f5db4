//! The same bf16 products on Intel AMX (Sapphire Rapids and later): `tdpbf16ps` multiplies a
//! 16 × 32 bf16 tile of A by a 32 × 16 tile of B (in [`PackedB`]'s pair layout, 16 pair rows of
//! 64 bytes) into a 16 × 16 f32 tile, 8192 multiply-adds per instruction — about ten times the
//! f32 FMA rate of the same core.
//!
//! A block of C is 32 × 32 (tiles 0–3), fed by two A tiles (4, 5) and two B tiles (6, 7) per step
//! of 16 pairs along k; 16-row or 16-column edges use one tile of each. k is padded to a multiple
//! of 16 pairs with zeros ([`PackedB`] keeps zero pair rows beyond k; A is copied when its rows
//! are not). Rows not a multiple of 16 go through a zero-padded copy of A and a scratch C tile.
//! The products and f32 sums match the AVX512-BF16 path up to the order of the f32 additions.
//!
//! Stable Rust has no AMX intrinsics, so the tile instructions are inline assembly; the tile
//! registers are invisible to the compiler, which never uses them itself. Each call configures
//! the tiles on its thread (`ldtilecfg`) and releases them before returning.

use super::PackedB;
use crate::aligned::AlignedVec;
use std::arch::asm;
use std::cell::RefCell;
use std::sync::OnceLock;

/// Pairs per tile row (64 bytes) and rows per tile.
const T: usize = 16;

/// True when the CPU has AMX-TILE and AMX-BF16, the OS enables their state (XCR0 bits 17, 18)
/// and granted this process the tile data (Linux `arch_prctl(ARCH_REQ_XCOMP_PERM)`), unless
/// `RMBENCH_AMX=0`. Checked once.
pub fn usable() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let off = std::env::var("RMBENCH_AMX").is_ok_and(|v| v == "0" || v == "off");
        !off && cpu_and_os_support() && request_permission()
    })
}

fn cpu_and_os_support() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: cpuid exists on every x86_64 CPU (a safe function since Rust 1.87, unsafe before).
    #[allow(unused_unsafe)]
    let (l1, l7) = unsafe { (__cpuid(1), __cpuid_count(7, 0)) };
    let (amx_bf16, amx_tile, osxsave) = (l7.edx >> 22 & 1 == 1, l7.edx >> 24 & 1 == 1, l1.ecx >> 27 & 1 == 1);
    if !(amx_bf16 && amx_tile && osxsave) {
        return false;
    }
    let (lo, _hi): (u32, u32);
    // SAFETY: OSXSAVE is set, so xgetbv is enabled; XCR0 is register 0.
    unsafe { asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") _hi, options(nomem, nostack)) };
    lo >> 17 & 3 == 3
}

#[cfg(target_os = "linux")]
fn request_permission() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain system call with integer arguments.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn request_permission() -> bool {
    false
}

/// The 64-byte tile configuration: palette 1, tiles 0–7 all 16 rows × 64 bytes.
#[repr(C, align(64))]
struct Config {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

const CONFIG: Config = {
    let mut c = Config { palette: 1, start_row: 0, reserved: [0; 14], colsb: [0; 16], rows: [0; 16] };
    let mut t = 0;
    while t < 8 {
        c.colsb[t] = 64;
        c.rows[t] = T as u8;
        t += 1;
    }
    c
};

macro_rules! load {
    ($t:literal, $p:expr, $stride:expr) => {
        asm!(concat!("tileloadd tmm", $t, ", [{p} + {s}]"), p = in(reg) $p, s = in(reg) $stride,
             options(nostack, readonly))
    };
}
macro_rules! store {
    ($t:literal, $p:expr, $stride:expr) => {
        asm!(concat!("tilestored [{p} + {s}], tmm", $t), p = in(reg) $p, s = in(reg) $stride, options(nostack))
    };
}
macro_rules! zero {
    ($t:literal) => {
        asm!(concat!("tilezero tmm", $t), options(nomem, nostack))
    };
}
macro_rules! dot {
    ($c:literal, $a:literal, $b:literal) => {
        asm!(concat!("tdpbf16ps tmm", $c, ", tmm", $a, ", tmm", $b), options(nomem, nostack))
    };
}

/// C (up to 32 × 32 at `c`, row stride `ldc` floats) (+)= A·B over `k2p` pairs (a multiple of 16):
/// A's rows at `a` (stride `lda` pairs, 16·(1+R2) rows), B's pair rows at `b` (stride `ldb`,
/// 16·(1+C2) columns).
///
/// # Safety
/// Tiles configured with [`CONFIG`] on this thread; every row and pair read or written in bounds.
#[inline(always)]
unsafe fn block<const R2: bool, const C2: bool>(
    c: *mut f32,
    ldc: usize,
    a: *const u32,
    lda: usize,
    b: *const u32,
    ldb: usize,
    k2p: usize,
    accumulate: bool,
) {
    let (sc, sa, sb) = (ldc * 4, lda * 4, ldb * 4);
    // SAFETY: the caller's bounds; tile numbers are literals matching CONFIG.
    unsafe {
        if accumulate {
            load!("0", c, sc);
            if C2 {
                load!("1", c.add(T), sc);
            }
            if R2 {
                load!("2", c.add(T * ldc), sc);
            }
            if R2 && C2 {
                load!("3", c.add(T * ldc + T), sc);
            }
        } else {
            zero!("0");
            zero!("1");
            zero!("2");
            zero!("3");
        }
        let mut kk = 0;
        while kk < k2p {
            load!("4", a.add(kk), sa);
            load!("6", b.add(kk * ldb), sb);
            if C2 {
                load!("7", b.add(kk * ldb + T), sb);
            }
            dot!("0", "4", "6");
            if C2 {
                dot!("1", "4", "7");
            }
            if R2 {
                load!("5", a.add(T * lda + kk), sa);
                dot!("2", "5", "6");
                if C2 {
                    dot!("3", "5", "7");
                }
            }
            kk += T;
        }
        store!("0", c, sc);
        if C2 {
            store!("1", c.add(T), sc);
        }
        if R2 {
            store!("2", c.add(T * ldc), sc);
        }
        if R2 && C2 {
            store!("3", c.add(T * ldc + T), sc);
        }
    }
}

/// Pairs of k per pass over a row block's columns in [`rows_by_tiles`]: a 32-row slice of A
/// (32 × 128 pairs, 16 KiB) stays in L1 while every column block of B streams past it.
const KC: usize = 128;

/// C (rows16 × n) (+)= A·B for rows a multiple of 16, A's k pairs padded to `k2p`; n a multiple
/// of 16. Per 32-row block, k runs in [`KC`]-pair slices, each over all column blocks (the C
/// tiles accumulate across slices), so A is read from L1 and only B from L2; with k2p ≤ KC this
/// is one pass.
///
/// # Safety
/// Tiles configured; `a` holds rows16 rows of stride `lda` ≥ k2p pairs; `c` rows16 × n.
unsafe fn rows_by_tiles(c: &mut [f32], rows16: usize, a: &[u32], lda: usize, b: &PackedB, k2p: usize, acc: bool) {
    let n = b.n;
    let (cp, ap, bp) = (c.as_mut_ptr(), a.as_ptr(), b.data.as_ptr());
    let mut r = 0;
    while r < rows16 {
        let r2 = rows16 - r >= 2 * T;
        let mut k0 = 0;
        while k0 < k2p {
            let kc = (k2p - k0).min(KC);
            let acc = acc || k0 > 0;
            let mut col = 0;
            while col < n {
                let c2 = n - col >= 2 * T;
                // SAFETY: rows r..r+16(·2) of A and C, columns col..col+16(·2) < n, pairs
                // k0..k0+kc ≤ k2p.
                unsafe {
                    let (cc, aa, bb) = (cp.add(r * n + col), ap.add(r * lda + k0), bp.add(k0 * n + col));
                    match (r2, c2) {
                        (true, true) => block::<true, true>(cc, n, aa, lda, bb, n, kc, acc),
                        (true, false) => block::<true, false>(cc, n, aa, lda, bb, n, kc, acc),
                        (false, true) => block::<false, true>(cc, n, aa, lda, bb, n, kc, acc),
                        (false, false) => block::<false, false>(cc, n, aa, lda, bb, n, kc, acc),
                    }
                }
                col += if c2 { 2 * T } else { T };
            }
            k0 += kc;
        }
        r += if r2 { 2 * T } else { T };
    }
}

thread_local! {
    /// Zero-padded copies of A and the C tail, reused across calls on this thread.
    static SCRATCH: RefCell<(AlignedVec<u32>, AlignedVec)> = RefCell::new(Default::default());
}

/// C (rows × n) (+)= A·B with A's row r, pair kk at `a[r·lda + kk·ks]` (`ks` = 1 for row packs;
/// `lda` = 1 and `ks` = m for the columns of a pack along k), B packed. n a multiple of 16.
pub(super) fn gemm(c: &mut [f32], rows: usize, a: &[u32], lda: usize, ks: usize, b: &PackedB, accumulate: bool) {
    let (k2, n) = (b.k.div_ceil(2), b.n);
    let k2p = k2.next_multiple_of(T);
    assert!(usable() && n.is_multiple_of(T) && b.data.len() >= k2p * n && c.len() >= rows * n, "amx::gemm: shapes");
    // Direct tile loads need row-major pairs already padded along k; otherwise copy A.
    let direct = ks == 1 && k2 == k2p;
    let rows16 = if direct { rows / T * T } else { 0 };
    assert!(rows16 == 0 || lda >= k2p && (rows16 - 1) * lda + k2p <= a.len(), "amx::gemm: A shapes");
    // SAFETY: tile configuration on this thread, released below; CONFIG is 64-byte aligned.
    unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
    if rows16 > 0 {
        // SAFETY: `direct`: rows16 rows of lda ≥ k2 = k2p pairs in `a`, rows16 × n in `c`.
        unsafe { rows_by_tiles(c, rows16, a, lda, b, k2p, accumulate) };
    }
    let rest = rows - rows16;
    if rest > 0 {
        SCRATCH.with_borrow_mut(|(ap, cp)| {
            let padded = rest.next_multiple_of(T);
            if ks == 1 {
                ap.resize(padded * k2p);
                ap.fill(0);
                for r in 0..rest {
                    let src = (rows16 + r) * lda;
                    ap[r * k2p..r * k2p + k2].copy_from_slice(&a[src..src + k2]);
                }
            } else {
                // Every element is written below.
                ap.resize(padded * k2p);
                assert!(lda == 1 && (k2 == 0 || rows16 + rest - 1 + (k2 - 1) * ks < a.len()), "amx::gemm: shapes");
                // SAFETY: AVX-512F comes with AMX here (the caller checked `available()`); the
                // last element read is in bounds (asserted), `ap` holds padded × k2p pairs.
                unsafe { transpose_pairs(a, rows16, ks, rest, k2, ap, k2p) };
            }
            if padded == rest {
                // Whole tiles of C (the weight gradient's 32-row blocks): no copy of C.
                // SAFETY: padded rows of k2p pairs in `ap`, rows16 + padded = rows rows in `c`.
                unsafe { rows_by_tiles(&mut c[rows16 * n..], padded, ap, k2p, b, k2p, accumulate) };
                return;
            }
            cp.resize(padded * n);
            if accumulate {
                cp[..rest * n].copy_from_slice(&c[rows16 * n..rows * n]);
            }
            // SAFETY: padded rows of k2p pairs in `ap`, padded × n in `cp`.
            unsafe { rows_by_tiles(cp, padded, ap, k2p, b, k2p, accumulate) };
            c[rows16 * n..rows * n].copy_from_slice(&cp[..rest * n]);
        });
    }
    // SAFETY: returns the tile state to init (no tile data kept across calls).
    unsafe { asm!("tilerelease", options(nomem, nostack)) };
}

/// `ap[r·k2p + kk]` = `a[start + r + kk·stride]` for r < rows, kk < k2, zero for r < rows
/// rounded up to 16 and kk < k2p: the columns of a pack along k as rows of pairs (the transpose
/// the weight-gradient product needs), in 16 × 16 blocks — 16 contiguous loads, a register
/// transpose (32- and 64-bit unpacks, two rounds of 128-bit lane shuffles), 16 stores.
///
/// # Safety
/// AVX-512F available; `start + (rows − 1) + (k2 − 1)·stride < a.len()`;
/// `ap.len()` ≥ rows.next_multiple_of(16)·k2p, k2p ≥ k2 a multiple of 16.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transpose_pairs(
    a: &[u32],
    start: usize,
    stride: usize,
    rows: usize,
    k2: usize,
    ap: &mut [u32],
    k2p: usize,
) {
    use std::arch::x86_64::*;
    for r0 in (0..rows).step_by(16) {
        let rmask: __mmask16 = if rows - r0 >= 16 { 0xFFFF } else { (1u16 << (rows - r0)) - 1 };
        for kk0 in (0..k2p).step_by(16) {
            // SAFETY: masked loads read a[start + r0 + j + kk·stride] only for r0 + j < rows and
            // kk < k2 (in bounds by the contract); stores write rows r0..r0+16 of `ap`, pairs
            // kk0..kk0+16 ≤ k2p.
            unsafe {
                let mut x = [_mm512_setzero_si512(); 16];
                for (i, xi) in x.iter_mut().enumerate() {
                    if kk0 + i < k2 {
                        let p = a.as_ptr().add(start + r0 + (kk0 + i) * stride) as *const i32;
                        *xi = _mm512_maskz_loadu_epi32(rmask, p);
                    }
                }
                let cols = super::x86::transpose16(&x);
                for (c, v) in cols.into_iter().enumerate() {
                    _mm512_storeu_si512(ap.as_mut_ptr().add((r0 + c) * k2p + kk0) as *mut _, v);
                }
            }
        }
    }
}

/// Register-only `tdpbf16ps` throughput of the calling thread in G multiply-adds per second
/// (four independent accumulator tiles), for about `millis` ms; `None` without AMX.
pub fn register_peak_gmacs(millis: u64) -> Option<f64> {
    if !usable() {
        return None;
    }
    let run = |iters: usize| {
        // SAFETY: AMX usable; configured and released here; tiles 4–7 are loaded from a zeroed
        // 1 KiB buffer.
        unsafe {
            let src = [0u32; T * T];
            asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly));
            zero!("0");
            zero!("1");
            zero!("2");
            zero!("3");
            load!("4", src.as_ptr(), 64usize);
            load!("5", src.as_ptr(), 64usize);
            load!("6", src.as_ptr(), 64usize);
            load!("7", src.as_ptr(), 64usize);
            for _ in 0..iters {
                dot!("0", "4", "6");
                dot!("1", "4", "7");
                dot!("2", "5", "6");
                dot!("3", "5", "7");
            }
            asm!("tilerelease", options(nomem, nostack));
        }
    };
    let mut iters = 1 << 10;
    loop {
        let t = std::time::Instant::now();
        run(iters);
        let e = t.elapsed().as_secs_f64();
        if e * 1e3 >= millis as f64 || iters > 1 << 30 {
            return Some(iters as f64 * 4.0 * (T * T * 2 * T) as f64 / e / 1e9);
        }
        iters *= 2;
    }
}
