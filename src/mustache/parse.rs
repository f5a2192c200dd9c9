//! Parsing templates into nodes, with mustache.js's tokenizer rules and the spec's
//! standalone-line rules.

/// One element of a parsed template. Sections are kept flat (a section's body is the nodes
/// between it and `end`), so neither building nor dropping a deeply nested template recurses.
pub(super) enum Node {
    Text(String),
    Variable {
        name: String,
        escaped: bool,
    },
    Section {
        name: String,
        inverted: bool,
        end: usize,
    },
    Partial {
        name: String,
        indent: String,
    },
}

/// What has been seen on the template line being parsed: whether a line is "standalone" is only
/// known once its end is reached.
#[derive(Default)]
pub(super) struct Line {
    /// Indices of this line's text nodes.
    pub(super) texts: Vec<usize>,
    /// Number of tags on this line so far.
    pub(super) tags: usize,
    /// Whether the line has an interpolation or non-whitespace text.
    pub(super) has_content: bool,
    /// The text before the first tag: the indentation of a standalone partial.
    pub(super) indent: String,
    /// A partial that is the first tag of this line.
    pub(super) first_partial: Option<usize>,
}

pub(super) struct Parser<'t> {
    pub(super) src: &'t str,
    pub(super) open: String,
    pub(super) close: String,
    pub(super) nodes: Vec<Node>,
    /// Open sections: node index and name.
    pub(super) sections: Vec<(usize, String)>,
    pub(super) line: Line,
}

/// Parses a template with the default delimiters. Error texts and (UTF-16) positions are the
/// ones mustache.js throws, since Kibana shows them to the user.
pub(super) fn parse(template: &str) -> Result<Vec<Node>, String> {
    let mut parser = Parser {
        src: template,
        open: "{{".to_string(),
        close: "}}".to_string(),
        nodes: Vec::new(),
        sections: Vec::new(),
        line: Line::default(),
    };
    let mut pos = 0;
    while let Some(found) = template[pos..].find(parser.open.as_str()) {
        let tag_start = pos + found;
        parser.text(&template[pos..tag_start]);
        pos = parser.tag(tag_start)?;
    }
    parser.text(&template[pos..]);
    parser.end_line();
    if let Some((_, name)) = parser.sections.pop() {
        return Err(format!(
            "Unclosed section \"{name}\" at {}",
            utf16_len(template)
        ));
    }
    Ok(parser.nodes)
}

impl Parser<'_> {
    /// Adds literal text, one node per line piece so that a standalone line can drop its
    /// whitespace afterwards.
    fn text(&mut self, text: &str) {
        for piece in text.split_inclusive('\n') {
            self.line.texts.push(self.nodes.len());
            self.nodes.push(Node::Text(piece.to_string()));
            if !piece.chars().all(is_js_space) {
                self.line.has_content = true;
            }
            if self.line.tags == 0 {
                self.line.indent.push_str(piece);
            }
            if piece.ends_with('\n') {
                self.end_line();
            }
        }
    }

    /// Ends the current line. A line holding tags but only whitespace otherwise (no
    /// interpolation) is standalone: its whitespace, newline included, disappears. Like
    /// mustache.js this also covers several such tags on one line, which the spec leaves open.
    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        if line.tags == 0 || line.has_content {
            return;
        }
        for index in line.texts {
            if let Some(Node::Text(text)) = self.nodes.get_mut(index) {
                text.clear();
            }
        }
        // Only a standalone partial is indented (spec); mustache.js would also indent an inline
        // partial that starts its line.
        if let Some(index) = line.first_partial
            && let Some(Node::Partial { indent, .. }) = self.nodes.get_mut(index)
        {
            *indent = line
                .indent
                .chars()
                .filter(|c| matches!(c, ' ' | '\t'))
                .collect();
        }
    }

    /// Parses the tag whose opening delimiter starts at `start`; returns where the tag ends.
    fn tag(&mut self, start: usize) -> Result<usize, String> {
        let src = self.src;
        let unclosed = || format!("Unclosed tag at {}", utf16_len(src));
        let mut pos = skip_js_space(src, start + self.open.len());
        let kind = match src[pos..].chars().next() {
            Some(c @ ('#' | '^' | '/' | '>' | '{' | '&' | '=' | '!')) => {
                pos += 1;
                c
            }
            _ => ' ',
        };
        pos = skip_js_space(src, pos);
        let (name, end) = match kind {
            '=' => {
                let equals = src[pos..].find('=').ok_or_else(unclosed)? + pos;
                let close = src[equals + 1..]
                    .find(self.close.as_str())
                    .ok_or_else(unclosed)?
                    + equals
                    + 1;
                (&src[pos..equals], close + self.close.len())
            }
            '{' => {
                let closing = format!("}}{}", self.close);
                let brace = src[pos..].find(closing.as_str()).ok_or_else(unclosed)? + pos;
                (&src[pos..brace], brace + closing.len())
            }
            _ => {
                let close = src[pos..].find(self.close.as_str()).ok_or_else(unclosed)? + pos;
                (&src[pos..close], close + self.close.len())
            }
        };
        let name = name.trim_end_matches(is_js_space).to_string();

        let tag_index = self.line.tags;
        self.line.tags += 1;
        match kind {
            '#' | '^' => {
                self.sections.push((self.nodes.len(), name.clone()));
                self.nodes.push(Node::Section {
                    name,
                    inverted: kind == '^',
                    end: 0,
                });
            }
            '/' => {
                let at = utf16_len(&src[..start]);
                let Some((open, open_name)) = self.sections.pop() else {
                    return Err(format!("Unopened section \"{name}\" at {at}"));
                };
                if open_name != name {
                    return Err(format!("Unclosed section \"{open_name}\" at {at}"));
                }
                let len = self.nodes.len();
                if let Some(Node::Section { end, .. }) = self.nodes.get_mut(open) {
                    *end = len;
                }
            }
            '>' => {
                if tag_index == 0 {
                    self.line.first_partial = Some(self.nodes.len());
                }
                self.nodes.push(Node::Partial {
                    name,
                    indent: String::new(),
                });
            }
            '=' => self.set_delimiters(&name)?,
            '!' => {}
            _ => {
                self.line.has_content = true;
                self.nodes.push(Node::Variable {
                    name,
                    escaped: kind == ' ',
                });
            }
        }
        Ok(end)
    }

    /// `{{=<open> <close>=}}`. As in mustache.js, words after the second are ignored.
    fn set_delimiters(&mut self, spec: &str) -> Result<(), String> {
        let words: Vec<&str> = spec
            .split(is_js_space)
            .filter(|word| !word.is_empty())
            .take(2)
            .collect();
        match words.as_slice() {
            [open, close] => {
                self.open = (*open).to_string();
                self.close = (*close).to_string();
                Ok(())
            }
            _ => Err(format!("Invalid tags: {}", words.join(","))),
        }
    }
}

/// JavaScript's `\s`, which mustache.js uses for trimming tags and spotting blank lines.
pub(super) fn is_js_space(c: char) -> bool {
    c == '\u{feff}' || (c.is_whitespace() && c != '\u{85}')
}

pub(super) fn skip_js_space(text: &str, pos: usize) -> usize {
    let rest = &text[pos..];
    pos + (rest.len() - rest.trim_start_matches(is_js_space).len())
}

/// Length in UTF-16 code units, the unit of JavaScript string positions.
pub(super) fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}
