//! Benchmarks for oxbox: see `benches/`.
