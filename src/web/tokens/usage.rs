//! How a token's use is shown: the details page's chart of the last 30 days, drawn on the
//! server as SVG with the same numbers as a table, and the warning the disable and delete
//! confirmations give for a token still in use.

use super::{format_day, format_time};
use crate::domain::usage::{RecentUse, UsageSummary, ago};
use chrono::NaiveDateTime;

/// The chart's drawing area, in SVG user units.
const WIDTH: u32 = 600;
const HEIGHT: u32 = 120;
/// A day without use still shows, as a sliver.
const ZERO_HEIGHT: u32 = 2;

/// One day of the chart: its bar (accepted requests, with the refused ones stacked on top) and
/// its row in the table.
pub struct DayBar {
    pub date: String,
    pub label: String,
    pub requests: u64,
    pub refused: u64,
    /// Requests that named the token and did not authenticate that day.
    pub failed: u64,
    pub x: u32,
    pub width: u32,
    /// The whole bar: top and height.
    pub y: u32,
    pub height: u32,
    /// The refused part, at the top of the bar; zero height when there is none.
    pub refused_height: u32,
    pub zero: bool,
    pub title: String,
}

pub struct UsageView {
    pub bars: Vec<DayBar>,
    pub width: u32,
    pub height: u32,
    /// The busiest day's requests (0 when there were none).
    pub peak: u64,
    pub first_day: String,
    pub last_day_label: String,
    pub last_day: u64,
    pub last_week: u64,
    pub last_month: u64,
    pub refused_month: u64,
    /// Requests that named the token and did not authenticate: shown apart, never as its use.
    pub failed_month: u64,
    /// The chart in one sentence, for those who cannot see it.
    pub description: String,
}

fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

impl UsageView {
    pub fn new(summary: &UsageSummary) -> Self {
        let peak = summary.peak();
        let slot = WIDTH / u32::try_from(summary.days.len().max(1)).unwrap_or(1);
        let scale = |count: u64| -> u32 {
            // Rounded up, so a day with one request among thousands still shows above a zero.
            let scaled = (count * u64::from(HEIGHT)).div_ceil(peak);
            u32::try_from(scaled).unwrap_or(HEIGHT).min(HEIGHT)
        };
        let bars = summary
            .days
            .iter()
            .zip(0u32..)
            .map(|(day, index)| {
                let height = if day.requests == 0 {
                    ZERO_HEIGHT
                } else {
                    scale(day.requests).max(ZERO_HEIGHT + 1)
                };
                let requests = plural(day.requests, "request", "requests");
                let title = if day.refused == 0 {
                    format!("{}: {requests}", format_day(day.date))
                } else {
                    format!(
                        "{}: {requests}, {} refused",
                        format_day(day.date),
                        day.refused
                    )
                };
                DayBar {
                    date: format_day(day.date),
                    label: day.date.format("%a %Y-%m-%d").to_string(),
                    requests: day.requests,
                    refused: day.refused,
                    failed: day.failed_auth,
                    x: index * slot + slot / 6,
                    width: slot - slot / 3,
                    y: HEIGHT - height,
                    height,
                    refused_height: if day.refused == 0 {
                        0
                    } else {
                        scale(day.refused).clamp(1, height)
                    },
                    zero: day.requests == 0,
                    title,
                }
            })
            .collect::<Vec<_>>();
        let refused_month = summary.days.iter().map(|d| d.refused).sum();
        let busiest = summary
            .days
            .iter()
            .filter(|d| d.requests > 0)
            .max_by_key(|d| d.requests);
        let description = match busiest {
            None => format!("No requests in the last {} days.", summary.days.len()),
            Some(day) => format!(
                "{} in the last {} days, {refused_month} refused; the busiest day was {} with {}.",
                plural(summary.last_month, "request", "requests"),
                summary.days.len(),
                format_day(day.date),
                day.requests
            ),
        };
        Self {
            first_day: bars.first().map(|b| b.label.clone()).unwrap_or_default(),
            last_day_label: bars.last().map(|b| b.label.clone()).unwrap_or_default(),
            bars,
            width: WIDTH,
            height: HEIGHT,
            peak: busiest.map_or(0, |day| day.requests),
            last_day: summary.last_day,
            last_week: summary.last_week,
            last_month: summary.last_month,
            refused_month,
            failed_month: summary.failed_month,
            description,
        }
    }
}

/// "Last used 1 hour ago (2026-11-29 09:42 UTC) from 10.0.0.1; 57 requests in the last 24 hours."
pub struct WarningView {
    pub ago: String,
    pub at: String,
    pub from: Option<String>,
    pub last_day: String,
}

impl WarningView {
    pub fn new(used: &RecentUse, now: NaiveDateTime) -> Self {
        Self {
            ago: ago(used.at, now),
            at: format_time(used.at),
            from: used.from.clone(),
            last_day: plural(used.last_day, "request", "requests"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::usage::DayCount;
    use chrono::NaiveDate;

    #[test]
    fn bars_scale_to_the_busiest_day_and_zero_days_show() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let counts = [
            DayCount {
                date: today,
                requests: 1000,
                refused: 250,
                failed_auth: 0,
            },
            DayCount {
                date: today.pred_opt().unwrap(),
                requests: 1,
                refused: 0,
                failed_auth: 0,
            },
        ];
        let view = UsageView::new(&UsageSummary::new(&counts, today, 10));
        assert_eq!(view.bars.len(), 30);
        let last = &view.bars[29];
        assert_eq!((last.y, last.height, last.refused_height), (0, HEIGHT, 30));
        assert_eq!(last.title, "2026-11-29: 1000 requests, 250 refused");
        let small = &view.bars[28];
        assert!(small.height > ZERO_HEIGHT && !small.zero);
        assert_eq!(small.title, "2026-11-28: 1 request");
        let zero = &view.bars[0];
        assert!(zero.zero && zero.height == ZERO_HEIGHT);
        assert!(view.bars.iter().all(|b| b.x + b.width <= WIDTH));
        assert!(
            view.description
                .starts_with("1001 requests in the last 30 days, 250 refused")
        );
    }
}
