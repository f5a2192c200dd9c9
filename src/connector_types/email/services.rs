//! The mail services a connector can name instead of a host (nodemailer's well-known
//! list, the ones people use), resolved to host, port and TLS-on-connect.

/// Where a named service sends mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceHost {
    pub host: &'static str,
    pub port: u16,
    /// TLS from the first byte (port 465 style); otherwise STARTTLS when offered.
    pub secure: bool,
}

/// (names, case-insensitive; host; port; secure)
const WELL_KNOWN: &[(&[&str], &str, u16, bool)] = &[
    (
        &["gmail", "googlemail", "gmail.com", "googlemail.com"],
        "smtp.gmail.com",
        465,
        true,
    ),
    (
        &["outlook365", "office365"],
        "smtp.office365.com",
        587,
        false,
    ),
    (
        &["hotmail", "outlook", "outlook.com", "hotmail.com"],
        "smtp-mail.outlook.com",
        587,
        false,
    ),
    (
        &["ses", "ses-us-east-1"],
        "email-smtp.us-east-1.amazonaws.com",
        465,
        true,
    ),
    (
        &["ses-us-west-2"],
        "email-smtp.us-west-2.amazonaws.com",
        465,
        true,
    ),
    (
        &["ses-eu-west-1"],
        "email-smtp.eu-west-1.amazonaws.com",
        465,
        true,
    ),
    (&["yahoo", "yahoo.com"], "smtp.mail.yahoo.com", 465, true),
    (&["icloud", "me", "mac"], "smtp.mail.me.com", 587, false),
    (&["fastmail"], "smtp.fastmail.com", 465, true),
    (&["zoho"], "smtp.zoho.com", 465, true),
    (&["sendgrid"], "smtp.sendgrid.net", 587, false),
    (&["mailgun"], "smtp.mailgun.org", 465, true),
    (&["postmark"], "smtp.postmarkapp.com", 2525, false),
    (&["sendinblue", "brevo"], "smtp-relay.brevo.com", 587, false),
    (&["mailjet"], "in.mailjet.com", 587, false),
    (&["godaddy"], "smtpout.secureserver.net", 25, false),
];

/// The host behind a service name, as Kibana resolves it: `elastic_cloud` is the
/// Elastic Cloud relay, the rest nodemailer's well-known services.
pub fn resolve(service: &str) -> Option<ServiceHost> {
    if service == "elastic_cloud" {
        return Some(ServiceHost {
            host: "dockerhost",
            port: 10025,
            secure: false,
        });
    }
    // nodemailer's normalisation: lower case, only letters, digits, dots and dashes.
    let wanted: String = service
        .to_ascii_lowercase()
        .chars()
        .filter(|it| it.is_ascii_alphanumeric() || *it == '.' || *it == '-')
        .collect();
    WELL_KNOWN
        .iter()
        .find(|(names, ..)| names.contains(&wanted.as_str()))
        .map(|(_, host, port, secure)| ServiceHost {
            host,
            port: *port,
            secure: *secure,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_kibanas() {
        assert_eq!(
            resolve("gmail").map(|it| (it.host, it.port, it.secure)),
            Some(("smtp.gmail.com", 465, true))
        );
        assert_eq!(
            resolve("Outlook365").map(|it| (it.host, it.port, it.secure)),
            Some(("smtp.office365.com", 587, false))
        );
        assert_eq!(
            resolve("ses").map(|it| it.host),
            Some("email-smtp.us-east-1.amazonaws.com")
        );
        assert_eq!(
            resolve("elastic_cloud").map(|it| (it.host, it.port)),
            Some(("dockerhost", 10025))
        );
        assert_eq!(
            resolve("Google Mail").map(|it| it.host),
            Some("smtp.gmail.com")
        );
        assert_eq!(resolve("G-Mail"), None);
        assert_eq!(
            resolve("Gmail.com").map(|it| it.host),
            Some("smtp.gmail.com")
        );
        assert_eq!(resolve("pigeon"), None);
    }
}
