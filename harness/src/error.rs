//! The harness's error type: every message is one line naming the file, key or step at fault.

use std::path::Path;

/// Errors from the harness library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read, written or parsed.
    #[error("{path}: {msg}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        msg: String,
    },
    /// A configuration value is missing or invalid.
    #[error("config `{key}`: {msg}")]
    Config {
        /// The key (e.g. `grid.dim`).
        key: String,
        /// What is wrong with it.
        msg: String,
    },
    /// Training produced a non-finite loss or gradient.
    #[error("step {step}: {source}{saved}")]
    Train {
        /// The step (0-based) at which it happened.
        step: usize,
        /// The objective's error.
        source: crate::objective::ObjectiveError,
        /// Where the last good model was saved, if it was.
        saved: String,
    },
    /// Invalid input data or shapes.
    #[error("{0}")]
    Input(String),
}

impl Error {
    /// A file error for `path`.
    pub fn file(path: &Path, msg: impl std::fmt::Display) -> Self {
        Error::File { path: path.display().to_string(), msg: msg.to_string() }
    }

    /// A config error for `key`.
    pub fn config(key: impl Into<String>, msg: impl std::fmt::Display) -> Self {
        Error::Config { key: key.into(), msg: msg.to_string() }
    }
}

/// Result with the harness [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename), so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| Error::file(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::file(path, e))
}
