//! A contact's fields: the rules a name, email, phone number, company and notes must meet,
//! and how a change applies, without I/O. What it does not decide: whether an email is
//! already another contact's (that needs storage, [`crate::contacts`]).
//!
//! Every text is trimmed of surrounding whitespace. An optional field given empty (or only
//! whitespace) is absent, so a spreadsheet's blank cell imports as "none".

/// Largest contact name, in bytes: as an agent's display name.
pub const NAME_BYTES_MAX: usize = 128;
/// Largest email, in bytes (RFC 5321's practical maximum path length is 254).
pub const EMAIL_BYTES_MAX: usize = 254;
/// Largest local part of an email (before the `@`), in bytes (RFC 5321).
pub const EMAIL_LOCAL_BYTES_MAX: usize = 64;
/// Largest phone number as written, in bytes: room for spaces, dashes and brackets around
/// [`PHONE_DIGITS_MAX`] digits.
pub const PHONE_BYTES_MAX: usize = 40;
/// Fewest digits of a phone number: shorter is a typing slip, not a number.
pub const PHONE_DIGITS_MIN: usize = 3;
/// Most digits of a phone number: E.164's 15, plus room for a national trunk prefix and a
/// short extension.
pub const PHONE_DIGITS_MAX: usize = 20;
/// Largest company name, in bytes.
pub const COMPANY_BYTES_MAX: usize = 128;
/// Largest notes, in bytes: a few paragraphs; the transcript is where conversations live.
pub const NOTES_BYTES_MAX: usize = 2048;

/// Why a contact's fields were refused. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    /// A text is empty where required, or too long.
    #[error("`{field}` must be 1 to {max} bytes")]
    Length { field: &'static str, max: usize },
    /// A text holds a control character (notes may hold line breaks and tabs).
    #[error("`{field}` must not hold control characters")]
    ControlCharacter { field: &'static str },
    /// The email is not of the form `local@domain.tld`.
    #[error("`email` is not an email address")]
    NotAnEmail,
    /// The phone number has characters other than digits, spaces and `+ - ( ) .`, or too
    /// few or too many digits.
    #[error(
        "`phone` must be {PHONE_DIGITS_MIN} to {PHONE_DIGITS_MAX} digits, with only spaces and + - ( ) . between them"
    )]
    NotAPhone,
}

/// A contact's own fields, valid and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactFields {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
}

/// A new contact as given (not yet checked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactDraft {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
}

/// A change to a contact: `None` leaves a field as it is; for the optional fields,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactChanges {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub company: Option<Option<String>>,
    pub notes: Option<Option<String>>,
}

/// A stored contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: u64,
    pub fields: ContactFields,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// Check and trim a new contact's fields.
pub fn validate(draft: ContactDraft) -> Result<ContactFields, ContactError> {
    Ok(ContactFields {
        name: name(&draft.name)?,
        email: email(draft.email.as_deref())?,
        phone: phone(draft.phone.as_deref())?,
        company: text("company", draft.company.as_deref(), COMPANY_BYTES_MAX, false)?,
        notes: text("notes", draft.notes.as_deref(), NOTES_BYTES_MAX, true)?,
    })
}

/// The fields after `changes`, each checked as on creation.
pub fn apply(mut fields: ContactFields, changes: ContactChanges) -> Result<ContactFields, ContactError> {
    if let Some(v) = changes.name {
        fields.name = name(&v)?;
    }
    if let Some(v) = changes.email {
        fields.email = email(v.as_deref())?;
    }
    if let Some(v) = changes.phone {
        fields.phone = phone(v.as_deref())?;
    }
    if let Some(v) = changes.company {
        fields.company = text("company", v.as_deref(), COMPANY_BYTES_MAX, false)?;
    }
    if let Some(v) = changes.notes {
        fields.notes = text("notes", v.as_deref(), NOTES_BYTES_MAX, true)?;
    }
    Ok(fields)
}

fn name(value: &str) -> Result<String, ContactError> {
    text("name", Some(value), NAME_BYTES_MAX, false)?
        .ok_or(ContactError::Length { field: "name", max: NAME_BYTES_MAX })
}

/// An optional text, trimmed: empty is absent.
fn text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, ContactError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.len() > max {
        return Err(ContactError::Length { field, max });
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(ContactError::ControlCharacter { field });
    }
    Ok(Some(value.to_string()))
}

fn email(value: Option<&str>) -> Result<Option<String>, ContactError> {
    let Some(value) = text("email", value, EMAIL_BYTES_MAX, false)? else { return Ok(None) };
    if is_email(&value) {
        Ok(Some(value))
    } else {
        Err(ContactError::NotAnEmail)
    }
}

/// `local@domain`: one `@`; a local part of 1 to 64 bytes without spaces, quotes or
/// brackets; a domain of two or more dot-separated labels of letters, digits and inner `-`.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else { return false };
    let local_ok = !local.is_empty()
        && local.len() <= EMAIL_LOCAL_BYTES_MAX
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"\"(),:;<>@[\\]".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    local_ok && labels.len() >= 2 && labels.iter().all(label_ok)
}

fn phone(value: Option<&str>) -> Result<Option<String>, ContactError> {
    let Some(value) = text("phone", value, PHONE_BYTES_MAX, false)? else { return Ok(None) };
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let shape = value.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if shape && (PHONE_DIGITS_MIN..=PHONE_DIGITS_MAX).contains(&digits) {
        Ok(Some(value))
    } else {
        Err(ContactError::NotAPhone)
    }
}

#[cfg(test)]
#[path = "contact_tests.rs"]
mod tests;
