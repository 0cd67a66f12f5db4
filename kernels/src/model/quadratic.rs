//! Quadratic (Boltzmann machine / Ising) energy E(x) = −(½ sᵀJs + hᵀs), s = 2x − 1.
//!
//! J is symmetric with a zero diagonal (re-imposed by `params_changed`). Everything is built on
//! the local field f = J·s = 2·Σ_{j: xⱼ=1} J[j,:] − rowsum(J): for whole rows a gather-add over
//! the set bits, 8 dense rows at a time as one tile (`tile_fields`); at drawn bits a dot product.

use super::{fill_uniform, layout, EnergyModel, ModelKind, TensorSpec};
use crate::aligned::AlignedVec;
use crate::bits::{for_each_one, spin, BitBatch};
use crate::dense::{gemm, Operand};
use crate::simd::{self, TILE_ROWS};
use crate::KernelError;
use rayon::prelude::*;
use std::sync::{Arc, OnceLock};

/// Quadratic energy over d bits: parameters `J` [d, d] and `h` [d].
#[derive(Clone, Debug)]
pub struct Quadratic {
    d: usize,
    tensors: Vec<TensorSpec>,
    params: Vec<f32>,
    /// Σⱼ J[i,j], refreshed by `params_changed`.
    rowsum: Vec<f32>,
    /// J in column strips for d ≥ [`TILE_FROM_D`] ([`Quadratic::column_strips`]), built on first
    /// use after `params_changed`.
    strips: OnceLock<Arc<AlignedVec>>,
    /// The previous parameters' strips, kept by `params_changed` for the next build (a fresh
    /// d² buffer cost page faults and zeroing: ≈ 14% of an update at d = 4096).
    spare: Spare,
}

/// A spare strips buffer; a clone starts empty.
#[derive(Debug, Default)]
struct Spare(std::sync::Mutex<Option<AlignedVec>>);

impl Clone for Spare {
    fn clone(&self) -> Self {
        Spare::default()
    }
}

impl Quadratic {
    /// A model with J entries uniform in ±`scale` (symmetrized, zero diagonal) and h = 0.
    pub fn random(d: usize, scale: f32, seed: u64) -> Self {
        let mut m = Self::zeros(d);
        fill_uniform(&mut m.params[..d * d], seed, scale);
        m.params_changed();
        m
    }

    /// The model with J = 0 and h = 0 (the uniform distribution).
    pub fn zeros(d: usize) -> Self {
        let tensors = layout(&[("J", &[d, d], false), ("h", &[d], false)]);
        Quadratic {
            d,
            tensors,
            params: vec![0.0; d * d + d],
            rowsum: vec![0.0; d],
            strips: OnceLock::new(),
            spare: Default::default(),
        }
    }

    /// A model from J (row-major d × d) and h; J must be symmetric (to 1e-6 relative) and finite.
    pub fn from_parts(j: &[f32], h: &[f32]) -> Result<Self, KernelError> {
        let d = h.len();
        if j.len() != d * d {
            return Err(KernelError::Tensor {
                name: "J".into(),
                problem: format!("expected {d}×{d} = {} elements, got {}", d * d, j.len()),
            });
        }
        let bad = |name: &str, v: &[f32]| v.iter().position(|x| !x.is_finite()).map(|k| (name.to_string(), k));
        if let Some((name, k)) = bad("J", j).or_else(|| bad("h", h)) {
            return Err(KernelError::Tensor { name, problem: format!("element {k} is not finite") });
        }
        for a in 0..d {
            for b in 0..a {
                let (x, y) = (j[a * d + b], j[b * d + a]);
                if (x - y).abs() > 1e-6 * x.abs().max(y.abs()).max(1.0) {
                    return Err(KernelError::Tensor {
                        name: "J".into(),
                        problem: format!("not symmetric at ({a}, {b}): {x} vs {y}"),
                    });
                }
            }
        }
        let mut m = Self::zeros(d);
        m.params[..d * d].copy_from_slice(j);
        m.params[d * d..].copy_from_slice(h);
        m.params_changed();
        Ok(m)
    }

    /// The coupling matrix J, row-major d × d.
    pub fn j(&self) -> &[f32] {
        &self.params[..self.d * self.d]
    }

    /// The field h.
    pub fn h(&self) -> &[f32] {
        &self.params[self.d * self.d..]
    }

    /// Local field f = J·s of one packed row: 2·Σ_{set j} J[j,:] − rowsum. O(popcount·d).
    pub fn local_field(&self, row: &[u64], f: &mut [f32]) {
        f.iter_mut().for_each(|v| *v = 0.0);
        simd::gather_add(row, self.j(), self.d, f);
        for (fi, r) in f.iter_mut().zip(&self.rowsum) {
            *fi = 2.0 * *fi - r;
        }
    }

    /// fᵢ = (J·s)ᵢ for one index: 2·(J[i,:]·x) − rowsumᵢ with x the row as 0/1 floats (`xf`), a
    /// vectorized dot product ([`simd::dot_into`]; d multiply-adds in 16 lanes instead of popcount
    /// scalar loads scattered over row i). O(d).
    fn local_field_at(&self, xf: &[f32], i: usize) -> f32 {
        let mut acc = 0f32;
        simd::dot_into(&mut acc, &self.j()[i * self.d..(i + 1) * self.d], xf);
        2.0 * acc - self.rowsum[i]
    }
}

/// Dimension from which the batched local fields take J in blocks (d² floats: 1 MiB at d = 512,
/// half the L2 here).
pub const TILE_FROM_D: usize = 512;

/// Columns of J per strip above [`TILE_FROM_D`] (one task's output columns; see
/// [`Quadratic::column_strips`]).
const BLOCK: usize = 256;

/// Rows of a strip that every tile of a task adds before the next rows (128 × 256 floats, 128
/// KiB): the tiles share them from cache while the strip streams in (d = 4096 delta_all, Zen 4,
/// three interleaved rounds: 7.7–8.2 ms at 256 rows, 7.2–7.5 at 128, 7.0–7.5 at 64).
const STEP_ROWS: usize = 128;

/// Rows and columns per block of the symmetrization in `params_changed` (two 16 KiB blocks).
const SYM: usize = 64;

/// Percent of ones from which 8 rows take the 8-row tile, which does a multiply-add per bit,
/// rather than a gather per row, which adds per set bit (the tile reads J once, the gathers once
/// per row): measured crossover ≈ 27–32% at d = 256 and 1024 on Zen 5, where the tile runs at
/// two 512-bit FMAs per cycle, and ≈ 30–35% at d = 256 on a Xeon with AMX.
const TILE_PERCENT: usize = 30;

/// [`TILE_PERCENT`] against the L1-blocked gather of [`Quadratic::fields_blocked`] (d ≥ 512),
/// which reuses each block of J from L1 and so costs less per set bit than the plain gather.
/// Measured crossovers (`models --bench quadratic_density`, n = 16 and 128): Zen 4, whose
/// 512-bit FMAs run at half rate, ≈ 65% ones (d = 1024 at 60% 2.0 ms gather vs 2.3 tile, at 70%
/// 2.4 vs 2.2); Xeon with AMX (full-rate FMAs) ≈ 75–80% (d = 4096, n = 128: at 70% 16.3 ms
/// gather vs 17.0 tile, at 90% 23.9 vs 17.6; at 50% 11.6 vs 16.7).
const TILE_PERCENT_BLOCKED: usize = 70;

/// Whether nr rows with `ones` set bits over `bits` columns are dense enough (≥ `percent`% ones,
/// at least 4 rows) for the 8-row tile. Only the AVX-512 tile shares J's rows; the other ISAs'
/// tile is the gather itself, so they always gather.
fn dense_enough(ones: usize, nr: usize, bits: usize, percent: usize) -> bool {
    nr >= 4 && simd::isa() == simd::Isa::Avx512 && 100 * ones >= percent * nr * bits
}

/// Whether rows r0..r0 + nr over `words` take the 8-row tile ([`dense_enough`]).
fn tile_pays(x: &BitBatch, (r0, nr): (usize, usize), words: std::ops::Range<usize>, percent: usize) -> bool {
    let bits = (64 * words.end).min(x.d()) - 64 * words.start;
    let ones: usize = (r0..r0 + nr).map(|r| simd::popcount(&x.row(r)[words.clone()]) as usize).sum();
    dense_enough(ones, nr, bits, percent)
}

/// out[k, :] += Σ_{set j} T[j, :] over the bits in `words` of rows r0 + k, k < nr (out: TILE_ROWS
/// × width; T row-major, `width` floats per row, j counted from the first bit of `words`): one
/// 8-row tile ([`add_tile`]) when [`dense_enough`], else a gather per row. Ascending j either way,
/// so the same bits. `xf`: ≥ 8 floats per bit.
fn add_set_rows(
    x: &BitBatch,
    (r0, nr): (usize, usize),
    words: std::ops::Range<usize>,
    (table, width): (&[f32], usize),
    xf: &mut [f32],
    out: &mut [f32],
) {
    let bits = (64 * words.end).min(x.d()) - 64 * words.start;
    let t = &table[..bits * width];
    if !tile_pays(x, (r0, nr), words.clone(), TILE_PERCENT) {
        for (k, o) in out.chunks_mut(width).take(nr).enumerate() {
            simd::gather_add_strided(&x.row(r0 + k)[words.clone()], t, width, width, o);
        }
        return;
    }
    add_tile(x, (r0, nr), words, t, xf, out);
}

/// The 8-row tile: out[k, :] += Σ_j xₖⱼ·T[j, :] with x ∈ {0, 1} as floats in `xf`
/// ([`simd::gather_add_tile`]; T: one row per bit of `words`, out: TILE_ROWS × width).
fn add_tile(
    x: &BitBatch,
    (r0, nr): (usize, usize),
    words: std::ops::Range<usize>,
    t: &[f32],
    xf: &mut [f32],
    out: &mut [f32],
) {
    let width = out.len() / TILE_ROWS;
    let xf = &mut xf[..t.len() / width * TILE_ROWS];
    xf.fill(0.0);
    for k in 0..nr {
        for_each_one(&x.row(r0 + k)[words.clone()], |i| xf[i * TILE_ROWS + k] = 1.0);
    }
    simd::gather_add_tile(out, xf, t, width);
}

/// Columns of one L1 block of [`gather_l1_blocked`]: the AVX-512 gather's 8-register block. With
/// the 64 rows of one bit word, 32 KiB (d = 4096, n = 16 `delta_all`, Zen 4, with the spread
/// prefetch: 3.6–3.9 ms at 64 rows, 5.9–6.1 at 32).
const L1_COLS: usize = 128;

/// The next rows of a strip, requested into L2 a piece at a time, spread evenly over `units` units
/// of the current step's work: all at once the requests overflowed the miss queue (d = 4096,
/// n = 16 `delta_all`, Zen 4: 6.3–6.7 ms without a prefetch, 5.4–5.6 with one burst per L1
/// block, 3.6–3.9 spread over the per-row gathers).
struct Ahead<'a>(std::slice::Chunks<'a, f32>);

impl<'a> Ahead<'a> {
    fn new(next: &'a [f32], units: usize) -> Self {
        Ahead(next.chunks(next.len().div_ceil(units.max(1)).max(16)))
    }

    /// Requests the pieces of `units` units of work.
    fn advance(&mut self, units: usize) {
        for piece in self.0.by_ref().take(units) {
            simd::prefetch_l2(piece);
        }
    }
}

/// out[k, :] += Σ_{set j} T[j, :] for the rows of every tile in `tiles` ((slot, r0, nr): out holds
/// one TILE_ROWS × width block per slot; T: the rows of J from bit 64·w0 on, one per bit of
/// `words`, `width` floats each), in blocks of one bit word (64 rows of T) × [`L1_COLS`] columns
/// that every row reuses from L1 (a gather per row over the whole step reads T from L2 once per
/// row). Per output element the same additions in ascending j as the unblocked gather, so the
/// same bits. One unit of `ahead` per row and block.
fn gather_l1_blocked(
    x: &BitBatch,
    tiles: &[(usize, usize, usize)],
    words: std::ops::Range<usize>,
    (table, width): (&[f32], usize),
    ahead: &mut Ahead,
    out: &mut [f32],
) {
    for w in words.clone() {
        let t = &table[64 * (w - words.start) * width..];
        for c in (0..width).step_by(L1_COLS) {
            let cw = L1_COLS.min(width - c);
            for &(slot, r0, nr) in tiles {
                let blk = &mut out[slot * TILE_ROWS * width..];
                for k in 0..nr {
                    ahead.advance(1);
                    let o = &mut blk[k * width + c..k * width + c + cw];
                    simd::gather_add_strided(&x.row(r0 + k)[w..w + 1], &t[c..], width, cw, o);
                }
            }
        }
    }
}

/// Rows of J requested ahead of the strided copy into column strips: each row of a strip is a
/// short run (1 KiB at BLOCK = 256), and without the hint the copy waited for memory one run at
/// a time (the copy inside every call before the strips were cached; d = 4096 delta_all, Zen 4,
/// interleaved runs: 8.9–10.0 ms without, 7.1–8.3 ms at 8 rows, 8.9–9.1 at 16, 8.9–10.3 at 32).
const PREFETCH_ROWS: usize = 8;

impl Quadratic {
    /// Local fields F[r, :] = J·s_r = 2·Σ_{set j} J[j, :] − rowsum, handed tile by tile of
    /// [`TILE_ROWS`] rows to `finish(out, r0, F[r0..r0 + nr, :])`, one item of `outs` per tile, in
    /// one parallel pass. Eight dense rows share each row of J ([`simd::gather_add_tile`]: a
    /// multiply-add by x ∈ {0, 1}, exact and in ascending j like the per-row gather), so J is read
    /// once per 8 rows instead of once per row, at the FMA rate; sparse rows, and tiles of fewer
    /// than 4 rows, gather per row ([`add_set_rows`]). Below [`TILE_FROM_D`] J stays in each
    /// core's L2; from it, see [`Quadratic::fields_blocked`]. Dense: O(n·d²) multiply-adds, n·d²/8
    /// loads of J.
    fn tile_fields<T: Send>(
        &self,
        x: &BitBatch,
        outs: impl IndexedParallelIterator<Item = T>,
        finish: impl Fn(T, usize, &[f32]) + Sync + Send,
    ) {
        let (n, d) = (x.n(), self.d);
        if n == 0 || d == 0 {
            return;
        }
        if d >= TILE_FROM_D {
            let f = self.fields_blocked(x);
            return outs.enumerate().for_each(|(t, o)| {
                let r0 = t * TILE_ROWS;
                finish(o, r0, &f[r0 * d..(r0 + TILE_ROWS).min(n) * d])
            });
        }
        outs.enumerate().for_each_init(
            || (vec![0f32; TILE_ROWS * d], vec![0f32; TILE_ROWS * d]),
            |(xf, f), (t, o)| {
                let (r0, nr) = (t * TILE_ROWS, TILE_ROWS.min(n - t * TILE_ROWS));
                f.fill(0.0);
                add_set_rows(x, (r0, nr), 0..x.stride(), (self.j(), d), xf, f);
                for fr in f.chunks_mut(d).take(nr) {
                    fr.iter_mut().zip(&self.rowsum).for_each(|(v, r)| *v = 2.0 * *v - r);
                }
                finish(o, r0, &f[..nr * d]);
            },
        );
    }

    /// All local fields (n × d) for d ≥ [`TILE_FROM_D`], J larger than half the L2: tasks own
    /// [`BLOCK`]-column strips (split by rows only when there are too few strips for the threads)
    /// and walk their strip of [`Quadratic::column_strips`] (contiguous) in [`STEP_ROWS`]-row
    /// steps, each read once per task and reused from cache by the task's tiles: an 8-row tile
    /// where its bits in the block are dense enough, else a gather per row. Same additions in
    /// the same order either way.
    fn fields_blocked(&self, x: &BitBatch) -> Vec<f32> {
        let (n, d) = (x.n(), self.d);
        let cols = self.column_strips();
        let tiles = n.div_ceil(TILE_ROWS);
        let strips = d.div_ceil(BLOCK);
        let groups = (2 * rayon::current_num_threads()).div_ceil(strips).clamp(1, tiles);
        let per = tiles.div_ceil(groups);
        let parts: Vec<(usize, usize, Vec<f32>)> = (0..strips * groups)
            .into_par_iter()
            .map(|task| {
                let (cb, g) = (task / groups, task % groups);
                let (c0, cw) = (cb * BLOCK, BLOCK.min(d - cb * BLOCK));
                let strip = &cols[c0 * d..c0 * d + d * cw];
                let ts = (g * per).min(tiles)..((g + 1) * per).min(tiles);
                let mut buf = vec![0f32; ts.len() * TILE_ROWS * cw];
                let mut xf = vec![0f32; TILE_ROWS * STEP_ROWS];
                let mut sparse = Vec::with_capacity(ts.len());
                let blocks = cw.div_ceil(L1_COLS);
                for j0 in (0..d).step_by(STEP_ROWS) {
                    let jw = STEP_ROWS.min(d - j0);
                    let words = j0 / 64..(j0 + jw).div_ceil(64);
                    let table = &strip[j0 * cw..(j0 + jw) * cw];
                    let next = &strip[(j0 + jw) * cw..((j0 + jw + STEP_ROWS) * cw).min(strip.len())];
                    let rows_in = |t: usize| TILE_ROWS.min(n - t * TILE_ROWS);
                    let units = words.len() * blocks * ts.clone().map(rows_in).sum::<usize>();
                    let mut ahead = Ahead::new(next, units);
                    sparse.clear();
                    for (slot, (t, bt)) in ts.clone().zip(buf.chunks_mut(TILE_ROWS * cw)).enumerate() {
                        let rows = (t * TILE_ROWS, rows_in(t));
                        if tile_pays(x, rows, words.clone(), TILE_PERCENT_BLOCKED) {
                            ahead.advance(words.len() * blocks * rows.1);
                            add_tile(x, rows, words.clone(), table, &mut xf, bt);
                        } else {
                            sparse.push((slot, rows.0, rows.1));
                        }
                    }
                    gather_l1_blocked(x, &sparse, words, (table, cw), &mut ahead, &mut buf);
                }
                (cb, ts.start, buf)
            })
            .collect();
        let mut f = vec![0f32; n * d];
        for (cb, t0, buf) in parts {
            let (c0, cw) = (cb * BLOCK, BLOCK.min(d - cb * BLOCK));
            for (r, br) in buf.chunks(cw).enumerate().take(n.saturating_sub(t0 * TILE_ROWS)) {
                let r = t0 * TILE_ROWS + r;
                for (v, (&b, &rs)) in f[r * d + c0..r * d + c0 + cw].iter_mut().zip(br.iter().zip(&self.rowsum[c0..])) {
                    *v = 2.0 * b - rs;
                }
            }
        }
        f
    }

    /// J in column strips: strip cb holds J[:, cb·BLOCK..cb·BLOCK + cw] row-major (d × cw floats
    /// from offset cb·BLOCK·d), so the tasks of [`Quadratic::fields_blocked`] read their columns
    /// as one contiguous run instead of d short runs d floats apart (rows that far apart also share
    /// few cache sets). Built on the first call after `params_changed` (one strided pass over J,
    /// d² floats of memory beside it) and shared by every later call with the same parameters.
    fn column_strips(&self) -> Arc<AlignedVec> {
        let d = self.d;
        super::cached(&self.strips, || {
            let j = self.j();
            let spare = self.spare.0.lock().unwrap_or_else(|e| e.into_inner()).take();
            let mut out = spare.filter(|v| v.len() == d * d).unwrap_or_else(|| AlignedVec::zeros(d * d));
            out.par_chunks_mut(BLOCK * d).enumerate().for_each(|(cb, strip)| {
                let (c0, cw) = (cb * BLOCK, BLOCK.min(d - cb * BLOCK));
                for (r, row) in strip.chunks_mut(cw).enumerate() {
                    if r + PREFETCH_ROWS < d {
                        let ahead = (r + PREFETCH_ROWS) * d + c0;
                        simd::prefetch(&j[ahead..ahead + cw]);
                    }
                    row.copy_from_slice(&j[r * d + c0..r * d + c0 + cw]);
                }
            });
            Arc::new(out)
        })
        .clone()
    }

    /// All local fields, row-major n × d (see [`Quadratic::tile_fields`]).
    #[cfg(test)]
    fn fields(&self, x: &BitBatch) -> Vec<f32> {
        let d = self.d;
        let mut f = vec![0f32; x.n() * d];
        self.tile_fields(x, f.par_chunks_mut((TILE_ROWS * d).max(1)), |o, _, fr| o.copy_from_slice(fr));
        f
    }
}

impl EnergyModel for Quadratic {
    fn kind(&self) -> ModelKind {
        ModelKind::Quadratic
    }
    /// It keeps only ΔE per flip: exact RM's whole batch in one call up to 2¹⁸ flips, so J's
    /// gradient is one GEMM over all rows instead of d×d read and written once per 16 rows.
    fn flip_chunk_hint(&self) -> usize {
        1 << 18
    }
    fn site_state(&self, row: &[u64]) -> Option<Box<dyn super::SiteState + '_>> {
        Some(Box::new(site::QuadraticSite::new(self, row)))
    }
    fn dim(&self) -> usize {
        self.d
    }
    fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }
    fn params(&self) -> &[f32] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// J ← (J + Jᵀ)/2 with zero diagonal; refresh row sums.
    fn params_changed(&mut self) {
        let d = self.d;
        let j = &mut self.params[..d * d];
        // J ← (J + Jᵀ)/2 with a zero diagonal, in SYM × SYM block pairs: walking whole columns
        // (one cache line per element, d floats apart) and a sequential row sum took 165 ms at
        // d = 4096 (`cargo bench -p rmbench-benches --bench models --
        // quadratic/delta_all_after_update`). Off the diagonal, the mirror block is transposed
        // into `t` so both sides are walked along rows. Same pair averages, so the same bits.
        let mut t = vec![0f32; SYM * SYM];
        for ab in (0..d).step_by(SYM) {
            let ha = SYM.min(d - ab);
            for bb in (0..ab).step_by(SYM) {
                let wb = SYM.min(d - bb);
                // t[a][b] = J[bb + b, ab + a]
                for b in 0..wb {
                    let src = &j[(bb + b) * d + ab..(bb + b) * d + ab + ha];
                    for (a, &v) in src.iter().enumerate() {
                        t[a * SYM + b] = v;
                    }
                }
                for a in 0..ha {
                    let row = &mut j[(ab + a) * d + bb..(ab + a) * d + bb + wb];
                    row.iter_mut().zip(&t[a * SYM..a * SYM + wb]).for_each(|(x, &y)| *x = 0.5 * (*x + y));
                    t[a * SYM..a * SYM + wb].copy_from_slice(row);
                }
                for b in 0..wb {
                    let dst = &mut j[(bb + b) * d + ab..(bb + b) * d + ab + ha];
                    for (a, v) in dst.iter_mut().enumerate() {
                        *v = t[a * SYM + b];
                    }
                }
            }
            for a in ab..ab + ha {
                for b in ab..a {
                    let m = 0.5 * (j[a * d + b] + j[b * d + a]);
                    j[a * d + b] = m;
                    j[b * d + a] = m;
                }
                j[a * d + a] = 0.0;
            }
        }
        self.rowsum = (0..d).map(|a| simd::sum(&j[a * d..(a + 1) * d])).collect();
        if let Some(old) = self.strips.take().and_then(|a| Arc::try_unwrap(a).ok()) {
            *self.spare.0.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(old);
        }
    }

    /// E = −(½ sᵀf + hᵀs) with f from `tile_fields`. O(n·d²/8) loads of J.
    fn energy(&self, x: &BitBatch, out: &mut [f32]) {
        let d = self.d;
        if d == 0 {
            return out.fill(0.0);
        }
        let h = self.h();
        self.tile_fields(x, out.par_chunks_mut(TILE_ROWS), |e, r0, f| {
            for (k, (e, f)) in e.iter_mut().zip(f.chunks(d)).enumerate() {
                let row = x.row(r0 + k);
                *e = -(0..d).map(|i| spin(row, i) * (0.5 * f[i] + h[i])).sum::<f32>();
            }
        });
    }

    /// ΔEᵢ = 2·sᵢ·(fᵢ + hᵢ) with f = J·s from `tile_fields`. O(n·d²/8) loads of J.
    fn delta_all(&self, x: &BitBatch, out: &mut [f32]) {
        let d = self.d;
        if d == 0 {
            return;
        }
        let h = self.h();
        self.tile_fields(x, out.par_chunks_mut(TILE_ROWS * d), |o, r0, f| {
            for (k, (o, f)) in o.chunks_mut(d).zip(f.chunks(d)).enumerate() {
                // 64 bits at a time so the spins sᵢ = 2xᵢ − 1 vectorize.
                for (((&w, o), f), h) in x.row(r0 + k).iter().zip(o.chunks_mut(64)).zip(f.chunks(64)).zip(h.chunks(64))
                {
                    for (b, ((o, &f), &h)) in o.iter_mut().zip(f).zip(h).enumerate() {
                        let s = ((w >> b) & 1) as f32 * 2.0 - 1.0;
                        *o = 2.0 * s * (f + h);
                    }
                }
            }
        });
    }

    /// ΔEᵢ = 2·sᵢ·(fᵢ + hᵢ) at s chosen i, fᵢ a dot product of row i of J with the row's bits
    /// unpacked once per row; O(n·s·d) multiply-adds.
    fn delta_at(&self, x: &BitBatch, idx: &[u32], out: &mut [f32]) {
        let (n, d) = (x.n(), self.d);
        if n == 0 || idx.is_empty() {
            return;
        }
        let s = idx.len() / n;
        // Every row listing all d flips in order (exact RM's training step): the all-flip kernel,
        // which reads J once per 8 rows instead of once per row.
        if super::lists_every_flip_in_order(idx, s, d) {
            return self.delta_all(x, out);
        }
        out.par_chunks_mut(s).enumerate().for_each_init(
            || vec![0f32; d],
            |xf, (r, o)| {
                let row = x.row(r);
                xf.fill(0.0);
                for_each_one(row, |j| xf[j] = 1.0);
                for (k, &i) in idx[r * s..(r + 1) * s].iter().enumerate() {
                    let i = i as usize;
                    o[k] = 2.0 * spin(row, i) * (self.local_field_at(xf, i) + self.h()[i]);
                }
            },
        );
    }

    /// ∂E/∂xᵢ = 2·∂E/∂sᵢ = −2·(fᵢ + hᵢ), f from `tile_fields`. O(n·d²/8) loads of J.
    fn input_grad(&self, x: &BitBatch, energy: &mut [f32], grad: &mut [f32]) {
        let d = self.d;
        if d == 0 {
            return energy.fill(0.0);
        }
        let h = self.h();
        let outs = grad.par_chunks_mut(TILE_ROWS * d).zip(energy.par_chunks_mut(TILE_ROWS));
        self.tile_fields(x, outs, |(g, e), r0, f| {
            for (k, ((g, e), f)) in g.chunks_mut(d).zip(e.iter_mut()).zip(f.chunks(d)).enumerate() {
                let row = x.row(r0 + k);
                let mut en = 0f32;
                for i in 0..d {
                    en -= spin(row, i) * (0.5 * f[i] + h[i]);
                    g[i] = -2.0 * (f[i] + h[i]);
                }
                *e = en;
            }
        });
    }

    /// Gray-code walk: flipping bit i changes E by ΔEᵢ = 2sᵢ(fᵢ + hᵢ) and the local field by
    /// f ← f − 2sᵢ·J[i,:] (J symmetric), O(d) per state. E accumulates in f64 and both f and E are
    /// recomputed from scratch every 4096 states, so f32 rounding cannot drift along the walk.
    fn gray_energies(&self, start: u64, count: u64, visit: &mut dyn FnMut(f64)) -> bool {
        let d = self.d;
        if d > 63 {
            return false;
        }
        let mut f = vec![0f32; d];
        let mut state = 0u64;
        let mut e = 0f64;
        let anchor = |state: u64, f: &mut [f32]| -> f64 {
            let row = [state];
            self.local_field(&row, f);
            let h = self.h();
            -(0..d).map(|i| crate::bits::spin(&row, i) as f64 * (0.5 * f[i] as f64 + h[i] as f64)).sum::<f64>()
        };
        for k in start..start + count {
            if k == start || (k - start).is_multiple_of(4096) {
                state = k ^ (k >> 1);
                e = anchor(state, &mut f);
            } else {
                let i = (k.trailing_zeros()) as usize; // bit flipped between Gray states k−1 and k
                let si = if (state >> i) & 1 == 1 { 1f32 } else { -1f32 };
                e += (2.0 * si * (f[i] + self.h()[i])) as f64;
                let ji = &self.j()[i * d..(i + 1) * d];
                for (fj, &jv) in f.iter_mut().zip(ji) {
                    *fj -= 2.0 * si * jv;
                }
                state ^= 1 << i;
            }
            visit(e);
        }
        true
    }

    /// ∂E/∂J = −½ s sᵀ, ∂E/∂h = −s. For base row r with flips s'ⱼ = s − 2sᵢe_i (i = idx):
    /// Σ wₖ s'ₖs'ₖᵀ = W·s sᵀ − 2Σⱼ wⱼ sᵢ(e_i sᵀ + s e_iᵀ) + 4Σⱼ wⱼ e_i e_iᵀ with W = w_base + Σⱼ wⱼ.
    /// With u_r = Σⱼ wⱼ s_{iⱼ} e_{iⱼ} (sparse rows of U, n × d), gJ += (U − ½·diag(W)·S)ᵀS + SᵀU
    /// − 2Σⱼ wⱼ e_i e_iᵀ: two accumulating GEMMs (faer) straight into gJ, no d × d scratch and no
    /// transposed pass over it. O(n·d² + n·s).
    fn param_grad(&self, x: &BitBatch, w_base: &[f32], idx: &[u32], w_flip: &[f32], grad: &mut [f32]) {
        let (n, d) = (x.n(), self.d);
        if n == 0 || d == 0 {
            return;
        }
        let s = idx.len() / n;
        let (gj, gh) = grad.split_at_mut(d * d);
        // Spins S, U, and A = U − ½·W_r·S (all n × d).
        let mut sp = vec![0f32; n * d];
        let mut u = vec![0f32; n * d];
        let mut a = vec![0f32; n * d];
        for r in 0..n {
            let row = x.row(r);
            let w = w_base[r] + w_flip[r * s..(r + 1) * s].iter().sum::<f32>();
            for i in 0..d {
                let si = spin(row, i);
                sp[r * d + i] = si;
                gh[i] -= w * si;
            }
            for j in 0..s {
                let (i, w) = (idx[r * s + j] as usize, w_flip[r * s + j]);
                let si = sp[r * d + i];
                u[r * d + i] += w * si;
                gj[i * d + i] -= 2.0 * w; // −½·4w on the diagonal
                gh[i] += 2.0 * w * si; // −(−2 w sᵢ)
            }
            for i in 0..d {
                a[r * d + i] = u[r * d + i] - 0.5 * w * sp[r * d + i];
            }
        }
        gemm(gj, d, d, Operand::t(&a, n, d), Operand::new(&sp, n, d), 1.0, true);
        gemm(gj, d, d, Operand::t(&sp, n, d), Operand::new(&u, n, d), 1.0, true);
    }
}

mod site;
#[cfg(test)]
mod tests;
