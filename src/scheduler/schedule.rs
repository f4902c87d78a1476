//! Cron expressions (croner) in a time zone: when is the next tick.
//!
//! Standard 5-field cron (minute hour day-of-month month day-of-week) with 0 and 7 = Sunday,
//! and an optional leading seconds field (6 fields). Upstream used APScheduler's
//! `from_crontab`, which numbers weekdays from Monday = 0; we follow standard cron instead.

use std::str::FromStr;

use chrono::{DateTime, Local, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A `server.timezone` or cron expression that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ScheduleError {
    #[error("Unknown time zone '{0}' in server.timezone: use an IANA name such as 'UTC' or 'Europe/Paris'.")]
    UnknownZone(String),
    #[error(
        "Invalid cron schedule '{expression}': {reason}. Use 5 fields (minute hour day month weekday) or 6 with seconds first."
    )]
    InvalidCron { expression: String, reason: String },
}

/// Where schedules are evaluated: `server.timezone`, or the machine's local zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Zone {
    Local,
    Named(chrono_tz::Tz),
}

impl Zone {
    /// `None` → local time; otherwise an IANA name such as `Europe/Paris` or `UTC`.
    pub(crate) fn parse(name: Option<&str>) -> Result<Self, ScheduleError> {
        match name {
            None => Ok(Self::Local),
            Some(name) => chrono_tz::Tz::from_str(name.trim())
                .map(Self::Named)
                .map_err(|_| ScheduleError::UnknownZone(name.to_owned())),
        }
    }

    /// `time` as a wall-clock time of this zone.
    pub(crate) fn format(self, time: DateTime<Utc>) -> String {
        const FORMAT: &str = "%Y-%m-%d %H:%M:%S %:z";
        match self {
            Self::Local => time.with_timezone(&Local).format(FORMAT).to_string(),
            Self::Named(tz) => time.with_timezone(&tz).format(FORMAT).to_string(),
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Self::Local => "local time".into(),
            Self::Named(tz) => tz.name().into(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    cron: Cron,
    zone: Zone,
}

impl Schedule {
    pub(crate) fn parse(expression: &str, zone: Zone) -> Result<Self, ScheduleError> {
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(expression).map_err(|err| ScheduleError::InvalidCron {
            expression: expression.to_owned(),
            reason: err.to_string(),
        })?;
        Ok(Self { cron, zone })
    }

    /// The first tick strictly after `after`.
    pub(crate) fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = match self.zone {
            Zone::Local => self
                .cron
                .find_next_occurrence(&after.with_timezone(&Local), false)
                .map(|t| t.with_timezone(&Utc)),
            Zone::Named(tz) => self
                .cron
                .find_next_occurrence(&after.with_timezone(&tz), false)
                .map(|t| t.with_timezone(&Utc)),
        };
        next.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    fn utc(zone: &str) -> Zone {
        Zone::parse(Some(zone)).expect("zone")
    }

    fn next(expression: &str, after: DateTime<Utc>) -> DateTime<Utc> {
        Schedule::parse(expression, utc("UTC"))
            .expect("valid")
            .next_after(after)
            .expect("a next tick")
    }

    #[test]
    fn zero_and_seven_are_sunday_and_one_to_five_are_weekdays() {
        // 2026-12-02 is a Wednesday.
        let wednesday = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        assert_eq!(next("0 9 * * 0", wednesday).weekday(), Weekday::Sun);
        assert_eq!(next("0 9 * * 7", wednesday).weekday(), Weekday::Sun);
        assert_eq!(next("0 9 * * 1", wednesday).weekday(), Weekday::Mon);
        let friday_evening = Utc.with_ymd_and_hms(2026, 12, 4, 18, 0, 0).unwrap();
        assert_eq!(next("0 9 * * 1-5", friday_evening).weekday(), Weekday::Mon);
    }

    #[test]
    fn five_fields_tick_on_minutes_six_fields_on_seconds() {
        let start = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        assert_eq!(next("*/5 * * * *", start), start + chrono::Duration::minutes(5));
        assert_eq!(next("* * * * * *", start), start + chrono::Duration::seconds(1));
        assert_eq!(next("*/10 * * * * *", start).second(), 10);
    }

    #[test]
    fn schedules_follow_the_configured_zone() {
        let start = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
        let paris = Schedule::parse("0 9 * * *", utc("Europe/Paris")).unwrap();
        // 09:00 in Paris in December is 08:00 UTC.
        assert_eq!(paris.next_after(start).unwrap().hour(), 8);
    }

    #[test]
    fn bad_expressions_and_zones_are_explained() {
        let err = Schedule::parse("61 * * * *", Zone::Local).unwrap_err().to_string();
        assert!(err.contains("Invalid cron schedule '61 * * * *'"), "{err}");
        assert!(Schedule::parse("* * * * * * 2030", Zone::Local).is_err());
        assert!(
            Zone::parse(Some("Mars/Olympus"))
                .unwrap_err()
                .to_string()
                .contains("server.timezone")
        );
    }
}
