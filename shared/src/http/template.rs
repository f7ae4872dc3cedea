//! Route templates (`/orders/{id}/cancel`) and how a request's path matches one.

use std::collections::BTreeMap;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed route template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template {
    pub(super) text: String,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses `/a/{b}/c`; the error says what is wrong with the template.
    pub(super) fn parse(text: &str) -> Result<Template, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("route `{text}` must start with `/`"));
        };
        let mut segments = Vec::new();
        for part in rest.split('/').filter(|s| !s.is_empty()) {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if name.is_empty() || name.contains(['{', '}']) => {
                    return Err(format!("route `{text}`: `{part}` is not a parameter; write `{{name}}`"))
                }
                Some(name) => {
                    if segments.contains(&Segment::Param(name.to_owned())) {
                        return Err(format!("route `{text}` names `{{{name}}}` twice"));
                    }
                    Segment::Param(name.to_owned())
                }
                None if part.contains(['{', '}']) => {
                    return Err(format!(
                        "route `{text}`: `{part}` mixes text and a parameter; a parameter is a whole segment"
                    ))
                }
                None => Segment::Literal(part.to_owned()),
            };
            segments.push(segment);
        }
        Ok(Template {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path parameters when `path` ends with this template's segments: what comes
    /// before (an API Gateway stage, a custom domain's base path) is not the route's.
    pub(super) fn matches(&self, path: &[&str]) -> Option<BTreeMap<String, String>> {
        let n = self.segments.len();
        if path.len() < n {
            return None;
        }
        let mut params = BTreeMap::new();
        for (segment, part) in self.segments.iter().zip(&path[path.len() - n..]) {
            match segment {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    params.insert(name.clone(), (*part).to_owned());
                }
            }
        }
        Some(params)
    }

    /// How specific the template is: literal segments first, then length. Of two routes
    /// matching a path, the more specific answers (`/orders/summary` before `/orders/{id}`).
    pub(super) fn specificity(&self) -> (usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (literals, self.segments.len())
    }
}

/// The non-empty segments of a path.
pub(super) fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_matches_the_end_of_a_path_and_names_its_parameters() {
        let t = Template::parse("/orders/{id}/cancel").unwrap();
        let params = t.matches(&segments("/Prod/orders/o-1/cancel")).unwrap();
        assert_eq!(params["id"], "o-1");
        assert!(t.matches(&segments("/orders/o-1")).is_none());
        assert!(t.matches(&segments("/orders/o-1/refund")).is_none());
        assert_eq!(
            Template::parse("/orders")
                .unwrap()
                .matches(&segments("/orders/")),
            Some(BTreeMap::new())
        );
    }

    #[test]
    fn a_malformed_template_is_refused_with_what_to_write() {
        for (text, needle) in [
            ("orders", "must start with `/`"),
            ("/orders/{}", "write `{name}`"),
            ("/orders/o-{id}", "whole segment"),
            ("/a/{id}/b/{id}", "twice"),
        ] {
            let e = Template::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn literal_segments_are_more_specific_than_parameters() {
        let summary = Template::parse("/orders/summary").unwrap();
        let one = Template::parse("/orders/{id}").unwrap();
        assert!(summary.specificity() > one.specificity());
    }
}
