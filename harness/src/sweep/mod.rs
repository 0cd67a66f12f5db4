//! Sweeps over model, dimension, batch size, sample count, objective and threads: a TOML grid
//! ([`config`]), resumable measurement into one CSV row per point ([`run`]), sharding across
//! machines and merging the shards ([`merge`]). The CSV schema is [`schema::SweepRow`].

pub mod config;
pub mod merge;
pub mod run;
pub mod schema;

#[cfg(test)]
mod tests;

/// The default sweep, embedded so that `rmbench sweep` runs without any file.
pub const DEFAULT_CONFIG: &str = include_str!("../../sweeps/default.toml");
