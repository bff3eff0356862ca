//! How often the benefits catalog is used, counted per day: views of each info sheet and
//! estimates by channel. Counts only, so that they survive a restart without holding anyone's
//! data.

use sqlx::Row as _;

use super::writer::Statement;
use super::{Store, StoreError};

/// What was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage<'a> {
    /// A benefit's info sheet was viewed.
    View { benefit: &'a str },
    /// An estimate was made through a channel (`pages`, `api`).
    Estimate { channel: &'a str },
}

/// The counts since the first day anything was counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTotals {
    /// The first day counted (`YYYY-MM-DD`), when there is one.
    pub since: Option<String>,
    /// Views per benefit id.
    pub views: Vec<(String, i64)>,
    /// Estimates per channel.
    pub estimates: Vec<(String, i64)>,
}

impl UsageTotals {
    pub fn views_of(&self, benefit: &str) -> i64 {
        self.views
            .iter()
            .find(|(id, _)| id == benefit)
            .map_or(0, |(_, count)| *count)
    }

    pub fn estimates_through(&self, channel: &str) -> i64 {
        self.estimates
            .iter()
            .find(|(name, _)| name == channel)
            .map_or(0, |(_, count)| *count)
    }
}

impl Store {
    /// Counts one use on `day` (`YYYY-MM-DD`).
    pub async fn count_usage(&self, day: &str, usage: Usage<'_>) -> Result<(), StoreError> {
        let (kind, subject) = match usage {
            Usage::View { benefit } => ("view", benefit),
            Usage::Estimate { channel } => ("estimate", channel),
        };
        self.writer
            .transaction(vec![
                Statement::new(
                    "INSERT INTO benefit_usage (day, kind, subject, count) VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (day, kind, subject) \
                     DO UPDATE SET count = benefit_usage.count + 1",
                )
                .text(day)
                .text(kind)
                .text(subject),
            ])
            .await?;
        Ok(())
    }

    /// Every count, added up over the days.
    pub async fn usage_totals(&self) -> Result<UsageTotals, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, subject, CAST(SUM(count) AS BIGINT) AS total, MIN(day) AS since \
             FROM benefit_usage GROUP BY kind, subject ORDER BY kind, subject",
        )
        .fetch_all(self.pool())
        .await?;
        let mut totals = UsageTotals::default();
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let subject: String = row.try_get("subject")?;
            let total: i64 = row.try_get("total")?;
            let since: String = row.try_get("since")?;
            if totals.since.as_ref().is_none_or(|first| since < *first) {
                totals.since = Some(since);
            }
            match kind.as_str() {
                "view" => totals.views.push((subject, total)),
                "estimate" => totals.estimates.push((subject, total)),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "benefit_usage holds an unknown kind `{other}`"
                    )));
                }
            }
        }
        Ok(totals)
    }
}
