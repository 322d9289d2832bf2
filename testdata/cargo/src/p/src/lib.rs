//! One-character name: index path `1/p`.
pub fn p() -> u32 { 1 }
