//! Help: the product's own documentation (`docs/`), built into the binary and served as pages of
//! the app, so that what a person reads matches the build they use.

use super::session::TypedSession;
use super::{CurrentUser, Layout, Section, page};
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};
use std::sync::LazyLock;

/// One document of `docs/`: where it is served, and its text.
struct Doc {
    path: &'static str,
    /// Its file name in `docs/`, as the other documents link to it.
    file: &'static str,
    title: &'static str,
    markdown: &'static str,
}

const DOCS: [Doc; 3] = [
    Doc {
        path: "/help",
        file: "user-guide.md",
        title: "User guide",
        markdown: include_str!("../../docs/user-guide.md"),
    },
    Doc {
        path: "/help/api",
        file: "api.md",
        title: "REST API",
        markdown: include_str!("../../docs/api.md"),
    },
    Doc {
        path: "/help/operations",
        file: "operations.md",
        title: "Operations",
        markdown: include_str!("../../docs/operations.md"),
    },
];

/// The documents as HTML, rendered once.
static RENDERED: LazyLock<Vec<String>> =
    LazyLock::new(|| DOCS.iter().map(|doc| render(doc.markdown)).collect());

/// A heading's anchor as GitHub makes it, which the documents' own links use: lower case,
/// punctuation dropped, spaces as hyphens ("Rotating a key, and renewing it" →
/// `rotating-a-key-and-renewing-it`).
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Where a link of a document goes on the help pages: another document's page (and anchor), the
/// same for outside addresses and anchors; `None` for a file of the repository that is not
/// served (it stays as text).
fn link_target(dest: &str) -> Option<String> {
    if dest.starts_with('#') || dest.contains("://") {
        return Some(dest.to_owned());
    }
    let (file, anchor) = dest.split_once('#').unwrap_or((dest, ""));
    let doc = DOCS.iter().find(|doc| doc.file == file)?;
    Some(if anchor.is_empty() {
        doc.path.to_owned()
    } else {
        format!("{}#{anchor}", doc.path)
    })
}

/// Markdown to the page's HTML: headings with their anchors, links between the documents
/// pointing at their pages, and tables in a box of their own that scrolls on a phone.
fn render(markdown: &str) -> String {
    let mut events: Vec<Event> = Vec::new();
    let mut heading: Option<usize> = None;
    let mut dropped_links = 0usize;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                heading = Some(events.len());
                events.push(event);
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(start) = heading.take() {
                    let text: String = events[start + 1..]
                        .iter()
                        .filter_map(|e| match e {
                            Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
                            _ => None,
                        })
                        .collect();
                    if let Event::Start(Tag::Heading { id, .. }) = &mut events[start] {
                        *id = Some(CowStr::from(slug(&text)));
                    }
                }
                events.push(event);
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => match link_target(&dest_url) {
                Some(target) => events.push(Event::Start(Tag::Link {
                    link_type,
                    dest_url: target.into(),
                    title,
                    id,
                })),
                None => dropped_links += 1,
            },
            Event::End(TagEnd::Link) if dropped_links > 0 => dropped_links -= 1,
            Event::Start(Tag::Table(_)) => {
                events.push(Event::Html(
                    "<div class=\"scroll-box\" role=\"region\" aria-label=\"Table\" tabindex=\"0\">"
                        .into(),
                ));
                events.push(event);
            }
            Event::End(TagEnd::Table) => {
                events.push(event);
                events.push(Event::Html("</div>".into()));
            }
            other => events.push(other),
        }
    }
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events.into_iter());
    out.replace("<table>", "<table class=\"table\">")
}

#[derive(Template)]
#[template(path = "help.html")]
struct HelpPage {
    layout: Layout,
    title: &'static str,
    /// The other documents, for the links above this one.
    others: Vec<(&'static str, &'static str)>,
    content: &'static str,
}

fn help_page(
    current: &CurrentUser,
    session: &TypedSession,
    at: usize,
) -> Result<HttpResponse, AppError> {
    let page_of = HelpPage {
        layout: Layout::new(current, session).in_section(Section::Help),
        title: DOCS[at].title,
        others: DOCS
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, doc)| (doc.path, doc.title))
            .collect(),
        content: RENDERED[at].as_str(),
    };
    page(&page_of, StatusCode::OK)
}

/// The user guide of these screens.
#[get("/help")]
pub async fn user_guide(
    current: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    help_page(&current, &session, 0)
}

/// The REST API and the operator's guide, which the user guide links to.
#[get("/help/{doc}")]
pub async fn other_doc(
    current: CurrentUser,
    session: TypedSession,
    doc: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let at = DOCS
        .iter()
        .position(|d| d.path.strip_prefix("/help/") == Some(doc.as_str()))
        .ok_or(AppError::NotFound)?;
    help_page(&current, &session, at)
}

#[cfg(test)]
mod tests {
    use super::{link_target, render, slug};

    #[test]
    fn anchors_are_githubs() {
        for (heading, anchor) in [
            ("Signing in and out", "signing-in-and-out"),
            (
                "Token Management: the Tokens list",
                "token-management-the-tokens-list",
            ),
            (
                "Rotating a key, and renewing it",
                "rotating-a-key-and-renewing-it",
            ),
            ("1. General", "1-general"),
        ] {
            assert_eq!(slug(heading), anchor, "{heading}");
        }
    }

    #[test]
    fn links_between_documents_point_at_their_pages() {
        for (dest, target) in [
            ("api.md", Some("/help/api")),
            (
                "api.md#rotate-and-renew",
                Some("/help/api#rotate-and-renew"),
            ),
            ("operations.md", Some("/help/operations")),
            ("#sessions", Some("#sessions")),
            ("https://example.com/", Some("https://example.com/")),
            ("../deploy/haproxy.cfg", None),
        ] {
            assert_eq!(link_target(dest).as_deref(), target, "{dest}");
        }
    }

    #[test]
    fn the_guide_renders_with_anchors_tables_in_boxes_and_no_dead_links() {
        let html = render(
            "# A\n\n## Two words\n\nSee [B](api.md) and [C](../deploy/x.cfg).\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert!(
            html.contains("<h2 id=\"two-words\">Two words</h2>"),
            "{html}"
        );
        assert!(html.contains("<a href=\"/help/api\">B</a>"), "{html}");
        assert!(html.contains(" and C."), "{html}");
        assert!(
            html.contains("<div class=\"scroll-box\" role=\"region\" aria-label=\"Table\" tabindex=\"0\"><table class=\"table\">"),
            "{html}"
        );
    }
}
