//! Assembled documents (`Metadata::parts`): the first part read whole, then the further parts
//! the registry names fetched round after round, all bounded by `metadata_max_size`.

use std::io::{self, BufReader};

use super::rewrite::UpstreamBody;
use crate::error::{Error, Result};
use crate::proxy::{Capped, Shared};
use crate::registry::{Assembly, Ctx, Metadata, Part, Registry};
use crate::upstream::Method;

/// Most upstream documents one assembled document is made of, against parts that would name
/// further parts without end.
const MAX_PARTS: usize = 64;

/// Reads the first part of an assembled document (`input`) whole, then fetches the further parts
/// the registry names, round after round, until it names no new one. All of them together are
/// bounded by `metadata_max_size`. A part the upstream answers 4xx is kept with its status for
/// the registry to judge; any other failure fails the document.
pub(super) fn gather(
    sh: &Shared,
    reg: &dyn Registry,
    assembly: &Assembly,
    m: &Metadata,
    input: &mut BufReader<UpstreamBody<Box<dyn io::Read + Send>>>,
    ctx: &Ctx<'_>,
    url: &str,
) -> Result<Vec<Part>> {
    let max = sh.config.metadata_max_size;
    // The document and its parts together are bounded. Parts that overflow are the assembled
    // document's fault, not its first URL's, which other documents may share: no `TooLarge`
    // (remembered against that URL) for them.
    let broken = |url: &str, err: io::Error, exceeded: bool| Error::BadUpstream {
        url: url.to_string(),
        msg: if exceeded {
            format!("the document and its parts are larger than metadata_max_size ({max} bytes)")
        } else {
            err.to_string()
        },
    };
    let mut body = Vec::new();
    if let Err(err) = io::Read::read_to_end(input, &mut body) {
        return Err(if input.get_ref().inner.exceeded {
            Error::TooLarge {
                url: url.to_string(),
                max,
            }
        } else {
            broken(url, err, false)
        });
    }
    let mut left = input.get_ref().inner.left;
    let mut parts = vec![Part {
        url: m.url.clone(),
        status: 200,
        body,
    }];
    let mut headers = vec![("Accept-Encoding", "identity")];
    if let Some(accept) = m.accept {
        headers.push(("Accept", accept));
    }
    loop {
        let more = (assembly.more)(m, &parts, ctx).map_err(|bad| Error::BadUpstream {
            url: m.url.clone(),
            msg: bad.0,
        })?;
        let mut new: Vec<String> = Vec::new();
        for u in more {
            if !parts.iter().any(|p| p.url == u) && !new.contains(&u) {
                new.push(u);
            }
        }
        if new.is_empty() {
            return Ok(parts);
        }
        if parts.len() + new.len() > MAX_PARTS {
            return Err(Error::BadUpstream {
                url: m.url.clone(),
                msg: format!("made of more than {MAX_PARTS} upstream documents"),
            });
        }
        for u in new {
            let f = sh
                .upstream
                .fetch(Method::Get, &u, &headers, sh.allowed(reg), reg.name())?;
            let mut body = Vec::new();
            match f.status {
                200 => {
                    let mut capped = Capped {
                        inner: f.body,
                        left,
                        exceeded: false,
                    };
                    if let Err(err) = io::Read::read_to_end(&mut capped, &mut body) {
                        return Err(broken(&u, err, capped.exceeded));
                    }
                    left = capped.left;
                }
                400..=499 => {}
                status => return Err(Error::Upstream { url: f.url, status }),
            }
            parts.push(Part {
                url: u,
                status: f.status,
                body,
            });
        }
    }
}
