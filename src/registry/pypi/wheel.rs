//! Mirroring PyPI for a platform: wheel tags (PEP 425, and the platform tags of PEP 600, 656 and
//! macOS) against what `proxy mirror -platform … -python-version … -implementation … -abi …` asks.

use super::SDIST;
use crate::error::{Error, Result};
use crate::registry::Target;

/// A mirror target as it applies to wheels.
pub(super) struct WheelTarget {
    /// Platform tags among `-platform` (the others are other registries' names).
    platforms: Vec<String>,
    /// (major, minor): `3.11`, `311` → (3, Some(11)); `3` → (3, None).
    python: Option<(u32, Option<u32>)>,
    implementation: Option<String>,
    abis: Vec<String>,
}

impl WheelTarget {
    pub(super) fn new(t: &Target) -> Result<WheelTarget> {
        let python = match t.python_version.as_deref() {
            None => None,
            Some(v) => Some(python_version(v).ok_or_else(|| {
                Error::Usage(format!(
                    "-python-version {v:?}: expected a version such as 3.11, 311 or 3"
                ))
            })?),
        };
        Ok(WheelTarget {
            platforms: t
                .platforms
                .iter()
                .filter(|p| is_wheel_platform(p))
                .cloned()
                .collect(),
            python,
            implementation: t.implementation.clone(),
            abis: t.abis.clone(),
        })
    }

    pub(super) fn narrows(&self) -> bool {
        !self.platforms.is_empty()
            || self.python.is_some()
            || self.implementation.is_some()
            || !self.abis.is_empty()
    }

    /// Whether a file (or a `.metadata` sidecar, by its file) is for this target.
    pub(super) fn keeps(&self, filename: &str) -> bool {
        let file = filename.strip_suffix(".metadata").unwrap_or(filename);
        if SDIST.iter().any(|ext| file.ends_with(ext)) {
            return true;
        }
        let Some(stem) = file.strip_suffix(".whl") else {
            return false;
        };
        let fields: Vec<&str> = stem.split('-').collect();
        let [.., py, abi, plat] = fields.as_slice() else {
            return false;
        };
        // Compressed tag sets (`py2.py3`, `manylinux_2_17_x86_64.manylinux2014_x86_64`).
        let plat_ok = plat.split('.').any(|p| self.platform(p));
        plat_ok
            && py
                .split('.')
                .any(|py| abi.split('.').any(|abi| self.interpreter(py, abi)))
    }

    fn platform(&self, plat: &str) -> bool {
        plat == "any"
            || self.platforms.is_empty()
            || self.platforms.iter().any(|want| platform_fits(plat, want))
    }

    /// Whether a wheel's (python tag, abi tag) runs on the target interpreter, as pip's
    /// `cpython_tags` and `compatible_tags` list them.
    fn interpreter(&self, py: &str, abi: &str) -> bool {
        let split = py.find(|c: char| c.is_ascii_digit()).unwrap_or(py.len());
        let (imp, digits) = py.split_at(split);
        let Some(version) = python_version(digits) else {
            return false;
        };
        if let Some(want) = &self.implementation
            && imp != "py"
            && imp != want
        {
            return false;
        }
        let abi_listed =
            |abi: &str| abi == "none" || abi == "abi3" || self.abis.iter().any(|a| a == abi);
        if !self.abis.is_empty() && !abi_listed(abi) {
            return false;
        }
        let Some((major, minor)) = self.python else {
            return true;
        };
        if version.0 != major {
            return false;
        }
        // Older minors: generic `py3x` tags and the stable ABI; otherwise the same minor.
        let same = minor.is_none() || version.1.is_none() || version.1 == minor;
        let older = match (version.1, minor) {
            (Some(v), Some(m)) => v <= m,
            _ => true,
        };
        if imp == "py" {
            return abi == "none" && older;
        }
        match abi {
            "abi3" => older,
            _ => same,
        }
    }
}

/// `3.11`, `311`, `3` (and `2.7`, `27`) → (major, minor).
fn python_version(v: &str) -> Option<(u32, Option<u32>)> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let (major, minor) = match v.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None if v.len() > 1 => (&v[..1], Some(&v[1..])),
        None => (v, None),
    };
    let major: u32 = major.parse().ok()?;
    let minor = match minor {
        Some(m) if !m.is_empty() => Some(m.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    Some((major, minor))
}

/// Whether a `-platform` value is a wheel platform tag (other registries' platforms, such as
/// Conda's `linux-64` or an image's `linux/amd64`, are not PyPI's business).
fn is_wheel_platform(p: &str) -> bool {
    p == "any"
        || [
            "manylinux",
            "musllinux",
            "linux_",
            "macosx_",
            "win",
            "ios_",
            "android_",
        ]
        .iter()
        .any(|prefix| p.starts_with(prefix))
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether a wheel built for `plat` runs on the platform `want`: the same tag, or an older
/// glibc/musl (`manylinux_2_17` runs where `manylinux_2_28` does) or macOS on a compatible
/// architecture. `want` names the newest system, as pip's own platform list does for the
/// machine it runs on.
fn platform_fits(plat: &str, want: &str) -> bool {
    if plat == want {
        return true;
    }
    if let (Some((fam, v, arch)), Some((wfam, wv, warch))) = (linux_tag(plat), linux_tag(want)) {
        return fam == wfam && arch == warch && v <= wv;
    }
    if let (Some((v, arch)), Some((wv, warch))) = (mac_tag(plat), mac_tag(want)) {
        let arches: &[&str] = match warch {
            "arm64" => &["arm64", "universal2"],
            "x86_64" => &[
                "x86_64",
                "intel",
                "fat64",
                "fat3",
                "universal",
                "universal2",
            ],
            other => &[other][..],
        };
        return v <= wv && arches.contains(&arch);
    }
    false
}

/// `manylinux_2_17_x86_64`, `manylinux2014_aarch64`, `musllinux_1_2_x86_64` → (family,
/// (major, minor), architecture).
fn linux_tag(tag: &str) -> Option<(&str, (u32, u32), &str)> {
    for (legacy, glibc) in [
        ("manylinux1_", (2, 5)),
        ("manylinux2010_", (2, 12)),
        ("manylinux2014_", (2, 17)),
    ] {
        if let Some(arch) = tag.strip_prefix(legacy) {
            return Some(("manylinux", glibc, arch));
        }
    }
    let (fam, rest) = tag
        .strip_prefix("manylinux_")
        .map(|r| ("manylinux", r))
        .or_else(|| tag.strip_prefix("musllinux_").map(|r| ("musllinux", r)))?;
    let mut parts = rest.splitn(3, '_');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((fam, (major, minor), parts.next()?))
}

/// `macosx_11_0_arm64` → ((11, 0), `arm64`).
fn mac_tag(tag: &str) -> Option<((u32, u32), &str)> {
    let mut parts = tag.strip_prefix("macosx_")?.splitn(3, '_');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(((major, minor), parts.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels_for_a_target_as_pip_download_picks_them() {
        let target = |platforms: &[&str], py: Option<&str>, imp: Option<&str>, abis: &[&str]| {
            WheelTarget::new(&Target {
                platforms: platforms.iter().map(|s| s.to_string()).collect(),
                python_version: py.map(str::to_string),
                implementation: imp.map(str::to_string),
                abis: abis.iter().map(|s| s.to_string()).collect(),
            })
            .unwrap()
        };
        let files = [
            "n-1.0.tar.gz",
            "n-1.0-py3-none-any.whl",
            "n-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "n-1.0-cp311-cp311-manylinux_2_28_aarch64.whl",
            "n-1.0-cp311-cp311-musllinux_1_1_x86_64.whl",
            "n-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            "n-1.0-cp38-abi3-manylinux_2_5_x86_64.manylinux1_x86_64.whl",
            "n-1.0-cp311-cp311-macosx_10_9_x86_64.whl",
            "n-1.0-cp311-cp311-macosx_11_0_arm64.whl",
            "n-1.0-cp311-cp311-macosx_10_9_universal2.whl",
            "n-1.0-cp311-cp311-win_amd64.whl",
            "n-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl",
            "n-1.0-py2.py3-none-any.whl",
            "n-1.0-py312-none-any.whl",
            "n-1.0-cp311-cp311-manylinux_2_17_x86_64.whl.metadata",
            "n-1.0-py3.8-win32.egg",
        ];
        let kept = |t: &WheelTarget| -> Vec<usize> {
            (0..files.len()).filter(|&i| t.keeps(files[i])).collect()
        };
        // CPython 3.11 on glibc x86_64: its own wheels, older glibc, abi3 of older Pythons,
        // pure wheels and the sdist.
        let linux = target(&["manylinux_2_28_x86_64"], Some("3.11"), Some("cp"), &[]);
        assert!(linux.narrows());
        assert_eq!(kept(&linux), [0, 1, 2, 6, 12, 14]);
        // Without an implementation: the same here (PyPy's pp310 wheel is for Python 3.10).
        let any_impl = target(&["manylinux2014_x86_64"], Some("311"), None, &[]);
        assert_eq!(kept(&any_impl), [0, 1, 2, 6, 12, 14]);
        // Platforms alone: every Python.
        let macs = target(&["macosx_11_0_arm64"], None, None, &[]);
        assert_eq!(kept(&macs), [0, 1, 8, 9, 12, 13]);
        let intel = target(&["macosx_10_15_x86_64"], None, None, &[]);
        assert_eq!(kept(&intel), [0, 1, 7, 9, 12, 13]);
        let win = target(&["win_amd64", "musllinux_1_2_x86_64"], None, None, &[]);
        assert_eq!(kept(&win), [0, 1, 4, 10, 12, 13]);
        // An ABI list narrows ABI-specific wheels; abi3 and none always pass.
        let abi = target(&[], Some("3.12"), None, &["cp312"]);
        assert_eq!(kept(&abi), [0, 1, 5, 6, 12, 13]);
        // Other registries' platforms are not PyPI's: no narrowing at all.
        let other = target(&["linux-64", "linux/amd64"], None, None, &[]);
        assert!(!other.narrows());
        assert!(
            WheelTarget::new(&Target {
                python_version: Some("three".into()),
                ..Target::default()
            })
            .is_err()
        );
        assert_eq!(python_version("3.11"), Some((3, Some(11))));
        assert_eq!(python_version("310"), Some((3, Some(10))));
        assert_eq!(python_version("3"), Some((3, None)));
        assert_eq!(python_version("é"), None);
        assert!(platform_fits("manylinux1_x86_64", "manylinux_2_17_x86_64"));
        assert!(!platform_fits(
            "manylinux_2_28_x86_64",
            "manylinux2014_x86_64"
        ));
        assert!(!platform_fits(
            "manylinux_2_17_aarch64",
            "manylinux_2_28_x86_64"
        ));
        assert!(!platform_fits(
            "musllinux_1_1_x86_64",
            "manylinux_2_28_x86_64"
        ));
        assert!(!platform_fits("macosx_12_0_arm64", "macosx_11_0_arm64"));
    }
}
