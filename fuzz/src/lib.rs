//! Shared checks for the fuzz targets (`fuzz_targets/`); `core/tests/fuzz_regressions.rs`
//! compiles the same file to replay crash inputs and corpora. See docs/fuzzing.md.

pub mod checks;
