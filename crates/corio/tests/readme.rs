//! The README's tables render: a `|` inside a code span must be escaped (`\|`), or
//! the row splits into extra cells (GitHub and rustdoc both split on it).

/// Cells of a Markdown table row: split on `|` that is not escaped.
fn cells(row: &str) -> usize {
    let mut n: usize = 0;
    let mut escaped = false;
    for c in row.trim().chars() {
        match c {
            '\\' => escaped = !escaped,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    n.saturating_sub(1)
}

#[test]
fn every_readme_table_row_has_as_many_cells_as_its_header() {
    let readme = include_str!("../../../README.md");
    let mut header: Option<usize> = None;
    for (i, line) in readme.lines().enumerate() {
        if !line.starts_with('|') {
            header = None;
            continue;
        }
        let n = cells(line);
        match header {
            None => header = Some(n),
            Some(h) => assert_eq!(
                n,
                h,
                "README.md line {}: {n} cells, header has {h}: {line}",
                i + 1
            ),
        }
    }
}
