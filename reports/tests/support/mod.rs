//! Views of rendered reports made for snapshot review, shared by the snapshot tests of the
//! renderers (`reports/tests/snapshots.rs`) and of real runs
//! (`harness/m2mspec/tests/report_snapshots.rs`, which includes this file by path).
#![allow(dead_code)]

/// `markup` with a line break between adjacent tags (`><`), except inside CDATA sections,
/// whose text is left as written: the renderers write long lines, and a snapshot is reviewed
/// as a diff, where one tag per line makes a change one line.
pub fn one_tag_per_line(markup: &str) -> String {
    const CDATA_OPEN: &str = "<![CDATA[";
    const CDATA_CLOSE: &str = "]]>";
    let mut out = String::with_capacity(markup.len() + markup.len() / 16);
    let mut rest = markup;
    while let Some(start) = rest.find(CDATA_OPEN) {
        out.push_str(&rest[..start].replace("><", ">\n<"));
        let end = rest[start..]
            .find(CDATA_CLOSE)
            .map_or(rest.len(), |e| start + e + CDATA_CLOSE.len());
        out.push_str(&rest[start..end]);
        rest = &rest[end..];
    }
    out.push_str(&rest.replace("><", ">\n<"));
    out
}

/// The HTML document with the bodies of its inline `<style>` and `<script>` elided (they are
/// fixed files in `src/html/`, reviewed as source), one tag per line.
pub fn html_structure(html: &str) -> String {
    let mut out = html.to_string();
    for (open, close) in [("<style>", "</style>"), ("<script>", "</script>")] {
        let a = out.find(open).expect("inline block opens") + open.len();
        let b = out[a..].find(close).expect("inline block closes") + a;
        out.replace_range(a..b, "…elided…");
    }
    one_tag_per_line(&out)
}

/// The escape character made visible, so colour codes read as text in a snapshot.
pub fn visible_escapes(s: &str) -> String {
    s.replace('\x1b', "␛")
}
