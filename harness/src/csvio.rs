//! Append-only CSV files whose schema is a `#[derive(Serialize)]` struct.
//!
//! A row is serialized through serde_json (field order kept, `#[serde(flatten)]` allowed, NaN and
//! `None` become empty cells) and written as one CSV record, then flushed: a crash loses at most
//! the row being written. Appending to an existing file checks that its header is the schema's.

use crate::error::{Error, Result};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Column names and cell texts of one row.
pub fn to_cells<T: Serialize>(row: &T) -> (Vec<String>, Vec<String>) {
    let v = serde_json::to_value(row).expect("rows serialize to JSON");
    let obj = v.as_object().expect("a CSV row is a struct");
    let keys = obj.keys().cloned().collect();
    let vals = obj
        .values()
        .map(|v| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    (keys, vals)
}

/// The header a schema struct produces (for golden-header tests).
pub fn header_of<T: Serialize>(row: &T) -> Vec<String> {
    to_cells(row).0
}

/// A CSV file opened for appending rows of one schema.
pub struct CsvAppender {
    path: PathBuf,
    header: Option<Vec<String>>,
    writer: csv::Writer<File>,
}

impl CsvAppender {
    /// Opens `path` for appending (creating it and its folder if needed).
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
        }
        let header = if path.exists() && std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false) {
            let mut r = csv::Reader::from_path(path).map_err(|e| Error::file(path, e))?;
            Some(r.headers().map_err(|e| Error::file(path, e))?.iter().map(String::from).collect())
        } else {
            None
        };
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::file(path, e))?;
        let writer = csv::WriterBuilder::new().has_headers(false).from_writer(file);
        Ok(CsvAppender { path: path.to_path_buf(), header, writer })
    }

    /// Appends one row and flushes it to the file.
    pub fn append<T: Serialize>(&mut self, row: &T) -> Result<()> {
        let (keys, vals) = to_cells(row);
        match &self.header {
            Some(h) if *h != keys => {
                let first = h.iter().zip(&keys).position(|(a, b)| a != b).unwrap_or(h.len().min(keys.len()));
                return Err(Error::file(
                    &self.path,
                    format!(
                        "existing header differs from this schema at column {} (`{}` vs `{}`): write to a new file",
                        first + 1,
                        h.get(first).map(String::as_str).unwrap_or("<none>"),
                        keys.get(first).map(String::as_str).unwrap_or("<none>")
                    ),
                ));
            }
            Some(_) => {}
            None => {
                self.writer.write_record(&keys).map_err(|e| Error::file(&self.path, e))?;
                self.header = Some(keys);
            }
        }
        self.writer.write_record(&vals).map_err(|e| Error::file(&self.path, e))?;
        self.writer.flush().map_err(|e| Error::file(&self.path, e))
    }
}

/// Reads every row of a CSV into `T` (by column name; extra columns ignored), naming the line on error.
pub fn read_rows<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::file(path, e))?;
    let mut out = Vec::new();
    for (k, row) in r.deserialize().enumerate() {
        out.push(row.map_err(|e| Error::file(path, format!("line {}: {e}", k + 2)))?);
    }
    Ok(out)
}
