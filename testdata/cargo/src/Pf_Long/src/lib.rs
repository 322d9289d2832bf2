//! A longer name in mixed case: index path `pf/_l/pf_long`, download name `Pf_Long`.
pub fn long() -> u32 { p::p() }
