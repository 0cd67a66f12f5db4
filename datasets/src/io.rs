//! Reading and writing users' binary data: text (one line of `0`/`1` characters per sample) and
//! NumPy `.npy` (bool or uint8, shape n × d, C order). Every error is one line naming the file and,
//! where it applies, the line and column (text) or the element (npy).

use crate::rng::Stream;
use crate::DataError;
use rmbench_kernels::BitBatch;
use std::path::Path;

fn err(path: &Path, msg: impl Into<String>) -> DataError {
    DataError::File { path: path.display().to_string(), msg: msg.into() }
}

fn at(path: &Path, line: usize, col: usize, msg: impl Into<String>) -> DataError {
    DataError::At { path: path.display().to_string(), line, col, msg: msg.into() }
}

/// Reads a file by extension: `.npy`, anything else as text.
pub fn read_file(path: &Path) -> Result<BitBatch, DataError> {
    if path.extension().is_some_and(|e| e == "npy") {
        read_npy(path)
    } else {
        read_text(path)
    }
}

/// Writes a file by extension: `.npy` (uint8), anything else as text.
pub fn write_file(path: &Path, x: &BitBatch) -> Result<(), DataError> {
    if path.extension().is_some_and(|e| e == "npy") {
        write_npy(path, x)
    } else {
        write_text(path, x)
    }
}

/// Text: one sample per line, d characters `0`/`1`; a trailing newline and `\r\n` are accepted.
pub fn read_text(path: &Path) -> Result<BitBatch, DataError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, e.to_string()))?;
    let mut d: Option<usize> = None;
    let mut x = BitBatch::zeros(0, 0);
    for (ln, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if ln + 1 == bytes.split(|&b| b == b'\n').count() {
                break; // trailing newline
            }
            return Err(at(path, ln + 1, 1, "empty line"));
        }
        let width = *d.get_or_insert(line.len());
        if line.len() != width {
            return Err(at(
                path,
                ln + 1,
                line.len().min(width) + 1,
                format!("row has {} characters, expected {width} (as line 1)", line.len()),
            ));
        }
        if x.d() != width {
            x = BitBatch::zeros(0, width);
        }
        let mut words = vec![0u64; x.stride()];
        for (i, &c) in line.iter().enumerate() {
            match c {
                b'0' => {}
                b'1' => words[i / 64] |= 1 << (i % 64),
                _ => {
                    let ch = String::from_utf8_lossy(&line[i..(i + 4).min(line.len())]).chars().next().unwrap_or('?');
                    return Err(at(path, ln + 1, i + 1, format!("character {ch:?} is not 0 or 1")));
                }
            }
        }
        x.push_row(&words);
    }
    if x.n() == 0 {
        return Err(err(path, "file is empty: no samples"));
    }
    Ok(x)
}

/// Writes one line of `0`/`1` per sample.
pub fn write_text(path: &Path, x: &BitBatch) -> Result<(), DataError> {
    let mut s = String::with_capacity(x.n() * (x.d() + 1));
    for r in 0..x.n() {
        for i in 0..x.d() {
            s.push(if x.get(r, i) { '1' } else { '0' });
        }
        s.push('\n');
    }
    write_atomic(path, s.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(dir, e.to_string()))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| err(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(path, e.to_string()))
}

/// `.npy` version 1/2/3 with dtype `|b1` or `|u1` (or `<u1`), C order, 2-D shape (n, d).
pub fn read_npy(path: &Path) -> Result<BitBatch, DataError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, e.to_string()))?;
    if bytes.is_empty() {
        return Err(err(path, "file is empty"));
    }
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err(path, "not a .npy file (bad magic)"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(err(path, format!("unsupported .npy version {v}"))),
    };
    let header = bytes.get(start..start + hlen).ok_or_else(|| err(path, "truncated .npy header"))?;
    let header = String::from_utf8_lossy(header);
    let field = |key: &str| -> Option<String> {
        let k = header.find(&format!("'{key}'"))?;
        let rest = &header[k + key.len() + 2..];
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        if let Some(r) = rest.strip_prefix('(') {
            Some(r[..r.find(')')?].to_string())
        } else if let Some(r) = rest.strip_prefix('\'') {
            Some(r[..r.find('\'')?].to_string())
        } else {
            Some(rest[..rest.find([',', '}']).unwrap_or(rest.len())].trim().to_string())
        }
    };
    let descr = field("descr").ok_or_else(|| err(path, "npy header has no 'descr'"))?;
    if !matches!(descr.as_str(), "|b1" | "|u1" | "<u1" | ">u1") {
        return Err(err(path, format!("dtype {descr} is not bool or uint8")));
    }
    if field("fortran_order").as_deref() == Some("True") {
        return Err(err(path, "Fortran-ordered arrays are not supported; save with C order"));
    }
    let shape = field("shape").ok_or_else(|| err(path, "npy header has no 'shape'"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| err(path, format!("bad shape ({shape})"))))
        .collect::<Result<_, _>>()?;
    let (n, d) = match dims.as_slice() {
        [n, d] => (*n, *d),
        _ => return Err(err(path, format!("shape ({shape}) is not 2-D (n, d)"))),
    };
    if n == 0 || d == 0 {
        return Err(err(path, format!("array of shape ({n}, {d}) has no samples")));
    }
    let data = &bytes[start + hlen..];
    if data.len() != n * d {
        return Err(err(path, format!("expected {} data bytes for shape ({n}, {d}), found {}", n * d, data.len())));
    }
    if let Some(k) = data.iter().position(|&v| v > 1) {
        return Err(err(path, format!("element ({}, {}) is {}, not 0 or 1", k / d, k % d, data[k])));
    }
    BitBatch::from_dense_u8(n, d, data).map_err(|e| err(path, e.to_string()))
}

/// Writes a `.npy` (version 1.0, dtype `|u1`, C order).
pub fn write_npy(path: &Path, x: &BitBatch) -> Result<(), DataError> {
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({}, {}), }}", x.n(), x.d());
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + x.n() * x.d());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(x.to_dense_u8());
    write_atomic(path, &out)
}

/// A seeded split into (train, test) with ⌊fraction·n⌋ test rows (at least one row stays in each
/// part when n ≥ 2).
pub fn split(x: &BitBatch, test_fraction: f64, seed: u64) -> Result<(BitBatch, BitBatch), DataError> {
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(DataError::Spec(format!("test fraction {test_fraction} is not in [0, 1)")));
    }
    let n = x.n();
    let perm = Stream::new(seed, 0x5117).permutation(n);
    let n_test = ((test_fraction * n as f64).floor() as usize)
        .clamp(if n >= 2 && test_fraction > 0.0 { 1 } else { 0 }, n.saturating_sub(1));
    Ok((x.select_rows(&perm[n_test..]), x.select_rows(&perm[..n_test])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rmbench-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn sample() -> BitBatch {
        BitBatch::from_dense_u8(3, 70, &(0..210).map(|k| (k % 3 == 0) as u8).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn text_and_npy_round_trip() {
        let x = sample();
        for name in ["a.txt", "a.npy"] {
            let p = tmp(name);
            write_file(&p, &x).unwrap();
            assert_eq!(read_file(&p).unwrap(), x, "{name}");
        }
    }

    #[test]
    fn malformed_text_names_file_line_and_column() {
        let cases: [(&str, &[u8], &str); 4] = [
            ("empty.txt", b"", "empty.txt: file is empty"),
            ("ragged.txt", b"0101\n010\n", "ragged.txt:2:4: row has 3 characters, expected 4"),
            ("char.txt", b"0101\n01x1\n", "char.txt:2:3: character 'x' is not 0 or 1"),
            ("blank.txt", b"01\n\n01\n", "blank.txt:2:1: empty line"),
        ];
        for (name, body, want) in cases {
            let p = tmp(name);
            std::fs::write(&p, body).unwrap();
            let e = read_file(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{e} does not contain {want}");
            assert!(!e.contains('\n'));
        }
        let e = read_file(Path::new("/nonexistent/x.txt")).unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/x.txt: "), "{e}");
    }

    #[test]
    fn malformed_npy_is_rejected() {
        let x = sample();
        let p = tmp("b.npy");
        write_npy(&p, &x).unwrap();
        let good = std::fs::read(&p).unwrap();
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = 7;
        std::fs::write(&p, &bad).unwrap();
        assert!(read_npy(&p).unwrap_err().to_string().contains("element (2, 69) is 7"));
        std::fs::write(&p, &good[..good.len() - 5]).unwrap();
        assert!(read_npy(&p).unwrap_err().to_string().contains("data bytes"));
        std::fs::write(&p, b"not numpy").unwrap();
        assert!(read_npy(&p).unwrap_err().to_string().contains("bad magic"));
        let mut f = good.clone();
        let k = f.windows(3).position(|w| w == b"|u1").unwrap();
        f[k..k + 3].copy_from_slice(b"<f4");
        std::fs::write(&p, &f).unwrap();
        assert!(read_npy(&p).unwrap_err().to_string().contains("dtype <f4"));
    }

    #[test]
    fn split_is_seeded_and_disjoint() {
        let x = sample();
        let (a, b) = split(&x, 0.34, 1).unwrap();
        assert_eq!((a.n(), b.n()), (2, 1));
        assert_eq!(split(&x, 0.34, 1).unwrap(), (a, b));
        assert!(split(&x, 1.5, 1).is_err());
    }
}
