//! A reader's fields as minijinja looks them up: the list's columns by
//! their headers, `first_name` from the name, an empty value as none.

use std::sync::Arc;

use minijinja::value::{Object, Value};

use crate::audience::subscribers::Columns;
use crate::input::fields::field_name;

/// The names of the fields a list has: its columns' headers (lower case,
/// spaces as `_`), with `first_name` (the name's first word) when it has
/// no such column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNames {
    names: Vec<String>,
    email: usize,
    name: Option<usize>,
    first_name: Option<usize>,
}

impl FieldNames {
    pub fn new(columns: &Columns) -> Self {
        let names: Vec<String> = columns.headers.iter().map(|h| field_name(h)).collect();
        let first_name = names.iter().position(|n| n == "first_name");
        Self {
            names,
            email: columns.email,
            name: columns.name,
            first_name,
        }
    }

    pub fn knows(&self, field: &str) -> bool {
        field == "first_name" || self.names.iter().any(|n| n == field)
    }

    /// "email, name, status, first_name", for a message.
    pub fn listing(&self) -> String {
        let mut all: Vec<&str> = self.names.iter().map(String::as_str).collect();
        if self.first_name.is_none() {
            all.push("first_name");
        }
        all.join(", ")
    }
}

/// One reader's fields, as minijinja looks them up: an empty value is no
/// value, so `default` fills it and a field without `default` is an error.
#[derive(Debug)]
pub(super) struct Reader {
    pub(super) names: Arc<FieldNames>,
    pub(super) email: String,
    pub(super) row: Arc<[Box<str>]>,
}

impl Reader {
    pub(super) fn get(&self, field: &str) -> &str {
        let at = |i: usize| self.row.get(i).map_or("", |v| v.trim());
        if field == "email" {
            return &self.email;
        }
        if field == "first_name" && self.names.first_name.is_none() {
            return self
                .names
                .name
                .map(at)
                .and_then(|n| n.split_whitespace().next())
                .unwrap_or("");
        }
        match self.names.names.iter().position(|n| n == field) {
            Some(i) if i != self.names.email => at(i),
            _ => "",
        }
    }
}

impl Object for Reader {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.get(key.as_str()?) {
            "" => None,
            v => Some(Value::from(v)),
        }
    }
}

/// Stands for every field while the issue is rendered once with marks.
#[derive(Debug)]
pub(super) struct Probe(pub(super) Option<String>);

impl Object for Probe {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        (self.0.as_deref() != Some(key)).then(|| Value::from("x"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(headers: &[&str]) -> Columns {
        Columns {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            email: 0,
            name: headers.iter().position(|h| *h == "name"),
            status: None,
            changed: None,
            tags: None,
            timezone: None,
            lang: None,
        }
    }

    fn reader(headers: &[&str], row: &[&str]) -> Reader {
        Reader {
            names: Arc::new(FieldNames::new(&columns(headers))),
            email: "ann@example.org".into(),
            row: row.iter().map(|v| Box::from(*v)).collect(),
        }
    }

    #[test]
    fn first_name_is_the_names_first_word_unless_the_list_has_the_column() {
        let r = reader(
            &["email", "name", "Home Town"],
            &["x", " Ann  Lee ", "Nara"],
        );
        assert_eq!(r.get("first_name"), "Ann");
        assert_eq!(r.get("home_town"), "Nara");
        assert_eq!(r.get("email"), "ann@example.org");
        assert_eq!(r.get("nothing"), "");
        let r = reader(&["email", "name", "First Name"], &["x", "Ann Lee", "Annie"]);
        assert_eq!(r.get("first_name"), "Annie");
        assert!(r.names.knows("first_name") && r.names.knows("name"));
        assert!(!r.names.knows("city"));
    }

    #[test]
    fn an_empty_value_is_no_value() {
        let r = Arc::new(reader(&["email", "name", "city"], &["x", "Ann", "  "]));
        assert!(r.get_value(&Value::from("city")).is_none());
        assert!(r.get_value(&Value::from("name")).is_some());
        // A row shorter than the header: the missing fields are empty.
        let short = Arc::new(reader(&["email", "name", "city"], &["x"]));
        assert!(short.get_value(&Value::from("city")).is_none());
    }
}
