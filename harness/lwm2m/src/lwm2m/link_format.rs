//! CoRE Link Format (RFC 6690 2), as LWM2M uses it in Register / Update payloads
//! (`</1/0>,</3/0>,…`, LWM2M 1.0 5.3.1) and Discover responses (1.0 5.4.2).
//!
//! Grammar (RFC 6690 2, with RFC 5987's `parmname`):
//! `link-value *("," link-value)`, `link-value = "<" URI-Reference ">" *(";" link-param)`,
//! `link-param = parmname ["=" (ptoken / quoted-string)]`. No whitespace is allowed between
//! the parts; an empty payload is an empty list. Parsing is strict and returns the byte offset
//! of the first problem. Quoted strings may hold `\"` and `\\` (RFC 2616 quoted-pair).

use std::fmt;

use thiserror::Error;

use crate::lwm2m::path::Path;

/// Link-format text that does not follow RFC 6690 2.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkFormatError {
    #[error("byte {offset}: expected {expected} (RFC 6690 2)")]
    Expected {
        offset: usize,
        expected: &'static str,
    },
    #[error("byte {offset}: '<' without a closing '>' (RFC 6690 2)")]
    UnterminatedTarget { offset: usize },
    #[error("byte {offset}: quoted string without a closing '\"' (RFC 6690 2)")]
    UnterminatedQuoted { offset: usize },
}

/// A link parameter value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParamValue {
    /// `name=token`.
    Token(String),
    /// `name="quoted"` (the value is held unescaped).
    Quoted(String),
}

impl ParamValue {
    /// The value text.
    pub fn as_str(&self) -> &str {
        match self {
            ParamValue::Token(s) | ParamValue::Quoted(s) => s,
        }
    }
}

/// `name`, `name=value` or `name="value"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkParam {
    pub name: String,
    pub value: Option<ParamValue>,
}

/// One link-value: target and parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Link {
    pub target: String,
    pub params: Vec<LinkParam>,
}

fn is_parmname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$&+-.^_`|~".contains(c)
}

fn is_ptoken_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'()*+-./:<=>?@[]^_`{|}~".contains(c)
}

impl Link {
    /// A link to `target` with no parameters.
    pub fn new(target: impl Into<String>) -> Link {
        Link {
            target: target.into(),
            params: Vec::new(),
        }
    }

    /// A link to an LWM2M path.
    pub fn to_path(path: &Path) -> Link {
        Link::new(path.to_string())
    }

    /// Add `name=value`, quoted if `value` is not a ptoken.
    pub fn param(mut self, name: &str, value: &str) -> Link {
        let value = if !value.is_empty() && value.chars().all(is_ptoken_char) {
            ParamValue::Token(value.to_string())
        } else {
            ParamValue::Quoted(value.to_string())
        };
        self.params.push(LinkParam {
            name: name.to_string(),
            value: Some(value),
        });
        self
    }

    /// Add `name="value"`.
    pub fn quoted(mut self, name: &str, value: &str) -> Link {
        self.params.push(LinkParam {
            name: name.to_string(),
            value: Some(ParamValue::Quoted(value.to_string())),
        });
        self
    }

    /// Add a bare `name`.
    pub fn flag(mut self, name: &str) -> Link {
        self.params.push(LinkParam {
            name: name.to_string(),
            value: None,
        });
        self
    }

    /// The value of the first parameter `name` (`Some("")` for a bare flag).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_ref().map_or("", ParamValue::as_str))
    }

    /// The target as an LWM2M path, if it is one.
    pub fn path(&self) -> Option<Path> {
        self.target.parse().ok()
    }
}

/// `</3/0>;rt="oma.lwm2m";ver=1.1`.
impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.target)?;
        for p in &self.params {
            write!(f, ";{}", p.name)?;
            match &p.value {
                None => {}
                Some(ParamValue::Token(t)) => write!(f, "={t}")?,
                Some(ParamValue::Quoted(q)) => {
                    f.write_str("=\"")?;
                    for c in q.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"")?;
                }
            }
        }
        Ok(())
    }
}

/// Links joined with `,`.
pub fn format(links: &[Link]) -> String {
    links
        .iter()
        .map(Link::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
    fn expect(&mut self, c: char, expected: &'static str) -> Result<(), LinkFormatError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(LinkFormatError::Expected {
                offset: self.pos,
                expected,
            })
        }
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.text[start..self.pos]
    }
}

/// Parse a link-format payload.
pub fn parse(text: &str) -> Result<Vec<Link>, LinkFormatError> {
    let mut c = Cursor { text, pos: 0 };
    let mut links = Vec::new();
    if text.is_empty() {
        return Ok(links);
    }
    loop {
        let open = c.pos;
        c.expect('<', "'<' starting a link")?;
        let target = c.take_while(|ch| ch != '>' && !ch.is_whitespace() && !ch.is_control());
        let target = target.to_string();
        if c.peek() != Some('>') {
            return Err(match c.peek() {
                None => LinkFormatError::UnterminatedTarget { offset: open },
                Some(_) => LinkFormatError::Expected {
                    offset: c.pos,
                    expected: "'>' (no whitespace in a URI-Reference)",
                },
            });
        }
        c.bump();
        let mut link = Link::new(target);
        while c.peek() == Some(';') {
            c.bump();
            let name = c.take_while(is_parmname_char).to_string();
            if name.is_empty() {
                return Err(LinkFormatError::Expected {
                    offset: c.pos,
                    expected: "a parameter name",
                });
            }
            let value = if c.peek() == Some('=') {
                c.bump();
                if c.peek() == Some('"') {
                    let quote = c.pos;
                    c.bump();
                    let mut value = String::new();
                    loop {
                        match c.bump() {
                            None => {
                                return Err(LinkFormatError::UnterminatedQuoted { offset: quote })
                            }
                            Some('"') => break,
                            Some('\\') => match c.bump() {
                                Some(escaped) => value.push(escaped),
                                None => {
                                    return Err(LinkFormatError::UnterminatedQuoted {
                                        offset: quote,
                                    })
                                }
                            },
                            Some(ch) => value.push(ch),
                        }
                    }
                    Some(ParamValue::Quoted(value))
                } else {
                    let token = c.take_while(is_ptoken_char).to_string();
                    if token.is_empty() {
                        return Err(LinkFormatError::Expected {
                            offset: c.pos,
                            expected: "a token or a quoted string after '='",
                        });
                    }
                    Some(ParamValue::Token(token))
                }
            } else {
                None
            };
            link.params.push(LinkParam { name, value });
        }
        links.push(link);
        match c.peek() {
            None => return Ok(links),
            Some(',') => {
                c.bump();
            }
            Some(_) => {
                return Err(LinkFormatError::Expected {
                    offset: c.pos,
                    expected: "',', ';' or the end",
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[test]
    fn an_lwm2m_registration_payload() {
        let text = "</>;rt=\"oma.lwm2m\";ct=11543,</1/0>,</3/0>,</5>;ver=1.1,</3303/0>";
        let links = parse(text).unwrap();
        assert_eq!(links.len(), 5);
        assert_eq!(links[0].target, "/");
        assert_eq!(links[0].get("rt"), Some("oma.lwm2m"));
        assert_eq!(links[0].get("ct"), Some("11543"));
        assert_eq!(links[1].path(), Some(Path::instance(1, 0)));
        assert_eq!(links[3].get("ver"), Some("1.1"));
        assert_eq!(format(&links), text);
    }

    #[test]
    fn building() {
        let links = vec![
            Link::to_path(&Path::instance(1, 0)),
            Link::to_path(&Path::instance(3, 0))
                .param("ver", "1.0")
                .flag("obs"),
            Link::new("/x").param("title", "a \"b\", c"),
        ];
        let text = format(&links);
        assert_eq!(text, r#"</1/0>,</3/0>;ver=1.0;obs,</x>;title="a \"b\", c""#);
        assert_eq!(parse(&text).unwrap(), links);
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[rstest]
    #[case("/1/0", LinkFormatError::Expected { offset: 0, expected: "'<' starting a link" })]
    #[case("</1/0", LinkFormatError::UnterminatedTarget { offset: 0 })]
    #[case("</1/0>,", LinkFormatError::Expected { offset: 7, expected: "'<' starting a link" })]
    #[case("</1/0> ,</2>", LinkFormatError::Expected { offset: 6, expected: "',', ';' or the end" })]
    #[case("</1 /0>", LinkFormatError::Expected { offset: 3, expected: "'>' (no whitespace in a URI-Reference)" })]
    #[case("</1/0>;", LinkFormatError::Expected { offset: 7, expected: "a parameter name" })]
    #[case("</1/0>;ct=", LinkFormatError::Expected { offset: 10, expected: "a token or a quoted string after '='" })]
    #[case("</1/0>;rt=\"x", LinkFormatError::UnterminatedQuoted { offset: 10 })]
    #[case("</1/0>;rt=\"x\\", LinkFormatError::UnterminatedQuoted { offset: 10 })]
    fn malformed(#[case] text: &str, #[case] error: LinkFormatError) {
        assert_eq!(parse(text), Err(error));
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(
            targets in proptest::collection::vec("/[a-z0-9/]{0,10}", 1..5),
            value in "[ -~]{0,12}",
        ) {
            let links: Vec<Link> = targets.iter().map(|t| Link::new(t.clone()).param("p", &value)).collect();
            prop_assert_eq!(parse(&format(&links)).unwrap(), links);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,60}") {
            // Whatever parses formats back to something that parses to the same links.
            if let Ok(links) = parse(&text) {
                prop_assert_eq!(parse(&format(&links)).unwrap(), links);
            }
        }
    }
}
