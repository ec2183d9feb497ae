//! Masks secrets in any text stratus prints or logs.
//!
//! [`redact`] recognises secrets by shape — `Authorization:` header values, `Basic` / `Bearer`
//! credentials, OpenWhisk `uuid:key` auth strings, the values of keys whose name says "secret"
//! (`password`, `token`, `AUTH`, `client_secret`...) — and also masks every exact value handed to
//! [`register_secret`] (credentials read from a config file), wherever it appears. Error types of
//! the HTTP layer pass every server body and URL through it, so a secret echoed back by a server
//! never reaches the terminal.

use std::sync::{Mutex, OnceLock};

/// What a masked secret is replaced with.
pub const MASK: &str = "(redacted)";

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers `secret` so that [`redact`] masks it wherever it appears (values shorter than
/// 6 characters are ignored: masking them would garble ordinary text).
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < 6 {
        return;
    }
    let mut secrets = registry()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !secrets.iter().any(|known| known == secret) {
        secrets.push(secret.to_string());
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|known| std::cmp::Reverse(known.len()));
    }
}

/// Key names whose values are secrets (compared case-insensitively, ignoring `-` and `_`).
const SECRET_KEYS: &[&str] = &[
    "authorization",
    "auth",
    "authkey",
    "password",
    "passwd",
    "secret",
    "clientsecret",
    "token",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "apikey",
    "accesskey",
    "secretaccesskey",
    "privatekey",
    "sessiontoken",
    "sig",
    "signature",
    "credentials",
];

/// Whether a key (header, JSON field, environment variable) names a secret: `password`,
/// `AUTH`, `*_TOKEN`, `AWS_ACCESS_KEY_ID`... Plans show such values as `(sensitive)` and
/// redaction masks them.
pub fn is_secret_key(key: &str) -> bool {
    let normalized: String = key
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.contains(&normalized.as_str())
        || normalized.ends_with("token")
        || SECRET_WORDS.iter().any(|word| normalized.contains(word))
}

/// Words that make any key containing them a secret (`DB_PASSWORD`, `AWS_ACCESS_KEY_ID`...).
/// Matched on the lower-cased key without `-` and `_`.
const SECRET_WORDS: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "credential",
    "apikey",
    "accesskey",
    "privatekey",
];

/// Returns `text` with every secret it recognises replaced by [`MASK`].
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    {
        let secrets = registry()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
    }
    let out = mask_schemes(&out);
    let out = mask_key_values(&out);
    mask_uuid_keys(&out)
}

/// A URL as it may be shown: user info dropped, values of secret query keys masked.
pub fn redact_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() || shown.password().is_some() {
        // Setting user info only fails for URLs that cannot have it (then there is none).
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret_key(&key) {
                    MASK.to_string()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    redact(shown.as_str())
}

/// `Basic xxx` / `Bearer xxx` → `Basic (redacted)`.
fn mask_schemes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for scheme in ["Basic ", "Bearer ", "basic ", "bearer "] {
            if let Some(tail) = rest.strip_prefix(scheme) {
                let end = tail.find(is_token_end).unwrap_or(tail.len());
                if end > 0 {
                    out.push_str(scheme);
                    out.push_str(MASK);
                    rest = &tail[end..];
                    continue 'scan;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

fn is_token_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '}' | ']' | '&' | ')')
}

/// `"password": "x"`, `password=x`, `AUTH=x`, `Authorization: x` → value masked.
fn mask_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let c = bytes[i];
        if c.is_ascii_alphabetic() && (i == 0 || !is_key_char(bytes[i - 1])) {
            let key_end = text[i..]
                .find(|c: char| !is_key_char_ch(c))
                .map_or(text.len(), |n| i + n);
            let key = &text[i..key_end];
            if is_secret_key(key)
                && let Some((value_start, value_end)) = value_after(text, key_end)
            {
                out.push_str(&text[i..value_start]);
                out.push_str(MASK);
                i = value_end;
                continue;
            }
            out.push_str(key);
            i = key_end;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_key_char_ch(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Finds the value that follows a key: `": "v"`, `=v`, `: v`. Returns its byte range.
fn value_after(text: &str, key_end: usize) -> Option<(usize, usize)> {
    let rest = &text[key_end..];
    let rest_trim = rest.trim_start_matches(['"', '\'']);
    let mut pos = key_end + (rest.len() - rest_trim.len());
    let after = &text[pos..];
    let sep_len = after.len() - after.trim_start_matches([' ', '\t']).len();
    pos += sep_len;
    let after = &text[pos..];
    let separator = after.chars().next()?;
    if separator != ':' && separator != '=' {
        return None;
    }
    pos += 1;
    let after = &text[pos..];
    pos += after.len() - after.trim_start_matches([' ', '\t']).len();
    let after = &text[pos..];
    if let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let inner = &after[1..];
        let end = inner.find(quote).unwrap_or(inner.len());
        if end == 0 {
            return None;
        }
        return Some((pos + 1, pos + 1 + end));
    }
    // Unquoted: an `Authorization:` header value runs to the end of the line.
    let end = if text[..key_end]
        .to_ascii_lowercase()
        .ends_with("authorization")
    {
        after.find(['\n', '\r']).unwrap_or(after.len())
    } else {
        after.find(is_token_end).unwrap_or(after.len())
    };
    if end == 0 || after.starts_with('{') || after.starts_with('[') {
        return None;
    }
    Some((pos, pos + end))
}

/// OpenWhisk auth strings: a UUID, a colon, and a long alphanumeric key.
fn mask_uuid_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if let Some(len) = uuid_key_at(&text[i..])
            && (i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric())
        {
            out.push_str(MASK);
            i += len;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn uuid_key_at(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let groups = [8, 4, 4, 4, 12];
    let mut pos = 0;
    for (n, len) in groups.iter().enumerate() {
        for _ in 0..*len {
            if !bytes.get(pos)?.is_ascii_hexdigit() {
                return None;
            }
            pos += 1;
        }
        let expected = if n == groups.len() - 1 { b':' } else { b'-' };
        if *bytes.get(pos)? != expected {
            return None;
        }
        pos += 1;
    }
    let key_len = bytes[pos..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    (key_len >= 16).then_some(pos + key_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

    #[test]
    fn openwhisk_auth_strings_are_masked() {
        let text = format!("AUTH {AUTH} and again ({AUTH})");
        let shown = redact(&text);
        assert!(!shown.contains("123zO3xZ"), "{shown}");
        assert!(!shown.contains("23bc46b1"), "{shown}");
        assert_eq!(shown.matches(MASK).count(), 2, "{shown}");
    }

    #[test]
    fn authorization_headers_and_bearer_tokens_are_masked() {
        let shown = redact("authorization: Basic dXNlcjpwYXNz\nx-request-id: 42");
        assert!(!shown.contains("dXNlcjpwYXNz"), "{shown}");
        assert!(shown.contains("x-request-id: 42"), "{shown}");
        let shown = redact("calling with Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig now");
        assert!(!shown.contains("eyJhbGci"), "{shown}");
        assert!(shown.ends_with(" now"), "{shown}");
    }

    #[test]
    fn values_of_secret_keys_are_masked_in_json_and_env_syntax() {
        let shown = redact(r#"{"user": "ann", "password": "hunter22", "client_secret":"s3cr3t"}"#);
        assert!(
            !shown.contains("hunter22") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        assert!(shown.contains(r#""user": "ann""#), "{shown}");
        let shown = redact("APIHOST=https://example.test\nAUTH=abc:defghijk\nNAMESPACE=guest");
        assert!(!shown.contains("defghijk"), "{shown}");
        assert!(shown.contains("APIHOST=https://example.test"), "{shown}");
        assert!(shown.contains("NAMESPACE=guest"), "{shown}");
    }

    #[test]
    fn registered_secrets_are_masked_anywhere() {
        register_secret("plain-looking-value-42");
        let shown = redact("the server echoed plain-looking-value-42 back");
        assert_eq!(shown, format!("the server echoed {MASK} back"));
        register_secret("abc");
        assert_eq!(redact("abc"), "abc", "short values are not registered");
    }

    #[test]
    fn urls_lose_user_info_and_secret_query_values() {
        let url =
            reqwest::Url::parse("https://me:pw@host.test/a?limit=5&access_token=xyz").unwrap();
        let shown = redact_url(&url);
        assert!(!shown.contains("pw@") && !shown.contains("xyz"), "{shown}");
        assert!(shown.contains("limit=5"), "{shown}");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let text = "GET /api/v1/namespaces/guest/actions?limit=30 returned 404: not found";
        assert_eq!(redact(text), text);
        assert_eq!(redact("tokens: 5, author: me"), "tokens: 5, author: me");
    }
}
