//! The crate the real-client test resolves and fetches through the proxy.
pub fn all() -> u32 { pfa::pfa() + pf_long::long() }
