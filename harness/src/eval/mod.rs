//! Evaluation of learned models: exact enumeration, log Z estimators, samplers and MMD.

pub mod exact;
