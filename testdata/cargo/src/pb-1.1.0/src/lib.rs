//! Two-character name: index path `2/pb`. The newer version, which the app resolves to.
pub fn pb() -> u32 { 11 + p::p() }
