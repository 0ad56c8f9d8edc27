//! `/admin/audit.csv`: the audit log as CSV (SPEC §12), with the page's
//! filters and a time range, streamed: batches of rows are read and sent
//! one after the other, so a million events never sit in memory at once.

use rocket::http::{ContentType, Header, Status};
use rocket::response::stream::ByteStream;
use rocket::response::{self, Responder};
use rocket::{get, Request, Response, State};

use rocket::futures::Stream;

use super::error::ConsoleResult;
use super::guard::AdminUser;
use super::page::PageContext;
use super::templates::Template;
use crate::db::audit::{self, Event, ExportFilter, Position};
use crate::db::Db;
use crate::error::ApiError;
use crate::timestamp::{parse_moment, rfc3339};

/// Events read per batch: each batch is one query and one chunk sent.
const BATCH: i64 = 1000;

const HEADER: &str = "time,kind,user_id,session_id,actor,ip,detail\r\n";

/// `GET /admin/audit.csv?kind=&user=&from=&to=` (`user_id` for `user` too):
/// `from` and `to` are RFC 3339 or `YYYY-MM-DD` (UTC; `to` takes in its whole day). A bad one is a
/// 400 page that says which.
#[allow(clippy::too_many_arguments)]
#[get("/audit.csv?<kind>&<user>&<user_id>&<from>&<to>")]
pub async fn export(
    db: &State<Db>,
    _admin: AdminUser,
    page: PageContext,
    kind: Option<String>,
    user: Option<String>,
    user_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> ConsoleResult<Result<Csv<impl Stream<Item = Vec<u8>> + Send + 'static>, (Status, Template)>> {
    let bad = |what: &str| {
        let text = page.lang.get("csv_bad_moment").replace("{field}", what);
        Ok(Err(page.message(
            Status::BadRequest,
            "csv_bad_title",
            &text,
        )))
    };
    let moment = |text: &Option<String>, day_end: bool| match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => parse_moment(t, day_end).map(Some).ok_or(()),
    };
    let Ok(from) = moment(&from, false) else {
        return bad("from");
    };
    let Ok(until) = moment(&to, true) else {
        return bad("to");
    };
    // `user` as the audit page names it, `user_id` as the file's column.
    let user = user.filter(|u| !u.trim().is_empty()).or(user_id);
    let user_id = match user.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => match u.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => return bad("user"),
        },
    };
    let known = audit::KINDS
        .iter()
        .any(|k| Some(k.as_str()) == kind.as_deref());
    let filter = ExportFilter {
        kind: kind.filter(|k| !k.is_empty()),
        user_id,
        from,
        until,
    };
    if filter.kind.is_some() && !known {
        return bad("kind");
    }
    // The first batch before the answer starts: a database that cannot
    // answer is an error page, not a cut-off file.
    let first = read(db, &filter, None).await?;
    let db = db.inner().clone();
    let stream = ByteStream! {
        let mut batch = first;
        let mut chunk = HEADER.as_bytes().to_vec();
        loop {
            let last = batch.last().map(Event::position);
            for event in &batch {
                row(&mut chunk, event);
            }
            yield std::mem::take(&mut chunk);
            let (Some(after), true) = (last, batch.len() as i64 == BATCH) else {
                break;
            };
            batch = match read(&db, &filter, Some(after)).await {
                Ok(next) => next,
                Err(e) => {
                    // Too late for a status: the file ends short, and says
                    // so on its last line.
                    tracing::error!("audit export: {e}");
                    yield b"# the export stopped: the database did not answer\r\n".to_vec();
                    break;
                }
            };
        }
    };
    Ok(Ok(Csv(stream)))
}

async fn read(
    db: &Db,
    filter: &ExportFilter,
    after: Option<Position>,
) -> Result<Vec<Event>, ApiError> {
    let filter = filter.clone();
    db.run(move |conn| Ok(audit::export_batch(conn, &filter, after, BATCH)?))
        .await
}

/// One event as a CSV line.
fn row(out: &mut Vec<u8>, e: &Event) {
    let user = e.user_id.map(|u| u.to_string());
    let cells = [
        Some(rfc3339(e.created_at)),
        Some(e.kind.clone()),
        user,
        e.session_id.clone(),
        e.actor.clone(),
        e.ip.clone(),
        e.detail.clone(),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        cell_into(out, cell.as_deref().unwrap_or(""));
    }
    out.extend_from_slice(b"\r\n");
}

/// A cell, RFC 4180: quoted when it holds a comma, a quote or a line break.
/// One that a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, or
/// a tab or carriage return, which some treat alike) gets a `'` first.
fn cell_into(out: &mut Vec<u8>, text: &str) {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = text.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push(b'"');
    }
    if formula {
        out.push(b'\'');
    }
    for b in text.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    if quoted {
        out.push(b'"');
    }
}

/// The CSV download: its type, and a file name to save it under.
pub struct Csv<S>(ByteStream<S>);

impl<'r, S> Responder<'r, 'r> for Csv<S>
where
    S: Stream<Item = Vec<u8>> + Send + 'r,
{
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'r> {
        Response::build_from(self.0.respond_to(req)?)
            .header(ContentType::new("text", "csv").with_params(("charset", "utf-8")))
            .header(Header::new(
                "Content-Disposition",
                "attachment; filename=\"wxauth-audit.csv\"",
            ))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(text: &str) -> String {
        let mut out = Vec::new();
        cell_into(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(cell("login"), "login");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(cell("用户"), "用户");
        assert_eq!(cell(""), "");
    }
}
