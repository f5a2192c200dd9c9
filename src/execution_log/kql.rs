//! The part of KQL (Kibana Query Language) that filters the execution log: `and`,
//! `or`, `not`, parentheses, `field: value`, `field: "a phrase"`, `field: *`,
//! wildcards, and `field: (a or b)`. That covers what Kibana's connector log page
//! sends (`event.outcome: failure`, `(message: "x" OR error.message: "x")`, ...).
//!
//! Fields are the event log's names. Text fields (`message`, `error.message`) match
//! a case-insensitive substring, others the whole value. A field the log does not
//! have matches nothing, as an unmapped field does in Elasticsearch.

use crate::store::{LogField, LogFilter};

/// The text is not KQL this parser understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotKql;

/// Parses a filter.
///
/// # Errors
/// When the text is not KQL this parser understands.
pub fn parse(text: &str) -> Result<LogFilter, NotKql> {
    if text.len() > MAX_LENGTH {
        return Err(NotKql);
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let filter = parser.or()?;
    if parser.at == parser.tokens.len() {
        Ok(filter)
    } else {
        Err(NotKql)
    }
}

/// Kibana's later limit on a filter's length.
const MAX_LENGTH: usize = 8192;
/// Parentheses and `not`s nest at most this deep: parsing (and the SQL it becomes)
/// recurses, and a request must not be able to exhaust the stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Colon,
    /// A bare word; `*` inside is a wildcard.
    Word(String),
    /// A quoted phrase: no wildcards.
    Phrase(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, NotKql> {
    let mut tokens = Vec::new();
    let mut characters = text.chars().peekable();
    while let Some(&next) = characters.peek() {
        match next {
            _ if next.is_whitespace() => {
                characters.next();
            }
            '(' | ')' | ':' => {
                characters.next();
                tokens.push(match next {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Colon,
                });
            }
            '"' => {
                characters.next();
                let mut phrase = String::new();
                loop {
                    match characters.next().ok_or(NotKql)? {
                        '"' => break,
                        '\\' => phrase.push(characters.next().ok_or(NotKql)?),
                        other => phrase.push(other),
                    }
                }
                tokens.push(Token::Phrase(phrase));
            }
            _ => {
                // Kept as written, escapes included: they are read once, later.
                let mut word = String::new();
                while let Some(&next) = characters.peek() {
                    if next.is_whitespace() || matches!(next, '(' | ')' | ':' | '"') {
                        break;
                    }
                    characters.next();
                    word.push(next);
                    if next == '\\' {
                        word.push(characters.next().ok_or(NotKql)?);
                    }
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn keyword(&mut self, keyword: &str) -> bool {
        let found =
            matches!(self.peek(), Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword));
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, token: &Token) -> Result<(), NotKql> {
        if self.peek() == Some(token) {
            self.at += 1;
            Ok(())
        } else {
            Err(NotKql)
        }
    }

    fn or(&mut self) -> Result<LogFilter, NotKql> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            parts.push(self.and()?);
        }
        Ok(one_or(parts, LogFilter::Any))
    }

    fn and(&mut self) -> Result<LogFilter, NotKql> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            parts.push(self.not()?);
        }
        Ok(one_or(parts, LogFilter::All))
    }

    fn not(&mut self) -> Result<LogFilter, NotKql> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(NotKql);
        }
        let filter = if self.keyword("not") {
            LogFilter::Not(Box::new(self.not()?))
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(filter)
    }

    fn primary(&mut self) -> Result<LogFilter, NotKql> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(&Token::Close)?;
            return Ok(inner);
        }
        let Some(Token::Word(field)) = self.peek().cloned() else {
            return Err(NotKql);
        };
        let field = unescape(&field);
        self.at += 1;
        self.expect(&Token::Colon)?;
        self.values(&field)
    }

    /// `value`, or `(value or value and value ...)` for one field.
    fn values(&mut self, field: &str) -> Result<LogFilter, NotKql> {
        if self.peek() != Some(&Token::Open) {
            return self.value(field);
        }
        self.at += 1;
        let mut alternatives = Vec::new();
        let mut all = vec![self.value(field)?];
        loop {
            if self.keyword("or") {
                alternatives.push(one_or(std::mem::take(&mut all), LogFilter::All));
                all.push(self.value(field)?);
            } else if self.keyword("and") {
                all.push(self.value(field)?);
            } else {
                break;
            }
        }
        alternatives.push(one_or(all, LogFilter::All));
        self.expect(&Token::Close)?;
        Ok(one_or(alternatives, LogFilter::Any))
    }

    fn value(&mut self, field: &str) -> Result<LogFilter, NotKql> {
        let token = self.peek().cloned().ok_or(NotKql)?;
        self.at += 1;
        match token {
            Token::Word(word) => Ok(condition(field, &word, true)),
            Token::Phrase(phrase) => Ok(condition(field, &phrase, false)),
            _ => Err(NotKql),
        }
    }
}

fn one_or(mut parts: Vec<LogFilter>, combine: fn(Vec<LogFilter>) -> LogFilter) -> LogFilter {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        combine(parts)
    }
}

/// `field: value` as a condition on log rows.
fn condition(field: &str, value: &str, wildcards: bool) -> LogFilter {
    // Kibana adds these itself; every row of this log satisfies them.
    match field {
        "event.provider" => return always_if(value == "actions"),
        "event.action" => return always_if(value == "execute"),
        "event.kind" => return always_if(value == "action"),
        _ => {}
    }
    let (columns, text): (&[LogField], bool) = match field {
        "event.outcome" => (&[LogField::Outcome], false),
        "message" => (&[LogField::Message], true),
        "error.message" => (&[LogField::ErrorMessage, LogField::ServiceMessage], true),
        "kibana.action.id" => (&[LogField::ConnectorId], false),
        "kibana.action.name" => (&[LogField::ConnectorName], false),
        "kibana.action.type_id" => (&[LogField::TypeId], false),
        "kibana.action.execution.uuid" => (&[LogField::ExecutionId], false),
        "kibana.action.execution.source" => (&[LogField::Source], false),
        "kibana.space_ids" => (&[LogField::SpaceId], false),
        "user.name" => (&[LogField::Username], false),
        _ => return LogFilter::Never,
    };
    let conditions = columns
        .iter()
        .map(|&column| {
            if wildcards && value == "*" {
                return LogFilter::Exists(column);
            }
            let pattern = like_pattern(&value.to_lowercase(), wildcards);
            LogFilter::Like(
                column,
                if text {
                    format!("%{pattern}%")
                } else {
                    pattern
                },
            )
        })
        .collect();
    one_or(conditions, LogFilter::Any)
}

fn always_if(condition: bool) -> LogFilter {
    if condition {
        LogFilter::All(Vec::new())
    } else {
        LogFilter::Never
    }
}

/// A SQL `LIKE` pattern (escape `\`) for a value. In a bare word (`wildcards`), `\x`
/// is the character x and an unescaped `*` a wildcard; a phrase is taken as it is
/// (the tokenizer read its escapes).
fn like_pattern(value: &str, wildcards: bool) -> String {
    let mut pattern = String::with_capacity(value.len());
    let mut characters = value.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' if wildcards => {
                if let Some(escaped) = characters.next() {
                    push_literal(&mut pattern, escaped);
                }
            }
            '*' if wildcards => pattern.push('%'),
            other => push_literal(&mut pattern, other),
        }
    }
    pattern
}

/// A bare word's text with its escapes read.
fn unescape(word: &str) -> String {
    let mut text = String::with_capacity(word.len());
    let mut characters = word.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => text.extend(characters.next()),
            other => text.push(other),
        }
    }
    text
}

fn push_literal(pattern: &mut String, character: char) {
    if matches!(character, '%' | '_' | '\\') {
        pattern.push('\\');
    }
    pattern.push(character);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(field: LogField, pattern: &str) -> LogFilter {
        LogFilter::Like(field, pattern.to_owned())
    }

    #[test]
    fn reads_what_kibanas_log_page_sends() {
        assert_eq!(
            parse("event.outcome: failure").unwrap(),
            like(LogField::Outcome, "failure")
        );
        assert_eq!(
            parse(r#"(message: "50% \"off\"" OR error.message: "x")"#).unwrap(),
            LogFilter::Any(vec![
                like(LogField::Message, "%50\\% \"off\"%"),
                LogFilter::Any(vec![
                    like(LogField::ErrorMessage, "%x%"),
                    like(LogField::ServiceMessage, "%x%"),
                ]),
            ])
        );
        assert_eq!(
            parse("kibana.alerting.outcome:success OR (event.outcome: success AND NOT kibana.alerting.outcome:*)").unwrap(),
            LogFilter::Any(vec![
                LogFilter::Never,
                LogFilter::All(vec![
                    like(LogField::Outcome, "success"),
                    LogFilter::Not(Box::new(LogFilter::Never)),
                ]),
            ])
        );
    }

    #[test]
    fn reads_value_lists_wildcards_and_escapes() {
        assert_eq!(
            parse("event.outcome: (success or failure)").unwrap(),
            LogFilter::Any(vec![
                like(LogField::Outcome, "success"),
                like(LogField::Outcome, "failure"),
            ])
        );
        assert_eq!(
            parse(r"kibana.action.name: My\ Hook*_1").unwrap(),
            like(LogField::ConnectorName, "my hook%\\_1")
        );
        assert_eq!(
            parse("user.name: *").unwrap(),
            LogFilter::Exists(LogField::Username)
        );
    }

    #[test]
    fn reads_escapes_once() {
        // What Kibana's search box sends for `C:\temp`.
        assert_eq!(
            parse(r#"message: "C\:\\temp""#).unwrap(),
            like(LogField::Message, r"%c:\\temp%")
        );
        assert_eq!(
            parse(r"kibana.action.name: a\\b\*").unwrap(),
            like(LogField::ConnectorName, r"a\\b*")
        );
    }

    #[test]
    fn refuses_nesting_that_would_exhaust_the_stack() {
        let deep = format!("{}a:b{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(parse(&deep), Err(NotKql));
        assert_eq!(parse(&"not ".repeat(5_000)), Err(NotKql));
        let fine = format!("{}a:b{}", "(".repeat(20), ")".repeat(20));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn refuses_what_is_not_kql() {
        for text in ["foo:(", "a:b and", "(a:b", "a:b)", "\"open", ":x", "a b"] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
