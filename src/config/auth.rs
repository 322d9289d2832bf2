//! Upstream credentials as configured (`auth.<key>.*`): `AuthConfig`, how each field is parsed
//! (secrets from files, header names), the check that each is whole and belongs to a configured
//! upstream, and the list `upstream::Auth` is built from. Errors never show a secret.

use crate::error::{Error, Result};
use crate::registry;

use super::Config;

/// The credential of one upstream as configured: a user name and password, or a token (sent as
/// a bearer token, or in the header `header` names).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub username: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub header: Option<String>,
}

/// Secrets never reach a log line.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &hide(&self.password))
            .field("token", &hide(&self.token))
            .field("header", &self.header)
            .finish()
    }
}

/// The fields of `auth.<key>`; the `_file` ones name a file holding the secret.
pub(super) const AUTH_FIELDS: &[&str] = &[
    "username",
    "password",
    "password_file",
    "token",
    "token_file",
    "header",
];

/// Headers a credential may not be sent in: those that frame or route the request, or that the
/// proxy sets itself.
const NOT_CREDENTIAL_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "accept",
    "accept-encoding",
    "if-none-match",
    "range",
];

impl Config {
    /// Every `auth.<key>` must belong to a configured upstream and be whole: a user name with a
    /// password, or a token.
    pub(super) fn check_auth(&self) -> Result<()> {
        for (key, a) in &self.auth {
            let setting = format!("auth.{key}");
            let origin = self
                .origins
                .iter()
                .find(|(k, _)| k.starts_with(&format!("{setting}.")))
                .map_or("default".to_string(), |(_, o)| o.clone());
            let bad = |expected: &str| Error::config(&origin, &setting, "***", expected);
            if self.upstream(key).is_empty() {
                return Err(bad(&format!(
                    "credentials for a configured upstream: upstream.{key} is not set"
                )));
            }
            match (&a.username, &a.password, &a.token, &a.header) {
                (Some(_), Some(_), None, None) | (None, None, Some(_), _) => {}
                (_, _, None, Some(_)) => {
                    return Err(bad(
                        "a token (or token_file) for the header auth.<key>.header names",
                    ));
                }
                _ => {
                    return Err(bad(
                        "either username and password (or password_file), or token (or token_file)",
                    ));
                }
            }
            // A token goes in a header as it is: nothing that could split or end one.
            if a.token
                .as_ref()
                .is_some_and(|t| !t.bytes().all(|b| (b' '..=b'~').contains(&b)))
            {
                return Err(bad("a token of printable ASCII, to be sent in a header"));
            }
        }
        Ok(())
    }

    /// The configured credentials with the URLs of their upstreams, for `upstream::Auth`.
    pub(crate) fn credentials(&self) -> Vec<crate::upstream::auth::Credential> {
        use crate::upstream::auth::{Credential, Secret};
        self.auth
            .iter()
            .filter_map(|(key, a)| {
                let secret = match (&a.username, &a.password, &a.token, &a.header) {
                    (Some(u), Some(p), _, _) => Secret::Basic {
                        username: u.clone(),
                        password: p.clone(),
                    },
                    (_, _, Some(t), Some(h)) => Secret::Header {
                        name: h.clone(),
                        value: t.clone(),
                    },
                    (_, _, Some(t), None) => Secret::Bearer(t.clone()),
                    _ => return None,
                };
                let url = self.upstream(key);
                // An OCI upstream's path is a repository prefix, asked under `/v2/`.
                let url = match key.split('.').next() {
                    Some("oci") => registry::oci::requests_under(url),
                    _ => url.to_string(),
                };
                Some(Credential {
                    key: key.clone(),
                    url,
                    secret,
                })
            })
            .collect()
    }

    /// `auth.<upstream key>.<field>`: a credential's part. Errors never show the value.
    pub(super) fn set_auth(&mut self, key: &str, value: &str, origin: &str) -> Result<()> {
        let bad = |expected: String| Error::config(origin, key, "***", expected);
        let fields = AUTH_FIELDS.join(", ");
        let Some((upstream, field)) = key["auth.".len()..].rsplit_once('.') else {
            return Err(bad(format!(
                "auth.<upstream key>.<field>, a field one of {fields}"
            )));
        };
        if !(self.upstream.contains_key(upstream) || registry::is_named_key(upstream)) {
            return Err(bad(format!(
                "auth.<upstream key>.<field> for an upstream key (upstream.{upstream} is none)"
            )));
        }
        let secret_file = |path: &str| -> Result<String> {
            let text = std::fs::read_to_string(path)
                .map_err(|err| bad(format!("a readable file holding the secret ({err})")))?;
            Ok(text.trim_end_matches(['\r', '\n']).to_string())
        };
        let value = value.to_string();
        let entry = self.auth.entry(upstream.to_string()).or_default();
        match field {
            "username" => entry.username = Some(value),
            "password" => entry.password = Some(value),
            "password_file" => entry.password = Some(secret_file(&value)?),
            "token" => entry.token = Some(value),
            "token_file" => entry.token = Some(secret_file(&value)?),
            "header" => {
                // A header name (RFC 9110 token characters), not one that frames the request.
                let valid = !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                    && !NOT_CREDENTIAL_HEADERS.contains(&value.to_ascii_lowercase().as_str());
                if !valid {
                    return Err(Error::config(
                        origin,
                        key,
                        value,
                        "a header name such as PRIVATE-TOKEN or X-JFrog-Art-Api (letters, digits, \
                         -; not Host, Content-Length, Accept and the like)",
                    ));
                }
                entry.header = Some(value)
            }
            _ => return Err(bad(format!("a field of auth.{upstream}: one of {fields}"))),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sources::env_key;
    use crate::config::testing::env;

    #[test]
    fn upstream_credentials() {
        assert_eq!(
            env_key("PROXY_AUTH_OCI_GHCR_PASSWORD").as_deref(),
            Some("auth.oci.ghcr.password")
        );
        assert_eq!(
            env_key("PROXY_AUTH_OCI_PASSWORD_FILE").as_deref(),
            Some("auth.oci.password_file")
        );
        assert_eq!(
            env_key("PROXY_AUTH_HELM_MY_REPO_TOKEN").as_deref(),
            Some("auth.helm.my-repo.token")
        );
        assert_eq!(env_key("PROXY_AUTH_OCI"), None);
        let dir = std::env::temp_dir().join(format!("proxy-config-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let e = env(&[
            ("PROXY_UPSTREAM_OCI_GHCR", "https://ghcr.io"),
            ("PROXY_AUTH_OCI_GHCR_USERNAME", "me"),
            (
                "PROXY_AUTH_OCI_GHCR_PASSWORD_FILE",
                secret.to_str().unwrap(),
            ),
        ]);
        let c = Config::from_sources(None, &e, &[]).unwrap();
        let creds = c.credentials();
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].url, "https://ghcr.io");
        assert_eq!(
            creds[0].secret,
            crate::upstream::auth::Secret::Basic {
                username: "me".into(),
                password: "s3cret".into()
            }
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        // Incomplete, for an upstream not configured, a field that does not exist: errors that
        // never show the secret.
        for pairs in [
            &[("PROXY_AUTH_OCI_USERNAME", "me")][..],
            &[
                ("PROXY_AUTH_OCI_TOKEN", "t0ken"),
                ("PROXY_AUTH_OCI_PASSWORD", "pw"),
            ],
            &[("PROXY_AUTH_OCI_NOPE_TOKEN", "t0ken")],
            &[("PROXY_AUTH_HELM_TOKEN", "t0ken")],
        ] {
            let err = Config::from_sources(None, &env(pairs), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains("auth.") && !err.contains("t0ken"), "{err}");
        }
        // A token in a header of its own.
        let e = env(&[
            ("PROXY_AUTH_MAVEN_TOKEN", "t0ken"),
            ("PROXY_AUTH_MAVEN_HEADER", "X-JFrog-Art-Api"),
        ]);
        let c = Config::from_sources(None, &e, &[]).unwrap();
        assert_eq!(
            c.credentials()[0].secret,
            crate::upstream::auth::Secret::Header {
                name: "X-JFrog-Art-Api".into(),
                value: "t0ken".into()
            }
        );
        assert!(!format!("{c:?}").contains("t0ken"));
        for pairs in [
            &[("PROXY_AUTH_MAVEN_HEADER", "PRIVATE-TOKEN")][..],
            &[
                ("PROXY_AUTH_MAVEN_TOKEN", "t0ken"),
                ("PROXY_AUTH_MAVEN_HEADER", "Host"),
            ],
            &[
                ("PROXY_AUTH_MAVEN_TOKEN", "t0ken"),
                ("PROXY_AUTH_MAVEN_HEADER", "X: y"),
            ],
            &[
                ("PROXY_AUTH_MAVEN_TOKEN", "t0k\nen"),
                ("PROXY_AUTH_MAVEN_HEADER", "X-Key"),
            ],
        ] {
            let err = Config::from_sources(None, &env(pairs), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains("auth.maven") && !err.contains("t0k"), "{err}");
        }
        let mut c = Config::default();
        let err = c.set("auth.oci.passwd", "pw", "f").unwrap_err().to_string();
        assert!(
            err.contains("password_file") && !err.contains("\"pw\""),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
