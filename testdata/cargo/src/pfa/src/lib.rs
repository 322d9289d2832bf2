//! Three-character name: index path `3/p/pfa`.
pub fn pfa() -> u32 { pb::pb() }
