//! The `stats` command and the size formatting shared with `GET /stats`.

#![allow(clippy::print_stdout)]

use crate::config::Config;
use crate::db::Db;
use crate::error::Result;

/// Prints cache statistics, as text or JSON.
pub fn run(config: &Config, json: bool, popular: usize, recent: usize) -> Result<()> {
    let db = Db::open_existing(&config.database_path)?;
    let s = db.stats(popular, recent)?;
    if json {
        let value = serde_json::json!({
            "packages": s.packages,
            "versions": s.versions,
            "artifacts": s.artifacts,
            "total_size_bytes": s.total_size,
            "total_size": human(s.total_size),
            "metadata_documents": s.metadata_documents,
            "metadata_size_bytes": s.metadata_size,
            "metadata_size": human(s.metadata_size),
            "disk_size_bytes": s.total_size + s.metadata_size,
            "disk_size": human(s.total_size + s.metadata_size),
            "total_hits": s.total_hits,
            "by_ecosystem": s.by_ecosystem.iter().map(|(e, n)| (e.clone(), serde_json::Value::from(*n))).collect::<serde_json::Map<_, _>>(),
            "unverified": s.unverified.iter().map(|(e, n)| (e.clone(), serde_json::Value::from(*n))).collect::<serde_json::Map<_, _>>(),
            "popular": s.popular,
            "recent": s.recent,
            "storage_path": config.storage_path.display().to_string(),
            "database_path": config.database_path.display().to_string(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(());
    }
    print!("{}", text(&s));
    Ok(())
}

fn text(s: &crate::db::Stats) -> String {
    let mut out = String::new();
    out.push_str("Cache Statistics\n================\n\n");
    out.push_str(&format!("Packages:   {}\n", s.packages));
    out.push_str(&format!("Versions:   {}\n", s.versions));
    out.push_str(&format!(
        "Artifacts:  {} ({})\n",
        s.artifacts,
        human(s.total_size)
    ));
    out.push_str(&format!(
        "Metadata:   {} document(s) ({})\n",
        s.metadata_documents,
        human(s.metadata_size)
    ));
    out.push_str(&format!(
        "Total size: {} (artifacts and metadata)\n",
        human(s.total_size + s.metadata_size)
    ));
    out.push_str(&format!("Total hits: {}\n", s.total_hits));
    if !s.by_ecosystem.is_empty() {
        out.push_str("\nPackages by ecosystem:\n");
        for (e, n) in &s.by_ecosystem {
            out.push_str(&format!("  {e:<10} {n}\n"));
        }
    }
    if !s.unverified.is_empty() {
        out.push_str("\nUnverified artifacts (no digest published, or none this proxy reads):\n");
        for (e, n) in &s.unverified {
            out.push_str(&format!("  {e:<10} {n}\n"));
        }
    }
    if !s.popular.is_empty() {
        out.push_str("\nMost popular packages:\n");
        for (i, p) in s.popular.iter().enumerate() {
            out.push_str(&format!(
                "  {:>2}. {}/{} ({} hits, {})\n",
                i + 1,
                p.ecosystem,
                p.name,
                p.hits,
                human(p.size)
            ));
        }
    }
    if !s.recent.is_empty() {
        out.push_str("\nRecently cached:\n");
        for r in &s.recent {
            out.push_str(&format!(
                "  {}/{}@{} ({}, {})\n",
                r.ecosystem,
                r.name,
                r.version,
                minute(r.fetched_at),
                human(r.size)
            ));
        }
    }
    out
}

/// `892.4 MB`: binary multiples, one decimal.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A database time (Unix milliseconds) to the minute, UTC: `2024-01-15 14:32`.
pub(crate) fn minute(unix_ms: i64) -> String {
    let t = crate::http::rfc3339_millis(unix_ms); // "2024-01-15T14:32:00.000Z"
    format!("{} {}", &t[..10], &t[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(25293), "24.7 KB");
        assert_eq!(human(935_749_222), "892.4 MB");
        assert_eq!(minute(1_705_329_120_000), "2024-01-15 14:32");
    }
}
