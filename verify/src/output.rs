//! Rendering a [`Report`]: human text and JUnit XML (JSON is `serde_json` of the report).

use std::fmt::Write;

use crate::finding::{Finding, Severity};
use crate::report::{CheckResult, Report};

/// Escapes `s` for XML text and attribute values (`& < > " '`; control characters other
/// than tab, newline and carriage return, which XML 1.0 cannot carry, become `?`).
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(ch),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// One line per finding: `error kind file [offset N] [block B] [key K]: message
/// (expected E, found F)`.
pub(crate) fn finding_line(f: &Finding) -> String {
    let mut s = format!(
        "{} {} {}",
        match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        },
        f.kind,
        if f.file.is_empty() { "-" } else { &f.file }
    );
    if let Some(o) = f.offset {
        let _ = write!(s, " offset {o}");
    }
    if let Some(b) = &f.block {
        let _ = write!(s, " block {b}");
    }
    if let Some(k) = &f.key {
        let _ = write!(s, " key {k}");
    }
    let _ = write!(s, ": {}", f.message);
    match (&f.expected, &f.found) {
        (Some(e), Some(x)) => {
            let _ = write!(s, " (expected {e}, found {x})");
        }
        (Some(e), None) => {
            let _ = write!(s, " (expected {e})");
        }
        (None, Some(x)) => {
            let _ = write!(s, " (found {x})");
        }
        (None, None) => {}
    }
    s
}

fn status(c: &CheckResult) -> &'static str {
    if c.failed() {
        "FAIL"
    } else if c.findings.is_empty() {
        "ok"
    } else {
        "WARN"
    }
}

fn check_lines(out: &mut String, indent: &str, c: &CheckResult) {
    let _ = writeln!(out, "{indent}{:<14} {}", c.name, status(c));
    for f in &c.findings {
        let _ = writeln!(out, "{indent}  {}", finding_line(f));
    }
}

/// The report for people: per chain, per layer, per check, with every finding kept.
pub fn render_human(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "verify --level {}{} {}",
        r.level,
        if r.keyless { " --keyless" } else { "" },
        r.collection
    );
    if let Some(s) = &r.shard {
        let _ = writeln!(
            o,
            "shard {}/{}: {} unit(s) of tables and files, {} stored bytes; the other checks are shard 1's (join the parts with vouch verify merge)",
            s.index, s.count, s.units, s.bytes
        );
    }
    let _ = writeln!(o, "collection");
    for c in &r.collection_checks {
        check_lines(&mut o, "  ", c);
    }
    for ch in &r.chains {
        let _ = writeln!(o, "chain /{}", ch.full_subdir);
        for l in &ch.layers {
            let _ = writeln!(o, "  layer {}", l.dir);
            for c in &l.checks {
                check_lines(&mut o, "    ", c);
            }
        }
        for c in &ch.checks {
            check_lines(&mut o, "  ", c);
        }
        if !ch.not_checked.is_empty() {
            let _ = writeln!(
                o,
                "  not checked (encrypted, read without its key): {}",
                ch.not_checked.join(", ")
            );
        }
    }
    if r.findings_omitted > 0 {
        let _ = writeln!(
            o,
            "{} more finding(s) not shown (--max-findings)",
            r.findings_omitted
        );
    }
    let verdict = match r.exit_code() {
        0 if r.warnings > 0 => "OK with warnings",
        0 => "OK",
        _ => "FAILED",
    };
    let _ = writeln!(
        o,
        "{verdict}: {} error(s), {} warning(s); {} file(s) checked, {} byte(s) read in {:.2}s",
        r.errors,
        r.warnings,
        r.files_checked,
        r.bytes_read,
        r.duration.as_secs_f64()
    );
    o
}

/// JUnit XML: one `<testsuite>` per chain (plus one for the collection), one `<testcase>`
/// per layer and check (`classname` = the layer directory, `name` = the check); a check
/// with error findings (or warnings under `--strict`) is a `<failure>` whose text lists
/// them; warnings otherwise go to `<system-out>`.
pub fn render_junit(r: &Report) -> String {
    let mut suites: Vec<(String, Vec<(String, &CheckResult)>)> = Vec::new();
    suites.push((
        format!("collection {}", r.collection),
        r.collection_checks
            .iter()
            .map(|c| ("collection".to_string(), c))
            .collect(),
    ));
    for ch in &r.chains {
        let mut cases = Vec::new();
        for l in &ch.layers {
            for c in &l.checks {
                cases.push((l.dir.clone(), c));
            }
        }
        for c in &ch.checks {
            cases.push((format!("chain {}", ch.full_subdir), c));
        }
        suites.push((format!("chain /{}", ch.full_subdir), cases));
    }
    let fails = |c: &CheckResult| c.failed() || (r.strict && !c.findings.is_empty());
    let total: usize = suites.iter().map(|s| s.1.len()).sum();
    let failures: usize = suites
        .iter()
        .flat_map(|s| s.1.iter())
        .filter(|(_, c)| fails(c))
        .count();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"vouch verify --level {}\" tests=\"{total}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        r.level,
        r.duration.as_secs_f64()
    );
    for (name, cases) in &suites {
        let f = cases.iter().filter(|(_, c)| fails(c)).count();
        let _ = writeln!(
            o,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"0\">",
            xml_escape(name),
            cases.len()
        );
        for (class, c) in cases {
            let _ = write!(
                o,
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml_escape(class),
                xml_escape(c.name)
            );
            if c.findings.is_empty() {
                o.push_str("/>\n");
                continue;
            }
            o.push_str(">\n");
            let text: String = c.findings.iter().map(|f| finding_line(f) + "\n").collect();
            if fails(c) {
                let first = c.findings.first().map(|f| f.kind).unwrap_or_default();
                let _ = writeln!(
                    o,
                    "      <failure type=\"{}\" message=\"{} finding(s)\">{}</failure>",
                    xml_escape(first),
                    c.findings.len(),
                    xml_escape(&text)
                );
            } else {
                let _ = writeln!(o, "      <system-out>{}</system-out>", xml_escape(&text));
            }
            o.push_str("    </testcase>\n");
        }
        o.push_str("  </testsuite>\n");
    }
    o.push_str("</testsuites>\n");
    o
}
