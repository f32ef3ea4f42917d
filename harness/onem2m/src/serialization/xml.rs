//! XML serialization of primitives (R1 6.5.4, R2 7.5.4; TS-0004 8.2), mapped onto the same
//! generic short-name value model as JSON and CBOR.
//!
//! Encoding: the request root is `m2m:rqp`, the response root `m2m:rsp`, both declaring
//! `xmlns:m2m="http://www.onem2m.org/xml/protocols"`. Every map entry becomes a child element
//! named by its key; an object becomes child elements per key, an array becomes repeated
//! elements of the same name, scalars become text, `null` an empty element. Inside `pc`, a
//! string-valued key of [`ATTRIBUTE_NAMES`] (the resource name `rn`) is written as an XML
//! attribute of its element, as TS-0004's XSDs declare it: `<m2m:cnt rn="c1"><mni>5</mni></m2m:cnt>`.
//!
//! Decoding: attributes become keys (except `xmlns` / `xmlns:*`); an element with child
//! elements or attributes becomes an object; repeated child elements become an array; a leaf
//! becomes text, converted to an integer for [`INTEGER_NAMES`] and to a boolean for
//! [`BOOLEAN_NAMES`] (`true`/`false`), and for the absRelTimestamps [`ABS_REL_NAMES`] to an
//! integer when it is a decimal integer. Text next to child elements or attributes is kept
//! under the key `#text` when it is not whitespace.
//!
//! Round-trip limits (XML has no types of its own):
//! * a single child element decodes as a value, not a one-element array — except for
//!   [`ALWAYS_ARRAY_NAMES`], which always decode as arrays;
//! * for [`SPACE_LIST_NAMES`] (xs:list types in TS-0004) each element's text is also split
//!   at whitespace, so both `<lbl>a</lbl><lbl>b</lbl>` and `<lbl>a b</lbl>` decode as
//!   `["a","b"]`, and list items containing whitespace (or empty ones) do not survive;
//! * numbers and booleans under other names decode as strings, strings under integer or
//!   boolean names that look like numbers/booleans decode as numbers/booleans;
//! * `null`, empty objects and empty strings all decode as `""`; empty arrays vanish;
//! * arrays nested directly in arrays, keys that are not XML names, and characters XML 1.0
//!   forbids cannot be encoded ([`CodecError::Encode`]).

use super::PrimitiveKind;
use crate::error::CodecError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde_json::{Map, Value};

const FORMAT: &str = "xml";

/// The oneM2M protocols namespace bound to the `m2m` prefix.
pub const NAMESPACE: &str = "http://www.onem2m.org/xml/protocols";
/// Root element of a request primitive (m2m:requestPrimitive).
pub const REQUEST_ROOT: &str = "m2m:rqp";
/// Root element of a response primitive (m2m:responsePrimitive).
pub const RESPONSE_ROOT: &str = "m2m:rsp";
/// Short names whose leaf text decodes as an integer.
pub const INTEGER_NAMES: &[&str] = &[
    "op", "ty", "rsc", "rcn", "cs", "cni", "cbs", "mni", "mbs", "mia", "st", "rtv", "cst", "nct",
    "acop", "exc", "mdn",
];
/// Short names whose leaf text `true` / `false` decodes as a boolean.
pub const BOOLEAN_NAMES: &[&str] = &["rr"];
/// absRelTimestamp parameters: leaf text that is a decimal integer decodes as an integer.
pub const ABS_REL_NAMES: &[&str] = &["rqet", "rset", "oet"];
/// Short names that always decode as arrays, even from a single element.
pub const ALWAYS_ARRAY_NAMES: &[&str] = &["lbl", "srv", "poa", "acpi", "nu", "sce"];
/// xs:list short names whose element text is additionally split at whitespace.
pub const SPACE_LIST_NAMES: &[&str] = &["lbl", "srv", "poa", "acpi", "nu"];
/// Keys written as XML attributes (when string-valued) inside `pc`.
pub const ATTRIBUTE_NAMES: &[&str] = &["rn"];
/// Maximum element nesting accepted by the decoder (and produced by the encoder).
pub const MAX_DEPTH: usize = 128;
/// Key holding non-whitespace text of an element that also has children or attributes.
pub const TEXT_KEY: &str = "#text";

fn malformed(detail: impl Into<String>) -> CodecError {
    CodecError::Malformed {
        format: FORMAT,
        detail: detail.into(),
    }
}

fn encode_error(detail: impl Into<String>) -> CodecError {
    CodecError::Encode {
        format: FORMAT,
        detail: detail.into(),
    }
}

// ---------------------------------------------------------------- encoding

/// Encode a short-name map under `root` (e.g. [`REQUEST_ROOT`]).
pub fn encode(map: &Map<String, Value>, root: &str) -> Result<Vec<u8>, CodecError> {
    check_name(root)?;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    out.push_str(&format!("<{root} xmlns:m2m=\"{NAMESPACE}\">"));
    for (k, v) in map {
        write_element(&mut out, k, v, k == "pc", 1)?;
    }
    out.push_str(&format!("</{root}>"));
    Ok(out.into_bytes())
}

/// A simplified XML Name check: ASCII `[A-Za-z_][A-Za-z0-9._-]*`, optionally `prefix:` first.
fn check_name(name: &str) -> Result<(), CodecError> {
    let part_ok = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    let ok = match name.split_once(':') {
        Some((prefix, local)) => part_ok(prefix) && part_ok(local),
        None => part_ok(name),
    };
    if ok {
        Ok(())
    } else {
        Err(encode_error(format!(
            "{name:?} is not a valid XML element name"
        )))
    }
}

/// Append `s` escaped; attribute values also escape quotes and whitespace that attribute
/// value normalization would otherwise turn into spaces.
fn push_escaped(out: &mut String, s: &str, attribute: bool) -> Result<(), CodecError> {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                return Err(encode_error(format!(
                    "character U+{:04X} is not allowed in XML 1.0",
                    c as u32
                )));
            }
            c => out.push(c),
        }
    }
    Ok(())
}

fn write_element(
    out: &mut String,
    name: &str,
    v: &Value,
    in_pc: bool,
    depth: usize,
) -> Result<(), CodecError> {
    check_name(name)?;
    if depth > MAX_DEPTH {
        return Err(encode_error(format!(
            "nesting deeper than {MAX_DEPTH} elements"
        )));
    }
    match v {
        Value::Array(items) => {
            for item in items {
                if item.is_array() {
                    return Err(encode_error(format!(
                        "array nested in array under {name:?}"
                    )));
                }
                write_element(out, name, item, in_pc, depth)?;
            }
        }
        Value::Object(fields) => {
            out.push('<');
            out.push_str(name);
            let is_attr =
                |k: &str, v: &Value| in_pc && ATTRIBUTE_NAMES.contains(&k) && v.is_string();
            for (k, v) in fields.iter().filter(|(k, v)| is_attr(k, v)) {
                out.push_str(&format!(" {k}=\""));
                push_escaped(out, v.as_str().unwrap_or_default(), true)?;
                out.push('"');
            }
            let mut children = fields.iter().filter(|(k, v)| !is_attr(k, v)).peekable();
            if children.peek().is_none() {
                out.push_str("/>");
            } else {
                out.push('>');
                for (k, v) in children {
                    write_element(out, k, v, in_pc, depth + 1)?;
                }
                out.push_str(&format!("</{name}>"));
            }
        }
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::Bool(b) => out.push_str(&format!("<{name}>{b}</{name}>")),
        Value::Number(n) => out.push_str(&format!("<{name}>{n}</{name}>")),
        Value::String(s) => {
            out.push_str(&format!("<{name}>"));
            push_escaped(out, s, false)?;
            out.push_str(&format!("</{name}>"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- decoding

/// An element being decoded.
struct Frame {
    name: String,
    fields: Map<String, Value>,
    has_fields: bool,
    text: String,
}

impl Frame {
    fn new(name: String) -> Self {
        Frame {
            name,
            fields: Map::new(),
            has_fields: false,
            text: String::new(),
        }
    }

    /// Add a child element's (or attribute's) value, grouping repeats into an array.
    fn add(&mut self, name: String, value: Value) {
        self.has_fields = true;
        if ALWAYS_ARRAY_NAMES.contains(&name.as_str()) {
            let items = match value {
                Value::String(s) if SPACE_LIST_NAMES.contains(&name.as_str()) => s
                    .split_ascii_whitespace()
                    .map(|x| Value::String(x.to_string()))
                    .collect(),
                other => vec![other],
            };
            match self.fields.get_mut(&name) {
                Some(Value::Array(a)) => a.extend(items),
                Some(other) => {
                    let mut a = vec![other.take()];
                    a.extend(items);
                    *other = Value::Array(a);
                }
                None => {
                    self.fields.insert(name, Value::Array(items));
                }
            }
            return;
        }
        // Child values are never arrays, so an array here was built from repeats.
        match self.fields.get_mut(&name) {
            Some(Value::Array(a)) => a.push(value),
            Some(other) => {
                let first = other.take();
                *other = Value::Array(vec![first, value]);
            }
            None => {
                self.fields.insert(name, value);
            }
        }
    }

    fn finish(mut self) -> (String, Value) {
        if !self.has_fields {
            let v = leaf(&self.name, self.text);
            return (self.name, v);
        }
        if !self.text.trim().is_empty() {
            self.fields
                .insert(TEXT_KEY.to_string(), Value::String(self.text));
        }
        (self.name, Value::Object(self.fields))
    }
}

/// Typed conversion of leaf text (and attribute values) by short name.
fn leaf(name: &str, text: String) -> Value {
    let trimmed = text.trim();
    if INTEGER_NAMES.contains(&name) || ABS_REL_NAMES.contains(&name) {
        if let Ok(i) = trimmed.parse::<i64>() {
            return Value::from(i);
        }
    } else if BOOLEAN_NAMES.contains(&name) {
        match trimmed {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    Value::String(text)
}

fn utf8(bytes: &[u8]) -> Result<String, CodecError> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|e| malformed(e.to_string()))
}

/// Start an element frame with its attributes (minus namespace declarations).
fn open(e: &BytesStart<'_>, reader: &Reader<&[u8]>) -> Result<Frame, CodecError> {
    let mut frame = Frame::new(utf8(e.name().as_ref())?);
    for attr in e.attributes() {
        let attr = attr.map_err(|e| malformed(e.to_string()))?;
        let key = utf8(attr.key.as_ref())?;
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attr
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| malformed(e.to_string()))?;
        let value = leaf(&key, value.into_owned());
        frame.add(key, value);
    }
    Ok(frame)
}

/// True when `name` is `expected` itself or its local part without a prefix (`rqp` for `m2m:rqp`).
fn root_matches(name: &str, expected: &str) -> bool {
    name == expected
        || expected
            .split_once(':')
            .is_some_and(|(_, local)| name == local)
}

/// Decode an XML primitive whose root is that of `kind` (either root when `None`; the root may
/// also be written unprefixed, e.g. `<rqp xmlns="...">`). Returns the root name as written and
/// the short-name map of its attributes and children.
///
/// Errors: [`CodecError::WrongXmlRoot`]; [`CodecError::NotAnObject`] for a root holding only
/// text; [`CodecError::Malformed`] for anything quick-xml rejects (mismatched or unclosed
/// tags, bad escapes, invalid UTF-8, duplicate attributes), content outside the root, no
/// root, or nesting deeper than [`MAX_DEPTH`].
pub fn decode(
    bytes: &[u8],
    kind: Option<PrimitiveKind>,
) -> Result<(String, Map<String, Value>), CodecError> {
    let mut reader = Reader::from_reader(bytes);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                return Err(malformed(format!(
                    "element <{}> after the root element",
                    String::from_utf8_lossy(e.name().as_ref())
                )));
            }
            Event::Start(e) => {
                let frame = open(&e, &reader)?;
                if stack.is_empty() {
                    check_root(&frame.name, kind)?;
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed(format!(
                        "nesting deeper than {MAX_DEPTH} elements"
                    )));
                }
                stack.push(frame);
            }
            Event::Empty(e) => {
                let frame = open(&e, &reader)?;
                if stack.is_empty() {
                    check_root(&frame.name, kind)?;
                }
                close(frame, &mut stack, &mut root);
            }
            Event::End(_) => {
                let frame = stack.pop().ok_or_else(|| malformed("unmatched end tag"))?;
                close(frame, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| malformed(e.to_string()))?;
                push_text(&mut stack, &text)?;
            }
            Event::CData(c) => {
                let text = utf8(&c.into_inner())?;
                push_text(&mut stack, &text)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(malformed(format!(
            "truncated: element <{}> is not closed",
            open.name
        )));
    }
    match root {
        Some((name, Value::Object(m))) => Ok((name, m)),
        // An empty root (`<m2m:rqp/>`) is an empty primitive.
        Some((name, Value::String(s))) if s.trim().is_empty() => Ok((name, Map::new())),
        Some(_) => Err(CodecError::NotAnObject { format: FORMAT }),
        None => Err(malformed("no root element")),
    }
}

fn check_root(name: &str, kind: Option<PrimitiveKind>) -> Result<(), CodecError> {
    let ok = match kind {
        Some(k) => root_matches(name, k.xml_root()),
        None => root_matches(name, REQUEST_ROOT) || root_matches(name, RESPONSE_ROOT),
    };
    if ok {
        Ok(())
    } else {
        let expected = kind.map_or("m2m:rqp or m2m:rsp", PrimitiveKind::xml_root);
        Err(CodecError::WrongXmlRoot {
            expected,
            found: name.to_string(),
        })
    }
}

fn close(frame: Frame, stack: &mut [Frame], root: &mut Option<(String, Value)>) {
    let (name, value) = frame.finish();
    match stack.last_mut() {
        Some(parent) => parent.add(name, value),
        None => *root = Some((name, value)),
    }
}

/// Text inside an element is collected; outside the root only whitespace is allowed.
fn push_text(stack: &mut [Frame], text: &str) -> Result<(), CodecError> {
    match stack.last_mut() {
        Some(frame) => {
            frame.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(malformed("text outside the root element")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn enc(v: Value) -> String {
        String::from_utf8(encode(&obj(v), REQUEST_ROOT).unwrap()).unwrap()
    }

    fn dec(s: &str) -> Result<Map<String, Value>, CodecError> {
        decode(s.as_bytes(), None).map(|(_, m)| m)
    }

    #[test]
    fn encodes_root_namespace_and_params() {
        let s = enc(json!({"op": 1, "to": "//sp/cse", "rr": true, "x": null}));
        assert_eq!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><m2m:rqp xmlns:m2m=\"http://www.onem2m.org/xml/protocols\">\
             <op>1</op><to>//sp/cse</to><rr>true</rr><x/></m2m:rqp>"
        );
    }

    #[test]
    fn rn_is_an_attribute_inside_pc_only() {
        let s = enc(json!({"pc": {"m2m:cnt": {"rn": "c1", "mni": 5}}, "rn": "top"}));
        assert!(
            s.contains("<pc><m2m:cnt rn=\"c1\"><mni>5</mni></m2m:cnt></pc>"),
            "{s}"
        );
        assert!(s.contains("<rn>top</rn>"), "{s}");
        let m = dec(&s).unwrap();
        assert_eq!(m["pc"], json!({"m2m:cnt": {"rn": "c1", "mni": 5}}));
        // A resource with only rn becomes an empty element with the attribute.
        let s = enc(json!({"pc": {"m2m:cnt": {"rn": "c1"}}}));
        assert!(s.contains("<m2m:cnt rn=\"c1\"/>"), "{s}");
        assert_eq!(dec(&s).unwrap()["pc"], json!({"m2m:cnt": {"rn": "c1"}}));
    }

    #[test]
    fn arrays_are_repeated_elements() {
        let s = enc(json!({"pc": {"m2m:sub": {"enc": {"net": ["1", "3"]}, "nu": ["a", "b"]}}}));
        assert!(s.contains("<net>1</net><net>3</net>"), "{s}");
        assert!(s.contains("<nu>a</nu><nu>b</nu>"), "{s}");
        let m = dec(&s).unwrap();
        assert_eq!(
            m["pc"],
            json!({"m2m:sub": {"enc": {"net": ["1", "3"]}, "nu": ["a", "b"]}})
        );
    }

    #[test]
    fn single_elements_decode_as_values_except_list_names() {
        let m =
            dec("<m2m:rsp><pc><x><y>1</y></x><lbl>a</lbl><sce>* * *</sce></pc></m2m:rsp>").unwrap();
        assert_eq!(
            m["pc"],
            json!({"x": {"y": "1"}, "lbl": ["a"], "sce": ["* * *"]})
        );
    }

    #[test]
    fn space_separated_lists_are_split() {
        let m = dec("<m2m:rqp><pc><m2m:ae><poa>mqtt://a mqtt://b</poa><lbl> k1\n k2 </lbl><lbl>k3</lbl></m2m:ae></pc></m2m:rqp>").unwrap();
        assert_eq!(m["pc"]["m2m:ae"]["poa"], json!(["mqtt://a", "mqtt://b"]));
        assert_eq!(m["pc"]["m2m:ae"]["lbl"], json!(["k1", "k2", "k3"]));
    }

    #[test]
    fn leaf_typing_by_short_name() {
        let m = dec(
            "<m2m:rqp><op> 2 </op><ty>x</ty><rr>false</rr><rqet>-1000</rqet><rset>20200101T000000</rset>\
             <rt><rtv>1</rtv></rt><rcn>1</rcn><other>7</other><st>true</st></m2m:rqp>",
        )
        .unwrap();
        assert_eq!(m["op"], json!(2));
        assert_eq!(m["ty"], json!("x"));
        assert_eq!(m["rr"], json!(false));
        assert_eq!(m["rqet"], json!(-1000));
        assert_eq!(m["rset"], json!("20200101T000000"));
        assert_eq!(m["rt"], json!({"rtv": 1}));
        assert_eq!(m["rcn"], json!(1));
        assert_eq!(m["other"], json!("7"));
        assert_eq!(m["st"], json!("true"));
    }

    #[test]
    fn attributes_become_keys_and_text_is_kept() {
        let m = dec(
            "<rsp xmlns=\"http://www.onem2m.org/xml/protocols\" xmlns:x=\"urn:x\" v=\"1\"><pc>\
             <m2m:cin rn=\"i1\" cs=\"3\">abc<con>hi</con></m2m:cin></pc></rsp>",
        )
        .unwrap();
        assert_eq!(m["v"], json!("1"));
        assert_eq!(
            m["pc"],
            json!({"m2m:cin": {"rn": "i1", "cs": 3, "con": "hi", "#text": "abc"}})
        );
    }

    #[test]
    fn whitespace_and_escapes() {
        let m = obj(json!({"to": "  a <&> \"q\" 'x'\r\n\t ", "e": ""}));
        let bytes = encode(&m, RESPONSE_ROOT).unwrap();
        let (root, back) = decode(&bytes, Some(PrimitiveKind::Response)).unwrap();
        assert_eq!(root, "m2m:rsp");
        assert_eq!(back, m);
        // Attribute values keep whitespace too.
        let m = obj(json!({"pc": {"m2m:cnt": {"rn": "a\tb\nc\r\"d&", "mni": 1}}}));
        assert_eq!(
            decode(&encode(&m, REQUEST_ROOT).unwrap(), None).unwrap().1,
            m
        );
        // Pretty-printed input: whitespace between elements is ignored.
        let m = dec("<m2m:rqp>\n  <op>1</op>\n  <pc>\n    <a><b>x</b></a>\n  </pc>\n</m2m:rqp>\n")
            .unwrap();
        assert_eq!(Value::Object(m), json!({"op": 1, "pc": {"a": {"b": "x"}}}));
        // CDATA and comments.
        let m = dec("<m2m:rqp><to><![CDATA[<raw>]]></to><!-- c --><fr>a&amp;b&#65;</fr></m2m:rqp>")
            .unwrap();
        assert_eq!(Value::Object(m), json!({"to": "<raw>", "fr": "a&bA"}));
    }

    #[test]
    fn empty_values_decode_as_empty_strings() {
        let s = enc(json!({"a": null, "b": {}, "c": "", "d": []}));
        let m = dec(&s).unwrap();
        assert_eq!(Value::Object(m), json!({"a": "", "b": "", "c": ""}));
        assert_eq!(dec("<m2m:rqp/>").unwrap(), Map::new());
        assert_eq!(
            dec("<m2m:rqp xmlns:m2m=\"http://www.onem2m.org/xml/protocols\"></m2m:rqp>").unwrap(),
            Map::new()
        );
    }

    #[test]
    fn encode_errors() {
        let e = |v: Value| encode(&obj(v), REQUEST_ROOT).unwrap_err();
        assert!(matches!(
            e(json!({"bad name": 1})),
            CodecError::Encode { format: "xml", .. }
        ));
        assert!(matches!(e(json!({"1x": 1})), CodecError::Encode { .. }));
        assert!(matches!(e(json!({"a:b:c": 1})), CodecError::Encode { .. }));
        assert!(matches!(e(json!({"": 1})), CodecError::Encode { .. }));
        assert!(matches!(e(json!({"a": [[1]]})), CodecError::Encode { .. }));
        assert!(matches!(
            e(json!({"a": "\u{1}"})),
            CodecError::Encode { .. }
        ));
        assert!(matches!(
            e(json!({"pc": {"x": {"rn": "\u{0}"}}})),
            CodecError::Encode { .. }
        ));
        let mut deep = json!("x");
        for _ in 0..=MAX_DEPTH {
            deep = json!({ "a": deep });
        }
        assert!(matches!(
            e(json!({ "pc": deep })),
            CodecError::Encode { .. }
        ));
        assert!(matches!(
            encode(&Map::new(), "not a root"),
            Err(CodecError::Encode { .. })
        ));
    }

    #[test]
    fn wrong_root() {
        assert_eq!(
            decode(
                b"<m2m:rsp><rsc>2000</rsc></m2m:rsp>",
                Some(PrimitiveKind::Request)
            ),
            Err(CodecError::WrongXmlRoot {
                expected: "m2m:rqp",
                found: "m2m:rsp".into()
            })
        );
        assert_eq!(
            dec("<foo/>"),
            Err(CodecError::WrongXmlRoot {
                expected: "m2m:rqp or m2m:rsp",
                found: "foo".into()
            })
        );
        assert_eq!(
            dec("<x:rqp/>"),
            Err(CodecError::WrongXmlRoot {
                expected: "m2m:rqp or m2m:rsp",
                found: "x:rqp".into()
            })
        );
    }

    #[test]
    fn text_only_root_is_not_an_object() {
        assert_eq!(
            dec("<m2m:rqp>hello</m2m:rqp>"),
            Err(CodecError::NotAnObject { format: "xml" })
        );
    }

    #[test]
    fn malformed_inputs() {
        for bad in [
            "",
            "   ",
            "<!-- only a comment -->",
            "<m2m:rqp>",
            "<m2m:rqp><op>1</op>",
            "<m2m:rqp><op>1</to></m2m:rqp>",
            "<m2m:rqp></m2m:rqp></m2m:rqp>",
            "<m2m:rqp/><m2m:rqp/>",
            "<m2m:rqp/>trailing",
            "junk<m2m:rqp/>",
            "<m2m:rqp><op>&bogus;</op></m2m:rqp>",
            "<m2m:rqp a=\"1\" a=\"2\"/>",
            "<m2m:rqp a=1/>",
            "<m2m:rqp><op",
        ] {
            assert!(
                matches!(dec(bad), Err(CodecError::Malformed { format: "xml", .. })),
                "{bad:?}: {:?}",
                dec(bad)
            );
        }
        assert!(matches!(
            decode(b"<m2m:rqp><to>\xff</to></m2m:rqp>", None),
            Err(CodecError::Malformed { .. })
        ));
        let deep = format!("<m2m:rqp>{}", "<a>".repeat(100_000));
        assert!(matches!(dec(&deep), Err(CodecError::Malformed { .. })));
    }
}
