//! CSV downloads: fields quoted as RFC 4180 says and formulas neutralised, streamed in batches
//! so that a large export never sits in memory whole.

use crate::db::DbError;
use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Bytes;
use chrono::NaiveDateTime;
use futures_util::StreamExt;
use std::future::Future;

/// A field: quoted when it must be, and a formula (`=`, `+`, `-`, `@` first) neutralised with a
/// leading `'` so that no spreadsheet runs it.
pub fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A line of fields.
pub fn line<S: AsRef<str>>(fields: impl IntoIterator<Item = S>) -> String {
    let mut line = fields
        .into_iter()
        .map(|f| field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// A download named `<name>-YYYY-MM-DD.csv`: the header, then each batch `next` makes from a
/// cursor (its lines and the cursor of the following batch, `None` after the last), read as the
/// client takes them.
pub fn download<C, F, Fut>(
    name: &str,
    today: NaiveDateTime,
    header: String,
    first: C,
    next: F,
) -> HttpResponse
where
    C: 'static,
    F: Fn(C) -> Fut + 'static,
    Fut: Future<Output = Result<(String, Option<C>), DbError>> + 'static,
{
    let batches = futures_util::stream::unfold(Some(first), move |cursor| {
        let fetched = cursor.map(&next);
        async move {
            match fetched?.await {
                Ok((lines, cursor)) => {
                    Some((Ok::<_, actix_web::Error>(Bytes::from(lines)), cursor))
                }
                Err(e) => {
                    // The status line has gone out: a cut-off download is all that can be said.
                    tracing::error!(error = %e, "a CSV download stopped part-way");
                    Some((Err(actix_web::error::ErrorServiceUnavailable(e)), None))
                }
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok(Bytes::from(header)) }).chain(batches);
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{name}-{}.csv\"",
                today.format("%Y-%m-%d")
            ),
        ))
        .streaming(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        let cases = [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("=1,2", "\"'=1,2\""),
            ("two\nlines", "\"two\nlines\""),
        ];
        for (value, expected) in cases {
            assert_eq!(field(value), expected, "{value:?}");
        }
        assert_eq!(line(["a", "b"]), "a,b\r\n");
    }
}
