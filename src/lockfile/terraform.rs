//! Terraform's dependency lock file, `.terraform.lock.hcl`: one `provider "{address}" { … }`
//! block per provider, with its `version` and `hashes`. The address is
//! `hostname/namespace/type` (a missing hostname is registry.terraform.io's); `zh:` hashes are
//! SHA-256 digests of the provider's zip archives, one per platform, and become the item's
//! hashes; `h1:` hashes (of the unpacked files) are left out. Module blocks are not locked there.
//!
//! Only the HCL the file uses is read, line by line: block openings, `key = "string"`, and
//! `hashes = [ … ]` lists of strings.

use super::Out;
use super::digest::hex_digest;

pub(super) fn terraform_lock(text: &str, out: &mut Out) {
    // (line, address, version, hashes) of the block being read.
    let mut block: Option<(usize, String, Option<String>, Vec<String>)> = None;
    let mut in_hashes = false;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with("//") {
            continue;
        }
        if let Some(rest) = l.strip_prefix("provider ") {
            if let Some((start, ..)) = &block {
                out.problem(*start, "provider block without its closing brace");
            }
            match quoted(rest).filter(|_| rest.trim_end().ends_with('{')) {
                Some(addr) => block = Some((line, addr.to_string(), None, Vec::new())),
                None => {
                    out.problem(line, "expected provider \"hostname/namespace/type\" {");
                    block = None;
                }
            }
            in_hashes = false;
            continue;
        }
        let Some((_, addr, version, hashes)) = block.as_mut() else {
            continue;
        };
        if in_hashes {
            if l.starts_with(']') {
                in_hashes = false;
            } else if let Some(hex) = quoted(l).and_then(|h| h.strip_prefix("zh:")) {
                match hex_digest("sha256", hex) {
                    Ok(d) => hashes.push(d),
                    Err(err) => out.problem(line, format!("{addr}: {err}")),
                }
            }
            continue;
        }
        if l == "}" {
            let (start, addr, version, hashes) = block.take().unwrap_or_default();
            add(out, start, &addr, version.as_deref(), hashes);
            continue;
        }
        let Some((key, value)) = l.split_once('=') else {
            continue;
        };
        match key.trim() {
            "version" => *version = quoted(value).map(str::to_string),
            "hashes" => {
                let value = value.trim();
                in_hashes = value.starts_with('[') && !value.ends_with(']');
                // A one-line list.
                if !in_hashes {
                    for h in value.trim_matches(['[', ']']).split(',').filter_map(quoted) {
                        if let Some(hex) = h.strip_prefix("zh:")
                            && let Ok(d) = hex_digest("sha256", hex)
                        {
                            hashes.push(d);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if let Some((start, ..)) = block {
        out.problem(start, "provider block without its closing brace");
    }
}

/// Lists a provider under its full address, lowercase.
fn add(out: &mut Out, line: usize, addr: &str, version: Option<&str>, hashes: Vec<String>) {
    let parts: Vec<&str> = addr.split('/').collect();
    let name = match parts.as_slice() {
        [host, ns, ty] if !host.is_empty() && !ns.is_empty() && !ty.is_empty() => addr.to_string(),
        [ns, ty] if !ns.is_empty() && !ty.is_empty() => format!("registry.terraform.io/{addr}"),
        _ => {
            out.problem(line, format!("{addr:?} is not a provider address"));
            return;
        }
    };
    let Some(version) = version else {
        out.problem(line, format!("{addr}: no version"));
        return;
    };
    out.add(
        line,
        "terraform",
        &name.to_ascii_lowercase(),
        Some(version),
        hashes,
    );
}

/// The first double-quoted string in `s`.
fn quoted(s: &str) -> Option<&str> {
    let start = s.find('"')? + 1;
    let end = s[start..].find('"')? + start;
    Some(&s[start..end])
}

#[cfg(test)]
mod tests {
    use crate::lockfile::testing::*;

    #[test]
    fn providers_with_their_zip_hashes() {
        let zh = "9".repeat(64);
        let text = text_of(&[
            "# This file is maintained automatically by \"terraform init\".",
            "# Manual edits may be lost in future updates.",
            "",
            "provider \"registry.terraform.io/hashicorp/random\" {",
            "  version     = \"3.6.0\"",
            "  constraints = \"~> 3.0\"",
            "  hashes = [",
            "    \"h1:Oh1qmTkFFLvZkRCGhp6Q4OS4qkSbm87q5P67oMcA9d0=\",",
            &format!("    \"zh:{}\",", zh.to_uppercase()),
            "    \"zh:1234\",",
            "  ]",
            "}",
            "",
            "provider \"Registry.OpenTofu.org/Acme/Thing\" {",
            "  version = \"1.0.0\"",
            "  hashes  = [\"zh:",
        ]);
        // The last block is cut short: a problem at its line, the first still listed.
        let items = check(
            ".terraform.lock.hcl",
            &text,
            &["terraform:registry.terraform.io/hashicorp/random@3.6.0"],
            &[10, 14],
        );
        assert_eq!(items[0].hashes, [format!("sha256:{zh}")]);
        let two = text_of(&[
            "provider \"hashicorp/aws\" {",
            "  version = \"5.31.0\"",
            &format!("  hashes = [\"h1:x=\", \"zh:{}\"]", "a".repeat(64)),
            "}",
            "provider \"registry.opentofu.org/Acme/Thing\" {",
            "  constraints = \">= 1.0\"",
            "}",
            "provider \"a/b/c/d\" {",
            "  version = \"1.0.0\"",
            "}",
        ]);
        let items = check(
            "renamed.hcl",
            &two,
            &["terraform:registry.terraform.io/hashicorp/aws@5.31.0"],
            &[5, 8],
        );
        assert_eq!(items[0].hashes, [format!("sha256:{}", "a".repeat(64))]);
    }
}
