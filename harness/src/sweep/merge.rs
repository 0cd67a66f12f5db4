//! Joining the CSVs of a sharded sweep: identical headers, no point twice, and (given the config)
//! no point missing. Rows are copied verbatim, in shard order.

use super::config::{expand, SweepConfig};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Merges `shards` into `out` (written atomically). With `cfg`, every grid point must be present.
pub fn merge(shards: &[PathBuf], cfg: Option<&SweepConfig>, out: &Path) -> Result<usize> {
    if shards.is_empty() {
        return Err(Error::Input("merge needs at least one shard CSV".into()));
    }
    let mut header: Option<(csv::StringRecord, PathBuf)> = None;
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut rows = Vec::new();
    for path in shards {
        let mut r = csv::Reader::from_path(path).map_err(|e| Error::file(path, e))?;
        let h = r.headers().map_err(|e| Error::file(path, e))?.clone();
        match &header {
            None => header = Some((h.clone(), path.clone())),
            Some((h0, p0)) if *h0 != h => {
                return Err(Error::file(path, format!("header differs from {}", p0.display())));
            }
            _ => {}
        }
        let id_col = h.iter().position(|c| c == "point_id").ok_or_else(|| Error::file(path, "no `point_id` column"))?;
        for (k, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| Error::file(path, format!("line {}: {e}", k + 2)))?;
            let id = rec.get(id_col).unwrap_or_default().to_string();
            if let Some(prev) = seen.insert(id.clone(), path.clone()) {
                return Err(Error::file(path, format!("point `{id}` is also in {}", prev.display())));
            }
            rows.push(rec);
        }
    }
    if let Some(cfg) = cfg {
        if let Some(p) = expand(cfg).into_iter().find(|p| !seen.contains_key(&p.id)) {
            return Err(Error::Input(format!("point `{}` of sweep `{}` is missing from every shard", p.id, cfg.name)));
        }
    }
    let (h, _) = header.expect("at least one shard");
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&h).map_err(|e| Error::file(out, e))?;
    for r in &rows {
        w.write_record(r).map_err(|e| Error::file(out, e))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::file(out, e.to_string()))?;
    crate::error::write_atomic(out, &bytes)?;
    Ok(rows.len())
}
