//! An issue's date: a calendar day, written as readers read it.

use std::fmt;

/// A calendar date, shown to readers as "August 1, 2022".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IssueDate {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// The months' English names, as the dateline and subject write them.
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl fmt::Display for IssueDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let month = MONTHS[usize::from(self.month.clamp(1, 12)) - 1];
        write!(f, "{month} {}, {}", self.day, self.year)
    }
}

impl IssueDate {
    /// Midnight UTC of the day, as RFC 3339 (`2022-08-01T00:00:00Z`).
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T00:00:00Z",
            self.year, self.month, self.day
        )
    }
}
