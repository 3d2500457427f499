//! moonpool-sim (skeleton).
