//! A posted form, urlencoded or multipart, read whole up to 64 KB: the
//! fields by name (the first value of each).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};

use crate::input::checked::Line;
use crate::input::words::serve::Say;

/// The largest body taken; a bigger one is refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Why a body could not be read as a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub status: StatusCode,
    /// What the page says of it.
    pub what: Say,
}

#[derive(Debug, Default)]
pub struct Form(pub HashMap<String, String>);

impl Form {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// The reader's name (a sign-up's or a confirmation's): none when
    /// empty; refused (400) when longer than `NAME_LIMIT` characters or
    /// holding a line break or control character.
    pub fn name(&self) -> Result<Option<Line>, FormError> {
        match self.get("name").trim() {
            "" => Ok(None),
            n if n.chars().count() > NAME_LIMIT => Err(FormError {
                status: StatusCode::BAD_REQUEST,
                what: Say::NameTooLong,
            }),
            n => Line::parse(n).map(Some).map_err(|_| FormError {
                status: StatusCode::BAD_REQUEST,
                what: Say::NameControl,
            }),
        }
    }

    /// The topics ticked (`topic-<tag>`), canonical: only those `offered`;
    /// anything else a form sends is not ours.
    pub fn topics(&self, offered: &[crate::input::config::Topic]) -> Option<String> {
        let chosen = crate::audience::tags::canonical(
            offered
                .iter()
                .filter(|t| !self.get(&format!("topic-{}", t.tag)).is_empty())
                .map(|t| t.tag.as_str()),
        );
        (!chosen.is_empty()).then_some(chosen)
    }
}

/// The longest name a form may give, in characters.
pub const NAME_LIMIT: usize = 100;

/// Reads the form in `request`, whose body must arrive within `timeout`.
/// An empty body is an empty form.
pub async fn read(request: Request, timeout: std::time::Duration) -> Result<Form, FormError> {
    let too_big = FormError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        what: Say::FormTooBig,
    };
    let (parts, body) = request.into_parts();
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, BODY_LIMIT))
        .await
        .map_err(|_| FormError {
            status: StatusCode::REQUEST_TIMEOUT,
            what: Say::FormTooSlow,
        })?
        .map_err(|_| too_big.clone())?;
    let kind = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if bytes.is_empty() {
        return Ok(Form::default());
    }
    let bad = FormError {
        status: StatusCode::BAD_REQUEST,
        what: Say::FormUnreadable,
    };
    let mut fields = HashMap::new();
    if kind.starts_with("multipart/form-data") {
        let request = Request::from_parts(parts, Body::from(bytes));
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|_| bad.clone())?;
        while let Some(field) = multipart.next_field().await.map_err(|_| bad.clone())? {
            let name = field.name().unwrap_or("").to_owned();
            let value = field.text().await.map_err(|_| bad.clone())?;
            fields.entry(name).or_insert(value);
        }
    } else if kind.starts_with("application/x-www-form-urlencoded") || kind.is_empty() {
        for (name, value) in url::form_urlencoded::parse(&bytes) {
            fields
                .entry(name.into_owned())
                .or_insert(value.into_owned());
        }
    } else {
        return Err(FormError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            what: Say::FormKind,
        });
    }
    Ok(Form(fields))
}
