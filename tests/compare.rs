//! `mqlab compare`, `mqlab capacity` and `mqlab run --report` end to end on the real
//! scenarios (these need the engine).
