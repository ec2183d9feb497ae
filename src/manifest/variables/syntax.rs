//! The text of Serverless variables: finding `${...}` in a string and splitting one into its
//! source, address and fallbacks.
//!
//! A `${...}` is a variable only when it starts like one: `source:address` or
//! `source(param):address` (address not starting with `:`). Everything else, notably
//! CloudFormation's `${AWS::Region}` and `!Sub` references such as `${MyBucket}`, is plain text.

/// A top-level variable in a string: byte range of `${...}` and its inner text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Byte offset of `$`.
    pub start: usize,
    /// Byte offset just after the closing `}`.
    pub end: usize,
    /// The text between `${` and `}`.
    pub inner: String,
}

/// The top-level Serverless variables in `text`, in order.
pub fn find(text: &str) -> Vec<Found> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'$'
            && bytes[i + 1] == b'{'
            && let Some(end) = matching_close(text, i)
        {
            let inner = &text[i + 2..end];
            if is_variable(inner) {
                found.push(Found {
                    start: i,
                    end: end + 1,
                    inner: inner.to_string(),
                });
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    found
}

/// Whether `text` holds at least one Serverless variable.
pub fn has_variables(text: &str) -> bool {
    text.contains("${") && !find(text).is_empty()
}

/// The index of the `}` closing the `${` at `open`, counting nested `${...}`.
fn matching_close(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// Whether the inner text of a `${...}` starts like a Serverless variable.
fn is_variable(inner: &str) -> bool {
    let first = split_parts(inner).into_iter().next().unwrap_or_default();
    matches!(parse_part(&first), Part::Ref { .. })
}

/// One comma-separated part of a variable: a reference or a literal fallback.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// `source:address`, `source(param):address` or `source(param)`.
    Ref {
        /// `self`, `opt`, `env`, `file`...
        source: String,
        /// The text in parentheses, for `file(...)`, `cf(region)`...
        param: Option<String>,
        /// What follows the first `:` (may be empty).
        address: String,
    },
    /// A quoted string.
    Text(String),
    /// A number.
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// Something else, kept as text (unquoted fallbacks).
    Bare(String),
}

/// Splits the inner text at top-level commas (not inside quotes, parentheses or `${...}`).
pub fn split_parts(inner: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            current.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' if depth == 0 && current.trim().is_empty() => {
                quote = Some(c);
                current.push(c);
            }
            '$' if chars.peek() == Some(&'{') => {
                current.push(c);
                if let Some(brace) = chars.next() {
                    current.push(brace);
                }
                depth += 1;
            }
            '(' => {
                depth += 1;
                current.push(c);
            }
            '}' | ')' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => {
                parts.push(current.trim().to_string());
                current.clear();
            }
            _ => current.push(c),
        }
    }
    parts.push(current.trim().to_string());
    parts
}

/// Parses one part (already free of nested variables, except when it is one).
pub fn parse_part(part: &str) -> Part {
    let part = part.trim();
    for q in ['\'', '"'] {
        if part.len() >= 2 && part.starts_with(q) && part.ends_with(q) {
            return Part::Text(part[1..part.len() - 1].to_string());
        }
    }
    match part {
        "true" => return Part::Bool(true),
        "false" => return Part::Bool(false),
        "null" => return Part::Null,
        _ => {}
    }
    if let Ok(n) = part.parse::<f64>()
        && part.bytes().any(|b| b.is_ascii_digit())
    {
        return Part::Number(n);
    }
    let name_len = part
        .char_indices()
        .take_while(|(i, c)| {
            if *i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric() || *c == '_' || *c == '-'
            }
        })
        .count();
    if name_len == 0 {
        return Part::Bare(part.to_string());
    }
    let source = &part[..name_len];
    let mut rest = &part[name_len..];
    let mut param = None;
    if let Some(after) = rest.strip_prefix('(') {
        let Some(close) = closing_paren(after) else {
            return Part::Bare(part.to_string());
        };
        param = Some(after[..close].trim().to_string());
        rest = &after[close + 1..];
        if rest.is_empty() {
            return Part::Ref {
                source: source.to_string(),
                param,
                address: String::new(),
            };
        }
    }
    match rest.strip_prefix(':') {
        Some(address) if !address.starts_with(':') => Part::Ref {
            source: source.to_string(),
            param,
            address: address.trim().to_string(),
        },
        _ => Part::Bare(part.to_string()),
    }
}

fn closing_paren(text: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_variables_but_not_cloudformation_references() {
        let found = find("arn:${AWS::Region}:${self:service}-${Bucket}-${opt:stage, 'dev'}");
        let inner: Vec<_> = found.iter().map(|f| f.inner.as_str()).collect();
        assert_eq!(inner, vec!["self:service", "opt:stage, 'dev'"]);
    }

    #[test]
    fn nested_variables_are_one_top_level_variable() {
        let found = find("${file(./config/${opt:stage}.yml):KEY}-x");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].inner, "file(./config/${opt:stage}.yml):KEY");
        assert_eq!(found[0].end, "${file(./config/${opt:stage}.yml):KEY}".len());
    }

    #[test]
    fn splits_fallbacks() {
        assert_eq!(
            split_parts("opt:stage, env:A, 'a, b', ${self:x, 'y'}"),
            vec!["opt:stage", "env:A", "'a, b'", "${self:x, 'y'}"]
        );
    }

    #[test]
    fn parses_parts() {
        assert_eq!(
            parse_part("file(./x.yml):a.b"),
            Part::Ref {
                source: "file".into(),
                param: Some("./x.yml".into()),
                address: "a.b".into()
            }
        );
        assert_eq!(
            parse_part("file(./x.yml)"),
            Part::Ref {
                source: "file".into(),
                param: Some("./x.yml".into()),
                address: String::new()
            }
        );
        assert_eq!(parse_part("'dev'"), Part::Text("dev".into()));
        assert_eq!(parse_part("\"\""), Part::Text(String::new()));
        assert_eq!(parse_part("512"), Part::Number(512.0));
        assert_eq!(parse_part("false"), Part::Bool(false));
        assert_eq!(parse_part("AWS::Region"), Part::Bare("AWS::Region".into()));
    }
}
