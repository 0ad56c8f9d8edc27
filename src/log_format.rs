//! The text log line, written more cheaply than `tracing_subscriber`'s
//! defaults write it, in the same shape:
//!
//! `2026-11-26T18:22:54.940348Z  INFO method=GET path=/api/v1.0/auth/status status=200 us=41`
//!
//! Every request writes one such line, and the defaults made it a noticeable
//! share of a `status` request (docs/performance.md has the count): the
//! timestamp's date and time formatted field by field for every line, and
//! every field name and `=` passed through the terminal-colour machinery even
//! with colours off. Here the date and time are formatted once a second per
//! thread and the fields are written straight. Messages are still escaped as
//! the defaults escape them (no terminal control sequences from a client's
//! input reach a terminal). On a terminal the level keeps its colour; the
//! field names are plain.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// RFC 3339 UTC with microseconds, as `tracing_subscriber`'s `SystemTime`.
#[derive(Clone, Copy, Default)]
pub struct LineTime;

thread_local! {
    /// The Unix second last formatted on this thread, and its text up to the
    /// seconds (`2026-11-26T18:22:54`).
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for LineTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        write_time(w, since.as_secs(), since.subsec_micros())
    }
}

fn write_time(w: &mut impl fmt::Write, secs: u64, micros: u32) -> fmt::Result {
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != secs {
            *second = secs;
            text.clear();
            let t = time::OffsetDateTime::from_unix_timestamp(secs as i64)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            let _ = write!(
                text,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
        }
        w.write_str(text)?;
        // `.` and six digits: a million added, its leading 1 replaced.
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(1_000_000 + micros.min(999_999));
        w.write_char('.')?;
        w.write_str(&digits[1..])?;
        w.write_char('Z')
    })
}

/// Writes an event's fields as `name=value`, the message first and bare.
#[derive(Clone, Copy, Default)]
pub struct LineFields;

impl<'a> MakeVisitor<Writer<'a>> for LineFields {
    type Visitor = LineVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> LineVisitor<'a> {
        LineVisitor {
            writer: target,
            first: true,
            result: Ok(()),
        }
    }
}

pub struct LineVisitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl LineVisitor<'_> {
    /// The separating space and `name=` (nothing before a message).
    fn begin(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        if !self.first {
            self.result = self.writer.write_char(' ');
        }
        self.first = false;
        let name = field.name();
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }
}

impl Visit for LineVisitor<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.begin(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.begin(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.begin(field) {
            self.result = self.writer.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if self.begin(field) {
                self.result = Escaped(&mut self.writer).write_str(value);
            }
        } else if self.begin(field) {
            self.result = write!(self.writer, "{value:?}");
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.begin(field) {
            return;
        }
        let name = field.name();
        let writer = &mut self.writer;
        self.result = (|| {
            write!(Escaped(&mut *writer), "{value}")?;
            // As the defaults: ` name.sources=[first, second]`.
            let mut source = value.source();
            if source.is_some() {
                write!(writer, " {name}.sources=[")?;
            }
            let mut first = true;
            while let Some(e) = source {
                if !first {
                    writer.write_str(", ")?;
                }
                first = false;
                write!(Escaped(&mut *writer), "{e}")?;
                source = e.source();
                if source.is_none() {
                    writer.write_char(']')?;
                }
            }
            Ok(())
        })();
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.begin(field) {
            return;
        }
        self.result = if field.name() == "message" {
            write!(Escaped(&mut self.writer), "{value:?}")
        } else {
            write!(self.writer, "{value:?}")
        };
    }
}

impl VisitOutput<fmt::Result> for LineVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for LineVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Writes through, with the characters that start terminal control
/// sequences spelled out (as `tracing_subscriber` escapes messages).
struct Escaped<'w, W: fmt::Write>(&'w mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(is_control) {
            self.0.write_str(&rest[..at])?;
            let ch = rest[at..].chars().next().unwrap_or('\0');
            match ch {
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => {
                    write!(self.0, "\\x{:02x}", ch as u32)?
                }
                _ => write!(self.0, "\\u{{{:x}}}", ch as u32)?,
            }
            rest = &rest[at + ch.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

fn is_control(ch: char) -> bool {
    matches!(
        ch,
        '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_rfc3339_with_microseconds() {
        let mut out = String::new();
        write_time(&mut out, 1_795_000_000, 42).unwrap();
        assert_eq!(out, "2026-11-18T11:06:40.000042Z");
        // The same second again (from the cache), then the next one.
        out.clear();
        write_time(&mut out, 1_795_000_000, 999_999).unwrap();
        assert_eq!(out, "2026-11-18T11:06:40.999999Z");
        out.clear();
        write_time(&mut out, 1_795_000_001, 0).unwrap();
        assert_eq!(out, "2026-11-18T11:06:41.000000Z");
    }

    #[test]
    fn control_characters_are_spelled_out() {
        let mut out = String::new();
        Escaped(&mut out)
            .write_str("a\x1b[31mred\x07 \u{9b}2J ünï")
            .unwrap();
        assert_eq!(out, "a\\x1b[31mred\\x07 \\u{9b}2J ünï");
    }

    /// The whole line, through a real subscriber, as the server sets it up.
    #[test]
    fn lines_have_the_default_shape() {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let made = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || made.clone())
            .with_target(false)
            .with_ansi(false)
            .with_timer(LineTime)
            .fmt_fields(LineFields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(method = %"GET", path = %"/api/v1.0/auth/status", status = 200u16, us = 41u64);
            tracing::warn!(
                r#type = "x\"y",
                ok = true,
                n = -3i64,
                "went \x1b[2Jwrong: {}",
                7
            );
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let (time, rest) = lines[0].split_once(' ').unwrap();
        assert_eq!(time.len(), "2026-11-18T11:06:40.000042Z".len(), "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
        assert_eq!(
            rest,
            " INFO method=GET path=/api/v1.0/auth/status status=200 us=41"
        );
        assert_eq!(
            lines[1].split_once(' ').unwrap().1,
            " WARN went \\x1b[2Jwrong: 7 type=\"x\\\"y\" ok=true n=-3"
        );
    }
}
