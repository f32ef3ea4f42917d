//! A compatibility matrix: cases × systems under test, one verdict per cell, from several
//! reports — the cross-implementation view the oneM2M and LWM2M communities lack.

use crate::error::ReportError;
use crate::model::{Report, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One row: a case and its verdict per SUT (None: the SUT's run did not include it).
pub struct Row {
    pub id: String,
    pub clause: String,
    pub level: String,
    pub cells: Vec<Option<Verdict>>,
}

/// Build the rows from `(label, report)` columns; rows are the union of case ids, sorted.
pub fn rows(columns: &[(String, Report)]) -> Vec<Row> {
    let mut meta: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (_, r) in columns {
        for c in &r.cases {
            meta.entry(c.id.clone())
                .or_insert((c.clause.clone(), c.level.as_str().to_string()));
        }
    }
    meta.into_iter()
        .map(|(id, (clause, level))| {
            let cells = columns
                .iter()
                .map(|(_, r)| r.cases.iter().find(|c| c.id == id).map(|c| c.verdict))
                .collect();
            Row {
                id,
                clause,
                level,
                cells,
            }
        })
        .collect()
}

fn esc(s: &str) -> String {
    html_escape::encode_text(s).to_string()
}

/// Markdown table (for a PR comment or a README).
pub fn markdown(columns: &[(String, Report)]) -> String {
    let mut s = String::from("| case | clause | level |");
    for (l, _) in columns {
        let _ = write!(s, " {} |", l.replace('|', "\\|"));
    }
    s.push_str("\n|---|---|---|");
    for _ in columns {
        s.push_str("---|");
    }
    s.push('\n');
    for r in rows(columns) {
        let _ = write!(s, "| `{}` | {} | {} |", r.id, r.clause, r.level);
        for c in &r.cells {
            let _ = write!(s, " {} |", c.map(|v| v.as_str()).unwrap_or("—"));
        }
        s.push('\n');
    }
    s.push_str("\n| totals | | |");
    for (_, r) in columns {
        let _ = write!(
            s,
            " {} pass / {} fail / {} non-strict / {} error / {} skipped |",
            r.summary.pass,
            r.summary.fail,
            r.summary.non_strict,
            r.summary.error,
            r.summary.skipped
        );
    }
    s.push('\n');
    s
}

/// A self-contained HTML page (inline CSS, no scripts or external references).
pub fn html(columns: &[(String, Report)]) -> String {
    let mut h = String::from("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>m2mspec compatibility matrix</title><style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b2430}table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left}th{background:#f3f5f8;position:sticky;top:0}td.v{text-align:center;font-weight:600;font-size:12px}.pass{background:#dff3e4;color:#146c2e}.fail{background:#fbe0e0;color:#a4161a}.non-strict{background:#fff1d6;color:#8a5300}.inconclusive{background:#efe4fb;color:#5b2a86}.error{background:#ffe3cc;color:#9a3b00}.skipped{background:#eef0f3;color:#57606a}.none{color:#8c959f}code{font-size:12px}</style></head><body id=\"m2mspec-matrix\">");
    let _ = write!(h, "<h1>m2mspec compatibility matrix</h1><p>{} cases × {} systems under test. Each cell is the verdict of that case in that SUT's report.</p><table><thead><tr><th>case</th><th>clause</th><th>level</th>", rows(columns).len(), columns.len());
    for (l, r) in columns {
        let _ = write!(h, "<th title=\"{}\">{}</th>", esc(&r.run.sut), esc(l));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows(columns) {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td>",
            esc(&r.id),
            esc(&r.clause),
            esc(&r.level)
        );
        for c in &r.cells {
            match c {
                Some(v) => {
                    let _ = write!(h, "<td class=\"v {0}\">{0}</td>", v.as_str());
                }
                None => h.push_str("<td class=\"v none\">—</td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody><tfoot><tr><th colspan=\"3\">totals</th>");
    for (_, r) in columns {
        let _ = write!(
            h,
            "<th>{} / {} / {} / {} / {}</th>",
            r.summary.pass,
            r.summary.fail,
            r.summary.non_strict,
            r.summary.error,
            r.summary.skipped
        );
    }
    h.push_str("</tr></tfoot></table><p>Totals: pass / fail / non-strict / error / skipped.</p></body></html>\n");
    h
}

/// Write `matrix.html` and `matrix.md` into `dir`.
pub fn write_matrix(
    columns: &[(String, Report)],
    dir: &Path,
) -> Result<(PathBuf, PathBuf), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let hp = dir.join("matrix.html");
    let mp = dir.join("matrix.md");
    std::fs::write(&hp, html(columns)).map_err(|source| ReportError::Io {
        path: hp.clone(),
        source,
    })?;
    std::fs::write(&mp, markdown(columns)).map_err(|source| ReportError::Io {
        path: mp.clone(),
        source,
    })?;
    Ok((hp, mp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_report;

    #[test]
    fn cells_follow_each_report_and_missing_cases_are_dashes() {
        let a = sample_report();
        let mut b = sample_report();
        let dropped = b.cases.remove(0);
        let first_pass = b
            .cases
            .iter()
            .position(|c| c.verdict == Verdict::Pass)
            .expect("a pass");
        b.cases[first_pass].verdict = Verdict::Fail;
        let changed = b.cases[first_pass].id.clone();
        let cols = vec![("A".to_string(), a), ("B <x>".to_string(), b)];
        let rs = rows(&cols);
        let row = rs.iter().find(|r| r.id == dropped.id).expect("row");
        assert_eq!(row.cells, vec![Some(dropped.verdict), None]);
        let row = rs.iter().find(|r| r.id == changed).expect("row");
        assert_eq!(row.cells, vec![Some(Verdict::Pass), Some(Verdict::Fail)]);
        let md = markdown(&cols);
        assert!(
            md.contains(&format!("| `{changed}` |")) && md.contains("| pass | fail |"),
            "{md}"
        );
        let html = html(&cols);
        assert!(html.contains("B &lt;x&gt;") && !html.contains("<x>"));
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("<script")
        );
    }
}
