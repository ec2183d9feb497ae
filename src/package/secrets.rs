//! Files that look like secrets (`.env`, private keys, registry credentials) about to be
//! packaged: each gets one warning naming the file and the pattern that leaves it out. Only
//! names are looked at; contents are never read or printed.

/// Exact file names that usually hold credentials.
const SECRET_NAMES: &[&str] = &[
    ".env",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    "credentials",
    "credentials.json",
    "service-account.json",
    "terraform.tfstate",
];

/// File extensions of keys, certificates bundles and keystores.
const SECRET_EXTENSIONS: &[&str] = &["pem", "key", "p12", "pfx", "jks", "keystore", "ppk"];

/// `.env.*` variants that are templates, not secrets.
const ENV_TEMPLATES: &[&str] = &[".env.example", ".env.sample", ".env.template", ".env.dist"];

/// Why `path` (a zip path) looks like a secret, as the glob that describes it, or `None`.
pub fn looks_like_secret(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if let Some(known) = SECRET_NAMES.iter().find(|known| **known == name) {
        return Some(known);
    }
    if name.starts_with(".env.") && !ENV_TEMPLATES.contains(&name) {
        return Some(".env.*");
    }
    let (stem, extension) = name.rsplit_once('.')?;
    if stem.is_empty() {
        return None;
    }
    let extension = extension.to_ascii_lowercase();
    SECRET_EXTENSIONS
        .iter()
        .find(|known| **known == extension)
        .map(|known| match *known {
            "pem" => "*.pem",
            "key" => "*.key",
            "p12" => "*.p12",
            "pfx" => "*.pfx",
            "jks" => "*.jks",
            "keystore" => "*.keystore",
            _ => "*.ppk",
        })
}

#[cfg(test)]
mod tests {
    use super::looks_like_secret;

    #[test]
    fn known_secret_files_are_recognised() {
        for (path, kind) in [
            (".env", ".env"),
            ("config/.env.production", ".env.*"),
            ("certs/server.pem", "*.pem"),
            ("tls/private.KEY", "*.key"),
            ("home/.ssh/id_rsa", "id_rsa"),
            ("id_ed25519", "id_ed25519"),
            (".npmrc", ".npmrc"),
            (".aws/credentials", "credentials"),
            ("store.p12", "*.p12"),
        ] {
            assert_eq!(looks_like_secret(path), Some(kind), "{path}");
        }
    }

    #[test]
    fn ordinary_files_are_not() {
        for path in [
            "handler.py",
            ".env.example",
            "src/keys.py",
            "id_rsa.pub",
            "keyboard.js",
            "docs/.pem",
            "node_modules/pkg/README.md",
        ] {
            assert_eq!(looks_like_secret(path), None, "{path}");
        }
    }
}
