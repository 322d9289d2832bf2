//! Two-character name: index path `2/pb`. The older version.
pub fn pb() -> u32 { 10 }
