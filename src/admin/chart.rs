//! The overview's chart: daily logins and new users over 30 days, laid out
//! here as numbers for an SVG the template draws (no JavaScript).

use serde::Serialize;

pub const DAYS: i64 = 30;
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;

#[derive(Debug, Serialize)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub h: f64,
    pub value: i64,
}

#[derive(Debug, Serialize)]
pub struct Day {
    pub label: String,
    pub show_label: bool,
    pub label_x: f64,
    pub logins: Bar,
    pub new_users: Bar,
}

#[derive(Debug, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub baseline: f64,
    pub max: i64,
    pub top: f64,
    pub bar_width: f64,
    pub days: Vec<Day>,
}

/// `logins` and `new_users` are (day since epoch, count), any order, gaps
/// allowed; the chart covers the `DAYS` days ending with `today`.
pub fn layout(today: i64, logins: &[(i64, i64)], new_users: &[(i64, i64)]) -> Chart {
    let count = |series: &[(i64, i64)], day: i64| {
        series
            .iter()
            .find(|(d, _)| *d == day)
            .map_or(0, |(_, n)| *n)
    };
    let first = today - DAYS + 1;
    let values: Vec<(i64, i64, i64)> = (first..=today)
        .map(|d| (d, count(logins, d), count(new_users, d)))
        .collect();
    let max = values
        .iter()
        .map(|(_, a, b)| (*a).max(*b))
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT) / DAYS as f64;
    let bar_width = (slot - 4.0) / 2.0;
    let baseline = HEIGHT - BOTTOM;
    let bar = |x: f64, value: i64| {
        let h = plot_h * value as f64 / max as f64;
        Bar {
            x: round(x),
            y: round(baseline - h),
            h: round(h),
            value,
        }
    };
    let days = values
        .iter()
        .enumerate()
        .map(|(i, (day, l, n))| {
            let x = LEFT + slot * i as f64 + 2.0;
            Day {
                label: crate::timestamp::rfc3339(day * 86_400)
                    .get(5..10)
                    .unwrap_or("")
                    .to_string(),
                show_label: i % 5 == 4 || i == 0,
                label_x: round(x + bar_width),
                logins: bar(x, *l),
                new_users: bar(x + bar_width, *n),
            }
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        baseline,
        max,
        top: TOP,
        bar_width: round(bar_width),
        days,
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_gaps_are_zero() {
        let today = 20_000;
        let chart = layout(today, &[(today, 10), (today - 29, 5)], &[(today, 2)]);
        assert_eq!(chart.days.len(), 30);
        assert_eq!(chart.max, 10);
        let last = chart.days.last().unwrap();
        assert_eq!(last.logins.value, 10);
        assert_eq!(last.logins.y, chart.top);
        assert_eq!(last.new_users.value, 2);
        assert_eq!(chart.days[0].logins.value, 5);
        assert_eq!(chart.days[1].logins.h, 0.0);
        assert_eq!(chart.days[1].logins.y, chart.baseline);
        // Days outside the window are not drawn.
        let old = layout(today, &[(today - 30, 99)], &[]);
        assert_eq!(old.max, 1);
    }
}
