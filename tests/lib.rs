//! Intentionally empty: keel-tests exists for its integration test binary in `it/`, which drives keel only
//! through its public surface (HTTP over real TCP, the command line, configuration).
