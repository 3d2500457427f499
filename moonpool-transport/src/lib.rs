//! moonpool-transport (skeleton).
